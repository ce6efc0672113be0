"""Benchmark of a default no-family ``quantify`` (the common case: no relative genotyped).

The issue-18 design: the 10,000 markers of the built-in ``1000g-10k-GRCh38`` panel, depth 200
(Poisson), a family drawn from a European population's frequencies (``validation/ancestry.py``'s
``family_af``, Balding-Nichols F = 0.01), the child at ``--fraction`` in the mother's sample,
the panel's pooled AF.  ``quantify(counts, relationships=["child"], sites=...)`` with every
default: host ancestry, the contamination component, profile CIs, the LoD of both components
and the relatedness test.  Prints the median process CPU time of ``--repeats`` calls and the
child's estimate, CI and LoD, so that runs of two versions of the code (``PYTHONPATH`` at a
checkout) can be compared on the same input.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_quantify_nofam.py``
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from microchimera.io.panels import load_builtin
from microchimera.io.pedigree import Pedigree
from microchimera.model import quantify
from microchimera.sim import simulate_counts, simulate_family

PED = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                             ("F", "kid", "dad", "mom", 1)])


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--fraction", type=float, default=1e-3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=5)
    a = p.parse_args(argv)
    panel = load_builtin("1000g-10k-GRCh38")
    rng = np.random.default_rng(a.seed)
    q = panel.af_at(panel.coordinates_of("CEU"))
    af = np.clip(rng.beta(q * 99.0, (1 - q) * 99.0), 1e-4, 1 - 1e-4)  # Balding-Nichols, F = 0.01
    fam = simulate_family(PED, dataclasses.replace(panel.sites, af=af), rng)
    g = {x: fam.genotype(x).astype(np.int8) for x in PED.ids}
    counts = simulate_counts(panel.sites, g["mom"], g["kid"][None], [a.fraction], depth=200, rng=rng, sample="s")
    times = []
    for _ in range(a.repeats):
        t = time.process_time()
        r = quantify(counts, relationships=["child"], sites=panel.sites)
        times.append(time.process_time() - t)
    d = r.donors[0]
    print(f"no-family quantify, 10,000 sites: {np.median(times):.2f} s CPU (median of {a.repeats}: "
          f"{', '.join(f'{t:.2f}' for t in times)}); child {d.fraction:.6g} [{d.ci95[0]:.6g}, {d.ci95[1]:.6g}], "
          f"LoD {d.lod:.6g}")


if __name__ == "__main__":
    main()
