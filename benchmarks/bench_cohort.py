"""Benchmark: ``microchimera cohort`` on 16 samples with 1 vs 2 Dask workers, and the engine's
per-task overhead against a plain loop over the same samples (issue 7).

Usage: python benchmarks/bench_cohort.py [--samples 16] [--sites 5000] [--depth 60] [--repeats 3]

Three timings over the same simulated samples, each into a fresh output directory, each the
best of ``--repeats``:

* loop: the per-sample tasks (check = checksums + plan, process = count + quantify + record)
  called one after the other in this process, no Dask;
* dask 1 / dask 2: ``run_cohort`` on an already running LocalCluster of 1 or 2 single-threaded
  worker processes (cluster start-up, ~1-2 s, is reported apart; workers are warmed up first
  so numba's cache load is not counted).

Per-task overhead = (dask 1 - loop) / tasks, with 2 tasks per sample (check, process), in
wall time and in CPU time (this process plus every process under it: scheduler, nannies,
workers), which stays meaningful when other jobs share the machine.  The cohort runs skip
the HTML report, so both sides do the same work.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

# The loop must run under the same conditions as a Dask worker, whose nanny sets these
# (distributed.nanny.pre-spawn-environ) before numpy loads: one BLAS thread per process.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

from microchimera.cohort import SampleOptions, read_manifest, run_cohort  # noqa: E402
from microchimera.cohort.sample import check_sample, process_sample  # noqa: E402
from microchimera.sim import simulate  # noqa: E402


def scenario(n_samples: int, n_sites: int, depth: float) -> dict:
    people = [
        {"id": "father", "sex": "male"},
        {"id": "mother", "sex": "female"},
        {"id": "son", "sex": "male", "father": "father", "mother": "mother"},
        {"id": "daughter", "sex": "female", "father": "father", "mother": "mother"},
    ]
    samples = [{"name": f"s{i:02d}", "host": "mother", "donors": {"son": 1e-2, "daughter": 3e-3}}
               for i in range(n_samples)]
    return {"name": "bench_cohort", "panel": {"n_sites": n_sites, "spacing": 600},
            "sequencing": {"depth": depth, "read_length": 100, "fragment_mean": 180, "fragment_sd": 40,
                           "fragment_max": 400},
            "family": {"people": people}, "samples": samples}


def _existing(directory: Path, sc: dict):
    from types import SimpleNamespace

    return SimpleNamespace(family_vcf=directory / "family.vcf.gz", ped=directory / "family.ped",
                           sites_vcf=directory / "sites.vcf.gz",
                           bams={s["name"]: directory / f"{s['name']}.bam" for s in sc["samples"]})


def write_manifest(sim, directory: Path) -> Path:
    rows = ["sample\tbam\thost\tdonors\tgenotypes\tpedigree\tsites"]
    rows += [f"{name}\t{bam}\tmother\tson,daughter\t{sim.family_vcf}\t{sim.ped}\t{sim.sites_vcf}"
             for name, bam in sim.bams.items()]
    path = directory / "manifest.tsv"
    path.write_text("\n".join(rows) + "\n")
    return path


#: Per-sample report.html off on both sides (seconds of figures per sample, the same either way).
OPTIONS = SampleOptions(report=False)


def plain_loop(manifest, outdir) -> None:
    options = OPTIONS
    for spec in read_manifest(manifest).samples:
        res = check_sample(spec, options, outdir)
        process_sample(spec, options, outdir, res["fingerprint"], res["regions"])


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and every process under it (nannies, workers)
    so far.  Unlike wall time it hardly moves when other jobs share the machine."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def best(fn, repeats: int, work: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``repeats`` runs, each into a fresh directory."""
    runs = []
    for r in range(repeats):
        out = work / f"out-{time.monotonic_ns()}-{r}"
        c, t = _cpu_seconds(), time.perf_counter()
        fn(out)
        runs.append((time.perf_counter() - t, _cpu_seconds() - c))
        shutil.rmtree(out)
    return min(runs)


def _noop(i):
    return i


def _noop_task_seconds(client, n: int = 200) -> float:
    """Wall seconds per no-op task submitted and awaited one after the other: the engine's
    own latency, without any of our work."""
    client.submit(_noop, -1, pure=False).result()
    t = time.perf_counter()
    for i in range(n):
        client.submit(_noop, i, pure=False).result()
    return (time.perf_counter() - t) / n


def main() -> None:
    from distributed import Client, LocalCluster

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--depth", type=float, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", help="keep the simulated samples here and reuse them on the next run")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_cohort_"))
    try:
        sc = scenario(args.samples, args.sites, args.depth)
        sim = simulate(sc, work / "sim", np.random.default_rng(1), seed=1) if not (work / "sim" / "truth.json").exists() \
            else _existing(work / "sim", sc)
        manifest = write_manifest(sim, work)
        bam_mb = sum(p.stat().st_size for p in sim.bams.values()) / 1e6
        best(lambda out: plain_loop(manifest, out), 1, work)  # warm-up: numba cache, page cache
        load0 = os.getloadavg()[0]
        loop = best(lambda out: plain_loop(manifest, out), args.repeats, work)
        runs = {}
        for n in (1, 2):
            t = time.perf_counter()
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                    Client(cluster) as client:
                startup = time.perf_counter() - t

                def cohort(out, c=client):
                    run_cohort(manifest, out, client=c, report=False, options=OPTIONS)

                best(cohort, 1, work)  # warm every worker
                runs[n] = best(cohort, args.repeats, work)
                if n == 1:
                    noop = _noop_task_seconds(client)
            print(f"cluster start-up ({n} worker(s)): {startup:.2f} s")
        tasks = 2 * args.samples
        print(f"load average (1 min) at start {load0:.2f}, at end {os.getloadavg()[0]:.2f}, on {os.cpu_count()} CPUs")
        print(f"{args.samples} samples, {args.sites} sites, depth {args.depth:g}, BAMs {bam_mb:.1f} MB in total; "
              f"best of {args.repeats}")
        print("| run | wall (s) | CPU (s) | wall per sample (s) |")
        print("|---|---|---|---|")
        print(f"| plain loop, no Dask | {loop[0]:.2f} | {loop[1]:.2f} | {loop[0] / args.samples:.3f} |")
        for n in (1, 2):
            w, c = runs[n]
            print(f"| Dask, {n} worker(s) | {w:.2f} | {c:.2f} | {w / args.samples:.3f} |")
        print(f"1 vs 2 workers: wall ratio {runs[1][0] / runs[2][0]:.2f}")
        print(f"Dask round trip of a no-op task (submit -> result, one at a time, 1 worker): {noop * 1e3:.1f} ms")
        print(f"engine overhead per task ({tasks} tasks): wall {(runs[1][0] - loop[0]) / tasks * 1e3:.1f} ms, "
              f"CPU {(runs[1][1] - loop[1]) / tasks * 1e3:.1f} ms "
              f"({(runs[1][1] / loop[1] - 1) * 100:.1f}% of the loop's CPU)")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
