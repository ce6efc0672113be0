"""Likelihood evaluation for the fits: :func:`evaluate`.

The values of :meth:`ModelData.evaluate` (log-likelihood, per-site log-likelihoods,
gradient, per-site scores and Hessian in the donor fractions ``f``, each in 0..1; ``rho``
the beta-binomial overdispersion, 0 the binomial), computed on the data's regrouped
entries (:attr:`ModelData.layout`, built once per set of entries and shared by the copies
that differ only in error rates or het share), plus the derivatives in ``log kappa``, the
log of a common multiplier of the error rates.  Every fit, profile and test of
:mod:`microchimera.model.fit` evaluates through here.
"""
from __future__ import annotations

import numpy as np

from ..likelihood import SWAP_CLASS, Evaluation, ModelData, add_molecule_terms, bb_logpmf_terms


def evaluate(data: ModelData, f, rho: float, order: int = 0, kappa: bool = False) -> Evaluation:
    """:meth:`ModelData.evaluate` on the data's :attr:`~ModelData.layout` (same values, faster).

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
    lay = data.layout
    p_combo, _ = data.combo_p(f)
    terms = bb_logpmf_terms(data.key_x, data.key_n, p_combo[data.key_combo], data.key_rho(rho), order)
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
        return add_molecule_terms(data, Evaluation(total, None), f, order, kappa)
    site_ll = np.empty(data.n_sites)
    site_ll[lay.single_site] = lay.single_logw + t0[lay.single_key]
    dp = read_prob_gradient(data, f, kappa)  # (K [+ 1], n_combos)
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
        return add_molecule_terms(data, Evaluation(total, site_ll, grad, None, score), f, order, kappa)
    hess = (dpk * ((terms[2] + terms[1] ** 2) * rk)) @ dpk.T - score.T @ score
    if kappa:
        s1r = terms[1] * rk
        e_sum = data.error_rate[data.combo_class] + data.error_rate[SWAP_CLASS[data.combo_class]]
        cross = -(e_sum[None, :] * data.allele_shares()[1])[:, data.key_combo] @ s1r
        hess[-1, :-1] += cross
        hess[:-1, -1] += cross
        hess[-1, -1] += float(dpk[-1] @ s1r)
    return add_molecule_terms(data, Evaluation(total, site_ll, grad, hess, score), f, order, kappa)


def read_prob_gradient(data: ModelData, f, kappa: bool = True) -> np.ndarray:
    """``dp/df_1..f_K`` (and ``dp/dlog kappa`` with ``kappa``) of each combo's alt-read
    probability, (K [+ 1], n_combos).

    ``kappa`` multiplies ``data.error_rate`` and is taken at 1: since
    ``p = kappa e_ra + (1 - kappa (e_ra + e_ar)) mu``, ``dp/dlog kappa = e_ra - (e_ra + e_ar) mu``.
    """
    f = np.asarray(f, dtype=np.float64)
    _, scale = data.combo_p(f)
    ah, ad = data.allele_shares()
    dp = scale[None, :] * ad
    if not kappa:
        return dp
    e_ra = data.error_rate[data.combo_class]
    e_sum = e_ra + data.error_rate[SWAP_CLASS[data.combo_class]]
    return np.vstack([dp, e_ra - e_sum * (ah + f @ ad)])

