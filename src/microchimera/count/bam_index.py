"""BAM indexes as the fast reader uses them, and a fine-grained CSI index writer.

The fast BAM reader (:mod:`.counting`) needs one thing from an index: for a position, the
virtual offset of the first record that can overlap it.  An index's *linear index* gives
that per window of ``2**shift`` bp (:class:`LinearIndex`):

* a BAI (SAM specification 5.2) keeps it for every 16 kb window (``shift`` 14);
* a CSI (the CSIv1 specification) keeps it per bin, as the bin's ``loff``: the linear-index
  offset of the bin's first smallest window.  ``samtools index -c`` merges every bin whose
  reads fill less than 64 kB of compressed BAM into its parent, so at ordinary depths its
  finest offsets are 8-16 kb apart whatever ``-m`` says.

:func:`build_csi` (``microchimera index``) writes a CSI with ``min_shift`` 9 by default and
no bin merged: an offset every 512 bp.  At a genome-wide panel's sparse sites (one per
~30 kb) the reader then inflates the blocks holding the reads over each site and about a
quarter of a kilobase before it, instead of half a 16 kb window (``benchmarks/README.md``,
issue 17).  It is a standard CSI (htslib reads it as ``BAM##idx##INDEX``), written as
``<bam>.fine.csi`` so that htslib tools, which prefer a ``.csi`` to a ``.bai``, do not load a
large index, or a stale one, without being asked.
"""
from __future__ import annotations

import gzip
import logging
import struct
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import FormatError, InputError, UsageError
from ..io.alignments import FINE_INDEX_SUFFIX, open_alignments

logger = logging.getLogger(__name__)

#: Window of :func:`build_csi`'s linear offsets: 2**9 = 512 bp.  On a 30x genome one BGZF
#: block holds ~1 kb of reads, so a site costs its own block and, on average, a quarter of
#: the one before; the index is ~1/360 of the BAM at 30x (2.8 MB per GB).
FINE_SHIFT = 9
#: Records scanned per kernel call.
_SCAN = 1 << 16
_BAI_META_BIN = 37450


@dataclass(frozen=True)
class LinearIndex:
    """Where the reads of one reference start, by window.

    Attributes
    ----------
    linear : numpy.ndarray
        uint64 (n_windows,): virtual offset at or before the first record overlapping each
        ``2**shift`` bp window (0: unknown; :func:`start_offsets` then looks further left).
    first : int
        Virtual offset of the reference's first record (0 if unknown).
    has_reads : bool
    shift : int
        log2 of the window width in bp (14 for a BAI).
    """

    linear: np.ndarray
    first: int
    has_reads: bool
    shift: int = 14

    @cached_property
    def known(self) -> np.ndarray:
        """Windows with a known offset (``linear`` non-zero), ascending."""
        return np.flatnonzero(self.linear)


def start_offsets(ref: LinearIndex, pos) -> np.ndarray:
    """Virtual offsets (uint64) at or before the first read overlapping each 0-based ``pos``:
    the offset of its window, or of the nearest window before it with one (the reference's
    first read if none)."""
    k = np.searchsorted(ref.known, np.asarray(pos, np.int64) >> ref.shift, side="right") - 1
    out = np.full(len(k), ref.first, np.uint64)
    inside = k >= 0
    out[inside] = ref.linear[ref.known[k[inside]]]
    return out


def read_index(path) -> list:
    """One :class:`LinearIndex` per reference of a ``.bai`` or ``.csi`` file."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"BAI\x01":
        return read_bai(path)
    return read_csi(path)


def read_bai(path) -> list:
    """Parse a BAI file into one :class:`LinearIndex` (16 kb windows) per reference."""
    raw = Path(path).read_bytes()
    if raw[:4] != b"BAI\x01":
        raise FormatError(f"{path}: not a BAI index")
    unpack = struct.unpack_from
    (n_ref,) = unpack("<i", raw, 4)
    o = 8
    refs = []
    try:
        for _ in range(n_ref):
            (n_bin,) = unpack("<i", raw, o)
            o += 4
            first = 0
            min_beg = None
            for _ in range(n_bin):
                bin_id, n_chunk = unpack("<Ii", raw, o)
                o += 8
                if bin_id == _BAI_META_BIN:  # pseudo-bin: (first, last) read offsets, then counts
                    first = unpack("<Q", raw, o)[0]
                elif n_chunk:
                    beg = unpack("<Q", raw, o)[0]
                    min_beg = beg if min_beg is None else min(min_beg, beg)
                o += 16 * n_chunk
            (n_intv,) = unpack("<i", raw, o)
            o += 4
            linear = np.frombuffer(raw, dtype="<u8", count=n_intv, offset=o).astype(np.uint64)
            o += 8 * n_intv
            if not first and min_beg is not None:
                first = min_beg
            refs.append(LinearIndex(linear, int(first), n_bin > 0, 14))
    except (struct.error, ValueError):
        raise FormatError(f"{path}: truncated BAI index") from None
    return refs


def _bin_first(level) -> np.ndarray:
    """First bin id of each level (``hts_bin_first``)."""
    return ((np.int64(1) << (3 * np.asarray(level, np.int64))) - 1) // 7


def read_csi(path) -> list:
    """Parse a CSI file into one :class:`LinearIndex` per reference (windows of ``2**min_shift``).

    A bin's ``loff`` is the linear-index offset of its first smallest window; windows that
    start no bin in the file take the offset of the nearest window before them that does
    (an earlier record: safe, only more to read).
    """
    from ._index import csi_bins

    path = Path(path)
    raw = _inflate_index(path)
    if raw[:4] != b"CSI\x01":
        raise FormatError(f"{path}: not a CSI index (starts with {raw[:4]!r})")
    try:
        min_shift, depth, l_aux = struct.unpack_from("<iii", raw, 4)
        o = 16 + l_aux
        (n_ref,) = struct.unpack_from("<i", raw, o)
        o += 4
    except struct.error:
        raise FormatError(f"{path}: truncated CSI index") from None
    if not 0 < min_shift < 32 or not 0 <= depth < 10 or l_aux < 0 or n_ref < 0:
        raise FormatError(f"{path}: implausible CSI header (min_shift {min_shift}, depth {depth})")
    buf = np.frombuffer(raw, np.uint8)
    meta = int(_bin_first(depth + 1)) + 1
    refs = []
    for r in range(n_ref):
        if o + 4 > len(raw):
            raise FormatError(f"{path}: truncated CSI index (reference {r})")
        (n_bin,) = struct.unpack_from("<i", raw, o)
        o += 4
        bins = np.empty(n_bin, np.uint32)
        loff = np.empty(n_bin, np.uint64)
        n_chunk = np.empty(n_bin, np.int64)
        cbeg = np.empty(n_bin, np.uint64)
        o = csi_bins(buf, o, n_bin, bins, loff, n_chunk, cbeg) if n_bin > 0 else o
        if o < 0:
            raise FormatError(f"{path}: truncated CSI index (reference {r})")
        is_meta = bins == meta
        first = int(cbeg[is_meta][0]) if is_meta.any() else 0
        real = ~is_meta & (bins < meta)
        bot = _bin_bot(bins[real].astype(np.int64), depth)
        if len(bot):
            linear = np.zeros(int(bot.max()) + 1, np.uint64)
            np.maximum.at(linear, bot, loff[real])
        else:
            linear = np.zeros(0, np.uint64)
        if not first and real.any() and (n_chunk[real] > 0).any():
            first = int(cbeg[real][n_chunk[real] > 0].min())
        refs.append(LinearIndex(linear, first, n_bin > 0, int(min_shift)))
    return refs


def _inflate_index(path: Path) -> bytes:
    """A BGZF-compressed index file's bytes (libdeflate, :mod:`._bgzf`); plain gzip also works."""
    from ._bgzf import HEADROOM, _inflate, _parse_blocks

    data = path.read_bytes()
    try:
        blocks, used = _parse_blocks(data, 0, path)
        if blocks and used == len(data):
            batch = _inflate(data, blocks, 0, path)
            return batch.data[HEADROOM:HEADROOM + batch.n].tobytes()
    except FormatError:
        pass
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError(f"{path}: not a readable CSI index ({exc})") from None


def _reg2bin(beg: np.ndarray, end: np.ndarray, min_shift: int, depth: int) -> np.ndarray:
    """``hts_reg2bin`` for arrays: the smallest bin holding ``[beg, end)``."""
    last = end - 1
    out = np.zeros(len(beg), np.int64)
    todo = np.ones(len(beg), bool)
    s = min_shift
    for level in range(depth, 0, -1):
        same = todo & ((beg >> s) == (last >> s))
        out[same] = int(_bin_first(level)) + (beg[same] >> s)
        todo &= ~same
        s += 3
    return out


def _bin_bot(bins: np.ndarray, depth: int) -> np.ndarray:
    """``hts_bin_bot``: each bin's first smallest window."""
    firsts = _bin_first(np.arange(depth + 2))
    level = np.searchsorted(firsts, bins, side="right") - 1
    return (bins - firsts[level]) << (3 * (depth - level))


def _depth_for(lengths, min_shift: int) -> int:
    """Levels below the root so that the root covers the longest reference (as ``sam_index``)."""
    longest = max([0, *lengths]) + 256
    depth, span = 0, 1 << min_shift
    while longest > span:
        depth += 1
        span <<= 3
    return depth


class _Builder:
    """Accumulates records (in file order) into a CSI's bins, chunks and linear index."""

    def __init__(self, path: Path, contigs: tuple, lengths: tuple, min_shift: int):
        self.path, self.contigs, self.min_shift = path, contigs, min_shift
        self.depth = _depth_for(lengths, min_shift)
        n = len(contigs)
        self.linear = [None] * n
        self.meta = np.zeros((n, 4), np.uint64)  # first voffset, end voffset, mapped, unmapped
        self.seen = np.zeros(n, bool)
        self.chunks: list = []    # arrays (tid, bin, beg, end)
        self.open = None          # the run of records still growing: [tid, bin, beg, end]
        self.last = (-1, -1)      # (tid, pos) of the last record, for the order check
        self.records = 0
        self.no_coor = 0

    def add(self, vbeg, vend, tid, beg, end, flag):
        n = len(tid)
        if n == 0:
            return
        tid = tid.astype(np.int64)
        key = np.where(tid < 0, np.iinfo(np.int64).max, tid)
        prev_key = np.concatenate(([self.last[0]], key[:-1]))
        prev_pos = np.concatenate(([self.last[1]], beg[:-1]))
        if (tid >= len(self.contigs)).any():
            i = int(np.flatnonzero(tid >= len(self.contigs))[0])
            raise FormatError(f"{self.path}: record {self.records + i + 1} names reference {tid[i]}, "
                              f"the header has {len(self.contigs)}")
        bad = (key < prev_key) | ((key == prev_key) & (tid >= 0) & (beg < prev_pos))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = "an unplaced record" if tid[i] < 0 else f"{self.contigs[tid[i]]}:{beg[i] + 1}"
            raise FormatError(f"{self.path}: not coordinate-sorted: record {self.records + i + 1} ({where}) "
                              "comes after a later position; run `samtools sort`")
        self.last = (int(key[-1]), int(beg[-1]))
        self.records += n
        placed = tid >= 0
        self.no_coor += int(n - placed.sum())
        if not placed.any():
            return
        tid, vbeg, vend, flag = tid[placed], vbeg[placed], vend[placed], flag[placed]
        beg = np.maximum(beg[placed], 0)
        end = np.maximum(end[placed], beg + 1)
        mapped = (flag & 4) == 0
        bins = _reg2bin(beg, end, self.min_shift, self.depth)
        self._meta(tid, vbeg, vend, mapped)
        self._chunks(tid, bins, vbeg, vend)
        self._linear(tid[mapped], beg[mapped], end[mapped], vbeg[mapped])

    def _meta(self, tid, vbeg, vend, mapped):
        for t in np.unique(tid):
            sel = tid == t
            if not self.seen[t]:
                self.meta[t, 0] = vbeg[sel][0]
                self.seen[t] = True
            self.meta[t, 1] = vend[sel][-1]
            m = int(mapped[sel].sum())
            self.meta[t, 2] += np.uint64(m)
            self.meta[t, 3] += np.uint64(int(sel.sum()) - m)

    def _chunks(self, tid, bins, vbeg, vend):
        key = (tid << 32) | bins
        starts = np.concatenate(([0], np.flatnonzero(key[1:] != key[:-1]) + 1))
        ends = np.concatenate((starts[1:], [len(key)])) - 1
        c_tid, c_bin = tid[starts], bins[starts]
        c_beg, c_end = vbeg[starts].copy(), vend[ends]
        if self.open is not None:
            if self.open[0] == c_tid[0] and self.open[1] == c_bin[0]:
                c_beg[0] = self.open[2]
            else:
                self.chunks.append(np.array([self.open], np.uint64))
        self.open = [int(c_tid[-1]), int(c_bin[-1]), int(c_beg[-1]), int(c_end[-1])]
        if len(starts) > 1:
            self.chunks.append(np.stack([c_tid[:-1].astype(np.uint64), c_bin[:-1].astype(np.uint64),
                                         c_beg[:-1], c_end[:-1]], axis=1))

    def _linear(self, tid, beg, end, vbeg):
        if len(tid) == 0:
            return
        s = self.min_shift
        w0, w1 = beg >> s, (end - 1) >> s
        span = w1 - w0 + 1
        rec = np.repeat(np.arange(len(tid)), span)
        w = w0[rec] + (np.arange(len(rec)) - np.repeat(np.cumsum(span) - span, span))
        t_of = tid[rec]
        for t in np.unique(t_of):
            sel = t_of == t
            ws, rs = w[sel], rec[sel]
            uw, first = np.unique(ws, return_index=True)  # the first record (in file order) over each window
            lin = self.linear[t]
            if lin is None or len(lin) <= uw[-1]:
                grown = np.zeros(max(int(uw[-1]) + 1, 2 * (0 if lin is None else len(lin))), np.uint64)
                if lin is not None:
                    grown[:len(lin)] = lin
                lin = self.linear[t] = grown
            unset = lin[uw] == 0
            lin[uw[unset]] = vbeg[rs[first[unset]]]

    def finish(self) -> bytes:
        """The CSI's uncompressed bytes."""
        if self.open is not None:
            self.chunks.append(np.array([self.open], np.uint64))
        allc = np.concatenate(self.chunks) if self.chunks else np.zeros((0, 4), np.uint64)
        order = np.lexsort((allc[:, 2], allc[:, 1], allc[:, 0]))
        allc = allc[order]
        # htslib's compress_binning: a bin's chunks that meet in one BGZF block become one
        same = np.zeros(len(allc), bool)
        if len(allc) > 1:
            same[1:] = ((allc[1:, 0] == allc[:-1, 0]) & (allc[1:, 1] == allc[:-1, 1])
                        & ((allc[1:, 2] >> np.uint64(16)) <= (allc[:-1, 3] >> np.uint64(16))))
        heads = np.flatnonzero(~same)
        merged = allc[heads].copy()
        if len(allc):
            merged[:, 3] = np.maximum.reduceat(allc[:, 3], heads)
        meta_bin = int(_bin_first(self.depth + 1)) + 1
        out = [struct.pack("<4siii", b"CSI\x01", self.min_shift, self.depth, 0),
               struct.pack("<i", len(self.contigs))]
        bounds = np.searchsorted(merged[:, 0], np.arange(len(self.contigs) + 1).astype(np.uint64))
        for t in range(len(self.contigs)):
            part = merged[bounds[t]:bounds[t + 1]]
            if not self.seen[t]:
                out.append(struct.pack("<i", 0))
                continue
            lin = self.linear[t] if self.linear[t] is not None else np.zeros(0, np.uint64)
            used = np.flatnonzero(lin)
            n_lin = int(used[-1]) + 1 if len(used) else 0
            lin = lin[:n_lin].copy()
            # htslib's update_loff: empty windows before the first read take the first record's
            # offset, later ones the offset before them; a bin's loff is its first window's
            lin[:(used[0] if len(used) else 0)] = self.meta[t, 0]
            lin = np.maximum.accumulate(lin) if len(lin) else lin
            bins = part[:, 1].astype(np.int64)
            ub, start = np.unique(bins, return_index=True)
            n_chunk = np.diff(np.append(start, len(bins)))
            bot = _bin_bot(ub, self.depth)
            loff = np.zeros(len(ub), np.uint64)
            inside = bot < n_lin
            loff[inside] = lin[bot[inside]]
            out.append(struct.pack("<i", len(ub) + 1))
            out.append(_pack_bins(ub, loff, n_chunk, part[:, 2], part[:, 3]))
            out.append(struct.pack("<IQi", meta_bin, 0, 2))
            out.append(self.meta[t].astype("<u8").tobytes())
        out.append(struct.pack("<Q", self.no_coor))
        return b"".join(out)


def _pack_bins(bins, loff, n_chunk, cbeg, cend) -> bytes:
    """Bin records ``bin u32, loff u64, n_chunk i32, (beg u64, end u64) * n_chunk`` as
    32-bit words (every field sits on a 4-byte boundary)."""
    words_per = 4 + 4 * n_chunk
    head = np.concatenate(([0], np.cumsum(words_per)[:-1]))
    words = np.zeros(int(words_per.sum()), "<u4")
    words[head] = bins
    words[head + 1] = loff & np.uint64(0xFFFFFFFF)
    words[head + 2] = loff >> np.uint64(32)
    words[head + 3] = n_chunk
    k = np.arange(len(cbeg))
    owner = np.repeat(np.arange(len(bins)), n_chunk)
    at = head[owner] + 4 + 4 * (k - np.repeat(np.cumsum(n_chunk) - n_chunk, n_chunk))
    lo = np.uint64(0xFFFFFFFF)
    words[at] = cbeg & lo
    words[at + 1] = cbeg >> np.uint64(32)
    words[at + 2] = cend & lo
    words[at + 3] = cend >> np.uint64(32)
    return words.tobytes()


def _first_record(path: Path) -> int:
    """Virtual offset of a BAM's first record (just past the header), via pysam."""
    import pysam

    try:
        with pysam.AlignmentFile(str(path), "rb", check_sq=False) as af:
            return int(af.tell())
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot read BAM header: {exc}") from exc


def build_csi(bam, out=None, *, min_shift: int = FINE_SHIFT, threads: int = 1) -> Path:
    """Write a CSI index of a coordinate-sorted BAM with every bin kept (see the module notes).

    Parameters
    ----------
    bam : str or Path
    out : str or Path, optional
        Default ``<bam>.fine.csi``, which the fast reader prefers while it is not older than
        the BAM (:func:`microchimera.io.alignments.open_alignments`) and which htslib tools
        do not pick up unless told (``samtools view 'BAM##idx##INDEX' REGION``).  Written atomically.
    min_shift : int
        log2 of the smallest bin and linear window, in bp (10 = 1 kb; samtools' default 14).
    threads : int
        Inflating threads.

    Returns
    -------
    Path of the index.

    Raises
    ------
    InputError, FormatError
        A missing, non-BAM, truncated or unsorted file (naming the record).
    """
    from ._bgzf import HEADROOM, BgzfStream, carry_into
    from ._index import SCAN_CORRUPT, SCAN_FULL, scan_records

    if not 8 <= min_shift <= 20:
        raise UsageError(f"min_shift: expected 8..20, found {min_shift}")
    info = open_alignments(bam, require_index=False)
    if info.format != "BAM":
        raise InputError(f"{info.path}: a {info.format} file; `microchimera index` writes CSI indexes of BAM "
                         "files (index a CRAM with `samtools index`)")
    bam = info.path
    out = Path(out) if out is not None else Path(str(bam) + FINE_INDEX_SUFFIX)
    first = _first_record(bam)
    builder = _Builder(bam, info.contigs, info.lengths, min_shift)
    arrays = (np.empty(_SCAN, np.int64), np.empty(_SCAN, np.int64), np.empty(_SCAN, np.int32),
              np.empty(_SCAN, np.int64), np.empty(_SCAN, np.int64), np.empty(_SCAN, np.uint16))
    with BgzfStream(bam, threads=threads) as stream:
        stream.seek(first >> 16)
        batch = stream.next_batch()
        if batch is None:
            raise FormatError(f"{bam}: no data after the header")
        blocks = _Blocks()
        blocks.add(batch, 0)
        gbase, off, end = 0, HEADROOM + (first & 0xFFFF), HEADROOM + batch.n
        while True:
            status, n, off = scan_records(batch.data, off, end, *arrays)
            if n:
                g = gbase + arrays[0][:n] - HEADROOM
                builder.add(blocks.voffset(g), blocks.voffset(g + arrays[1][:n]), arrays[2][:n],
                            arrays[3][:n], arrays[4][:n], arrays[5][:n])
            if status == SCAN_CORRUPT:
                raise FormatError(f"{bam}: malformed BAM record after record {builder.records} "
                                  f"(in the block at byte {blocks.block_of(gbase + off - HEADROOM)})")
            if status == SCAN_FULL:
                continue
            left = batch.data[off:end]
            nxt = stream.next_batch()
            if nxt is None:
                if len(left):
                    raise FormatError(f"{bam}: truncated BAM (file ends inside a record)")
                break
            gnext = gbase + batch.n
            blocks.add(nxt, gnext)  # its blocks as read, before the carried bytes go in front
            off = carry_into(left, nxt)
            gbase = gnext - len(left) - (off - HEADROOM)  # left starts at stream position gnext - len(left)
            batch = nxt
            end = HEADROOM + batch.n
    data = builder.finish()
    import pysam

    with atomic_path(out) as tmp:
        with pysam.BGZFile(str(tmp), "wb") as fh:
            fh.write(data)
    logger.info("%s: %d records, CSI min_shift %d depth %d -> %s", bam, builder.records, min_shift,
                builder.depth, out)
    return out


class _Blocks:
    """Uncompressed stream positions -> virtual offsets, over the last two batches' blocks."""

    def __init__(self):
        self.u = np.zeros(0, np.int64)
        self.c = np.zeros(0, np.int64)

    def add(self, batch, gstart: int) -> None:
        us = np.asarray(batch.ustarts, np.int64)
        sizes = np.diff(np.append(us, batch.n))
        keep = sizes > 0
        u = gstart + us[keep]
        c = np.asarray(batch.coffsets, np.int64)[keep]
        # positions up to the previous batch's end stay mappable (a record may start there)
        prev = self.u[:-1], self.c[:-1]
        self.u = np.concatenate((prev[0][-64:], u, [gstart + batch.n]))
        self.c = np.concatenate((prev[1][-64:], c, [batch.cend]))

    def voffset(self, g: np.ndarray) -> np.ndarray:
        j = np.searchsorted(self.u, g, side="right") - 1
        return (self.c[j].astype(np.uint64) << np.uint64(16)) | (g - self.u[j]).astype(np.uint64)

    def block_of(self, g: int) -> int:
        return int(self.c[max(0, np.searchsorted(self.u, g, side="right") - 1)])
