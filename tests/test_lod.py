"""The limit of detection is a property of the design (issue 16 item 1).

Unit tests of :mod:`microchimera.model.fit.expected` (the expected LRT statistic with
genotypes summed out, and against the least favourable null) and a test over seeds of
one design that the LoD does not jump when a donor's estimate is exactly 0.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import optimize

from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.pedigree import Pedigree
from microchimera.io.sites import SiteTable
from microchimera.model import quantify
from microchimera.model.fit import detection
from microchimera.model.fit.expected import _entry_p, _Grid, expected_lrt, profiled_lrt
from microchimera.model.fit.optimisation import FitResult
from microchimera.model.likelihood import ModelData
from microchimera.options import QuantifyOptions
from microchimera.sim import simulate_counts, simulate_family


def _typed_data(rng, n_sites=300, depth=60, e=1e-3):
    gh = rng.integers(0, 3, n_sites).astype(np.int8)
    gd = rng.integers(0, 3, n_sites).astype(np.int8)
    n = rng.poisson(depth, n_sites).astype(np.float64) + 1
    return ModelData.build(["d"], np.ones((n_sites, 1)), np.full((2, 1), -1, np.int8), {0: gh, 1: gd}, n,
                           np.zeros(n_sites), np.zeros(n_sites, np.int64), np.full(13, e),
                           np.zeros(n_sites, np.int64))


def _untyped_data(rng, n_sites=300, depth=60, e=1e-3):
    """A typed host and an untyped donor with three genotypes (HWE at a random AF)."""
    q = rng.uniform(0.05, 0.95, n_sites)
    gh = rng.integers(0, 3, n_sites).astype(np.int8)
    weights = np.stack([(1 - q) ** 2, 2 * q * (1 - q), q ** 2], axis=1)
    config = np.array([[-1, -1, -1], [0, 1, 2]], dtype=np.int8)
    n = rng.poisson(depth, n_sites).astype(np.float64) + 1
    return ModelData.build(["d"], weights, config, {0: gh}, n, np.zeros(n_sites), np.zeros(n_sites, np.int64),
                           np.full(13, e), np.zeros(n_sites, np.int64))


def _fit(f) -> FitResult:
    return FitResult(fraction=np.asarray(f, dtype=np.float64), rho=0.0, loglik=0.0, hess=None, site_score=None)


@pytest.mark.parametrize("f", [1e-4, 1e-3, 3e-2])
def test_expected_lrt__typed_equals_the_genotype_oracle(f):
    # One configuration per site: the mixture is a binomial and the two must agree to
    # rounding (the oracle is a closed form, the new one a sum over read counts).
    data = _typed_data(np.random.default_rng(1))
    got = expected_lrt(data, np.array([f]), np.array([0.0]))
    want = detection.expected_lrt(data, _fit([f]), 0, f)
    assert got == pytest.approx(want, rel=1e-6)


def test_expected_lrt__untyped_matches_monte_carlo_and_stays_below_the_oracle():
    # The KL sum over read counts against the mean of 2 log LR over reads drawn from the
    # mixture: 4000 draws per site give a relative SE of about 1% on the total, so 5% is 5 SE.
    rng = np.random.default_rng(2)
    data = _untyped_data(rng, n_sites=200)
    f1, f0 = np.array([2e-2]), np.array([0.0])
    got = expected_lrt(data, f1, f0)
    p1 = np.clip(data.combo_p(f1)[0][data.entry_combo], 1e-12, 1)
    p0 = np.clip(data.combo_p(f0)[0][data.entry_combo], 1e-12, 1)
    w = np.exp(data.entry_logw)
    w = w / np.bincount(data.entry_site, weights=w)[data.entry_site]
    total = 0.0
    draws = 4000
    for i in range(data.n_sites):
        m = data.entry_site == i
        c = rng.choice(np.flatnonzero(m), size=draws, p=w[m])
        x = rng.binomial(int(data.n[i]), p1[c])[:, None]
        n = data.n[i]

        def log_mix(p, x=x, m=m, n=n):
            return np.log((w[m] * p[m] ** x * (1 - p[m]) ** (n - x)).sum(axis=1))
        total += 2 * np.mean(log_mix(p1) - log_mix(p0))
    assert got == pytest.approx(total, rel=0.05)
    assert got < detection.expected_lrt(data, _fit(f1), 0, float(f1[0]))


def test_profiled_lrt__is_the_minimum_over_the_error_multiplier():
    # One donor: the least favourable null only moves kappa.  A bounded scalar search over
    # kappa on the same expected KL must find the same minimum (to its tolerance).
    rng = np.random.default_rng(3)
    data = _typed_data(rng, n_sites=400)
    f = np.array([2e-3])
    got = profiled_lrt(data, f, 0)

    def kl(log_kappa):
        scaled = dataclasses.replace(data, error_rate=data.error_rate * np.exp(log_kappa))
        return expected_lrt(data, f, np.array([0.0])) if log_kappa == 0 else 2 * _Grid(data, f, 0.0).kl(
            _entry_p(scaled, [0.0]))
    best = optimize.minimize_scalar(kl, bounds=(np.log(0.1), np.log(10)), method="bounded",
                                    options={"xatol": 1e-6}).fun
    assert got == pytest.approx(best, rel=1e-3)
    assert got < expected_lrt(data, f, np.array([0.0]))  # estimating kappa costs information


def _grid_terms_by_matrices(grid: _Grid, data: ModelData, p0: np.ndarray, dp: np.ndarray):
    """The expected log-likelihood's chunk sums with dense (points x configurations) NumPy
    matrices, the way they were computed before the compiled loop."""
    total, grad, fisher = 0.0, np.zeros(len(dp)), np.zeros((len(dp), len(dp)))
    for s, x, m, weight in grid.chunks:
        e = data.starts[s][:, None] + np.arange(m)
        n = data.n[s][:, None]
        lb = grid.logw[e] + x[:, None] * np.log(p0)[e] + (n - x[:, None]) * np.log1p(-p0)[e]
        top = lb.max(axis=1, keepdims=True)
        lse = (top + np.log(np.exp(lb - top).sum(axis=1, keepdims=True)))[:, 0]
        total += float(weight @ lse)
        ds = np.exp(lb - lse[:, None]) * (x[:, None] / p0[e] - (n - x[:, None]) / (1 - p0[e]))
        score = np.einsum("gm,dgm->gd", ds, dp[:, e])
        grad += weight @ score
        fisher += (score * weight[:, None]).T @ score
    return total, grad, fisher


def test_grid_terms__compiled_loop_equals_the_matrices():
    # The compiled loop (`_grid.chunk_terms`) against dense matrices on an untyped donor (three
    # configurations per site) at a null away from the truth, the error multiplier's
    # derivative included: the same sums, to rounding.
    from microchimera.model.fit.evaluation import read_prob_gradient

    data = _untyped_data(np.random.default_rng(4), n_sites=400)
    grid = _Grid(data, np.array([2e-2]), 0.0)
    f0 = np.array([5e-3])
    p0 = _entry_p(data, f0)
    dp = read_prob_gradient(data, f0)[:, data.entry_combo]
    got = grid._null_terms(p0, dp)
    want = _grid_terms_by_matrices(grid, data, p0, dp)
    assert got[0] == pytest.approx(want[0], rel=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-10)
    assert grid._null_terms(p0, None)[0] == got[0]  # the log-likelihood alone is the same sum


PED = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                             ("F", "son", "dad", "mom", 1), ("F", "loss", "dad", "mom", 0)])


def _sample(seed: int, n_sites=2000, depth=60):
    rng = np.random.default_rng(seed)
    cid = np.repeat(np.arange(4), n_sites // 4).astype(np.int32)
    pos = np.concatenate([np.sort(rng.choice(50_000_000, n_sites // 4, replace=False)) for _ in range(4)])
    ref = rng.integers(0, 4, n_sites).astype(np.uint8)
    alt = ((ref + rng.integers(1, 4, n_sites)) % 4).astype(np.uint8)
    sites = SiteTable(("1", "2", "3", "4"), cid, pos.astype(np.int64), ref, alt, rng.uniform(0.05, 0.95, n_sites))
    fam = simulate_family(PED, sites, rng, contig_lengths=dict.fromkeys(sites.contigs, 50_000_000))
    g = {p: fam.genotype(p).astype(np.int8) for p in PED.ids}
    counts = simulate_counts(sites, g["mom"], np.stack([g["son"], g["loss"]]), [1e-3, 2e-4], depth=depth,
                             rng=rng, sample="s")
    typed = ("mom", "dad", "son")
    gm = GenotypeMatrix(typed, np.stack([g[p] for p in typed]), np.full(n_sites, np.nan))
    return quantify(counts, host="mom", donors=["son", "loss"], pedigree=PED, genotypes=gm, sites=sites,
                    options=QuantifyOptions(relatedness=False))


def test_lod__untyped_donor_does_not_jump_when_its_estimate_is_0():
    # One design, eight seeds: the untyped loss at 2e-4 (below its LoD) comes out at exactly
    # 0 in some seeds and above 0 in others.  The LoD may vary with the family (how many
    # sites are informative) and the depth draw, not with where the estimate fell.  Measured
    # (commit of this test): every seed within 0.85-1.09x of the median for the loss and
    # 0.87-1.24x for the son; the previous per-sample LoD (observed information at the
    # estimate) gave 0.58-1.55x and 0.85-1.58x.  1.5x keeps a margin over the first and
    # fails the second.
    results = [_sample(seed) for seed in range(8)]
    loss = [r.donors[1] for r in results]
    at_zero = [d.fraction == 0 for d in loss]
    assert any(at_zero) and not all(at_zero), "the design must put the estimate at 0 in some seeds only"
    for lods in ([d.lod for d in loss], [r.donors[0].lod for r in results]):
        ratio = np.array(lods) / np.median(lods)
        assert ratio.max() < 1.5 and ratio.min() > 1 / 1.5, ratio


def test_block_inflation__a_donor_at_0_stays_out_of_the_others_sandwich():
    # Two donors: the first present, the second at 0 with an observed information nearly
    # collinear with the first's and smaller than its score variance (what a summed-out
    # donor at 0 looks like).  Inverting the joint Hessian turned block noise into an
    # inflation of 25 for every donor of the demo at seed 12; the first donor's inflation
    # must be its own one-parameter sandwich, whatever the second's columns hold.
    from microchimera.model.fit import block_inflation
    rng = np.random.default_rng(5)
    n_sites, n_blocks = 4000, 50
    s1 = rng.normal(0, 1, n_sites)
    s2 = s1 + rng.normal(0, 0.05, n_sites)
    score = np.stack([s1, s2], axis=1)
    info = score.T @ score
    info[1, 1] -= 0.8 * np.sum((s2 - s1) ** 2)  # collapsed: a fifth of the curvature its scores vary by
    g = rng.integers(0, 3, (3, n_sites)).astype(np.int8)
    data = ModelData.build(["a", "b"], np.ones((n_sites, 1)), np.full((3, 1), -1, np.int8), dict(enumerate(g)),
                           np.full(n_sites, 50.0), np.zeros(n_sites), np.zeros(n_sites, np.int64),
                           np.full(13, 1e-3), np.repeat(np.arange(n_blocks), n_sites // n_blocks))
    fit = FitResult(fraction=np.array([1e-3, 0.0]), rho=0.0, loglik=0.0, hess=-info, site_score=score)
    lam = block_inflation(data, fit)
    sb = np.bincount(data.block, weights=s1)
    alone = np.var(sb, ddof=1) / info[0, 0]
    assert lam[0] == pytest.approx(max(1.0, alone), rel=1e-9)
