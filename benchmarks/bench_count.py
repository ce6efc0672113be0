"""Benchmark: allele counting on a 20,000-site panel against the BAM decode floor (issue 3).

Usage: python benchmarks/bench_count.py [--depth 200 1000] [--repeats 3] [--workdir DIR] [--baseline-python PY]

Builds the BAMs with the simulator (benchmarks/bench_simulate.py scenario: 20,000 sites
1 kb apart, 2x150 reads, fragments 250 +- 60 bp) unless ``DIR/d<depth>`` exists, then
times, on the same BAM and sites, whole processes (best and median wall time of ``--repeats``):

* ``samtools view -c`` (the decode floor) and ``samtools view -c -@2``;
* ``bcftools mpileup -T sites -a AD ... | bcftools query`` (-A -B -Q20 -q20, no BAQ);
* ``microchimera count`` with 1 thread and with ``--threads 2``.

The commands run interleaved, round after round.

Prints a Markdown table (seconds and multiples of the floor) for benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build(depth: float, outdir: Path) -> tuple[Path, Path, Path]:
    bam, sites, ref = outdir / "mother_brain.bam", outdir / "sites.vcf.gz", outdir / "ref.fa"
    if not bam.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_simulate import scenario

        from microchimera.sim import load_scenario, simulate

        simulate(load_scenario(scenario(20_000, depth)), outdir, np.random.default_rng(1), seed=1, threads=2)
    return bam, sites, ref


def interleaved_times(cmds: dict, repeats: int) -> dict:
    """``{name: [wall seconds per round]}`` of each shell command: one round runs every
    command once, in turn, ``repeats`` rounds, so a slow spell of the machine hits all of
    them alike."""
    times: dict = {name: [] for name in cmds}
    for _ in range(repeats):
        for name, cmd in cmds.items():
            t = time.perf_counter()
            subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t)
    return times


def timed(cmds: dict, repeats: int) -> dict:
    """``{name: (best, median)}`` of :func:`interleaved_times`; the best is the figure least
    disturbed by other load."""
    return {name: (min(ts), statistics.median(ts)) for name, ts in interleaved_times(cmds, repeats).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=float, nargs="+", default=[200, 1000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--baseline-python", metavar="PYTHON", default=None,
                    help="also time `count` with this interpreter's microchimera (an earlier install), "
                         "interleaved with the current one, for a before/after ratio in one run")
    args = ap.parse_args()
    for tool in ("samtools", "bcftools"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_count: {tool} not found on PATH")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_count_"))
    mc = f"{sys.executable} -m microchimera"
    rows = []
    for depth in args.depth:
        d = work / f"d{int(depth)}"
        d.mkdir(parents=True, exist_ok=True)
        bam, sites, ref = build(depth, d)
        # warm: page cache (the BAM, the sites, our modules)
        subprocess.run(f"cat {bam} > /dev/null", shell=True, check=True)
        subprocess.run(f"{mc} count {bam} --sites {sites} --out {d}/warm.parquet -q", shell=True, check=True)
        n_reads = int(subprocess.run(["samtools", "view", "-c", str(bam)], capture_output=True, text=True,
                                     check=True).stdout)
        cmds = {
            "`samtools view -c` (floor)": f"samtools view -c {bam}",
            "`samtools view -c -@2`": f"samtools view -c -@2 {bam}",
            "`bcftools mpileup -T sites -a AD \\| bcftools query`":
                f"bcftools mpileup -f {ref} -T {sites} -a AD -A -B -Q20 -q20 -d 100000 -Ou {bam} "
                f"| bcftools query -f '%CHROM\\t%POS\\t[%AD]\\n' > /dev/null",
            "microchimera count (1 thread)": f"{mc} count {bam} --sites {sites} --out {d}/c1.parquet -q",
            "microchimera count --threads 2":
                f"{mc} count {bam} --sites {sites} --out {d}/c2.parquet -q --threads 2",
        }
        if args.baseline_python:
            base = f"{args.baseline_python} -m microchimera"
            subprocess.run(f"{base} count {bam} --sites {sites} --out {d}/warm.parquet -q", shell=True, check=True)
            cmds["baseline microchimera count (1 thread)"] = f"{base} count {bam} --sites {sites} --out {d}/b1.parquet -q"
            cmds["baseline microchimera count --threads 2"] = (f"{base} count {bam} --sites {sites} "
                                                              f"--out {d}/b2.parquet -q --threads 2")
        res = timed(cmds, args.repeats)
        floor = res["`samtools view -c` (floor)"][0]
        size = bam.stat().st_size / 1e6
        for name, (best, median) in res.items():
            rows.append(f"| {int(depth)}x ({n_reads / 1e6:.1f}M reads, {size:.0f} MB) | {name} | {best:.2f} | "
                        f"{median:.2f} | {best / floor:.2f} |")
    print("| BAM | method | wall s (best) | wall s (median) | best x floor |\n|---|---|---|---|---|")
    print("\n".join(rows))
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
