"""The cohort table: one row per (sample, donor), failed samples included, as Parquet and TSV.

Built by the driver from the per-sample ``result.json`` files, so it
always agrees with them; columns are documented in ``docs/cohort.md``.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from .._atomic import atomic_path, write_text_atomic
from ..result import DonorRow, donor_rows, male_columns, tsv_cell
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
    ("verdict", pa.string()),           # detected / not detected / ..., contamination? (result.verdict)
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


#: The columns that come from a result's :func:`~microchimera.result.donor_rows`.
_RESULT_COLUMNS = [c for c in SCHEMA.names if c in {f.name for f in dataclasses.fields(DonorRow)}]


def cohort_rows(outcomes, outdir) -> list[dict]:
    """Rows of the cohort table (dicts keyed by :data:`SCHEMA` names), in manifest order.

    The per-donor columns are those of :func:`microchimera.result.donor_rows` of each
    sample's ``result.json``; the cohort adds the sample's status, tissue and failure.
    """
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
        base.update(male_columns(doc))
        donors = donor_rows(doc)
        if not donors:
            rows.append(base)
        for r in donors:
            rows.append({**base, **{c: getattr(r, c) for c in _RESULT_COLUMNS if c not in ("sample", "host")}})
    return rows


def write_cohort_table(outcomes, outdir) -> tuple[Path, Path]:
    """Write ``cohort.parquet`` and ``cohort.tsv`` into ``outdir`` (atomically); returns both paths."""
    outdir = Path(outdir)
    rows = cohort_rows(outcomes, outdir)
    table = pa.Table.from_pylist(rows, schema=SCHEMA).replace_schema_metadata(
        {"microchimera": json.dumps({"schema": "microchimera.cohort-table/1", "version": __version__})})
    parquet, tsv = outdir / "cohort.parquet", outdir / "cohort.tsv"
    with atomic_path(parquet, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)
    lines = ["\t".join(SCHEMA.names)] + ["\t".join(tsv_cell(r[c]) for c in SCHEMA.names) for r in rows]
    write_text_atomic(tsv, "\n".join(lines) + "\n")
    return parquet, tsv
