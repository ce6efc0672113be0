"""Benchmark: what molecules by default cost `count` and `run` (issue 13).

Usage: python benchmarks/bench_run_evidence.py [--depth 200] [--repeats 3] [--workdir DIR]

Two BAMs from the simulator (benchmarks/bench_simulate.py scenario: 20,000 sites, 2x150
reads, fragments 250 +- 60 bp, son 1e-3, daughter 3e-4, untyped loss 1e-4): sites 1 kb apart
(almost no fragment shows two sites) and 100 bp apart (most fragments show two to three).
On each, whole processes, interleaved round after round (best and median wall time):

* ``microchimera count`` with and without ``--fragments``, 1 thread and ``--threads 2``;
* ``microchimera run`` with ``--evidence sites`` (reads only, the old default) and the
  default (fragments counted in the same pass, molecules in the model), ``--threads 2``.

Prints a Markdown table for benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_count import timed  # benchmarks/ is on sys.path when run as a script


def build(depth: float, spacing: int, outdir: Path) -> Path:
    if not (outdir / "mother_brain.bam").exists():
        from bench_simulate import scenario

        from microchimera.sim import load_scenario, simulate

        simulate(load_scenario(scenario(20_000, depth, spacing)), outdir, np.random.default_rng(1), seed=1, threads=2)
    return outdir


def commands(d: Path, out: Path) -> dict:
    bam, sites = d / "mother_brain.bam", d / "sites.vcf.gz"
    fam = f"--genotypes {d / 'family.vcf.gz'} --pedigree {d / 'family.ped'} --host mother"
    mc = f"{sys.executable} -m microchimera"
    return {
        "count": f"{mc} count {bam} --sites {sites} --out {out / 'c.parquet'}",
        "count --fragments": f"{mc} count {bam} --sites {sites} --out {out / 'c.parquet'} --fragments {out / 'f.parquet'}",
        "count --threads 2": f"{mc} count {bam} --sites {sites} --threads 2 --out {out / 'c.parquet'}",
        "count --threads 2 --fragments": f"{mc} count {bam} --sites {sites} --threads 2 --out {out / 'c.parquet'} "
                                         f"--fragments {out / 'f.parquet'}",
        "run --evidence sites": f"rm -rf {out / 'rs'} && {mc} run {bam} --sites {sites} {fam} --threads 2 "
                                f"--evidence sites -q --outdir {out / 'rs'}",
        "run (default: molecules)": f"rm -rf {out / 'rm'} && {mc} run {bam} --sites {sites} {fam} --threads 2 -q "
                                    f"--outdir {out / 'rm'}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=float, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="bench_evidence_"))
    print("| sites | command | wall s (best) | wall s (median) | best × its reads-only twin |")
    print("|---|---|---|---|---|")
    for spacing in (1000, 100):
        d = build(a.depth, spacing, work / f"d{a.depth:g}_s{spacing}")
        out = work / f"out_s{spacing}"
        out.mkdir(exist_ok=True)
        t = timed(commands(d, out), a.repeats)
        twin = {"count --fragments": "count", "count --threads 2 --fragments": "count --threads 2",
                "run (default: molecules)": "run --evidence sites"}
        for name, (best, med) in t.items():
            ratio = f"{best / t[twin[name]][0]:.2f}" if name in twin else "1.00"
            print(f"| {spacing} bp apart | `{name}` | {best:.2f} | {med:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
