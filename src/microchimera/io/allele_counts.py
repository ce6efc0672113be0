"""The :class:`AlleleCounts` table and its Parquet/TSV form (:func:`read_counts`,
:func:`read_counts_tsv`, :func:`write_counts`, :func:`write_counts_tsv`; :func:`read_counts_any`
reads either and GATK tables).

In memory the counts are matrices of shape ``(n_samples, n_sites)`` over one
:class:`~microchimera.io.sites.SiteTable`.  On disk (Parquet, and TSV on request) they are
one row per (sample, site), with these columns (schema version 1):

==============  =========  ===================================================
column          type       meaning
==============  =========  ===================================================
sample          string     sample name (``@RG SM`` of the BAM)
chrom           string     contig name as in the sites file
pos             int64      **1-based** position, as in VCF
ref, alt        string     the site's alleles (single bases)
af              float64    population alt frequency from the sites file (NaN if none)
ref_count       uint32     fragments showing the ref base (= ref_fwd + ref_rev)
alt_count       uint32     fragments showing the alt base
other_count     uint32     fragments showing a third base
ref_fwd ...     uint32     the same split by the strand of the read that supplied the
other_rev                  base (``*_fwd``: forward-strand read)
==============  =========  ===================================================

The Parquet schema metadata holds ``microchimera.schema_version``,
``microchimera.version`` and ``microchimera.parameters`` (JSON: filters, inputs).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .._atomic import atomic_path
from ..conventions import BASES, COUNT_DTYPE
from ..errors import FormatError, InputError
from .sites import SiteTable

COUNTS_SCHEMA_VERSION = "1"
_STRAND_COLUMNS = ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev")


@dataclass(frozen=True)
class AlleleCounts:
    """Fragment counts of ref/alt/other bases per sample and site, split by strand.

    Attributes
    ----------
    samples : tuple of str, length n_samples
    sites : SiteTable with n_sites sites
    ref_fwd, ref_rev, alt_fwd, alt_rev, other_fwd, other_rev : ndarray, uint32, shape (n_samples, n_sites)
        Fragments (a read pair counts once) showing each allele, by strand of the read used.
    parameters : dict
        How the counts were made (filters, inputs, tool version); stored in file metadata.
    """

    samples: tuple
    sites: SiteTable
    ref_fwd: np.ndarray
    ref_rev: np.ndarray
    alt_fwd: np.ndarray
    alt_rev: np.ndarray
    other_fwd: np.ndarray
    other_rev: np.ndarray
    parameters: dict = field(default_factory=dict)

    def __post_init__(self):
        shape = (len(self.samples), self.sites.n_sites)
        for name in _STRAND_COLUMNS:
            arr = getattr(self, name)
            if arr.shape != shape or arr.dtype != COUNT_DTYPE:
                raise ValueError(f"AlleleCounts.{name}: expected uint32 shape {shape}, found {arr.dtype} {arr.shape}")

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_sites(self) -> int:
        return self.sites.n_sites

    @property
    def ref_count(self) -> np.ndarray:
        """uint32 (n_samples, n_sites)."""
        return self.ref_fwd + self.ref_rev

    @property
    def alt_count(self) -> np.ndarray:
        return self.alt_fwd + self.alt_rev

    @property
    def other_count(self) -> np.ndarray:
        return self.other_fwd + self.other_rev

    @property
    def depth(self) -> np.ndarray:
        """ref + alt + other, uint32 (n_samples, n_sites)."""
        return self.ref_count + self.alt_count + self.other_count

    def sample_index(self, name: str) -> int:
        try:
            return self.samples.index(name)
        except ValueError:
            raise InputError(f"sample {name!r} not in counts (samples: {', '.join(self.samples)})") from None

    def select_samples(self, names) -> AlleleCounts:
        idx = [self.sample_index(n) for n in names]
        return AlleleCounts(tuple(names), self.sites, *(getattr(self, c)[idx] for c in _STRAND_COLUMNS),
                            parameters=dict(self.parameters))

    def take_sites(self, index) -> AlleleCounts:
        return AlleleCounts(self.samples, self.sites.take(index),
                            *(getattr(self, c)[:, index] for c in _STRAND_COLUMNS),
                            parameters=dict(self.parameters))

    @classmethod
    def combine(cls, tables, names=None) -> AlleleCounts:
        """The samples of several tables over one site list, as one table.

        ``names`` (one per table, for messages) default to ``table 1``, ``table 2``, ...

        Raises
        ------
        InputError
            The tables' site lists differ (contig, position or alleles), or a sample name
            occurs twice.
        """
        tables = list(tables)
        if not tables:
            raise InputError("no counts to combine")
        names = list(names) if names is not None else [f"table {i + 1}" for i in range(len(tables))]
        first = tables[0].sites
        for t, name in zip(tables[1:], names[1:], strict=True):
            s = t.sites
            same = (s.n_sites == first.n_sites and (s.pos == first.pos).all() and (s.ref == first.ref).all()
                    and (s.alt == first.alt).all() and (s.chrom == first.chrom).all())
            if not same:
                raise InputError(f"{name}: counted at other sites than {names[0]} ({s.n_sites} vs {first.n_sites} "
                                 "sites, or other positions/alleles); count every sample at one sites file")
        samples = [x for t in tables for x in t.samples]
        dup = sorted({x for x in samples if samples.count(x) > 1})
        if dup:
            raise InputError(f"sample name(s) {', '.join(dup)} occur in more than one of {', '.join(names)}")
        return cls(tuple(samples), first, *(np.concatenate([getattr(t, c) for t in tables]) for c in _STRAND_COLUMNS),
                   parameters={"combined": names})

    @classmethod
    def from_totals(cls, samples, sites, ref, alt, other=None, parameters=None) -> AlleleCounts:
        """Build from unstranded totals (all put on the forward strand); for simulations/tables."""
        ref = np.atleast_2d(np.asarray(ref, dtype=COUNT_DTYPE))
        alt = np.atleast_2d(np.asarray(alt, dtype=COUNT_DTYPE))
        other = np.zeros_like(ref) if other is None else np.atleast_2d(np.asarray(other, dtype=COUNT_DTYPE))
        zero = np.zeros_like(ref)
        return cls(tuple(samples), sites, ref, zero, alt, zero.copy(), other, zero.copy(), parameters=dict(parameters or {}))


def _to_arrow(counts: AlleleCounts):
    import pyarrow as pa

    from . import _arrow as arrow

    n_s, n = counts.n_samples, counts.n_sites
    sites = counts.sites
    cols = {
        "sample": arrow.dictionary(np.repeat(np.arange(n_s, dtype=np.int32), n), counts.samples),
        "chrom": arrow.dictionary(np.tile(sites.contig_id, n_s), sites.contigs),
        "pos": arrow.numeric(np.tile(sites.pos + 1, n_s), pa.int64()),
        "ref": arrow.letters(np.tile(sites.ref, n_s), BASES),
        "alt": arrow.letters(np.tile(sites.alt, n_s), BASES),
        "af": arrow.numeric(np.tile(sites.af, n_s), pa.float64()),
        "ref_count": arrow.numeric(counts.ref_count.ravel(), pa.uint32()),
        "alt_count": arrow.numeric(counts.alt_count.ravel(), pa.uint32()),
        "other_count": arrow.numeric(counts.other_count.ravel(), pa.uint32()),
    }
    for c in _STRAND_COLUMNS:
        cols[c] = arrow.numeric(getattr(counts, c).ravel(), pa.uint32())
    meta = {
        "microchimera.schema_version": COUNTS_SCHEMA_VERSION,
        "microchimera.version": __version__,
        "microchimera.parameters": json.dumps(counts.parameters, default=str),
        "microchimera.skipped_sites": json.dumps(sites.skipped),
    }
    return pa.table(cols).replace_schema_metadata(meta)


def write_counts(counts: AlleleCounts, path) -> None:
    """Write ``counts`` to a Parquet file atomically (one row per sample and site)."""
    import pyarrow.parquet as pq

    with atomic_path(path, suffix=".parquet") as tmp:
        try:
            pq.write_table(_to_arrow(counts), tmp, compression="zstd")
        except OSError as exc:
            raise InputError(f"{path}: cannot write counts: {exc}") from exc


def write_counts_tsv(counts: AlleleCounts, path) -> None:
    """Write ``counts`` as tab-separated text with a header (same columns as Parquet), atomically."""
    table = _to_arrow(counts)
    columns = [table.column(name).to_pylist() for name in table.column_names]
    with atomic_path(path, suffix=".tsv") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\t".join(table.column_names) + "\n")
        for row in zip(*columns, strict=True):
            fh.write("\t".join("NaN" if v != v else str(v) for v in row) + "\n")


def read_parquet(path, what: str, kind: str) -> tuple:
    """``(pyarrow.Table, {metadata key: value})`` of a Parquet file written by microchimera.

    Raises
    ------
    InputError
        If the file is missing (``"<path>: <what> file not found"``).
    FormatError
        If it is not Parquet (``"<path>: not a <kind>: ..."``).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} file not found")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise FormatError(f"{path}: not a {kind}: {exc}") from exc
    return table, {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}


_REQUIRED = ("sample", "chrom", "pos", "ref", "alt", "ref_count", "alt_count", "other_count")


def read_counts(path) -> AlleleCounts:
    """Read a counts Parquet file written by :func:`write_counts`.

    Every sample must have the same sites in the same order (as ``count`` writes them).

    Raises
    ------
    InputError
        If the file is missing.
    FormatError
        If it is not a counts table (missing columns, unequal site lists).
    """
    path = Path(path)
    table, meta = read_parquet(path, "counts", "Parquet counts file")
    return _counts_from_table(path, table, meta)


def read_counts_tsv(path) -> AlleleCounts:
    """Read a counts TSV written by :func:`write_counts_tsv` (``count --tsv``): the Parquet
    columns as tab-separated text with a header line (no metadata: no skipped-site tally).

    Raises
    ------
    InputError
        If the file is missing.
    FormatError
        If it is not such a table (a row with the wrong number of fields, missing columns,
        unequal site lists), naming the file and what is wrong.
    """
    from pyarrow import csv

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: counts file not found")
    types = {"sample": "string", "chrom": "string", "ref": "string", "alt": "string", "pos": "int64",
             "af": "float64"}
    try:
        table = csv.read_csv(path, parse_options=csv.ParseOptions(delimiter="\t"),
                             convert_options=csv.ConvertOptions(column_types=types, null_values=["NaN", "NA", ""],
                                                                strings_can_be_null=False))
    except Exception as exc:  # pyarrow.lib.ArrowInvalid for ragged rows or unparsable numbers
        raise FormatError(f"{path}: not a microchimera counts TSV: {exc}") from exc
    return _counts_from_table(path, table, {})


def _counts_from_table(path: Path, table, meta: dict) -> AlleleCounts:
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise FormatError(f"{path}: not a microchimera counts table; missing columns {missing}")
    df = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
    sample_col = np.asarray(df["sample"], dtype=object)
    samples = list(dict.fromkeys(sample_col.tolist()))
    first = sample_col == samples[0]
    n = int(first.sum())
    if n * len(samples) != len(sample_col):
        raise FormatError(f"{path}: samples have different numbers of sites")
    af = np.asarray(df["af"], dtype=np.float64)[first] if "af" in df else np.full(n, np.nan)
    sites = SiteTable.from_records(
        zip(np.asarray(df["chrom"], dtype=object)[first], df["pos"][first] - 1, df["ref"][first],
            df["alt"][first], [None if not np.isfinite(a) else float(a) for a in af], strict=True),
        skipped=json.loads(meta.get("microchimera.skipped_sites", "{}")))
    chrom_all = np.asarray(df["chrom"], dtype=object)
    for s in samples[1:]:
        rows = sample_col == s
        if not (np.array_equal(chrom_all[rows], chrom_all[first]) and np.array_equal(df["pos"][rows], df["pos"][first])):
            raise FormatError(f"{path}: sample {s!r} has a different site list than {samples[0]!r}")
    cols = {}
    if all(c in df for c in _STRAND_COLUMNS):
        for c in _STRAND_COLUMNS:
            cols[c] = np.asarray(df[c], dtype=COUNT_DTYPE).reshape(len(samples), n)
    else:  # no strand split: put totals on the forward strand
        for a in ("ref", "alt", "other"):
            cols[f"{a}_fwd"] = np.asarray(df[f"{a}_count"], dtype=COUNT_DTYPE).reshape(len(samples), n)
            cols[f"{a}_rev"] = np.zeros((len(samples), n), dtype=COUNT_DTYPE)
    # SiteTable sorts by (contig, pos); put the count columns in the same order.
    written = {(c, int(p)): i for i, (c, p) in enumerate(zip(chrom_all[first], df["pos"][first] - 1, strict=True))}
    perm = np.array([written[(c, int(p))] for c, p in zip(sites.chrom, sites.pos, strict=True)], dtype=np.int64)
    cols = {k: v[:, perm] for k, v in cols.items()}
    params = json.loads(meta.get("microchimera.parameters", "{}"))
    params.setdefault("schema_version", meta.get("microchimera.schema_version"))
    return AlleleCounts(tuple(samples), sites, *(cols[c] for c in _STRAND_COLUMNS), parameters=params)


#: What ``quantify`` reads, for the message when a file is none of them.
COUNTS_FORMATS = ("microchimera counts Parquet (count --out x.parquet)", "microchimera counts TSV (count --tsv)",
                  "GATK GetPileupSummaries table")


def read_counts_any(path, sample: str | None = None) -> AlleleCounts:
    """Counts from a microchimera Parquet or TSV table or a GATK GetPileupSummaries table
    (detected from the content, not the name).

    ``sample`` names the sample of a GATK table (default: its ``SAMPLE=`` metadata); it is not
    used for the microchimera tables, which name their samples.

    Raises
    ------
    InputError
        If the file is missing.
    FormatError
        If it is none of :data:`COUNTS_FORMATS` (the message lists them), or a broken one.
    """
    from .pileup_summaries import is_pileup_summaries, read_pileup_summaries

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: counts file not found")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PAR1"):
        return read_counts(path)
    if is_pileup_summaries(path):
        return read_pileup_summaries(path, sample)
    first = head.split(b"\n", 1)[0].rstrip(b"\r").split(b"\t")
    if first[:2] == [b"sample", b"chrom"]:
        return read_counts_tsv(path)
    raise FormatError(f"{path}: not a counts file; expected one of: {'; '.join(COUNTS_FORMATS)}")
