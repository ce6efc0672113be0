"""Compiled inner loop of allele counting: raw BAM records in, per-site tallies out.

Arrays only (no pysam objects).  One call, :func:`count_records`, walks the BAM records in a
byte buffer (decompressed BGZF data), applies the read filters, finds the bases each read
shows at the SNP sites it covers and tallies them per fragment: the two mates of a pair
whose alignments overlap are held back until both are seen, then counted once per site.
All state lives in arrays owned by :class:`microchimera.count.counting._KernelState`, so the
loop can stop at any record boundary (more data needed, span finished, a buffer to grow)
and resume on the next call.  ``tests/reference.py`` is the slow, obviously-correct
per-site version; the test suite compares the two.

Layouts (``S`` = n_sites, sorted by BAM contig id then position)

``params`` int64 (P_*):  filters and the stop point of the current span.
``state``  int64 (ST_*): cursor, counters and statistics.
``counts`` uint32 (6, S): rows ref_fwd, ref_rev, alt_fwd, alt_rev, other_fwd, other_rev.
Pending reads ("entries", capacity E, up to K site observations each), a hash table
(H = 4E slots) over entry keys and a min-heap (capacity 2E) keyed by the mate position.
Fragment rows (capacity C) are written for fragments showing two or more sites.

BAM record layout: SAM/BAM specification v1, section 4.2.  All integers little-endian.
"""
from __future__ import annotations

import os

import numpy as np
from numba import njit

# One switch for the whole module (STYLE.md: CI runs the kernels with NUMBA_DISABLE_JIT=1).
_CACHE = os.environ.get("MICROCHIMERA_NUMBA_CACHE", "1") != "0"


def _jit(fn):
    return njit(nogil=True, cache=_CACHE)(fn)


def _inline(fn):
    # Helpers are inlined at the numba IR level: an ordinary call passes every array as a
    # struct and updates its reference count, which cost more than the work (~2x slower).
    return njit(nogil=True, cache=_CACHE, inline="always")(fn)


# Return codes of count_records.
NEED_DATA = 0      # buffer exhausted (the returned offset is the first unfinished record)
SPAN_DONE = 1      # reached a record past the stop point (or the unmapped tail)
GROW_K = 2         # a read shows more sites than an entry can hold
GROW_E = 3         # no free pending entry
DRAIN = 4          # fragment output buffer nearly full
NOT_SORTED = -1
CORRUPT = -2

# params
P_MIN_MAPQ, P_MIN_BASEQ, P_PROPER, P_FRAGMENTS, P_STOP_TID, P_STOP_POS, P_MATE_QDIFF = range(7)
N_PARAMS = 7

# state
(ST_TID, ST_POS, ST_LO, ST_HI, ST_FRAG_FILL, ST_FRAG_ID, ST_LIVE, ST_HEAP, ST_UID, ST_HUSED,
 ST_FREE, ST_READS, ST_SKIP_FLAG, ST_SKIP_MAPQ, ST_SKIP_PROPER, ST_USED, ST_MERGED,
 ST_CONFLICT, ST_ORPHAN_FLUSH) = range(19)
N_STATE = 19

# Flags that exclude a read: unmapped 0x4, secondary 0x100, QC fail 0x200, duplicate 0x400,
# supplementary 0x800.
SKIP_FLAGS = 0x4 | 0x100 | 0x200 | 0x400 | 0x800

# 4-bit BAM base code -> 0..3 for A, C, G, T; 4 for anything else (N, IUPAC, '=').
NT16_TO_CODE = np.full(16, 4, dtype=np.uint8)
NT16_TO_CODE[1], NT16_TO_CODE[2], NT16_TO_CODE[4], NT16_TO_CODE[8] = 0, 1, 2, 3


@_inline
def _i32(buf, i):
    v = (np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8) | (np.int64(buf[i + 2]) << 16)
         | (np.int64(buf[i + 3]) << 24))
    if v >= 2147483648:
        v -= 4294967296
    return v


@_inline
def _u32(buf, i):
    return (np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8) | (np.int64(buf[i + 2]) << 16)
            | (np.int64(buf[i + 3]) << 24))


@_inline
def _u16(buf, i):
    return np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8)


@_inline
def _name_key(buf, start, length):
    """63-bit key of a read name: two 32-bit FNV-1a hashes (int64 arithmetic, no overflow)."""
    h1 = np.int64(2166136261)
    h2 = np.int64(2166136261 ^ 0x5BD1E995)
    for i in range(start, start + length):
        b = np.int64(buf[i])
        h1 = ((h1 ^ b) * 16777619) & 0xFFFFFFFF
        h2 = ((h2 ^ b) * 16777213) & 0xFFFFFFFF
    return ((h1 & 0x7FFFFFFF) << 32) | h2


# ----------------------------------------------------------------------------- heap
@_inline
def _heap_push(hp_key, hp_ent, hp_uid, state, key, ent, uid):
    i = state[ST_HEAP]
    state[ST_HEAP] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if hp_key[parent] <= key:
            break
        hp_key[i] = hp_key[parent]
        hp_ent[i] = hp_ent[parent]
        hp_uid[i] = hp_uid[parent]
        i = parent
    hp_key[i] = key
    hp_ent[i] = ent
    hp_uid[i] = uid


@_inline
def _heap_pop(hp_key, hp_ent, hp_uid, state):
    n = state[ST_HEAP] - 1
    state[ST_HEAP] = n
    key, ent, uid = hp_key[n], hp_ent[n], hp_uid[n]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and hp_key[child + 1] < hp_key[child]:
            child += 1
        if hp_key[child] >= key:
            break
        hp_key[i] = hp_key[child]
        hp_ent[i] = hp_ent[child]
        hp_uid[i] = hp_uid[child]
        i = child
    hp_key[i] = key
    hp_ent[i] = ent
    hp_uid[i] = uid


@_jit
def _heap_compact(hp_key, hp_ent, hp_uid, e_uid, state):
    """Drop heap items whose entry was already resolved, then re-heapify."""
    n = state[ST_HEAP]
    keep = 0
    for i in range(n):
        if e_uid[hp_ent[i]] == hp_uid[i]:
            hp_key[keep] = hp_key[i]
            hp_ent[keep] = hp_ent[i]
            hp_uid[keep] = hp_uid[i]
            keep += 1
    state[ST_HEAP] = 0
    for i in range(keep):
        _heap_push(hp_key, hp_ent, hp_uid, state, hp_key[i], hp_ent[i], hp_uid[i])


# ----------------------------------------------------------------------------- hash table
@_jit
def rebuild_hash(h_slot, e_key, e_uid, state):
    """Re-insert every live entry into an emptied hash table (drops tombstones)."""
    h_slot[:] = -1
    mask = len(h_slot) - 1
    used = 0
    for ent in range(len(e_uid)):
        if e_uid[ent] >= 0:
            h = e_key[ent] & mask
            while h_slot[h] != -1:
                h = (h + 1) & mask
            h_slot[h] = ent
            used += 1
    state[ST_HUSED] = used


@_inline
def _hash_remove(h_slot, e_key, ent):
    mask = len(h_slot) - 1
    h = e_key[ent] & mask
    while h_slot[h] != ent:
        h = (h + 1) & mask
    h_slot[h] = -2  # tombstone


# ----------------------------------------------------------------------------- counting
@_inline
def _commit(m_site, m_base, m_qual, m_rev, m_mates, n, site_ref, site_alt, counts,
            params, state, f_id, f_site, f_allele, f_qual, f_rev, f_mates):
    """Tally one fragment's observations; write fragment rows if it shows >= 2 sites."""
    for i in range(n):
        s = m_site[i]
        b = m_base[i]
        allele = 2
        if b == site_ref[s]:
            allele = 0
        elif b == site_alt[s]:
            allele = 1
        counts[2 * allele + m_rev[i], s] += 1
    if params[P_FRAGMENTS] != 0 and n >= 2:
        fid = state[ST_FRAG_ID]
        state[ST_FRAG_ID] = fid + 1
        k = state[ST_FRAG_FILL]
        for i in range(n):
            s = m_site[i]
            b = m_base[i]
            allele = 2
            if b == site_ref[s]:
                allele = 0
            elif b == site_alt[s]:
                allele = 1
            f_id[k] = fid
            f_site[k] = s
            f_allele[k] = allele
            f_qual[k] = m_qual[i]
            f_rev[k] = m_rev[i]
            f_mates[k] = m_mates[i]
            k += 1
        state[ST_FRAG_FILL] = k
    state[ST_USED] += 1


@_inline
def _merge(ent, e_nobs, e_site, e_base, e_qual, e_flag, n_b, s_site, s_base, s_qual, flag_b,
           m_site, m_base, m_qual, m_rev, m_mates, params, state):
    """Merge the observations of two mates (both sorted by site) into one fragment.

    Rule at a site both mates show (after the base-quality filter): same base -> one count,
    from the mate with the higher quality (ties: first-in-pair); different bases -> the
    higher-quality base if it beats the other by >= P_MATE_QDIFF, else no count (a
    conflict).  Returns the number of merged observations.
    """
    flag_a = e_flag[ent]
    rev_a = 1 if (flag_a & 0x10) != 0 else 0
    rev_b = 1 if (flag_b & 0x10) != 0 else 0
    a_first = (flag_a & 0x40) != 0 or (flag_b & 0x40) == 0
    qdiff = params[P_MATE_QDIFF]
    n_a = e_nobs[ent]
    i = 0
    j = 0
    n = 0
    shared = 0
    while i < n_a or j < n_b:
        if j >= n_b or (i < n_a and e_site[ent, i] < s_site[j]):
            m_site[n] = e_site[ent, i]
            m_base[n] = e_base[ent, i]
            m_qual[n] = e_qual[ent, i]
            m_rev[n] = rev_a
            m_mates[n] = 1
            n += 1
            i += 1
        elif i >= n_a or s_site[j] < e_site[ent, i]:
            m_site[n] = s_site[j]
            m_base[n] = s_base[j]
            m_qual[n] = s_qual[j]
            m_rev[n] = rev_b
            m_mates[n] = 1
            n += 1
            j += 1
        else:
            shared += 1
            qa = np.int64(e_qual[ent, i])
            qb = np.int64(s_qual[j])
            take_a = qa > qb or (qa == qb and a_first)
            if e_base[ent, i] == s_base[j]:
                mates = 2
            else:
                mates = 1
                if abs(qa - qb) < qdiff:
                    state[ST_CONFLICT] += 1
                    i += 1
                    j += 1
                    continue
            m_site[n] = e_site[ent, i]
            m_mates[n] = mates
            if take_a:
                m_base[n] = e_base[ent, i]
                m_qual[n] = e_qual[ent, i]
                m_rev[n] = rev_a
            else:
                m_base[n] = s_base[j]
                m_qual[n] = s_qual[j]
                m_rev[n] = rev_b
            n += 1
            i += 1
            j += 1
    if shared > 0:
        state[ST_MERGED] += 1
    return n


@_inline
def _release(ent, e_uid, free, state):
    e_uid[ent] = -1
    free[state[ST_FREE]] = ent
    state[ST_FREE] += 1
    state[ST_LIVE] -= 1


_FLUSH_ALL = np.int64(1) << 62


@_inline
def _flush(limit, params, state, site_ref, site_alt, counts, e_nobs, e_site, e_base, e_qual, e_flag,
           e_uid, e_key, free, h_slot, hp_key, hp_ent, hp_uid,
           m_site, m_base, m_qual, m_rev, m_mates, f_id, f_site, f_allele, f_qual, f_rev, f_mates):
    """Count alone every pending read whose mate position is < ``limit`` (the mate can no
    longer arrive: the stream is past it).  Returns True if fragment output space ran out."""
    K = e_site.shape[1]
    frag_on = params[P_FRAGMENTS] != 0
    while state[ST_HEAP] > 0 and hp_key[0] < limit:
        if frag_on and state[ST_FRAG_FILL] + K > len(f_id):
            return True
        ent = hp_ent[0]
        uid = hp_uid[0]
        _heap_pop(hp_key, hp_ent, hp_uid, state)
        if e_uid[ent] == uid:
            n = e_nobs[ent]
            rev = 1 if (e_flag[ent] & 0x10) != 0 else 0
            for i in range(n):
                m_site[i] = e_site[ent, i]
                m_base[i] = e_base[ent, i]
                m_qual[i] = e_qual[ent, i]
                m_rev[i] = rev
                m_mates[i] = 1
            _commit(m_site, m_base, m_qual, m_rev, m_mates, n, site_ref, site_alt, counts,
                    params, state, f_id, f_site, f_allele, f_qual, f_rev, f_mates)
            _hash_remove(h_slot, e_key, ent)
            _release(ent, e_uid, free, state)
            state[ST_ORPHAN_FLUSH] += 1
    return False


@_jit
def flush_all(params, state, site_ref, site_alt, counts, e_nobs, e_site, e_base, e_qual, e_flag,
              e_uid, e_key, free, h_slot, hp_key, hp_ent, hp_uid,
              m_site, m_base, m_qual, m_rev, m_mates, f_id, f_site, f_allele, f_qual, f_rev, f_mates):
    """Count every pending read alone (end of input).  Returns DRAIN if output space ran out."""
    if _flush(_FLUSH_ALL, params, state, site_ref, site_alt, counts, e_nobs, e_site, e_base, e_qual,
              e_flag, e_uid, e_key, free, h_slot, hp_key, hp_ent, hp_uid, m_site, m_base, m_qual,
              m_rev, m_mates, f_id, f_site, f_allele, f_qual, f_rev, f_mates):
        return DRAIN
    state[ST_TID] = -1
    state[ST_POS] = -1
    return NEED_DATA


@_jit
def count_records(buf, off, end, params, state, tid_start, site_pos, site_ref, site_alt, counts,
                  e_key, e_pos, e_mpos, e_uid, e_flag, e_nobs, e_site, e_base, e_qual, free,
                  h_slot, hp_key, hp_ent, hp_uid,
                  s_site, s_base, s_qual, m_site, m_base, m_qual, m_rev, m_mates,
                  f_id, f_site, f_allele, f_qual, f_rev, f_mates):
    """Process the BAM records in ``buf[off:end]``; return ``(status, offset)``.

    ``offset`` is the first record not (fully) processed; the caller resumes there.
    """
    K = e_site.shape[1]
    n_tid = len(tid_start) - 1
    min_mapq = params[P_MIN_MAPQ]
    min_bq = params[P_MIN_BASEQ]
    frag_cap = len(f_id)
    frag_on = params[P_FRAGMENTS] != 0
    while off + 4 <= end:
        block = _i32(buf, off)
        if block < 32:
            return CORRUPT, off
        if off + 4 + block > end:
            return NEED_DATA, off
        r = off + 4
        tid = _i32(buf, r)
        pos = _i32(buf, r + 4)
        if tid < 0 or tid > params[P_STOP_TID] or (tid == params[P_STOP_TID] and pos > params[P_STOP_POS]):
            return SPAN_DONE, off
        if tid >= n_tid:
            return CORRUPT, off
        # ---- new contig or position: flush pending reads whose mate can no longer come
        if tid != state[ST_TID]:
            if tid < state[ST_TID]:
                return NOT_SORTED, off
            if _flush(_FLUSH_ALL, params, state, site_ref, site_alt, counts, e_nobs, e_site, e_base,
                      e_qual, e_flag, e_uid, e_key, free, h_slot, hp_key, hp_ent, hp_uid, m_site,
                      m_base, m_qual, m_rev, m_mates, f_id, f_site, f_allele, f_qual, f_rev, f_mates):
                return DRAIN, off
            state[ST_TID] = tid
            state[ST_POS] = -1
            state[ST_LO] = tid_start[tid]
            state[ST_HI] = tid_start[tid + 1]
        elif pos < state[ST_POS]:
            return NOT_SORTED, off
        if state[ST_HEAP] > 0 and hp_key[0] < pos:
            if _flush(pos, params, state, site_ref, site_alt, counts, e_nobs, e_site, e_base,
                      e_qual, e_flag, e_uid, e_key, free, h_slot, hp_key, hp_ent, hp_uid, m_site,
                      m_base, m_qual, m_rev, m_mates, f_id, f_site, f_allele, f_qual, f_rev, f_mates):
                return DRAIN, off
        state[ST_POS] = pos
        lo = state[ST_LO]
        hi = state[ST_HI]
        while lo < hi and site_pos[lo] < pos:
            lo += 1
        state[ST_LO] = lo
        if frag_on and state[ST_FRAG_FILL] + 2 * K > frag_cap:
            return DRAIN, off
        # ---- filters
        next_off = off + 4 + block
        state[ST_READS] += 1
        l_name = np.int64(buf[r + 8])
        mapq = np.int64(buf[r + 9])
        n_cig = _u16(buf, r + 12)
        flag = _u16(buf, r + 14)
        l_seq = _i32(buf, r + 16)
        if (flag & SKIP_FLAGS) != 0:
            state[ST_SKIP_FLAG] += 1
            off = next_off
            continue
        if mapq < min_mapq:
            state[ST_SKIP_MAPQ] += 1
            off = next_off
            continue
        if params[P_PROPER] != 0 and (flag & 0x2) == 0:
            state[ST_SKIP_PROPER] += 1
            off = next_off
            continue
        if lo >= hi or n_cig == 0 or l_seq <= 0:
            off = next_off
            continue
        cig = r + 32 + l_name
        seq = cig + 4 * n_cig
        qual = seq + (l_seq + 1) // 2
        if qual + l_seq > next_off:
            return CORRUPT, off
        # ---- bases at the sites this read covers
        ref = pos
        qp = 0
        j = lo
        nobs = 0
        for c in range(n_cig):
            v = _u32(buf, cig + 4 * c)
            op = v & 15
            length = v >> 4
            if op == 0 or op == 7 or op == 8:  # M, =, X: query and reference
                stop = ref + length
                while j < hi and site_pos[j] < stop:
                    q = qp + site_pos[j] - ref
                    byte = np.int64(buf[seq + (q >> 1)])
                    nt = (byte >> 4) if (q & 1) == 0 else (byte & 15)
                    code = NT16_TO_CODE[nt]
                    bq = np.int64(buf[qual + q])
                    if code < 4 and bq >= min_bq and bq != 255:
                        if nobs == K:
                            return GROW_K, off
                        s_site[nobs] = j
                        s_base[nobs] = code
                        s_qual[nobs] = bq
                        nobs += 1
                    j += 1
                ref = stop
                qp += length
            elif op == 2 or op == 3:  # D, N: reference only; sites inside show no base
                stop = ref + length
                while j < hi and site_pos[j] < stop:
                    j += 1
                ref = stop
            elif op == 1 or op == 4:  # I, S: query only
                qp += length
        if qp > l_seq:
            return CORRUPT, off
        if nobs == 0:
            # Nothing to count; a pending mate is flushed alone, which is the same result.
            off = next_off
            continue
        # ---- fragment handling
        mtid = _i32(buf, r + 20)
        mpos = _i32(buf, r + 24)
        if (flag & 0x1) != 0 and (flag & 0x8) == 0 and mtid == tid:
            key = _name_key(buf, r + 32, l_name - 1)
            if mpos <= pos:
                mask = len(h_slot) - 1
                h = key & mask
                found = -1
                while h_slot[h] != -1:
                    ent = h_slot[h]
                    if (ent >= 0 and e_key[ent] == key and e_pos[ent] == mpos and e_mpos[ent] == pos
                            and (e_flag[ent] & 0xC0) != (flag & 0xC0)):
                        found = ent
                        break
                    h = (h + 1) & mask
                if found >= 0:
                    n = _merge(found, e_nobs, e_site, e_base, e_qual, e_flag, nobs, s_site, s_base,
                               s_qual, flag, m_site, m_base, m_qual, m_rev, m_mates, params, state)
                    _commit(m_site, m_base, m_qual, m_rev, m_mates, n, site_ref, site_alt, counts,
                            params, state, f_id, f_site, f_allele, f_qual, f_rev, f_mates)
                    h_slot[h] = -2
                    _release(found, e_uid, free, state)
                    off = next_off
                    continue
            # Counting alone, a read need only wait if it shows a site the mate can also show.
            if mpos >= pos and (frag_on or (mpos < ref and site_pos[s_site[nobs - 1]] >= mpos)):
                # The mate starts inside this read (or, for the fragments table, anywhere
                # downstream): hold the read until the mate arrives.
                if state[ST_FREE] == 0:
                    return GROW_E, off
                if state[ST_HEAP] == len(hp_key):
                    _heap_compact(hp_key, hp_ent, hp_uid, e_uid, state)
                if 2 * (state[ST_HUSED] + 1) > len(h_slot):
                    rebuild_hash(h_slot, e_key, e_uid, state)
                state[ST_FREE] -= 1
                ent = free[state[ST_FREE]]
                uid = state[ST_UID]
                state[ST_UID] = uid + 1
                e_key[ent] = key
                e_pos[ent] = pos
                e_mpos[ent] = mpos
                e_uid[ent] = uid
                e_flag[ent] = flag
                e_nobs[ent] = nobs
                for i in range(nobs):
                    e_site[ent, i] = s_site[i]
                    e_base[ent, i] = s_base[i]
                    e_qual[ent, i] = s_qual[i]
                mask = len(h_slot) - 1
                h = key & mask
                while h_slot[h] >= 0:
                    h = (h + 1) & mask
                if h_slot[h] == -1:
                    state[ST_HUSED] += 1
                h_slot[h] = ent
                state[ST_LIVE] += 1
                _heap_push(hp_key, hp_ent, hp_uid, state, mpos, ent, uid)
                off = next_off
                continue
        rev = 1 if (flag & 0x10) != 0 else 0
        for i in range(nobs):
            m_site[i] = s_site[i]
            m_base[i] = s_base[i]
            m_qual[i] = s_qual[i]
            m_rev[i] = rev
            m_mates[i] = 1
        _commit(m_site, m_base, m_qual, m_rev, m_mates, nobs, site_ref, site_alt, counts,
                params, state, f_id, f_site, f_allele, f_qual, f_rev, f_mates)
        off = next_off
    return NEED_DATA, off
