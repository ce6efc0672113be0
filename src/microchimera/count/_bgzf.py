"""Fast BGZF reading for the counting kernel: block parsing and libdeflate/ISA-L inflation.

pysam's bundled htslib inflates with zlib, which alone costs about twice the BAM decode
floor (see ``PERFORMANCE.md``).  Here compressed BGZF blocks are read in large chunks,
their sizes parsed from the block headers (SAM spec 4.1), and each block's raw DEFLATE
data inflated with libdeflate (the ``deflate`` package; ISA-L from ``isal`` if it is
missing); both release the GIL.  With ``threads >
1`` batches are inflated ahead by a thread pool while the caller runs the kernel on the
previous batch.  Where the reads of a region start comes from the index
(:mod:`.bam_index`).  Dense sites are streamed in whole runs; between sparse ones the reader
jumps (:meth:`BgzfStream.seek`), and a read after a jump is sized to the bytes the caller
expects to need, so that only the blocks that hold reads over the sites are inflated.
"""
from __future__ import annotations

import struct
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError

try:  # libdeflate inflates BAM blocks ~1.8x faster than ISA-L here (benchmarks/README.md)
    from deflate import DeflateError as _InflateError
    from deflate import deflate_decompress as _deflate_decompress

    def _raw_inflate(data, size):
        return _deflate_decompress(data, size)
except ImportError:  # pragma: no cover - isal is a hard dependency, deflate optional
    from isal import isal_zlib

    _InflateError = isal_zlib.error

    def _raw_inflate(data, size):
        return isal_zlib.decompress(data, wbits=-15, bufsize=size)


def _load_libdeflate():
    """libdeflate through ctypes (ctypes calls release the GIL, the ``deflate`` wrapper does
    not, and it inflates straight into the batch array).  The ``deflate`` package's extension
    exports the libdeflate symbols; the system library is the fallback.  None if neither."""
    import ctypes
    import ctypes.util

    candidates = []
    try:
        import deflate._deflate

        candidates.append(deflate._deflate.__file__)
    except ImportError:  # pragma: no cover
        pass
    candidates.append(ctypes.util.find_library("deflate"))
    for path in candidates:
        if not path:
            continue
        try:
            lib = ctypes.CDLL(path)
            alloc, dec = lib.libdeflate_alloc_decompressor, lib.libdeflate_deflate_decompress
        except (OSError, AttributeError):  # pragma: no cover
            continue
        alloc.restype = ctypes.c_void_p
        alloc.argtypes = []
        dec.restype = ctypes.c_int
        dec.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                        ctypes.c_void_p]
        return alloc, dec
    return None  # pragma: no cover


_LIBDEFLATE = _load_libdeflate()
#: One libdeflate decompressor per thread (they are not thread-safe); freed at exit.
_LOCAL = threading.local()

#: Room kept in front of every inflated batch for the unfinished record of the previous one.
HEADROOM = 1 << 16
#: Compressed bytes read per batch (tests make it tiny to cross every boundary).
CHUNK = 1 << 20
#: After a jump: the margin read past the caller's estimate, and the size of the next read
#: (compressed bytes); later reads double up to :data:`CHUNK` while the caller keeps streaming.
JUMP_READ = 1 << 14
_MAGIC = b"\x1f\x8b\x08\x04"


@dataclass
class Batch:
    """Inflated data of consecutive blocks: ``data[HEADROOM:HEADROOM + n]``.

    ``coffsets[i]`` is the compressed file offset of the block whose data starts at
    ``ustarts[i]`` (relative to ``HEADROOM``).
    """

    data: np.ndarray
    n: int
    coffsets: list
    ustarts: list
    cend: int = 0   # compressed offset just after the last block


def _parse_blocks(raw: bytes, base: int, path) -> tuple[list, int]:
    """Split ``raw`` (starting at file offset ``base``) into whole blocks.

    Returns ``([(start, header_len, bsize, isize), ...], consumed)``.
    """
    blocks = []
    o, n = 0, len(raw)
    unpack = struct.unpack_from
    while o + 18 <= n:
        if raw[o:o + 4] != _MAGIC:
            raise FormatError(f"{path}: corrupt BGZF block header at byte {base + o}")
        xlen = unpack("<H", raw, o + 10)[0]
        if o + 12 + xlen > n:
            break
        bsize = -1
        if raw[o + 12:o + 14] == b"BC":  # the usual layout: BC is the first subfield
            bsize = unpack("<H", raw, o + 16)[0] + 1
        else:
            x = o + 12
            while x < o + 12 + xlen:
                slen = unpack("<H", raw, x + 2)[0]
                if raw[x:x + 2] == b"BC":
                    bsize = unpack("<H", raw, x + 4)[0] + 1
                x += 4 + slen
        if bsize < 0:
            raise FormatError(f"{path}: BGZF block without size field at byte {base + o}")
        if o + bsize > n:
            break
        isize = unpack("<I", raw, o + bsize - 4)[0]
        blocks.append((o, 12 + xlen, bsize, isize))
        o += bsize
    return blocks, o


def _inflate(raw: bytes, blocks: list, base: int, path) -> Batch:
    """Inflate ``blocks`` of ``raw`` into one batch array, after :data:`HEADROOM` free bytes."""
    total = sum(b[3] for b in blocks)
    out = np.empty(HEADROOM + total, dtype=np.uint8)
    into = _libdeflate_into(raw, out) if _LIBDEFLATE is not None else _python_into(raw, out)
    u = HEADROOM
    coffsets, ustarts = [], []
    for start, hlen, bsize, isize in blocks:
        coffsets.append(base + start)
        ustarts.append(u - HEADROOM)
        if isize:
            problem = into(start + hlen, bsize - hlen - 8, u, isize)
            if problem:
                raise FormatError(f"{path}: corrupt BGZF block at byte {base + start}: {problem}")
            u += isize
    last = blocks[-1]
    return Batch(out, total, coffsets, ustarts, base + last[0] + last[2])


def _libdeflate_into(raw: bytes, out: np.ndarray):
    """Block inflater by libdeflate through ctypes, straight into ``out``; returns an error text or None."""
    alloc, dec = _LIBDEFLATE
    d = getattr(_LOCAL, "d", None)
    if d is None:
        d = _LOCAL.d = alloc()
        if not d:  # pragma: no cover
            raise MemoryError("libdeflate_alloc_decompressor failed")
    src = np.frombuffer(raw, dtype=np.uint8).ctypes.data
    dst = out.ctypes.data

    def into(offset, size, u, isize):
        # without an actual-size pointer libdeflate fails unless exactly isize bytes come out
        err = dec(d, src + offset, size, dst + u, isize, None)
        if err:
            return f"libdeflate error {err}, or it does not inflate to the {isize} bytes its header says"
        return None

    return into


def _python_into(raw: bytes, out: np.ndarray):
    """Block inflater through the Python wrapper (libdeflate or ISA-L); returns an error text or None."""
    view = memoryview(raw)

    def into(offset, size, u, isize):
        try:
            data = _raw_inflate(view[offset:offset + size], isize)
        except _InflateError as exc:
            return str(exc)
        if len(data) != isize:
            return f"inflates to {len(data)} bytes, header says {isize}"
        out[u:u + isize] = np.frombuffer(data, dtype=np.uint8)
        return None

    return into


def carry_into(left: np.ndarray, nxt: Batch) -> int:
    """Put ``left``, the unfinished record at the end of the previous batch, in front of
    ``nxt``'s data and return the offset where it starts.  It goes in the free
    :data:`HEADROOM` bytes; a record longer than that is concatenated (``nxt``'s ``data``,
    ``n`` and ``ustarts`` then grow by ``len(left)``)."""
    if len(left) > HEADROOM:
        nxt.data = np.concatenate((np.zeros(HEADROOM, np.uint8), left, nxt.data[HEADROOM:HEADROOM + nxt.n]))
        nxt.n = len(left) + nxt.n
        nxt.ustarts = [u + len(left) for u in nxt.ustarts]
        return HEADROOM
    nxt.data[HEADROOM - len(left):HEADROOM] = left
    return HEADROOM - len(left)


class BgzfStream:
    """Sequential reader of inflated BGZF batches from a compressed offset.

    Parameters
    ----------
    path : Path
    threads : int
        Inflating threads; 1 inflates in the caller's thread.
    chunk : int
        Compressed bytes read per batch.
    """

    def __init__(self, path, threads: int = 1, chunk: int | None = None):
        self.path = Path(path)
        self._fh = open(self.path, "rb")
        self.size = self.path.stat().st_size
        self.threads = threads
        self.chunk = CHUNK if chunk is None else chunk
        self._pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
        self._queue: deque = deque()
        self._next = 0          # compressed offset of the next chunk to read
        self._pending = b""     # bytes of an incomplete block carried to the next read
        self._want = self._grow = self.chunk  # compressed bytes of the next read, and of the one after

    def close(self):
        for fut in self._queue:
            fut.cancel()
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def seek(self, coffset: int, until: float | None = None) -> None:
        """Restart reading at a block boundary (drops batches read ahead).

        ``until``: the compressed offset the caller expects to read to (an estimate); the
        first batch then holds the blocks up to about there (and :data:`JUMP_READ` bytes
        more) instead of a whole :data:`CHUNK`, the next one :data:`JUMP_READ` bytes, and
        batches double from there on.
        """
        for fut in self._queue:
            fut.cancel()
        for fut in self._queue:
            if not fut.cancelled():
                fut.result()
        self._queue.clear()
        self._next = coffset
        self._pending = b""
        if until is None:
            self._want = self._grow = self.chunk
        else:
            self._want = int(min(self.chunk, max(0, until - coffset) + JUMP_READ))
            self._grow = min(self.chunk, JUMP_READ)

    def _read_raw(self):
        """Read the next chunk of whole blocks; None at end of file."""
        while True:
            self._fh.seek(self._next)
            more = self._fh.read(self._want)
            self._want, self._grow = self._grow, min(self.chunk, 2 * self._grow)
            raw = self._pending + more if self._pending else more
            base = self._next - len(self._pending)
            if not raw:
                return None
            blocks, used = _parse_blocks(raw, base, self.path)
            if blocks:
                self._next += len(more)
                self._pending = raw[used:]
                return raw, blocks, base
            if not more:
                raise FormatError(f"{self.path}: truncated BGZF block at byte {base}")
            self._next += len(more)
            self._pending = raw

    def next_batch(self) -> Batch | None:
        if self._pool is None:
            got = self._read_raw()
            return None if got is None else _inflate(*got, self.path)
        while len(self._queue) < self.threads + 1:
            got = self._read_raw()
            if got is None:
                break
            self._queue.append(self._pool.submit(_inflate, *got, self.path))
        if not self._queue:
            return None
        return self._queue.popleft().result()
