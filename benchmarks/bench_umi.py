"""Benchmark: what counting molecules (`count --umi`) costs over counting reads (issue 15).

Usage: python benchmarks/bench_umi.py [--sites 5000] [--depth 100] [--repeats 3] [--workdir DIR]
       python benchmarks/bench_umi.py --memory [--sites 5000] [--depth 100] [--workdir DIR]

One duplex UMI library from the simulator (the benchmarks/bench_simulate.py family, sites
1 kb apart, 2x150 reads, ``depth`` molecules per site, 4 reads per strand family on average,
UMIs 2x8 bases with 0.5% UMI errors, MI tags).  On the same BAM, whole processes, interleaved
round after round (best and median wall time): ``microchimera count`` (reads), ``--umi``
(single-strand families), ``--umi --duplex`` and ``--molecule-tag MI --duplex``.

With ``--memory``: peak resident memory (GNU ``time -f %M``) of plain ``count`` and
``count --umi --duplex`` on two libraries of the same density, ``--sites`` and a fifth of it
(a file five times larger with the same families open at any one position): memory that
holds only the open families stays flat while the file grows.

Prints a Markdown table for benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
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


def peak_rss_mb(cmd: str) -> float:
    """Peak resident memory of one run of ``cmd`` (MB), as GNU ``time -f %M`` reports it: the
    command is exec'd by ``time``'s own small fork, so the figure is not inflated by this
    (large, simulating) process's pages, as a ``wait4`` of a fork of it would be."""
    if not Path("/usr/bin/time").exists():
        sys.exit("bench_umi --memory: needs GNU time at /usr/bin/time")
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *shlex.split(cmd)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_umi: {cmd} failed with exit code {r.returncode}: {r.stderr.strip()[-300:]}")
    return int(r.stderr.strip().splitlines()[-1]) / 1024.0


def memory(args, work: Path) -> None:
    rows = []
    for n_sites in (max(1, args.sites // 5), args.sites):
        d = build(n_sites, args.depth, work / f"s{n_sites}_d{int(args.depth)}")
        bam, sites, out = d / "mother_brain.bam", d / "sites.vcf.gz", work / "c.parquet"
        mc = f"{sys.executable} -m microchimera count {bam} --sites {sites} --out {out} -q"
        rows.append((n_sites, bam.stat().st_size / 1e6, peak_rss_mb(mc), peak_rss_mb(f"{mc} --umi --duplex")))
    print("| sites | BAM (MB) | `count` peak (MB) | `count --umi --duplex` peak (MB) |")
    print("|---|---|---|---|")
    for n_sites, size, plain, umi in rows:
        print(f"| {n_sites} | {size:.0f} | {plain:.0f} | {umi:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--depth", type=float, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--memory", action="store_true", help="peak memory on two library sizes instead of times")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_umi_"))
    if args.memory:
        memory(args, work)
        return
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
