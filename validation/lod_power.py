"""Does a donor at its reported LoD get detected 95% of the time?  (issue 16 item 1)

Design: a family (mother = host, father, a typed son, an untyped early loss), ``--sites``
SNPs over 10 contigs with recombination (``simulate_family``), Poisson depth ``--depth``,
error 1e-3 per base, the son at ``--son`` (default 1e-3) in every sample.  ``quantify`` is
run as the CLI runs it (contamination component on, relatedness test off).

Phase 1: ``--null-reps`` samples with the loss absent (f = 0, so its estimate is mostly
exactly 0, the case whose LoD used to jump): the median of the loss's reported LoD.
Phase 2: ``--reps`` new samples with the loss at that median LoD: the share detected
(p < 0.05), against the 95% the LoD promises.  The same for the son's LoD is read from
phase 1 (the son is present there) and tested with the son at its own median LoD.

Run: ``python validation/lod_power.py --null-reps 20 --reps 200 --procs 2
--out validation/results/lod_power.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from _designs import family_panel  # validation/ is on sys.path when run as a script
from _jobs import worker_pool

from microchimera._progress import progress_bar
from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.pedigree import Pedigree
from microchimera.model import quantify
from microchimera.options import QuantifyOptions
from microchimera.sim import simulate_counts

PED = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                             ("F", "son", "dad", "mom", 1), ("F", "loss", "dad", "mom", 0)])
TYPED = ("mom", "dad", "son")
N_CONTIGS = 10


def replicate(args) -> dict:
    """One sample: the son at ``f_son``, the loss at ``f_loss``; both donors' results."""
    seed, n_sites, depth, f_son, f_loss = args
    rng = np.random.default_rng(seed)
    sites, g = family_panel(rng, n_sites, PED, N_CONTIGS)
    counts = simulate_counts(sites, g["mom"], np.stack([g["son"], g["loss"]]), [f_son, f_loss], depth=depth,
                             rng=rng, sample="s")
    gm = GenotypeMatrix(TYPED, np.stack([g[p] for p in TYPED]), np.full(sites.n_sites, np.nan))
    res = quantify(counts, host="mom", donors=["son", "loss"], pedigree=PED, genotypes=gm, sites=sites,
                   options=QuantifyOptions(relatedness=False))
    return {"seed": seed, "f_son": f_son, "f_loss": f_loss,
            **{d.name: {"fraction": d.fraction, "p": d.p_value, "detected": d.detected, "lod": d.lod}
               for d in res.donors}}


def _run(pool, jobs, label, quiet) -> list[dict]:
    out = []
    with progress_bar(not quiet and sys.stderr.isatty(), label, total=len(jobs), unit="replicates") as advance:
        for r in pool.imap(replicate, jobs):
            out.append(r)
            advance()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sites", type=int, default=5000)
    p.add_argument("--depth", type=float, default=60)
    p.add_argument("--son", type=float, default=1e-3)
    p.add_argument("--null-reps", type=int, default=20)
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--seed0", type=int, default=160000)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--out", type=Path)
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    with worker_pool(a.procs) as pool:
        null = _run(pool, [(a.seed0 + i, a.sites, a.depth, a.son, 0.0) for i in range(a.null_reps)],
                    "null samples", a.quiet)
        lod_loss = float(np.median([r["loss"]["lod"] for r in null if r["loss"]["lod"]]))
        lod_son = float(np.median([r["son"]["lod"] for r in null if r["son"]["lod"]]))
        s0 = a.seed0 + a.null_reps
        at_loss = _run(pool, [(s0 + i, a.sites, a.depth, a.son, lod_loss) for i in range(a.reps)],
                       "loss at its LoD", a.quiet)
        at_son = _run(pool, [(s0 + a.reps + i, a.sites, a.depth, lod_son, 0.0) for i in range(a.reps)],
                      "son at its LoD", a.quiet)
    summary = {}
    for name, lod, rows, null_rows in (("loss", lod_loss, at_loss, null), ("son", lod_son, at_son, null)):
        det = float(np.mean([r[name]["detected"] for r in rows]))
        lods = np.array([r[name]["lod"] for r in null_rows], dtype=float)
        at0 = np.array([r[name]["fraction"] == 0 for r in null_rows])
        summary[name] = {"median_lod": lod, "lod_spread": float(lods.max() / lods.min()),
                         "null_estimates_at_0": int(at0.sum()), "reps": len(rows), "detected": det,
                         "detected_se": float(np.sqrt(det * (1 - det) / len(rows)))}
        print(f"{name}: median LoD {lod:.3g} (spread {summary[name]['lod_spread']:.2f}x over {len(null_rows)} "
              f"samples, {int(at0.sum())} estimates at 0); at the LoD detected {det:.3f} "
              f"+- {summary[name]['detected_se']:.3f} of {len(rows)}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"args": vars(a) | {"out": str(a.out)}, "summary": summary,
                                     "null": null, "loss_at_lod": at_loss, "son_at_lod": at_son}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
