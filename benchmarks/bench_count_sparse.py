"""Benchmark: counting at sparse genome-wide sites on a whole-genome BAM (issue 17).

Usage: python benchmarks/bench_count_sparse.py [--length 50e6] [--depth 25] [--spacing 30000]
           [--repeats 3] [--workdir DIR] [--baseline-python PY] [--with-region-jumps]

The built-in panels serve whole-genome BAMs: 100,000 markers over 3 Gb, one per ~30 kb.
Builds (unless ``DIR/wgs`` exists) a simulated whole-genome BAM: three autosomes of
``--length`` bp, 2x150 reads tiling them at ``--depth`` fragments per base (25 -> ~30x
read coverage), and ``length * 3 / spacing`` sites at uniform random positions (the
simulator's ``sites.vcf.gz``).  Then times whole processes, one thread each, interleaved
round after round (``--repeats`` rounds), and prints best and median wall seconds and
the medians as multiples of the decode floor:

* ``samtools view -c`` (the decode floor: every block inflated, every record decoded);
* ``microchimera count BAM --sites S --out c.parquet`` with the BAI;
* the same with the fine-grained CSI of ``microchimera index`` beside the BAM (a symlink to the
  BAM in ``DIR/fine/``; the index is built once, its time beside ``samtools index``'s);
* ``bcftools mpileup -f ref -T sites -a AD -A -B -Q20 -q20 | bcftools query`` (the standard tool);
* with ``--with-region-jumps`` also ``samtools view -c -M -L sites.bed`` (htslib's own index
  jumps to the sites' reads; with the BAI and with the fine CSI, ``BAM##idx##CSI``) and ``bcftools
  mpileup -R sites`` (one index query per site);
* with ``--baseline-python``, ``count`` by that interpreter's microchimera (before/after).

``--check`` also compares the counts of ``count`` with the BAI, with the fine CSI and of the
baseline (``pyarrow`` ``Table.equals``).
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
from bench_count import interleaved_times  # benchmarks/ is on sys.path when run as a script


def scenario(length: int, depth: float, n_sites: int) -> dict:
    people = [{"id": "father", "sex": "male"}, {"id": "mother", "sex": "female"},
              {"id": "son", "sex": "male", "father": "father", "mother": "mother"}]
    return {
        "name": "wgs",
        "genome": {"n_autosomes": 3, "autosome_length": length},
        "panel": {"n_sites": n_sites},
        "sequencing": {"whole_genome": True, "depth": depth, "read_length": 150, "fragment_mean": 250,
                       "fragment_sd": 60},
        "family": {"people": people},
        "samples": [{"name": "mother_blood", "host": "mother", "donors": {"son": 1e-3}}],
    }


def build(length: int, depth: float, spacing: float, outdir: Path) -> tuple[Path, Path, Path, Path]:
    bam, sites, ref = outdir / "mother_blood.bam", outdir / "sites.vcf.gz", outdir / "ref.fa"
    bed = outdir / "sites.bed"
    if not bam.exists():
        from microchimera.sim import load_scenario, simulate

        n_sites = int(round(3 * length / spacing))
        simulate(load_scenario(scenario(length, depth, n_sites)), outdir, np.random.default_rng(1), seed=1,
                 threads=2)
    if not bed.exists():
        subprocess.run(f"bcftools query -f '%CHROM\\t%POS0\\t%POS\\n' {sites} > {bed}", shell=True, check=True)
    return bam, sites, ref, bed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=float, default=50e6, help="bp per autosome (three autosomes)")
    ap.add_argument("--depth", type=float, default=25, help="fragment coverage (25 -> ~30x reads)")
    ap.add_argument("--spacing", type=float, default=30_000, help="mean bp between sites")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--baseline-python", metavar="PYTHON", default=None,
                    help="also time `count` with this interpreter's microchimera (an earlier install)")
    ap.add_argument("--baseline-env", metavar="VAR=VALUE", action="append", default=[],
                    help="environment for the baseline command (e.g. PYTHONPATH=/old/src)")
    ap.add_argument("--with-region-jumps", action="store_true",
                    help="also time samtools view -M -L and bcftools mpileup -R (index jumps)")
    ap.add_argument("--no-bcftools", action="store_true", help="leave out bcftools mpileup -T (slow)")
    ap.add_argument("--check", action="store_true", help="compare the counts with the baseline's")
    args = ap.parse_args()
    for tool in ("samtools", "bcftools"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_count_sparse: {tool} not found on PATH")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_count_sparse_"))
    d = work / "wgs"
    d.mkdir(parents=True, exist_ok=True)
    bam, sites, ref, bed = build(int(args.length), args.depth, args.spacing, d)
    mc = f"{sys.executable} -m microchimera"
    subprocess.run(f"cat {bam} {ref} > /dev/null", shell=True, check=True)  # page cache
    subprocess.run(f"{mc} count {bam} --sites {sites} --out {d}/warm.parquet -q", shell=True, check=True)
    n_reads = int(subprocess.run(["samtools", "view", "-c", str(bam)], capture_output=True, text=True,
                                 check=True).stdout)
    n_sites = sum(1 for _ in open(bed))
    fine_dir = work / "fine"
    fine_dir.mkdir(exist_ok=True)
    fine_bam = fine_dir / bam.name
    if not fine_bam.exists():
        fine_bam.symlink_to(bam.resolve())
    builds = {}
    for name, cmd in (("`samtools index` (BAI)", f"samtools index -o {work}/st.bai {bam}"),
                      ("`samtools index -c` (CSI, min_shift 14)", f"samtools index -c -o {work}/st.csi {bam}"),
                      ("`microchimera index` (fine CSI, min_shift 9)", f"{mc} index {fine_bam} -q")):
        t = time.perf_counter()
        subprocess.run(cmd, shell=True, check=True)
        builds[name] = time.perf_counter() - t
    fine_csi = Path(str(fine_bam) + ".fine.csi")
    subprocess.run(f"{mc} count {fine_bam} --sites {sites} --out {d}/warm.parquet -q", shell=True, check=True)
    floor = "`samtools view -c` (decode floor)"
    count_bai, count_fine = "`microchimera count`, BAI", "`microchimera count`, fine CSI"
    cmds = {floor: f"samtools view -c {bam}",
            count_bai: f"{mc} count {bam} --sites {sites} --out {d}/c1.parquet -q",
            count_fine: f"{mc} count {fine_bam} --sites {sites} --out {d}/c2.parquet -q"}
    if args.baseline_python:
        env = " ".join(args.baseline_env)
        base = f"{env} {args.baseline_python} -m microchimera"
        subprocess.run(f"{base} count {bam} --sites {sites} --out {d}/warm.parquet -q", shell=True, check=True)
        cmds["microchimera count, baseline"] = f"{base} count {bam} --sites {sites} --out {d}/b1.parquet -q"
    if args.with_region_jumps:
        cmds["`samtools view -c -M -L sites.bed`, BAI"] = f"samtools view -c -M -L {bed} {bam}"
        cmds["`samtools view -c -M -L sites.bed bam##idx##fine.csi`"] = (
            f"samtools view -c -M -L {bed} '{bam}##idx##{fine_csi}'")
        cmds["`bcftools mpileup -R sites \\| bcftools query`"] = (
            f"bcftools mpileup -f {ref} -R {sites} -a AD -A -B -Q20 -q20 -d 100000 -Ou {bam} "
            f"| bcftools query -f '%CHROM\\t%POS\\t[%AD]\\n' > /dev/null")
    if not args.no_bcftools:
        cmds["`bcftools mpileup -T sites \\| bcftools query`"] = (
            f"bcftools mpileup -f {ref} -T {sites} -a AD -A -B -Q20 -q20 -d 100000 -Ou {bam} "
            f"| bcftools query -f '%CHROM\\t%POS\\t[%AD]\\n' > /dev/null")
    times = interleaved_times(cmds, args.repeats)
    med_floor = statistics.median(times[floor])
    size = bam.stat().st_size / 1e6
    print(f"BAM: 3 x {args.length / 1e6:g} Mb, {n_reads / 1e6:.1f}M reads, {size:.0f} MB; {n_sites:,} sites "
          f"(one per {3 * args.length / n_sites / 1e3:.0f} kb); {args.repeats} interleaved rounds\n")
    print("| method | wall s (best) | wall s (median) | median / floor | floor / median |\n|---|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {min(ts):.2f} | {med:.2f} | {med / med_floor:.3f} | {med_floor / med:.1f} |")
    for name in (count_bai, count_fine):
        print(f"\nper-round ratios floor / {name}:",
              ", ".join(f"{f / c:.1f}" for f, c in zip(times[floor], times[name], strict=True)))
    print("\n| index build (once) | wall s | size MB |\n|---|---|---|")
    sizes = [Path(f"{work}/st.bai"), Path(f"{work}/st.csi"), fine_csi]
    for (name, secs), path in zip(builds.items(), sizes, strict=True):
        print(f"| {name} | {secs:.1f} | {path.stat().st_size / 1e6:.2f} |")
    if args.check:
        import pyarrow.parquet as pq

        a = pq.read_table(d / "c1.parquet")
        print("\ncounts with the fine CSI equal those with the BAI:", a.equals(pq.read_table(d / "c2.parquet")),
              f"({a.num_rows:,} rows)")
        if args.baseline_python:
            print("counts equal to the baseline's:", a.equals(pq.read_table(d / "b1.parquet")))
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
