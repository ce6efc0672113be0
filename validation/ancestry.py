"""Ancestry-aware allele frequencies (issue 18): families of one population on a pooled panel.

Each replicate draws a family from the allele frequencies of one 1000 Genomes population,
while the sites carry the pooled 1000 Genomes AF (as a user's panel would), mixes the donor
into the host at fraction ``f`` (``simulate_counts``, depth 200, error 1e-3) and runs
:func:`microchimera.model.quantify` twice on the same counts: ``ancestry="auto"`` (the
host's coordinates estimated from its reads) and ``ancestry="pooled"`` (the baseline).

Designs
    nofam    no genotypes: ``relationships=["child"]`` (the child's father is the population)
    partner  family mode: the host typed, her partner and their early loss untyped

The family's frequencies are not the model's: for each replicate a population is drawn
from the super-population's (e.g. AFR: YRI, LWK, GWD, MSL, ESN, ASW, ACB), its AF is the
panel's rank-4 AF at the population's mean coordinates, and then each site's AF drifts
by Balding-Nichols with F = 0.01 (about the F_ST between populations of one continent), so
that no point of the panel's ancestry space gives the family's true AF.

The model allows for drift with ``--theta`` (default 0.01, :mod:`microchimera.model.drift`);
``--theta 0`` reproduces the runs made before it existed (logged rows without ``theta`` had 0).

Markers: the 10,000 GRCh38 markers of the built-in panel ``1000g-10k-GRCh38``.
Run: ``python validation/ancestry.py --reps 200 --procs 2`` (table on stdout, JSON in
``validation/results/``); the pytest entry point runs a small version in CI.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from _jobs import read_log, run_jobs  # validation/ is on sys.path (script or pytest)

from microchimera.conventions import DEFAULT_THETA
from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.panels import load_builtin
from microchimera.io.pedigree import Pedigree
from microchimera.model import quantify
from microchimera.options import QuantifyOptions
from microchimera.sim import simulate_counts, simulate_family

PANEL = "1000g-10k-GRCh38"
DEPTH = 200
DRIFT_F = 0.01
SUPERPOPULATIONS = ("AFR", "AMR", "EAS", "EUR", "SAS")
PED = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                             ("F", "kid", "dad", "mom", 1)])


def family_af(panel, superpop: str, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A population of ``superpop`` drawn at random, and its AF after Balding-Nichols drift."""
    pops = sorted(set(panel.populations[panel.superpopulations == superpop]))
    pop = pops[rng.integers(len(pops))]
    p = panel.af_at(panel.coordinates_of(pop))
    a = p * (1 - DRIFT_F) / DRIFT_F
    b = (1 - p) * (1 - DRIFT_F) / DRIFT_F
    return pop, np.clip(rng.beta(a, b), 1e-4, 1 - 1e-4)


def replicate(args) -> list[dict]:
    """One family and sample of ``design`` at ``f``; one row per ancestry mode."""
    design, superpop, f, seed, modes, theta = args
    panel = load_builtin(PANEL)
    rng = np.random.default_rng(seed)
    pop, af = family_af(panel, superpop, rng)
    fam = simulate_family(PED, dataclasses.replace(panel.sites, af=af), rng)
    g = {p: fam.genotype(p).astype(np.int8) for p in PED.ids}
    counts = simulate_counts(panel.sites, g["mom"], g["kid"][None], [f], depth=DEPTH, rng=rng, sample="s")
    rows = []
    for mode in modes:
        options = QuantifyOptions(relatedness=False, lod=False, ancestry=mode, theta=theta)
        if design == "nofam":
            r = quantify(counts, relationships=["child"], sites=panel.sites, options=options)
        else:
            gm = GenotypeMatrix(("mom",), g["mom"][None], np.full(panel.n_markers, np.nan))
            r = quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=panel.sites,
                         options=options)
        d = r.donors[0]
        a = r.ancestry
        rows.append({"design": design, "superpop": superpop, "population": pop, "f": f, "seed": seed,
                     "mode": mode, "theta": theta, "fraction": d.fraction, "low": d.ci95[0], "high": d.ci95[1],
                     "detected": d.detected, "nearest": a.nearest_superpopulation,
                     "nearest_population": a.nearest_population})
    return rows


def summarise(rows) -> list[dict]:
    out = []
    for key in sorted({(r["design"], r["superpop"], r["f"], r["mode"]) for r in rows}):
        rs = [r for r in rows if (r["design"], r["superpop"], r["f"], r["mode"]) == key]
        f = key[2]
        est = np.array([r["fraction"] for r in rs])
        cover = float(np.mean([r["low"] <= f <= r["high"] for r in rs]))
        s = {"design": key[0], "superpop": key[1], "f": f, "mode": key[3], "n": len(rs),
             "rel_bias": float(est.mean() / f - 1), "rel_bias_se": float(est.std(ddof=1) / np.sqrt(len(rs)) / f),
             "coverage": cover, "coverage_se": float(np.sqrt(cover * (1 - cover) / len(rs))),
             "detected": float(np.mean([r["detected"] for r in rs]))}
        if key[3] == "auto":
            s["placed_in_superpop"] = float(np.mean([r["nearest"] == key[1] for r in rs]))
        out.append(s)
    return out


def run(reps: int, procs: int, cells, seed0: int = 180000, pooled_reps: int | None = None, progress: bool = False,
        log: Path | None = None, theta: float = DEFAULT_THETA) -> list[dict]:
    """Replicates of ``cells`` ((design, superpop, f) triples) on ``procs`` processes.

    Jobs run round-robin over the cells (replicate 0 of every cell, then replicate 1, ...), so
    that a run stopped early has about as many replicates in every cell.  Every replicate
    runs ``auto``; the first ``pooled_reps`` (default all) run ``pooled`` on the same counts too.
    With ``log`` (JSON lines), each replicate's rows are appended as it ends, and rows already
    there are not run again (a stopped run resumes); rows of another ``theta`` are ignored.
    """
    pooled_reps = reps if pooled_reps is None else pooled_reps
    rows = [r for r in read_log(log) if r.get("theta", 0.0) == theta]
    done = {(r["design"], r["superpop"], r["f"], r["seed"], r["mode"]) for r in rows}
    jobs = []
    for r in range(reps):
        for i, (d, sp, f) in enumerate(cells):
            seed = seed0 + 10_000 * i + r
            modes = tuple(m for m in (("auto", "pooled") if r < pooled_reps else ("auto",))
                          if (d, sp, f, seed, m) not in done)
            if modes:
                jobs.append((d, sp, f, seed, modes, theta))
    return rows + run_jobs(replicate, jobs, procs, log=log, name="ancestry", progress=progress)


def test_ancestry_small():
    """CI version: 8 replicates of the no-family child at 1e-2 with an African family on the
    pooled panel.  The baseline must show the bias the issue measured (pooled: 0.79x, so
    below 0.9x even with 8 replicates, whose SE is about 1.5%); auto must remove most of it
    (within 5% +- 3 SE, a loose bound for 8 replicates; the full run checks < 5%)."""
    rows = run(reps=8, procs=2, cells=[("nofam", "AFR", 1e-2)])
    by = {s["mode"]: s for s in summarise(rows)}
    assert by["pooled"]["n"] == by["auto"]["n"] == 8
    assert by["pooled"]["rel_bias"] < -0.10
    assert abs(by["auto"]["rel_bias"]) < 0.05 + 3 * by["auto"]["rel_bias_se"]
    assert by["auto"]["placed_in_superpop"] >= 0.75


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--designs", default="nofam,partner")
    p.add_argument("--superpops", default=",".join(SUPERPOPULATIONS))
    p.add_argument("--fractions", default="1e-3,1e-2")
    p.add_argument("--pooled-reps", type=int, default=None, help="replicates that also run --ancestry pooled "
                   "(default: all)")
    p.add_argument("--seed0", type=int, default=180000)
    p.add_argument("--theta", type=float, default=DEFAULT_THETA, help="quantify's --theta (default %(default)s)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "ancestry.json"))
    p.add_argument("--log", default=None, help="JSON-lines file of replicate rows (appended; a rerun resumes)")
    p.add_argument("--summarise-only", action="store_true", help="only summarise the rows already in --log")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    cells = [(d, sp, float(f)) for d in a.designs.split(",") for sp in a.superpops.split(",")
             for f in a.fractions.split(",")]
    log = Path(a.log) if a.log else None
    if a.summarise_only:
        rows = [r for r in read_log(log) if r.get("theta", 0.0) == a.theta]
    else:
        rows = run(a.reps, a.procs, cells, a.seed0, a.pooled_reps, progress=not a.quiet, log=log, theta=a.theta)
    summary = summarise(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"reps": a.reps, "pooled_reps": a.pooled_reps, "seed0": a.seed0,
                                       "drift_F": DRIFT_F, "theta": a.theta, "depth": DEPTH,
                                       "panel": PANEL, "summary": summary, "rows": rows}, indent=1))
    print(f"{'design':8} {'pop':4} {'f':>7} {'mode':6} {'n':>4} {'bias':>7} {'±se':>6} {'cover':>6} {'placed':>6}")
    for s in summary:
        print(f"{s['design']:8} {s['superpop']:4} {s['f']:7.0e} {s['mode']:6} {s['n']:4d} {s['rel_bias']:+7.3f} "
              f"{s['rel_bias_se']:6.3f} {s['coverage']:6.3f} {s.get('placed_in_superpop', float('nan')):6.2f}")


if __name__ == "__main__":
    sys.exit(main())
