"""What a sample's design is expected to show, with the genotypes summed out exactly.

The limit of detection is a property of the design (sites, depth per site, error rates,
who is typed), not of where one estimate fell.  It is therefore computed from expectations
over the reads the model predicts, never from the observed information at the estimate:
for a donor whose genotypes are summed out, the observed curvature at ``f = 0`` is a small
and noisy fraction of the curvature at any ``f > 0``, because there the configurations
cannot be told apart.

* :func:`expected_lrt` -- ``2 sum_i KL(P_i(. | f_alt) || P_i(. | f_null)) / (1 + (n_i - 1) rho)``,
  the expected likelihood-ratio statistic of the fractions ``f_null`` when the reads are
  drawn at ``f_alt``, error rates known;
* :func:`profiled_lrt` -- the same against the *least favourable* null: ``f_donor = 0``,
  the other fractions and the error multiplier ``kappa`` chosen to fit the expected reads
  best, as ``quantify``'s test re-fits them under the null.  Reads of this donor that another
  donor or a higher error rate explains do not count.

``P_i(x | f) = sum_c w_ic Bin(x; n_i, p_ic(f))`` is the distribution of alt reads at site
``i``: the mixture over the genotype configurations ``c`` of the untyped people, with their
prior weights (the model of :mod:`microchimera.model.likelihood`, binomial; overdispersion
enters only as the variance factor ``1 + (n - 1) rho``, as in the genotype-oracle
:func:`~.detection.expected_lrt`).  The sums over ``x`` run over the reads each
configuration can produce, ``n p +/- (8 sd + 8)``: the binomial mass outside is below 1e-14.
A configuration whose window is wider than ``MAX_WINDOW`` counts (a heterozygous host at
depth) is taken with its genotypes known (the per-configuration Bernoulli KL).  That is an
upper bound, and a negligible share of the sum, since a donor moves such a site's alt share
by ``f/2`` around 1/2.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import gammaln

from ..likelihood import Evaluation, ModelData
from ._grid import chunk_terms
from .evaluation import read_prob_gradient
from .optimisation import ERROR_SCALE_BOUNDS, _projected_newton

#: Widest read-count window (in counts) summed exactly; wider configurations are taken as typed.
MAX_WINDOW = 64
_SD = 8.0
_P_EPS = 1e-12
#: Matrix cells (grid points x configurations) evaluated at once: bounds the memory of a pass.
_CHUNK = 2_000_000


def _prior_logw(data: ModelData) -> np.ndarray:
    """Log prior weight of each entry, normalised over its site's configurations."""
    top = np.maximum.reduceat(data.entry_logw, data.starts)[data.entry_site]
    rel = data.entry_logw - top
    total = np.bincount(data.entry_site, weights=np.exp(rel), minlength=data.n_sites)
    return rel - np.log(total)[data.entry_site]


def _entry_p(data: ModelData, f) -> np.ndarray:
    p_combo, _ = data.combo_p(np.asarray(f, dtype=np.float64))
    return np.clip(p_combo[data.entry_combo], _P_EPS, 1 - _P_EPS)


def _site_rho(data: ModelData, rho: float, logw: np.ndarray):
    """``rho`` plus each site's prior-weighted mean of :attr:`ModelData.combo_rho` (a panel of
    normals' rate uncertainty), float or ndarray (n_sites,)."""
    if data.combo_rho is None:
        return rho
    w = np.exp(logw - np.max(logw))
    tot = np.bincount(data.entry_site, weights=w, minlength=data.n_sites)
    extra = np.bincount(data.entry_site, weights=w * data.combo_rho[data.entry_combo], minlength=data.n_sites)
    return np.minimum(rho + extra / np.maximum(tot, 1e-300), 0.5)


class _Grid:
    """The alt-read counts the reads drawn at ``f_alt`` can show, and their expected mass.

    Each site gets a low window (configurations whose mean count is below ``n/2``) and a
    high one, merged where they overlap; the points are grouped by the site's number of
    configurations ``m`` and cut into chunks, so every chunk is a dense (G, m) matrix.
    ``weight`` of a point is the probability that the exactly summed configurations give
    that count, over the site's ``1 + (n - 1) rho``; ``alt_total`` the weighted sum of the
    points' log probabilities under ``f_alt`` without the binomial coefficient (it cancels in
    every ratio): the first term of :meth:`kl`.
    """

    def __init__(self, data: ModelData, f_alt, rho: float):
        self.data = data
        self.logw = _prior_logw(data)
        p = _entry_p(data, f_alt)
        self.p_alt = p
        n = data.n[data.entry_site]
        mean = n * p
        half = _SD * np.sqrt(n * p * (1.0 - p)) + _SD
        lo = np.clip(np.floor(mean - half), 0, n)
        hi = np.clip(np.ceil(mean + half), 0, n)
        self.exact = (hi - lo) <= MAX_WINDOW
        site, x = self._points(lo, hi, mean < n / 2)
        starts = data.starts  # every site has at least one configuration
        m = np.bincount(data.entry_site, minlength=data.n_sites)[site]
        order = np.argsort(m, kind="stable")
        site, x, m = site[order], x[order], m[order]
        inflate = 1.0 + (data.n - 1.0) * _site_rho(data, rho, self.logw)
        self.starts = np.ascontiguousarray(starts, dtype=np.int64)
        self.n = np.ascontiguousarray(data.n, dtype=np.float64)
        self.logw = np.ascontiguousarray(self.logw, dtype=np.float64)
        self.chunks = []
        self.alt_total = 0.0  # sum of weight x log P(x | f_alt) over the chunks: the KL's first term
        for mm in np.unique(m):
            idx = np.flatnonzero(m == mm)
            step = max(1, _CHUNK // int(mm))
            for a in range(0, len(idx), step):
                sel = idx[a:a + step]
                s, xx = site[sel], x[sel]
                e = starts[s][:, None] + np.arange(mm)
                lb = self._log_binom(e, s, xx, p)
                log_choose = gammaln(data.n[s] + 1.0) - gammaln(xx + 1.0) - gammaln(data.n[s] - xx + 1.0)
                exact_lb = np.where(self.exact[e], lb, -np.inf)
                weight = np.exp(_logsumexp(exact_lb) + log_choose) / inflate[s]
                self.chunks.append((np.ascontiguousarray(s, dtype=np.int64), xx, int(mm), weight))
                self.alt_total += float(weight @ _logsumexp(lb))
        wide = ~self.exact
        ws = data.entry_site[wide]
        self.wide = wide
        self.wide_weight = np.exp(self.logw[wide]) * data.n[ws] / inflate[ws]

    def _points(self, lo, hi, low):
        """Sites and counts of the grid (each site's low and high windows, merged when they meet)."""
        data = self.data
        s = data.entry_site
        out = []
        windows = []
        for part in (self.exact & low, self.exact & ~low):
            a = np.full(data.n_sites, np.inf)
            b = np.full(data.n_sites, -np.inf)
            np.minimum.at(a, s[part], lo[part])
            np.maximum.at(b, s[part], hi[part])
            windows.append([a, b])
        (a_lo, b_lo), (a_hi, b_hi) = windows
        meet = np.isfinite(a_lo) & np.isfinite(a_hi) & (b_lo >= a_hi - 1)
        b_lo[meet] = b_hi[meet]
        a_hi[meet] = np.inf
        for a, b in windows:
            ok = np.isfinite(a)
            length = (b[ok] - a[ok] + 1).astype(np.int64)
            site = np.repeat(np.flatnonzero(ok), length)
            offset = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
            out.append((site, np.repeat(a[ok], length) + offset))
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out]).astype(np.float64)

    def _log_binom(self, e, s, x, p):
        """Log prior weight + binomial log pmf without the coefficient, (G, m)."""
        n = self.data.n[s][:, None]
        xx = x[:, None]
        return self.logw[e] + xx * np.log(p)[e] + (n - xx) * np.log1p(-p)[e]

    def _null_terms(self, p0: np.ndarray, dp: np.ndarray | None):
        """``sum_g w_g log P(x_g | p0)`` over the chunks and, with ``dp``, its gradient and
        expected outer product of scores (the compiled loop, :func:`._grid.chunk_terms`)."""
        p0 = np.ascontiguousarray(p0, dtype=np.float64)
        logp, log1mp = np.log(p0), np.log1p(-p0)
        d = 0 if dp is None else len(dp)
        dp = np.zeros((0, 0)) if dp is None else np.ascontiguousarray(dp, dtype=np.float64)
        total, grad, fisher = 0.0, np.zeros(d), np.zeros((d, d))
        for s, x, mm, weight in self.chunks:
            t, g, h = chunk_terms(s, x, weight, self.starts, mm, self.n, self.logw, logp, log1mp, p0, dp)
            total += t
            if d:
                grad += g
                fisher += h
        return total, grad, fisher

    def kl(self, p0: np.ndarray) -> float:
        """``sum_i KL(P_i(. | f_alt) || P_i(. | p0)) / (1 + (n_i - 1) rho)``, ``p0`` per entry."""
        return self.alt_total - self._null_terms(p0, None)[0] + self._wide_kl(p0)

    def _wide_kl(self, p0):
        a, b = self.p_alt[self.wide], p0[self.wide]
        return float(self.wide_weight @ (a * np.log(a / b) + (1 - a) * np.log((1 - a) / (1 - b))))

    def expected_loglik(self, p0: np.ndarray, dp: np.ndarray | None) -> Evaluation:
        """Expected log-likelihood of the null ``p0`` (per entry) under the grid's reads, up to
        a constant; with ``dp`` (D, n_entries), its gradient and the negative expected outer
        product of the scores (the Fisher approximation of its Hessian)."""
        if dp is None:
            return Evaluation(self._null_terms(p0, None)[0] - self._wide_kl(p0), None)
        total, grad, fisher = self._null_terms(p0, dp)
        total -= self._wide_kl(p0)
        if self.wide.any():
            a, b = self.p_alt[self.wide], p0[self.wide]
            g = dp[:, self.wide]
            grad += g @ (self.wide_weight * (a / b - (1 - a) / (1 - b)))
            fisher += (g * (self.wide_weight / (b * (1 - b)))) @ g.T
        return Evaluation(total, None, grad, -fisher)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """``log sum exp`` of each row of ``a`` (G, m); a row of -inf gives -inf.  What
    ``scipy.special.logsumexp(a, axis=1)`` returns, in half its time on these matrices."""
    top = a.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(a - safe[:, None]).sum(axis=1))


def expected_lrt(data: ModelData, f_alt, f_null, rho: float = 0.0) -> float:
    """Expected LRT statistic of the fractions ``f_null`` when the reads are drawn at ``f_alt``.

    ``2 sum_i KL(P_i(. | f_alt) || P_i(. | f_null)) / (1 + (n_i - 1) rho)``, the genotype
    configurations of the untyped people summed out exactly and the error rates known (see
    the module notes).  Equal to the genotype-oracle :func:`~.detection.expected_lrt` where
    every site has one configuration.

    Parameters
    ----------
    data : ModelData
    f_alt, f_null : ndarray, float64, shape (n_donors,)
        Fractions (shares of genome equivalents, 0..1) of the truth and of the null.
    rho : float
        Beta-binomial overdispersion (a variance factor per site).
    """
    if data.n_sites == 0:
        return 0.0
    return 2.0 * _Grid(data, f_alt, rho).kl(_entry_p(data, f_null))


def profiled_lrt(data: ModelData, f_alt, donor: int, rho: float = 0.0, tol: float = 1e-6) -> float:
    """Expected LRT statistic of ``f_donor = 0`` against the least favourable null.

    ``min over (f_others >= 0, kappa) of 2 sum_i KL(P_i(. | f_alt) || P_i(. | f_null, kappa))
    / (1 + (n_i - 1) rho)`` with ``f_null[donor] = 0``: the other fractions and the error
    multiplier (``kappa`` times ``data.error_rate``, within ``ERROR_SCALE_BOUNDS``) re-fitted
    to the expected reads, as :class:`~.detection.LikelihoodRatioTest` re-fits them to the
    observed ones (projected Newton on the expected log-likelihood, Fisher-scoring Hessian).

    Parameters
    ----------
    data : ModelData
        Every used site: the sites no donor can mark pin ``kappa``.
    f_alt : ndarray, float64, shape (n_donors,)
        The true fractions (0..1); the errors at ``data.error_rate``.
    donor : int
    rho : float
    tol : float
        Stop when a step would gain less than this much expected log-likelihood.
    """
    if data.n_sites == 0:
        return 0.0
    f_alt = np.asarray(f_alt, dtype=np.float64)
    grid = _Grid(data, f_alt, rho)
    k = data.n_donors

    def ev(x, order):
        scaled = dataclasses.replace(data, error_rate=data.error_rate * np.exp(x[k]))
        dp = read_prob_gradient(scaled, x[:k])[:, data.entry_combo] if order > 0 else None
        return grid.expected_loglik(_entry_p(scaled, x[:k]), dp)

    x0 = np.r_[f_alt, 0.0]
    x0[donor] = 0.0
    free = np.ones(k + 1, dtype=bool)
    free[donor] = False
    lo, hi = np.log(ERROR_SCALE_BOUNDS)
    x, e = _projected_newton(ev, x0, free, np.r_[np.zeros(k), lo], np.r_[np.full(k, np.inf), hi], k, tol, 50,
                             small_change=False)
    return max(0.0, 2.0 * grid.kl(_entry_p(dataclasses.replace(data, error_rate=data.error_rate * np.exp(x[k])),
                                          x[:k])))
