"""Detection: the test of ``f_k = 0`` and the limit of detection.

* test of ``f_k = 0``: likelihood-ratio test over every used site with the boundary null
  ``1/2 chi2_0 + 1/2 chi2_1`` (:func:`boundary_p_value`; the caller divides the statistic
  by the linked-sites inflation ``lambda``), the error multiplier and the other fractions
  re-fitted jointly (projected Newton in ``(f, log kappa)``) under the null
  (:class:`LikelihoodRatioTest`);
* limit of detection: the smallest ``f_k`` (a share of genome equivalents, 0..1) whose
  expected LRT statistic reaches the 95% power point of a level-``alpha`` test
  (:func:`limit_of_detection`), from the genotype-oracle statistic (:func:`expected_lrt`,
  :func:`fisher_information`) scaled by the information kept with genotypes summed out
  (:func:`genotype_share`) and with the nuisance parameters estimated (:func:`nuisance_share`).
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from ..likelihood import ModelData
from .evaluation import evaluate
from .optimisation import FitResult, refit_error_scale


class LikelihoodRatioTest:
    """LRT statistics of ``f_k = 0`` for the donors of one fit, the error multiplier re-fitted.

    The likelihood is taken over every used site (``data``), so the background sites that
    pin the error rates take part; the error multiplier (error rates ``base_rate * kappa``)
    is re-fitted under both hypotheses and the other donors under the null, jointly
    (:func:`~.optimisation.refit_error_scale`).  Holding the multiplier at its value under
    the alternative would make the test anti-conservative (donor reads and errors trade off).

    The alternative (fractions at ``fit.fraction``, ``kappa`` re-fitted unless not
    ``refit_error``) does not depend on the donor: it is fitted once, here, into ``kappa``
    and ``loglik``; each :meth:`statistic` then costs one null fit.
    """

    def __init__(self, data: ModelData, fit: FitResult, base_rate: np.ndarray, refit_error: bool = True):
        # The fit's values, not the fit: a test is kept in ``fit.tests`` (no reference cycle).
        self.data, self.refit_error = data, refit_error
        self.fraction = np.array(fit.fraction, dtype=np.float64)
        self.rho = fit.rho
        self.base_rate = np.array(base_rate, dtype=np.float64)  # a copy: likelihood_ratio_test matches on it
        _, self.kappa, self.loglik = refit_error_scale(data, self.fraction, self.rho, self.base_rate,
                                                       fit.error_scale, fit_kappa=refit_error)

    def statistic(self, donor: int) -> float:
        """``max(0, 2 (l_1 - l_0))`` for ``f_donor = 0``, the null fit started at the alternative's ``kappa``."""
        f0 = self.fraction.copy()
        f0[donor] = 0.0
        free = np.ones(len(f0), dtype=bool)
        free[donor] = False
        _, _, l0 = refit_error_scale(self.data, f0, self.rho, self.base_rate, self.kappa, free=free,
                                     fit_kappa=self.refit_error)
        return max(0.0, 2.0 * (self.loglik - l0))


def likelihood_ratio_test(data: ModelData, fit: FitResult, base_rate: np.ndarray,
                          refit_error: bool = True) -> LikelihoodRatioTest:
    """The :class:`LikelihoodRatioTest` of ``fit`` on ``data`` (the same object) with these
    base rates: the one in ``fit.tests`` if there is one, else a new one, added there."""
    base_rate = np.asarray(base_rate, dtype=np.float64)
    for test in fit.tests:
        if test.data is data and test.refit_error == refit_error and np.array_equal(test.base_rate, base_rate):
            return test
    test = LikelihoodRatioTest(data, fit, base_rate, refit_error)
    fit.tests.append(test)
    return test


def lrt_refit_nuisance(data: ModelData, data_inf: ModelData | None, fit: FitResult, donor: int,
                       base_rate: np.ndarray, refit_error: bool = True) -> float:
    """LRT statistic of ``f_donor = 0`` with the error multiplier re-fitted under the null:
    :meth:`LikelihoodRatioTest.statistic` of :func:`likelihood_ratio_test`, so testing every
    donor of one fit on one ``data`` fits the alternative once.

    ``data_inf`` is not used (sites that are not informative carry no score for the
    fractions, so the test needs only ``data``) and may be None.
    """
    return likelihood_ratio_test(data, fit, base_rate, refit_error).statistic(donor)


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
