"""Fragment counts per region from an indexed BAM/CRAM.

A *fragment* is counted once: through its first read (flag 0x40) for pairs, or through the read
itself for single-end data.  A read counts in a region when it passes the filters and its
alignment **overlaps** the region (samtools' region semantics): a read across the boundary of
two adjacent regions counts in both, so the expected count of a region of ``L`` bases is
``density * (L + r - 1)`` with ``r`` the mean aligned read length; :func:`effective_bases`
applies that correction and subtracts reference ``N`` bases.

Filters: mapping quality ``>= min_mapq``; not unmapped, second-in-pair, secondary,
QC-failed, duplicate or supplementary (``-F 0xF84``).

Speed (see ``docs/ychrom.md``): counting goes through htslib's own region iterator via the
samtools ``view -c`` bundled in pysam, one call per region, so no Python code runs per read.
:func:`count_region_reference` is the slow obviously-correct Python loop the tests compare it to.
"""
from __future__ import annotations

import logging

import numpy as np
import pysam

from ..conventions import COUNT_DTYPE
from ..errors import InputError
from .regions import RegionSet

logger = logging.getLogger(__name__)

#: Flags a counted read must not carry: unmapped 0x4, read2 0x80, secondary 0x100,
#: QC fail 0x200, duplicate 0x400, supplementary 0x800.
EXCLUDE_FLAGS = 0x4 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800


def count_regions(path, regions: RegionSet, *, min_mapq: int, reference=None) -> np.ndarray:
    """Fragments overlapping each region.

    Parameters
    ----------
    path : path-like
        Indexed BAM/CRAM.
    regions : RegionSet
        Contig names must be the BAM's own (resolve aliases first).
    min_mapq : int
        Minimum mapping quality.

    Returns
    -------
    ndarray, uint32, shape (n_regions,)
    """
    counts = np.zeros(regions.n_regions, dtype=COUNT_DTYPE)
    args = ["-c", "-q", str(int(min_mapq)), "-F", str(EXCLUDE_FLAGS)]
    if reference is not None:
        args += ["-T", str(reference)]
    for i, (c, s, e) in enumerate(zip(regions.contig, regions.start, regions.end, strict=True)):
        try:
            out = pysam.samtools.view(*args, str(path), f"{c}:{s + 1}-{e}")
        except pysam.utils.SamtoolsError as exc:
            raise InputError(f"{path}: counting reads in {c}:{s + 1}-{e} failed: {exc}") from exc
        counts[i] = int(out.strip() or 0)
    return counts


def count_region_reference(af: pysam.AlignmentFile, contig: str, start: int, end: int, min_mapq: int) -> int:
    """Slow pure-Python count of one region, same rules as :func:`count_regions` (tests only)."""
    n = 0
    for read in af.fetch(contig, start, end):
        if read.flag & EXCLUDE_FLAGS or read.mapping_quality < min_mapq:
            continue
        if read.reference_end is None or read.reference_end <= start or read.reference_start >= end:
            continue
        n += 1
    return n


def mean_read_length(af: pysam.AlignmentFile, regions: RegionSet, *, min_mapq: int, max_reads: int = 2000) -> float:
    """Mean aligned reference span of up to ``max_reads`` counted reads in ``regions`` (bp)."""
    total, n = 0, 0
    for c, s, e in zip(regions.contig, regions.start, regions.end, strict=True):
        for read in af.fetch(c, int(s), int(e)):
            if read.flag & EXCLUDE_FLAGS or read.mapping_quality < min_mapq:
                continue
            total += read.reference_length or 0
            n += 1
            if n >= max_reads:
                return total / n
    return total / n if n else 1.0


def n_bases(fasta: pysam.FastaFile | None, regions: RegionSet) -> np.ndarray:
    """Number of N (or other non-ACGT) reference bases per region; zeros without a FASTA.

    Returns
    -------
    ndarray, int64, shape (n_regions,)
    """
    out = np.zeros(regions.n_regions, dtype=np.int64)
    if fasta is None:
        return out
    for i, (c, s, e) in enumerate(zip(regions.contig, regions.start, regions.end, strict=True)):
        seq = fasta.fetch(c, int(s), int(e)).upper()
        out[i] = len(seq) - sum(seq.count(b) for b in "ACGT")
    return out


def effective_bases(regions: RegionSet, read_length: float, ns: np.ndarray | None = None) -> np.ndarray:
    """Bases per region at which an overlapping read can start: ``L - N + r - 1`` (float64)."""
    ns = np.zeros(regions.n_regions) if ns is None else ns
    called = np.maximum(regions.lengths - ns, 0).astype(np.float64)
    return np.where(called > 0, called + (read_length - 1.0), 0.0)
