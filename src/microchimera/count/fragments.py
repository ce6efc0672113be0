"""The multi-site :class:`FragmentTable` that ``count --fragments`` writes, and its Parquet form."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .. import __version__
from .._atomic import atomic_path
from ..conventions import BASES
from ..errors import FormatError, InputError
from ..io.allele_counts import read_parquet
from ..io.sites import SiteTable

FRAGMENTS_SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class FragmentTable:
    """Fragments (read pairs, or single reads) showing an allele at two or more sites.

    One row per (fragment, site), sorted by sample, fragment, site.  A donor-specific allele
    at two sites of one fragment is very unlikely to be two sequencing errors; the quantify
    model uses these rows.

    Attributes
    ----------
    samples : tuple of str
    sites : SiteTable
    sample : ndarray, int32, shape (n_rows,)
        Index into ``samples``.
    fragment : ndarray, int64, shape (n_rows,)
        Fragment id, unique within a sample (0, 1, ...).
    site : ndarray, int64, shape (n_rows,)
        Index into ``sites``.
    allele : ndarray, int8, shape (n_rows,)
        ``ALLELE_REF`` (0), ``ALLELE_ALT`` (1) or ``ALLELE_OTHER`` (2).
    base_qual : ndarray, uint8, shape (n_rows,)
        Phred quality of the base counted (the higher of two agreeing mates).
    reverse : ndarray, bool, shape (n_rows,)
        Strand of the read that supplied the base.
    mates : ndarray, uint8, shape (n_rows,)
        1, or 2 when both mates showed this base.
    source : str
        Where the table came from (a file name), for messages.
    """

    samples: tuple
    sites: SiteTable
    sample: np.ndarray
    fragment: np.ndarray
    site: np.ndarray
    allele: np.ndarray
    base_qual: np.ndarray
    reverse: np.ndarray
    mates: np.ndarray
    source: str = "fragments table"

    _DTYPES = (("sample", np.int32), ("fragment", np.int64), ("site", np.int64), ("allele", np.int8),
               ("base_qual", np.uint8), ("reverse", np.bool_), ("mates", np.uint8))

    def __post_init__(self):
        n = len(self.sample)
        for name, dtype in self._DTYPES:
            arr = getattr(self, name)
            if arr.shape != (n,) or arr.dtype != dtype:
                raise ValueError(f"FragmentTable.{name}: expected {np.dtype(dtype)} shape ({n},), "
                                 f"found {arr.dtype} {arr.shape}")

    @property
    def n_rows(self) -> int:
        return len(self.sample)

    @classmethod
    def from_parts(cls, samples, sites, parts, source: str = "fragments table") -> FragmentTable:
        """Concatenate ``(sample, fragment, site, allele, base_qual, reverse, mates)`` chunks, sorted."""
        cols = []
        for k, (_, dtype) in enumerate(cls._DTYPES):
            arrays = [np.asarray(p[k], dtype=dtype) for p in parts]
            cols.append(np.concatenate(arrays) if arrays else np.zeros(0, dtype))
        if _is_sorted(cols[0], cols[1], cols[2]):  # the counting kernel emits them in order
            return cls(tuple(samples), sites, *cols, source=source)
        order = np.lexsort((cols[2], cols[1], cols[0]))
        return cls(tuple(samples), sites, *(c[order] for c in cols), source=source)


def _is_sorted(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    """Whether rows are in (a, b, c) order, in O(n)."""
    if len(a) < 2:
        return True
    da, db, dc = np.diff(a), np.diff(b), np.diff(c)
    return bool(np.all((da > 0) | ((da == 0) & ((db > 0) | ((db == 0) & (dc >= 0))))))


def _fragments_to_arrow(frags: FragmentTable, parameters: dict):
    import pyarrow as pa

    from ..io import _arrow as arrow

    sites = frags.sites
    cols = {
        "sample": arrow.dictionary(frags.sample, frags.samples),
        "fragment": arrow.numeric(frags.fragment, pa.int64()),
        "chrom": arrow.dictionary(sites.contig_id[frags.site], sites.contigs),
        "pos": arrow.numeric(sites.pos[frags.site] + 1, pa.int64()),
        # strings, dictionary-encoded (as sample and chrom): 12M rows of one-letter Python
        # strings took a second to convert
        "ref": arrow.dictionary(sites.ref[frags.site], BASES, pa.int8()),
        "alt": arrow.dictionary(sites.alt[frags.site], BASES, pa.int8()),
        "allele": arrow.numeric(frags.allele, pa.int8()),
        "base_qual": arrow.numeric(frags.base_qual, pa.uint8()),
        "reverse": arrow.numeric(frags.reverse, pa.bool_()),
        "mates": arrow.numeric(frags.mates, pa.uint8()),
    }
    meta = {
        "microchimera.table": "fragments",
        "microchimera.schema_version": FRAGMENTS_SCHEMA_VERSION,
        "microchimera.version": __version__,
        "microchimera.parameters": json.dumps(parameters, default=str),
    }
    return pa.table(cols).replace_schema_metadata(meta)


def write_fragments(frags: FragmentTable, path, parameters=None) -> None:
    """Write the multi-site fragment table to Parquet atomically.

    Columns (schema version 1): ``sample`` (string), ``fragment`` (int64, unique within the
    sample), ``chrom`` (string), ``pos`` (int64, 1-based), ``ref``, ``alt`` (string),
    ``allele`` (int8: 0 ref, 1 alt, 2 other), ``base_qual`` (uint8), ``reverse`` (bool,
    strand of the read that supplied the base), ``mates`` (uint8: 2 when both mates agreed).
    """
    import pyarrow.parquet as pq

    with atomic_path(path, suffix=".parquet") as tmp:
        try:
            pq.write_table(_fragments_to_arrow(frags, dict(parameters or {})), tmp, compression="zstd")
        except OSError as exc:
            raise InputError(f"{path}: cannot write fragments: {exc}") from exc


def read_fragments(path):
    """Read a fragments Parquet file as a ``pyarrow.Table`` (columns of :func:`write_fragments`).

    Raises
    ------
    InputError
        If the file is missing.
    FormatError
        If it is not a fragments table.
    """
    table, meta = read_parquet(path, "fragments", "Parquet file")
    if meta.get("microchimera.table") != "fragments":
        raise FormatError(f"{path}: not a microchimera fragments table")
    return table


def read_fragment_table(path, sites: SiteTable, against: str = "the counts") -> FragmentTable:
    """Read a fragments Parquet file as a :class:`FragmentTable` over ``sites`` (the counts'
    site list), matching its rows by contig (with or without ``chr``) and position.

    Raises
    ------
    InputError
        The file is missing.
    FormatError
        It is not a fragments table (or is truncated), lacks a column, or some of its sites
        are not sites of ``sites`` or carry other alleles (made with another sites file; the
        message names one).
    """
    import pyarrow as pa

    table = read_fragments(path)
    need = [name for name, _ in FragmentTable._DTYPES if name != "site"] + ["chrom", "pos", "ref", "alt"]
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise FormatError(f"{path}: fragments table lacks column(s) {', '.join(missing)}")

    def dictionary(name):
        col = table.column(name).combine_chunks()
        if not pa.types.is_dictionary(col.type):
            col = col.dictionary_encode()
        return [str(v) for v in col.dictionary.to_pylist()], col.indices.to_numpy(zero_copy_only=False)

    samples, sample = dictionary("sample")
    contigs, contig = dictionary("chrom")
    pos = table.column("pos").to_numpy() - 1
    key = contig.astype(np.int64) << 32 | pos
    ukey, inverse = np.unique(key, return_inverse=True)
    first = np.zeros(len(ukey), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(key))[::-1]
    code = {b: i for i, b in enumerate(BASES)}
    ref = np.array([code.get(b, 255) for b in table.column("ref").take(pa.array(first)).to_pylist()], np.uint8)
    alt = np.array([code.get(b, 255) for b in table.column("alt").take(pa.array(first)).to_pylist()], np.uint8)
    mine = SiteTable(tuple(contigs), (ukey >> 32).astype(np.int32), (ukey & 0xFFFFFFFF).astype(np.int64), ref, alt,
                     np.full(len(ukey), np.nan))
    idx = sites.index_of(mine)
    bad = (idx < 0) | (sites.ref[np.maximum(idx, 0)] != ref) | (sites.alt[np.maximum(idx, 0)] != alt)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{path}: {int(bad.sum())} of its {len(ukey)} sites are not sites of {against} (e.g. "
                          f"{contigs[mine.contig_id[i]]}:{int(mine.pos[i]) + 1}, or other alleles there): made with "
                          "another sites file")
    cols = [table.column(c).to_numpy() for c in ("fragment", "allele", "base_qual", "reverse", "mates")]
    return FragmentTable.from_parts(samples, sites, [(sample, cols[0], idx[inverse], cols[1], cols[2], cols[3],
                                                      cols[4])], source=str(path))
