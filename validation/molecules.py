"""Molecules vs sites (issue 13): coverage, false positives and power on amplicon designs.

Each replicate simulates molecules (:func:`microchimera.sim.molecules.simulate_molecules`:
every molecule from the host or the child, from one haplotype, every base misread with
probability ``e`` into one of the three other bases) and runs
:func:`microchimera.model.quantify` twice on the same sample: ``evidence="sites"`` (every
read a site observation) and ``evidence="molecules"``.  The family is typed (mother = host,
child = donor; the child's father untyped and not a donor); the unknown contributor is fitted
as by default.  The data break the site model's assumption that reads are independent.

Designs
    amplicon   one amplicon, ``--amp-sites`` SNPs over 140 bp, the host homozygous at every
               SNP (no host-heterozygous site: the het share is unidentified), ``--amp-depth``
               molecules; child at 0, 1e-4, 1e-3
    microhap   2,000 amplicons x 4 SNPs (120-200 bp), 2,000 molecules per amplicon,
               e = 1e-3; child at 0, 1e-5, 1e-4

Run: ``python validation/molecules.py --reps 200 --procs 2 --log validation/results/molecules.jsonl``
(table on stdout, JSON in ``validation/results/``); the pytest entry point runs a small
version in CI.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from _jobs import read_log, run_jobs  # validation/ is on sys.path (script or pytest)

from microchimera.model import quantify
from microchimera.options import QuantifyOptions
from microchimera.sim.molecules import TRIO, amplicon_panel, trio_sample

ERROR = 1e-3
FRACTIONS = {"amplicon": (0.0, 1e-4, 1e-3), "microhap": (0.0, 1e-5, 1e-4)}


def design_sample(design: str, f: float, seed: int, amp_sites: int = 60, amp_depth: int = 30_000,
                  amplicons: int = 2000, molecules: int = 2000):
    """``(counts, fragments, genotypes, sites)`` of one replicate."""
    rng = np.random.default_rng(seed)
    if design == "amplicon":
        panel = amplicon_panel(1, (amp_sites, amp_sites), rng, length=(140, 140))
        depth = amp_depth
    else:
        panel = amplicon_panel(amplicons, (4, 4), rng)
        depth = molecules
    t = trio_sample(panel, f, molecules=depth, error_rate=ERROR, rng=rng, host_homozygous=design == "amplicon")
    return t.counts, t.fragments, t.genotypes, panel.sites


#: The models a replicate can be quantified with: the evidence, and ``-nocont`` for the
#: contamination component switched off (``--no-contamination-component``).
MODELS = ("sites", "molecules", "sites-nocont", "molecules-nocont")


def _model(row: dict) -> str:
    return row.get("model", row["evidence"])  # rows logged before models had only the evidence


def replicate(args) -> list[dict]:
    """The ``models`` (:data:`MODELS`) on one sample; one row each."""
    design, f, seed, kw, lod, models = args
    counts, frags, gm, sites = design_sample(design, f, seed, **kw)
    rows = []
    for model in models:
        ev = model.removesuffix("-nocont")
        r = quantify(counts, host="mom", donors=["kid"], pedigree=TRIO, genotypes=gm, sites=sites, fragments=frags,
                     options=QuantifyOptions(relatedness=False, lod=lod, evidence=ev,
                                             contamination=not model.endswith("-nocont")))
        d = r.donors[0]
        rows.append({"design": design, "f": f, "seed": seed, "evidence": ev, "model": model, "fraction": d.fraction,
                     "low": d.ci95[0], "high": d.ci95[1], "p_value": d.p_value, "detected": d.detected,
                     "lod": d.lod, "het_share": r.overdispersion.het_alt_share, "molecules": r.evidence.molecules,
                     **kw})
    return rows


def summarise(rows) -> list[dict]:
    out = []
    for key in sorted({(r["design"], r["f"], _model(r)) for r in rows}):
        rs = [r for r in rows if (r["design"], r["f"], _model(r)) == key]
        f = key[1]
        est = np.array([r["fraction"] for r in rs])
        cover = float(np.mean([r["low"] <= f <= r["high"] for r in rs]))
        det = float(np.mean([r["detected"] for r in rs]))
        n = len(rs)
        s = {"design": key[0], "f": f, "evidence": key[2], "n": n,
             "rel_bias": float(est.mean() / f - 1) if f > 0 else None,
             "coverage": cover, "coverage_se": float(np.sqrt(cover * (1 - cover) / n)),
             "detected": det, "detected_se": float(np.sqrt(det * (1 - det) / n)),
             "median_ci_width": float(np.median([r["high"] - r["low"] for r in rs]))}
        lods = [r["lod"] for r in rs if r["lod"] is not None]
        s["median_lod"] = float(np.median(lods)) if lods else None
        out.append(s)
    return out


def run(reps: int, procs: int, cells, seed0: int = 130000, kw=None, lod: bool = False, log: Path | None = None,
        progress: bool = False, models=("sites", "molecules")) -> list[dict]:
    """Replicates of ``cells`` ((design, f) pairs), round-robin, resumable from ``log``; each
    sample quantified with every one of ``models`` (:data:`MODELS`) not yet in the log."""
    kw = kw or {}
    rows = read_log(log)
    done = {(r["design"], r["f"], r["seed"], _model(r)) for r in rows}
    jobs = []
    for r in range(reps):
        for i, (d, f) in enumerate(cells):
            seed = seed0 + 10_000 * i + r
            todo = tuple(m for m in models if (d, f, seed, m) not in done)
            if todo:
                jobs.append((d, f, seed, kw.get(d, {}), lod, todo))
    return rows + run_jobs(replicate, jobs, procs, log=log, name="molecules", progress=progress)


def test_molecules_small():
    """CI version: 12 replicates of a single 60-SNP amplicon at 5,000 molecules with the child
    at 1e-3, and 12 with no child.  Molecules must cover the truth (>= 9 of 12: at 95% the
    chance of fewer is 0.2%) and keep the false positives at 0 to 2 of 12 (at alpha 0.05 the
    chance of 3 or more is 2%).  (The site model's CIs are the narrower ones here: every read
    of a molecule counted at 60 sites; the full run measures what that does to coverage.)"""
    kw = {"amplicon": {"amp_sites": 60, "amp_depth": 5000}}
    rows = run(reps=12, procs=2, cells=[("amplicon", 1e-3), ("amplicon", 0.0)], kw=kw)
    by = {(s["f"], s["evidence"]): s for s in summarise(rows)}
    mol, site = by[(1e-3, "molecules")], by[(1e-3, "sites")]
    assert mol["n"] == 12 and site["n"] == 12 and mol["coverage"] >= 9 / 12
    assert by[(0.0, "molecules")]["detected"] <= 2 / 12


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--designs", default="amplicon,microhap")
    p.add_argument("--fractions", default=None, help="comma-separated child fractions for every design "
                   "(default: 0,1e-4,1e-3 for amplicon and 0,1e-5,1e-4 for microhap)")
    p.add_argument("--amp-sites", type=int, default=60)
    p.add_argument("--amp-depth", type=int, default=30_000)
    p.add_argument("--lod", action="store_true", help="also compute each fit's LoD (slower)")
    p.add_argument("--models", default="sites,molecules", help=f"comma-separated, of {', '.join(MODELS)} "
                   "(-nocont: the contamination component off)")
    p.add_argument("--seed0", type=int, default=130000)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "molecules.json"))
    p.add_argument("--log", default=None, help="JSON-lines file of replicate rows (appended; a rerun resumes)")
    p.add_argument("--summarise-only", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    cells = [(d, f) for d in a.designs.split(",")
             for f in ([float(x) for x in a.fractions.split(",")] if a.fractions else FRACTIONS[d])]
    kw = {"amplicon": {"amp_sites": a.amp_sites, "amp_depth": a.amp_depth}}
    log = Path(a.log) if a.log else None
    models = tuple(a.models.split(","))
    if set(models) - set(MODELS):
        p.error(f"--models: unknown {sorted(set(models) - set(MODELS))}; known: {', '.join(MODELS)}")
    rows = read_log(log) if a.summarise_only else run(a.reps, a.procs, cells, a.seed0, kw, a.lod, log, not a.quiet,
                                                      models)
    summary = summarise(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"reps": a.reps, "seed0": a.seed0, "error": ERROR, "amplicon": kw["amplicon"],
                                       "summary": summary}, indent=1))
    print(f"{'design':9} {'f':>7} {'model':16} {'n':>4} {'bias':>7} {'cover':>6} {'±se':>5} {'detect':>6} "
          f"{'CI width':>9} {'LoD':>9}")
    for s in summary:
        bias = f"{s['rel_bias']:+7.3f}" if s["rel_bias"] is not None else "      -"
        lod = f"{s['median_lod']:9.2e}" if s["median_lod"] is not None else "        -"
        print(f"{s['design']:9} {s['f']:7.0e} {s['evidence']:16} {s['n']:4d} {bias} {s['coverage']:6.3f} "
              f"{s['coverage_se']:5.3f} {s['detected']:6.3f} {s['median_ci_width']:9.2e} {lod}")


if __name__ == "__main__":
    sys.exit(main())
