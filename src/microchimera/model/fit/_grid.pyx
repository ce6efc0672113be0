# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled inner loop of the expected log-likelihood over a read-count grid
(:class:`microchimera.model.fit.expected._Grid`).

A chunk of the grid is ``G`` points ``(site s_g, alt count x_g)`` of sites that have ``m``
genotype configurations each, the configurations of site ``s`` being the entries
``starts[s] .. starts[s] + m - 1``.  For the null's alt-read probabilities ``p`` per entry,
each point's log probability is the mixture over its configurations

    ``l_g = log sum_j exp(logw[e] + x_g log p[e] + (n_s - x_g) log(1 - p[e]))``

(without the binomial coefficient), and with the derivatives ``dp`` (D, n_entries) of ``p``
its score ``u_g = sum_j r_gj (x_g / p[e] - (n_s - x_g) / (1 - p[e])) dp[:, e]`` with
``r_gj`` the configuration's posterior share.  :func:`chunk_terms` returns
``sum_g w_g l_g``, ``sum_g w_g u_g`` and ``sum_g w_g u_g u_g^T`` in one pass, where NumPy
needed a dozen (G, m) temporaries.
"""
from libc.math cimport exp, log
from libc.stdint cimport int64_t
import numpy as np


def chunk_terms(const int64_t[::1] site, const double[::1] x, const double[::1] weight, const int64_t[::1] starts,
                int m, const double[::1] n, const double[::1] logw, const double[::1] logp,
                const double[::1] log1mp, const double[::1] p, const double[:, ::1] dp):
    """``(total, grad, fisher)`` of one chunk (module docstring); ``dp`` of shape (0, 0) for
    the log-likelihood alone (``grad`` and ``fisher`` then of size 0).

    ``site``, ``x``, ``weight``: (G,); ``starts``: first entry of each site; ``n``: reads per
    site; ``logw``, ``logp``, ``log1mp``, ``p``: per entry; ``dp``: (D, n_entries).
    """
    cdef Py_ssize_t G = site.shape[0], D = dp.shape[0], g, j, d, d2, e0, e
    cdef double total = 0.0, top, acc, lse, xx, nn, r, t
    cdef double lb[64]
    cdef double score[16]
    if m > 64:
        raise ValueError(f"chunk_terms: {m} configurations per site (at most 64)")
    if D > 16:
        raise ValueError(f"chunk_terms: {D} derivatives (at most 16)")
    grad_a = np.zeros(D)
    fisher_a = np.zeros((D, D))
    cdef double[::1] grad = grad_a
    cdef double[:, ::1] fisher = fisher_a
    with nogil:
        for g in range(G):
            e0 = starts[site[g]]
            xx = x[g]
            nn = n[site[g]]
            top = -1e300
            for j in range(m):
                e = e0 + j
                t = logw[e] + xx * logp[e] + (nn - xx) * log1mp[e]
                lb[j] = t
                if t > top:
                    top = t
            acc = 0.0
            for j in range(m):
                lb[j] = exp(lb[j] - top)  # from here on, the configuration's unnormalised share
                acc += lb[j]
            lse = top + log(acc)
            total += weight[g] * lse
            if D == 0:
                continue
            for d in range(D):
                score[d] = 0.0
            for j in range(m):
                e = e0 + j
                r = lb[j] / acc * (xx / p[e] - (nn - xx) / (1.0 - p[e]))
                for d in range(D):
                    score[d] += r * dp[d, e]
            for d in range(D):
                grad[d] += weight[g] * score[d]
                for d2 in range(D):
                    fisher[d, d2] += weight[g] * score[d] * score[d2]
    return total, grad_a, fisher_a
