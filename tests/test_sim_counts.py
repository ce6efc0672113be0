"""Count-level simulator: moments against the mixture formula; validation errors."""
import numpy as np
import pytest

from microchimera.io.sites import SiteTable
from microchimera.sim import error_matrix, mixture_alt_share, simulate_counts


def _sites(n):
    return SiteTable.from_records([("chr1", i * 10, "A", "G", 0.5) for i in range(n)])


def test_simulate_counts__alt_share_matches_mixture():
    n = 5000
    sites = _sites(n)
    rng = np.random.default_rng(0)
    g_h = np.zeros(n, np.int8)
    g_d = np.full((1, n), 2, np.int8)
    f = 0.01
    c = simulate_counts(sites, g_h, g_d, [f], depth=200, rng=rng, error_rates=0.0)
    share = c.alt_count.sum() / c.depth.sum()
    expected = mixture_alt_share(g_h, g_d, [f]).mean()      # = 0.01
    se = np.sqrt(expected * (1 - expected) / c.depth.sum())
    assert abs(share - expected) < 4 * se                     # 4 SE: false failure ~6e-5
    assert c.other_count.sum() == 0
    assert abs(c.depth.mean() - 200) < 1


def test_simulate_counts__errors_by_class():
    n = 4000
    sites = _sites(n)
    g = np.zeros(n, np.int8)
    c = simulate_counts(sites, g, np.zeros((0, n), np.int8), [], depth=500, rng=np.random.default_rng(1),
                        depth_model="fixed", error_rates={"A>G": 1e-3, "A>C": 0.0, "A>T": 0.0})
    assert np.all(c.depth == 500)
    rate = c.alt_count.sum() / c.depth.sum()
    assert abs(rate - 1e-3) < 4 * np.sqrt(1e-3 / c.depth.sum())
    assert c.other_count.sum() < 60   # other classes use the default 1e-3/3 only for non-A bases


def test_simulate_counts__overdispersion_inflates_variance():
    n = 5000
    sites = _sites(n)
    g = np.ones(n, np.int8)
    rng = np.random.default_rng(2)
    kw = dict(depth=300, depth_model="fixed", error_rates=0.0)
    plain = simulate_counts(sites, g, np.zeros((0, n), np.int8), [], rng=rng, **kw)
    od = simulate_counts(sites, g, np.zeros((0, n), np.int8), [], rng=rng, overdispersion=0.05, **kw)
    v_plain = plain.alt_count.astype(float).var()
    v_od = od.alt_count.astype(float).var()
    # beta-binomial variance = n p q (1 + (n - 1) rho) -> ~16x the binomial's here
    assert v_od > 5 * v_plain


def test_simulate_counts__replicates_and_seed():
    n = 100
    sites = _sites(n)
    g = np.zeros(n, np.int8)
    a = simulate_counts(sites, g, [g + 1], [0.1], depth=50, rng=np.random.default_rng(3), n_replicates=4)
    b = simulate_counts(sites, g, [g + 1], [0.1], depth=50, rng=np.random.default_rng(3), n_replicates=4)
    assert a.samples == ("sample_0", "sample_1", "sample_2", "sample_3")
    assert np.array_equal(a.alt_fwd, b.alt_fwd)


@pytest.mark.parametrize("kwargs, match", [
    (dict(fractions=[0.6, 0.5]), "summing to < 1"),
    (dict(depth=-1), "depth"),
    (dict(depth_model="gamma"), "depth_model"),
    (dict(overdispersion=1.0), "overdispersion"),
    (dict(error_rates={"A>Z": 0.1}), "error class"),
])
def test_simulate_counts__bad_input_raises(kwargs, match):
    n = 10
    args = dict(fractions=[0.1, 0.1], depth=10, depth_model="poisson")
    args.update(kwargs)
    g = np.zeros(n, np.int8)
    with pytest.raises(ValueError, match=match):
        simulate_counts(_sites(n), g, np.zeros((2, n), np.int8), args.pop("fractions"),
                        rng=np.random.default_rng(0), **args)


def test_error_matrix__forms():
    assert np.allclose(error_matrix(3e-3).sum(axis=1), 3e-3)
    m = error_matrix({"C>T": 0.01, "default": 0.0})
    assert m[1, 3] == 0.01 and m.sum() == 0.01
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        error_matrix(np.zeros((3, 3)))
