"""Compiled kernels of the read simulator: fragments -> raw BAM records.

Arrays in, arrays out; no pysam objects.  Randomness comes from a splitmix64 stream whose
integer seed the caller draws from its ``numpy.random.Generator`` (one seed per chunk), so
outputs are a pure function of the caller's rng (same seed -> same bytes).

BAM record layout (SAM/BAM specification section 4.2): ``block_size`` int32, ``refID``
int32, ``pos`` int32, ``l_read_name`` uint8, ``mapq`` uint8, ``bin`` uint16,
``n_cigar_op`` uint16, ``flag`` uint16, ``l_seq`` int32, ``next_refID`` int32,
``next_pos`` int32, ``tlen`` int32, name (NUL-terminated), cigar (uint32 ``len<<4|op``),
4-bit seq, qual (raw phred), then tags ``XXZvalue\\0``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# CIGAR op codes (BAM)
OP_M, OP_I, OP_D, OP_S = 0, 1, 2, 4
_OP_CHARS = np.frombuffer(b"MIDNSHP=X", dtype=np.uint8)
# base code 0..3 (ACGT) -> 4-bit BAM code
_NT16 = np.array([1, 2, 4, 8, 15], dtype=np.uint8)
_ACGT = np.frombuffer(b"ACGTN", dtype=np.uint8)

FLAG_PAIRED, FLAG_PROPER, FLAG_REVERSE, FLAG_MATE_REVERSE = 0x1, 0x2, 0x10, 0x20
FLAG_READ1, FLAG_READ2, FLAG_DUP = 0x40, 0x80, 0x400

MAX_OPS = 5


@njit(cache=True, nogil=True)
def _rand(state):
    """splitmix64: next 64-bit value of the stream held in ``state[0]``."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _uniform(state):
    return np.float64(_rand(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _below(state, n):
    return int(_uniform(state) * n)


@njit(cache=True, nogil=True)
def _put32(buf, o, v):
    v = np.int64(v) & 0xFFFFFFFF
    buf[o] = v & 0xFF
    buf[o + 1] = (v >> 8) & 0xFF
    buf[o + 2] = (v >> 16) & 0xFF
    buf[o + 3] = (v >> 24) & 0xFF


@njit(cache=True, nogil=True)
def _put16(buf, o, v):
    buf[o] = v & 0xFF
    buf[o + 1] = (v >> 8) & 0xFF


@njit(cache=True, nogil=True)
def reg2bin(beg, end):
    """UCSC/BAM bin of the 0-based half-open interval [beg, end) (SAM spec 5.3)."""
    end -= 1
    if beg >> 14 == end >> 14:
        return ((1 << 15) - 1) // 7 + (beg >> 14)
    if beg >> 17 == end >> 17:
        return ((1 << 12) - 1) // 7 + (beg >> 17)
    if beg >> 20 == end >> 20:
        return ((1 << 9) - 1) // 7 + (beg >> 20)
    if beg >> 23 == end >> 23:
        return ((1 << 6) - 1) // 7 + (beg >> 23)
    if beg >> 26 == end >> 26:
        return ((1 << 3) - 1) // 7 + (beg >> 26)
    return 0


@njit(cache=True, nogil=True)
def _put_uint(buf, o, v):
    """Write decimal digits of v >= 0 at o; return the new offset."""
    if v == 0:
        buf[o] = 48
        return o + 1
    n = 0
    t = v
    while t > 0:
        t //= 10
        n += 1
    for k in range(n - 1, -1, -1):
        buf[o + k] = 48 + v % 10
        v //= 10
    return o + n


@njit(cache=True, nogil=True)
def _make_read(fs, L, forward, rl, indel_rate, clip_rate, state, ops, lens):
    """Choose the alignment of one mate: soft clip / indel / match ops.

    Returns ``(ws, span, n_ops)``: aligned start in fragment coordinates, reference
    span, number of CIGAR ops written to ``ops``/``lens``.  A forward mate is anchored at
    the fragment's start, a reverse mate at its end; an indel or clip that would not fit
    inside the fragment is dropped.
    """
    c_left = 0
    c_right = 0
    ilen = 0
    dlen = 0
    ioff = 0
    if clip_rate > 0 and _uniform(state) < clip_rate:
        c = 5 + _below(state, max(1, min(26, rl // 3 - 4)))
        if _uniform(state) < 0.5:
            c_left = c
        else:
            c_right = c
    if indel_rate > 0 and _uniform(state) < indel_rate:
        u = _uniform(state)
        k = 1 if u < 0.6 else (2 if u < 0.85 else 3)
        if _uniform(state) < 0.5:
            ilen = k
        else:
            dlen = k
    q_al = rl - c_left - c_right
    if ilen + dlen > 0:
        ioff = q_al // 4 + _below(state, max(1, q_al // 2))
        if ioff < 1 or ioff + ilen >= q_al:
            ilen = 0
            dlen = 0
    span = q_al - ilen + dlen
    if forward:
        ws = c_left
    else:
        ws = L - c_right - span
    if ws < 0 or ws + span > L:
        c_left = 0
        c_right = 0
        ilen = 0
        dlen = 0
        q_al = rl
        span = rl
        ws = 0 if forward else L - rl
    n = 0
    if c_left > 0:
        ops[n] = OP_S
        lens[n] = c_left
        n += 1
    if ilen + dlen > 0:
        ops[n] = OP_M
        lens[n] = ioff
        n += 1
        ops[n] = OP_I if ilen > 0 else OP_D
        lens[n] = ilen + dlen
        n += 1
        ops[n] = OP_M
        lens[n] = q_al - ioff - ilen
        n += 1
    else:
        ops[n] = OP_M
        lens[n] = q_al
        n += 1
    if c_right > 0:
        ops[n] = OP_S
        lens[n] = c_right
        n += 1
    return ws, span, n


@njit(cache=True, nogil=True)
def _fill_read(fs, ws, ops, lens, n_ops, state, seq, qual, qual_values, qual_thr, err_thr,
               sub_cum, sub_tgt, qref):
    """Stored (reference-orientation) bases and qualities of one mate, with errors; ``qref[q]``
    is the fragment offset of query base ``q`` (-1 for inserted or clipped bases)."""
    q = 0
    r = ws
    for k in range(n_ops):
        op = ops[k]
        ln = lens[k]
        if op == OP_M:
            for _j in range(ln):
                seq[q] = fs[r]
                qref[q] = r
                q += 1
                r += 1
        elif op == OP_D:
            r += ln
        else:  # S or I: bases not from the reference (adapter / inserted)
            for _j in range(ln):
                seq[q] = _below(state, 4)
                qref[q] = -1
                q += 1
    n_q = q
    n_bins = qual_values.shape[0]
    for j in range(n_q):
        z = _rand(state)
        hi = z >> np.uint64(32)
        b = 0
        while b < n_bins - 1 and hi >= qual_thr[b]:
            b += 1
        qual[j] = qual_values[b]
        base = seq[j]
        if (z & np.uint64(0xFFFFFFFF)) < err_thr[b, base]:
            u = _uniform(state)
            t = 0
            while t < 2 and u >= sub_cum[base, t]:
                t += 1
            seq[j] = sub_tgt[base, t]
    return n_q


@njit(cache=True, nogil=True)
def _site_errors(fs, qref, n_q, src, seq, site_gpos, site_ref, site_alt, prof_rate, prof_other, strand, state):
    """Redraw the bases of one mate at panel sites with the site's own error (a panel error
    profile): a true ref base is read as alt with ``prof_rate[s, 0, strand]``, a true alt as
    ref with ``prof_rate[s, 1, strand]``, either as one of the two other bases with
    ``prof_other[s]``; whatever the base's quality.  ``qref`` from :func:`_fill_read`."""
    n_sites = site_gpos.shape[0]
    ptr = -1
    for q in range(n_q):
        r = qref[q]
        if r < 0:
            continue
        g = src + r
        if ptr < 0:
            ptr = np.searchsorted(site_gpos, g)
        while ptr < n_sites and site_gpos[ptr] < g:
            ptr += 1
        if ptr >= n_sites or site_gpos[ptr] != g:
            continue
        t = fs[r]
        if t == site_ref[ptr]:
            d, other = 0, site_alt[ptr]
        elif t == site_alt[ptr]:
            d, other = 1, site_ref[ptr]
        else:
            continue
        u = _uniform(state)
        e = prof_rate[ptr, d, strand]
        if u < e:
            seq[q] = other
        elif u < e + prof_other[ptr]:
            # one of the two bases that are neither allele, at random
            first = -1
            second = -1
            for b in range(4):
                if b != t and b != other:
                    if first < 0:
                        first = b
                    else:
                        second = b
            seq[q] = first if _below(state, 2) == 0 else second
        else:
            seq[q] = t


@njit(cache=True, nogil=True)
def _put_ztag(out, p, c0, c1, text, n):
    """Write the string tag ``<c0><c1>:Z:text[:n]`` (ASCII codes) at ``p``; return the new offset."""
    out[p] = c0
    out[p + 1] = c1
    out[p + 2] = 90
    p += 3
    for k in range(n):
        out[p] = text[k]
        p += 1
    out[p] = 0
    return p + 1


@njit(cache=True, nogil=True)
def _write_record(out, o, tid, pos, end, mapq, flag, seq, qual, l_seq, ops, lens, n_ops,
                  mpos, tlen, name_prefix, name_id, m_ops, m_lens, m_nops,
                  rg_tag, sp_tags, sp_start, sp_end, rx, rx_len, mi, mi_len):
    start = o
    o += 4
    _put32(out, o, tid)
    _put32(out, o + 4, pos)
    # name: prefix + decimal id + NUL
    name_o = o + 32
    p = name_o
    for k in range(name_prefix.shape[0]):
        out[p] = name_prefix[k]
        p += 1
    p = _put_uint(out, p, name_id)
    out[p] = 0
    p += 1
    l_name = p - name_o
    out[o + 8] = l_name
    out[o + 9] = mapq
    _put16(out, o + 10, reg2bin(pos, end))
    _put16(out, o + 12, n_ops)
    _put16(out, o + 14, flag)
    _put32(out, o + 16, l_seq)
    _put32(out, o + 20, tid)
    _put32(out, o + 24, mpos)
    _put32(out, o + 28, tlen)
    for k in range(n_ops):
        _put32(out, p, (lens[k] << 4) | ops[k])
        p += 4
    for j in range(0, l_seq, 2):
        hi = _NT16[seq[j]]
        lo = _NT16[seq[j + 1]] if j + 1 < l_seq else 0
        out[p] = (hi << 4) | lo
        p += 1
    for j in range(l_seq):
        out[p] = qual[j]
        p += 1
    for k in range(rg_tag.shape[0]):
        out[p] = rg_tag[k]
        p += 1
    for k in range(sp_start, sp_end):
        out[p] = sp_tags[k]
        p += 1
    # MC:Z:<mate cigar>
    out[p] = 77
    out[p + 1] = 67
    out[p + 2] = 90
    p += 3
    for k in range(m_nops):
        p = _put_uint(out, p, m_lens[k])
        out[p] = _OP_CHARS[m_ops[k]]
        p += 1
    out[p] = 0
    p += 1
    if rx_len > 0:  # RX:Z:<UMI>
        p = _put_ztag(out, p, 82, 88, rx, rx_len)
    if mi_len > 0:  # MI:Z:<molecule id>[/A|/B]
        p = _put_ztag(out, p, 77, 73, mi, mi_len)
    _put32(out, start, p - start - 4)
    return p


@njit(cache=True, nogil=True)
def _emit_pair(out, o, nrec, rec_off, rec_key, fs, L, src, tid, fpos, mapq, r1_reverse, dup, rl, indel_rate,
               clip_rate, state, qual_values, qual_thr, err_thr, sub_cum, sub_tgt, name_prefix, name_id, rg_tag,
               sp_tags, sp0, sp1, rx, rx_len, mi, mi_len, site_gpos, site_ref, site_alt, prof_rate, prof_other,
               seq_a, seq_b, qual_a, qual_b, qref_a, qref_b, ops_a, lens_a, ops_b, lens_b):
    """Sequence one read pair of the fragment ``fs[:L]`` and write its two records."""
    ws_a, span_a, n_a = _make_read(fs, L, True, rl, indel_rate, clip_rate, state, ops_a, lens_a)
    ws_b, span_b, n_b = _make_read(fs, L, False, rl, indel_rate, clip_rate, state, ops_b, lens_b)
    lq_a = _fill_read(fs, ws_a, ops_a, lens_a, n_a, state, seq_a, qual_a, qual_values,
                      qual_thr, err_thr, sub_cum, sub_tgt, qref_a)
    lq_b = _fill_read(fs, ws_b, ops_b, lens_b, n_b, state, seq_b, qual_b, qual_values,
                      qual_thr, err_thr, sub_cum, sub_tgt, qref_b)
    if prof_rate.shape[0] > 0:
        _site_errors(fs, qref_a, lq_a, src, seq_a, site_gpos, site_ref, site_alt, prof_rate, prof_other, 0, state)
        _site_errors(fs, qref_b, lq_b, src, seq_b, site_gpos, site_ref, site_alt, prof_rate, prof_other, 1, state)
    pos_a = fpos + ws_a
    pos_b = fpos + ws_b
    end_a = pos_a + span_a
    end_b = pos_b + span_b
    left = min(pos_a, pos_b)
    right = max(end_a, end_b)
    tlen = right - left
    tlen_a = tlen if pos_a <= pos_b else -tlen
    tlen_b = -tlen_a
    base = FLAG_PAIRED | FLAG_PROPER | dup
    flag_a = base | FLAG_MATE_REVERSE | (FLAG_READ2 if r1_reverse else FLAG_READ1)
    flag_b = base | FLAG_REVERSE | (FLAG_READ1 if r1_reverse else FLAG_READ2)
    rec_off[nrec] = o
    rec_key[nrec] = (np.int64(tid) << 36) | pos_a
    o = _write_record(out, o, tid, pos_a, end_a, mapq, flag_a, seq_a, qual_a, lq_a,
                      ops_a, lens_a, n_a, pos_b, tlen_a, name_prefix, name_id,
                      ops_b, lens_b, n_b, rg_tag, sp_tags, sp0, sp1, rx, rx_len, mi, mi_len)
    rec_off[nrec + 1] = o
    rec_key[nrec + 1] = (np.int64(tid) << 36) | pos_b
    o = _write_record(out, o, tid, pos_b, end_b, mapq, flag_b, seq_b, qual_b, lq_b,
                      ops_b, lens_b, n_b, pos_a, tlen_b, name_prefix, name_id,
                      ops_a, lens_a, n_a, rg_tag, sp_tags, sp0, sp1, rx, rx_len, mi, mi_len)
    return o


@njit(cache=True, nogil=True)
def _umi_text(rx, p, codes, n, err, state):
    """Write ``n`` UMI base codes as ASCII at ``rx[p:]``, each misread with probability ``err``."""
    for k in range(n):
        b = codes[k]
        if err > 0 and _uniform(state) < err:
            b = (b + 1 + _below(state, 3)) & 3
        rx[p + k] = _ACGT[b]
    return p + n


@njit(cache=True, nogil=True)
def _pcr_bases(ft, sidx, ns, nr, cycles, pcr_rate, state, paths, mark, mval, rb):
    """Template base of each of ``nr`` reads of one strand family at its ``ns`` sites, after PCR.

    Each read descends from the strand's molecule through ``cycles`` doublings; its lineage is
    a random path (one bit a cycle, the first 16 cycles tracked), so two reads share the copy
    of cycle ``c`` with probability ``2**-c``.  A polymerase error (rate ``pcr_rate`` per base
    and doubling) in a copy is inherited by every read descending from it; errors of untracked
    later cycles hit one read each.  ``rb[r, k]``: base of read ``r`` at site ``k``.
    """
    tracked = min(cycles, 16)
    for r in range(nr):
        paths[r] = np.int64(_rand(state) & np.uint64((1 << tracked) - 1))
    stamp = 0
    for k in range(ns):
        for r in range(nr):
            rb[r, k] = ft[sidx[k]]
        for c in range(1, tracked + 1):
            stamp += 1
            for r in range(nr):
                pref = paths[r] >> (tracked - c)
                if mark[pref] != stamp:
                    mark[pref] = stamp
                    mval[pref] = 1 + _below(state, 3) if _uniform(state) < pcr_rate else 0
                if mval[pref] > 0:
                    rb[r, k] = (rb[r, k] + mval[pref]) & 3
        if cycles > tracked:
            for r in range(nr):
                if _uniform(state) < (cycles - tracked) * pcr_rate:
                    rb[r, k] = (rb[r, k] + 1 + _below(state, 3)) & 3


@njit(cache=True, nogil=True)
def encode_fragments(genome, site_gpos, site_alleles,
                     frag_tid, frag_pos, frag_len, frag_src, frag_copy, frag_mapq, frag_ndup,
                     read_len, indel_rate, clip_rate, umi_len,
                     qual_values, qual_thr, err_thr, sub_cum, sub_tgt,
                     name_prefix, name_start, rg_tag, sp_tags, sp_off,
                     seed, out, rec_off, rec_key, site_ref, site_alt, prof_rate, prof_other,
                     frag_fam, duplex, pcr_rate, pcr_cycles, damage_rate, umi_err, write_mi, mol_start):
    """Encode every fragment (and its duplicate copies, or its UMI families) as BAM records.

    Parameters (all arrays; n = number of fragments)
    ----------
    genome : uint8 (genome_length,)  base codes 0..3 of all contigs, concatenated
    site_gpos : int64 (n_sites,)  sorted genome-global offsets of the SNP sites
    site_alleles : uint8 (n_copies, n_sites)  base code carried by each haplotype copy
    frag_tid, frag_pos : int32/int64 (n,)  placed contig and 0-based start
    frag_len : int32 (n,)  fragment length (bp)
    frag_src : int64 (n,)  genome-global offset of the fragment's first source base
    frag_copy : int32 (n,)  haplotype copy (``2 * person + copy``) the fragment comes from
    frag_mapq : uint8 (n,)
    frag_ndup : int32 (n,)  extra PCR-duplicate copies (flagged 0x400); without UMI families
    qual_thr : uint64 (n_bins,)  cumulative thresholds (top 32 bits) choosing a quality bin
    err_thr : uint64 (n_bins, 5)  error threshold (low 32 bits) per bin and true base
    sub_cum, sub_tgt : (4, 3)  cumulative choice of the wrong base given an error
    sp_tags : uint8  ``spZ<person>\\0`` of every person, concatenated; sp_off (n_people+1,)
    seed : int  seed of this chunk's random stream, drawn from the caller's rng
    out : uint8  output buffer (large enough); rec_off/rec_key : int64 (n_records,)
    site_ref, site_alt : uint8 (n_sites,)  the sites' alleles
    prof_rate : float64 (n_sites, 2, 2) or (0, 2, 2)  a panel error profile's per-site rates
        ``[site, REF>ALT | ALT>REF, forward | reverse read]`` (:func:`_site_errors`); empty: none
    prof_other : float64 (n_sites,)  its per-site rate of a third base
    frag_fam : int32 (n, 2) or (0, 2)  UMI library: reads of each molecule's strand families
        (A: read 1 forward; B: read 1 reverse, duplex only); empty: no UMI families (duplicates
        as ``frag_ndup``, with one random UMI of ``umi_len`` bases per fragment)
    duplex : bool  both strands, UMIs ``X-Y`` (strand A) and ``Y-X`` (strand B), halves of ``umi_len``
    pcr_rate : float  polymerase error per base and doubling; pcr_cycles : int
    damage_rate : float  per-base change of one strand before amplification (single-strand damage)
    umi_err : float  per-base UMI sequencing error; write_mi : bool  add ``MI`` (fgbio style)
    mol_start : int  molecule id of the first fragment (MI)

    Returns
    -------
    (n_records, n_bytes, next_name)
    """
    state = np.zeros(1, dtype=np.uint64)
    state[0] = np.uint64(seed)
    max_len = 0
    max_fam = 1
    for i in range(frag_len.shape[0]):
        max_len = max(max_len, frag_len[i])
    for i in range(frag_fam.shape[0]):
        max_fam = max(max_fam, frag_fam[i, 0], frag_fam[i, 1])
    fs = np.empty(max_len + 1, dtype=np.uint8)
    ft = np.empty(max_len + 1, dtype=np.uint8)
    fr = np.empty(max_len + 1, dtype=np.uint8)
    sidx = np.empty(max_len + 1, dtype=np.int64)
    seq_a = np.empty(read_len + 8, dtype=np.uint8)
    seq_b = np.empty(read_len + 8, dtype=np.uint8)
    qual_a = np.empty(read_len + 8, dtype=np.uint8)
    qual_b = np.empty(read_len + 8, dtype=np.uint8)
    qref_a = np.empty(read_len + 8, dtype=np.int64)
    qref_b = np.empty(read_len + 8, dtype=np.int64)
    ops_a = np.empty(MAX_OPS, dtype=np.int64)
    lens_a = np.empty(MAX_OPS, dtype=np.int64)
    ops_b = np.empty(MAX_OPS, dtype=np.int64)
    lens_b = np.empty(MAX_OPS, dtype=np.int64)
    umi = np.zeros(max(umi_len, 1), dtype=np.uint8)
    umi_y = np.zeros(max(umi_len, 1), dtype=np.uint8)
    rx = np.zeros(2 * max(umi_len, 1) + 2, dtype=np.uint8)
    mi = np.zeros(32, dtype=np.uint8)
    paths = np.zeros(max_fam, dtype=np.int64)
    mark = np.zeros(1 << 16, dtype=np.int64)
    mval = np.zeros(1 << 16, dtype=np.int64)
    rb = np.zeros((max_fam, max_len + 1), dtype=np.uint8)
    families = frag_fam.shape[0] > 0
    n_sites = site_gpos.shape[0]
    o = 0
    nrec = 0
    name_id = name_start
    for i in range(frag_len.shape[0]):
        L = frag_len[i]
        src = frag_src[i]
        for j in range(L):
            fs[j] = genome[src + j]
        # SNP alleles of this haplotype copy
        s = np.searchsorted(site_gpos, src)
        ns = 0
        while s < n_sites and site_gpos[s] < src + L:
            fs[site_gpos[s] - src] = site_alleles[frag_copy[i], s]
            sidx[ns] = site_gpos[s] - src
            ns += 1
            s += 1
        for k in range(umi_len):
            umi[k] = _below(state, 4)
        rl = min(read_len, L)
        tid = frag_tid[i]
        person = frag_copy[i] // 2
        sp0 = sp_off[person]
        sp1 = sp_off[person + 1]
        if not families:
            for k in range(umi_len):
                rx[k] = _ACGT[umi[k]]
            for d in range(frag_ndup[i] + 1):
                r1_reverse = _uniform(state) < 0.5
                dup = 0
                if d > 0:
                    dup = FLAG_DUP
                o = _emit_pair(out, o, nrec, rec_off, rec_key, fs, L, src, tid, frag_pos[i], frag_mapq[i],
                               r1_reverse, dup, rl, indel_rate, clip_rate, state,
                               qual_values, qual_thr, err_thr, sub_cum, sub_tgt, name_prefix, name_id, rg_tag,
                               sp_tags, sp0, sp1, rx, umi_len, mi, 0, site_gpos, site_ref, site_alt, prof_rate,
                               prof_other, seq_a, seq_b, qual_a, qual_b, qref_a, qref_b, ops_a, lens_a, ops_b,
                               lens_b)
                nrec += 2
                name_id += 1
            continue
        # ---- a UMI library: the molecule's strand families
        if duplex:
            for k in range(umi_len):
                umi_y[k] = _below(state, 4)
        r1_mol = _uniform(state) < 0.5
        for strand in range(2 if duplex else 1):
            nr = frag_fam[i, strand]
            if nr == 0:
                continue
            for j in range(L):
                ft[j] = fs[j]
            for k in range(ns):
                if damage_rate > 0 and _uniform(state) < damage_rate:
                    ft[sidx[k]] = (ft[sidx[k]] + 1 + _below(state, 3)) & 3
            _pcr_bases(ft, sidx, ns, nr, pcr_cycles, pcr_rate, state, paths, mark, mval, rb)
            r1_reverse = r1_mol
            if duplex:
                r1_reverse = strand == 1
            mi_len = 0
            if write_mi:
                mi_len = _put_uint(mi, 0, mol_start + i)
                if duplex:
                    mi[mi_len] = 47
                    mi[mi_len + 1] = 65 + strand
                    mi_len += 2
            for r in range(nr):
                for j in range(L):
                    fr[j] = ft[j]
                for k in range(ns):
                    fr[sidx[k]] = rb[r, k]
                if duplex:
                    first, second = umi, umi_y
                    if strand == 1:
                        first, second = umi_y, umi
                    p = _umi_text(rx, 0, first, umi_len, umi_err, state)
                    rx[p] = 45
                    p = _umi_text(rx, p + 1, second, umi_len, umi_err, state)
                else:
                    p = _umi_text(rx, 0, umi, umi_len, umi_err, state)
                o = _emit_pair(out, o, nrec, rec_off, rec_key, fr, L, src, tid, frag_pos[i], frag_mapq[i],
                               r1_reverse, 0, rl, indel_rate, clip_rate, state,
                               qual_values, qual_thr, err_thr, sub_cum, sub_tgt, name_prefix, name_id, rg_tag,
                               sp_tags, sp0, sp1, rx, p, mi, mi_len, site_gpos, site_ref, site_alt, prof_rate,
                               prof_other, seq_a, seq_b, qual_a, qual_b, qref_a, qref_b, ops_a, lens_a, ops_b,
                               lens_b)
                nrec += 2
                name_id += 1
    return nrec, o, name_id


@njit(cache=True, nogil=True)
def gather_records(buf, offs, lens, order, out):
    """Copy records ``order`` of ``buf`` (at ``offs``/``lens``) contiguously into ``out``."""
    o = 0
    for k in range(order.shape[0]):
        i = order[k]
        s = offs[i]
        n = lens[i]
        out[o:o + n] = buf[s:s + n]
        o += n
    return o
