"""The cohort table: one row per (sample, donor), failed samples included, as Parquet and TSV.

Built by the driver from the per-sample ``result.json`` files, so it
always agrees with them; columns are documented in ``docs/cohort.md``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from .._atomic import atomic_path, write_text_atomic
from .sample import sample_dir

#: Column name -> Arrow type, in output order.
SCHEMA = pa.schema([
    ("sample", pa.string()),
    ("tissue", pa.string()),
    ("host", pa.string()),
    ("status", pa.string()),            # done | skipped | failed
    ("donor", pa.string()),
    ("relationship", pa.string()),
    ("fraction", pa.float64()),         # share of genome equivalents
    ("ci95_low", pa.float64()),
    ("ci95_high", pa.float64()),
    ("p_value", pa.float64()),
    ("detected", pa.bool_()),
    ("geq_per_100k", pa.float64()),     # donor genome equivalents per 100,000 host genomes
    ("geq_ci95_low", pa.float64()),
    ("geq_ci95_high", pa.float64()),
    ("lod", pa.float64()),              # limit of detection (fraction)
    ("informative_sites", pa.int64()),
    ("informative_reads", pa.int64()),
    ("male_status", pa.string()),       # chrY channel: estimated | skipped | error (none: not asked)
    ("male_fraction", pa.float64()),    # male DNA fraction from chrY, when estimated
    ("male_ci95_low", pa.float64()),
    ("male_ci95_high", pa.float64()),
    ("male_p_value", pa.float64()),
    ("male_detected", pa.bool_()),
    ("error_type", pa.string()),
    ("error", pa.string()),
    ("manifest_line", pa.int64()),
    ("directory", pa.string()),         # relative to the cohort output directory
])


def _num(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def _pair(v):
    return (None, None) if not v else (_num(v[0]), _num(v[1]))


def _ychrom_columns(doc: dict) -> dict:
    """The chrY columns from the ``ychrom`` block that ``run`` adds to result.json."""
    block = doc.get("ychrom") or {}
    cols = {"male_status": block.get("status"), "male_fraction": None, "male_ci95_low": None,
            "male_ci95_high": None, "male_p_value": None, "male_detected": None}
    m = block.get("male_fraction") if block.get("status") == "estimated" else None
    if m:
        lo, hi = _pair(m.get("ci95"))
        cols.update(male_fraction=_num(m.get("estimate")), male_ci95_low=lo, male_ci95_high=hi,
                    male_p_value=_num(m.get("p_value")), male_detected=m.get("detected"))
    return cols


def cohort_rows(outcomes, outdir) -> list[dict]:
    """Rows of the cohort table (dicts keyed by :data:`SCHEMA` names), in manifest order."""
    rows = []
    for o in outcomes:
        spec = o.spec
        base = {name: None for name in SCHEMA.names}
        base.update(sample=spec.sample, tissue=spec.tissue, host=spec.host, status=o.status,
                    manifest_line=spec.line, directory=o.directory_name)
        if o.status == "failed":
            rows.append({**base, "error_type": o.record.get("error_type"), "error": o.record.get("message")})
            continue
        directory = sample_dir(outdir, spec.sample)
        doc = json.loads((directory / "result.json").read_text(encoding="utf-8"))
        base["host"] = doc.get("host", spec.host)
        base.update(_ychrom_columns(doc))
        for d in doc.get("donors", []) or [None]:
            if d is None:
                rows.append(base)
                continue
            lo, hi = _pair(d.get("ci95"))
            glo, ghi = _pair(d.get("geq_per_100k_ci95"))
            rows.append({**base, "donor": d.get("name"), "relationship": d.get("relationship"),
                         "fraction": _num(d.get("fraction")), "ci95_low": lo, "ci95_high": hi,
                         "p_value": _num(d.get("p_value")), "detected": d.get("detected"),
                         "geq_per_100k": _num(d.get("geq_per_100k")), "geq_ci95_low": glo, "geq_ci95_high": ghi,
                         "lod": _num(d.get("lod")), "informative_sites": d.get("informative_sites"),
                         "informative_reads": d.get("informative_reads")})
    return rows


def _tsv_cell(v) -> str:
    if v is None:
        return "NA"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v).replace("\t", " ").replace("\n", " ")


def write_cohort_table(outcomes, outdir) -> tuple[Path, Path]:
    """Write ``cohort.parquet`` and ``cohort.tsv`` into ``outdir`` (atomically); returns both paths."""
    outdir = Path(outdir)
    rows = cohort_rows(outcomes, outdir)
    table = pa.Table.from_pylist(rows, schema=SCHEMA).replace_schema_metadata(
        {"microchimera": json.dumps({"schema": "microchimera.cohort-table/1", "version": __version__})})
    parquet, tsv = outdir / "cohort.parquet", outdir / "cohort.tsv"
    with atomic_path(parquet, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)
    lines = ["\t".join(SCHEMA.names)] + ["\t".join(_tsv_cell(r[c]) for c in SCHEMA.names) for r in rows]
    write_text_atomic(tsv, "\n".join(lines) + "\n")
    return parquet, tsv
