# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled inner loop of allele counting: raw BAM records in, per-site tallies out.

Arrays only (no pysam objects).  One call, :func:`count_records`, walks the BAM records in a
byte buffer (decompressed BGZF data), applies the read filters, finds the bases each read
shows at the SNP sites it covers and tallies them per fragment: the two mates of a pair
whose alignments overlap are held back until both are seen, then counted once per site.
All state lives in arrays owned by :class:`microchimera.count.counting._KernelState`, so the
loop can stop at any record boundary (more data needed, span finished, a buffer to grow)
and resume on the next call.  ``tests/reference.py`` is the slow, obviously-correct
per-site version; the test suite compares the two.

Cython, compiled when the package is installed: a numba kernel cost about 1.5 s of import
and cache loading per process, half the BAM decode floor of a 200x panel
(``benchmarks/README.md``).  Each entry point takes the arrays once, turns them into raw
pointers (:c:type:`Ctx`) and runs the whole loop without the GIL.

Layouts (``S`` = n_sites, sorted by BAM contig id then position)

``params`` int64 (P_*):  filters and the stop point of the current span.
``state``  int64 (ST_*): cursor, counters and statistics.
``counts`` uint32 (6, S): rows ref_fwd, ref_rev, alt_fwd, alt_rev, other_fwd, other_rev.
Pending reads ("entries", capacity E, up to K site observations each), a hash table
(H = 4E slots, a power of two) over entry keys and a min-heap (capacity 2E) keyed by the
mate position.  Fragment rows (capacity C) are written for fragments showing two or more sites.

BAM record layout: SAM/BAM specification v1, section 4.2.  All integers little-endian.
"""
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t

import numpy as np

# Return codes of count_records.
cpdef enum:
    NEED_DATA = 0      # buffer exhausted (the returned offset is the first unfinished record)
    SPAN_DONE = 1      # reached a record past the stop point (or the unmapped tail)
    GROW_K = 2         # a read shows more sites than an entry can hold
    GROW_E = 3         # no free pending entry
    DRAIN = 4          # fragment output buffer nearly full
    NOT_SORTED = -1
    CORRUPT = -2
    UMI_MIXED = -3     # --umi: a UMI of another length than the first one read
    UMI_NOT_DUPLEX = -4  # --duplex: a UMI without the two halves (or /A, /B) of a duplex molecule

# params
cpdef enum:
    P_MIN_MAPQ = 0
    P_MIN_BASEQ = 1
    P_PROPER = 2
    P_FRAGMENTS = 3
    P_STOP_TID = 4
    P_STOP_POS = 5
    P_MATE_QDIFF = 6
    P_UMI = 7          # 0 off; UMI_* below: where each read's UMI is read
    P_UMI_TAG = 8      # the tag's two characters, first | second << 8
    P_DUPLEX = 9       # 1: duplex molecules (canonical UMI halves, strand A/B)
    N_PARAMS = 10

# P_UMI
cpdef enum:
    UMI_OFF = 0
    UMI_TAG = 1        # a string tag of bases (RX): ``ACGT`` or, duplex, ``ACGT-TTGA`` (or ``+``)
    UMI_NAME = 2       # the read name's suffix after its last ``_`` or ``:`` (UMI-tools extract, bcl-convert)
    UMI_MI = 3         # a molecule id tag (MI, UMI-tools' UG): an integer, or ``123/A`` ``123/B`` (fgbio)

# state
cpdef enum:
    ST_TID = 0
    ST_POS = 1
    ST_LO = 2
    ST_HI = 3
    ST_FRAG_FILL = 4
    ST_FRAG_ID = 5
    ST_LIVE = 6
    ST_HEAP = 7
    ST_UID = 8
    ST_HUSED = 9
    ST_FREE = 10
    ST_READS = 11
    ST_SKIP_FLAG = 12
    ST_SKIP_MAPQ = 13
    ST_SKIP_PROPER = 14
    ST_USED = 15
    ST_MERGED = 16
    ST_CONFLICT = 17
    ST_ORPHAN_FLUSH = 18
    ST_UMI_MISSING = 19   # reads over a site without the UMI tag (or name suffix): not counted
    ST_UMI_INVALID = 20   # reads whose UMI has a base other than A/C/G/T (N), or is too long: not counted
    ST_UMI_LEN = 21       # the UMI length (bases) of the first read with one
    ST_UMI_OTHER = 22     # with UMI_MIXED: the other length
    ST_ERR_POS = 23       # with UMI_MIXED / UMI_NOT_DUPLEX: position (0-based) of the offending read
    N_STATE = 24

# Longest UMI (bases, both halves of a duplex UMI together): 2 bits a base, the length above.
cpdef enum:
    MAX_UMI = 28

# Flags that exclude a read: unmapped 0x4, secondary 0x100, QC fail 0x200, duplicate 0x400,
# supplementary 0x800.
cpdef enum:
    SKIP_FLAGS = 0x4 | 0x100 | 0x200 | 0x400 | 0x800

cdef int64_t FLUSH_ALL = (<int64_t>1) << 62

# 4-bit BAM base code -> 0..3 for A, C, G, T; 4 for anything else (N, IUPAC, '=').
cdef uint8_t NT16_TO_CODE[16]
NT16_TO_CODE[:] = [4, 0, 1, 4, 2, 4, 4, 4, 3, 4, 4, 4, 4, 4, 4, 4]


ctypedef struct Ctx:
    int64_t *params
    int64_t *state
    const int64_t *tid_start
    int64_t n_tid
    const int64_t *site_pos
    const uint8_t *site_ref
    const uint8_t *site_alt
    uint32_t *counts          # (6, S) row-major
    int64_t n_sites
    int64_t *e_key
    int64_t *e_pos
    int64_t *e_mpos
    int64_t *e_uid
    int64_t *e_flag
    int64_t *e_nobs
    int64_t *e_site           # (E, K) row-major
    uint8_t *e_base
    uint8_t *e_qual
    int64_t n_ent
    int64_t K
    int64_t *free
    int64_t *h_slot
    int64_t h_mask
    int64_t *hp_key
    int64_t *hp_ent
    int64_t *hp_uid
    int64_t hp_cap
    int64_t *s_site
    uint8_t *s_base
    uint8_t *s_qual
    int64_t *m_site
    uint8_t *m_base
    uint8_t *m_qual
    int64_t *m_rev
    uint8_t *m_mates
    int64_t *f_id
    int64_t *f_site
    int8_t *f_allele
    uint8_t *f_qual
    int64_t *f_rev
    uint8_t *f_mates
    int64_t f_cap
    int64_t *e_umi            # (E,) UMI code of each pending read
    int64_t *f_lkey           # (C,) fragment rows, UMI mode: contig << 32 | leftmost position of the pair
    int64_t *f_rkey           # (C,) mate (rightmost) position << 2 | paired << 1 | strand (read 1 reverse / B)
    int64_t *f_umi            # (C,) UMI code (length << 56 | 2-bit bases) or molecule id
    int64_t cur_lkey          # the family coordinates of the fragment being committed (UMI mode)
    int64_t cur_rkey
    int64_t cur_umi


# ----------------------------------------------------------------------------- helpers
cdef inline int64_t _i32(const uint8_t *b, int64_t i) noexcept nogil:
    return <int32_t>(<uint32_t>b[i] | (<uint32_t>b[i + 1] << 8) | (<uint32_t>b[i + 2] << 16)
                     | (<uint32_t>b[i + 3] << 24))


cdef inline int64_t _u32(const uint8_t *b, int64_t i) noexcept nogil:
    return (<int64_t>b[i] | (<int64_t>b[i + 1] << 8) | (<int64_t>b[i + 2] << 16)
            | (<int64_t>b[i + 3] << 24))


cdef inline int64_t _u16(const uint8_t *b, int64_t i) noexcept nogil:
    return <int64_t>b[i] | (<int64_t>b[i + 1] << 8)


cdef inline int64_t _name_key(const uint8_t *b, int64_t start, int64_t length) noexcept nogil:
    """63-bit key of a read name: two 32-bit FNV-1a hashes."""
    cdef int64_t h1 = 2166136261LL
    cdef int64_t h2 = 2166136261LL ^ 0x5BD1E995LL
    cdef int64_t i, c
    for i in range(start, start + length):
        c = b[i]
        h1 = ((h1 ^ c) * 16777619) & 0xFFFFFFFFLL
        h2 = ((h2 ^ c) * 16777213) & 0xFFFFFFFFLL
    return ((h1 & 0x7FFFFFFF) << 32) | h2


# ----------------------------------------------------------------------------- UMIs
cdef inline int64_t _umi_bases(Ctx *c, const uint8_t *b, int64_t start, int64_t stop, int64_t r1rev) noexcept nogil:
    """Code of a UMI of bases ``b[start:stop]``: ``strand << 62 | length << 56 | 2-bit bases``;
    -2 invalid (a base not A/C/G/T, empty, longer than MAX_UMI), -3 another length than the
    first UMI read, -4 (duplex) not two halves.  A duplex UMI of strand B (read 1 reverse) has
    its halves swapped, so both strands of a molecule carry the same code."""
    cdef int64_t code = 0, n = 0, half = -1, i, ch, base, m
    for i in range(start, stop):
        ch = b[i] & 0xDF  # upper case
        if ch == 65:
            base = 0
        elif ch == 67:
            base = 1
        elif ch == 71:
            base = 2
        elif ch == 84:
            base = 3
        elif (b[i] == 45 or b[i] == 43) and half < 0:  # '-' or '+': the halves of a duplex UMI
            half = n
            continue
        else:
            return -2
        if n == MAX_UMI:
            return -2
        code = (code << 2) | base
        n += 1
    if n == 0:
        return -2
    if c.params[P_DUPLEX] != 0:
        if half <= 0 or half == n:
            return -4
        if r1rev:
            m = n - half
            code = ((code & ((1LL << (2 * m)) - 1)) << (2 * half)) | (code >> (2 * m))
    if c.state[ST_UMI_LEN] == 0:
        c.state[ST_UMI_LEN] = n
    elif c.state[ST_UMI_LEN] != n:
        c.state[ST_UMI_OTHER] = n
        return -3
    return (r1rev << 62) | (n << 56) | code


cdef inline int64_t _molecule_id(Ctx *c, const uint8_t *b, int64_t start, int64_t stop, int64_t r1rev) noexcept nogil:
    """Code of a molecule id string ``123``, ``123/A`` or ``123/B`` (strand B: 1)."""
    cdef int64_t v = 0, i = start, strand = r1rev
    while i < stop and 48 <= b[i] <= 57:
        v = v * 10 + (b[i] - 48)
        if v >= (1LL << 56):
            return -2
        i += 1
    if i == start:
        return -2
    if i < stop:
        if b[i] != 47 or i + 2 != stop or (b[i + 1] != 65 and b[i + 1] != 66):  # '/A' or '/B'
            return -2
        strand = 1 if b[i + 1] == 66 else 0
    elif c.params[P_DUPLEX] != 0:
        return -4
    return (strand << 62) | v


cdef inline int64_t _tag_size(const uint8_t *b, int64_t p, int64_t end) noexcept nogil:
    """Bytes of the aux field at ``p`` (tag, type and value); -1 if malformed."""
    cdef uint8_t t = b[p + 2]
    cdef int64_t q, n, size
    if t == 65 or t == 99 or t == 67:  # A c C
        return 4
    if t == 115 or t == 83:  # s S
        return 5
    if t == 105 or t == 73 or t == 102:  # i I f
        return 7
    if t == 90 or t == 72:  # Z H
        q = p + 3
        while q < end and b[q] != 0:
            q += 1
        return q + 1 - p if q < end else -1
    if t == 66 and p + 8 <= end:  # B: subtype, count, values
        n = _u32(b, p + 4)
        t = b[p + 3]
        size = 1 if (t == 99 or t == 67) else 2 if (t == 115 or t == 83) else 4
        return 8 + n * size
    return -1


cdef int64_t _read_umi(Ctx *c, const uint8_t *b, int64_t r, int64_t l_name, int64_t aux, int64_t end,
                       int64_t flag) noexcept nogil:
    """The UMI code of the read at ``r`` (see :func:`_umi_bases`, :func:`_molecule_id`);
    -1 when it has none."""
    cdef int64_t r1rev = ((flag & 0x10) != 0) if ((flag & 0x40) != 0 or (flag & 0x1) == 0) else ((flag & 0x20) != 0)
    cdef int64_t mode = c.params[P_UMI], t0 = c.params[P_UMI_TAG] & 255, t1 = c.params[P_UMI_TAG] >> 8
    cdef int64_t p, q, size, v
    cdef uint8_t t
    if mode == UMI_NAME:
        q = r + 32 + l_name - 1  # the name's NUL
        p = q - 1
        while p >= r + 32 and b[p] != 95 and b[p] != 58:  # '_' ':'
            p -= 1
        if p < r + 32:
            return -1
        return _umi_bases(c, b, p + 1, q, r1rev)
    p = aux
    while p + 3 < end:
        t = b[p + 2]
        if b[p] == t0 and b[p + 1] == t1:
            if t == 90:
                q = p + 3
                while q < end and b[q] != 0:
                    q += 1
                if mode == UMI_TAG:
                    return _umi_bases(c, b, p + 3, q, r1rev)
                return _molecule_id(c, b, p + 3, q, r1rev)
            if mode == UMI_MI and c.params[P_DUPLEX] == 0:
                if t == 99:
                    v = <int8_t>b[p + 3]
                elif t == 67:
                    v = b[p + 3]
                elif t == 115:
                    v = <int64_t>(<short>_u16(b, p + 3))
                elif t == 83:
                    v = _u16(b, p + 3)
                elif t == 105:
                    v = _i32(b, p + 3)
                elif t == 73:
                    v = _u32(b, p + 3)
                else:
                    return -2
                return (r1rev << 62) | v if v >= 0 else -2
            return -4 if mode == UMI_MI else -2
        size = _tag_size(b, p, end)
        if size < 0:
            return -1
        p += size
    return -1


cdef inline void _set_family(Ctx *c, int64_t tid, int64_t pos, int64_t mpos, bint paired, int64_t umi) noexcept nogil:
    """Family coordinates of the fragment about to be committed (UMI mode): the pair's
    leftmost and rightmost alignment starts, whether it is a pair, the strand (read 1 reverse,
    or the B strand of a duplex molecule) and the UMI code."""
    cdef int64_t left = pos, right = pos
    if paired:
        left = pos if pos <= mpos else mpos
        right = mpos if pos <= mpos else pos
    c.cur_lkey = (tid << 32) | left
    c.cur_rkey = (right << 2) | (<int64_t>paired << 1) | ((umi >> 62) & 1)
    c.cur_umi = umi & ((1LL << 62) - 1)


# ----------------------------------------------------------------------------- heap
cdef inline void _heap_set(Ctx *c, int64_t i, int64_t key, int64_t ent, int64_t uid) noexcept nogil:
    c.hp_key[i] = key
    c.hp_ent[i] = ent
    c.hp_uid[i] = uid


cdef inline void _heap_push(Ctx *c, int64_t key, int64_t ent, int64_t uid) noexcept nogil:
    cdef int64_t i = c.state[ST_HEAP]
    cdef int64_t parent
    c.state[ST_HEAP] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if c.hp_key[parent] <= key:
            break
        _heap_set(c, i, c.hp_key[parent], c.hp_ent[parent], c.hp_uid[parent])
        i = parent
    _heap_set(c, i, key, ent, uid)


cdef inline void _heap_pop(Ctx *c) noexcept nogil:
    cdef int64_t n = c.state[ST_HEAP] - 1
    c.state[ST_HEAP] = n
    cdef int64_t key = c.hp_key[n], ent = c.hp_ent[n], uid = c.hp_uid[n]
    cdef int64_t i = 0, child
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and c.hp_key[child + 1] < c.hp_key[child]:
            child += 1
        if c.hp_key[child] >= key:
            break
        _heap_set(c, i, c.hp_key[child], c.hp_ent[child], c.hp_uid[child])
        i = child
    _heap_set(c, i, key, ent, uid)


cdef void _heap_compact(Ctx *c) noexcept nogil:
    """Drop heap items whose entry was already resolved, then re-heapify."""
    cdef int64_t n = c.state[ST_HEAP], keep = 0, i
    for i in range(n):
        if c.e_uid[c.hp_ent[i]] == c.hp_uid[i]:
            _heap_set(c, keep, c.hp_key[i], c.hp_ent[i], c.hp_uid[i])
            keep += 1
    c.state[ST_HEAP] = 0
    for i in range(keep):
        _heap_push(c, c.hp_key[i], c.hp_ent[i], c.hp_uid[i])


# ----------------------------------------------------------------------------- hash table
cdef void _rebuild_hash(Ctx *c) noexcept nogil:
    cdef int64_t h, ent, used = 0
    for h in range(c.h_mask + 1):
        c.h_slot[h] = -1
    for ent in range(c.n_ent):
        if c.e_uid[ent] >= 0:
            h = c.e_key[ent] & c.h_mask
            while c.h_slot[h] != -1:
                h = (h + 1) & c.h_mask
            c.h_slot[h] = ent
            used += 1
    c.state[ST_HUSED] = used


cdef inline void _hash_remove(Ctx *c, int64_t ent) noexcept nogil:
    cdef int64_t h = c.e_key[ent] & c.h_mask
    while c.h_slot[h] != ent:
        h = (h + 1) & c.h_mask
    c.h_slot[h] = -2  # tombstone


# ----------------------------------------------------------------------------- counting
cdef inline int64_t _allele(Ctx *c, int64_t s, uint8_t b) noexcept nogil:
    if b == c.site_ref[s]:
        return 0
    if b == c.site_alt[s]:
        return 1
    return 2


cdef inline void _commit(Ctx *c, int64_t n) noexcept nogil:
    """Tally one fragment's observations (``m_*[:n]``); write fragment rows if it shows >= 2 sites."""
    cdef int64_t i, s, allele, fid, k
    if c.params[P_UMI] != UMI_OFF:
        # UMI mode: no tally here; every fragment's rows (bases, not alleles) go out to be
        # grouped into molecules, with the family coordinates and UMI.
        fid = c.state[ST_FRAG_ID]
        c.state[ST_FRAG_ID] = fid + 1
        k = c.state[ST_FRAG_FILL]
        for i in range(n):
            c.f_id[k] = fid
            c.f_site[k] = c.m_site[i]
            c.f_allele[k] = <int8_t>c.m_base[i]
            c.f_qual[k] = c.m_qual[i]
            c.f_rev[k] = c.m_rev[i]
            c.f_mates[k] = c.m_mates[i]
            c.f_lkey[k] = c.cur_lkey
            c.f_rkey[k] = c.cur_rkey
            c.f_umi[k] = c.cur_umi
            k += 1
        c.state[ST_FRAG_FILL] = k
        c.state[ST_USED] += 1
        return
    for i in range(n):
        s = c.m_site[i]
        allele = _allele(c, s, c.m_base[i])
        c.counts[(2 * allele + c.m_rev[i]) * c.n_sites + s] += 1
    if c.params[P_FRAGMENTS] != 0 and n >= 2:
        fid = c.state[ST_FRAG_ID]
        c.state[ST_FRAG_ID] = fid + 1
        k = c.state[ST_FRAG_FILL]
        for i in range(n):
            s = c.m_site[i]
            c.f_id[k] = fid
            c.f_site[k] = s
            c.f_allele[k] = <int8_t>_allele(c, s, c.m_base[i])
            c.f_qual[k] = c.m_qual[i]
            c.f_rev[k] = c.m_rev[i]
            c.f_mates[k] = c.m_mates[i]
            k += 1
        c.state[ST_FRAG_FILL] = k
    c.state[ST_USED] += 1


cdef inline int64_t _merge(Ctx *c, int64_t ent, int64_t n_b, int64_t flag_b) noexcept nogil:
    """Merge the observations of two mates (both sorted by site) into one fragment (``m_*``).

    Rule at a site both mates show (after the base-quality filter): same base -> one count,
    from the mate with the higher quality (ties: first-in-pair); different bases -> the
    higher-quality base if it beats the other by >= P_MATE_QDIFF, else no count (a
    conflict).  Returns the number of merged observations.
    """
    cdef int64_t flag_a = c.e_flag[ent]
    cdef int64_t rev_a = 1 if (flag_a & 0x10) != 0 else 0
    cdef int64_t rev_b = 1 if (flag_b & 0x10) != 0 else 0
    cdef bint a_first = (flag_a & 0x40) != 0 or (flag_b & 0x40) == 0
    cdef int64_t qdiff = c.params[P_MATE_QDIFF]
    cdef int64_t n_a = c.e_nobs[ent]
    cdef int64_t *a_site = c.e_site + ent * c.K
    cdef uint8_t *a_base = c.e_base + ent * c.K
    cdef uint8_t *a_qual = c.e_qual + ent * c.K
    cdef int64_t i = 0, j = 0, n = 0, shared = 0, qa, qb, mates
    cdef bint take_a
    while i < n_a or j < n_b:
        if j >= n_b or (i < n_a and a_site[i] < c.s_site[j]):
            c.m_site[n] = a_site[i]
            c.m_base[n] = a_base[i]
            c.m_qual[n] = a_qual[i]
            c.m_rev[n] = rev_a
            c.m_mates[n] = 1
            n += 1
            i += 1
        elif i >= n_a or c.s_site[j] < a_site[i]:
            c.m_site[n] = c.s_site[j]
            c.m_base[n] = c.s_base[j]
            c.m_qual[n] = c.s_qual[j]
            c.m_rev[n] = rev_b
            c.m_mates[n] = 1
            n += 1
            j += 1
        else:
            shared += 1
            qa = a_qual[i]
            qb = c.s_qual[j]
            take_a = qa > qb or (qa == qb and a_first)
            if a_base[i] == c.s_base[j]:
                mates = 2
            else:
                mates = 1
                if (qa - qb if qa >= qb else qb - qa) < qdiff:
                    c.state[ST_CONFLICT] += 1
                    i += 1
                    j += 1
                    continue
            c.m_site[n] = a_site[i]
            c.m_mates[n] = <uint8_t>mates
            if take_a:
                c.m_base[n] = a_base[i]
                c.m_qual[n] = a_qual[i]
                c.m_rev[n] = rev_a
            else:
                c.m_base[n] = c.s_base[j]
                c.m_qual[n] = c.s_qual[j]
                c.m_rev[n] = rev_b
            n += 1
            i += 1
            j += 1
    if shared > 0:
        c.state[ST_MERGED] += 1
    return n


cdef inline void _release(Ctx *c, int64_t ent) noexcept nogil:
    c.e_uid[ent] = -1
    c.free[c.state[ST_FREE]] = ent
    c.state[ST_FREE] += 1
    c.state[ST_LIVE] -= 1


cdef inline void _single(Ctx *c, int64_t n, int64_t rev, const int64_t *site, const uint8_t *base,
                         const uint8_t *qual) noexcept nogil:
    """Count one read's observations alone (no mate to merge with)."""
    cdef int64_t i
    for i in range(n):
        c.m_site[i] = site[i]
        c.m_base[i] = base[i]
        c.m_qual[i] = qual[i]
        c.m_rev[i] = rev
        c.m_mates[i] = 1
    _commit(c, n)


cdef bint _flush(Ctx *c, int64_t limit) noexcept nogil:
    """Count alone every pending read whose mate position is < ``limit`` (the mate can no
    longer arrive: the stream is past it).  Returns True if fragment output space ran out."""
    cdef bint frag_on = c.params[P_FRAGMENTS] != 0
    cdef int64_t ent, uid
    while c.state[ST_HEAP] > 0 and c.hp_key[0] < limit:
        if frag_on and c.state[ST_FRAG_FILL] + c.K > c.f_cap:
            return True
        ent = c.hp_ent[0]
        uid = c.hp_uid[0]
        _heap_pop(c)
        if c.e_uid[ent] == uid:
            _set_family(c, c.state[ST_TID], c.e_pos[ent], c.e_mpos[ent], True, c.e_umi[ent])
            _single(c, c.e_nobs[ent], 1 if (c.e_flag[ent] & 0x10) != 0 else 0,
                    c.e_site + ent * c.K, c.e_base + ent * c.K, c.e_qual + ent * c.K)
            _hash_remove(c, ent)
            _release(c, ent)
            c.state[ST_ORPHAN_FLUSH] += 1
    return False


cdef int64_t _hold(Ctx *c, int64_t key, int64_t pos, int64_t mpos, int64_t flag, int64_t nobs,
                   int64_t umi) noexcept nogil:
    """Keep a read pending until its mate arrives; GROW_E if no entry is free, else NEED_DATA."""
    cdef int64_t ent, uid, h, i
    if c.state[ST_FREE] == 0:
        return GROW_E
    if c.state[ST_HEAP] == c.hp_cap:
        _heap_compact(c)
    if 2 * (c.state[ST_HUSED] + 1) > c.h_mask + 1:
        _rebuild_hash(c)
    c.state[ST_FREE] -= 1
    ent = c.free[c.state[ST_FREE]]
    uid = c.state[ST_UID]
    c.state[ST_UID] = uid + 1
    c.e_key[ent] = key
    c.e_pos[ent] = pos
    c.e_mpos[ent] = mpos
    c.e_uid[ent] = uid
    c.e_flag[ent] = flag
    c.e_nobs[ent] = nobs
    c.e_umi[ent] = umi
    for i in range(nobs):
        c.e_site[ent * c.K + i] = c.s_site[i]
        c.e_base[ent * c.K + i] = c.s_base[i]
        c.e_qual[ent * c.K + i] = c.s_qual[i]
    h = key & c.h_mask
    while c.h_slot[h] >= 0:
        h = (h + 1) & c.h_mask
    if c.h_slot[h] == -1:
        c.state[ST_HUSED] += 1
    c.h_slot[h] = ent
    c.state[ST_LIVE] += 1
    _heap_push(c, mpos, ent, uid)
    return NEED_DATA


cdef inline bint _mate_may_show(Ctx *c, int64_t lo, int64_t hi, int64_t mpos, int64_t pos, int64_t tlen) noexcept nogil:
    """Whether a site lies in the mate's possible span ``[mpos, pos + tlen)`` (this read is the
    leftmost, ``tlen`` > 0; unknown span: True).  Sites ``lo..hi`` start at the read's position."""
    cdef int64_t k = lo
    if tlen <= 0:
        return True
    while k < hi and c.site_pos[k] < mpos:
        k += 1
    return k < hi and c.site_pos[k] < pos + tlen


cdef int64_t _records(Ctx *c, const uint8_t *buf, int64_t *offp, int64_t end) noexcept nogil:
    """The main loop of :func:`count_records`; ``*offp`` is advanced record by record."""
    cdef int64_t off = offp[0]
    cdef int64_t K = c.K
    cdef int64_t min_mapq = c.params[P_MIN_MAPQ], min_bq = c.params[P_MIN_BASEQ]
    cdef bint frag_on = c.params[P_FRAGMENTS] != 0
    cdef int64_t block, r, tid, pos, lo, hi, next_off, l_name, mapq, n_cig, flag, l_seq
    cdef int64_t cig, seq, qual, ref, qp, j, nobs, cc, v, op, length, stop, q, nt, code, bq
    cdef int64_t mtid, mpos, key, h, found, ent, n, status, umi = 0
    cdef bint umi_on = c.params[P_UMI] != UMI_OFF
    # UMI mode keeps duplicates: the reads of a molecule's family are its PCR duplicates.
    cdef int64_t skip_flags = (SKIP_FLAGS & ~0x400) if umi_on else SKIP_FLAGS
    while off + 4 <= end:
        offp[0] = off
        block = _i32(buf, off)
        if block < 32:
            return CORRUPT
        if off + 4 + block > end:
            return NEED_DATA
        r = off + 4
        tid = _i32(buf, r)
        pos = _i32(buf, r + 4)
        if tid < 0 or tid > c.params[P_STOP_TID] or (tid == c.params[P_STOP_TID] and pos > c.params[P_STOP_POS]):
            return SPAN_DONE
        if tid >= c.n_tid:
            return CORRUPT
        # ---- new contig or position: flush pending reads whose mate can no longer come
        if tid != c.state[ST_TID]:
            if tid < c.state[ST_TID]:
                return NOT_SORTED
            if _flush(c, FLUSH_ALL):
                return DRAIN
            c.state[ST_TID] = tid
            c.state[ST_POS] = -1
            c.state[ST_LO] = c.tid_start[tid]
            c.state[ST_HI] = c.tid_start[tid + 1]
        elif pos < c.state[ST_POS]:
            return NOT_SORTED
        if c.state[ST_HEAP] > 0 and c.hp_key[0] < pos:
            if _flush(c, pos):
                return DRAIN
        c.state[ST_POS] = pos
        lo = c.state[ST_LO]
        hi = c.state[ST_HI]
        while lo < hi and c.site_pos[lo] < pos:
            lo += 1
        c.state[ST_LO] = lo
        if frag_on and c.state[ST_FRAG_FILL] + 2 * K > c.f_cap:
            return DRAIN
        # ---- filters
        next_off = off + 4 + block
        c.state[ST_READS] += 1
        l_name = buf[r + 8]
        mapq = buf[r + 9]
        n_cig = _u16(buf, r + 12)
        flag = _u16(buf, r + 14)
        l_seq = _i32(buf, r + 16)
        if (flag & skip_flags) != 0:
            c.state[ST_SKIP_FLAG] += 1
            off = next_off
            continue
        if mapq < min_mapq:
            c.state[ST_SKIP_MAPQ] += 1
            off = next_off
            continue
        if c.params[P_PROPER] != 0 and (flag & 0x2) == 0:
            c.state[ST_SKIP_PROPER] += 1
            off = next_off
            continue
        if lo >= hi or n_cig == 0 or l_seq <= 0:
            off = next_off
            continue
        cig = r + 32 + l_name
        seq = cig + 4 * n_cig
        qual = seq + (l_seq + 1) // 2
        if qual + l_seq > next_off:
            return CORRUPT
        # ---- bases at the sites this read covers
        ref = pos
        qp = 0
        j = lo
        nobs = 0
        for cc in range(n_cig):
            v = _u32(buf, cig + 4 * cc)
            op = v & 15
            length = v >> 4
            if op == 0 or op == 7 or op == 8:  # M, =, X: query and reference
                stop = ref + length
                while j < hi and c.site_pos[j] < stop:
                    q = qp + c.site_pos[j] - ref
                    if q < l_seq:  # past the end only in a corrupt record, caught below
                        nt = buf[seq + (q >> 1)]
                        nt = (nt >> 4) if (q & 1) == 0 else (nt & 15)
                        code = NT16_TO_CODE[nt]
                        bq = buf[qual + q]
                        if code < 4 and bq >= min_bq and bq != 255:
                            if nobs == K:
                                return GROW_K
                            c.s_site[nobs] = j
                            c.s_base[nobs] = <uint8_t>code
                            c.s_qual[nobs] = <uint8_t>bq
                            nobs += 1
                    j += 1
                ref = stop
                qp += length
            elif op == 2 or op == 3:  # D, N: reference only; sites inside show no base
                stop = ref + length
                while j < hi and c.site_pos[j] < stop:
                    j += 1
                ref = stop
            elif op == 1 or op == 4:  # I, S: query only
                qp += length
        if qp > l_seq:
            return CORRUPT
        if nobs == 0:
            # Nothing to count; a pending mate is flushed alone, which is the same result.
            off = next_off
            continue
        if umi_on:
            umi = _read_umi(c, buf, r, l_name, qual + l_seq, next_off, flag)
            if umi < 0:
                if umi == -1:
                    c.state[ST_UMI_MISSING] += 1
                elif umi == -2:
                    c.state[ST_UMI_INVALID] += 1
                else:
                    c.state[ST_ERR_POS] = pos
                    return UMI_MIXED if umi == -3 else UMI_NOT_DUPLEX
                off = next_off
                continue
        # ---- fragment handling
        mtid = _i32(buf, r + 20)
        mpos = _i32(buf, r + 24)
        if (flag & 0x1) != 0 and (flag & 0x8) == 0 and mtid == tid:
            key = _name_key(buf, r + 32, l_name - 1)
            if mpos <= pos:
                h = key & c.h_mask
                found = -1
                while c.h_slot[h] != -1:
                    ent = c.h_slot[h]
                    if (ent >= 0 and c.e_key[ent] == key and c.e_pos[ent] == mpos and c.e_mpos[ent] == pos
                            and (c.e_flag[ent] & 0xC0) != (flag & 0xC0)):
                        found = ent
                        break
                    h = (h + 1) & c.h_mask
                if found >= 0:
                    n = _merge(c, found, nobs, flag)
                    if umi_on:
                        _set_family(c, tid, pos, mpos, True, umi)
                    _commit(c, n)
                    c.h_slot[h] = -2
                    _release(c, found)
                    off = next_off
                    continue
            # Counting alone, a read need only wait if it shows a site the mate can also show;
            # for fragments (and UMI families), if the mate's span can hold any site at all.
            if mpos >= pos and ((frag_on and _mate_may_show(c, lo, hi, mpos, pos, _i32(buf, r + 28)))
                                or (mpos < ref and c.site_pos[c.s_site[nobs - 1]] >= mpos)):
                # The mate starts inside this read (or, for the fragments table, may show a
                # site downstream): hold the read until the mate arrives.
                status = _hold(c, key, pos, mpos, flag, nobs, umi)
                if status != NEED_DATA:
                    return status
                off = next_off
                continue
        if umi_on:
            _set_family(c, tid, pos, mpos, (flag & 0x1) != 0 and (flag & 0x8) == 0 and mtid == tid, umi)
        _single(c, nobs, 1 if (flag & 0x10) != 0 else 0, c.s_site, c.s_base, c.s_qual)
        off = next_off
    offp[0] = off
    return NEED_DATA


# ----------------------------------------------------------------------------- entry points
cdef Ctx _context(tuple arrays) except *:
    """Raw pointers into the kernel state's arrays (in this order: ``_KernelState._arrays``),
    after checking their dtypes (by the typed views) and that their shapes agree."""
    cdef int64_t[::1] params, state, e_key, e_pos, e_mpos, e_uid, e_flag, e_nobs, free, h_slot
    cdef int64_t[::1] hp_key, hp_ent, hp_uid, s_site, m_site, m_rev, f_id, f_site, f_rev
    cdef const int64_t[::1] tid_start, site_pos
    cdef const uint8_t[::1] site_ref, site_alt
    cdef uint8_t[::1] s_base, s_qual, m_base, m_qual, m_mates, f_qual, f_mates
    cdef int8_t[::1] f_allele
    cdef int64_t[::1] e_umi, f_lkey, f_rkey, f_umi
    cdef uint32_t[:, ::1] counts
    cdef int64_t[:, ::1] e_site
    cdef uint8_t[:, ::1] e_base, e_qual
    if len(arrays) != 39:
        raise TypeError(f"count kernel: expected the 39 state arrays, found {len(arrays)}")
    (params, state, tid_start, site_pos, site_ref, site_alt, counts, e_key, e_pos, e_mpos, e_uid, e_flag,
     e_nobs, e_site, e_base, e_qual, free, h_slot, hp_key, hp_ent, hp_uid, s_site, s_base, s_qual, m_site,
     m_base, m_qual, m_rev, m_mates, f_id, f_site, f_allele, f_qual, f_rev, f_mates, e_umi, f_lkey, f_rkey,
     f_umi) = arrays
    cdef Ctx c
    cdef int64_t n_sites = site_pos.shape[0], n_ent = e_key.shape[0], K = e_site.shape[1]
    if (params.shape[0] < N_PARAMS or state.shape[0] < N_STATE or tid_start.shape[0] < 1
            or site_ref.shape[0] != n_sites or site_alt.shape[0] != n_sites
            or counts.shape[0] != 6 or counts.shape[1] != n_sites):
        raise ValueError("count kernel: site arrays disagree in length")
    for n in (e_pos.shape[0], e_mpos.shape[0], e_uid.shape[0], e_flag.shape[0], e_nobs.shape[0],
              e_site.shape[0], e_base.shape[0], e_qual.shape[0], free.shape[0], e_umi.shape[0]):
        if n != n_ent:
            raise ValueError("count kernel: entry arrays disagree in length")
    if (K < 1 or e_base.shape[1] != K or e_qual.shape[1] != K or s_site.shape[0] < K
            or s_base.shape[0] < K or s_qual.shape[0] < K or m_site.shape[0] < 2 * K
            or m_base.shape[0] < 2 * K or m_qual.shape[0] < 2 * K or m_rev.shape[0] < 2 * K
            or m_mates.shape[0] < 2 * K):
        raise ValueError("count kernel: scratch arrays shorter than the observations per read")
    if h_slot.shape[0] < 2 * n_ent or (h_slot.shape[0] & (h_slot.shape[0] - 1)) != 0:
        raise ValueError("count kernel: hash table must be a power of two, at least twice the entries")
    if hp_key.shape[0] < n_ent or hp_ent.shape[0] != hp_key.shape[0] or hp_uid.shape[0] != hp_key.shape[0]:
        raise ValueError("count kernel: heap arrays too short")
    cdef int64_t f_cap = f_id.shape[0]
    if (f_cap < 1 or f_site.shape[0] != f_cap or f_allele.shape[0] != f_cap or f_qual.shape[0] != f_cap
            or f_rev.shape[0] != f_cap or f_mates.shape[0] != f_cap or f_lkey.shape[0] != f_cap
            or f_rkey.shape[0] != f_cap or f_umi.shape[0] != f_cap):
        raise ValueError("count kernel: fragment arrays disagree in length")
    c.params = &params[0]
    c.state = &state[0]
    c.tid_start = &tid_start[0]
    c.n_tid = tid_start.shape[0] - 1
    c.site_pos = &site_pos[0] if n_sites else NULL
    c.site_ref = &site_ref[0] if n_sites else NULL
    c.site_alt = &site_alt[0] if n_sites else NULL
    c.counts = &counts[0, 0] if n_sites else NULL
    c.n_sites = n_sites
    c.e_key = &e_key[0]
    c.e_pos = &e_pos[0]
    c.e_mpos = &e_mpos[0]
    c.e_uid = &e_uid[0]
    c.e_flag = &e_flag[0]
    c.e_nobs = &e_nobs[0]
    c.e_site = &e_site[0, 0]
    c.e_base = &e_base[0, 0]
    c.e_qual = &e_qual[0, 0]
    c.n_ent = n_ent
    c.K = K
    c.free = &free[0]
    c.h_slot = &h_slot[0]
    c.h_mask = h_slot.shape[0] - 1
    c.hp_key = &hp_key[0]
    c.hp_ent = &hp_ent[0]
    c.hp_uid = &hp_uid[0]
    c.hp_cap = hp_key.shape[0]
    c.s_site = &s_site[0]
    c.s_base = &s_base[0]
    c.s_qual = &s_qual[0]
    c.m_site = &m_site[0]
    c.m_base = &m_base[0]
    c.m_qual = &m_qual[0]
    c.m_rev = &m_rev[0]
    c.m_mates = &m_mates[0]
    c.f_id = &f_id[0]
    c.f_site = &f_site[0]
    c.f_allele = &f_allele[0]
    c.f_qual = &f_qual[0]
    c.f_rev = &f_rev[0]
    c.f_mates = &f_mates[0]
    c.f_cap = f_cap
    c.e_umi = &e_umi[0]
    c.f_lkey = &f_lkey[0]
    c.f_rkey = &f_rkey[0]
    c.f_umi = &f_umi[0]
    c.cur_lkey = c.cur_rkey = c.cur_umi = 0
    return c


def count_records(const uint8_t[::1] buf, int64_t off, int64_t end, *arrays):
    """Process the BAM records in ``buf[off:end]``; return ``(status, offset)``.

    ``arrays`` are the kernel state's arrays in :func:`_context`'s order.  ``offset`` is the
    first record not (fully) processed; the caller resumes there.  Runs without the GIL.
    """
    cdef Ctx c = _context(arrays)
    if off < 0 or end > buf.shape[0] or off > end:
        raise ValueError(f"count kernel: range [{off}, {end}) outside the buffer of {buf.shape[0]} bytes")
    cdef int64_t status
    cdef const uint8_t *p = &buf[0] if buf.shape[0] else NULL
    with nogil:
        status = _records(&c, p, &off, end)
    return int(status), int(off)


def flush_all(*arrays):
    """Count every pending read alone (end of input).  Returns DRAIN if output space ran out.

    ``arrays`` as for :func:`count_records`."""
    cdef Ctx c = _context(arrays)
    cdef bint full
    with nogil:
        full = _flush(&c, FLUSH_ALL)
    if full:
        return int(DRAIN)
    c.state[ST_TID] = -1
    c.state[ST_POS] = -1
    return int(NEED_DATA)


def rebuild_hash(h_slot, e_key, e_uid, state):
    """Re-insert every live entry into an emptied hash table (drops tombstones)."""
    cdef int64_t[::1] hs = h_slot, ek = e_key, eu = e_uid, st = state
    if hs.shape[0] & (hs.shape[0] - 1) or eu.shape[0] != ek.shape[0] or st.shape[0] < N_STATE:
        raise ValueError("count kernel: bad hash table arrays")
    cdef Ctx c
    c.h_slot = &hs[0]
    c.h_mask = hs.shape[0] - 1
    c.e_key = &ek[0]
    c.e_uid = &eu[0]
    c.n_ent = ek.shape[0]
    c.state = &st[0]
    with nogil:
        _rebuild_hash(&c)
