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
from pathlib import Path

from .. import __version__
from .._atomic import write_text_atomic
from ..errors import FormatError, InputError
from ..result import CONTAMINANT_LABEL, CONTAMINATION_ROW, donor_rows, verdict_class
from . import figures

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
YCHROM_SCHEMA_PREFIX = "microchimera.ychrom"
FIGURE_KEYS = ("forest", "observed_expected", "profile", "per_chromosome", "error_rates", "y_vs_snp")

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


def _as_docs(results) -> list[tuple[str, dict]]:
    if isinstance(results, dict | str | Path):
        results = [results]
    out = []
    for i, r in enumerate(results):
        if isinstance(r, dict):
            out.append((f"result {i + 1}", r))
        else:
            out.append((str(r), load_json(r)))
    return out


# ----------------------------------------------------------------------------- view model
def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.{digits}g}" if 1e-3 <= abs(v) < 1e6 else f"{v:.{digits - 1}e}"
    return str(v)


def _ci(ci, digits: int = 3) -> str:
    if not ci or None in ci:
        return "n/a"
    return f"{_fmt(float(ci[0]), digits)} – {_fmt(float(ci[1]), digits)}"


def _y_estimate(doc: dict, ydocs: list[dict]) -> dict | None:
    """The chrY estimate of this sample: from the result's ``ychrom`` block, else from a
    ``ychrom.json`` sample of the same name (or the only sample of the only file)."""
    block = doc.get("ychrom")
    if isinstance(block, dict) and block.get("status") == "estimated":
        mf = block.get("male_fraction") or {}
        return {"source": "run (ychrom block)", "estimate": mf.get("estimate"), "ci95": mf.get("ci95"),
                "p_value": mf.get("p_value"), "detected": mf.get("detected"), "lod": mf.get("lod"),
                "geq": mf.get("geq_per_100k"), "comparison": block.get("comparison"), "status": "estimated"}
    if isinstance(block, dict) and block.get("status") in ("skipped", "error"):
        skipped = {"status": block["status"], "reason": block.get("reason"), "estimate": None}
    else:
        skipped = None
    candidates = [(yd, s) for yd in ydocs for s in yd.get("samples", [])]
    match = [c for c in candidates if c[1].get("sample") == doc.get("sample")]
    if not match and len(candidates) == 1 and len(ydocs) == 1:
        match = candidates
    if not match:
        return skipped
    _, s = match[0]
    mf = s.get("male_fraction") or {}
    return {"source": f"ychrom.json sample {s.get('sample')}", "estimate": mf.get("estimate"),
            "ci95": mf.get("ci95"), "p_value": mf.get("p_value"), "detected": mf.get("detected"),
            "lod": mf.get("lod"), "geq": mf.get("geq_per_100k"), "comparison": None, "status": "estimated",
            "warnings": s.get("warnings", [])}


def _sample_view(index: int, source: str, doc: dict, ydocs: list[dict], draw: bool) -> dict:
    donors = doc.get("donors", [])
    pid = f"s{index}"
    y = _y_estimate(doc, ydocs)
    missing = [k for k in ("error_rates", "observed_vs_expected", "relatedness_test", "provenance", "sites")
               if k not in doc]
    figs = {}
    if draw:
        figs = {
            "forest": figures.forest_plot(donors, f"{pid}-forest"),
            "observed_expected": figures.observed_vs_expected_plot(doc.get("observed_vs_expected") or {},
                                                                   f"{pid}-ove"),
            "profile": figures.profile_plot(donors, f"{pid}-profile"),
            "per_chromosome": figures.per_chromosome_plot(donors, f"{pid}-chrom"),
            "error_rates": figures.error_rate_plot(doc.get("error_rates") or {}, f"{pid}-errors"),
            "y_vs_snp": figures.y_vs_snp_plot(y, donors, f"{pid}-y"),
        }
    rows = []
    flat = {r.donor: r for r in donor_rows(doc)}
    contamination = doc.get("contamination") or {}
    entries = list(donors) + ([{**contamination, "name": CONTAMINATION_ROW, "relationship": CONTAMINANT_LABEL,
                                "typed": False}] if contamination.get("fitted") else [])
    for d in entries:
        text = flat[d.get("name")].verdict
        rows.append({
            "name": d.get("name"), "relationship": d.get("relationship", "n/a"), "typed": _fmt(d.get("typed")),
            "verdict": text, "badge": verdict_class(text), "detected": bool(d.get("detected")),
            "fraction": _fmt(d.get("fraction")), "ci": _ci(d.get("ci95")),
            "geq": _fmt(d.get("geq_per_100k")), "geq_ci": _ci(d.get("geq_per_100k_ci95")),
            "p_value": _fmt(d.get("p_value"), 2), "lod": _fmt(d.get("lod")),
            "lod_geq": _fmt(d.get("lod_geq_per_100k")),
            "sites": _fmt(d.get("informative_sites")), "reads": _fmt(d.get("informative_reads")),
            "inflation": _fmt(d.get("ci_inflation")),
        })
    rel = []
    for r in (doc.get("relatedness_test") or {}).get("donors", []):
        rel.append({"donor": r.get("donor"), "hypothesis": r.get("hypothesis"), "alternative": r.get("alternative"),
                    "llr": _fmt(r.get("log_likelihood_ratio")), "conclusion": str(r.get("conclusion", "n/a")),
                    "note": r.get("note")})
    errs = [{"cls": k, "rate": _fmt(v.get("rate")), "source": v.get("source", "n/a"),
             "bg_sites": _fmt(v.get("background_sites")), "bg_reads": _fmt(v.get("background_reads")),
             "bg_errors": _fmt(v.get("background_errors")), "other": _fmt(v.get("other_base_rate"))}
            for k, v in (doc.get("error_rates") or {}).items() if isinstance(v, dict)]
    prov = doc.get("provenance") or {}
    sites = doc.get("sites") or {}
    return {
        "id": pid, "source": source, "sample": doc.get("sample", "n/a"), "host": doc.get("host", "n/a"),
        "mode": doc.get("mode", "n/a"), "alpha": _fmt(doc.get("alpha")), "tissue": doc.get("tissue"),
        "donors": rows, "relatedness": rel, "relatedness_threshold": _fmt(
            (doc.get("relatedness_test") or {}).get("threshold_log_lr")),
        "errors": errs, "figures": {k: figs.get(k) for k in FIGURE_KEYS},
        "y": y, "warnings": [str(w) for w in doc.get("warnings", [])],
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
    }


def cohort_rows(docs: list[dict]) -> list[dict]:
    """gEq/100k per (sample, donor): :func:`~microchimera.result.donor_rows` of every document,
    labelled by the row's sample (the document's ``label`` when it has one) and its tissue."""
    rows = []
    for doc in docs:
        if not isinstance(doc.get("donors"), list):
            continue
        tissue = doc.get("tissue")
        for r in donor_rows(doc):
            label = f"{r.sample} ({tissue})" if tissue else r.sample
            ci = None if r.geq_ci95_low is None else [r.geq_ci95_low, r.geq_ci95_high]
            rows.append({"sample": label, "host": r.host, "donor": str(r.donor), "geq": r.geq_per_100k, "ci": ci,
                         "detected": bool(r.detected), "verdict": r.verdict})
    return rows


# ----------------------------------------------------------------------------- rendering
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def render_report(results, ychrom_json=None, *, title: str | None = None, details: bool = True) -> str:
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

    Returns
    -------
    str
        The page (UTF-8 text).

    Raises
    ------
    InputError, FormatError
        A file is missing, not JSON or not a result document; no result given.
    """
    from markupsafe import Markup

    docs, ydocs = [], []
    for source, doc in _as_docs(results):
        (ydocs if is_ychrom_document(doc) else docs).append((source, doc))
    if ychrom_json is not None:
        for source, doc in _as_docs(ychrom_json):
            if not is_ychrom_document(doc):
                raise FormatError(f"{source}: not a ychrom.json (schema {doc.get('schema')!r})")
            ydocs.append((source, doc))
    if not docs:
        raise InputError("no result document given (only ychrom.json files); pass the result.json of quantify/run")
    for source, doc in docs:
        _check_result(doc, source)
    y_only = [d for _, d in ydocs]
    samples = [_sample_view(i, s, d, y_only, details) for i, (s, d) in enumerate(docs)]
    for s in samples:
        if s["missing"]:
            logger.info("%s: no %s in the result; those report sections are left out", s["source"],
                        ", ".join(s["missing"]))
    cohort = None
    if len(docs) > 1:
        rows = cohort_rows([d for _, d in docs])
        cohort = {"rows": [{**r, "geq_text": _fmt(r["geq"]), "ci_text": _ci(r["ci"])} for r in rows],
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


def write_report(results, out, ychrom_json=None, *, title: str | None = None, details: bool = True) -> Path:
    """Render the report (:func:`render_report`) and write it to ``out`` atomically.

    ``run``/``demo`` call ``write_report(doc, outdir / "report.html")`` after writing
    ``result.json``.  Returns the path written.
    """
    out = Path(out)
    write_text_atomic(out, render_report(results, ychrom_json, title=title, details=details))
    logger.info("report written to %s", out)
    return out
