"""Per-site error of a panel of normals on the design of ``tests/test_pon.py``'s fixture.

10 normals (the last carrying 3e-3 of an unrelated person's DNA), log-normal per-site error
sigma = 1 with 1% hot sites at 2e-2 total per base shared by all, 500x, 6,000 sites, seed 14:
coverage of the posterior intervals, hot sites flagged, the donor-carrying normal left out.

Run: ``python validation/pon_panel.py``.
"""
import numpy as np

from microchimera.io.sites import SiteTable
from microchimera.model.pon import build_pon
from microchimera.sim import simulate_normals, site_error_spread

N, BASE = 6000, 1e-3 / 3
rng = np.random.default_rng(14)
ref = rng.integers(0, 4, N).astype(np.uint8)
alt = ((ref + rng.integers(1, 4, N)) % 4).astype(np.uint8)
sites = SiteTable(("chr1",), np.zeros(N, np.int32), np.arange(N, dtype=np.int64) * 1000, ref, alt,
                  rng.uniform(0.05, 0.95, N))
scale = site_error_spread(N, rng, sigma=1.0, hot_share=0.01, hot_rate=2e-2)
normals = simulate_normals(sites, rng, n_normals=10, depth=500, donor_fractions={9: 3e-3}, site_error_scale=scale)
pon = build_pon(normals, sites)
true = BASE * scale
hot = scale > 10
seen = pon.n_normals[:, 0] > 0
lo, hi = pon.quantile(0.025)[:, 0], pon.quantile(0.975)[:, 0]
print("coverage of true site rate (non-hot, seen):", round(((lo <= true) & (true <= hi))[seen & ~hot].mean(), 4))
print("hot sites flagged noisy:", round((pon.flag[hot] == "noisy").mean(), 3), "of", int(hot.sum()))
print("other sites flagged noisy:", round((pon.flag[~hot] == "noisy").mean(), 4))
print("left out:", list(pon.excluded))
