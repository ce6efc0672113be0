"""Benchmark of the quantify fit: 1,000,000 sites, 3 donors of which one untyped.

Family: mother (host, typed), father (typed), two typed children and one untyped loss,
all three children in the sample.  Times the model build (prior + data) and the fit
(MLE + rho + het share + error scale, block inflation, profile CIs), the LRTs (error
multiplier and other fractions re-fitted under each null) and the LoDs on one core, and reports peak
memory (ru_maxrss).  Target (issue 4): total under 10 s, peak under 2 GB.  With
``--contamination`` the model also holds the unknown unrelated contributor that ``quantify``
fits by default (issue 12: one more untyped member, so three times the configurations per
site), with its CI and LRT too.

Run: ``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_quantify.py [--sites 1000000] [--contamination]``
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from microchimera.io.pedigree import Pedigree
from microchimera.model import fit as fitmod
from microchimera.model.likelihood import ModelData
from microchimera.model.prior import genotype_prior


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--sites", type=int, default=1_000_000)
    p.add_argument("--depth", type=float, default=30)
    p.add_argument("--contamination", action="store_true", help="fit the contamination component too")
    a = p.parse_args(argv)
    rng = np.random.default_rng(1)
    n = a.sites
    q = rng.uniform(0.05, 0.95, n)
    ped = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                                 ("F", "son", "dad", "mom", 1), ("F", "daughter", "dad", "mom", 2),
                                 ("F", "loss", "dad", "mom", 0)])
    g = {p: rng.binomial(2, q).astype(np.int8) for p in ("mom", "dad")}
    for c in ("son", "daughter", "loss"):
        g[c] = (rng.binomial(1, g["dad"] / 2) + rng.binomial(1, g["mom"] / 2)).astype(np.int8)
    f = np.array([1e-3, 3e-4, 1e-4])
    mu = (1 - f.sum()) * g["mom"] / 2 + sum(fk * g[c] / 2 for fk, c in zip(f, ("son", "daughter", "loss"), strict=True))
    e = 1e-3 / 3
    depth = rng.poisson(a.depth, n)
    x = rng.binomial(depth, mu * (1 - e) + (1 - mu) * e)
    typed = {k: v for k, v in g.items() if k != "loss"}
    members = ["mom", "son", "daughter", "loss"]
    if a.contamination:
        from microchimera.model.people import CONTAMINANT

        ped = ped.with_people([("_model", CONTAMINANT, None, None, 0)])
        members.append(CONTAMINANT)
        f = np.append(f, 0.0)
    k_all = len(members) - 1
    t0 = time.perf_counter()
    prior = genotype_prior(ped, typed, members, q)
    td = {i: typed[m] for i, m in enumerate(members) if m in typed}
    block = np.arange(n) * 300 // n
    data = ModelData.build(members[1:], prior.weights, prior.config_genotypes, td, depth, x,
                           np.zeros(n, np.int64), np.full(13, e), block)
    t1 = time.perf_counter()
    inf = data.subset(data.informative())
    fit = fitmod.fit_fractions(inf, rho_data=data, error_scale=True)
    import dataclasses

    inf = dataclasses.replace(inf, het_share=fit.het_share, error_rate=inf.error_rate * fit.error_scale)
    lam = fitmod.block_inflation(inf, fit)
    # as quantify does: the profile re-fits the error multiplier over every used site, and the
    # interval is the unified one for f >= 0 (extra solves for bounds within ~2 SE of 0)
    scaled = dataclasses.replace(data, het_share=fit.het_share, error_rate=data.error_rate * fit.error_scale)
    cis = [fitmod.profile_ci(scaled, fit, k, fitmod.CHI2_95 * lam[k], base_rate=data.error_rate, boundary=True)
           for k in range(k_all)]
    t2 = time.perf_counter()
    full = dataclasses.replace(data, het_share=fit.het_share)
    stats = [fitmod.lrt_refit_nuisance(full, inf, fit, k, data.error_rate) for k in range(k_all)]
    t3 = time.perf_counter()
    # as quantify does since issue 16: the LoD from the expected statistic against the least
    # favourable null (two profiled fits per donor on at most SHARE_SITES sites)
    lods = [fitmod.limit_of_detection(scaled, inf, fit, k, inflation=lam[k], near=fitmod.oracle_lod(inf, fit, k))
            for k in range(k_all)]
    t4 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sites {n:,}  informative {inf.n_sites:,}  entries {len(data.entry_site):,}")
    print(f"build (prior + data)   {t1 - t0:6.2f} s")
    print(f"fit + profile CIs      {t2 - t1:6.2f} s")
    print(f"LRTs (null refits)     {t3 - t2:6.2f} s")
    print(f"LoDs                   {t4 - t3:6.2f} s")
    print(f"total                  {t4 - t0:6.2f} s   peak RSS {peak:,.0f} MiB")
    for name, fk, est, ci, t, lod in zip(members[1:], f, fit.fraction, cis, stats, lods, strict=True):
        print(f"  {name:9s} truth {fk:.1e}  estimate {est:.3e}  CI [{ci[0]:.2e}, {ci[1]:.2e}]  LRT {t:.1f}  "
              f"LoD {lod if lod is None else f'{lod:.2e}'}")


if __name__ == "__main__":
    main()
