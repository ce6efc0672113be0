"""Fitting donor fractions: maximum likelihood, profile CIs, tests and limits of detection.

* fractions: projected Newton with exact gradient and Hessian (:meth:`ModelData.evaluate`),
  bounded at 0, started from 1e-3;
* overdispersion ``rho``: bounded 1-D search on ``log10 rho`` (and ``rho = 0``) on a
  fixed, evenly spaced subsample of sites, alternated with the fractions;
* CI: profile likelihood (other fractions re-fitted), threshold ``chi2_1(0.95) * lambda``
  where ``lambda >= 1`` is the block-sandwich inflation (:func:`block_inflation`) that
  accounts for linked sites; bounds by Newton on the signed root of the profile drop;
* test of ``f_k = 0``: LRT with the boundary null ``1/2 chi2_0 + 1/2 chi2_1`` (statistic
  divided by ``lambda``), the error multiplier and the other fractions re-fitted jointly
  (projected Newton in ``(f, log kappa)``) under the null;
* limit of detection: the smallest ``f_k`` whose expected LRT statistic reaches the 95%
  power point of a level-``alpha`` test.

Likelihood evaluations go through :func:`evaluate` (the values of
:meth:`ModelData.evaluate` on a cached, regrouped layout, plus the error-multiplier
derivatives).
"""
from __future__ import annotations

import dataclasses
import logging
import weakref
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .likelihood import SWAP_CLASS, Evaluation, ModelData, bb_logpmf_terms

logger = logging.getLogger(__name__)

F_START = 1e-3
F_MAX_TOTAL = 0.999
RHO_BOUNDS = (1e-6, 0.3)
HET_SHARE_BOUNDS = (0.3, 0.7)
ERROR_SCALE_BOUNDS = (0.1, 30.0)
RHO_SUBSAMPLE = 50_000
CHI2_95 = float(stats.chi2.ppf(0.95, 1))
MAX_INFLATION = 25.0


# ----------------------------------------------------------------------------- fast evaluation
class _Layout:
    """A :class:`ModelData`'s entries regrouped for repeated evaluation.

    Sites with one configuration (posterior weight 1) collapse to a count per key; sites
    with ``c > 1`` configurations form ``(c, m)`` matrices of keys and log weights, so the
    per-site log-sum-exp is a handful of elementwise operations instead of ``reduceat``.
    Built once per data (:func:`_layout` caches it) and valid for any ``f``, ``rho``,
    error rates and het share, which enter only through the per-key terms.
    """

    def __init__(self, data: ModelData):
        counts = np.bincount(data.entry_site, minlength=data.n_sites)
        starts = np.cumsum(counts) - counts
        self.n_keys = len(data.key_n)
        one = np.flatnonzero(counts == 1)
        self.single_site = one
        self.single_key = data.entry_key[starts[one]].astype(np.intp)
        self.single_logw = data.entry_logw[starts[one]]
        self.single_logw_sum = float(self.single_logw.sum())
        self.single_count = np.bincount(self.single_key, minlength=self.n_keys).astype(np.float64)
        self.groups = []
        for c in np.unique(counts[counts > 1]):
            site = np.flatnonzero(counts == c)
            idx = starts[site][None, :] + np.arange(c)[:, None]
            self.groups.append((site, data.entry_key[idx].astype(np.intp), data.entry_logw[idx]))


_LAYOUTS: dict = {}


def _layout(data: ModelData) -> _Layout:
    """The cached :class:`_Layout` of ``data`` (shared by copies made with ``dataclasses.replace``)."""
    k = id(data.entry_key)
    hit = _LAYOUTS.get(k)
    if hit is not None and hit[0]() is data.entry_key and hit[1]() is data.entry_logw:
        return hit[2]
    lay = _Layout(data)
    _LAYOUTS[k] = (weakref.ref(data.entry_key, lambda _r, k=k: _LAYOUTS.pop(k, None)),
                   weakref.ref(data.entry_logw), lay)
    return lay


def evaluate(data: ModelData, f, rho: float, order: int = 0, kappa: bool = False) -> Evaluation:
    """:meth:`ModelData.evaluate` on the cached :class:`_Layout` (same values, faster).

    With ``kappa`` the parameters are ``(f, log kappa)``, ``kappa`` a common multiplier of
    ``data.error_rate`` taken at 1: ``grad``/``hess`` get a last row and ``site_score`` a
    last column.  Since ``p = kappa e_ra + (1 - kappa (e_ra + e_ar)) mu``,
    ``dp/dlog kappa = e_ra - (e_ra + e_ar) mu`` (its own second derivative) and
    ``d2p/(df_k dlog kappa) = -(e_ra + e_ar) (A(g_k) - A(g_h))``.

    At order 0 ``site_loglik`` is None.
    """
    if data.n_sites == 0:
        ev = data.evaluate(f, rho, order)
        if kappa and order > 0:
            k = data.n_donors + 1
            ev = Evaluation(0.0, ev.site_loglik, np.zeros(k), np.zeros((k, k)), np.zeros((0, k)))
        return ev
    f = np.asarray(f, dtype=np.float64)
    lay = _layout(data)
    p_combo, scale = data.combo_p(f)
    terms = bb_logpmf_terms(data.key_x, data.key_n, p_combo[data.key_combo], rho, order)
    t0 = terms[0]
    total = lay.single_logw_sum + float(lay.single_count @ t0)
    parts = []
    for site, key, logw in lay.groups:
        lp = logw + t0[key]
        top = lp.max(axis=0)
        rel = np.exp(lp - top)
        s = rel.sum(axis=0)
        ll = top + np.log(s)
        total += float(ll.sum())
        parts.append((site, key, ll, rel / s if order > 0 else None))
    if order == 0:
        return Evaluation(total, None)
    site_ll = np.empty(data.n_sites)
    site_ll[lay.single_site] = lay.single_logw + t0[lay.single_key]
    ah, ad = data.allele_shares()
    dp = scale[None, :] * ad  # dp/df, (K, n_combos)
    if kappa:
        e_ra = data.error_rate[data.combo_class]
        e_sum = e_ra + data.error_rate[SWAP_CLASS[data.combo_class]]
        dp = np.vstack([dp, e_ra - e_sum * (ah + f @ ad)])
    dpk = dp[:, data.key_combo]  # (D, n_keys)
    g = terms[1][None, :] * dpk  # per-entry score of each parameter, by key
    d = len(dp)
    score = np.empty((data.n_sites, d))
    score[lay.single_site] = g[:, lay.single_key].T
    rk = lay.single_count.copy()  # posterior weight summed per key
    for site, key, ll, r in parts:
        site_ll[site] = ll
        for j in range(d):
            score[site, j] = (r * g[j][key]).sum(axis=0)
        rk += np.bincount(key.ravel(), weights=r.ravel(), minlength=lay.n_keys)
    grad = g @ rk
    if order == 1:
        return Evaluation(total, site_ll, grad, None, score)
    hess = (dpk * ((terms[2] + terms[1] ** 2) * rk)) @ dpk.T - score.T @ score
    if kappa:
        s1r = terms[1] * rk
        cross = -(e_sum[None, :] * ad)[:, data.key_combo] @ s1r
        hess[-1, :-1] += cross
        hess[:-1, -1] += cross
        hess[-1, -1] += float(dpk[-1] @ s1r)
    return Evaluation(total, site_ll, grad, hess, score)


def _ascent_step(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
    """Newton step ``-H^-1 g`` where the Hessian is negative definite and the step climbs;
    otherwise a gradient step scaled by the Hessian's diagonal."""
    step = None
    try:
        if np.linalg.eigvalsh(hess).max() < 0:
            step = -np.linalg.solve(hess, grad)
    except np.linalg.LinAlgError:
        step = None
    if step is None or float(step @ grad) <= 0:
        step = grad / np.maximum(np.abs(np.diag(hess)), 1e-300)
    return step


def _projected_newton(ev, x, free, lower, upper, n_frac: int, tol: float, max_iter: int,
                      small_change: bool):
    """Maximise ``ev(x, order).loglik`` over the ``free`` coordinates of ``x`` within
    ``[lower, upper]``, with ``sum(x[:n_frac]) <= F_MAX_TOTAL`` (the fractions come first).

    Projected Newton (:func:`_ascent_step` on the coordinates not held at a bound by their
    gradient) with a backtracking line search; the full step (almost always accepted) is
    evaluated at order 2 straight away, so an accepted step costs one evaluation.  Stops when
    the Newton decrement (the predicted gain) is below ``tol`` -- a line search would only
    chase rounding noise in a sum over many sites -- or when a step gains less than ``tol``
    (and, with ``small_change``, moves no coordinate by more than 1e-7 relative).

    Returns ``(x, Evaluation at x of order 2)``.
    """
    e = ev(x, 2)
    for _ in range(max_iter):
        g, h = e.grad, e.hess
        act = free & ~((x <= lower) & (g <= 0)) & ~((x >= upper) & (g >= 0))
        if not act.any():
            break
        ga = g[act]
        step = _ascent_step(ga, h[np.ix_(act, act)])
        if 0.5 * float(step @ ga) < tol:
            break
        t, en = 1.0, None
        for _ls in range(60):
            xn = x.copy()
            xn[act] = np.clip(x[act] + t * step, lower[act], upper[act])
            fr, fa = xn[:n_frac], act[:n_frac]
            if fr.sum() > F_MAX_TOTAL:
                fr[fa] *= max(0.0, F_MAX_TOTAL - fr[~fa].sum()) / max(fr[fa].sum(), 1e-300)
            trial = ev(xn, 2 if t == 1.0 else 0)
            if trial.loglik >= e.loglik - 1e-12:
                en = trial
                break
            t *= 0.5
        if en is None:
            break
        change = np.abs(xn - x)
        gain = en.loglik - e.loglik
        x = xn
        e = en if en.hess is not None else ev(x, 2)
        if gain < tol and (not small_change or np.all(change <= 1e-12 + 1e-7 * np.abs(x))):
            break
    return x, e


def newton(data: ModelData, f0, rho: float, free=None, max_iter: int = 100, tol: float = 1e-7):
    """Maximise the log-likelihood over the free fractions (projected Newton, bounded at 0).

    Parameters
    ----------
    data : ModelData
    f0 : ndarray, float64, shape (n_donors,)
        Start; fixed donors keep these values.
    rho : float
    free : ndarray, bool, shape (n_donors,), optional
        Which fractions to fit (default all).

    Returns
    -------
    f : ndarray, float64, shape (n_donors,)
    ev : Evaluation at ``f`` (order 2)
    """
    f = np.array(f0, dtype=np.float64)
    k = len(f)
    free = np.ones(k, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    return _projected_newton(lambda x, order: evaluate(data, x, rho, order=order), f, free, np.zeros(k),
                             np.full(k, np.inf), k, tol, max_iter, small_change=True)


def _rho_subsample(data: ModelData) -> ModelData:
    if data.n_sites <= RHO_SUBSAMPLE:
        return data
    mask = np.zeros(data.n_sites, dtype=bool)
    mask[np.linspace(0, data.n_sites - 1, RHO_SUBSAMPLE).astype(np.int64)] = True
    return data.subset(mask)


def estimate_het_share(data: ModelData, f, rho: float) -> float:
    """Alt share of a heterozygote's reads (reference bias) maximising the likelihood at ``f``, ``rho``."""
    sub = _rho_subsample(data)
    if sub.n_sites == 0:
        return 0.5

    def nll(beta):
        return -evaluate(dataclasses.replace(sub, het_share=beta), f, rho).loglik

    res = optimize.minimize_scalar(nll, bounds=HET_SHARE_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return float(res.x)


def estimate_error_scale(data: ModelData, f, rho: float) -> float:
    """Common multiplier of the error rates maximising the likelihood at ``f``, ``rho``.

    Identifiable because donor alleles scale with AF while errors do not.  Used when no
    background site fixes the error rates (no family genotypes).
    """
    sub = _rho_subsample(data)
    if sub.n_sites == 0:
        return 1.0

    def nll(log_k):
        return -evaluate(dataclasses.replace(sub, error_rate=sub.error_rate * 10.0**log_k), f, rho).loglik

    res = optimize.minimize_scalar(nll, bounds=np.log10(ERROR_SCALE_BOUNDS), method="bounded",
                                   options={"xatol": 1e-3})
    return float(10.0**res.x)


def estimate_rho(data: ModelData, f) -> float:
    """Overdispersion maximising the likelihood at fractions ``f`` (on a site subsample)."""
    sub = _rho_subsample(data)
    if sub.n_sites == 0:
        return 0.0

    def nll(log_rho):
        return -evaluate(sub, f, 10.0**log_rho).loglik

    res = optimize.minimize_scalar(nll, bounds=np.log10(RHO_BOUNDS), method="bounded",
                                   options={"xatol": 0.02})
    rho = 10.0 ** res.x
    return 0.0 if -evaluate(sub, f, 0.0).loglik <= res.fun else float(rho)


@dataclass(frozen=True)
class FitResult:
    """Joint maximum-likelihood fit of all donors.

    Attributes
    ----------
    fraction : ndarray, float64, shape (n_donors,)
    rho : float
    loglik : float
    hess : ndarray, float64, shape (n_donors, n_donors)
    site_score : ndarray, float64, shape (n_sites, n_donors)
    """

    fraction: np.ndarray
    rho: float
    loglik: float
    hess: np.ndarray
    site_score: np.ndarray
    het_share: float = 0.5
    error_scale: float = 1.0


def fit_fractions(data: ModelData, rho: float | None = None, f0=None, rho_data: ModelData | None = None,
                  het_share: bool = True, error_scale: bool = False) -> FitResult:
    """Maximum-likelihood fractions (and ``rho`` unless given).

    Parameters
    ----------
    data : ModelData
    rho : float, optional
        Fixed overdispersion; estimated when None.
    f0 : ndarray, optional
        Start (default ``F_START`` for every donor).
    rho_data : ModelData, optional
        Sites to estimate ``rho`` on (default ``data``); pass every site, including
        host-heterozygous ones that carry no information on the fractions.
    het_share : bool
        Also estimate the heterozygote alt share (reference bias) when ``rho`` is estimated.
        The returned fit's ``het_share`` must then be set on the data for later calls.
    error_scale : bool
        Also estimate a common multiplier of the error rates (alternating with the
        fractions); the fit's ``error_scale`` must then be applied to the data's rates.
    """
    k = data.n_donors
    f = np.full(k, F_START) if f0 is None else np.asarray(f0, dtype=np.float64)
    if rho is None:
        rho_data = data if rho_data is None else rho_data
        beta = data.het_share
        if het_share:
            beta = estimate_het_share(rho_data, np.zeros(k), 0.0)
            data = dataclasses.replace(data, het_share=beta)
        rho = estimate_rho(dataclasses.replace(rho_data, het_share=beta), np.zeros(k))
        f, _ = newton(data, f, rho)
        if het_share:
            beta = estimate_het_share(rho_data, f, rho)
            data = dataclasses.replace(data, het_share=beta)
        rho = estimate_rho(dataclasses.replace(rho_data, het_share=beta), f)
    kappa = 1.0
    if error_scale:
        base = data.error_rate
        rho_base = dataclasses.replace(rho_data if rho_data is not None else data, error_rate=base,
                                       het_share=data.het_share)
        for _ in range(2):
            kappa = estimate_error_scale(rho_base, f, rho)
            f, _ = newton(dataclasses.replace(data, error_rate=base * kappa), f, rho)
        # Alternating converges slowly where donor reads and errors trade off; finish with
        # the joint Newton fit over every site (the LRT's alternative is this same maximum).
        f, kappa, _ = _refit_error_scale(rho_base, f, rho, base, kappa, free=np.ones(k, dtype=bool))
        data = dataclasses.replace(data, error_rate=base * kappa)
    f, ev = newton(data, f, rho)
    return FitResult(f, float(rho), ev.loglik, ev.hess, ev.site_score, float(data.het_share), kappa)


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


def block_inflation(data: ModelData, fit: FitResult) -> np.ndarray:
    """Variance inflation per donor from a block sandwich (>= 1), float64 (n_donors,).

    ``lambda_k = [H^-1 B H^-1]_kk / [-H^-1]_kk`` with ``B`` the (centred, n/(n-1)-scaled)
    covariance of per-block score sums at the MLE: a delete-one-block jackknife in its
    linearised form.  Sites in one block are allowed to be correlated (shared IBD).
    """
    k = data.n_donors
    lam = np.ones(k)
    if data.n_sites == 0:
        return lam
    _, b = np.unique(data.block, return_inverse=True)
    nb = int(b.max()) + 1
    if nb < 5:
        return lam
    sb = np.stack([np.bincount(b, weights=fit.site_score[:, j], minlength=nb) for j in range(k)], axis=1)
    sb = sb - sb.mean(axis=0)
    bmat = sb.T @ sb * nb / (nb - 1)
    idx = np.flatnonzero(np.diag(fit.hess) < 0)
    if len(idx) == 0:
        return lam
    h = fit.hess[np.ix_(idx, idx)]
    try:
        hinv = np.linalg.inv(-h)
    except np.linalg.LinAlgError:
        return lam
    robust = hinv @ bmat[np.ix_(idx, idx)] @ hinv
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.diag(robust) / np.diag(hinv)
    lam[idx] = np.clip(np.nan_to_num(ratio, nan=1.0), 1.0, MAX_INFLATION)
    return lam


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
    are maximised jointly (:func:`_refit_error_scale`).  Donor reads and errors trade off,
    so holding ``kappa`` at its estimate would make the interval too narrow (most of all
    with genotypes summed out).  Calling it returns ``(l_p(v), dl_p/dv)`` like :class:`Profile`.
    """

    def __init__(self, data: ModelData, fit: FitResult, donor: int, base_rate: np.ndarray):
        self.data, self.fit, self.k, self.base = data, fit, donor, np.asarray(base_rate, dtype=np.float64)
        self.free = np.ones(data.n_donors, dtype=bool)
        self.free[donor] = False
        f, kappa, lmax, ev = _refit_error_scale(data, fit.fraction, fit.rho, self.base, fit.error_scale,
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
        f, kappa, ll, ev = _refit_error_scale(self.data, f0, self.fit.rho, self.base, self.kappa, free=self.free,
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
               boundary: bool = False):
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
        h = boundary_threshold(x0 / scale) * lam / 2.0
        b = _solve_side(prof, lmax, h, fhat, limit, x0)
        for _ in range(4):
            h_new = boundary_threshold(b / scale) * lam / 2.0
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


_BOUNDARY_GRID: list = []


def boundary_threshold(z) -> np.ndarray | float:
    """Cut-off ``c(z)`` of the unified 95% interval for a mean ``mu >= 0`` of a normal with unit
    variance, at ``mu = z``: the 95% quantile of the likelihood-ratio statistic
    ``LR(z) = (x - z)^2`` (``x >= 0``), ``z^2 - 2 x z`` (``x < 0``) when ``x ~ N(z, 1)``.

    ``c(0) = 1.645^2 = 2.706`` (half of the draws sit on the boundary) and ``c -> 3.841`` as
    ``z`` grows (within 1e-3 from ``z = 3.5``).  Tabulated once on ``z`` in [0, 8] from the
    closed-form tail probability, then interpolated.
    """
    if not _BOUNDARY_GRID:
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
        _BOUNDARY_GRID.extend([grid, cut])
    grid, cut = _BOUNDARY_GRID
    return np.interp(np.maximum(z, 0.0), grid, cut, right=CHI2_95)


_ALT_CACHE: list = []


def _refit_error_scale(data: ModelData, f, rho: float, base_rate: np.ndarray, kappa: float, free=None,
                       fit_kappa: bool = True, tol: float = 1e-7, max_iter: int = 100, full: bool = False):
    """Maximise the log-likelihood over ``log kappa`` (error rates ``base_rate * kappa``) and the
    fractions in ``free`` jointly: projected Newton with the exact derivatives of :func:`evaluate`
    (``kappa=True``), ``kappa`` kept in ``ERROR_SCALE_BOUNDS`` and fractions at >= 0.

    Returns
    -------
    (f, kappa, loglik), and the final :class:`Evaluation` (gradient and Hessian in
    ``(f, log kappa)``) as a fourth item with ``full``
    """
    f = np.array(f, dtype=np.float64)
    k = len(f)
    free = np.zeros(k, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    lo, hi = np.log(ERROR_SCALE_BOUNDS)
    x = np.r_[f, np.clip(np.log(kappa), lo, hi)]

    def ev(x, order):
        return evaluate(dataclasses.replace(data, error_rate=base_rate * np.exp(x[k])), x[:k], rho, order,
                        kappa=True)

    x, e = _projected_newton(ev, x, np.r_[free, fit_kappa], np.r_[np.zeros(k), lo], np.r_[np.full(k, np.inf), hi],
                             k, tol, max_iter, small_change=False)
    if full:
        return x[:k], float(np.exp(x[k])), e.loglik, e
    return x[:k], float(np.exp(x[k])), e.loglik


def lrt_refit_nuisance(data: ModelData, data_inf: ModelData | None, fit: FitResult, donor: int,
                       base_rate: np.ndarray, refit_error: bool = True) -> float:
    """LRT statistic of ``f_donor = 0`` with the error multiplier re-fitted under the null.

    The likelihood is taken over every used site (``data``), so the background sites that
    pin the error rates take part; the error multiplier is re-fitted under both hypotheses
    and the other donors under the null, jointly (:func:`_refit_error_scale`; sites that
    are not informative carry no score for the fractions, so ``data_inf`` is not needed and
    may be None).  Holding the multiplier at its value under the alternative would make
    the test anti-conservative (donor reads and errors trade off).

    The alternative's fit depends only on ``fit`` and ``data``, not on ``donor``; the last
    one is cached, so testing every donor of one fit re-fits it once.
    """
    base_rate = np.asarray(base_rate, dtype=np.float64)
    f1 = np.asarray(fit.fraction, dtype=np.float64)
    alt = None
    if _ALT_CACHE:
        c = _ALT_CACHE[0]
        if (c[0]() is data.entry_key and c[1]() is fit and c[2] == refit_error and c[3] == data.het_share
                and np.array_equal(c[4], base_rate)):
            alt = c[5]
    if alt is None:
        _, kappa1, l1 = _refit_error_scale(data, f1, fit.rho, base_rate, fit.error_scale, fit_kappa=refit_error)
        alt = (kappa1, l1)
        _ALT_CACHE[:] = [(weakref.ref(data.entry_key), weakref.ref(fit), refit_error, data.het_share,
                          base_rate.copy(), alt)]
    kappa1, l1 = alt
    f0 = f1.copy()
    f0[donor] = 0.0
    free = np.ones(len(f0), dtype=bool)
    free[donor] = False
    _, _, l0 = _refit_error_scale(data, f0, fit.rho, base_rate, kappa1, free=free, fit_kappa=refit_error)
    return max(0.0, 2.0 * (l1 - l0))


def boundary_p_value(statistic: float) -> float:
    """P-value of an LRT statistic under ``1/2 chi2_0 + 1/2 chi2_1``."""
    if statistic <= 0:
        return 1.0
    return float(0.5 * stats.chi2.sf(statistic, 1))


def expected_lrt(data: ModelData, fit: FitResult, donor: int, value: float) -> float:
    """Expected LRT statistic for ``f_donor = value`` (others at their MLE) as if every
    site's genotype configuration were known (the genotype oracle).

    ``2 sum_i sum_c w_ic n_i KL(Bern(p_ic(value)) || Bern(p_ic(0))) / (1 + (n_i - 1) rho)``
    over the configurations ``c`` of site ``i`` with prior weights ``w_ic``: exact for typed
    people.  With genotypes summed out it is an upper bound; :func:`genotype_share` scales it.
    (Averaging ``p`` over the configurations first would be wrong there: host and donor
    have the same marginal allele frequency, so the averaged ``p`` does not move with ``f``.)
    """
    f1 = fit.fraction.copy()
    f1[donor] = value
    f0 = fit.fraction.copy()
    f0[donor] = 0.0
    w = np.exp(data.entry_logw)
    w = w / np.bincount(data.entry_site, weights=w, minlength=data.n_sites)[data.entry_site]
    p1 = np.clip(data.combo_p(f1)[0][data.entry_combo], 1e-12, 1 - 1e-12)
    p0 = np.clip(data.combo_p(f0)[0][data.entry_combo], 1e-12, 1 - 1e-12)
    n = data.n[data.entry_site]
    kl = p1 * np.log(p1 / p0) + (1 - p1) * np.log((1 - p1) / (1 - p0))
    return float(2.0 * np.sum(w * n * kl / (1.0 + (n - 1.0) * fit.rho)))


def genotype_share(data: ModelData, fit: FitResult, donor: int) -> float:
    """Share of the oracle information on donor ``donor``'s fraction that the data keep when
    genotypes are summed out: observed information of the mixture likelihood at the fit over
    the oracle's expected information (:func:`fisher_information`); 1 when every site has one
    genotype configuration (all typed), in (0, 1] otherwise."""
    if data.n_sites == 0 or not (np.bincount(data.entry_site, minlength=data.n_sites) > 1).any():
        return 1.0
    observed = -float(evaluate(data, fit.fraction, fit.rho, 2).hess[donor, donor])
    oracle = float(fisher_information(data, fit.fraction, fit.rho)[donor, donor])
    if not (oracle > 0 and observed > 0):
        return 1.0
    return float(np.clip(observed / oracle, 1e-6, 1.0))


def nuisance_share(data: ModelData, fit: FitResult, donor: int) -> float:
    """Share of the information on donor ``donor``'s fraction left once the error multiplier
    and the other donors' fractions are estimated too (the LRT re-fits both under the null).

    ``I_jj^eff / I_jj`` with ``I`` the observed information of ``(f, log kappa)`` over all
    used sites at the fit and ``I^eff = 1 / (I^-1)_jj``; 1 if ``I`` is not positive definite.
    """
    ev = evaluate(data, fit.fraction, fit.rho, 2, kappa=True)
    info = -np.asarray(ev.hess, dtype=np.float64)
    if info[donor, donor] <= 0:
        return 1.0
    try:
        if np.linalg.eigvalsh(info).min() <= 0:
            return 1.0
        eff = 1.0 / np.linalg.inv(info)[donor, donor]
    except np.linalg.LinAlgError:
        return 1.0
    return float(np.clip(eff / info[donor, donor], 1e-6, 1.0))


def limit_of_detection(data: ModelData, fit: FitResult, donor: int, alpha: float = 0.05,
                       power: float = 0.95, inflation: float = 1.0, share: float = 1.0) -> float | None:
    """Smallest fraction detected with probability ``power`` by the level-``alpha`` boundary LRT.

    Solves ``sqrt(E[T] g share / inflation) = z_{1 - alpha} + z_{power}`` (the boundary test
    rejects when ``sqrt(T) > z_{1 - alpha}``, since ``P(chi2_1 > z_{1-alpha}^2) = 2 alpha``);
    ``E[T]`` is the oracle :func:`expected_lrt`, ``g`` the :func:`genotype_share` and
    ``share`` the :func:`nuisance_share`.  None if even ``f = 0.5`` would not reach it.
    """
    target = (stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)) ** 2 * inflation / share
    sub = data.subset(data.informative(donor))
    if sub.n_sites == 0:
        return None
    target /= genotype_share(sub, fit, donor)
    top = 0.5 - (fit.fraction.sum() - fit.fraction[donor])
    if top <= 0 or expected_lrt(sub, fit, donor, top) < target:
        return None
    lo = -9.0
    if expected_lrt(sub, fit, donor, 10.0**lo) >= target:
        return 10.0**lo
    x = optimize.brentq(lambda v: expected_lrt(sub, fit, donor, 10.0**v) - target, lo, np.log10(top), xtol=1e-3)
    return float(10.0**x)


def fisher_information(data: ModelData, f, rho: float = 0.0) -> np.ndarray:
    """Expected Fisher information for the fractions when every member is typed, (K, K).

    Uses the binomial/beta-binomial information of ``p`` per site
    ``n / (p (1 - p) (1 + (n - 1) rho))`` and ``dp/df``; exact for ``rho = 0`` and one
    configuration per site (prior-averaged otherwise: an upper bound, the genotype oracle of
    :func:`genotype_share`).
    """
    p_combo, scale = data.combo_p(f)
    dpdf = scale[None, :] * data.allele_shares()[1]
    w = np.exp(data.entry_logw)
    n = data.n[data.entry_site]
    pe = np.clip(p_combo[data.entry_combo], 1e-12, 1 - 1e-12)
    info = w * n / (pe * (1 - pe) * (1 + (n - 1) * rho))
    d = dpdf[:, data.entry_combo]
    return (d * info) @ d.T
