"""GATK ``GetPileupSummaries`` tables as allele counts.

The table is tab-separated with a header ``contig position ref_count alt_count
other_alt_count allele_frequency`` (1-based positions), preceded by metadata lines that
start with ``#`` (``#<METADATA>SAMPLE=name``).  It has no REF/ALT bases, so the sites get
the unknown base code and one pooled error class.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conventions import BASE_UNKNOWN, COUNT_DTYPE, POS_DTYPE
from ..errors import FormatError, InputError
from .allele_counts import AlleleCounts
from .sites import SiteTable

COLUMNS = ("contig", "position", "ref_count", "alt_count", "other_alt_count", "allele_frequency")


def is_pileup_summaries(path) -> bool:
    """True if ``path`` looks like a GetPileupSummaries table (header checked, not the name)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    for line in head.decode("utf-8", "replace").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        return tuple(line.strip().split("\t")[:6]) == COLUMNS
    return False


def read_pileup_summaries(path, sample: str | None = None) -> AlleleCounts:
    """Read a GetPileupSummaries table into an :class:`AlleleCounts` with one sample.

    Parameters
    ----------
    path : path-like
    sample : str, optional
        Sample name; default the ``SAMPLE=`` metadata value, else the file stem.

    Raises
    ------
    InputError
        If the file does not exist.
    FormatError
        If the header is not the GATK one or a row does not parse (naming the line), or an
        allele frequency lies outside [0, 1].
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: counts file not found")
    meta_sample = None
    rows = []
    header_seen = False
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith("#"):
                if "SAMPLE=" in line:
                    meta_sample = line.split("SAMPLE=", 1)[1].strip()
                continue
            if not line.strip():
                continue
            f = line.rstrip("\n\r").split("\t")
            if not header_seen:
                if tuple(f[:6]) != COLUMNS:
                    raise FormatError(f"{path}:{lineno}: expected GetPileupSummaries header "
                                      f"{' '.join(COLUMNS)}, found {line.strip()!r}")
                header_seen = True
                continue
            try:
                rows.append((f[0], int(f[1]) - 1, int(f[2]), int(f[3]), int(f[4]), float(f[5])))
            except (IndexError, ValueError):
                raise FormatError(f"{path}:{lineno}: expected 6 tab-separated fields "
                                  f"({' '.join(COLUMNS)}), found {line.strip()!r}") from None
    if not rows:
        raise FormatError(f"{path}: no sites in GetPileupSummaries table")
    contigs = list(dict.fromkeys(r[0] for r in rows))
    cindex = {c: i for i, c in enumerate(contigs)}
    cid = np.array([cindex[r[0]] for r in rows], dtype=np.int32)
    pos = np.array([r[1] for r in rows], dtype=POS_DTYPE)
    counts = np.array([r[2:5] for r in rows], dtype=np.int64)
    af = np.array([r[5] for r in rows], dtype=np.float64)
    bad = ~np.isfinite(af) | (af < 0) | (af > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{path}: allele_frequency out of range [0, 1] at {rows[i][0]}:{rows[i][1] + 1} "
                          f"({af[i]}); {int(bad.sum())} such sites")
    if (counts < 0).any():
        raise FormatError(f"{path}: negative counts")
    perm = np.lexsort((pos, cid))
    unknown = np.full(len(rows), BASE_UNKNOWN, dtype=np.uint8)
    sites = SiteTable(tuple(contigs), cid[perm], pos[perm], unknown, unknown.copy(), af[perm])
    dup = (np.diff(sites.contig_id) == 0) & (np.diff(sites.pos) == 0)
    if dup.any():
        raise FormatError(f"{path}: {int(dup.sum())} duplicated positions")
    counts = counts[perm].T.astype(COUNT_DTYPE)
    name = sample or meta_sample or path.stem
    return AlleleCounts.from_totals([name], sites, counts[0], counts[1], counts[2],
                                    parameters={"source": "GATK GetPileupSummaries", "path": str(path)})
