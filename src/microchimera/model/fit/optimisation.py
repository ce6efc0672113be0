"""Maximum-likelihood fitting: the donor fractions and the nuisance parameters.

* fractions ``f`` (shares of genome equivalents, 0..1): projected Newton with the exact
  gradient and Hessian of :func:`~.evaluation.evaluate`, bounded at 0 with
  ``sum(f) <= F_MAX_TOTAL``, started from ``F_START``;
* overdispersion ``rho``: bounded 1-D search on ``log10 rho`` in ``RHO_BOUNDS`` (and
  ``rho = 0``) on a fixed, evenly spaced subsample of ``RHO_SUBSAMPLE`` sites, alternated
  with the fractions; the het share (reference bias) likewise, in ``HET_SHARE_BOUNDS``,
  when sites identify it (:func:`identified_het_share`: at least ``MIN_HET_SHARE_SITES``
  host-heterozygous sites, else it stays at 0.5);
* error multiplier ``kappa`` (a common factor of the error rates, in
  ``ERROR_SCALE_BOUNDS``): a 1-D search alternated with the fractions, then the joint
  projected Newton in ``(f, log kappa)`` of :func:`refit_error_scale`, which the profiles
  and tests re-use.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..likelihood import ModelData, bb_logpmf_terms
from .evaluation import evaluate

F_START = 1e-3
F_MAX_TOTAL = 0.999
RHO_BOUNDS = (1e-6, 0.3)
HET_SHARE_BOUNDS = (0.3, 0.7)
ERROR_SCALE_BOUNDS = (0.1, 30.0)
RHO_SUBSAMPLE = 50_000
#: Fewest host-heterozygous sites that identify the het share; with fewer it is fixed at 0.5.
MIN_HET_SHARE_SITES = 20
#: Expected donor reads at each kind of its sites for a typed donor to identify the het share.
MIN_DONOR_READS = 200
#: Posterior probability of a heterozygous host for a site to count as host-heterozygous.
HOST_HET_POSTERIOR = 0.99


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


def refit_error_scale(data: ModelData, f, rho: float, base_rate: np.ndarray, kappa: float, free=None,
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


def _rho_subsample(data: ModelData) -> ModelData:
    if data.n_sites <= RHO_SUBSAMPLE:
        return data
    mask = np.zeros(data.n_sites, dtype=bool)
    mask[np.linspace(0, data.n_sites - 1, RHO_SUBSAMPLE).astype(np.int64)] = True
    return data.subset(mask)


def host_het_sites(data: ModelData, f, rho: float) -> np.ndarray:
    """bool (n_sites,): sites whose host is heterozygous with posterior >= ``HOST_HET_POSTERIOR``.

    Only these identify the het share ``beta``: at a donor's own sites (host homozygous)
    the reads fix ``f * beta``, not ``beta``, so fitting ``beta`` there trades it against the
    fraction (a chimerism panel of host-homozygous markers ran ``beta`` to its bound and the
    fraction to 0.72x the truth).  The posterior is over the site's genotype configurations
    at ``f``, ``rho`` and the data's current het share.
    """
    if data.n_sites == 0:
        return np.zeros(0, dtype=bool)
    p_combo, _ = data.combo_p(f)
    t0 = bb_logpmf_terms(data.key_x, data.key_n, p_combo[data.key_combo], data.key_rho(rho))[0]
    lp = data.entry_logw + t0[data.entry_key]
    starts = data.starts
    top = np.maximum.reduceat(lp, starts)
    w = np.exp(lp - top[data.entry_site])
    het = data.combo_gh[data.entry_combo] == 1
    post = np.add.reduceat(w * het, starts) / np.add.reduceat(w, starts)
    return post >= HOST_HET_POSTERIOR


def identifying_donor(data: ModelData, f) -> int | None:
    """A typed donor whose own sites identify the het share at fractions ``f``, or None.

    At host-homozygous sites a donor's reads fix ``f * beta`` where it is heterozygous and
    ``f`` where it is homozygous for the other allele, so a donor with both (an unrelated
    transplant donor; never a child or parent) identifies ``beta``: at least
    ``MIN_HET_SHARE_SITES`` sites of each kind where the host's and its genotypes are certain
    (whatever the other people's, the unknown contributor's included), and
    ``MIN_DONOR_READS`` expected donor reads at each kind.
    """
    if data.n_sites == 0:
        return None
    starts = data.starts
    gh = data.combo_gh[data.entry_combo]
    certain_host = np.minimum.reduceat(gh, starts) == np.maximum.reduceat(gh, starts)
    hom = certain_host & (gh[starts] != 1)
    n = data.as_sites().n
    for k in range(data.n_donors):
        dk = np.abs(data.combo_delta[k, data.entry_combo])
        certain = hom & (np.minimum.reduceat(dk, starts) == np.maximum.reduceat(dk, starts))
        d = dk[starts]
        opp, het = certain & (d == 2), certain & (d == 1)
        if (min(opp.sum(), het.sum()) >= MIN_HET_SHARE_SITES
                and f[k] * min(n[opp].sum(), n[het].sum()) >= MIN_DONOR_READS):
            return k
    return None


def identified_het_share(data: ModelData, f, rho: float) -> tuple[float, int, str]:
    """The het share, when sites identify it: ``(beta, host-heterozygous sites, source)``.

    Identified by at least ``MIN_HET_SHARE_SITES`` host-heterozygous sites
    (:func:`host_het_sites`; source ``"host heterozygous sites"``) or by a typed donor's own
    sites (:func:`identifying_donor`; source ``"typed donor <name>"``), it is the maximum
    over every site of ``data`` at ``f``, ``rho``: alternated with the fractions this
    converges to the joint maximum, which those sites identify (fitting on host-heterozygous
    sites alone would select them by their allele split and bias it towards 0.5).
    Otherwise it stays at 0.5, source ``"fixed"``.
    """
    f = np.asarray(f, dtype=np.float64)
    n_het = int(host_het_sites(data, f, rho).sum())
    if n_het >= MIN_HET_SHARE_SITES:
        return estimate_het_share(data, f, rho), n_het, "host heterozygous sites"
    k = identifying_donor(data, f)
    if k is not None:
        return estimate_het_share(data, f, rho), n_het, f"typed donor {data.donors[k]}"
    return 0.5, n_het, "fixed"


def estimate_het_share(data: ModelData, f, rho: float) -> float:
    """Alt share of a heterozygote's reads (reference bias) maximising the likelihood at ``f``,
    ``rho`` over every site of ``data`` (fitting uses :func:`identified_het_share`, which
    first checks that it is identified)."""
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
    het_share : float
    het_share_sites : int
        Host-heterozygous sites found when the het share was estimated (0 when it was not);
        below ``MIN_HET_SHARE_SITES`` it was not fitted but fixed at 0.5.
    unit_opg : ndarray, shape (n_donors, n_donors), or None
        The molecules' score outer products (:class:`~..likelihood.Evaluation`), which the
        CI's sandwich adds to the sites' block covariance.
    het_share_source : str
        What identified the het share (:func:`identified_het_share`), ``"fixed"`` at 0.5.
    error_scale : float
    tests : list
        The likelihood-ratio tests built on this fit
        (:func:`microchimera.model.fit.detection.likelihood_ratio_test`: each holds the
        alternative's re-fit, shared by the fit's donors).  Not an init argument, so a
        copy made with ``dataclasses.replace`` starts with none.
    """

    fraction: np.ndarray
    rho: float
    loglik: float
    hess: np.ndarray
    site_score: np.ndarray
    het_share: float = 0.5
    error_scale: float = 1.0
    het_share_sites: int = 0
    unit_opg: np.ndarray | None = None
    het_share_source: str = "fixed"
    tests: list = field(default_factory=list, init=False, repr=False, compare=False)


def fit_fractions(data: ModelData, rho: float | None = None, f0=None, rho_data: ModelData | None = None,
                  het_share: bool = True, error_scale: bool = False, kappa0: float | None = None) -> FitResult:
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
        Also estimate the heterozygote alt share (reference bias) when ``rho`` is estimated,
        on the host-heterozygous sites of ``rho_data`` only (:func:`identified_het_share`).
        The returned fit's ``het_share`` must then be set on the data for later calls.
    error_scale : bool
        Also estimate a common multiplier of the error rates (alternating with the
        fractions); the fit's ``error_scale`` must then be applied to the data's rates.
    kappa0 : float, optional
        With ``error_scale``: start the multiplier here and go straight to the joint fit
        (a refit from a fit nearby, with ``f0`` and ``rho`` from it).
    """
    k = data.n_donors
    f = np.full(k, F_START) if f0 is None else np.asarray(f0, dtype=np.float64)
    n_het, source = 0, "fixed"
    if rho is None:
        rho_data = data if rho_data is None else rho_data
        beta = data.het_share
        if het_share:
            beta, n_het, source = identified_het_share(rho_data, np.zeros(k), 0.0)
            data = dataclasses.replace(data, het_share=beta)
        rho = estimate_rho(dataclasses.replace(rho_data, het_share=beta), np.zeros(k))
        f, _ = newton(data, f, rho)
        if het_share:
            beta, n_het, source = identified_het_share(dataclasses.replace(rho_data, het_share=beta), f, rho)
            data = dataclasses.replace(data, het_share=beta)
        rho = estimate_rho(dataclasses.replace(rho_data, het_share=beta), f)
    kappa = 1.0
    if error_scale:
        base = data.error_rate
        rho_base = dataclasses.replace(rho_data if rho_data is not None else data, error_rate=base,
                                       het_share=data.het_share)
        if kappa0 is None:
            for _ in range(2):
                kappa = estimate_error_scale(rho_base, f, rho)
                f, _ = newton(dataclasses.replace(data, error_rate=base * kappa), f, rho)
        else:
            kappa = float(kappa0)
        # Alternating converges slowly where donor reads and errors trade off; finish with
        # the joint Newton fit over every site (the LRT's alternative is this same maximum).
        f, kappa, _ = refit_error_scale(rho_base, f, rho, base, kappa, free=np.ones(k, dtype=bool))
        data = dataclasses.replace(data, error_rate=base * kappa)
    f, ev = newton(data, f, rho)
    return FitResult(f, float(rho), ev.loglik, ev.hess, ev.site_score, float(data.het_share), kappa,
                     n_het, ev.unit_opg, source)
