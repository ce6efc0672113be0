"""Benchmark of the host-ancestry stage of quantify (issue 18: at most 1 s at 100k sites).

The host is drawn from GIH (South Asian) frequencies at the 99,996 markers of the built-in
``1000g-100k-GRCh38`` panel, sequenced at ``--depth`` (Poisson).  Times, on one core:

* ``pooled``: :func:`host_ancestry` with ``--ancestry pooled`` (returns the sites' AF: the
  path without the stage);
* ``auto, first call``: ``--ancestry auto`` in a fresh process state (the built-in panels
  are read and matched: the cost a single ``microchimera quantify`` pays);
* ``auto, warm``: the same again with the panels cached (a cohort worker's later samples).

Each is the median of ``--repeats`` runs (the first call is timed once per run after
clearing the panel cache), as wall time and as the process's CPU time: the stage is
single-threaded (run with ``OMP_NUM_THREADS=1``), so on a loaded machine its CPU time is
what it would take alone.  Run: ``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_ancestry.py``
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from microchimera.io import panels
from microchimera.model.ancestry import host_ancestry
from microchimera.sim import simulate_counts


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--depth", type=float, default=30)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    panel = panels.load_builtin("1000g-100k-GRCh38")
    rng = np.random.default_rng(1)
    g = rng.binomial(2, panel.af_at(panel.coordinates_of("GIH"))).astype(np.int8)
    counts = simulate_counts(panel.sites, g, np.zeros((0, panel.n_markers), np.int8), [], depth=a.depth, rng=rng)
    ref, alt = counts.ref_count[0].astype(np.int64), counts.alt_count[0].astype(np.int64)
    mask = np.ones(panel.n_markers, dtype=bool)
    sites, af = panel.sites, panel.sites.af

    def timed(mode, cold):
        if cold:
            panels.load_builtin.cache_clear()
        t, c = time.perf_counter(), time.process_time()
        _, est = host_ancestry(sites, ref, alt, mask, af, mode)
        return (time.perf_counter() - t, time.process_time() - c), est

    rows = {"pooled": [], "auto, first call": [], "auto, warm": []}
    for _ in range(a.repeats):
        rows["pooled"].append(timed("pooled", False)[0])
        dt, est = timed("auto", True)
        rows["auto, first call"].append(dt)
        rows["auto, warm"].append(timed("auto", False)[0])
    print(f"sites {panel.n_markers}  depth {a.depth:g}  host GIH -> nearest {est.nearest_population} "
          f"({est.nearest_superpopulation}), panel {est.panel}")
    for name, ts in rows.items():
        wall, cpu = np.array(ts).T
        print(f"{name:18s} wall median {np.median(wall):.3f} s (min {wall.min():.3f})   "
              f"CPU median {np.median(cpu):.3f} s (min {cpu.min():.3f})")


if __name__ == "__main__":
    main()
