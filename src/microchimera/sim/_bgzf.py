"""A minimal BGZF/BAM byte writer: raw BAM records in, indexed-ready BAM file out.

BGZF (SAM spec section 4.1) is a series of gzip members, each holding at most 64 KiB of
input, with an extra ``BC`` subfield giving the member size; a file ends with a fixed
28-byte empty member.  Members are deflated with ISA-L (``isal``), level 1, on a small
thread pool (ISA-L releases the GIL), in the order they were submitted.
"""
from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

from isal import isal_zlib

#: Input bytes per BGZF member (as htslib: 0xff00, leaving room for incompressible data).
BLOCK_INPUT = 0xFF00
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def compress_block(data) -> bytes:
    """One BGZF member holding ``data`` (at most ``BLOCK_INPUT`` bytes)."""
    cdata = isal_zlib.compress(data, 1, -15)
    if len(cdata) > 0xFFFF - 26:  # incompressible: store
        cdata = isal_zlib.compress(data, 0, -15)
    header = struct.pack("<4BI2BH2BHH", 0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 66, 67, 2, len(cdata) + 25)
    return header + cdata + struct.pack("<II", isal_zlib.crc32(data) & 0xFFFFFFFF, len(data))


def compress_blocks(data) -> bytes:
    """BGZF members for ``data`` (any length), concatenated."""
    mv = memoryview(data)
    return b"".join(compress_block(mv[i:i + BLOCK_INPUT]) for i in range(0, len(mv), BLOCK_INPUT))


def bam_header_bytes(text: str, contigs) -> bytes:
    """Uncompressed BAM header: magic, SAM text, reference names and lengths."""
    raw = text.encode()
    parts = [b"BAM\x01", struct.pack("<i", len(raw)), raw, struct.pack("<i", len(contigs))]
    for name, length in contigs:
        n = name.encode() + b"\x00"
        parts += [struct.pack("<i", len(n)), n, struct.pack("<i", length)]
    return b"".join(parts)


class BgzfWriter:
    """Write BGZF members to an open binary file, compressing on ``threads`` threads.

    ``write(data)`` queues a buffer (cut into members at ``BLOCK_INPUT`` boundaries; a BAM
    record may span two members, which the format allows).  ``close()`` drains the queue
    and appends the EOF member.  At most ``2 * threads`` buffers are in flight, so memory
    stays bounded by the chunk size, not the file size.
    """

    def __init__(self, fh, threads: int = 2):
        self._fh = fh
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads))
        self._pending: list = []
        self._max_pending = 2 * max(1, threads)

    def write(self, data) -> None:
        if len(data) == 0:
            return
        self._pending.append(self._pool.submit(compress_blocks, data))
        while len(self._pending) > self._max_pending:
            self._fh.write(self._pending.pop(0).result())

    def close(self) -> None:
        try:
            for fut in self._pending:
                self._fh.write(fut.result())
            self._pending.clear()
            self._fh.write(EOF_BLOCK)
        finally:
            self._pool.shutdown(wait=True)
