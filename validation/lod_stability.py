"""Is the LoD a property of the design?  The demo's design over many seeds (issue 16 item 1).

Each seed runs the whole demo as ``microchimera demo --seed S`` does (simulate the family
and its BAM, count, quantify) and keeps every component's LoD and estimate.  The LoD
should vary with the seed only as much as the sample's depth and error rates do: whether
a donor's estimate came out at 0 must not move it.  Reported per donor: the median LoD
over the seeds, the largest ratio of any seed's LoD to that median, and the same for the
seeds where the estimate is exactly 0.

Run: ``python validation/lod_stability.py --seeds 1-20 --extra 255205598 --procs 2
--out validation/results/lod_stability.json`` (about 35 s of one core per seed).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from microchimera._progress import progress_bar
from microchimera.workflow import run_demo


def one_seed(seed: int) -> dict:
    """The demo at ``seed``: each component's estimate, CI and LoD (fractions, 0..1)."""
    with tempfile.TemporaryDirectory() as tmp:
        result, _ = run_demo(Path(tmp) / "demo", np.random.default_rng(seed), seed=seed)
    comps = [*result.donors, *([result.contamination.estimate] if result.contamination.estimate else [])]
    rows = {d.name: {"fraction": d.fraction, "high": d.ci95[1], "lod": d.lod} for d in comps}
    return {"seed": seed, "donors": rows}


def summarise(runs: list[dict]) -> dict:
    """Per donor: median LoD, max and min ratio to it over all seeds and over the seeds at 0."""
    out = {}
    for name in runs[0]["donors"]:
        lods = np.array([r["donors"][name]["lod"] or np.nan for r in runs], dtype=float)
        med = float(np.nanmedian(lods))
        zero = np.array([r["donors"][name]["fraction"] == 0 for r in runs])
        ratio = lods / med
        out[name] = {"median_lod": med, "max_ratio": float(np.nanmax(ratio)), "min_ratio": float(np.nanmin(ratio)),
                     "seeds_at_0": int(zero.sum()),
                     "max_ratio_at_0": float(np.nanmax(ratio[zero])) if zero.any() else None,
                     "missing": int(np.isnan(lods).sum())}
    return out


def _seeds(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="1-20", help="seeds, e.g. 1-20 or 3,7,9")
    p.add_argument("--extra", default="255205598", help="more seeds reported one by one")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    seeds = _seeds(a.seeds)
    extra = _seeds(a.extra) if a.extra else []
    runs = []
    with Pool(a.procs) as pool, progress_bar(not a.quiet and sys.stderr.isatty(), "demo seeds",
                                             total=len(seeds) + len(extra), unit="seeds") as advance:
        for r in pool.imap(one_seed, seeds + extra):
            runs.append(r)
            advance()
    base = [r for r in runs if r["seed"] in seeds]
    summary = summarise(base)
    report = {"seeds": seeds, "summary": summary, "runs": runs,
              "extra": {r["seed"]: {n: {**v, "ratio_to_median": (v["lod"] or np.nan) / summary[n]["median_lod"]}
                                    for n, v in r["donors"].items()} for r in runs if r["seed"] in extra}}
    for name, s in summary.items():
        print(f"{name:16s} median LoD {s['median_lod']:.3g}  ratio {s['min_ratio']:.2f}-{s['max_ratio']:.2f}  "
              f"at 0: {s['seeds_at_0']} seeds, max ratio {s['max_ratio_at_0']}")
    for seed, rows in report["extra"].items():
        for name, v in rows.items():
            print(f"seed {seed} {name:16s} f={v['fraction']:.3g} CI high {v['high']:.3g} LoD {v['lod']} "
                  f"({v['ratio_to_median']:.2f}x median)")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
