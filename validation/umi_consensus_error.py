"""Per-base error after consensus, measured by ``count --umi`` / ``--duplex``, against the
simulator's truth (issue 15).

Design: the read-level simulator's duplex UMI library (``--sites`` sites, ``--molecules`` per
site, families of ``--family-mean`` reads per strand, read error 1e-3, PCR 1e-6 per doubling
over 12 cycles, no UMI errors), one host with no donor, at several strand-damage rates ``d``
(a base of one strand changed before PCR: in every read of that strand's family).  Counted
with ``--min-family-size 3``.  Error = third-base calls x 3/2 (a third base is 2 of the 3
wrong bases) over all calls.

Truth: a single-strand consensus is wrong when its strand was damaged (``d``; a majority of
three or more reads wrong, or an early PCR error, adds < 1e-5 here); a duplex call when both
strands were damaged to the same base (``d^2 / 3``).  Reads: ``d`` + read errors that pass Q20.

Run: ``python validation/umi_consensus_error.py --out validation/results/umi_consensus_error.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from microchimera.conventions import poisson_ci95
from microchimera.count import count_alleles
from microchimera.count.umi import UmiOptions
from microchimera.io.sites import read_sites
from microchimera.sim import load_scenario, simulate


def scenario(n_sites: int, molecules: float, family_mean: float, damage: float) -> dict:
    people = [{"id": "mom", "sex": "female"}]
    return {"name": "umi_error", "panel": {"n_sites": n_sites, "spacing": 150},
            "sequencing": {"depth": molecules, "read_length": 100, "fragment_mean": 160, "fragment_sd": 30,
                           "fragment_min": 100, "fragment_max": 250, "umi_length": 6, "umi_family_mean": family_mean,
                           "umi_duplex": True, "umi_error_rate": 0.0, "pcr_error_rate": 1e-6, "pcr_cycles": 12,
                           "damage_rate": damage, "error_rate": 1e-3},
            "family": {"people": people}, "samples": [{"name": "mom_blood", "host": "mom"}]}


def _error(c) -> dict:
    third = int(c.other_count.sum())
    calls = int(c.depth.sum())
    lo, hi = poisson_ci95(third)
    return {"calls": calls, "third_bases": third, "error": 1.5 * third / calls,
            "ci95": [1.5 * lo / calls, 1.5 * hi / calls]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sites", type=int, default=1500)
    p.add_argument("--molecules", type=float, default=150)
    p.add_argument("--family-mean", type=float, default=6)
    p.add_argument("--damage", type=float, nargs="+", default=[2e-3, 3e-2])
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    rows = []
    for damage in a.damage:
        with tempfile.TemporaryDirectory() as d:
            res = simulate(load_scenario(scenario(a.sites, a.molecules, a.family_mean, damage)), d,
                           np.random.default_rng(a.seed), seed=a.seed)
            bam, sites = res.bams["mom_blood"], read_sites(res.sites_vcf)
            row = {"damage": damage,
                   "reads": _error(count_alleles([bam], sites)),
                   "single_strand": _error(count_alleles([bam], sites, umi=UmiOptions(min_family_size=3))),
                   "duplex": _error(count_alleles([bam], sites, umi=UmiOptions(duplex=True, min_family_size=3))),
                   "truth_single_strand": damage, "truth_duplex": damage**2 / 3}
        for k in ("single_strand", "duplex"):
            truth = row[f"truth_{k}"]
            row[k]["ratio_to_truth"] = row[k]["error"] / truth
        rows.append(row)
        print(f"damage {damage:g}: reads {row['reads']['error']:.3g}; single-strand {row['single_strand']['error']:.3g} "
              f"(truth {damage:.3g}, x{row['single_strand']['ratio_to_truth']:.2f}, {row['single_strand']['calls']} "
              f"calls); duplex {row['duplex']['error']:.3g} [{row['duplex']['ci95'][0]:.2g}, "
              f"{row['duplex']['ci95'][1]:.2g}] (truth {damage**2 / 3:.3g}, x{row['duplex']['ratio_to_truth']:.2f}, "
              f"{row['duplex']['calls']} calls)")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"args": vars(a) | {"out": str(a.out)}, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
