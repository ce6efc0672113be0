"""Per-panel error profiles of the count simulator (issue 14 item 4, count level)."""
from __future__ import annotations

import numpy as np
import pytest

from microchimera.io.allele_counts import AlleleCounts
from microchimera.io.sites import SiteTable
from microchimera.model.pon import build_pon
from microchimera.sim import panel_error_profile, simulate_counts, site_error_spread

N = 8000


@pytest.fixture(scope="module")
def sites():
    rng = np.random.default_rng(2)
    ref = rng.integers(0, 4, N).astype(np.uint8)
    alt = ((ref + rng.integers(1, 4, N)) % 4).astype(np.uint8)
    return SiteTable(("chr1",), np.zeros(N, np.int32), np.arange(N, dtype=np.int64) * 500, ref, alt,
                     np.full(N, 0.5))


def _homref(sites, profile, rng, depth=2000, sample="s"):
    g = np.zeros(N, np.int8)
    return simulate_counts(sites, g, g[None], [0.0], depth=depth, rng=rng, sample=sample, error_profile=profile)


def test_profile__damage_and_oxidation_land_on_their_classes_and_strands(sites):
    rng = np.random.default_rng(1)
    prof = panel_error_profile(sites, rng, sigma=0.0, hot_share=0.0, ffpe=2e-3, oxidation=3e-3)
    c = _homref(sites, prof, rng)
    ct = ((sites.ref == 1) & (sites.alt == 3)) | ((sites.ref == 2) & (sites.alt == 0))
    gt = (sites.ref == 2) & (sites.alt == 3)
    ca = (sites.ref == 1) & (sites.alt == 0)
    plain = ~(ct | gt | ca)
    rate = lambda m, col: c.__getattribute__(col)[0, m].sum() / (c.ref_fwd + c.alt_fwd)[0, m].sum()  # noqa: E731
    base = rate(plain, "alt_fwd")
    # C>T / G>A: +2e-3 on both strands; G>T: +3e-3 on forward reads only; C>A: reverse only.
    # ~1.3 M reads per class and strand: the bounds are > 10 SE wide.
    assert rate(ct, "alt_fwd") - base == pytest.approx(2e-3, abs=3e-4)
    assert rate(gt, "alt_fwd") - base == pytest.approx(3e-3, abs=3e-4)
    assert rate(gt, "alt_rev") == pytest.approx(base, abs=2e-4)
    assert rate(ca, "alt_fwd") == pytest.approx(base, abs=2e-4)


def test_profile__strand_bias_keeps_the_mean(sites):
    rng = np.random.default_rng(3)
    prof = panel_error_profile(sites, rng, sigma=0.0, hot_share=0.0, strand_bias_share=0.2, strand_bias_fold=8.0)
    r = prof.rate[:, 0, :]
    biased = np.abs(np.log(r[:, 0] / r[:, 1])) > 1
    assert 0.17 < biased.mean() < 0.23
    assert np.allclose(r.mean(axis=1), 1e-3 / 3)
    assert np.allclose(np.maximum(r[biased, 0], r[biased, 1]) / np.minimum(r[biased, 0], r[biased, 1]), 8.0)


def test_profile__a_pon_learns_it(sites):
    """Ten normals on one panel profile (log-normal spread, hot sites, strand bias): the panel
    of normals flags most strand-biased hot sites and its per-site rates track the profile."""
    rng = np.random.default_rng(4)
    prof = panel_error_profile(sites, rng, sigma=1.0, hot_share=0.01, strand_bias_share=0.01, strand_bias_fold=20)
    normals = []
    for j in range(10):
        g = rng.binomial(2, sites.af).astype(np.int8)
        normals.append(simulate_counts(sites, g, g[None], [0.0], depth=400, rng=rng, sample=f"N{j}",
                                       error_profile=prof))
    pon = build_pon(AlleleCounts.combine(normals))
    seen = pon.n_normals[:, 0] >= 3
    true = prof.mean_rate()[:, 0]
    ok = seen & ~prof.hot
    assert np.corrcoef(np.log(pon.rate[ok, 0]), np.log(true[ok]))[0, 1] > 0.3
    assert (pon.flag[prof.hot & seen] != "pass").mean() > 0.5
    assert (pon.flag[~prof.hot] == "pass").mean() > 0.95


def test_profile__bad_values_and_conflicts(sites):
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="ffpe must be in"):
        panel_error_profile(sites, rng, ffpe=2.0)
    prof = panel_error_profile(sites, rng)
    g = np.zeros(N, np.int8)
    with pytest.raises(ValueError, match="not both"):
        simulate_counts(sites, g, g[None], [0.0], depth=10, rng=rng, error_profile=prof,
                        site_error_scale=np.ones(N))


def test_overdispersion_keeps_the_site_error_scale(sites):
    """Regression: the beta-binomial draw reused the name of the per-site error multiplier, so
    with overdispersion > 0 the multiplier was replaced by the beta's precision."""
    rng = np.random.default_rng(6)
    g = np.zeros(N, np.int8)
    scale = np.where(np.arange(N) < N // 2, 20.0, 1.0)
    c = simulate_counts(sites, g, g[None], [0.0], depth=500, rng=rng, overdispersion=0.01, site_error_scale=scale)
    alt = c.alt_count[0]
    assert alt[: N // 2].sum() > 10 * alt[N // 2:].sum()
    assert site_error_spread  # the helper for the simple multiplier stays exported
