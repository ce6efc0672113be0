"""Per-panel error profiles of the count simulator (issue 14 item 4, count level)."""
from __future__ import annotations

import numpy as np
import pytest

from microchimera.io.allele_counts import AlleleCounts
from microchimera.io.sites import SiteTable
from microchimera.model.pon import build_pon
from microchimera.sim import panel_error_profile, simulate_counts, site_error_spread

N = 8000


@pytest.fixture(scope="module")
def sites():
    rng = np.random.default_rng(2)
    ref = rng.integers(0, 4, N).astype(np.uint8)
    alt = ((ref + rng.integers(1, 4, N)) % 4).astype(np.uint8)
    return SiteTable(("chr1",), np.zeros(N, np.int32), np.arange(N, dtype=np.int64) * 500, ref, alt,
                     np.full(N, 0.5))


def _homref(sites, profile, rng, depth=2000, sample="s"):
    g = np.zeros(N, np.int8)
    return simulate_counts(sites, g, g[None], [0.0], depth=depth, rng=rng, sample=sample, error_profile=profile)


def test_profile__damage_and_oxidation_land_on_their_classes_and_strands(sites):
    rng = np.random.default_rng(1)
    prof = panel_error_profile(sites, rng, sigma=0.0, hot_share=0.0, ffpe=2e-3, oxidation=3e-3)
    c = _homref(sites, prof, rng)
    ct = ((sites.ref == 1) & (sites.alt == 3)) | ((sites.ref == 2) & (sites.alt == 0))
    gt = (sites.ref == 2) & (sites.alt == 3)
    ca = (sites.ref == 1) & (sites.alt == 0)
    plain = ~(ct | gt | ca)
    rate = lambda m, col: c.__getattribute__(col)[0, m].sum() / (c.ref_fwd + c.alt_fwd)[0, m].sum()  # noqa: E731
    base = rate(plain, "alt_fwd")
    # C>T / G>A: +2e-3 on both strands; G>T: +3e-3 on forward reads only; C>A: reverse only.
    # ~1.3 M reads per class and strand: the bounds are > 10 SE wide.
    assert rate(ct, "alt_fwd") - base == pytest.approx(2e-3, abs=3e-4)
    assert rate(gt, "alt_fwd") - base == pytest.approx(3e-3, abs=3e-4)
    assert rate(gt, "alt_rev") == pytest.approx(base, abs=2e-4)
    assert rate(ca, "alt_fwd") == pytest.approx(base, abs=2e-4)


def test_profile__strand_bias_keeps_the_mean(sites):
    rng = np.random.default_rng(3)
    prof = panel_error_profile(sites, rng, sigma=0.0, hot_share=0.0, strand_bias_share=0.2, strand_bias_fold=8.0)
    r = prof.rate[:, 0, :]
    biased = np.abs(np.log(r[:, 0] / r[:, 1])) > 1
    assert 0.17 < biased.mean() < 0.23
    assert np.allclose(r.mean(axis=1), 1e-3 / 3)
    assert np.allclose(np.maximum(r[biased, 0], r[biased, 1]) / np.minimum(r[biased, 0], r[biased, 1]), 8.0)


def test_profile__a_pon_learns_it(sites):
    """Ten normals on one panel profile (log-normal spread, hot sites, strand bias): the panel
    of normals flags most strand-biased hot sites and its per-site rates track the profile."""
    rng = np.random.default_rng(4)
    prof = panel_error_profile(sites, rng, sigma=1.0, hot_share=0.01, strand_bias_share=0.01, strand_bias_fold=20)
    normals = []
    for j in range(10):
        g = rng.binomial(2, sites.af).astype(np.int8)
        normals.append(simulate_counts(sites, g, g[None], [0.0], depth=400, rng=rng, sample=f"N{j}",
                                       error_profile=prof))
    pon = build_pon(AlleleCounts.combine(normals))
    seen = pon.n_normals[:, 0] >= 3
    true = prof.mean_rate()[:, 0]
    ok = seen & ~prof.hot
    assert np.corrcoef(np.log(pon.rate[ok, 0]), np.log(true[ok]))[0, 1] > 0.3
    assert (pon.flag[prof.hot & seen] != "pass").mean() > 0.5
    assert (pon.flag[~prof.hot] == "pass").mean() > 0.95


def test_profile__bad_values_and_conflicts(sites):
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="ffpe must be in"):
        panel_error_profile(sites, rng, ffpe=2.0)
    prof = panel_error_profile(sites, rng)
    g = np.zeros(N, np.int8)
    with pytest.raises(ValueError, match="not both"):
        simulate_counts(sites, g, g[None], [0.0], depth=10, rng=rng, error_profile=prof,
                        site_error_scale=np.ones(N))


def test_overdispersion_keeps_the_site_error_scale(sites):
    """Regression: the beta-binomial draw reused the name of the per-site error multiplier, so
    with overdispersion > 0 the multiplier was replaced by the beta's precision."""
    rng = np.random.default_rng(6)
    g = np.zeros(N, np.int8)
    scale = np.where(np.arange(N) < N // 2, 20.0, 1.0)
    c = simulate_counts(sites, g, g[None], [0.0], depth=500, rng=rng, overdispersion=0.01, site_error_scale=scale)
    alt = c.alt_count[0]
    assert alt[: N // 2].sum() > 10 * alt[N // 2:].sum()
    assert site_error_spread  # the helper for the simple multiplier stays exported


# ----------------------------------------------------------------------------- read level
READ_SCENARIO = {
    "name": "profile_reads", "genome": {"n_autosomes": 1},
    "panel": {"n_sites": 1500, "spacing": 2000},
    "sequencing": {"depth": 300, "error_rate": 1e-2},  # high, for enough error reads per strand
    "error_profile": {"sigma": 1.0, "hot_share": 0.05, "hot_rate": 0.06, "strand_bias_share": 0.1},
    "family": {"people": [{"id": "a", "sex": "female"}, {"id": "b", "sex": "male"}]},
    "samples": [{"name": "a_blood", "host": "a"}, {"name": "b_blood", "host": "b"}],
}


@pytest.fixture(scope="module")
def profiled_reads(tmp_path_factory):
    from microchimera.sim import load_scenario, simulate

    sim = simulate(load_scenario(READ_SCENARIO), tmp_path_factory.mktemp("profile_reads"), np.random.default_rng(5),
                   seed=5)
    return sim


def test_read_level__both_samples_show_the_panel_errors(profiled_reads):
    """[error_profile] at read level: the true rates are written, and every sample's reads
    carry them at the same sites.  Per read base; where the mates of a fragment overlap the
    counter merges them (an error on one mate only is a conflict), so the per-fragment error
    is lower: the observed hot-site error is 0.75-1.0 of the profile's (measured 0.89 on
    another seed; bounds about 4 SE of the hot-site mean wide)."""
    import pysam

    from microchimera.count import count_alleles
    from microchimera.io.sites import read_sites

    sim = profiled_reads
    table = np.genfromtxt(sim.error_profile, dtype=None, encoding=None, names=True, comments=None, delimiter="\t")
    hot = table["hot"] == 1
    rate = (table["ref_alt_fwd"] + table["ref_alt_rev"]) / 2
    assert 40 < hot.sum() < 110 and np.allclose(rate[hot], 0.02, rtol=1e-3)  # 4 digits in the file
    counts = count_alleles([sim.bams["a_blood"], sim.bams["b_blood"]], read_sites(sim.sites_vcf))
    with pysam.VariantFile(str(sim.family_vcf)) as vf:
        g = np.array([[sum(r.samples[p]["GT"]) for p in ("a", "b")] for r in vf]).T
    for k in range(2):
        homref = g[k] == 0
        alt = (counts.alt_fwd[k] + counts.alt_rev[k]).astype(float)
        n = alt + counts.ref_fwd[k] + counts.ref_rev[k]
        hot_share = alt[homref & hot].sum() / n[homref & hot].sum()
        cold_share = alt[homref & ~hot].sum() / n[homref & ~hot].sum()
        assert 0.75 * 0.02 < hot_share < 1.0 * 0.02, hot_share
        assert cold_share < 0.3 * hot_share  # the rest of the panel: 3.3e-3 per class, log-normal


def test_read_level__strand_bias_lands_on_its_strand(profiled_reads):
    from microchimera.count import count_alleles
    from microchimera.io.sites import read_sites

    sim = profiled_reads
    t = np.genfromtxt(sim.error_profile, dtype=None, encoding=None, names=True, comments=None, delimiter="\t")
    counts = count_alleles([sim.bams["a_blood"], sim.bams["b_blood"]], read_sites(sim.sites_vcf))
    fwd_high = t["ref_alt_fwd"] > 4 * t["ref_alt_rev"]
    rev_high = t["ref_alt_rev"] > 4 * t["ref_alt_fwd"]
    import pysam

    with pysam.VariantFile(str(sim.family_vcf)) as vf:
        g = np.array([[sum(r.samples[p]["GT"]) for p in ("a", "b")] for r in vf]).T
    homref = g == 0
    # forward share of the error reads at hom-ref sites, both samples pooled, against the
    # profile's (8-fold bias: 0.89 or 0.11); overlapping mates dilute it towards 0.5 (a base
    # seen on both mates is credited to one), hence the loose bounds
    for sel, lo, hi in ((fwd_high, 0.6, 0.95), (rev_high, 0.05, 0.4)):
        f = (counts.alt_fwd * (homref & sel)).sum()
        r = (counts.alt_rev * (homref & sel)).sum()
        assert sel.sum() > 5 and f + r > 15  # P(share outside the bounds) < 1e-3 at 0.89 and 15 reads
        assert lo < f / (f + r) < hi, (f, r)


def test_read_level__no_profile_no_change():
    """A scenario without [error_profile] draws nothing more: its files do not change."""
    from microchimera.sim import load_scenario
    from microchimera.sim.scenario import ScenarioError

    plain = {k: v for k, v in READ_SCENARIO.items() if k != "error_profile"}
    assert load_scenario(plain).error_profile is None
    with pytest.raises(ScenarioError, match="error_profile.hot_rate"):
        load_scenario({**READ_SCENARIO, "error_profile": {"hot_rate": 0.7}})
    with pytest.raises(ScenarioError, match="error_profile.sigmaa: unknown key"):
        load_scenario({**READ_SCENARIO, "error_profile": {"sigmaa": 1}})
