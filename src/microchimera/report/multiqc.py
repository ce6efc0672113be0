"""MultiQC custom content: one ``*_mqc.json`` file per sample.

MultiQC finds files named ``*_mqc.json`` and merges those with the same ``id`` into one
report section, so a pipeline that writes one file per sample gets one table with a row per
(sample, donor).  Format: MultiQC "custom content" (``plot_type: table``).
"""
from __future__ import annotations

import json
from pathlib import Path

from .._atomic import write_text_atomic
from ..errors import UsageError
from ..result import donor_rows

SECTION_ID = "microchimera"
SUFFIX = "_mqc.json"

_HEADERS = {
    "donor": {"title": "Donor", "description": "donor ID"},
    "relationship": {"title": "Relationship", "description": "donor's relationship to the host"},
    "detected": {"title": "Detected", "description": "boundary LRT p-value below alpha"},
    "verdict": {"title": "Verdict", "description": "detected / not detected, and whether the DNA looks unrelated "
                "(contamination?); the 'contamination' row is the unknown unrelated contributor"},
    "fraction": {"title": "Fraction", "description": "donor share of the sample's genome equivalents", "format": "{:,.2e}"},
    "geq_per_100k": {"title": "gEq/100k", "description": "donor genome equivalents per 100,000 host genomes",
                     "format": "{:,.2f}", "scale": "Blues"},
    "geq_ci95_low": {"title": "gEq/100k CI low", "description": "95% CI lower bound", "format": "{:,.2f}",
                     "hidden": True},
    "geq_ci95_high": {"title": "gEq/100k CI high", "description": "95% CI upper bound", "format": "{:,.2f}",
                      "hidden": True},
    "p_value": {"title": "p-value", "description": "test of fraction = 0", "format": "{:,.2e}"},
    "lod_geq_per_100k": {"title": "LoD gEq/100k", "description": "limit of detection in this sample",
                         "format": "{:,.2f}"},
    "informative_sites": {"title": "Informative sites", "format": "{:,.0f}"},
}


#: The columns of :func:`~microchimera.result.donor_rows` shown, in order (``headers`` keys).
COLUMNS = tuple(_HEADERS)


def multiqc_document(result: dict) -> dict:
    """The custom-content document of one result document (rows: ``"<sample> | <donor>"``).

    Values are those of :func:`microchimera.result.donor_rows` (``detected`` a boolean);
    missing values are left out of a row.
    """
    if not isinstance(result, dict) or not isinstance(result.get("donors"), list):
        raise UsageError("write_multiqc: expected a result document with a 'donors' list")
    data = {}
    for r in donor_rows(result):
        # MultiQC reads a "/" in a sample name as a path and keeps only the last part.
        key = f"{r.sample} | {r.donor}".replace("/", "_").replace("\\", "_")
        data[key] = {c: v for c, v in zip(COLUMNS, r.select(COLUMNS), strict=True) if v is not None}
    return {
        "id": SECTION_ID,
        "section_name": "microchimera",
        "description": "Donor DNA (microchimerism) per sample and donor: fraction, genome equivalents per "
                       "100,000 host genomes, detection test and limit of detection.",
        "plot_type": "table",
        "pconfig": {"id": f"{SECTION_ID}_table", "title": "microchimera: donor fractions", "sort_rows": False},
        "headers": _HEADERS,
        "data": data,
    }


def write_multiqc(result: dict, path) -> Path:
    """Write the MultiQC custom-content file of one result document.

    Parameters
    ----------
    result : dict
        A ``result.json`` document.
    path : path-like
        Output file, or a directory (then ``<dir>/<label or sample>_microchimera_mqc.json``).  A file
        name must end in ``_mqc.json`` for MultiQC to find it.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    UsageError
        ``path`` does not end in ``_mqc.json``, or ``result`` is not a result document.
    """
    path = Path(path)
    if path.is_dir():
        name = result.get("label") or result.get("sample", "sample")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
        path = path / f"{safe}_microchimera{SUFFIX}"
    if not path.name.endswith(SUFFIX):
        raise UsageError(f"{path}: a MultiQC custom-content file name must end in {SUFFIX}")
    write_text_atomic(path, json.dumps(multiqc_document(result), indent=1) + "\n")
    return path
