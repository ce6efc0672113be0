"""Calibration of ``quantify`` on simulated families (issue 4).

Each replicate draws a new family (``microchimera.sim.simulate_family``, recombination
over 10 contigs of 1.5 Morgans) and a mixed sample (``simulate_counts``), then runs
:func:`microchimera.model.quantify` exactly as the CLI does.

Settings
    typed    host, child (donor) and father genotyped
    untyped  host and father genotyped; the child (an early loss) untyped
    nofam    no genotypes at all, ``--relationship child`` vs ``unrelated``
    contam   an unrelated contaminant at 1e-3, donor named as the typed child (relatedness test)
    kidcheck the typed child at 1e-3 with the relatedness test on

Run: ``python validation/recover_fraction.py --reps 400 --procs 2`` (prints a table and
writes ``validation/results/quantify.json``); the pytest entry points below run a small
version in CI and the full one under ``-m slow``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from _designs import family_panel  # validation/ is on sys.path when run as a script
from _jobs import worker_pool

from microchimera._progress import progress_bar
from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.pedigree import Pedigree
from microchimera.model import quantify
from microchimera.model.fit.detection import fisher_information
from microchimera.model.likelihood import ModelData
from microchimera.options import QuantifyOptions
from microchimera.sim import simulate_counts

N_SITES = 10_000
N_CONTIGS = 10
DEPTH = 50
ERROR = 1e-3  # simulator default: total per base, split over 3 classes
PED = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                             ("F", "kid", "dad", "mom", 1), ("F", "stranger", None, None, 1)])


def replicate(args):
    """One replicate of ``setting`` at fraction ``f`` (``args``: setting, f, seed and optionally
    the number of sites, default ``N_SITES``); returns a dict of outcomes."""
    setting, f, seed, n_sites = (*args, N_SITES)[:4]
    if setting == "kidcheck":
        return _replicate_kidcheck(f, seed)
    rng = np.random.default_rng(seed)
    sites, g = family_panel(rng, n_sites, PED, N_CONTIGS)
    donor = "stranger" if setting == "contam" else "kid"
    counts = simulate_counts(sites, g["mom"], g[donor][None], [f], depth=DEPTH, rng=rng, sample="s")
    nan = np.full(n_sites, np.nan)
    out = {"setting": setting, "f": f, "seed": seed}
    if setting in ("typed", "untyped", "contam"):
        people = ["mom", "dad", "kid"] if setting != "untyped" else ["mom", "dad"]
        gm = GenotypeMatrix(tuple(people), np.stack([g[p] for p in people]), nan)
        doc = quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=sites,
                       options=QuantifyOptions(relatedness=setting == "contam")).to_json()
        d = doc["donors"][0]
        if setting == "contam":
            out["conclusion"] = doc["relatedness_test"]["donors"][0]["conclusion"] if doc["relatedness_test"][
                "donors"] else "none"
        if setting == "typed":
            md = ModelData.build(["kid"], np.ones((n_sites, 1)), np.full((2, 1), -1, np.int8),
                                 {0: g["mom"], 1: g["kid"]}, counts.ref_count[0] + counts.alt_count[0],
                                 counts.alt_count[0], np.zeros(n_sites, np.int64), np.full(13, ERROR / 3),
                                 np.zeros(n_sites, np.int64))
            out["crb"] = float(1.0 / fisher_information(md.subset(md.informative()), np.array([f]))[0, 0])
    else:
        no_rel = QuantifyOptions(relatedness=False)
        d = quantify(counts, relationships=["child"], options=no_rel).to_json()["donors"][0]
        # only the fraction is kept of the unrelated reading: no LoD (most of a no-family fit's time)
        du = quantify(counts, relationships=["unrelated"],
                      options=QuantifyOptions(relatedness=False, lod=False)).to_json()["donors"][0]
        out["fraction_as_unrelated"] = du["fraction"]
    out.update(fraction=d["fraction"], low=d["ci95"][0], high=d["ci95"][1], p=d["p_value"], detected=d["detected"],
               lod=d["lod"])
    return out


def summarise(rows, alpha=0.05) -> list[dict]:
    """Coverage, rejection rate, bias, variance/CRB per (setting, f)."""
    out = []
    for key in sorted({(r["setting"], r["f"]) for r in rows}):
        rs = [r for r in rows if (r["setting"], r["f"]) == key]
        f = key[1]
        est = np.array([r["fraction"] for r in rs])
        cover = np.mean([r["low"] <= f <= r["high"] for r in rs])
        det = np.mean([r["detected"] for r in rs])
        s = {"setting": key[0], "f": f, "n": len(rs), "coverage": float(cover),
             "coverage_se": float(np.sqrt(cover * (1 - cover) / len(rs))),
             "detected": float(det), "detected_se": float(np.sqrt(max(det * (1 - det), alpha * (1 - alpha)) / len(rs))),
             "mean": float(est.mean()), "rel_bias": float(est.mean() / f - 1) if f > 0 else None,
             "rel_bias_se": float(est.std(ddof=1) / np.sqrt(len(rs)) / f) if f > 0 else None,
             "median_lod": float(np.median([r["lod"] for r in rs if r["lod"] is not None] or [np.nan]))}
        if "crb" in rs[0] and f > 0:
            s["var_over_crb"] = float(est.var(ddof=1) / np.mean([r["crb"] for r in rs]))
        if "fraction_as_unrelated" in rs[0]:
            s["mean_as_unrelated"] = float(np.mean([r["fraction_as_unrelated"] for r in rs]))
        if "conclusion" in rs[0]:
            s["conclusions"] = {c: sum(r["conclusion"] == c for r in rs) for c in {r["conclusion"] for r in rs}}
        out.append(s)
    return out


GRID = [(s, f) for s in ("typed", "untyped") for f in (1e-2, 1e-3, 1e-4, 0.0)] + [
    ("nofam", 1e-2), ("contam", 1e-3), ("kidcheck", 1e-3)]


def run(reps: int, procs: int, grid=GRID, seed0: int = 20240, progress: bool = False,
        n_sites: int = N_SITES) -> list[dict]:
    """All replicates of ``grid`` ((setting, f) pairs) on ``procs`` processes, each on a panel of
    ``n_sites`` sites (``progress``: a bar of replicates done on a terminal's stderr)."""
    jobs = [(setting, f, seed0 + 100_000 * i + r, n_sites) for i, (setting, f) in enumerate(grid)
            for r in range(reps)]
    rows = []
    with worker_pool(procs) as pool, progress_bar(progress, "recover_fraction", total=len(jobs), unit="replicates") as advance:
        for row in pool.imap(replicate, jobs, chunksize=4):
            rows.append(row)
            advance()
    return rows


def _replicate_kidcheck(f, seed):
    """A typed child as donor with the relatedness test on (it should conclude "child")."""
    rng = np.random.default_rng(seed)
    sites, g = family_panel(rng, N_SITES, PED, N_CONTIGS)
    counts = simulate_counts(sites, g["mom"], g["kid"][None], [f], depth=DEPTH, rng=rng, sample="s")
    gm = GenotypeMatrix(("mom", "dad", "kid"), np.stack([g["mom"], g["dad"], g["kid"]]), np.full(N_SITES, np.nan))
    doc = quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=sites).to_json()
    d = doc["donors"][0]
    rt = doc["relatedness_test"]["donors"]
    return {"setting": "kidcheck", "f": f, "seed": seed, "fraction": d["fraction"], "low": d["ci95"][0],
            "high": d["ci95"][1], "p": d["p_value"], "detected": d["detected"], "lod": d["lod"],
            "conclusion": rt[0]["conclusion"] if rt else "none"}


def _check(summary, alpha=0.05, strict=True):
    by = {(s["setting"], s["f"]): s for s in summary}
    problems = []
    for (setting, f), s in by.items():
        if setting in ("typed", "untyped"):  # at f = 0 too: there coverage = 1 - false-positive rate
            # Loose (CI, 12 replicates): at nominal 95% coverage 3 or more misses of 12 have
            # probability 2%; the former 0.85 failed on 2 misses, which happen 12% of the time.
            lo, hi = (0.93, 0.97) if strict else (0.80, 1.0)
            if not lo <= s["coverage"] <= hi:
                problems.append(f"{setting} f={f}: coverage {s['coverage']:.3f}")
            if s["detected"] >= 0.95 and abs(s["rel_bias"]) > 0.05:
                problems.append(f"{setting} f={f}: relative bias {s['rel_bias']:.3f}")
        if setting in ("typed", "untyped") and f == 0:
            if s["detected"] > alpha + 2 * s["detected_se"]:
                problems.append(f"{setting} f=0: false-positive rate {s['detected']:.3f}")
        if "var_over_crb" in s and s["detected"] >= 0.95 and s["var_over_crb"] > (1.25 if strict else 1.6):
            problems.append(f"{setting} f={f}: variance {s['var_over_crb']:.2f} x CRB")
        if setting == "nofam" and s["mean"] < 0.75 * f:
            problems.append(f"nofam: child underestimated ({s['mean']:.4g} vs {f})")
    return problems


def test_quantify_calibration_small():
    """CI version: few replicates on half the panel (5,000 sites, where a 1e-2 child at 50x is
    still 4-11x its LoD, no family to typed, so what is checked, coverage, bias and false
    positives, does not hinge on the panel's size), loose bounds (the slow test applies the
    issue's bounds to the full design)."""
    grid = [("typed", 1e-2), ("untyped", 1e-2), ("typed", 0.0), ("nofam", 1e-2)]
    rows = run(reps=12, procs=2, grid=grid, n_sites=N_SITES // 2)
    summary = summarise(rows)
    assert len(rows) == 12 * len(grid) and len(summary) == len(grid)  # no cell silently missing
    assert not _check(summary, strict=False)


@pytest.mark.slow
def test_quantify_calibration_full():
    rows = run(reps=400, procs=2)
    summary = summarise(rows)
    assert summary and len(rows) == 400 * len(summary)  # no cell silently missing
    problems = _check(summary)
    assert not problems, problems


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=400)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--settings", default=None, help="comma list of settings to run (default all)")
    p.add_argument("--fractions", default=None, help="comma list of fractions to run (default all of the grid)")
    p.add_argument("--seed0", type=int, default=20240, help="first seed (another value: new replicates)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "quantify.json"))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    grid = GRID if not a.settings else [g for g in GRID if g[0] in a.settings.split(",")]
    if a.fractions:
        grid = [g for g in grid if g[1] in {float(x) for x in a.fractions.split(",")}]
    rows = run(a.reps, a.procs, grid, seed0=a.seed0, progress=not a.quiet)
    summary = summarise(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    for s in summary:
        print(json.dumps(s))
    for problem in _check(summary):
        print("FAIL:", problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
