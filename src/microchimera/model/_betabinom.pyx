# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled beta-binomial log-pmf terms and their ``p``-derivatives, one pass per element.

:func:`microchimera.model.likelihood.bb_logpmf_terms` calls :func:`bb_terms`; the NumPy
form it replaces made ~20 passes over the keys (six ``gammaln``, four ``digamma`` and four
``trigamma`` arrays and their sums) and was half of a no-family fit's time.

Per element, with ``tau = 1/rho - 1``, ``a = p tau``, ``b = (1 - p) tau``:

* ``log P = [lnG(x + a) - lnG(a)] + [lnG(n - x + b) - lnG(b)] - [lnG(n + tau) - lnG(tau)]``
  (without the binomial coefficient);
* ``d/dp = tau [psi(x + a) - psi(a) - psi(n - x + b) + psi(b)]``;
* ``d2/dp2 = tau^2 [psi'(x + a) - psi'(a) + psi'(n - x + b) - psi'(b)]``.

Each bracket ``F(k + c) - F(c)`` with a whole ``k <= SMALL`` is the finite sum over
``c, c + 1, ..., c + k - 1`` (``log``, ``1/t``, ``-1/t^2``): exact, and cheaper than two
special functions (one side of most keys is a handful of reads).  Otherwise the ``lnG``
difference from Stirling's series (:func:`_lgamma_rise`; ``lgamma`` below 10), and
``psi``/``psi'`` by recurrence up to 10 and their asymptotic series (relative error below
1e-12 for the arguments here).
"""
from libc.math cimport lgamma, log, log1p, floor
import numpy as np

cdef int SMALL = 16


cdef inline double _digamma(double x) noexcept nogil:
    cdef double acc = 0.0, inv, inv2
    while x < 10.0:
        acc -= 1.0 / x
        x += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    return acc + log(x) - 0.5 * inv - inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (
        1.0 / 240 - inv2 * (1.0 / 132)))))


cdef inline double _trigamma(double x) noexcept nogil:
    cdef double acc = 0.0, inv, inv2
    while x < 10.0:
        acc += 1.0 / (x * x)
        x += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    return acc + inv + inv2 * (0.5 + inv * (1.0 / 6 - inv2 * (1.0 / 30 - inv2 * (1.0 / 42 - inv2 * (
        1.0 / 30 - inv2 * (5.0 / 66))))))


cdef inline double _lgamma_rise(double k, double c) noexcept nogil:
    """``lnG(k + c) - lnG(c)`` for ``k >= 0``: for ``c >= 10`` from Stirling's series, the two
    ``(z - 1/2) log z`` terms combined through ``log1p(k / c)`` (no cancellation of two
    ``lnG`` of up to ~1e7), series to ``1/z^9`` (truncation below 1e-13); else ``lgamma``."""
    cdef double z, i0, i1
    if c < 10.0:
        return lgamma(k + c) - lgamma(c)
    z = k + c
    i0 = 1.0 / (c * c)
    i1 = 1.0 / (z * z)
    return ((c - 0.5) * log1p(k / c) + k * log(z) - k
            + (1.0 / z) * (1.0 / 12 - i1 * (1.0 / 360 - i1 * (1.0 / 1260 - i1 * (1.0 / 1680 - i1 / 1188))))
            - (1.0 / c) * (1.0 / 12 - i0 * (1.0 / 360 - i0 * (1.0 / 1260 - i0 * (1.0 / 1680 - i0 / 1188)))))


cdef inline void _rise(double k, double c, int order, double* d0, double* d1, double* d2) noexcept nogil:
    """``lnG(k + c) - lnG(c)``, ``psi(k + c) - psi(c)``, ``psi'(k + c) - psi'(c)`` into d0..d2."""
    cdef int i, m
    cdef double t
    if k == 0.0:
        d0[0] = 0.0
        d1[0] = 0.0
        d2[0] = 0.0
        return
    if k <= SMALL and k == floor(k):
        m = <int>k
        d0[0] = 0.0
        d1[0] = 0.0
        d2[0] = 0.0
        for i in range(m):
            t = c + i
            d0[0] += log(t)
            if order >= 1:
                d1[0] += 1.0 / t
                if order >= 2:
                    d2[0] -= 1.0 / (t * t)
        return
    d0[0] = _lgamma_rise(k, c)
    if order >= 1:
        d1[0] = _digamma(k + c) - _digamma(c)
        if order >= 2:
            d2[0] = _trigamma(k + c) - _trigamma(c)


def bb_terms(const double[::1] x, const double[::1] n, const double[::1] p, const double[::1] rho, int order):
    """``(log P,)``, ``(log P, d/dp)`` or ``(log P, d/dp, d2/dp2)`` for ``order`` 0, 1, 2.

    ``x``, ``n``, ``p``: float64 (m,), ``p`` in (0, 1); ``rho``: float64 (m,) or (1,) (one
    value for every element), each in (0, 1).  Returns float64 arrays of shape (m,).
    """
    cdef Py_ssize_t m = x.shape[0], i
    cdef bint one = rho.shape[0] == 1
    cdef double tau = 0.0, a, b, ax0 = 0.0, ax1 = 0.0, ax2 = 0.0, bx0 = 0.0, bx1 = 0.0, bx2 = 0.0, nx0 = 0.0, unused
    out0 = np.empty(m)
    out1 = np.empty(m if order >= 1 else 0)
    out2 = np.empty(m if order >= 2 else 0)
    cdef double[::1] o0 = out0, o1 = out1, o2 = out2
    if one:
        tau = 1.0 / rho[0] - 1.0
    with nogil:
        for i in range(m):
            if not one:
                tau = 1.0 / rho[i] - 1.0
            a = p[i] * tau
            b = (1.0 - p[i]) * tau
            _rise(x[i], a, order, &ax0, &ax1, &ax2)
            _rise(n[i] - x[i], b, order, &bx0, &bx1, &bx2)
            _rise(n[i], tau, 0, &nx0, &unused, &unused)
            o0[i] = ax0 + bx0 - nx0
            if order >= 1:
                o1[i] = tau * (ax1 - bx1)
                if order >= 2:
                    o2[i] = tau * tau * (ax2 + bx2)
    if order == 0:
        return (out0,)
    if order == 1:
        return out0, out1
    return out0, out1, out2
