"""Contig names and region strings: the one ``chr``-alias rule of the package.

Contig names that differ only by a leading ``chr`` name the same contig (``chr1`` = ``1``),
and the mitochondrion is one contig whatever its spelling (``chrM`` = ``MT`` = ``M`` =
``chrMT``).  :func:`contig_key` reduces a name to that common key; :func:`match_contig`
finds a name among the names a file has (its own spelling first), :func:`match_contigs`
maps a whole list and explains a failure.

Region strings are ``chrom[:start[-end]]``, **1-based inclusive** (samtools' form; commas
allowed in the numbers): :func:`parse_region` -> :class:`Region`, :func:`region_mask` selects
the sites of a :class:`~microchimera.io.sites.SiteTable` inside one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, UsageError

logger = logging.getLogger(__name__)


def contig_key(name: str) -> str:
    """The spelling-free key of a contig name: no leading ``chr``; ``M`` as ``MT``.

    ``chr1`` -> ``1``, ``1`` -> ``1``, ``chrM``/``M``/``chrMT``/``MT`` -> ``MT``, ``chrX`` -> ``X``.
    Two names with one key are the same contig (case is kept: ``Chr1`` is not ``1``).
    """
    short = name[3:] if name.startswith("chr") else name
    return "MT" if short == "M" else short


def match_contig(name: str, available) -> str | None:
    """``name`` if ``available`` has it, else the first available name with its :func:`contig_key`.

    ``None`` when no spelling of ``name`` is available.
    """
    if name in available:
        return name
    key = contig_key(name)
    return next((c for c in available if contig_key(c) == key), None)


def match_contigs(wanted, available, *, what: str, where) -> dict:
    """Map each name in ``wanted`` to a name in ``available`` (:func:`match_contig`).

    Returns ``{wanted_name: available_name}``.  Logs one line when spellings were matched.

    Raises
    ------
    InputError
        If any wanted name has no counterpart; lists both name sets.
    """
    available = list(available)
    mapping, missing, renamed = {}, [], []
    for name in wanted:
        match = match_contig(name, available)
        if match is None:
            missing.append(name)
        else:
            mapping[name] = match
            if match != name:
                renamed.append(f"{name}->{match}")
    if missing:
        def show(names):
            names = list(names)
            return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise InputError(f"{where}: {what} contigs not found: {show(missing)}. "
                         f"Contigs available: {show(available)}. Is it the same genome build?")
    if renamed:
        logger.info("%s: matched contig names across a 'chr' prefix (%s)", where,
                    ", ".join(renamed[:5]) + (" ..." if len(renamed) > 5 else ""))
    return mapping


@dataclass(frozen=True)
class Region:
    """A region string parsed: ``contig`` as written, 1-based inclusive ``start``..``end``.

    ``end`` is ``None`` for "to the end of the contig".
    """

    contig: str
    start: int = 1
    end: int | None = None

    def __str__(self) -> str:
        if self.start == 1 and self.end is None:
            return self.contig
        return f"{self.contig}:{self.start}" + ("" if self.end is None else f"-{self.end}")


def _split(text: str) -> tuple:
    chrom, _, span = text.replace(",", "").partition(":")
    return chrom, span


def parse_region(text: str) -> Region:
    """Parse ``chrom[:start[-end]]`` (1-based, inclusive; commas ignored).

    Raises
    ------
    UsageError
        If start/end are not integers or not ``1 <= start <= end``.
    """
    chrom, span = _split(text)
    if not span:
        return Region(chrom)
    try:
        a, _, b = span.partition("-")
        start = int(a)
        end = int(b) if b else None
    except ValueError:
        raise UsageError(f"{{region}} {text!r}: expected chrom:start-end (1-based)", params=["region"]) from None
    if start < 1 or (end is not None and end < start):
        raise UsageError(f"{{region}} {text!r}: expected 1 <= start <= end", params=["region"])
    return Region(chrom, start, end)


def region_mask(region, sites) -> np.ndarray:
    """Boolean mask of the sites inside ``region`` (a region string or :class:`Region`).

    The region's contig is matched to the sites' contigs with :func:`match_contig`.

    Raises
    ------
    UsageError
        If the region cannot be parsed or names no contig of the sites.
    """
    text = str(region)
    contig = match_contig(_split(text)[0], sites.contigs)
    if contig is None:
        raise UsageError(f"{{region}} {text!r}: contig {_split(text)[0]!r} is not among the sites' contigs "
                         f"({', '.join(sites.contigs[:10])})", params=["region"])
    r = region if isinstance(region, Region) else parse_region(text)
    cid = sites.contigs.index(contig)
    end = np.iinfo(np.int64).max if r.end is None else r.end
    return (sites.contig_id == cid) & (sites.pos >= r.start - 1) & (sites.pos <= end - 1)
