"""Confidence intervals of the donor fractions: profile likelihood with linked-site inflation.

* CI: profile likelihood (other fractions re-fitted; with the base error rates given, the
  error multiplier too, :class:`ProfileKappa`), threshold ``chi2_1(0.95) * lambda``
  (``CHI2_95 * lambda``) where ``lambda >= 1`` is the block-sandwich inflation
  (:func:`block_inflation`, at most ``MAX_INFLATION``) that accounts for linked sites in
  the same genome block (:func:`make_blocks`, windows in bp); bounds by Newton on the
  signed root of the profile drop (:func:`_solve_side`);
* with ``boundary`` the unified (Feldman-Cousins) interval for a fraction that cannot be
  negative, its cut-off from :func:`boundary_threshold`.

Fractions are shares of genome equivalents (0..1); bounds stay below ``F_MAX_TOTAL``.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import optimize, stats

from ..likelihood import ModelData
from .evaluation import evaluate
from .optimisation import F_MAX_TOTAL, FitResult, newton, refit_error_scale

CHI2_95 = float(stats.chi2.ppf(0.95, 1))
MAX_INFLATION = 25.0


def make_blocks(contig_id, pos, block_size: float = 5e6, min_blocks: int = 30, fallback_blocks: int = 50):
    """Genome block per site, int64 (n_sites,): ``block_size`` bp windows per contig, or
    ``fallback_blocks`` runs of equal site count when the windows give fewer than ``min_blocks``."""
    contig_id = np.asarray(contig_id, dtype=np.int64)
    pos = np.asarray(pos, dtype=np.int64)
    win = pos // int(block_size)
    key = contig_id * (int(win.max()) + 1 if len(win) else 1) + win
    _, block = np.unique(key, return_inverse=True)
    if len(np.unique(block)) >= min_blocks or len(pos) == 0:
        return block.astype(np.int64)
    order = np.lexsort((pos, contig_id))
    out = np.empty(len(pos), dtype=np.int64)
    out[order] = (np.arange(len(pos)) * fallback_blocks) // len(pos)
    return out


def block_inflation(data: ModelData, fit: FitResult, reference=None) -> np.ndarray:
    """Variance inflation per donor from a block sandwich (>= 1), float64 (n_donors,).

    ``lambda_k = [H^-1 B H^-1]_kk / [-H^-1]_kk`` with ``B`` the (centred, n/(n-1)-scaled)
    covariance of per-block score sums: a delete-one-block jackknife in its linearised form.
    Sites in one block are allowed to be correlated (shared IBD).  Molecules
    (:mod:`~microchimera.model.molecules`) are independent units: their score outer products
    (``fit.unit_opg``) are added to ``B``.

    The sandwich for donor ``k`` is taken over ``k`` and the donors that are clearly present
    (:func:`present_donors`), the others held at their fit.  A donor at or near 0 whose
    genotypes are summed out has a collapsed, nearly collinear observed information there
    (its configurations cannot be told apart), and inverting it turned block noise into
    inflations of up to 25 for every donor of the fit.  The inflation of such a donor itself
    is still noisy (nothing in the reads speaks to its linkage); the LoD does not use it
    (see :func:`microchimera.model.quantify.component_estimates`).  Evaluating it away
    from the fit does not help: off the MLE the block score sums carry the misfit, and the
    inflation grows with the distance.
    """
    k = data.n_donors
    lam = np.ones(k)
    if data.n_sites == 0:
        return lam
    _, b = np.unique(data.block, return_inverse=True)
    nb = int(b.max()) + 1
    if nb < 5:
        return lam
    present = present_donors(fit, reference)
    hess, score = fit.hess, fit.site_score
    for j in range(k):
        idx = np.flatnonzero(present | (np.arange(k) == j))
        idx = idx[np.diag(hess)[idx] < 0]
        if j not in idx:
            continue
        sb = np.stack([np.bincount(b, weights=score[:, i], minlength=nb) for i in idx], axis=1)
        sb = sb - sb.mean(axis=0)
        bmat = sb.T @ sb * nb / (nb - 1)
        if fit.unit_opg is not None:
            bmat = bmat + fit.unit_opg[np.ix_(idx, idx)]
        try:
            hinv = np.linalg.inv(-hess[np.ix_(idx, idx)])
        except np.linalg.LinAlgError:
            continue
        jj = int(np.flatnonzero(idx == j)[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = (hinv @ bmat @ hinv)[jj, jj] / hinv[jj, jj]
        lam[j] = np.clip(np.nan_to_num(ratio, nan=1.0), 1.0, MAX_INFLATION)
    return lam


def present_donors(fit: FitResult, reference=None) -> np.ndarray:
    """bool (n_donors,): donors whose estimate is above 0 and at or above ``reference``
    (per donor, a fraction it is detectable at, e.g. its genotype-oracle LoD; None: 0)."""
    f = np.asarray(fit.fraction, dtype=np.float64)
    if reference is None:
        return f > 0
    ref = np.array([0.0 if r is None else r for r in reference], dtype=np.float64)
    return (f > 0) & (f >= ref)


class Profile:
    """Profile log-likelihood of one donor's fraction (other donors re-fitted, rho fixed).

    Calling it at ``v`` returns ``(l_p(v), dl_p/dv)``; the slope is the donor's score at the
    profile point (envelope theorem).  The other fractions start from their linear
    prediction ``f_o - H_oo^-1 H_ok (v - f_k)`` and take Newton steps.
    """

    def __init__(self, data: ModelData, fit: FitResult, donor: int, max_iter: int = 2):
        self.data, self.fit, self.k, self.max_iter = data, fit, donor, max_iter
        self.free = np.ones(data.n_donors, dtype=bool)
        self.free[donor] = False
        o = self.free
        self._slope = np.zeros(int(o.sum()))
        self._cache = {}
        if o.any():
            hoo = fit.hess[np.ix_(o, o)]
            try:
                self._slope = -np.linalg.solve(hoo, fit.hess[o, donor])
            except np.linalg.LinAlgError:
                pass

    def __call__(self, value: float):
        value = float(value)
        if value in self._cache:
            return self._cache[value]
        f0 = self.fit.fraction.copy()
        f0[self.k] = value
        o = self.free
        if o.any():
            f0[o] = np.maximum(f0[o] + self._slope * (value - self.fit.fraction[self.k]), 0.0)
            others = f0[o].sum()
            if value + others > F_MAX_TOTAL and others > 0:
                f0[o] *= max(0.0, F_MAX_TOTAL - value) / others
            _, ev = newton(self.data, f0, self.fit.rho, free=o, max_iter=self.max_iter)
        else:
            ev = evaluate(self.data, f0, self.fit.rho, order=1)
        out = self._cache[value] = (ev.loglik, float(ev.grad[self.k]))
        return out


class ProfileKappa:
    """Profile log-likelihood of one donor's fraction with the error multiplier re-fitted too.

    Over every used site (``data`` with its *base* error rates ``base_rate``; background
    sites carry the information on ``kappa``): at ``v`` the other fractions and ``log kappa``
    are maximised jointly (:func:`refit_error_scale`).  Donor reads and errors trade off,
    so holding ``kappa`` at its estimate would make the interval too narrow (most of all
    with genotypes summed out).  Calling it returns ``(l_p(v), dl_p/dv)`` like :class:`Profile`.
    """

    def __init__(self, data: ModelData, fit: FitResult, donor: int, base_rate: np.ndarray):
        self.data, self.fit, self.k, self.base = data, fit, donor, np.asarray(base_rate, dtype=np.float64)
        self.free = np.ones(data.n_donors, dtype=bool)
        self.free[donor] = False
        f, kappa, lmax, ev = refit_error_scale(data, fit.fraction, fit.rho, self.base, fit.error_scale,
                                               free=np.ones(data.n_donors, dtype=bool), full=True)
        self.fhat, self.kappa, self.lmax = f, kappa, lmax
        self.hess = ev.hess  # (K + 1, K + 1) in (f, log kappa) at the joint maximum
        self._cache = {}

    def se(self) -> float:
        """Standard error of the donor's fraction with the others and ``log kappa`` free."""
        try:
            var = float(np.linalg.inv(-self.hess)[self.k, self.k])
        except np.linalg.LinAlgError:
            return float("nan")
        return float(np.sqrt(var)) if var > 0 else float("nan")

    def __call__(self, value: float):
        value = float(value)
        if value in self._cache:
            return self._cache[value]
        f0 = self.fhat.copy()
        f0[self.k] = value
        _, _, ll, ev = refit_error_scale(self.data, f0, self.fit.rho, self.base, self.kappa, free=self.free,
                                         full=True)
        out = self._cache[value] = (ll, float(ev.grad[self.k]))
        return out


def _profile_se(fit: FitResult, donor: int) -> float:
    """Standard error of one fraction with the others re-fitted: ``sqrt([(-H)^-1]_kk)`` (NaN if -H is not PD)."""
    idx = np.flatnonzero(np.diag(fit.hess) < 0)
    if donor not in idx:
        return float("nan")
    pos = int(np.flatnonzero(idx == donor)[0])
    try:
        var = float(np.linalg.inv(-fit.hess[np.ix_(idx, idx)])[pos, pos])
    except np.linalg.LinAlgError:
        return float("nan")


    return float(np.sqrt(var)) if var > 0 else float("nan")


def _solve_side(prof, lmax: float, half: float, fhat: float, limit: float, x0: float,
                tol: float = 5e-3, max_iter: int = 60) -> float:
    """Root of ``D(v) = lmax - l_p(v) - half`` between ``fhat`` (where D < 0) and ``limit``.

    ``limit`` itself when ``D(limit) <= 0``.  Newton steps on the signed root
    ``sqrt(2 (lmax - l_p(v)))``, which is linear in ``v`` for a quadratic profile (so one
    or two steps from a Wald start), using the profile slope; safeguarded by the bracket
    (bisection) and by doubling the distance from ``fhat`` while no point beyond the root
    is known.  Stops when ``|D| < tol`` and returns that point plus its Newton correction.
    """
    sign = 1.0 if limit > fhat else -1.0
    target = np.sqrt(2.0 * half)
    inner, outer = fhat, None  # D(inner) <= 0 < D(outer)
    v = x0 if sign * (x0 - fhat) > 0 else limit
    for _ in range(max_iter):
        lp, slope = prof(v)
        drop = lmax - lp
        d = drop - half
        if d > 0:
            outer = v
        elif v == limit:
            return v
        else:
            inner = v
        u = sign * (v - fhat)
        rate = -sign * slope  # d drop / d u
        vn = None
        if rate > 0 and drop > 0:
            r = np.sqrt(2.0 * drop)
            vn = fhat + sign * (u + (target - r) * r / rate)
        far = limit if outer is None else outer
        ok = vn is not None and sign * (vn - inner) > 0 and sign * (far - vn) >= 0
        if abs(d) < tol:
            # Converged: the last Newton correction (no evaluation) leaves an O(d^2) error.
            return float(vn) if ok else v
        if outer is not None and abs(outer - inner) <= 1e-12 * max(1.0, abs(v)):
            return v
        if not ok or (outer is not None and vn == outer):
            if outer is None:
                vn = limit if vn is not None and sign * (vn - limit) > 0 else fhat + sign * 2.0 * max(u, 1e-12)
                vn = limit if sign * (vn - limit) > 0 else vn
            else:
                vn = 0.5 * (inner + outer)
        v = float(vn)
    return v


def profile_ci(data: ModelData, fit: FitResult, donor: int, threshold: float, base_rate=None,
               boundary: bool = False, decisive=None):
    """Profile-likelihood interval ``{f: 2 (l_max - l_p(f)) <= threshold}`` and ``l_p(0)``.

    Each bound starts from the Wald point ``f_hat -+ se sqrt(threshold)`` with the
    profile standard error and is refined by :func:`_solve_side` to ``|D| < 5e-3``.
    With ``base_rate`` the error multiplier is profiled out too (:class:`ProfileKappa`;
    ``data`` must then hold every used site); otherwise it is held at ``fit.error_scale``.

    With ``boundary`` the interval is the unified (Feldman–Cousins) one for a fraction that
    cannot be negative: ``threshold`` is read as ``CHI2_95 * lambda`` (``lambda`` the
    linked-sites inflation) and each candidate ``f`` is accepted while ``2 (l_max - l_p(f))
    <= c(f / SE) * lambda``, with ``c`` from :func:`boundary_threshold` (2.71 at ``f = 0``,
    3.84 far from it) and ``SE`` the profile standard error times ``sqrt(lambda)``.  The
    interval then excludes 0 exactly when the boundary-corrected test rejects at 5%, and it
    does not over-cover below the LoD, where the plain interval's lower end sits on 0.

    ``decisive`` (with ``boundary``; a function of ``f``): the expected number of nearly
    background-free donor molecules at ``f``
    (:meth:`~microchimera.model.molecule_lod.MoleculeOracle.decisive`).  Where a handful of
    such counts carry the evidence the statistic is a Poisson one, not a normal one, and the
    cut-off is at least the Poisson one, :func:`poisson_threshold` of ``decisive(f)`` (with 0
    to 3 donor molecules expected, the normal cut-off 2.71 put the upper end at 1.35
    molecules where 3 are needed: 76% coverage on one ultra-deep amplicon).

    Returns
    -------
    (low, high, loglik_at_zero) : tuple of float
    """
    if base_rate is not None:
        prof = ProfileKappa(data, fit, donor, base_rate)
        fhat = float(prof.fhat[donor])
        fmax, se = prof.lmax, prof.se()
    else:
        prof = Profile(data, fit, donor)
        fhat = float(fit.fraction[donor])
        fmax, se = fit.loglik, _profile_se(fit, donor)
    half = threshold / 2.0
    l0 = prof(0.0)[0] if fhat > 0 else fmax
    lmax = max(fmax, l0)
    if not np.isfinite(se):
        h = -fit.hess[donor, donor]
        se = 1.0 / np.sqrt(h) if h > 0 else max(fhat, 1e-4)
    cap = F_MAX_TOTAL - 1e-9
    lam = threshold / CHI2_95
    scale = se * np.sqrt(lam)  # sampling SE of f-hat, linked sites included

    def side(limit, x0):
        if not boundary:
            return _solve_side(prof, lmax, half, fhat, limit, x0)
        # The cut-off depends on the bound itself: start from the cut-off at the Wald point,
        # then fixed-point rounds (mostly none: the profile is close to quadratic).
        def cut(v):
            c = boundary_threshold(v / scale)
            return max(c, poisson_threshold(decisive(v))) if decisive is not None else c

        h = cut(x0) * lam / 2.0
        b = _solve_side(prof, lmax, h, fhat, limit, x0)
        for _ in range(4):
            h_new = cut(b) * lam / 2.0
            if abs(h_new - h) * 2.0 < 1e-3 * lam:
                break
            h = h_new
            b = _solve_side(prof, lmax, h, fhat, limit, b)
        return b

    if fhat >= cap:
        high = cap
    else:
        high = side(cap, min(cap, fhat + se * np.sqrt(threshold)))
    zero_cut = boundary_threshold(0.0) * lam / 2.0 if boundary else half
    if fhat <= 0 or lmax - l0 <= zero_cut:
        low = 0.0
    else:
        low = side(0.0, max(0.0, fhat - se * np.sqrt(threshold)))
    return float(low), float(high), float(l0)


def poisson_threshold(mu: float) -> float:
    """Cut-off of the unified 95% interval for a Poisson mean ``mu`` without background: the
    95% quantile of ``LR(mu) = 2 (K log(K / mu) - (K - mu))`` when ``K ~ Poisson(mu)`` (the
    Feldman–Cousins ordering).  6.0 at ``mu = 3`` (``K = 0`` alone has 5%), falling to the
    chi-square's 3.84 as ``mu`` grows (taken as 3.84 beyond ``mu = 200``); 0 at ``mu = 0``."""
    if mu <= 0:
        return 0.0
    grid, cut = _poisson_table()
    if mu >= grid[-1]:
        return CHI2_95
    return float(np.interp(np.log(mu), np.log(grid), cut))


@functools.cache
def _poisson_table() -> tuple[np.ndarray, np.ndarray]:
    """:func:`poisson_threshold` on 400 log-spaced ``mu`` in [1e-3, 200], exact over ``K``."""
    from scipy.special import xlogy
    from scipy.stats import poisson

    grid = np.geomspace(1e-3, 200.0, 400)
    cut = np.empty(len(grid))
    for i, mu in enumerate(grid):
        k = np.arange(int(mu + 12 * np.sqrt(mu) + 25))
        lr = 2.0 * (xlogy(k, k / mu) - (k - mu))
        order = np.argsort(lr, kind="stable")
        cum = np.cumsum(poisson.pmf(k[order], mu))
        cut[i] = lr[order][min(int(np.searchsorted(cum, 0.95)), len(k) - 1)]
    return grid, cut


def boundary_threshold(z) -> np.ndarray | float:
    """Cut-off ``c(z)`` of the unified 95% interval for a mean ``mu >= 0`` of a normal with unit
    variance, at ``mu = z``: the 95% quantile of the likelihood-ratio statistic
    ``LR(z) = (x - z)^2`` (``x >= 0``), ``z^2 - 2 x z`` (``x < 0``) when ``x ~ N(z, 1)``.

    ``c(0) = 1.645^2 = 2.706`` (half of the draws sit on the boundary) and ``c -> 3.841`` as
    ``z`` grows (within 1e-3 from ``z = 3.5``).  Interpolated in the table of :func:`_boundary_table`.
    """
    grid, cut = _boundary_table()
    return np.interp(np.maximum(z, 0.0), grid, cut, right=CHI2_95)


@functools.cache
def _boundary_table() -> tuple[np.ndarray, np.ndarray]:
    """:func:`boundary_threshold` tabulated on ``z`` in [0, 8] from the closed-form tail
    probability (``brentq`` on each of 161 points, 7 ms), built on first use and then the same
    two arrays every time."""
    from scipy.special import ndtr  # the standard normal CDF, without scipy.stats' overhead

    def tail(c, mu):
        r = np.sqrt(c)
        p = ndtr(-r)                                   # x > mu + r
        if mu > r:
            p += ndtr(-r) - ndtr(-mu)                  # 0 <= x < mu - r
        if mu > 0:
            p += ndtr(min(0.0, (mu * mu - c) / (2 * mu)) - mu)  # x < 0 side
        return p - 0.05

    grid = np.linspace(0.0, 8.0, 161)
    cut = np.array([optimize.brentq(tail, 1e-6, 20.0, args=(mu,), xtol=1e-10) for mu in grid])
    return grid, cut
