"""Benchmark: building a panel of normals, and quantify with it against without (issue 14).

Usage: python benchmarks/bench_pon.py [--sites 20000] [--normals 30] [--depth 1000]
           [--repeats 3] [--workdir DIR]

Simulates (seed 1) ``--sites`` SNPs over 10 contigs, a panel error profile (log-normal
per-site spread, 1% hot sites: ``site_error_spread``), ``--normals`` unrelated normals at
``--depth`` (one counts Parquet, one sample each), and a trio's tissue sample (mother = host,
son typed at 1e-4, ~1000x) sharing the profile. Then, in interleaved rounds:

* ``microchimera pon build NORMALS.parquet --sites SITES --out pon.parquet`` (whole process);
* ``model.quantify`` of the sample without and with ``pon=`` (in-process, library calls as
  the CLI makes them; defaults: contamination component, relatedness test, LoD), process
  CPU seconds.

Prints best and median seconds and the with/without ratio of the medians.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))
from _designs import family_panel  # noqa: E402 - the validation scripts' panel and family draws

from microchimera.io.allele_counts import write_counts
from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.pedigree import Pedigree
from microchimera.io.site_panels import write_sites_vcf
from microchimera.model import quantify
from microchimera.options import QuantifyOptions
from microchimera.sim import simulate_counts, simulate_normals, site_error_spread

PED = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1), ("F", "kid", "dad", "mom", 1)])


def design(n_sites: int, n_normals: int, depth: float, workdir: Path):
    rng = np.random.default_rng(1)
    sites, g = family_panel(rng, n_sites, PED, 10)
    spread = site_error_spread(sites.n_sites, rng)
    sample = simulate_counts(sites, g["mom"], g["kid"][None], [1e-4], depth=1000, rng=rng, sample="s",
                             site_error_scale=spread)
    normals = simulate_normals(sites, rng, n_normals=n_normals, depth=depth, site_error_scale=spread)
    sites_vcf, normals_path = workdir / "sites.vcf.gz", workdir / "normals.parquet"
    write_sites_vcf(sites, sites_vcf)
    write_counts(normals, normals_path)
    gm = GenotypeMatrix(("mom", "dad", "kid"), np.stack([g[p] for p in ("mom", "dad", "kid")]),
                        np.full(sites.n_sites, np.nan))
    return sites, sample, gm, sites_vcf, normals_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=20_000)
    ap.add_argument("--normals", type=int, default=30)
    ap.add_argument("--depth", type=float, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_pon_"))
    work.mkdir(parents=True, exist_ok=True)
    sites, sample, gm, sites_vcf, normals_path = design(args.sites, args.normals, args.depth, work)
    pon = work / "pon.parquet"
    build = f"{sys.executable} -m microchimera pon build {normals_path} --sites {sites_vcf} --out {pon} -q"
    subprocess.run(build, shell=True, check=True)  # warm the page cache and write the panel once

    def run_quantify(use_pon: bool) -> float:
        t = time.process_time()
        quantify(sample, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=sites,
                 options=QuantifyOptions(pon=str(pon) if use_pon else None))
        return time.process_time() - t

    times = {"pon build (wall, whole process)": [], "quantify without --pon (CPU)": [],
             "quantify with --pon (CPU)": []}
    for _ in range(args.repeats):
        t = time.perf_counter()
        subprocess.run(build, shell=True, check=True)
        times["pon build (wall, whole process)"].append(time.perf_counter() - t)
        times["quantify without --pon (CPU)"].append(run_quantify(False))
        times["quantify with --pon (CPU)"].append(run_quantify(True))
    print(f"{args.sites:,} sites, {args.normals} normals at {args.depth:g}x, sample ~1000x; "
          f"{args.repeats} interleaved rounds\n")
    print("| step | best s | median s |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts):.2f} | {statistics.median(ts):.2f} |")
    ratio = statistics.median(times["quantify with --pon (CPU)"]) / statistics.median(times["quantify without --pon (CPU)"])
    print(f"\nquantify with / without the panel (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
