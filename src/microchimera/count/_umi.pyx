# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled steps of UMI counting (:mod:`microchimera.count.umi`): reads grouped into molecule
families by UMI, and the consensus base of each family at each site.

``tests/reference.py`` holds slow, obviously-correct versions of both; the tests compare.
"""
from libc.math cimport exp, log, pow
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

import numpy as np


cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil


cdef inline int _hamming(int64_t a, int64_t b) noexcept nogil:
    """Bases differing between two UMI codes (``length << 56 | 2-bit bases``); 99 when the
    lengths differ."""
    cdef uint64_t x = <uint64_t>(a ^ b)
    if (x >> 56) != 0:
        return 99
    x = (x | (x >> 1)) & 0x5555555555555555ULL
    return __builtin_popcountll(x)


def directional(const int64_t[::1] group_start, const int64_t[::1] umi, const int64_t[::1] count,
                int64_t[::1] cluster, int64_t first_cluster=0):
    """UMI-tools' *directional* grouping of the distinct UMIs of each position group.

    Within a group, UMI ``a`` reaches UMI ``b`` when they differ at one base and
    ``count[a] >= 2 * count[b] - 1`` (``b`` looks like an error of ``a``).  Taking the UMIs in
    the order given (callers sort each group by count, descending),
    each UMI not yet in a cluster starts one, made of every UMI reachable from it (through any
    UMI, clustered or not) that is not yet in a cluster.

    Parameters
    ----------
    group_start : int64 (n_groups + 1,)
        Boundaries of the groups in the arrays below.
    umi, count : int64 (n,)
        Distinct UMI codes of each group and their read counts, in processing order.
    cluster : int64 (n,), output
        Cluster id of each UMI, numbered from ``first_cluster`` in order of creation.

    Returns
    -------
    int
        The next free cluster id.
    """
    cdef int64_t n_groups = group_start.shape[0] - 1, g, a, b, i, j, k, head, tail, nid = first_cluster
    cdef int64_t n = umi.shape[0], width = 0
    if count.shape[0] != n or cluster.shape[0] != n:
        raise ValueError("directional: arrays disagree in length")
    for g in range(n_groups):
        width = max(width, group_start[g + 1] - group_start[g])
    seen_arr = np.zeros(max(width, 1), np.int64)
    queue_arr = np.zeros(max(width, 1), np.int64)
    cdef int64_t[::1] seen = seen_arr, queue = queue_arr
    cdef int64_t stamp = 0
    with nogil:
        for i in range(n):
            cluster[i] = -1
        for g in range(n_groups):
            a = group_start[g]
            b = group_start[g + 1]
            for i in range(b - a):
                seen[i] = 0
            for i in range(a, b):
                if cluster[i] >= 0:
                    continue
                # breadth-first search from i over the whole group
                stamp += 1
                head = 0
                tail = 1
                queue[0] = i - a
                seen[i - a] = stamp
                while head < tail:
                    j = queue[head] + a
                    head += 1
                    if cluster[j] < 0:
                        cluster[j] = nid
                    for k in range(a, b):
                        if seen[k - a] != stamp and count[j] >= 2 * count[k] - 1 and _hamming(umi[j], umi[k]) == 1:
                            seen[k - a] = stamp
                            queue[tail] = k - a
                            tail += 1
                nid += 1
    return nid


def consensus(const int64_t[::1] key, const int64_t[::1] site, const uint8_t[::1] base, const uint8_t[::1] qual,
              int64_t[::1] out_key, int64_t[::1] out_site, uint8_t[::1] out_base, double[::1] out_err,
              int32_t[::1] out_reads):
    """Consensus base of each run of rows with the same ``(key, site)`` (rows sorted by both).

    Each row is one read's base (0..3 for A, C, G, T) and its Phred quality ``q``, read as an
    error probability ``e = 10 ** (-q / 10)`` (at most 3/4) spread evenly over the three other
    bases.  The consensus is the base of highest likelihood under a flat prior; its error is
    the posterior probability of the other three.  Ties (within 1e-9 in log-likelihood, so that the order of the reads does
    not matter) go to the lowest base code.

    Returns
    -------
    int
        Runs written to the ``out_*`` arrays (each at least as long as the rows): their key,
        site, consensus base, error probability and number of reads.
    """
    cdef int64_t n = key.shape[0], i = 0, j, m = 0, b, best
    cdef double ll[4]
    cdef double match[256]
    cdef double miss[256]
    cdef double e, tot
    if site.shape[0] != n or base.shape[0] != n or qual.shape[0] != n:
        raise ValueError("consensus: row arrays disagree in length")
    if out_key.shape[0] < n or out_site.shape[0] < n or out_base.shape[0] < n or out_err.shape[0] < n \
            or out_reads.shape[0] < n:
        raise ValueError("consensus: output arrays shorter than the rows")
    for b in range(256):
        e = min(pow(10.0, -b / 10.0), 0.75)
        match[b] = log(1.0 - e)
        miss[b] = log(e / 3.0)
    with nogil:
        while i < n:
            ll[0] = ll[1] = ll[2] = ll[3] = 0.0
            j = i
            while j < n and key[j] == key[i] and site[j] == site[i]:
                for b in range(4):
                    ll[b] += match[qual[j]] if base[j] == b else miss[qual[j]]
                j += 1
            best = 0
            for b in range(1, 4):
                if ll[b] > ll[best]:
                    best = b
            for b in range(4):  # a tie (to rounding: sums in another order) goes to the lowest base
                if ll[b] >= ll[best] - 1e-9:
                    best = b
                    break
            tot = 0.0
            for b in range(4):
                if b != best:
                    tot += exp(ll[b] - ll[best])
            out_key[m] = key[i]
            out_site[m] = site[i]
            out_base[m] = <uint8_t>best
            out_err[m] = tot / (1.0 + tot)
            out_reads[m] = <int32_t>(j - i)
            m += 1
            i = j
    return m
