"""Drift of the family's population from the AF in use: the Balding–Nichols θ of the
genotype prior and the host's inbreeding check (issue 18)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from microchimera.cli import main
from microchimera.errors import ModelError, UsageError
from microchimera.io.panels import load_builtin
from microchimera.io.pedigree import Pedigree
from microchimera.model import quantify
from microchimera.model.drift import drift_warning, host_inbreeding, inbreeding_genotype_probs
from microchimera.model.prior import genotype_prior, hwe
from microchimera.options import QuantifyOptions
from microchimera.sim import simulate_counts, simulate_family

PED = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                             ("F", "kid", "dad", "mom", 1), ("F", "son", None, "mom", 1)])
AF = np.array([0.05, 0.2, 0.5, 0.8, 0.97])


def _typed(g):
    return np.full(len(AF), g, dtype=np.int8)


def test_theta_zero__hardy_weinberg_and_one_parent_closed_forms():
    """θ = 0 is the prior without drift: an untyped host is HWE on AF, and her child with
    no father in the PED gets the other allele from AF."""
    pr = genotype_prior(PED, {}, ["mom", "son"], AF)
    w = pr.weights.reshape(len(AF), 3, 3)  # [site, mom, son] (mom is digit 0)
    w = np.swapaxes(w, 1, 2)
    p = AF[:, None]
    h = hwe(AF)
    for gm in range(3):
        t = gm / 2  # alt passed by the mother
        son = np.stack([(1 - t) * (1 - p[:, 0]), t * (1 - p[:, 0]) + (1 - t) * p[:, 0], t * p[:, 0]], axis=1)
        assert np.allclose(w[:, gm, :], h[:, [gm]] * son, atol=1e-12)


@pytest.mark.parametrize("theta", [0.01, 0.05, 0.2])
def test_theta__the_unknown_father_follows_the_host_by_the_balding_nichols_formula(theta):
    """Typed host hom-ref (hom-alt): the allele her son gets from the population is alt with
    probability (1 - θ)p / (1 + θ) (ref: (1 - θ)(1 - p) / (1 + θ)), the urn's next draw."""
    p = AF
    ref = genotype_prior(PED, {"mom": _typed(0)}, ["mom", "son"], AF, theta=theta).weights
    assert np.allclose(ref[:, 1], (1 - theta) * p / (1 + theta)) and np.allclose(ref[:, 2], 0)
    alt = genotype_prior(PED, {"mom": _typed(2)}, ["mom", "son"], AF, theta=theta).weights
    assert np.allclose(alt[:, 1], (1 - theta) * (1 - p) / (1 + theta)) and np.allclose(alt[:, 0], 0)
    # and the untyped partner of a hom-ref host: two more draws of the urn
    dad = genotype_prior(PED, {"mom": _typed(0)}, ["mom", "dad"], AF, theta=theta).weights
    a1 = (1 - theta) * p / (1 + theta)  # first of his alleles alt, after the host's two refs
    assert np.allclose(dad[:, 2], a1 * (theta + (1 - theta) * p) / (1 + 2 * theta))
    assert np.allclose(dad[:, 1], 2 * a1 * (2 * theta + (1 - theta) * (1 - p)) / (1 + 2 * theta))
    assert np.allclose(dad.sum(axis=1), 1)


def test_theta__matches_families_drawn_with_drift():
    """Simulate: population AF ~ Beta around p with F = 0.05, mother and the son's unknown
    father drawn from it; the share of sons carrying alt at the host-hom-ref sites is the
    prior's.  400,000 draws: SE of the share ~0.0006, the bound 0.002 is > 3 SE; the
    difference the prior makes (θ = 0 vs 0.05) is ~0.017 at p = 0.3."""
    rng = np.random.default_rng(5)
    theta, p, n = 0.05, 0.3, 400_000
    pop = rng.beta(p * (1 - theta) / theta, (1 - p) * (1 - theta) / theta, n)
    mom = rng.binomial(2, pop)
    father_allele = rng.binomial(1, pop)
    empirical = father_allele[mom == 0].mean()
    prior = genotype_prior(PED, {"mom": np.zeros(1, np.int8)}, ["mom", "son"], np.array([p]), theta=theta)
    assert abs(prior.weights[0, 1] - empirical) < 0.002
    assert abs(p - empirical) > 0.01  # θ = 0 would be wrong here


def test_theta__out_of_range_is_an_error():
    with pytest.raises(ModelError, match="theta"):
        genotype_prior(PED, {}, ["mom", "son"], AF, theta=1.0)
    with pytest.raises(UsageError, match="theta"):
        QuantifyOptions(theta=0.7)


def test_host_inbreeding__recovers_f_with_its_standard_error():
    """20,000 sites, genotypes drawn with F = 0.05 (and 0): the estimate within 4 SE of the
    truth, and the SE near the rough 1.4 / sqrt(n) of docs/model.md (within 2x)."""
    rng = np.random.default_rng(3)
    af = rng.uniform(0.05, 0.95, 20_000)
    for f in (0.0, 0.05):
        probs = inbreeding_genotype_probs(af, f)
        g = (rng.random(len(af))[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
        lik = np.eye(3)[g]
        est = host_inbreeding(lik, af)
        assert est.sites == 20_000 and abs(est.value - f) < 4 * est.se
        assert 0.5 < est.se * np.sqrt(20_000) / 1.4 < 2
    assert host_inbreeding(lik[:50], af[:50]).value is None


def test_drift_warning__only_when_far_above_theta():
    from microchimera.model.drift import HostInbreeding

    assert drift_warning(HostInbreeding(0.12, 0.014, 10_000), 0.01).startswith("the host is more homozygous")
    assert drift_warning(HostInbreeding(0.025, 0.014, 10_000), 0.01) is None  # within 3 SE
    assert drift_warning(HostInbreeding(None, None, 20), 0.01) is None


@pytest.fixture(scope="module")
def yri_counts():
    panel = load_builtin("1000g-10k-GRCh38")
    rng = np.random.default_rng(21)
    ped = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                                 ("F", "kid", "dad", "mom", 1)])
    af = panel.af_at(panel.coordinates_of("YRI"))
    fam = simulate_family(ped, dataclasses.replace(panel.sites, af=af), rng)
    counts = simulate_counts(panel.sites, fam.genotype("mom").astype(np.int8), fam.genotype("kid")[None].astype(np.int8),
                             [1e-2], depth=40, rng=rng, sample="s")
    return panel, counts


def test_quantify__reports_theta_and_flags_a_pooled_panel_for_an_african_host(yri_counts):
    """A Yoruba host on the pooled 1000G AF is far more homozygous than they predict (F about
    0.1 at 10k markers, SE about 0.015): pooled warns; auto (her own AF) does not, and its
    F is within 4 SE of 0 (the family has no drift beyond rank 4 here)."""
    panel, counts = yri_counts
    opts = dict(relatedness=False, lod=False)
    pooled = quantify(counts, relationships=["child"], sites=panel.sites,
                      options=QuantifyOptions(ancestry="pooled", **opts))
    a = pooled.ancestry
    assert a.theta == 0.01 and a.host_inbreeding > 0.05 and a.host_inbreeding_sites > 9000
    assert any(w.startswith("the host is more homozygous") for w in pooled.warnings)
    auto = quantify(counts, relationships=["child"], sites=panel.sites, options=QuantifyOptions(theta=0.03, **opts))
    b = auto.ancestry
    assert b.used and b.theta == 0.03 and abs(b.host_inbreeding) < 4 * b.host_inbreeding_se
    assert not any(w.startswith("the host is more homozygous") for w in auto.warnings)
    doc = auto.to_json()
    assert doc["ancestry"]["theta"] == 0.03 and doc["ancestry"]["host_inbreeding_sites"] == b.host_inbreeding_sites


def test_cli__theta_out_of_range_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["quantify", str(tmp_path / "c.parquet"), "--relationship", "child", "--theta", "0.9"])
    assert exc.value.code == 2
    assert "expected a number in [0, 0.5)" in capsys.readouterr().err
