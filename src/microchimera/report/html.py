"""The self-contained HTML report, rendered only from result documents (``result.json``).

:func:`render_report` returns the page as text; :func:`write_report` writes it atomically.
The page has no external resource (figures are inline SVG, styles and the one small script
inline) and a Content-Security-Policy that forbids any fetch, so it works offline and an
escaped user string could not run even if the escaping failed.  Jinja2 autoescapes every
value; only the SVG produced by :mod:`.figures` (comments stripped) is marked safe.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
from pathlib import Path

from .. import __version__
from .._atomic import write_text_atomic
from ..conventions import geq_per_100k
from ..errors import FormatError, InputError, UsageError
from ..result import CONTAMINANT_LABEL, CONTAMINATION_ROW, donor_rows, verdict_class
from . import figures

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
YCHROM_SCHEMA_PREFIX = "microchimera.ychrom"
FIGURE_KEYS = ("forest", "observed_expected", "profile", "per_chromosome", "error_rates", "y_vs_snp", "ancestry")

#: Marks a page whose script ran and found every figure (read by the browser test).
READY_SCRIPT = """
(function () {
  var expected = document.querySelectorAll("figure[data-figure]");
  var missing = [];
  expected.forEach(function (f) { if (!f.querySelector("svg")) { missing.push(f.dataset.figure); } });
  if (missing.length) { console.error("microchimera report: figures missing: " + missing.join(", ")); }
  document.body.setAttribute("data-figures-expected", String(expected.length));
  document.body.setAttribute("data-figures-ok", String(expected.length - missing.length));
})();
""".strip()


# ----------------------------------------------------------------------------- loading
def load_json(path) -> dict:
    """Read one JSON document, with errors naming the file.

    Raises
    ------
    InputError
        The file is missing or unreadable.
    FormatError
        The file is not a JSON object.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: expected a JSON object, found {type(doc).__name__}")
    return doc


def is_ychrom_document(doc: dict) -> bool:
    """Whether ``doc`` is a ``ychrom.json`` (schema ``microchimera.ychrom/...``)."""
    return str(doc.get("schema", "")).startswith(YCHROM_SCHEMA_PREFIX)


def _check_result(doc: dict, source: str) -> dict:
    if not isinstance(doc.get("donors"), list):
        raise FormatError(f"{source}: not a microchimera result document (no 'donors' list); "
                          "expected the result.json written by `microchimera quantify` or `run`")
    for i, d in enumerate(doc["donors"]):
        if not isinstance(d, dict) or "name" not in d:
            raise FormatError(f"{source}: donor entry {i} has no 'name'")
    return doc


def _as_docs(results, sources=None) -> list[tuple[str | None, dict]]:
    """``(name, document)`` pairs: a file is named by its path as given, a document given as
    a dict by its entry in ``sources`` (None: no name; the report then shows no file)."""
    if isinstance(results, dict | str | Path):
        results = [results]
    results = list(results)
    if sources is None:
        sources = [None] * len(results)
    elif isinstance(sources, str | Path) or len(sources) != len(results):
        raise UsageError(f"sources: expected one name per result ({len(results)}), found {sources!r}")
    out = []
    for r, name in zip(results, sources, strict=True):
        if isinstance(r, dict):
            out.append((None if name is None else str(name), r))
        else:
            out.append((str(r) if name is None else str(name), load_json(r)))
    return out


def _canonical(doc) -> str:
    def default(o):
        return o.tolist() if hasattr(o, "tolist") else str(o)

    return json.dumps(doc, sort_keys=True, default=default)


def _file_beside(results, out: Path):
    """Names for ``results`` given as dicts that are the ``result.json`` beside ``out``.

    ``run`` and ``demo`` write ``result.json`` and then the report from the same dict; the
    report names that file (relative to the report: ``result.json``) instead of no file.  A
    dict is named only when the file holds the very same document.
    """
    if isinstance(results, dict | str | Path):
        results = [results]
    beside = out.parent / "result.json"
    if not any(isinstance(r, dict) for r in results) or not beside.is_file():
        return None
    try:
        text = _canonical(json.loads(beside.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    names = [beside.name if isinstance(r, dict) and _canonical(r) == text else None for r in results]
    return names if any(names) else None


# ----------------------------------------------------------------------------- view model
def _fmt(v, digits: int = 3) -> str:
    """One value on its own (prose, key-value tables); columns use :func:`_column_format`."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.{digits}g}" if 1e-3 <= abs(v) < 1e6 else _sci(v, digits)
    return str(v)


def _sci(v: float, digits: int) -> str:
    """``9.85e-4``: ``digits`` significant digits, the exponent without padding."""
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _finite(v) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _column_format(values, digits: int = 3):
    """One number format for a whole table column (issue 16 item 13).

    Scientific (``9.85e-4``) for every cell when any non-zero value is below 1e-3 or from
    1e6 up; otherwise fixed-point with the same number of decimals in every cell, enough for
    the smallest non-zero value to show ``digits`` significant digits (at most 6).  Missing
    values read ``n/a``; zero and one read ``0`` and ``1`` in a scientific column (a p-value
    of 1, not ``1.00e0``).
    """
    nonzero = [abs(v) for v in map(_finite, values) if v]
    scientific = any(v < 1e-3 or v >= 1e6 for v in nonzero)
    decimals = 0 if not nonzero else min(6, max(0, digits - 1 - math.floor(math.log10(min(nonzero)))))

    def fmt(v) -> str:
        v = _finite(v)
        if v is None:
            return "n/a"
        if scientific:
            return f"{v:g}" if v in (0.0, 1.0) else _sci(v, digits)
        return f"{v:,.{decimals}f}"

    return fmt


def _ci(ci, fmt) -> str:
    if not ci or None in ci:
        return "n/a"
    return f"{fmt(ci[0])} – {fmt(ci[1])}"


def _ends(ci) -> list:
    return list(ci) if ci and None not in ci else []


def _male_geq(mf: dict) -> dict:
    """The chrY male DNA in gEq/100k (the forest plot's unit): the document's values, else
    converted from the male fraction as ``ychrom`` does (:func:`~microchimera.conventions.geq_per_100k`)."""
    geq, ci = _finite(mf.get("geq_per_100k")), mf.get("geq_per_100k_ci95")
    if geq is None and _finite(mf.get("estimate")) is not None:
        geq = float(geq_per_100k(float(mf["estimate"])))
    if not _ends(ci) and _ends(mf.get("ci95")):
        ci = [float(geq_per_100k(float(v))) for v in mf["ci95"]]
    return {"geq": geq, "geq_ci95": _ends(ci) or None}


def _y_estimate(doc: dict, ydocs: list[dict], only: bool = True) -> dict | None:
    """The chrY estimate of this sample: from the result's ``ychrom`` block, else from a
    ``ychrom.json`` sample of the same name (or, when ``doc`` is the only result, the only
    sample of the only file)."""
    block = doc.get("ychrom")
    if isinstance(block, dict) and block.get("status") == "estimated":
        mf = block.get("male_fraction") or {}
        return {"source": "run (ychrom block)", "estimate": mf.get("estimate"), "ci95": mf.get("ci95"),
                "p_value": mf.get("p_value"), "detected": mf.get("detected"), "lod": mf.get("lod"),
                **_male_geq(mf), "comparison": block.get("comparison"), "status": "estimated"}
    if isinstance(block, dict) and block.get("status") in ("skipped", "error"):
        skipped = {"status": block["status"], "reason": block.get("reason"), "estimate": None}
    else:
        skipped = None
    candidates = [(yd, s) for yd in ydocs for s in yd.get("samples", [])]
    match = [c for c in candidates if c[1].get("sample") == doc.get("sample")]
    if not match and only and len(candidates) == 1 and len(ydocs) == 1:
        match = candidates
    if not match:
        return skipped
    _, s = match[0]
    mf = s.get("male_fraction") or {}
    return {"source": f"ychrom.json sample {s.get('sample')}", "estimate": mf.get("estimate"),
            "ci95": mf.get("ci95"), "p_value": mf.get("p_value"), "detected": mf.get("detected"),
            "lod": mf.get("lod"), **_male_geq(mf), "comparison": None, "status": "estimated",
            "warnings": s.get("warnings", [])}


def _sample_view(index: int, source: str | None, doc: dict, ydocs: list[dict], draw: bool,
                 only: bool = True) -> dict:
    donors = doc.get("donors", [])
    pid = f"s{index}"
    y = _y_estimate(doc, ydocs, only)
    missing = [k for k in ("error_rates", "observed_vs_expected", "relatedness_test", "provenance", "sites")
               if k not in doc]
    contamination = doc.get("contamination") or {}
    # The verdict table's rows: the donors, then the contamination component when fitted.
    entries = list(donors) + ([{**contamination, "name": CONTAMINATION_ROW, "relationship": CONTAMINANT_LABEL,
                                "typed": False}] if contamination.get("fitted") else [])
    figs = {}
    if draw:
        figs = {
            "forest": figures.forest_plot(entries, f"{pid}-forest"),
            "observed_expected": figures.observed_vs_expected_plot(doc.get("observed_vs_expected") or {},
                                                                   f"{pid}-ove"),
            "profile": figures.profile_plot(donors, f"{pid}-profile"),
            "per_chromosome": figures.per_chromosome_plot(donors, f"{pid}-chrom"),
            "error_rates": figures.error_rate_plot(doc.get("error_rates") or {}, f"{pid}-errors"),
            "y_vs_snp": figures.y_vs_snp_plot(y, donors, f"{pid}-y"),
            "ancestry": figures.ancestry_plot(doc.get("ancestry"), f"{pid}-ancestry"),
        }
    rows = []
    flat = {r.donor: r for r in donor_rows(doc)}
    # One format per column (an estimate and its CI share one): a column never mixes
    # 9.85e-4 with 0.00134.
    f_fraction = _column_format([v for d in entries for v in (d.get("fraction"), *_ends(d.get("ci95")))])
    # gEq/100k to one decimal at the scale of the forest plot (as the terminal table); two
    # significant digits of the smallest value when that is below 1.
    f_geq = _column_format([v for d in entries for v in (d.get("geq_per_100k"),
                                                        *_ends(d.get("geq_per_100k_ci95")))], 2)
    f_p = _column_format([d.get("p_value") for d in entries], 2)
    f_lod = _column_format([d.get("lod") for d in entries])
    f_lod_geq = _column_format([d.get("lod_geq_per_100k") for d in entries], 2)
    for d in entries:
        text = flat[d.get("name")].verdict
        rows.append({
            "name": d.get("name"), "relationship": d.get("relationship", "n/a"), "typed": _fmt(d.get("typed")),
            "verdict": text, "badge": verdict_class(text), "detected": bool(d.get("detected")),
            "fraction": f_fraction(d.get("fraction")), "ci": _ci(d.get("ci95"), f_fraction),
            "geq": f_geq(d.get("geq_per_100k")), "geq_ci": _ci(d.get("geq_per_100k_ci95"), f_geq),
            "p_value": f_p(d.get("p_value")), "lod": f_lod(d.get("lod")),
            "lod_geq": f_lod_geq(d.get("lod_geq_per_100k")),
            "sites": _fmt(d.get("informative_sites")), "reads": _fmt(d.get("informative_reads")),
            "inflation": _fmt(d.get("ci_inflation")),
        })
    tests = [r for r in (doc.get("relatedness_test") or {}).get("donors", []) if isinstance(r, dict)]
    f_llr = _column_format([r.get("log_likelihood_ratio") for r in tests])
    rel = [{"donor": r.get("donor"), "hypothesis": r.get("hypothesis"), "alternative": r.get("alternative"),
            "llr": f_llr(r.get("log_likelihood_ratio")), "conclusion": str(r.get("conclusion", "n/a")),
            "note": r.get("note")} for r in tests]
    classes = {k: v for k, v in (doc.get("error_rates") or {}).items() if isinstance(v, dict)}
    f_rate = _column_format([v.get("rate") for v in classes.values()])
    f_other = _column_format([v.get("other_base_rate") for v in classes.values()])
    errs = [{"cls": k, "rate": f_rate(v.get("rate")), "source": v.get("source", "n/a"),
             "bg_sites": _fmt(v.get("background_sites")), "bg_reads": _fmt(v.get("background_reads")),
             "bg_errors": _fmt(v.get("background_errors")), "other": f_other(v.get("other_base_rate"))}
            for k, v in classes.items()]
    prov = doc.get("provenance") or {}
    sites = doc.get("sites") or {}
    return {
        "id": pid, "source": source, "sample": doc.get("sample", "n/a"), "host": doc.get("host", "n/a"),
        "mode": doc.get("mode", "n/a"), "alpha": _fmt(doc.get("alpha")), "tissue": doc.get("tissue"),
        "donors": rows, "relatedness": rel, "relatedness_threshold": _fmt(
            (doc.get("relatedness_test") or {}).get("threshold_log_lr")),
        "errors": errs, "figures": {k: figs.get(k) for k in FIGURE_KEYS},
        "y": y, "y_text": _y_text(y), "warnings": [str(w) for w in doc.get("warnings", [])],
        "sites": [(k.replace("_", " "), _fmt(v) if not isinstance(v, dict) else
                   ", ".join(f"{kk.replace('_', ' ')}: {_fmt(vv)}" for kk, vv in v.items()) or "none")
                  for k, v in sites.items()],
        "rho": _fmt((doc.get("overdispersion") or {}).get("rho")),
        "untyped": ", ".join(map(str, doc.get("untyped_people", []))) or "none",
        "mendel": [{"child": m.get("child"), "parents": ", ".join(map(str, m.get("parents", []))),
                    "errors": _fmt(m.get("errors")), "checked": _fmt(m.get("checked"))}
                   for m in doc.get("mendel", []) if isinstance(m, dict)],
        "provenance": {
            "version": prov.get("version", "n/a"), "command": prov.get("command", "n/a"),
            "seed": _fmt(prov.get("seed")),
            "inputs": [{"path": i.get("path"), "size": _fmt(i.get("size")), "checksum": i.get("checksum")}
                       for i in prov.get("inputs", []) if isinstance(i, dict)],
            "parameters": json.dumps(prov.get("parameters", {}), sort_keys=True),
            "environment": ", ".join(f"{k} {v}" for k, v in (prov.get("environment") or {}).items()),
        },
        "missing": missing,
        "ancestry": _ancestry_text(doc.get("ancestry")),
    }


def _ancestry_text(a: dict | None) -> dict | None:
    """The ancestry block's lines for the report (None: the result has none)."""
    if not isinstance(a, dict):
        return None
    coords = a.get("coordinates")
    return {"used": bool(a.get("used")), "mode": str(a.get("mode", "n/a")), "panel": a.get("panel") or "n/a",
            "nearest": f"{a.get('nearest_population')} ({a.get('nearest_superpopulation')})"
            if a.get("nearest_population") else "n/a",
            "coordinates": ", ".join(f"{x:.4f}" for x in coords) if coords else "n/a",
            "se": _fmt(a.get("coordinate_se")), "llr": _fmt(a.get("log_lr_vs_pooled")),
            "markers": _fmt(a.get("markers_with_reads")), "adjusted": _fmt(a.get("adjusted_sites")),
            "note": a.get("note"), "drift": _drift_text(a)}


def _drift_text(a: dict) -> str | None:
    """θ and the host's inbreeding check as one sentence (None: a result without them)."""
    if "theta" not in a:
        return None
    text = f"Drift of the family's population from these allele frequencies allowed for: theta = {_fmt(a['theta'])}."
    if a.get("host_inbreeding") is not None:
        text += (f" The host's own excess homozygosity against them: F = {_fmt(a['host_inbreeding'])}"
                 f" ± {_fmt(a.get('host_inbreeding_se'))} ({_fmt(a.get('host_inbreeding_sites'))} sites).")
    return text


def _y_text(y: dict | None) -> dict | None:
    """The chrY numbers as shown below its figure: gEq/100k first (the figure's unit)."""
    if not y or y.get("estimate") is None:
        return None
    f_geq = _column_format([y.get("geq"), *(y.get("geq_ci95") or ())], 2)
    f_fraction = _column_format([y.get("estimate"), *_ends(y.get("ci95"))])
    return {"geq": f_geq(y.get("geq")), "geq_ci": _ci(y.get("geq_ci95"), f_geq) if y.get("geq_ci95") else None,
            "fraction": f_fraction(y.get("estimate")),
            "ci": _ci(y.get("ci95"), f_fraction) if _ends(y.get("ci95")) else None,
            "p_value": None if _finite(y.get("p_value")) is None else _fmt(float(y["p_value"]), 2)}


def cohort_rows(docs: list[dict], ydocs: list[dict] = ()) -> list[dict]:
    """gEq/100k per (sample, donor): :func:`~microchimera.result.donor_rows` of every document.

    ``sample`` labels the row in the cohort figure (the row's sample, i.e. the document's
    ``label`` when it has one, with its tissue in brackets); ``name`` and ``tissue`` are the
    two apart.  Each row also carries the donor's p-value and LoD (gEq/100k) and the sample's
    chrY male DNA (``male``: the estimate of :func:`_y_estimate`, from the result's ``ychrom``
    block or a matching ``ychrom.json`` in ``ydocs``; None when there is none).
    """
    rows = []
    for doc in docs:
        if not isinstance(doc.get("donors"), list):
            continue
        tissue = doc.get("tissue")
        y = _y_estimate(doc, list(ydocs), only=len(docs) == 1)
        for r in donor_rows(doc):
            male = None if r.donor == CONTAMINATION_ROW else y  # as donor_rows' male_* columns
            label = f"{r.sample} ({tissue})" if tissue else r.sample
            ci = None if r.geq_ci95_low is None else [r.geq_ci95_low, r.geq_ci95_high]
            rows.append({"sample": label, "name": r.sample, "tissue": tissue, "host": r.host, "donor": str(r.donor),
                         "geq": r.geq_per_100k, "ci": ci, "lod_geq": r.lod_geq_per_100k, "p_value": r.p_value,
                         "detected": bool(r.detected), "verdict": r.verdict, "male": male})
    return rows


def _cohort_table(rows: list[dict]) -> list[dict]:
    """The cohort table's cells: one number format per column, chrY in gEq/100k."""
    estimated = [r["male"] for r in rows if r["male"] and r["male"].get("geq") is not None]
    f_geq = _column_format([v for r in rows for v in (r["geq"], *(r["ci"] or ()))], 2)
    f_lod = _column_format([r["lod_geq"] for r in rows], 2)
    f_p = _column_format([r["p_value"] for r in rows], 2)
    f_male = _column_format([v for m in estimated for v in (m["geq"], *(m.get("geq_ci95") or ()))], 2)
    out = []
    for r in rows:
        m = r["male"]
        male_ci = ""
        if m and m.get("geq") is not None:
            male, male_ci = f_male(m["geq"]), _ci(m.get("geq_ci95"), f_male)
        elif m:
            male = m.get("status", "n/a")  # skipped or error
        else:
            male = "" if r["donor"] == CONTAMINATION_ROW else "not run"
        out.append({**r, "tissue": r["tissue"] or "", "geq_text": f_geq(r["geq"]), "ci_text": _ci(r["ci"], f_geq),
                    "lod_text": f_lod(r["lod_geq"]), "p_text": f_p(r["p_value"]), "male_text": male,
                    "male_ci_text": male_ci})
    return out


# ----------------------------------------------------------------------------- rendering
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def render_report(results, ychrom_json=None, *, title: str | None = None, details: bool = True,
                  sources=None) -> str:
    """Render the HTML report of one or more result documents.

    Parameters
    ----------
    results : path-like, dict, or a list of them
        ``result.json`` files (or their parsed documents).  A file whose ``schema`` is
        ``microchimera.ychrom/...`` is taken as a chrY result instead.
    ychrom_json : path-like, dict, or a list of them, optional
        ``ychrom.json`` results; a sample is matched to a result by sample name (or used
        for the only result when there is one of each).
    title : str, optional
        Page title (default: the sample name, or "cohort of N samples").
    details : bool
        Per-sample sections with all figures (with several results, the cohort view always
        comes first).
    sources : sequence of str, optional
        One name per result, shown as the sample's file (default: a file's path as given;
        nothing for a dict).

    Returns
    -------
    str
        The page (UTF-8 text).

    Raises
    ------
    InputError, FormatError
        A file is missing, not JSON or not a result document; no result given.
    UsageError
        ``sources`` does not give one name per result.
    """
    from markupsafe import Markup

    docs, ydocs = [], []
    for source, doc in _as_docs(results, sources):
        (ydocs if is_ychrom_document(doc) else docs).append((source, doc))
    if ychrom_json is not None:
        for source, doc in _as_docs(ychrom_json):
            if not is_ychrom_document(doc):
                raise FormatError(f"{source}: not a ychrom.json (schema {doc.get('schema')!r})")
            ydocs.append((source, doc))
    if not docs:
        raise InputError("no result document given (only ychrom.json files); pass the result.json of quantify/run")
    for source, doc in docs:
        _check_result(doc, source or f"result of sample {doc.get('sample')!r}")
    y_only = [d for _, d in ydocs]
    samples = [_sample_view(i, s, d, y_only, details, only=len(docs) == 1) for i, (s, d) in enumerate(docs)]
    for s in samples:
        if s["missing"]:
            logger.info("%s: no %s in the result; those report sections are left out", s["source"] or s["sample"],
                        ", ".join(s["missing"]))
    cohort = None
    if len(docs) > 1:
        rows = cohort_rows([d for _, d in docs], y_only)
        cohort = {"rows": _cohort_table(rows),
                  "figure": figures.cohort_plot(rows, "cohort")}
    for s in samples:
        s["figures"] = {k: None if v is None else Markup(v) for k, v in s["figures"].items()}
    if cohort and cohort["figure"]:
        cohort["figure"] = Markup(cohort["figure"])
    script_hash = base64.b64encode(hashlib.sha256(READY_SCRIPT.encode()).digest()).decode()
    page_title = title or (f"microchimera: {docs[0][1].get('sample', 'sample')}" if len(docs) == 1
                           else f"microchimera: cohort of {len(docs)} samples")
    template = _environment().get_template("report.html.j2")
    return template.render(title=page_title, samples=samples, cohort=cohort, details=details,
                           version=__version__, script=Markup(READY_SCRIPT), script_hash=script_hash,
                           multi=len(docs) > 1)


def write_report(results, out, ychrom_json=None, *, title: str | None = None, details: bool = True,
                 sources=None) -> Path:
    """Render the report (:func:`render_report`) and write it to ``out`` atomically.

    ``run``/``demo`` call ``write_report(doc, outdir / "report.html")`` after writing
    ``result.json``: without ``sources``, a dict that is the ``result.json`` beside ``out``
    is named ``result.json`` in the report.  Returns the path written.
    """
    out = Path(out)
    if sources is None:
        sources = _file_beside(results, out)
    write_text_atomic(out, render_report(results, ychrom_json, title=title, details=details, sources=sources))
    logger.info("report written to %s", out)
    return out
