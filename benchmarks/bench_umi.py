"""Benchmark: what counting molecules (`count --umi`) costs over counting reads (issue 15).

Usage: python benchmarks/bench_umi.py [--sites 5000] [--depth 100] [--repeats 3] [--workdir DIR]

One duplex UMI library from the simulator (the benchmarks/bench_simulate.py family, sites
1 kb apart, 2x150 reads, ``depth`` molecules per site, 4 reads per strand family on average,
UMIs 2x8 bases with 0.5% UMI errors, MI tags).  On the same BAM, whole processes, interleaved
round after round (best and median wall time): ``microchimera count`` (reads), ``--umi``
(single-strand families), ``--umi --duplex`` and ``--molecule-tag MI --duplex``.

Prints a Markdown table for benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_count import timed  # benchmarks/ is on sys.path when run as a script


def build(n_sites: int, depth: float, outdir: Path) -> Path:
    if not (outdir / "mother_brain.bam").exists():
        from bench_simulate import scenario

        from microchimera.sim import load_scenario, simulate

        sc = scenario(n_sites, depth, 1000)
        sc["sequencing"].update(umi_length=8, umi_family_mean=4, umi_duplex=True, umi_error_rate=0.005,
                                umi_mi=True, pcr_error_rate=1e-6, damage_rate=1e-5)
        simulate(load_scenario(sc), outdir, np.random.default_rng(1), seed=1, threads=2)
    return outdir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--depth", type=float, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_umi_"))
    d = build(args.sites, args.depth, work / f"s{args.sites}_d{int(args.depth)}")
    bam, sites, out = d / "mother_brain.bam", d / "sites.vcf.gz", work / "c.parquet"
    mc = f"{sys.executable} -m microchimera count {bam} --sites {sites} --out {out} -q"
    cmds = {"count (reads)": mc, "count --umi": f"{mc} --umi", "count --umi --duplex": f"{mc} --umi --duplex",
            "count --molecule-tag MI --duplex": f"{mc} --molecule-tag MI --duplex"}
    times = timed(cmds, args.repeats)
    base = times["count (reads)"][0]
    print(f"BAM: {bam.stat().st_size / 1e6:.0f} MB, {args.sites} sites, {args.depth:g} molecules per site\n")
    print("| command | best (s) | median (s) | best / reads |")
    print("|---|---|---|---|")
    for name, (best, med) in times.items():
        print(f"| `{name}` | {best:.2f} | {med:.2f} | {best / base:.2f}x |")


if __name__ == "__main__":
    main()
