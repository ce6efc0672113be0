"""Benchmark: simulate a 20,000-site panel at 500x with three donors (issue 2).

Usage: python benchmarks/bench_simulate.py [--depth 500] [--sites 20000] [--outdir DIR]

Prints wall time, reads written, BAM size and peak resident memory (ru_maxrss).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time

import numpy as np

from microchimera.sim import load_scenario, simulate


def scenario(n_sites: int, depth: float, spacing: int = 1000) -> dict:
    people = [
        {"id": "father", "sex": "male"},
        {"id": "mother", "sex": "female"},
        {"id": "son", "sex": "male", "father": "father", "mother": "mother"},
        {"id": "daughter", "sex": "female", "father": "father", "mother": "mother"},
        {"id": "loss", "sex": "male", "father": "father", "mother": "mother", "loss": True, "typed": False},
    ]
    return {
        "name": "bench",
        "panel": {"n_sites": n_sites, "spacing": spacing},
        "sequencing": {"depth": depth, "read_length": 150, "fragment_mean": 250, "fragment_sd": 60},
        "family": {"people": people},
        "samples": [{"name": "mother_brain", "host": "mother",
                     "donors": {"son": 1e-3, "daughter": 3e-4, "loss": 1e-4}}],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", type=int, default=20_000)
    ap.add_argument("--depth", type=float, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--outdir")
    args = ap.parse_args()
    sc = load_scenario(scenario(args.sites, args.depth))
    # warm the numba cache on a tiny run so the timing is of the simulation itself
    warm = tempfile.mkdtemp()
    simulate(load_scenario(scenario(100, 5)), warm, np.random.default_rng(0))
    shutil.rmtree(warm)
    outdir = args.outdir or tempfile.mkdtemp(prefix="bench_sim_")
    t0 = time.perf_counter()
    res = simulate(sc, outdir, np.random.default_rng(1), seed=1, threads=args.threads)
    wall = time.perf_counter() - t0
    s = res.truth["samples"][0]
    size = res.bams["mother_brain"].stat().st_size
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sites={args.sites} depth={args.depth} reads={s['n_reads']:,} bam={size / 1e6:.0f} MB "
          f"wall={wall:.1f} s peak_rss={rss:.0f} MB")
    if not args.outdir:
        shutil.rmtree(outdir)


if __name__ == "__main__":
    main()
