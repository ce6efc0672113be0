# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled loops of :mod:`microchimera.count.bam_index`: walking raw BAM records for an
index, and reading an index's bins.

:func:`scan_records` reads, for each whole BAM record in a byte buffer (decompressed BGZF
data), the few fields an index needs: where the record starts, its length, reference id,
0-based start, the end of its alignment on the reference and its flag.  The end follows
htslib's ``bam_endpos``: start + the reference length of the CIGAR's M/D/N/=/X operations,
start + 1 for an unmapped read or a read without any such operation.  (A CIGAR too long for
the record, kept in a ``CG`` tag, has the placeholder ``<l_seq>S<reference length>N``, whose
reference length is the real one.)

:func:`csi_bins` reads the bin records of one reference of a CSI index.

BAM record layout: SAM/BAM specification v1, section 4.2; CSI: the CSIv1 specification.
All integers little-endian.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

# Return codes of scan_records.
cpdef enum:
    SCAN_NEED_DATA = 0   # the next record is not whole in the buffer (the returned offset is its start)
    SCAN_FULL = 1        # the output arrays are full
    SCAN_CORRUPT = -2    # a record whose fields contradict its length


cdef inline int64_t _i32(const uint8_t *b, int64_t i) noexcept nogil:
    return <int32_t>(<uint32_t>b[i] | (<uint32_t>b[i + 1] << 8) | (<uint32_t>b[i + 2] << 16)
                     | (<uint32_t>b[i + 3] << 24))


cdef inline int64_t _u32(const uint8_t *b, int64_t i) noexcept nogil:
    return <int64_t>(<uint32_t>b[i] | (<uint32_t>b[i + 1] << 8) | (<uint32_t>b[i + 2] << 16)
                     | (<uint32_t>b[i + 3] << 24))


cdef inline int64_t _u16(const uint8_t *b, int64_t i) noexcept nogil:
    return <int64_t>(b[i] | (b[i + 1] << 8))


def scan_records(const uint8_t[::1] buf, int64_t off, int64_t end,
                 int64_t[::1] start, int64_t[::1] length, int32_t[::1] tid,
                 int64_t[::1] beg, int64_t[::1] endpos, uint16_t[::1] flag):
    """Walk the whole records in ``buf[off:end]``, filling the output arrays from index 0.

    Returns ``(status, n, off)``: a ``SCAN_*`` code, the records read and the offset of the
    first record not read (for :data:`SCAN_CORRUPT`, of the bad record).
    """
    cdef const uint8_t *b = &buf[0]
    cdef int64_t cap = start.shape[0], n = 0, size, l_name, n_cigar, l_seq, p, i, op, ref_len
    cdef int64_t status = SCAN_NEED_DATA
    with nogil:
        while n < cap:
            if off + 4 > end:
                break
            size = _i32(b, off)
            if size < 32:
                status = SCAN_CORRUPT
                break
            if off + 4 + size > end:
                break
            p = off + 4
            l_name = b[p + 8]
            n_cigar = _u16(b, p + 12)
            l_seq = _i32(b, p + 16)
            if l_seq < 0 or l_name < 1 or 32 + l_name + 4 * n_cigar + (l_seq + 1) // 2 + l_seq > size:
                status = SCAN_CORRUPT
                break
            start[n] = off
            length[n] = 4 + size
            tid[n] = <int32_t>_i32(b, p)
            beg[n] = _i32(b, p + 4)
            flag[n] = <uint16_t>_u16(b, p + 14)
            ref_len = 0
            if (flag[n] & 0x4) == 0:
                i = p + 32 + l_name
                for op in range(n_cigar):
                    # M, D, N, =, X consume the reference (op codes 0, 2, 3, 7, 8)
                    if (0x18D >> (b[i] & 0xF)) & 1:
                        ref_len += _u32(b, i) >> 4
                    i += 4
            endpos[n] = beg[n] + (ref_len if ref_len > 0 else 1)
            off += 4 + size
            n += 1
        else:
            status = SCAN_FULL
    return status, n, off


def csi_bins(const uint8_t[::1] raw, int64_t o, int64_t n_bin, uint32_t[::1] bins, uint64_t[::1] loff,
             int64_t[::1] n_chunk, uint64_t[::1] chunk_beg):
    """Read ``n_bin`` CSI bin records from ``raw[o:]``: each bin's id, ``loff``, number of
    chunks and the begin of its first chunk (0 when it has none).

    Returns the offset after the last bin, or -1 if ``raw`` ends inside one.
    """
    cdef const uint8_t *b = &raw[0]
    cdef int64_t size = raw.shape[0], k, m
    cdef bint bad = False
    with nogil:
        for k in range(n_bin):
            if o + 16 > size:
                bad = True
                break
            bins[k] = <uint32_t>_u32(b, o)
            loff[k] = <uint64_t>_u32(b, o + 4) | (<uint64_t>_u32(b, o + 8) << 32)
            m = _i32(b, o + 12)
            o += 16
            if m < 0 or o + 16 * m > size:
                bad = True
                break
            n_chunk[k] = m
            if m > 0:
                chunk_beg[k] = <uint64_t>_u32(b, o) | (<uint64_t>_u32(b, o + 4) << 32)
            else:
                chunk_beg[k] = 0
            o += 16 * m
    return -1 if bad else o
