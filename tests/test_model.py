"""Tests of the quantification model: closed forms, priors, recovery, bad input, result schema."""
import dataclasses
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from scipy.stats import betabinom, binom

from microchimera.errors import InputError, UsageError
from microchimera.io.allele_counts import AlleleCounts
from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.pedigree import Pedigree
from microchimera.io.sites import SiteTable
from microchimera.model import quantify
from microchimera.model.fit import boundary_p_value, fit_fractions
from microchimera.model.likelihood import ModelData
from microchimera.model.prior import check_mendel, genotype_prior
from microchimera.options import QuantifyOptions
from microchimera.sim import simulate_counts, simulate_family
from microchimera.workflow import load_schema

GATK = Path("/work/shared/data/real/gatk_calculatecontamination_NA12891_in_NA12892")
NO_REL = QuantifyOptions(relatedness=False)


def _data(gh, gd, n, x, e=0.0, weights=None, config=None):
    """Model data for typed host/donor dosages (or untyped donor with ``weights``)."""
    n_sites = len(n)
    if weights is None:
        weights = np.ones((n_sites, 1))
        config = np.full((2, 1), -1, dtype=np.int8)
        typed = {0: np.asarray(gh, np.int8), 1: np.asarray(gd, np.int8)}
    else:
        typed = {0: np.asarray(gh, np.int8)}
    return ModelData.build(["d"], weights, config, typed, n, x, np.zeros(n_sites, np.int64),
                           np.full(13, e), np.zeros(n_sites, np.int64))


@pytest.mark.parametrize("f", [0.0, 0.1, 0.5])
def test_loglik__closed_form_binomial(f):
    # host 0/0 donor 1/1 ; host 0/1 donor 0/0 ; host 1/1 donor 0/1, no error
    gh, gd = [0, 1, 2], [2, 0, 1]
    n, x = np.array([10, 20, 8]), np.array([3, 9, 7])
    e = 0.002
    mu = [f * 1.0, (1 - f) * 0.5, (1 - f) + f * 0.5]
    expected = sum(binom.logpmf(xi, ni, m * (1 - e) + (1 - m) * e) - math.log(math.comb(ni, xi))
                   for xi, ni, m in zip(x, n, mu, strict=True))
    got = _data(gh, gd, n, x, e=e).evaluate(np.array([f]), 0.0).loglik
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("f", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("rho", [0.01, 0.2])
def test_loglik__closed_form_betabinomial_with_error(f, rho):
    e = 0.01
    gh, gd = [0, 1], [1, 2]
    n, x = np.array([12, 30]), np.array([2, 17])
    total = 0.0
    for gh_i, gd_i, ni, xi in zip(gh, gd, n, x, strict=True):
        mu = (1 - f) * gh_i / 2 + f * gd_i / 2
        p = mu * (1 - e) + (1 - mu) * e
        a, b = p * (1 / rho - 1), (1 - p) * (1 / rho - 1)
        total += betabinom.logpmf(xi, ni, a, b) - math.log(math.comb(ni, xi))
    got = _data(gh, gd, n, x, e=e).evaluate(np.array([f]), rho).loglik
    assert math.isclose(got, total, rel_tol=1e-8)


@pytest.mark.parametrize("f", [0.0, 0.1, 0.5])
def test_loglik__untyped_donor_is_weighted_mixture(f):
    # one site, host 0/0, donor 0 or 1 with weights 0.7/0.3
    w = np.array([[0.7, 0.3, 0.0]])
    config = np.array([[-1, -1, -1], [0, 1, 2]], dtype=np.int8)
    e = 0.001
    d = _data([0], None, np.array([10]), np.array([1]), e=e, weights=w, config=config)
    p1 = f / 2 * (1 - e) + (1 - f / 2) * e
    lik = 0.7 * binom.pmf(1, 10, e) + 0.3 * binom.pmf(1, 10, p1)
    expected = math.log(lik) - math.log(10)
    assert math.isclose(d.evaluate(np.array([f]), 0.0).loglik, expected, rel_tol=1e-7)


def test_gradient_hessian__match_finite_differences():
    rng = np.random.default_rng(3)
    gh, gd = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    n = rng.integers(5, 50, 200)
    x = rng.binomial(n, np.clip((0.9 * gh + 0.1 * gd) / 2, 0.01, 0.99))
    d = _data(gh, gd, n, x, e=0.002)
    for rho in (0.0, 0.05):
        ev = d.evaluate(np.array([0.1]), rho, order=2)
        h = 1e-6
        up, dn = (d.evaluate(np.array([0.1 + s]), rho).loglik for s in (h, -h))
        assert math.isclose(ev.grad[0], (up - dn) / (2 * h), rel_tol=1e-4)
        gup, gdn = (d.evaluate(np.array([0.1 + s]), rho, order=1).grad[0] for s in (h, -h))
        assert math.isclose(ev.hess[0, 0], (gup - gdn) / (2 * h), rel_tol=1e-4)



def _mixed_data(n_sites=3000, seed=4, f=(0.02, 0.01, 0.005)):
    """Host, two typed children and an untyped one (typed parents), several substitution classes."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.05, 0.95, n_sites)
    ped = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                                 ("F", "a", "dad", "mom", 1), ("F", "b", "dad", "mom", 2),
                                 ("F", "c", "dad", "mom", 0)])
    g = {p: rng.binomial(2, q).astype(np.int8) for p in ("mom", "dad")}
    for c in ("a", "b", "c"):
        g[c] = (rng.binomial(1, g["dad"] / 2) + rng.binomial(1, g["mom"] / 2)).astype(np.int8)
    mu = (1 - sum(f)) * g["mom"] / 2 + sum(fk * g[c] / 2 for fk, c in zip(f, "abc", strict=True))
    rate = rng.uniform(2e-4, 3e-3, 13)
    n = rng.poisson(30, n_sites)
    x = rng.binomial(n, mu * (1 - 2e-3) + (1 - mu) * 1e-3)
    typed = {k: v for k, v in g.items() if k != "c"}
    members = ["mom", "a", "b", "c"]
    prior = genotype_prior(ped, typed, members, q)
    td = {i: typed[m] for i, m in enumerate(members) if m in typed}
    return ModelData.build(members[1:], prior.weights, prior.config_genotypes, td, n, x,
                           rng.integers(0, 12, n_sites), rate, np.arange(n_sites) * 40 // n_sites)


@pytest.mark.parametrize("rho", [0.0, 0.02])
def test_fast_evaluate__matches_model_data_evaluate(rho):
    from microchimera.model.fit import evaluate

    d = _mixed_data()
    f = np.array([0.02, 0.01, 0.005])
    assert len(d.entry_site) > d.n_sites  # sites with one and with several configurations
    for order in (0, 1, 2):
        ref, got = d.evaluate(f, rho, order), evaluate(d, f, rho, order)
        assert math.isclose(got.loglik, ref.loglik, rel_tol=1e-12)
        if order:
            np.testing.assert_allclose(got.site_loglik, ref.site_loglik, rtol=1e-12)
            np.testing.assert_allclose(got.grad, ref.grad, rtol=1e-9)
            np.testing.assert_allclose(got.site_score, ref.site_score, rtol=1e-9, atol=1e-9)
        if order == 2:
            np.testing.assert_allclose(got.hess, ref.hess, rtol=1e-9)


@pytest.mark.parametrize("rho", [0.0, 0.02])
def test_fast_evaluate__error_scale_derivatives_match_finite_differences(rho):
    # parameters (f, log kappa), error rates = rate * kappa
    import dataclasses

    from microchimera.model.fit import evaluate

    d = _mixed_data()
    f = np.array([0.02, 0.01, 0.005])
    ev = evaluate(d, f, rho, order=2, kappa=True)
    h = 1e-5

    def at(lk, order):
        return evaluate(dataclasses.replace(d, error_rate=d.error_rate * np.exp(lk)), f, rho, order, kappa=True)

    up, dn = at(h, 1), at(-h, 1)
    assert math.isclose(ev.grad[-1], (up.loglik - dn.loglik) / (2 * h), rel_tol=1e-5)
    np.testing.assert_allclose(ev.hess[-1], (up.grad - dn.grad) / (2 * h), rtol=1e-4)
    np.testing.assert_allclose(ev.hess[:, -1], ev.hess[-1])
    np.testing.assert_allclose(ev.site_score[:, :-1], d.evaluate(f, rho, order=1).site_score, rtol=1e-9, atol=1e-9)
    assert math.isclose(ev.site_score[:, -1].sum(), ev.grad[-1], rel_tol=1e-9)


def test_lrt_refit_nuisance__null_fully_maximised():
    # The joint Newton null re-fit reaches the limit of the alternating scheme (kappa, then
    # the other fractions, repeated to convergence).
    import dataclasses

    from scipy import optimize

    from microchimera.model import fit as fitmod

    d = _mixed_data(n_sites=4000, seed=7, f=(0.01, 0.004, 0.004))
    inf = d.subset(d.informative())
    fit = fitmod.fit_fractions(inf, rho=0.0, error_scale=False)
    base = d.error_rate * 1.3

    def full(f, kappa):
        return dataclasses.replace(d, error_rate=base * kappa).evaluate(f, 0.0).loglik

    def best_kappa(f):
        res = optimize.minimize_scalar(lambda lk: -full(f, 10.0**lk), bounds=np.log10(fitmod.ERROR_SCALE_BOUNDS),
                                       method="bounded", options={"xatol": 1e-8})
        return float(10.0**res.x)

    l1 = full(fit.fraction, best_kappa(fit.fraction))
    for donor in range(3):
        f0 = fit.fraction.copy()
        f0[donor] = 0.0
        free = np.arange(3) != donor
        for _ in range(60):
            k0 = best_kappa(f0)
            f0, _ = fitmod.newton(dataclasses.replace(inf, error_rate=base * k0), f0, 0.0, free=free, tol=1e-10)
        expected = max(0.0, 2 * (l1 - full(f0, k0)))
        got = fitmod.lrt_refit_nuisance(d, inf, fit, donor, base)
        assert math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-4), (donor, got, expected)


def test_profile_ci__bounds_at_threshold():
    # the root finder stops at |D| < 5e-3 and adds a Newton correction: the bounds are
    # much closer than that to the threshold
    from microchimera.model import fit as fitmod
    from microchimera.model.fit.intervals import Profile

    d = _mixed_data()
    fit = fitmod.fit_fractions(d.subset(d.informative()), rho=0.0)
    inf = d.subset(d.informative())
    for donor in range(3):
        low, high, l0 = fitmod.profile_ci(inf, fit, donor, fitmod.CHI2_95)
        prof = Profile(inf, fit, donor)
        lmax = max(fit.loglik, l0)
        assert low <= fit.fraction[donor] < high
        for bound in (low, high) if low > 0 else (high,):
            assert abs(2 * (lmax - prof(bound)[0]) - fitmod.CHI2_95) < 1e-4


def test_profile_ci__error_multiplier_profiled_out():
    """With the base rates given, the profile re-fits kappa at every point: the bounds sit at
    the threshold of that profile (checked against a brute-force profile over kappa) and the
    interval is at least as wide as with kappa held at its estimate."""
    import dataclasses

    from scipy import optimize

    from microchimera.model import fit as fitmod
    from microchimera.model.fit.intervals import ProfileKappa

    d = _mixed_data(n_sites=4000, seed=7, f=(0.01, 0.004, 0.004))
    base = d.error_rate * 1.3
    fit = fitmod.fit_fractions(dataclasses.replace(d.subset(d.informative()), error_rate=base), rho=0.0,
                               rho_data=dataclasses.replace(d, error_rate=base), error_scale=True)
    scaled = dataclasses.replace(d, error_rate=base * fit.error_scale)
    prof = ProfileKappa(scaled, fit, 0, base)

    def brute(v):  # kappa on a fine 1-D search, the other fractions by Newton, alternated
        f = prof.fhat.copy()
        f[0] = v
        kappa = prof.kappa
        for _ in range(30):
            res = optimize.minimize_scalar(
                lambda lk, f=f: -dataclasses.replace(d, error_rate=base * np.exp(lk)).evaluate(f, 0.0).loglik,
                bounds=np.log(fitmod.ERROR_SCALE_BOUNDS), method="bounded", options={"xatol": 1e-9})
            kappa = float(np.exp(res.x))
            f, _ = fitmod.newton(dataclasses.replace(d, error_rate=base * kappa), f, 0.0, free=np.arange(3) != 0,
                                 tol=1e-12)
        return -res.fun

    low, high, l0 = fitmod.profile_ci(scaled, fit, 0, fitmod.CHI2_95, base_rate=base)
    lmax = max(prof.lmax, l0)
    for bound in (low, high):
        assert abs(2 * (lmax - brute(bound)) - fitmod.CHI2_95) < 1e-3, bound
    inf = scaled.subset(scaled.informative())
    low_fixed, high_fixed, _ = fitmod.profile_ci(inf, fit, 0, fitmod.CHI2_95)
    assert low <= low_fixed + 1e-9 and high >= high_fixed - 1e-9


def _bb_by_sums(x, n, p, rho):
    """Beta-binomial log-pmf (no binomial coefficient) and its p-derivatives for whole counts,
    by the finite sums ``lnG(k + c) - lnG(c) = sum_{i<k} log(c + i)`` (and ``1/(c + i)``,
    ``-1/(c + i)^2`` for psi and psi'), each sum with ``math.fsum``: slow, exact to rounding."""
    import math

    tau = 1.0 / rho - 1.0
    a, b = p * tau, (1.0 - p) * tau

    def rise(k, c):
        t = [c + i for i in range(int(k))]
        return (math.fsum(math.log(v) for v in t), math.fsum(1.0 / v for v in t),
                -math.fsum(1.0 / (v * v) for v in t))

    ax, bx, nx = rise(x, a), rise(n - x, b), rise(n, tau)
    return (ax[0] + bx[0] - nx[0], tau * (ax[1] - bx[1]), tau * tau * (ax[2] + bx[2]),
            tau * (abs(ax[1]) + abs(bx[1])), tau * tau * (abs(ax[2]) + abs(bx[2])))


def test_betabinomial_kernel__matches_finite_sums_and_scipy():
    """The compiled kernel against two references.  Whole counts (0 to all reads, depths 1 to
    30,000, p near 0, 1/2 and 1, rho 1e-6 to 0.3): the finite sums of :func:`_bb_by_sums`.
    The kernel takes counts above 16 through differences of Stirling and psi series, exact
    to ~1e-15 of the parts' size; the derivatives are differences of the two alleles' parts
    (0 at the site's own MLE), so they are held to 1e-9 of the parts; log P to 5e-10 absolute (its
    parts, k log z, reach ~1e6, whose last bit is 1.2e-10) and 1e-12 relative.  Fractional counts (weights): scipy's special functions, the differences
    taken pairwise."""
    from microchimera.model._betabinom import bb_terms
    from scipy.special import digamma, gammaln, polygamma

    rng = np.random.default_rng(3)
    m = 300
    n = (rng.poisson(rng.choice([3, 50, 2000, 30000], m)) + 1).astype(float)
    x = np.minimum(n, rng.poisson(n * rng.choice([1e-4, 0.5, 0.999], m))).astype(float)
    p = np.clip(x / n + rng.uniform(-0.01, 0.01, m), 1e-7, 1 - 1e-7)
    for rho in (1e-6, 1e-4, 1e-2, 0.3):
        got = bb_terms(x, n, p, np.array([rho]), 2)
        want = np.array([_bb_by_sums(*v, rho) for v in zip(x, n, p, strict=True)]).T
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=5e-10)
        assert np.all(np.abs(got[1] - want[1]) <= 1e-9 * want[3])
        assert np.all(np.abs(got[2] - want[2]) <= 1e-9 * want[4])
        # orders 0 and 1 are the leading terms of order 2; per-element rho is one rho repeated
        assert np.array_equal(bb_terms(x, n, p, np.array([rho]), 0)[0], got[0])
        assert np.array_equal(bb_terms(x, n, p, np.array([rho]), 1)[1], got[1])
        assert np.array_equal(bb_terms(x, n, p, np.full(m, rho), 2)[2], got[2])
    xf, nf, pf = x + 0.5, n + 1.0, np.clip(p, 0.01, 0.99)
    for rho in (1e-4, 1e-2, 0.3):
        tau = 1.0 / rho - 1.0
        a, b = pf * tau, (1.0 - pf) * tau
        got = bb_terms(xf, nf, pf, np.array([rho]), 2)
        np.testing.assert_allclose(got[0], (gammaln(xf + a) - gammaln(a)) + (gammaln(nf - xf + b) - gammaln(b))
                                   - (gammaln(nf + tau) - gammaln(tau)), rtol=0, atol=1e-9)
        np.testing.assert_allclose(got[1], tau * ((digamma(xf + a) - digamma(a)) - (digamma(nf - xf + b)
                                                                                   - digamma(b))), rtol=1e-9)
        np.testing.assert_allclose(got[2], tau * tau * ((polygamma(1, xf + a) - polygamma(1, a))
                                                        + (polygamma(1, nf - xf + b) - polygamma(1, b))), rtol=1e-8)


def test_betabinomial_kernel__exact_where_the_difference_cancels():
    """All reads alt at a site whose p is near 1: ``psi'(b) - psi'(b)`` is 0 and the alt side
    ``psi'(x + a) - psi'(a) = -sum_{i<x} 1/(a + i)^2``.  The NumPy sum of the four
    trigamma values (1e10 and 1e10 around a 5e-7) gave exactly 0 here."""
    from microchimera.model._betabinom import bb_terms

    rho, p, n = 1e-4, 1 - 1e-9, 52.0
    tau = 1.0 / rho - 1.0
    a = p * tau
    i = np.arange(52)
    logp, s1, s2 = bb_terms(np.array([n]), np.array([n]), np.array([p]), np.array([rho]), 2)
    assert s2[0] == pytest.approx(-tau * tau * np.sum(1.0 / (a + i) ** 2), rel=1e-12)
    assert s1[0] == pytest.approx(tau * np.sum(1.0 / (a + i)), rel=1e-12)
    # log P = sum log(a + i) - sum log(tau + i): two sums of ~479 whose difference is ~5e-8;
    # the kernel takes the second (n = 52 > 16) by Stirling's difference (two lgamma of ~8e4
    # would leave ~1e-11 of error, a fifth of a percent of the result)
    assert logp[0] == pytest.approx(np.sum(np.log(a + i)) - np.sum(np.log(tau + i)), abs=1e-12)


def test_boundary_threshold__matches_monte_carlo():
    from microchimera.model.fit.intervals import boundary_threshold

    rng = np.random.default_rng(0)
    for mu in (0.0, 0.5, 1.0, 1.5, 3.0):
        x = rng.normal(mu, 1.0, 400_000)
        lr = np.where(x >= 0, (x - mu) ** 2, mu * mu - 2 * x * mu)
        # the 95% quantile of 4e5 draws has SE ~0.01 here; 0.03 is 3 SE
        assert abs(np.quantile(lr, 0.95) - boundary_threshold(mu)) < 0.03, mu
    assert abs(boundary_threshold(0.0) - 1.6448536**2) < 1e-4
    assert abs(boundary_threshold(10.0) - fitmod_chi2()) < 1e-9


def fitmod_chi2():
    from microchimera.model.fit import CHI2_95

    return CHI2_95


def test_profile_ci__boundary_interval_excludes_zero_iff_the_test_rejects():
    """The unified interval leaves 0 out exactly when 2 (l_max - l_p(0)) > 2.71 (the 5%
    boundary-corrected test); the plain one needs 3.84.  Above that both have the same
    upper end far from 0."""
    from microchimera.model import fit as fitmod

    for seed, f in ((1, (0.0006, 0.03, 0.004)), (2, (0.0003, 0.03, 0.004)), (3, (0.0, 0.03, 0.004)),
                    (4, (0.0008, 0.03, 0.004))):
        d = _mixed_data(n_sites=1500, seed=seed, f=f)
        inf = d.subset(d.informative())
        fit = fitmod.fit_fractions(inf, rho=0.0)
        low, high, l0 = fitmod.profile_ci(inf, fit, 0, fitmod.CHI2_95, boundary=True)
        plain_low, plain_high, _ = fitmod.profile_ci(inf, fit, 0, fitmod.CHI2_95)
        stat = 2 * (max(fit.loglik, l0) - l0)
        assert (low > 0) == (stat > 2.7055), (seed, stat, low)
        assert high <= plain_high + 1e-12 and low >= plain_low - 1e-12
        if fit.fraction[0] == 0:  # upper end ~1.6 SE from 0, where the cut-off is ~3.7, not 3.84
            assert high < plain_high
        far_low, far_high, _ = fitmod.profile_ci(inf, fit, 1, fitmod.CHI2_95, boundary=True)
        plain = fitmod.profile_ci(inf, fit, 1, fitmod.CHI2_95)
        assert np.allclose((far_low, far_high), plain[:2], rtol=2e-3)


def test_boundary_p_value__half_chi2():
    assert boundary_p_value(0.0) == 1.0
    assert math.isclose(boundary_p_value(2.705543), 0.05, rel_tol=1e-5)


def test_genotype_prior__child_of_typed_parents_is_mendelian():
    ped = Pedigree.from_records([("f", "m", None, None, 2), ("f", "p", None, None, 1), ("f", "c", "p", "m", 0)])
    g = {"m": np.array([0, 1, 2], np.int8), "p": np.array([2, 1, 2], np.int8)}
    pr = genotype_prior(ped, g, ["m", "c"], np.full(3, 0.3))
    assert np.allclose(pr.weights, [[0, 1, 0], [0.25, 0.5, 0.25], [0, 0, 1]])


def test_genotype_prior__unsampled_father_uses_af():
    ped = Pedigree.from_records([("f", "m", None, None, 2), ("f", "p", None, None, 1), ("f", "c", "p", "m", 0)])
    q = 0.2
    pr = genotype_prior(ped, {"m": np.array([0], np.int8)}, ["m", "c"], np.array([q]))
    assert np.allclose(pr.weights, [[1 - q, q, 0]])
    assert pr.untyped_people == ("p", "c")


def test_check_mendel__wrong_pedigree_raises():
    rng = np.random.default_rng(1)
    ped = Pedigree.from_records([("f", "m", None, None, 2), ("f", "p", None, None, 1), ("f", "c", "p", "m", 0)])
    g = {k: rng.integers(0, 3, 500).astype(np.int8) for k in "mpc"}
    with pytest.raises(InputError, match="contradicts Mendelian inheritance"):
        check_mendel(ped, g)


# ----------------------------------------------------------------------------- simulated family
def _family(n_sites=20000, seed=0):
    rng = np.random.default_rng(seed)
    nc = 5
    cid = np.repeat(np.arange(nc), n_sites // nc).astype(np.int32)
    pos = np.tile(np.sort(rng.choice(100_000_000, n_sites // nc, replace=False)), nc).astype(np.int64)
    ref = rng.integers(0, 4, n_sites).astype(np.uint8)
    alt = ((ref + rng.integers(1, 4, n_sites)) % 4).astype(np.uint8)
    sites = SiteTable(tuple(f"chr{i + 1}" for i in range(nc)), cid, pos, ref, alt, rng.uniform(0.05, 0.95, n_sites))
    ped = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                                 ("F", "kid", "dad", "mom", 1), ("F", "loss", "dad", "mom", 2)])
    fam = simulate_family(ped, sites, rng, contig_lengths=dict.fromkeys(sites.contigs, 100_000_000))
    geno = {p: fam.genotype(p) for p in ped.ids}
    return rng, sites, ped, geno


@pytest.fixture(scope="module")
def family_fixture():
    return _family()


def _gm(geno, people, n):
    return GenotypeMatrix(tuple(people), np.stack([geno[p] for p in people]).astype(np.int8), np.full(n, np.nan))


def test_quantify__recovers_typed_and_untyped_donors(family_fixture):
    rng, sites, ped, geno = family_fixture
    counts = simulate_counts(sites, geno["mom"], np.stack([geno["kid"], geno["loss"]]), [0.01, 0.005],
                             depth=40, rng=np.random.default_rng(5), sample="brain")
    doc = quantify(counts, host="mom", pedigree=ped, genotypes=_gm(geno, ["mom", "dad", "kid"], sites.n_sites),
                   sites=sites).to_json()
    by = {d["name"]: d for d in doc["donors"]}
    for name, truth in (("kid", 0.01), ("loss", 0.005)):
        d = by[name]
        # One fixed family: the lost sibling's realised IBD with the typed sibling moves
        # signal between the two (coverage over random families: validation/).
        assert abs(d["fraction"] - truth) < 0.4 * truth, d
        assert d["detected"] and d["lod"] < truth and d["ci_inflation"] >= 1
    assert by["kid"]["typed"] and not by["loss"]["typed"]
    assert doc["error_rates"] and doc["relatedness_test"]["donors"][0]["conclusion"] == "child"
    jsonschema.validate({**doc, "provenance": _prov()}, load_schema())


def _prov():
    from microchimera.provenance import get_provenance

    return get_provenance(command="test")


def test_quantify__no_donor_dna_not_detected(family_fixture):
    rng, sites, ped, geno = family_fixture
    counts = simulate_counts(sites, geno["mom"], geno["kid"][None], [0.0], depth=40,
                             rng=np.random.default_rng(6), sample="blood")
    doc = quantify(counts, host="mom", donors=["kid"], pedigree=ped,
                   genotypes=_gm(geno, ["mom", "kid"], sites.n_sites), sites=sites, options=NO_REL).to_json()
    d = doc["donors"][0]
    assert d["ci95"][0] == 0.0 and d["fraction"] < 1e-3


def test_quantify__no_family_child_not_halved(family_fixture):
    rng, sites, ped, geno = family_fixture
    counts = simulate_counts(sites, geno["mom"], geno["kid"][None], [0.02], depth=40,
                             rng=np.random.default_rng(7), sample="brain")
    child = quantify(counts, relationships=["child"], options=NO_REL).to_json()["donors"][0]
    unrel = quantify(counts, relationships=["unrelated"], options=NO_REL).to_json()["donors"][0]
    assert child["ci95"][0] <= 0.02 <= child["ci95"][1]
    assert unrel["fraction"] < 0.7 * child["fraction"]  # the unrelated-donor bias this tool avoids


def test_quantify__bad_input(family_fixture):
    rng, sites, ped, geno = family_fixture
    counts = simulate_counts(sites, geno["mom"], geno["kid"][None], [0.01], depth=5,
                             rng=np.random.default_rng(8), sample="s")
    gm = _gm(geno, ["mom", "kid"], sites.n_sites)
    with pytest.raises(InputError, match="not in the pedigree"):
        quantify(counts, host="nobody", pedigree=ped, genotypes=gm)
    with pytest.raises(InputError, match="not in the pedigree"):
        quantify(counts, host="mom", donors=["ghost"], pedigree=ped, genotypes=gm)
    with pytest.raises(UsageError, match="is the host"):
        quantify(counts, host="mom", donors=["mom"], pedigree=ped, genotypes=gm)
    other = SiteTable(sites.contigs, sites.contig_id, sites.pos + 1, sites.ref, sites.alt, sites.af)
    with pytest.raises(InputError, match="different site list"):
        quantify(counts, host="mom", pedigree=ped, genotypes=gm, sites=other)
    no_af = SiteTable(sites.contigs, sites.contig_id, sites.pos, sites.ref, sites.alt, np.full(sites.n_sites, np.nan))
    counts_no_af = simulate_counts(no_af if False else sites, geno["mom"], geno["kid"][None], [0.01], depth=5,
                                   rng=np.random.default_rng(8), sample="s")
    counts_no_af = type(counts_no_af)(counts_no_af.samples, no_af, *[getattr(counts_no_af, c) for c in (
        "ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev")])
    with pytest.raises(InputError, match="allele frequencies are missing"):
        quantify(counts_no_af, relationships=["child"])


def test_quantify__zero_informative_sites_reported(family_fixture):
    rng, sites, ped, geno = family_fixture
    counts = simulate_counts(sites, geno["mom"], geno["mom"][None], [0.01], depth=10,
                             rng=np.random.default_rng(9), sample="s")
    doc = quantify(counts, host="mom", donors=["kid"], pedigree=ped,
                   genotypes=GenotypeMatrix(("mom", "kid"), np.stack([geno["mom"], geno["mom"]]).astype(np.int8),
                                            np.full(sites.n_sites, np.nan)), sites=sites).to_json()
    assert doc["donors"][0]["fraction"] is None
    assert any("no informative sites" in w for w in doc["warnings"])
    jsonschema.validate({**doc, "provenance": _prov()}, load_schema())


def test_fit_fractions__variance_near_cramer_rao():
    # typed host and donor, binomial counts: the MLE's spread vs 1/I(f)
    from microchimera.model.fit.detection import fisher_information

    rng = np.random.default_rng(11)
    n_sites, f = 3000, 0.05
    q = rng.uniform(0.1, 0.9, n_sites)
    gh, gd = rng.binomial(2, q), rng.binomial(2, q)
    n = rng.poisson(30, n_sites)
    mu = (1 - f) * gh / 2 + f * gd / 2
    est = []
    for _ in range(60):
        x = rng.binomial(n, mu * (1 - 1e-3) + (1 - mu) * 1e-3)
        d = _data(gh, gd, n, x, e=1e-3)
        est.append(fit_fractions(d, rho=0.0).fraction[0])
    crb = 1 / fisher_information(_data(gh, gd, n, n // 2, e=1e-3), np.array([f]))[0, 0]
    assert np.var(est) < 1.6 * crb  # 60 replicates: loose; validation/ checks 1.25x with 400


# ----------------------------------------------------------------------------- real data
@pytest.mark.skipif(not GATK.exists(), reason="shared real data not present")
@pytest.mark.parametrize("spike", ["0.01", "0.03", "0.05", "0.08"])
def test_quantify__gatk_calculatecontamination_tables(spike):
    from microchimera.io.pileup_summaries import read_pileup_summaries

    path = next(GATK.glob(f"NA12891_{spike}_*.table"))
    counts = read_pileup_summaries(path)
    doc = quantify(counts, relationships=["unrelated"], options=NO_REL).to_json()
    d = doc["donors"][0]
    expected = float(spike) + 0.001
    assert abs(d["fraction"] - expected) <= 0.01, d["fraction"]
    # Without drift (theta 0) the CI contains spike + baseline at every spike; it did not at 8%
    # (0.088, CI from 0.082) before sites deeper than 3x the median (6% of them: collapsed
    # duplications) were dropped.
    low0, high0 = quantify(counts, relationships=["unrelated"],
                           options=dataclasses.replace(NO_REL, theta=0.0)).donors[0].ci95
    assert low0 <= expected <= high0, (low0, high0)
    # The default theta 0.01 lets the two CEU spouses share their population's drift, which
    # raises the estimate by about 2 theta relative (0.0853 -> 0.0866 at 8%); the CI's low end
    # then sits 0.0001 above spike + baseline at 8%, a value GATK itself only trusts to
    # +-0.01.  Hold the CI to within 0.002 of it (a fifth of that) and to the theta-0 CI's shift.
    low, high = d["ci95"]
    assert low <= expected + 0.002 and high >= expected - 0.002, d["ci95"]
    assert 0 <= low - low0 <= 0.03 * expected, (low, low0)
    assert 1000 < doc["sites"]["dropped"]["high_depth"] < 3000
    # no family: the LoD must come from the genotype mixture, not from the prior-averaged
    # alt share (which does not move with f when host and donor share AF: LoD was None)
    assert d["lod"] is not None and 0.001 < d["lod"] < 0.01, d["lod"]


def test_origin_prior_reads__pools_noise_keeps_real_differences():
    from microchimera.model.seqerror import origin_prior_reads

    rng = np.random.default_rng(3)
    exposure = np.full(4, 2e4)
    # same true rate everywhere: the spread is counting noise, so complete pooling (inf) in
    # most draws; a finite weight must still be large against the exposure
    raw_err, shrunk_err, pooled = 0.0, 0.0, 0
    for _ in range(200):
        k = rng.poisson(exposure * 3e-4)
        w = origin_prior_reads(k, exposure)
        pooled += np.isinf(w)
        m = k.sum() / exposure.sum()
        shrunk = np.full(4, m) if np.isinf(w) else (k + w * m) / (exposure + w)
        raw_err += np.sum((k / exposure - 3e-4) ** 2)
        shrunk_err += np.sum((shrunk - 3e-4) ** 2)
    assert pooled > 100  # chance spread exceeds the Poisson variance in under half the draws
    assert shrunk_err < 0.5 * raw_err  # shrinking to the pool more than halves the error
    # rates differing 4x with millions of calls: a small weight, each origin keeps its own rate
    big = np.full(4, 1e7)
    events = rng.poisson(big * np.array([1e-4, 4e-4, 1e-4, 4e-4]))
    assert origin_prior_reads(events, big) < 1e6
    assert np.isinf(origin_prior_reads(np.array([0, 0, 0, 0]), big))


def test_depth_cap__ratio_times_median_with_a_floor_for_shallow_data():
    from microchimera.model.quantify import depth_cap

    assert depth_cap(np.array([80, 81, 82, 500]), 3.0) == 244          # 3 x median 81.5
    assert depth_cap(np.array([1, 1, 2, 1]), 3.0) == 7                 # 1 + 6 sqrt(1)
    assert depth_cap(np.array([80, 81]), None) is None
    assert depth_cap(np.array([], dtype=np.int64), 3.0) is None
    with pytest.raises(UsageError, match="max_depth_ratio"):
        depth_cap(np.array([10]), 1.0)


def test_quantify__drops_collapsed_duplication_sites():
    """Sites at 5x depth carrying paralogous 'alt' reads at 5% would look like donor DNA:
    the depth cap drops them, and the estimate is that of the clean sites."""
    rng = np.random.default_rng(11)
    n_sites = 3000
    af = rng.uniform(0.05, 0.95, n_sites)
    host = rng.binomial(2, af)
    donor = rng.binomial(2, af)
    f = 0.02
    depth = rng.poisson(60, n_sites)
    bad = np.arange(n_sites) < 300
    depth[bad] = rng.poisson(300, bad.sum())
    p = (1 - f) * host / 2 + f * donor / 2
    p = np.where(bad & (host == 0), 0.05, p) * (1 - 3e-3) + 1e-3
    alt = rng.binomial(depth, p)
    sites = SiteTable(("1",), np.zeros(n_sites, np.int32), np.arange(n_sites, dtype=np.int64) * 10_000 + 1,
                      np.zeros(n_sites, np.uint8), np.full(n_sites, 2, np.uint8), af)
    counts = AlleleCounts.from_totals(["s"], sites, (depth - alt)[None], alt[None],
                                      rng.binomial(depth, 1e-3)[None])
    capped = quantify(counts, relationships=["unrelated"], options=NO_REL).to_json()
    assert capped["sites"]["dropped"]["high_depth"] == 300
    assert 170 <= capped["sites"]["max_depth"] <= 190  # 3 x the median of Poisson(60)
    d = capped["donors"][0]
    assert d["ci95"][0] <= f <= d["ci95"][1], d
    kept = quantify(counts, relationships=["unrelated"],
                    options=QuantifyOptions(relatedness=False, max_depth_ratio=None)).to_json()
    assert kept["sites"]["dropped"]["high_depth"] == 0 and kept["sites"]["max_depth"] is None
    # without the cap the paralogous reads are taken for donor DNA (0.033 [0.022, 0.045])
    assert kept["donors"][0]["ci95"][0] > f
