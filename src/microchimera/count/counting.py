"""Fragment-aware allele counting at SNP sites: :func:`count_alleles`.

What is counted (``docs/count.md`` has the long form):

* reads: primary, mapped, not duplicate, not QC-fail, MAPQ >= ``min_mapq`` (and flagged
  proper pair with ``require_proper_pairs``); orphans and improper pairs count by default;
* bases: aligned (``M``/``=``/``X``) bases at a site with base quality >= ``min_baseq``
  and a call of A/C/G/T.  Sites inside deletions/``N`` skips or under soft clips get no
  base from that read;
* fragments: the two mates of a pair count once per site.  Where both show a base: same
  base -> one count (the strand of the higher-quality mate, ties: first mate); different
  bases -> the higher-quality base if its quality exceeds the other's by at least
  :data:`MATE_QDIFF`, otherwise no count (a *conflict*, reported in the statistics).

BAM files are read by the compiled (Cython) kernel in :mod:`._kernels`, fed by :mod:`._bgzf`
(libdeflate/ISA-L inflation; offsets from the BAI or CSI index, :mod:`.bam_index`: dense runs
of sites streamed at once, sparse sites reached by jumps to the reads of their index window,
16 kb with a BAI, 512 bp with ``microchimera index``'s CSI, :func:`_jump_runs`).  CRAM goes
through pysam, which hands the same kernel re-packed records: same results, slower.
"""
from __future__ import annotations

import bisect
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._progress import progress_bar
from ..conventions import COUNT_DTYPE
from ..errors import FormatError, InputError, UsageError
from ..io.alignments import AlignmentInfo, check_reference_alleles, open_alignments
from ..io.allele_counts import AlleleCounts
from ..io.builds import check_build
from ..io.contigs import match_contigs, region_mask
from ..io.panels import builtin_panel_of
from ..io.sites import SiteTable
from ..options import CountFilters
from . import _kernels as K
from .fragments import FragmentTable
from .umi import UmiFamilies, UmiOptions

logger = logging.getLogger(__name__)

#: Mates disagreeing at a site: keep the higher-quality base only if it is better by this much
#: (10 = ten times less likely to be an error); otherwise count neither.
MATE_QDIFF = 10
#: Sites further apart than this (bp) are read as separate spans (one index jump each).
SPAN_GAP = 100_000
#: Jump to the next span only if it starts at least this many compressed bytes ahead;
#: closer ones are cheaper to stream through (a jump reads only the blocks it expects to
#: need: :meth:`._bgzf.BgzfStream.seek`).  BAM spans are also cut where the reads between two
#: neighbouring sites fill more than this (:func:`_jump_runs`).
SEEK_MIN = 1 << 15
#: Inflating threads of each slice's reader with ``threads > 1`` (1: inflate in the slice's thread).
READ_AHEAD = 1
#: Initial capacities: site observations per read, pending reads, fragment rows (grown on demand).
_INITIAL = {"k": 32, "e": 4096, "c": 1 << 16}
#: With fragments, ``--threads`` slices hold at least this many sites each: a cut splits the
#: fragments over it, and a small panel gains nothing from more readers.
MIN_SITES_PER_FRAGMENT_SLICE = 500


@dataclass(frozen=True)
class CountResult:
    """Output of :func:`count_alleles` with ``fragments=True``.

    Attributes
    ----------
    counts : AlleleCounts
    fragments : FragmentTable
        Every fragment showing an allele at two or more sites.
    """

    counts: AlleleCounts
    fragments: FragmentTable


@dataclass
class _Spans:
    """Sites in kernel order (BAM contig id, then position) and the runs to stream."""

    order: np.ndarray          # int64 (n_sites,): kernel site k is SiteTable site order[k]
    tid_start: np.ndarray      # int64 (n_refs + 1,)
    pos: np.ndarray            # int64 (n_sites,) in kernel order
    ref: np.ndarray
    alt: np.ndarray
    runs: list = field(default_factory=list)  # [(tid, first_pos, last_pos)]


def _plan(sites: SiteTable, info: AlignmentInfo) -> _Spans:
    used = [sites.contigs[i] for i in np.unique(sites.contig_id)]
    mapping = match_contigs(used, info.contigs, what="site", where=info.path)
    tid_of = {c: i for i, c in enumerate(info.contigs)}
    cid_to_tid = np.full(len(sites.contigs), -1, dtype=np.int64)
    for name, target in mapping.items():
        cid_to_tid[sites.contigs.index(name)] = tid_of[target]
    tid = cid_to_tid[sites.contig_id]
    order = np.lexsort((sites.pos, tid)).astype(np.int64)
    tid_sorted = tid[order]
    pos = sites.pos[order].astype(np.int64)
    tid_start = np.searchsorted(tid_sorted, np.arange(len(info.contigs) + 1)).astype(np.int64)
    return _Spans(order, tid_start, pos, sites.ref[order].copy(), sites.alt[order].copy(),
                  _runs(tid_sorted, pos))


def _runs(tid_sorted: np.ndarray, pos: np.ndarray) -> list:
    """Runs ``(tid, first_pos, last_pos)`` of sites with no gap wider than :data:`SPAN_GAP`."""
    if len(pos) == 0:
        return []
    breaks = np.flatnonzero((np.diff(tid_sorted) != 0) | (np.diff(pos) > SPAN_GAP)) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [len(pos)])) - 1
    return [(int(tid_sorted[a]), int(pos[a]), int(pos[b])) for a, b in zip(starts, ends, strict=True)]


def _jump_runs(spans: _Spans, bai: list) -> list:
    """:attr:`_Spans.runs` cut further for the BAM reader: between two neighbouring sites
    whose reads lie more than :data:`SEEK_MIN` compressed bytes apart by the BAI linear index
    (from where the reads past the first site are estimated to end, as :func:`_end_offsets`
    does, to the offset of the second site's index window).  Sparse sites (a genome-wide
    panel: one per ~30 kb) become a run each, so :func:`_count_bam` jumps to each site's
    reads instead of inflating every block between them; dense ones stay one run."""
    out = []
    for tid, first, last in spans.runs:
        lin = bai[tid].linear if tid < len(bai) else np.zeros(0, np.uint64)
        a, b = spans.tid_start[tid], spans.tid_start[tid + 1]
        i0 = a + np.searchsorted(spans.pos[a:b], first)
        i1 = a + np.searchsorted(spans.pos[a:b], last, side="right")
        pos = spans.pos[i0:i1]
        if len(lin) == 0 or len(pos) < 2:
            out.append((tid, first, last))
            continue
        sh = bai[tid].shift
        filled = (np.maximum.accumulate(lin) >> np.uint64(16)).astype(np.float64)  # empty windows: the last offset before
        w = np.minimum(pos >> sh, len(lin) - 1)
        start = filled[w]
        after = filled[np.minimum(w + 1, len(lin) - 1)]
        frac = np.clip((pos + 1 - (w << sh)) / float(1 << sh), 0.0, 1.0)
        end_est = start + frac * (after - start)
        cuts = np.flatnonzero(start[1:] - end_est[:-1] > SEEK_MIN) + 1
        bounds = [0, *cuts.tolist(), len(pos)]
        out += [(tid, int(pos[x]), int(pos[y - 1])) for x, y in zip(bounds[:-1], bounds[1:], strict=True)]
    return out


def _split(spans: _Spans, bai: list, parts: int) -> list:
    """Cut the sites (kernel order) into ``parts`` consecutive slices of about equal BAM bytes.

    Each slice is counted by its own reader and kernel, which reads every record overlapping
    one of *its* sites and counts only at those sites; per-site counts do not depend on any
    other site (mates are merged site by site), so the slices' counts are exactly the
    whole's.  The bytes a slice streams are estimated from the BAI linear index.
    """
    n = len(spans.pos)
    tid_sorted = np.repeat(np.arange(len(spans.tid_start) - 1), np.diff(spans.tid_start))
    coff = np.zeros(n, np.float64)
    for tid in np.unique(tid_sorted):
        a, b = spans.tid_start[tid], spans.tid_start[tid + 1]
        if tid < len(bai) and len(bai[tid].linear):
            lin = bai[tid].linear
            w = np.minimum(spans.pos[a:b] >> bai[tid].shift, len(lin) - 1)
            coff[a:b] = np.maximum.accumulate((lin[w] >> np.uint64(16)).astype(np.float64))
    step = np.diff(coff, prepend=coff[:1])
    brk = (np.diff(tid_sorted, prepend=tid_sorted[:1]) != 0) | (np.diff(spans.pos, prepend=spans.pos[:1]) > SPAN_GAP)
    step[brk | (step < 0)] = 0
    work = np.cumsum(step)
    # mostly bytes; a little weight per site splits runs that the index cannot (one 16 kb window)
    work = (0.9 * work / work[-1] if work[-1] > 0 else 0) + 0.1 * np.arange(1, n + 1) / n
    cuts = np.searchsorted(work, work[-1] * np.arange(1, parts) / parts)
    bounds = sorted({0, n, *(int(c) for c in cuts if 0 < c < n)})
    out = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out.append(_Spans(spans.order[a:b], np.clip(spans.tid_start - a, 0, b - a), spans.pos[a:b],
                          spans.ref[a:b], spans.alt[a:b], _runs(tid_sorted[a:b], spans.pos[a:b])))
    return out


class _KernelState:
    """All arrays of one kernel run (one alignment file), grown on demand."""

    def __init__(self, spans: _Spans, *, filters: CountFilters, fragments, k=32, e=4096, c=1 << 16,
                 umi: UmiOptions | None = None):
        self.spans = spans
        n_sites = len(spans.pos)
        self.umi = None if umi is None else UmiFamilies(umi, spans.ref, spans.alt, filters.min_baseq)
        fragments = fragments or umi is not None
        self.params = np.zeros(K.N_PARAMS, dtype=np.int64)
        self.params[[K.P_MIN_MAPQ, K.P_MIN_BASEQ, K.P_PROPER, K.P_FRAGMENTS, K.P_MATE_QDIFF]] = (
            filters.min_mapq, filters.min_baseq, int(filters.require_proper_pairs), int(fragments), MATE_QDIFF)
        if umi is not None:
            self.params[[K.P_UMI, K.P_UMI_TAG, K.P_DUPLEX]] = umi.kernel_params()
        self.state = np.zeros(K.N_STATE, dtype=np.int64)
        self.state[K.ST_TID] = -1
        self.state[K.ST_POS] = -1
        self.counts = np.zeros((6, n_sites), dtype=COUNT_DTYPE)
        self._alloc_entries(e, k)
        self._alloc_scratch(k)
        self.c = max(c, 4 * k) if fragments else 1
        self._alloc_frags()
        self.frag_chunks = []

    def _alloc_entries(self, e, k):
        self.e_key = np.zeros(e, np.int64)
        self.e_pos = np.zeros(e, np.int64)
        self.e_mpos = np.zeros(e, np.int64)
        self.e_uid = np.full(e, -1, np.int64)
        self.e_flag = np.zeros(e, np.int64)
        self.e_nobs = np.zeros(e, np.int64)
        self.e_site = np.zeros((e, k), np.int64)
        self.e_base = np.zeros((e, k), np.uint8)
        self.e_qual = np.zeros((e, k), np.uint8)
        self.e_umi = np.zeros(e, np.int64)
        self.free = np.arange(e - 1, -1, -1, dtype=np.int64)
        self.state[K.ST_FREE] = e
        self.h_slot = np.full(4 * e, -1, np.int64)
        self.hp_key = np.zeros(2 * e, np.int64)
        self.hp_ent = np.zeros(2 * e, np.int64)
        self.hp_uid = np.zeros(2 * e, np.int64)

    def _alloc_scratch(self, k):
        self.s_site = np.zeros(k, np.int64)
        self.s_base = np.zeros(k, np.uint8)
        self.s_qual = np.zeros(k, np.uint8)
        self.m_site = np.zeros(2 * k, np.int64)
        self.m_base = np.zeros(2 * k, np.uint8)
        self.m_qual = np.zeros(2 * k, np.uint8)
        self.m_rev = np.zeros(2 * k, np.int64)
        self.m_mates = np.zeros(2 * k, np.uint8)

    def _alloc_frags(self):
        c = self.c
        self.f_id = np.zeros(c, np.int64)
        self.f_site = np.zeros(c, np.int64)
        self.f_allele = np.zeros(c, np.int8)
        self.f_qual = np.zeros(c, np.uint8)
        self.f_rev = np.zeros(c, np.int64)
        self.f_mates = np.zeros(c, np.uint8)
        self.f_lkey = np.zeros(c, np.int64)
        self.f_rkey = np.zeros(c, np.int64)
        self.f_umi = np.zeros(c, np.int64)

    def _grow_k(self):
        k = self.e_site.shape[1] * 2
        for name in ("e_site", "e_base", "e_qual"):
            old = getattr(self, name)
            new = np.zeros((old.shape[0], k), old.dtype)
            new[:, :old.shape[1]] = old
            setattr(self, name, new)
        self._alloc_scratch(k)
        if self.params[K.P_FRAGMENTS] and self.c < 4 * k:
            self._drain()
            self.c = 4 * k
            self._alloc_frags()

    def _grow_e(self):
        e_old = len(self.e_key)
        e = 2 * e_old
        for name in ("e_key", "e_pos", "e_mpos", "e_flag", "e_nobs", "e_umi"):
            old = getattr(self, name)
            new = np.zeros(e, old.dtype)
            new[:e_old] = old
            setattr(self, name, new)
        uid = np.full(e, -1, np.int64)
        uid[:e_old] = self.e_uid
        self.e_uid = uid
        for name in ("e_site", "e_base", "e_qual"):
            old = getattr(self, name)
            new = np.zeros((e, old.shape[1]), old.dtype)
            new[:e_old] = old
            setattr(self, name, new)
        # The free stack was empty; the new entries are all free.
        self.free = np.zeros(e, np.int64)
        self.free[:e - e_old] = np.arange(e - 1, e_old - 1, -1)
        self.state[K.ST_FREE] = e - e_old
        for name in ("hp_key", "hp_ent", "hp_uid"):
            old = getattr(self, name)
            new = np.zeros(2 * e, np.int64)
            new[:len(old)] = old
            setattr(self, name, new)
        self.h_slot = np.full(4 * e, -1, np.int64)
        K.rebuild_hash(self.h_slot, self.e_key, self.e_uid, self.state)

    def _drain(self):
        n = int(self.state[K.ST_FRAG_FILL])
        if n and self.umi is not None:
            # Families whose last read pair the kernel has passed are complete: tally them.
            tid, pos = int(self.state[K.ST_TID]), int(self.state[K.ST_POS])
            self.umi.add(self.f_id[:n], self.f_site[:n], self.f_allele[:n], self.f_qual[:n], self.f_lkey[:n],
                         self.f_rkey[:n], self.f_umi[:n], self.f_mates[:n])
            self.umi.close_before(tid, pos, self.counts, self.frag_chunks)
        elif n:
            self.frag_chunks.append((self.f_id[:n].copy(), self.f_site[:n].copy(), self.f_allele[:n].copy(),
                                     self.f_qual[:n].copy(), self.f_rev[:n].astype(bool),
                                     self.f_mates[:n].copy()))
        self.state[K.ST_FRAG_FILL] = 0

    def set_stop(self, tid, pos):
        self.params[K.P_STOP_TID] = tid
        self.params[K.P_STOP_POS] = pos

    def _arrays(self) -> tuple:
        """The arrays every kernel entry point takes, in its order (see :mod:`._kernels`)."""
        sp = self.spans
        return (self.params, self.state, sp.tid_start, sp.pos, sp.ref, sp.alt, self.counts,
                self.e_key, self.e_pos, self.e_mpos, self.e_uid, self.e_flag, self.e_nobs,
                self.e_site, self.e_base, self.e_qual, self.free, self.h_slot, self.hp_key,
                self.hp_ent, self.hp_uid, self.s_site, self.s_base, self.s_qual, self.m_site,
                self.m_base, self.m_qual, self.m_rev, self.m_mates, self.f_id, self.f_site,
                self.f_allele, self.f_qual, self.f_rev, self.f_mates, self.e_umi, self.f_lkey, self.f_rkey,
                self.f_umi)

    def run(self, buf, off, end):
        """Run the kernel until it needs data or finishes the span; returns (status, offset)."""
        while True:
            status, off = K.count_records(buf, off, end, *self._arrays())
            if status == K.GROW_K:
                self._grow_k()
            elif status == K.GROW_E:
                self._grow_e()
            elif status == K.DRAIN:
                self._drain()
            else:
                return status, off

    def finish(self):
        while K.flush_all(*self._arrays()) == K.DRAIN:
            self._drain()
        self._drain()
        if self.umi is not None:
            self.umi.close_before(None, None, self.counts, self.frag_chunks)

    def stats(self) -> dict:
        s = self.state
        return {"reads": int(s[K.ST_READS]), "skipped_flag": int(s[K.ST_SKIP_FLAG]),
                "skipped_mapq": int(s[K.ST_SKIP_MAPQ]), "skipped_not_proper": int(s[K.ST_SKIP_PROPER]),
                "fragments_counted": int(s[K.ST_USED]), "overlapping_pairs_merged": int(s[K.ST_MERGED]),
                "mate_conflicts": int(s[K.ST_CONFLICT]), "mate_not_seen": int(s[K.ST_ORPHAN_FLUSH])}


def _kernel_error(status, info: AlignmentInfo, where: str, kst=None):
    if status == K.NOT_SORTED:
        return FormatError(f"{info.path}: records out of coordinate order {where}; "
                           "run `samtools sort` and `samtools index`")
    if status in (K.UMI_MIXED, K.UMI_NOT_DUPLEX) and kst is not None:
        pos = int(kst.state[K.ST_ERR_POS]) + 1
        contig = info.contigs[int(kst.state[K.ST_TID])] if kst.state[K.ST_TID] >= 0 else "?"
        if status == K.UMI_MIXED:
            return FormatError(f"{info.path}: UMIs of different lengths ({int(kst.state[K.ST_UMI_LEN])} and "
                               f"{int(kst.state[K.ST_UMI_OTHER])} bases; a read at {contig}:{pos}) in "
                               f"{kst.umi.options.looked_for}: one library, one UMI length")
        return FormatError(f"{info.path}: --duplex, but the read at {contig}:{pos} has a single-strand UMI in "
                           f"{kst.umi.options.looked_for} (duplex UMIs have two halves, 'ACGT-TTGA', or "
                           "molecule ids end in /A or /B)")
    return FormatError(f"{info.path}: malformed BAM record {where}")


def _read_bai(info: AlignmentInfo) -> list:
    """The BAM's index (BAI or CSI) as one :class:`.bam_index.LinearIndex` per reference."""
    from .bam_index import read_index

    bai = read_index(info.index)
    if len(bai) != len(info.contigs):
        raise FormatError(f"{info.index}: index has {len(bai)} references, BAM header {len(info.contigs)}; "
                          "rebuild the index")
    return bai


def _count_bam_parallel(info: AlignmentInfo, parts: list, kwargs: dict, bai: list, advance=None) -> list:
    """Count the slices ``parts`` of the sites (:func:`_split`) concurrently, one reader and
    kernel each (inflation and the kernel release the GIL).  Returns the kernel states."""
    from concurrent.futures import ThreadPoolExecutor

    ksts = [_KernelState(part, **kwargs) for part in parts]
    if len(ksts) == 1:
        _count_bam(info, ksts[0], 1, advance, bai=bai)
        return ksts
    with ThreadPoolExecutor(max_workers=len(ksts)) as pool:
        futures = [pool.submit(_count_bam, info, kst, READ_AHEAD, advance, bai=bai) for kst in ksts]
        for fut in futures:
            fut.result()
    return ksts


def _reads_reporter(kst: _KernelState, advance, work: _SliceWork | None = None):
    """A function ``report(run=None, pos=None)`` passing on to ``advance`` the reads the kernel
    has read since its last call; with ``work``, also the CRAM bytes passed since, once the
    reads starting before ``pos`` in run of sites ``run`` are read (``pos`` None: the whole
    run), as ``advance(n, work=w)``."""
    if advance is None:
        return lambda run=None, pos=None: None
    seen, sent = 0, 0.0

    def report(run=None, pos=None):
        nonlocal seen, sent
        n = int(kst.state[K.ST_READS])
        if work is None:
            advance(n - seen)
        else:
            now = max(sent, work.done(run, pos))
            advance(n - seen, work=now - sent)
            sent = now
        seen = n

    return report


def _index_reads(info: AlignmentInfo) -> np.ndarray | None:
    """Reads per reference (mapped + placed unmapped), float64 (n_refs,), from the index's
    statistics (``samtools idxstats``); None when the index does not keep them (CRAM)."""
    import pysam

    reads = np.zeros(len(info.contigs), np.float64)
    tid_of = {c: i for i, c in enumerate(info.contigs)}
    kwargs = {"reference_filename": str(info.reference)} if info.reference else {}
    try:
        with pysam.AlignmentFile(str(info.path), index_filename=str(info.index), **kwargs) as af:
            for st in af.get_index_statistics():
                if st.contig in tid_of:
                    reads[tid_of[st.contig]] = st.total
    except (OSError, ValueError, AttributeError):
        return None
    return reads if reads.sum() > 0 else None


def _expected_reads_bai(info: AlignmentInfo, parts: list, bai: list, reads: np.ndarray) -> float:
    """Reads the fast reader will go through for ``parts``, estimated from the BAI.

    Each run of sites is streamed from the linear-index offset of its first site to just past
    its last site (:func:`_end_offsets`), and gaps shorter than :data:`SEEK_MIN` are streamed
    through, as :func:`_count_bam` does; compressed bytes become reads at each reference's
    reads per compressed byte.
    """
    size = info.path.stat().st_size
    begs = [ref.first >> 16 if ref.has_reads else None for ref in bai]
    ends = [next((b for b in begs[tid + 1:] if b is not None and b > begs[tid]), size) if begs[tid] is not None
            else size for tid in range(len(bai))]
    total = 0.0
    for part in parts:
        cur = -1
        starts, untils = _run_bounds(part.runs, bai, info.lengths, ends)
        for (tid, _, _), a, b in zip(part.runs, starts, untils, strict=True):
            if a < 0:
                continue
            a >>= 16
            start = a if cur < 0 or a > cur + SEEK_MIN else cur
            total += max(0, b - start) * reads[tid] / max(1, ends[tid] - begs[tid])
            cur = max(cur, b)
    return total


def _end_offsets(ref, last: np.ndarray, length: int, end: int) -> np.ndarray:
    """Compressed offsets (float64) of the first read starting after each 0-based ``last``,
    estimated: the linear index gives offsets every window (16 kb in a BAI), and reads are
    taken as evenly spread between one window's offset and the next one known (``end``: the
    reference's last byte)."""
    from .bam_index import start_offsets

    sh, known = ref.shift, ref.known
    last = np.asarray(last, np.int64)
    w = last >> sh
    lo = (start_offsets(ref, last) >> np.uint64(16)).astype(np.float64)
    k = np.searchsorted(known, w + 1)
    has = k < len(known)
    j = known[np.minimum(k, len(known) - 1)] if len(known) else np.zeros(len(w), np.int64)
    hi = np.where(has, (ref.linear[j] >> np.uint64(16)).astype(np.float64) if len(known) else 0.0, float(end))
    bp = np.where(has, (j - w) << sh, np.maximum(length - (w << sh), 1)).astype(np.float64)
    return lo + np.minimum(1.0, (last + 1 - (w << sh)) / bp) * np.maximum(0.0, hi - lo)


def _run_bounds(runs: list, bai: list, lengths, ends) -> tuple[list, list]:
    """For each run ``(tid, first, last)``: the virtual offset to start reading at (-1: no
    reads on the reference) and the estimated compressed offset past its last site
    (:func:`_end_offsets`; ``ends[tid]``: the reference's last byte), as two lists."""
    from .bam_index import start_offsets

    starts, untils = [-1] * len(runs), [0.0] * len(runs)
    tids = np.array([r[0] for r in runs], np.int64)
    for tid in np.unique(tids):
        if tid >= len(bai) or not bai[tid].has_reads:
            continue
        at = np.flatnonzero(tids == tid)
        first = np.array([runs[i][1] for i in at], np.int64)
        last = np.array([runs[i][2] for i in at], np.int64)
        for i, a, b in zip(at.tolist(), start_offsets(bai[tid], first).tolist(),
                           _end_offsets(bai[tid], last, lengths[tid], ends[tid]).tolist(), strict=True):
            starts[i], untils[i] = a, b
    return starts, untils


def _expected_reads_fetch(info: AlignmentInfo, spans: _Spans, reads: np.ndarray) -> float:
    """Reads htslib will fetch for ``spans`` (the pysam path): each reference's reads spread
    evenly over its length (an underestimate where reads pile up at the sites, as in panels)."""
    lengths = np.maximum(np.asarray(info.lengths, np.float64), 1)
    return float(sum(reads[tid] * min(1.0, (last - first + 1 + 2 * _READ_SPAN) / lengths[tid])
                     for tid, first, last in spans.runs))


#: Bases a read reaches before or after a site it covers, for the estimate of reads fetched.
_READ_SPAN = 300


def _count_bam(info: AlignmentInfo, kst: _KernelState, threads: int, advance=None, bai=None) -> None:
    """Stream the BAM with the fast reader, jumping (via the BAI) between runs of sites.

    Each run starts at the linear-index offset of its first site (the first record that can
    overlap its index window; every record before it ends before the window).  The reader goes
    there by moving on in the batch it holds when the offset is in it, by reading on when the
    offset is less than :data:`SEEK_MIN` compressed bytes past the batch, else by a jump, whose
    first read is sized to the run's estimated end (:func:`_end_offsets`).  A record read
    earlier is counted at every site it covers (the kernel knows all sites), so reading on past
    an offset misses nothing, and skipping records before it loses none that reaches the run.

    ``advance(n)``, if given, is called with the reads read since its last call (progress).
    """
    from ._bgzf import HEADROOM, BgzfStream, carry_into

    if bai is None:
        bai = _read_bai(info)
    report = _reads_reporter(kst, advance)
    size = info.path.stat().st_size
    starts, untils = _run_bounds(kst.spans.runs, bai, info.lengths, [size] * len(bai))
    with BgzfStream(info.path, threads=threads) as stream:
        batch, off, end = None, 0, 0
        for (tid, _, last), voff, until in zip(kst.spans.runs, starts, untils, strict=True):
            if voff < 0:
                continue
            coff, uoff = voff >> 16, voff & 0xFFFF
            if batch is not None:
                i = bisect.bisect_right(batch.ustarts, off - HEADROOM) - 1
                here = (batch.coffsets[max(i, 0)] << 16) | max(0, off - HEADROOM - batch.ustarts[max(i, 0)])
                j = bisect.bisect_right(batch.coffsets, coff) - 1
                if voff <= here:
                    pass  # read on: the kernel is already past the run's start
                elif j >= 0 and batch.coffsets[j] == coff and HEADROOM + batch.ustarts[j] + uoff <= end:
                    off = HEADROOM + batch.ustarts[j] + uoff  # skip within the inflated batch
                elif coff > batch.coffsets[-1] + SEEK_MIN:
                    batch = None
            if batch is None:
                stream.seek(coff, until=until)
                batch = stream.next_batch()
                if batch is None:
                    raise FormatError(f"{info.path}: index points past the end of the file; rebuild the index")
                off, end = HEADROOM + uoff, HEADROOM + batch.n
            kst.set_stop(tid, last)
            while True:
                status, off = kst.run(batch.data, off, end)
                report()
                if status == K.SPAN_DONE:
                    break
                if status != K.NEED_DATA:
                    raise _kernel_error(status, info, f"in the block at byte {batch.coffsets[0]} or after", kst)
                left = batch.data[off:end]
                nxt = stream.next_batch()
                if nxt is None:
                    if len(left):
                        raise FormatError(f"{info.path}: truncated BAM (file ends inside a record)")
                    batch = None
                    break
                off = carry_into(left, nxt)
                batch = nxt
                end = HEADROOM + batch.n
            if batch is None:
                break
    kst.finish()


def _pack_read(read, tag: str | None = None) -> bytes:
    """BAM binary form of a pysam read (for the CRAM path), SAM spec 4.2; of its aux fields,
    only ``tag`` (the UMI's), when given and present."""
    name = (read.query_name or "*").encode() + b"\0"
    cigar = read.cigartuples or []
    seq = read.query_sequence or ""
    n = len(seq)
    codes = np.frombuffer(seq.encode(), dtype=np.uint8)
    nib = _NT16[codes] if n else np.zeros(0, np.uint8)
    if n % 2:
        nib = np.concatenate((nib, [0]))
    packed = ((nib[0::2] << 4) | nib[1::2]).astype(np.uint8).tobytes()
    qual = read.query_qualities
    qbytes = (bytes(qual) if qual is not None else b"\xff" * n)
    body = struct.pack("<iiBBHHHiiii", read.reference_id, read.reference_start, len(name),
                       read.mapping_quality, 0, len(cigar), read.flag, n, read.next_reference_id,
                       read.next_reference_start, read.template_length)
    body += name + b"".join(struct.pack("<I", (ln << 4) | op) for op, ln in cigar) + packed + qbytes
    if tag is not None and read.has_tag(tag):
        value, kind = read.get_tag(tag, with_value_type=True)
        if kind == "Z":
            body += tag.encode() + b"Z" + str(value).encode() + b"\0"
        elif kind in "cCsSiI" and isinstance(value, int):
            body += tag.encode() + b"i" + struct.pack("<i", value)
    return struct.pack("<i", len(body)) + body


_NT16 = np.full(256, 15, dtype=np.uint8)
for _i, _b in enumerate("=ACMGRSVTWYHKDBN"):
    _NT16[ord(_b)] = _NT16[ord(_b.lower())] = _i


def _umi_stats(info: AlignmentInfo, kst: _KernelState, umi: UmiOptions) -> dict:
    """The UMI statistics of one file's kernel; a clear error when no read had a usable UMI."""
    s = kst.state
    missing, invalid = int(s[K.ST_UMI_MISSING]), int(s[K.ST_UMI_INVALID])
    if kst.umi.stats.reads == 0 and (missing or invalid):
        what = (f"{missing} reads over the sites have no UMI in {umi.looked_for}" if missing else
                f"the UMIs of {invalid} reads over the sites are not bases A/C/G/T (at most {K.MAX_UMI})")
        raise InputError(f"{info.path}: --umi, but {what}, and no read has a usable one; name where they are "
                         "with --umi-tag (a tag such as RX, or 'name' for a read-name suffix) or --molecule-tag")
    if missing or invalid:
        logger.warning("%s: %d reads without a UMI in %s and %d with an unusable one were not counted",
                       info.path, missing, umi.looked_for, invalid)
    return {"umi_missing": missing, "umi_invalid": invalid, "umi_length": int(s[K.ST_UMI_LEN]) or None,
            "umi": kst.umi.stats.to_json(umi.duplex)}


def _count_pysam(info: AlignmentInfo, kst: _KernelState, advance=None, work: _SliceWork | None = None) -> None:
    """The same kernel over records decoded by pysam/htslib (CRAM; BAM with a CSI index).

    ``advance(n)``, if given, is called with the reads read since its last call (progress);
    with ``work`` (a CRAM's slices, :func:`_slice_work`), ``advance(n, work=w)`` with also the
    compressed bytes of the slices passed since.
    """
    report = _reads_reporter(kst, advance, work)
    tag = None
    if kst.umi is not None:
        opts = kst.umi.options
        tag = opts.molecule_tag or (None if opts.tag == "name" else opts.tag)
    try:
        with info.open() as af:
            prev_tid, prev_end = -1, -1
            for run, (tid, first, last) in enumerate(kst.spans.runs):
                kst.set_stop(tid, last)
                parts = []
                for read in af.fetch(info.contigs[tid], first, last + 1):
                    if tid == prev_tid and read.reference_start < prev_end:
                        continue  # already returned by the previous run's fetch
                    parts.append(_pack_read(read, tag))
                    if len(parts) >= 4096:
                        _feed(kst, parts, info)
                        report(run, read.reference_start)
                        parts = []
                _feed(kst, parts, info)
                report(run)
                prev_tid, prev_end = tid, last + 1
    except (OSError, ValueError) as exc:
        raise FormatError(f"{info.path}: cannot read records: {exc}") from exc
    kst.finish()


def _feed(kst, parts, info):
    if not parts:
        return
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
    status, off = kst.run(buf, 0, len(buf))
    if status == K.NEED_DATA and off != len(buf) or status < 0:
        raise _kernel_error(status, info, "(decoded by htslib)", kst)


def _expected_reads(info: AlignmentInfo, parts, bai, spans: _Spans) -> float | None:
    """The total of the progress bar: reads the pass will read (None: unknown, a running count)."""
    reads = _index_reads(info)
    if reads is None:
        return None
    if bai is not None:
        return _expected_reads_bai(info, parts, bai, reads)
    return _expected_reads_fetch(info, spans, reads)


def _read_crai(path: Path) -> np.ndarray | None:
    """The lines of a CRAM index, int64 ``(n, 6)``: reference id (-1: unmapped), 1-based
    alignment start, alignment span, container byte offset, slice byte offset in the
    container, slice size in bytes.  One line per slice and reference (a multi-reference
    slice has several), in file order.  None if the index cannot be read."""
    import gzip
    import zlib

    try:
        raw = path.read_bytes()
        fields = np.array((gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).split(), dtype=np.int64)
    except (OSError, EOFError, ValueError, zlib.error):
        return None
    return fields.reshape(-1, 6) if len(fields) % 6 == 0 else None


@dataclass
class _SliceWork:
    """A pass over a CRAM in compressed bytes of the slices htslib decodes (progress):
    per run of sites (:attr:`_Spans.runs`), the 0-based alignment starts of the slices it
    reaches that no earlier run did, sorted, where their reads' starts end (the next such
    slice's start, or the slice's end), and their cumulative sizes after the bytes of the
    runs before it."""

    starts: list   # [int64 (m,)] per run
    stops: list    # [int64 (m,)] per run
    cum: list      # [float64 (m + 1,)] per run, cum[0]: bytes of the earlier runs
    total: float

    def done(self, run: int, pos: int | None = None) -> float:
        """Bytes passed once the reads of run ``run`` starting at or before 0-based ``pos``
        are read (None: all of the run's); the slice being read counts in proportion to
        the stretch of its reads' starts passed."""
        cum = self.cum[run]
        if pos is None:
            return float(cum[-1])
        k = int(np.searchsorted(self.starts[run], pos, side="right")) - 1
        if k < 0:
            return float(cum[0])
        a, b = self.starts[run][k], self.stops[run][k]
        return float(cum[k] + (cum[k + 1] - cum[k]) * min(1.0, (pos + 1 - a) / max(1, b - a)))


def _slice_work(info: AlignmentInfo, spans: _Spans) -> _SliceWork | None:
    """The slices of a CRAM that the pass over ``spans`` decodes, from its ``.crai``: for each
    run of sites, those on its reference whose alignment span overlaps the run's first to last
    site, as htslib's ``fetch`` of the run reads them; a slice reached by two runs counts once.
    None when there is no CRAM index or it names no such slice."""
    crai = _read_crai(info.index) if info.index is not None and info.index_kind == "crai" else None
    if crai is None or not len(crai):
        return None
    _, slice_id = np.unique(crai[:, 3:5], axis=0, return_inverse=True)
    slice_id = slice_id.ravel()
    taken = np.zeros(slice_id.max() + 1, bool)
    by_tid = {}
    for tid in np.unique(crai[:, 0]):
        lines = np.flatnonzero(crai[:, 0] == tid)
        lines = lines[np.argsort(crai[lines, 1], kind="stable")]
        ends = crai[lines, 1] + crai[lines, 2] - 1  # 1-based, inclusive
        by_tid[int(tid)] = (lines, crai[lines, 1], ends, np.maximum.accumulate(ends))
    starts, stops, cum, before = [], [], [], 0.0
    for tid, first, last in spans.runs:
        lines, begs, ends, reach = by_tid.get(tid, (np.zeros(0, np.int64),) * 4)
        lo, hi = np.searchsorted(reach, first + 1), np.searchsorted(begs, last + 1, side="right")
        pick = lines[lo:hi][ends[lo:hi] >= first + 1]
        pick = pick[~taken[slice_id[pick]]]
        taken[slice_id[pick]] = True
        starts.append(crai[pick, 1] - 1)
        stops.append(np.append(starts[-1][1:], crai[pick[-1], 1] + crai[pick[-1], 2] - 1 if len(pick) else []))
        cum.append(before + np.concatenate(([0.0], np.cumsum(crai[pick, 5], dtype=np.float64))))
        before = float(cum[-1][-1])
    return _SliceWork(starts, stops, cum, before) if before > 0 else None


def depth_summary(depth: np.ndarray) -> tuple[int, float, float]:
    """``(covered, mean_depth, mean_depth_covered)`` of fragments counted per site, (n_sites,):
    the sites with at least one, the mean over every site (as samtools coverage and mosdepth
    average, zeros too) and the mean over the covered ones (0 when none is)."""
    covered = depth > 0
    mean = float(depth.mean()) if len(depth) else 0.0
    return int(covered.sum()), mean, float(depth[covered].mean()) if covered.any() else 0.0


def _describe_stats(info: AlignmentInfo, st: dict, depth: np.ndarray, filters: CountFilters, slices: int) -> list:
    """Per-file read statistics, two lines as ``-v`` shows them (``depth``: fragments counted per site)."""
    kept = st["reads"] - st["skipped_flag"] - st["skipped_mapq"] - st["skipped_not_proper"]
    proper = f", {st['skipped_not_proper']:,} not in a proper pair" if filters.require_proper_pairs else ""
    twice = f" (reads near the cuts between its {slices} slices read twice)" if slices > 1 else ""
    covered, mean, _ = depth_summary(depth)
    return [f"{info.path} (sample {info.sample}): {st['reads']:,} reads read{twice}, {kept:,} kept; filtered out "
            f"{st['skipped_flag']:,} unmapped, secondary, supplementary, duplicate or QC-fail, "
            f"{st['skipped_mapq']:,} with MAPQ < {filters.min_mapq}{proper}",
            f"{info.path}: {st['fragments_counted']:,} fragments counted ({st['overlapping_pairs_merged']:,} "
            f"overlapping pairs merged, {st['mate_conflicts']:,} mate conflicts, {st['mate_not_seen']:,} mates "
            f"not seen); {covered:,} of {len(depth):,} sites covered, mean depth {mean:.1f} "
            f"(bases of quality >= {filters.min_baseq})"]


def count_alleles(alignments, sites: SiteTable, *, filters: CountFilters | None = None, reference=None,
                  threads: int = 1, region=None, fragments: bool = False, build_index: bool = False,
                  progress: bool = False, umi: UmiOptions | None = None):
    """Count ref/alt/other bases per fragment at every site, for each alignment file.

    Parameters
    ----------
    alignments : list of str or Path
        Coordinate-sorted, indexed BAM/CRAM files, one sample each (``@RG SM``; the file
        stem when there is no ``@RG``).  Files of the same sample are added together.
    sites : SiteTable
        Biallelic SNPs (:func:`microchimera.io.sites.read_sites`).
    filters : CountFilters, optional
        Minimum mapping quality of a read, base quality of a base, and whether only proper
        pairs count (default :class:`~microchimera.options.CountFilters()`).
    reference : str or Path, optional
        FASTA: needed for CRAM; when given, every site's REF is checked against it.
    threads : int
        BAM with a BAI index: the sites are cut into ``threads`` slices of about equal BAM
        bytes, each counted by its own reader and kernel concurrently (same counts; the
        read statistics add up over slices, so reads near a cut are counted in both).
        With ``fragments``, slices hold at least :data:`MIN_SITES_PER_FRAGMENT_SLICE` sites,
        and a fragment whose sites straddle a cut is split there: each side is a fragment of
        its own when it shows two or more sites.  Through pysam: threads inflating BGZF blocks
        ahead of a single counting loop.
    region : str, optional
        ``chrom[:start-end]`` (1-based, inclusive): count only the sites inside.
    fragments : bool
        Also return the table of fragments showing two or more sites.
    build_index : bool
        Build missing indexes instead of failing.
    umi : UmiOptions, optional
        Count molecules, not reads (:mod:`.umi`): reads grouped into families by alignment
        and UMI, one consensus base per family and site; the counts (and fragments) are
        molecules, and each file's statistics carry the family-size histogram, reads per
        molecule and (duplex) the duplex yield.  One kernel per file (``threads`` inflate).
    progress : bool
        Draw a progress bar per file on stderr (reads read, of the reads the index says are
        there to read; a CRAM, whose index has no read counts: percent and time left of the
        compressed bytes of the slices to decode, by the position reached, and the reads
        read so far; :func:`microchimera._progress.progress_bar`).  Each file's read
        statistics are logged at INFO level either way (``-v``).

    Returns
    -------
    AlleleCounts, or CountResult when ``fragments`` is true.
        Counts of shape ``(n_samples, n_sites)`` over ``sites`` (restricted to ``region``).

    Raises
    ------
    InputError
        Missing/unindexed/truncated files, unknown contigs, REF/FASTA mismatch, CRAM without
        reference, no site left in the region, a built-in panel's sites on a file whose
        header is of the other genome build (:func:`microchimera.io.builds.check_build`).
    FormatError
        Malformed or unsorted BAM records.
    """
    paths = [Path(p) for p in ([alignments] if isinstance(alignments, str | Path) else alignments)]
    if not paths:
        raise UsageError("no alignment files given")
    if threads < 1:
        raise UsageError(f"threads: expected >= 1, found {threads}")
    filters = filters or CountFilters()
    panel = builtin_panel_of(sites)  # (name, build) of a built-in panel: the files must be on its build
    if region is not None:
        sites = sites.take(region_mask(region, sites))
        if sites.n_sites == 0:
            raise InputError(f"no site inside region {region}")
    infos = [open_alignments(p, reference=reference, build_index=build_index) for p in paths]
    if panel is not None:
        for info in infos:
            check_build(info.path, info.contigs, info.lengths, panel=panel[0], build=panel[1],
                        panel_contigs=sites.contigs)
    if reference is not None:
        check_reference_alleles(sites, reference)
    samples = list(dict.fromkeys(info.sample for info in infos))
    totals = np.zeros((len(samples), 6, sites.n_sites), dtype=COUNT_DTYPE)
    frag_parts, stats = [], {}
    next_fragment = np.zeros(len(samples), dtype=np.int64)
    for info in infos:
        s = samples.index(info.sample)
        spans = _plan(sites, info)
        kwargs = dict(filters=filters, fragments=fragments, umi=umi, **_INITIAL)
        fast = info.format == "BAM" and info.index_kind in ("bai", "csi")
        # UMI families are grouped over all their reads: one kernel (threads inflate)
        parallel = fast and threads > 1 and umi is None
        if fast:
            bai = _read_bai(info)
            n_parts = min(threads, max(1, len(spans.pos) // MIN_SITES_PER_FRAGMENT_SLICE)) if fragments else threads
            parts = _split(spans, bai, n_parts) if parallel else [spans]
            for part in parts:
                part.runs = _jump_runs(part, bai)
        total = _expected_reads(info, parts if fast else None, bai if fast else None, spans) if progress else None
        work = _slice_work(info, spans) if progress and total is None and not fast else None
        with progress_bar(progress, f"count {info.path.name}", total=total, unit="reads",
                          work=None if work is None else work.total) as advance:
            if parallel:
                ksts = _count_bam_parallel(info, parts, kwargs, bai, advance)
            else:
                ksts = [_KernelState(spans, **kwargs)]
                if fast:
                    _count_bam(info, ksts[0], threads, advance, bai=bai)
                else:
                    _count_pysam(info, ksts[0], advance, work)
        depth = np.zeros(sites.n_sites, np.int64)
        for kst in ksts:
            totals[s][:, kst.spans.order] += kst.counts
            depth[kst.spans.order] += kst.counts.sum(axis=0, dtype=np.int64)
        st = {key: sum(k.stats()[key] for k in ksts) for key in ksts[0].stats()}
        if umi is not None:
            st.update(_umi_stats(info, ksts[0], umi))
        if st["reads"] == 0 and region is None:
            raise InputError(f"{info.path}: no reads over any of the {sites.n_sites} sites (an empty "
                             f"{info.format}, or reads only on other contigs)")
        stats[str(info.path)] = {"sample": info.sample, **st}
        for line in _describe_stats(info, st, depth, filters, len(ksts)):
            logger.info("%s", line)
        if fragments:
            # Fragment ids run from 0 in every kernel (slice): offset them to stay unique.
            for kst in ksts:
                for fid, fsite, allele, qual, rev, mates in kst.frag_chunks:
                    frag_parts.append((np.full(len(fid), s, np.int32), fid + next_fragment[s],
                                       kst.spans.order[fsite], allele, qual, rev, mates))
                next_fragment[s] += kst.state[K.ST_FRAG_ID] if kst.umi is None else kst.umi.next_molecule
    parameters = {"min_mapq": filters.min_mapq, "min_baseq": filters.min_baseq,
                  "require_proper_pairs": filters.require_proper_pairs, "mate_min_qual_diff": MATE_QDIFF,
                  "region": region, "reference": None if reference is None else str(reference),
                  "alignments": [str(p) for p in paths], "stats": stats,
                  **({"umi": umi.to_json()} if umi is not None else {})}
    counts = AlleleCounts(tuple(samples), sites, *(np.ascontiguousarray(totals[:, i]) for i in range(6)),
                          parameters=parameters)
    if not fragments:
        return counts
    return CountResult(counts, FragmentTable.from_parts(tuple(samples), sites, frag_parts))
