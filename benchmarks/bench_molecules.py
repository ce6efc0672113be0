"""Benchmark of quantify with molecules against the site model on the same input (issue 13).

A microhaplotype panel (``--amplicons`` amplicons x 4 SNPs, ``--molecules`` molecules per
amplicon, error 1e-3; the child typed at 1e-4) gives about ``amplicons x molecules``
fragments; the issue's goal is under 10 s on one core at 1M fragments.  Times, each the
median of ``--repeats`` runs, wall and process CPU (single-threaded: run with
``OMP_NUM_THREADS=1``; on a loaded machine the CPU time is what it would take alone):

* ``sites``: ``quantify --evidence sites`` (every read a site observation: the path before);
* ``molecules``: ``quantify --evidence molecules`` on the same counts and fragments (the
  molecules found, collapsed and fitted, the LoD's pattern oracle included).

Both with the default options (relatedness test and LoD on).
Run: ``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_molecules.py``
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from microchimera.model import quantify
from microchimera.options import QuantifyOptions
from microchimera.sim.molecules import TRIO, amplicon_panel, trio_sample


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--amplicons", type=int, default=2000)
    p.add_argument("--molecules", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    rng = np.random.default_rng(1)
    panel = amplicon_panel(a.amplicons, (4, 4), rng)
    t = trio_sample(panel, 1e-4, molecules=a.molecules, error_rate=1e-3, rng=rng)
    counts, frags, gm = t.counts, t.fragments, t.genotypes
    n_frag = len(np.unique(frags.fragment))
    print(f"{a.amplicons} amplicons x 4 SNPs, {n_frag:,} fragments ({frags.n_rows:,} rows)")
    times = {}
    for ev in ("sites", "molecules"):
        runs = []
        for _ in range(a.repeats):
            t, c = time.perf_counter(), time.process_time()
            r = quantify(counts, host="mom", donors=["kid"], pedigree=TRIO, genotypes=gm, sites=panel.sites,
                         fragments=frags, options=QuantifyOptions(evidence=ev))
            runs.append((time.perf_counter() - t, time.process_time() - c))
        wall, cpu = np.median(np.array(runs), axis=0)
        times[ev] = cpu
        d = r.donors[0]
        print(f"{ev:10} wall {wall:6.2f} s  cpu {cpu:6.2f} s  fraction {d.fraction:.3g} "
              f"CI [{d.ci95[0]:.3g}, {d.ci95[1]:.3g}]  LoD {d.lod:.3g}")
    print(f"molecules / sites CPU ratio: {times['molecules'] / times['sites']:.2f}")


if __name__ == "__main__":
    main()
