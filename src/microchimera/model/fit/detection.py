"""Detection: the test of ``f_k = 0`` and the limit of detection.

* test of ``f_k = 0``: likelihood-ratio test over every used site with the boundary null
  ``1/2 chi2_0 + 1/2 chi2_1`` (:func:`boundary_p_value`; the caller divides the statistic
  by the linked-sites inflation ``lambda``), the error multiplier and the other fractions
  re-fitted jointly (projected Newton in ``(f, log kappa)``) under the null
  (:class:`LikelihoodRatioTest`);
* limit of detection: the smallest ``f_k`` (a share of genome equivalents, 0..1) whose
  expected LRT statistic reaches the 95% power point of a level-``alpha`` test
  (:func:`limit_of_detection`), from the genotype-oracle statistic (:func:`expected_lrt`,
  :func:`fisher_information`) scaled by the share of it the test keeps with genotypes
  summed out and the other fractions and the error multiplier re-fitted under the null
  (:func:`detection_share`, from :mod:`.expected`).  A design quantity: it does not depend
  on where the donor's estimate fell.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from ..likelihood import ModelData
from .expected import profiled_lrt
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
    people.  With genotypes summed out it is an upper bound; :func:`detection_share` scales it.
    (Averaging ``p`` over the configurations first would be wrong there: host and donor
    have the same marginal allele frequency, so the averaged ``p`` does not move with ``f``.)
    """
    return _oracle_lrt(data, fit, donor, value, _combo_read_weights(data, fit.rho))


def _combo_read_weights(data: ModelData, rho: float) -> np.ndarray:
    """``sum`` over the entries of each combo of ``w_ic n_i / (1 + (n_i - 1) rho)``, (n_combos,):
    the oracle's KL depends on an entry only through its combo, so its sum over entries is
    a sum over combos of these weights (computed once per search, not per fraction)."""
    w = np.exp(data.entry_logw)
    w = w / np.bincount(data.entry_site, weights=w, minlength=data.n_sites)[data.entry_site]
    n = data.n[data.entry_site]
    rho_e = data.combo_rho_total(rho)
    rho_e = rho_e[data.entry_combo] if np.ndim(rho_e) else rho_e
    return np.bincount(data.entry_combo, weights=w * n / (1.0 + (n - 1.0) * rho_e), minlength=len(data.combo_gh))


def _oracle_lrt(data: ModelData, fit: FitResult, donor: int, value: float, weights: np.ndarray) -> float:
    f1 = np.array(fit.fraction, dtype=np.float64)
    f1[donor] = value
    f0 = f1.copy()
    f0[donor] = 0.0
    p1 = np.clip(data.combo_p(f1)[0], 1e-12, 1 - 1e-12)
    p0 = np.clip(data.combo_p(f0)[0], 1e-12, 1 - 1e-12)
    kl = p1 * np.log(p1 / p0) + (1 - p1) * np.log((1 - p1) / (1 - p0))
    return float(2.0 * weights @ kl)


#: At most this many used sites (evenly spaced) enter :func:`detection_share`: a ratio, so a
#: subsample estimates it well, and it bounds the cost of the least-favourable fits (on the
#: demo's 20,000 sites, 10,000 moved every LoD by at most 1%, 5,000 by up to 5%).
SHARE_SITES = 10_000


def detection_share(data: ModelData, fit: FitResult, donor: int, value: float) -> float:
    """Share of the genotype-oracle expected statistic (:func:`expected_lrt`) at
    ``f_donor = value`` that the sample's test keeps, in (0, 1].

    The statistic the test can expect is the KL divergence of the reads at ``value`` from
    the least favourable null (:func:`~.expected.profiled_lrt`: genotypes summed out, the
    other fractions and the error multiplier re-fitted); the share is that over the oracle,
    on at most ``SHARE_SITES`` evenly spaced used sites (every site when fewer).  The other
    donors sit at ``fit.fraction``.  It is a property of the design and of ``value``, not
    of the reads: the same whether the estimate is 0 or not.
    """
    data = data.as_sites()  # the least favourable null is computed on site counts
    keep = np.zeros(data.n_sites, dtype=bool)
    keep[np.unique(np.linspace(0, data.n_sites - 1, min(data.n_sites, SHARE_SITES)).astype(np.int64))] = True
    sub = data.subset(keep) if not keep.all() else data
    oracle = expected_lrt(sub, fit, donor, value)
    if not oracle > 0:
        return 1.0
    f_alt = np.array(fit.fraction, dtype=np.float64)
    f_alt[donor] = value
    return float(np.clip(profiled_lrt(sub, f_alt, donor, fit.rho) / oracle, 1e-6, 1.0))


def limit_of_detection(data: ModelData, data_inf: ModelData, fit: FitResult, donor: int, alpha: float = 0.05,
                       power: float = 0.95, inflation: float = 1.0, near: float | None = None) -> float | None:
    """Smallest fraction detected with probability ``power`` by the level-``alpha`` boundary LRT.

    Solves ``sqrt(E[T] share(f) / inflation) = z_{1 - alpha} + z_{power}`` (the boundary test
    rejects when ``sqrt(T) > z_{1 - alpha}``, since ``P(chi2_1 > z_{1-alpha}^2) = 2 alpha``);
    ``E[T]`` is the oracle :func:`expected_lrt` over the donor's informative sites of
    ``data_inf`` and ``share`` the :func:`detection_share` over the used sites ``data``.  The
    share is computed at two fractions (the LoD with the share at 1, then with the first
    share) and taken as a power of ``f`` between them.  None if even ``f = 0.5`` would
    not reach it.  Every input is a design quantity (depth per site, error rates, who is
    typed, the other donors' fractions): where this donor's own estimate fell does not enter.
    ``near`` (e.g. the :func:`oracle_lod`, already at hand) speeds up the root searches.
    """
    target = (stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)) ** 2 * inflation
    sub = data_inf.subset(data_inf.informative(donor))
    f_a = _solve_lod(sub, fit, donor, target, lambda v: 1.0, near)
    if f_a is None:
        return None
    s_a = detection_share(data, fit, donor, f_a)
    f_b = _solve_lod(sub, fit, donor, target, lambda v: s_a, f_a)
    if f_b is None:
        return None
    s_b = detection_share(data, fit, donor, f_b)
    span = np.log(f_b / f_a)
    beta = float(np.clip(np.log(s_b / s_a) / span, -1.0, 1.0)) if abs(span) > 1e-3 else 0.0
    return _solve_lod(sub, fit, donor, target, lambda v: min(1.0, s_a * (v / f_a) ** beta), f_b)


def oracle_lod(data_inf: ModelData, fit: FitResult, donor: int, alpha: float = 0.05,
               power: float = 0.95) -> float | None:
    """The LoD as if genotypes and error rates were known and the sites unlinked: the
    fraction where the oracle :func:`expected_lrt` reaches the 95% power point.  A lower
    bound of :func:`limit_of_detection`, quick, and a design quantity: the reference point
    where :func:`~.intervals.block_inflation` evaluates a donor the fit put at 0."""
    target = (stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)) ** 2
    return _solve_lod(data_inf.subset(data_inf.informative(donor)), fit, donor, target, lambda v: 1.0)


def _solve_lod(sub: ModelData, fit: FitResult, donor: int, target: float, share,
               near: float | None = None) -> float | None:
    """Smallest ``f`` (log-scale root) with ``expected_lrt(f) share(f) >= target``; None if
    ``f = 0.5`` minus the other fractions does not reach it or there is no informative site.
    ``near``: a fraction close to the root, bracketed from there in steps of 2x (fewer
    evaluations of the oracle over every informative site than the full bracket).  With
    molecules the expected statistic is the site counts' plus the molecules'
    (:class:`~microchimera.model.molecule_lod.MoleculeOracle`)."""
    top = 0.5 - (fit.fraction.sum() - fit.fraction[donor])
    if sub.n_sites == 0 or top <= 0:
        return None

    weights = _combo_read_weights(sub, fit.rho)
    mol = sub.molecule_oracle()

    def gap(v):
        t = _oracle_lrt(sub, fit, donor, 10.0**v, weights)
        if mol is not None:
            f1 = np.array(fit.fraction, dtype=np.float64)
            f1[donor] = 10.0**v
            t += mol.expected_lrt(f1, donor)
        return t * share(10.0**v) - target
    hi = np.log10(top)
    lo = -9.0
    if near is not None and 1e-9 < near < top:
        a = b = np.log10(near)
        ga = gb = gap(a)
        step = np.log10(2.0)
        while gb < 0 and b < hi:
            a, ga = b, gb
            b = min(hi, b + step)
            gb = gap(b)
        while ga >= 0 and a > lo:
            b, gb = a, ga
            a = max(lo, a - step)
            ga = gap(a)
        if ga < 0 <= gb:
            return float(10.0 ** optimize.brentq(gap, a, b, xtol=1e-3))
        return None if gb < 0 else 1e-9
    if gap(hi) < 0:
        return None
    if gap(lo) >= 0:
        return 1e-9
    return float(10.0 ** optimize.brentq(gap, lo, hi, xtol=1e-3))


def fisher_information(data: ModelData, f, rho: float = 0.0) -> np.ndarray:
    """Expected Fisher information for the fractions when every member is typed, (K, K).

    Uses the binomial/beta-binomial information of ``p`` per site
    ``n / (p (1 - p) (1 + (n - 1) rho))`` and ``dp/df``; exact for ``rho = 0`` and one
    configuration per site (prior-averaged otherwise: an upper bound, the genotype oracle of
    :func:`detection_share`).
    """
    p_combo, scale = data.combo_p(f)
    dpdf = scale[None, :] * data.allele_shares()[1]
    w = np.exp(data.entry_logw)
    n = data.n[data.entry_site]
    pe = np.clip(p_combo[data.entry_combo], 1e-12, 1 - 1e-12)
    info = w * n / (pe * (1 - pe) * (1 + (n - 1) * rho))
    d = dpdf[:, data.entry_combo]
    return (d * info) @ d.T
