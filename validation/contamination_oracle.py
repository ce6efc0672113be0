"""The known-rate oracle for the contaminant-under-per-site-errors design (issues 12 and 14).

The cell ``site_err_contam_pon`` of :mod:`contamination` (a stranger at 1e-3, no son DNA,
log-normal per-site error with 1% hot sites, 10 normals at 1000x) asks whether a named son
takes part of an unrelated person's DNA when a panel of normals gives per-site error rates.
This script gives the yardstick: the same samples (same seeds, same draws) fitted by the
likelihood that *knows* every site's true error rates, with the son's fraction and the
contaminant's (genotypes summed out under Hardy-Weinberg from the site's AF) as the only
unknowns, at the sites where the mother is homozygous.  Whatever son signal the oracle finds
is in the data; what the model finds beyond it is the model's.

Per site ``i`` (mother homozygous; ``m`` the allele she lacks, AF ``a_i`` of it):
``L_i = sum_g P(g | a_i) Binomial(x_i | n_i, e_i + (1 - e_i - o_i) (f k_i + c g / 2))`` with
``x_i`` the reads of ``m``, ``k_i`` the son's share of ``m``, ``e_i`` the true rate of
reading the mother's allele as ``m`` and ``o_i`` of reading ``m`` as a third base.  The son's
statistic is the profile likelihood ratio for ``f = 0`` (``c`` re-fitted), one-sided
(detected: > 2.71, alpha 0.05).

Run: ``python validation/contamination_oracle.py --reps 40`` (seeds 120000 + replicate, as
``contamination.py --cells site_err_contam,site_err_contam_pon``; writes
``validation/results/contamination_oracle_40.json``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from _designs import family_panel  # validation/ is on sys.path when run as a script
from contamination import CONTAM_HIGH, DEPTH, N_CONTIGS, N_SITES, PED
from scipy import optimize, special, stats

from microchimera.sim import simulate_counts, site_error_spread
from microchimera.sim.reads import error_matrix

#: One-sided 5% point of the boundary likelihood-ratio statistic (half chi-square 1).
CRIT = 2.71


def oracle_sample(seed: int):
    """The site_err_contam sample of replicate ``seed`` (the draws of :func:`contamination.replicate`
    in that cell's order) and the true per-site error multipliers: ``(sites, genotypes, spread, counts)``."""
    rng = np.random.default_rng(seed)
    sites, g = family_panel(rng, N_SITES, PED, N_CONTIGS)
    spread = site_error_spread(N_SITES, rng)
    counts = simulate_counts(sites, g["mom"], np.stack([g["kid"], g["stranger"]]), [0.0, CONTAM_HIGH],
                             depth=DEPTH, rng=rng, sample="s", site_error_scale=spread)
    return sites, g, spread, counts


def oracle_fit(sites, g, spread, counts) -> dict:
    """The oracle's son fraction, contaminant fraction and son statistic for one sample."""
    e = error_matrix(None)
    mom, kid = g["mom"], g["kid"].astype(float)
    keep = (mom == 0) | (mom == 2)
    hom_alt = (mom == 2)[keep]
    ref, alt = sites.ref[keep], sites.alt[keep]
    minor, major = np.where(hom_alt, ref, alt), np.where(hom_alt, alt, ref)
    x = np.where(hom_alt, counts.ref_count[0][keep], counts.alt_count[0][keep]).astype(float)
    n = (counts.ref_count[0] + counts.alt_count[0] + counts.other_count[0])[keep].astype(float)
    e_in = spread[keep] * e[major, minor]                      # the mother's allele read as the minor one
    e_out = spread[keep] * e[minor].sum(axis=1)                # the minor allele read as anything else
    k = np.where(hom_alt, (2 - kid[keep]) / 2, kid[keep] / 2)
    a = np.where(hom_alt, 1 - sites.af[keep], sites.af[keep])
    log_pg = np.log(np.stack([(1 - a) ** 2, 2 * a * (1 - a), a ** 2]))

    def nll(f, c):
        terms = [log_pg[gi] + stats.binom.logpmf(x, n, e_in + (1 - e_in - e_out) * (f * k + c * gi / 2))
                 for gi in range(3)]
        return -special.logsumexp(np.stack(terms), axis=0).sum()

    def profile(f):
        r = optimize.minimize_scalar(lambda c: nll(f, c), bounds=(0.0, 0.01), method="bounded",
                                     options={"xatol": 1e-9})
        return r.fun, r.x

    grid = np.linspace(0.0, 4e-4, 41)
    vals = [profile(f)[0] for f in grid]
    i = int(np.argmin(vals))
    r = optimize.minimize_scalar(lambda f: profile(f)[0], bounds=(max(0.0, grid[i] - 1e-5), grid[i] + 1e-5),
                                 method="bounded", options={"xatol": 1e-9})
    f_hat, best = (r.x, r.fun) if r.fun <= vals[i] else (grid[i], vals[i])
    stat = max(0.0, 2.0 * (vals[0] - best))
    return {"kid_fraction": float(f_hat), "c_fraction": float(profile(f_hat)[1]), "kid_statistic": stat,
            "kid_detected": bool(stat > CRIT)}


def run(reps: int, seed0: int = 120_000) -> list[dict]:
    return [{"seed": seed0 + r, **oracle_fit(*oracle_sample(seed0 + r))} for r in range(reps)]


def test_oracle_small():
    """Two samples: the contaminant is found within 10% and the son's statistic is a number
    >= 0 (a broken likelihood gives NaN or a contaminant far off)."""
    for row in run(2):
        assert abs(row["c_fraction"] / CONTAM_HIGH - 1) < 0.1, row
        assert np.isfinite(row["kid_statistic"]) and row["kid_statistic"] >= 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--seed0", type=int, default=120_000)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    rows = run(a.reps, a.seed0)
    out = Path(a.out) if a.out else Path(__file__).parent / "results" / f"contamination_oracle_{a.reps}.json"
    det = [r["seed"] for r in rows if r["kid_detected"]]
    summary = {"reps": a.reps, "seed0": a.seed0, "kid_detected": len(det) / len(rows), "detected_seeds": det,
               "kid_mean": float(np.mean([r["kid_fraction"] for r in rows])),
               "c_mean": float(np.mean([r["c_fraction"] for r in rows]))}
    out.write_text(json.dumps({**summary, "rows": rows}, indent=1))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
