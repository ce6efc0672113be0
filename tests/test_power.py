"""Detection power of a design (model/power.py) and the ``power`` command."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import special

from microchimera.cli import main
from microchimera.model.power import (
    RELATIONSHIPS,
    Design,
    detection_power,
    joint_genotype_prior,
    limit_of_detection,
    molecule_limit_of_detection,
    molecule_noncentrality,
    noncentrality,
    nuisance_factor,
    power_analysis,
    sites_needed,
)


@pytest.mark.parametrize("rel", RELATIONSHIPS)
def test_joint_genotype_prior__marginals_are_hardy_weinberg(rel):
    af = np.array([0.05, 0.3, 0.5, 0.9])
    gh, gd, w = joint_genotype_prior(af, rel)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    hwe = np.stack([(1 - af) ** 2, 2 * af * (1 - af), af**2], axis=1)
    for g in range(3):
        np.testing.assert_allclose(w[:, gh == g].sum(axis=1), hwe[:, g])
        np.testing.assert_allclose(w[:, gd == g].sum(axis=1), hwe[:, g])


def test_joint_genotype_prior__child_never_opposite_homozygote():
    gh, gd, w = joint_genotype_prior(np.array([0.4]), "child")
    assert w[0, (gh == 0) & (gd == 2)].sum() == 0 and w[0, (gh == 2) & (gd == 0)].sum() == 0


def test_noncentrality__typed_small_f_equals_fisher_information():
    # closed form: typed, fixed depth n, one AF node region: lambda ~ f^2 * sum n (dp/df)^2 / (p (1-p))
    d = Design(n_sites=1000, depth=50, error=3e-3, relationship="unrelated", typed=True, af_range=(0.5, 0.5))
    f = 1e-6  # the next term is O(f / error)
    from microchimera.model.power import _alt_read_prob, _depth_nodes

    gh, gd, w = joint_genotype_prior(np.array([0.5]), "unrelated")
    info = 0.0
    for n in _depth_nodes(50):
        p0 = _alt_read_prob(gh, gd, 0.0, 3e-3)
        dp = (_alt_read_prob(gh, gd, 1e-7, 3e-3) - p0) / 1e-7
        info += float(w[0] @ (n * dp**2 / (p0 * (1 - p0)))) / len(_depth_nodes(50))
    lam = noncentrality(d, f)
    assert math.isclose(lam / nuisance_factor(d), 1000 * f**2 * info, rel_tol=2e-3)
    assert 0.0 < nuisance_factor(d) < 1.0


def _brute_information(n, w, gh, gd, f, error):
    """(2, 2) Fisher information of (f, log kappa) of the genotype mixture at one depth, by
    central differences of the log pmf over every x = 0..n (the slow reference)."""
    from microchimera.model.power import _alt_read_prob

    x = np.arange(n + 1.0)[:, None]

    def pmf(ff, lk):
        p = _alt_read_prob(gh, gd, ff, error * math.exp(lk))[None, :]
        comp = np.exp(special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
                      + x * np.log(p) + (n - x) * np.log1p(-p))
        return comp @ w.T  # (n+1, n_af)

    h = (f * 1e-3, 1e-4)
    base = pmf(f, 0.0)
    d = [(pmf(f + h[0], 0.0) - pmf(f - h[0], 0.0)) / (2 * h[0]),
         (pmf(f, h[1]) - pmf(f, -h[1])) / (2 * h[1])]
    out = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            out[i, j] = np.mean(np.sum(d[i] * d[j] / base, axis=0))
    return out


@pytest.mark.parametrize("rel", ["child", "unrelated", "sibling"])
def test_nuisance_factor__mixture_information_matches_brute_force(rel):
    from microchimera.model.power import _mixture_information, _read_prob_derivatives

    af = np.array([0.1, 0.4, 0.8])
    gh, gd, w = joint_genotype_prior(af, rel)
    f, error, n = 2e-3, 2e-3, 40
    p, dp_df, dp_dk = _read_prob_derivatives(gh, gd, f, error)
    got = _mixture_information(n, w, p, dp_df, dp_dk)
    want = _brute_information(n, w, gh, gd, f, error)
    # finite differences of order h^2 ~ 1e-12 relative: 1e-4 leaves room for the trimmed support
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_nuisance_factor__error_free_is_one_and_summing_out_loses_more():
    d = Design(n_sites=1000, depth=40, error=1e-3, relationship="child")
    assert nuisance_factor(d.replace(error=0.0)) == 1.0
    typed, untyped = nuisance_factor(d.replace(typed=True)), nuisance_factor(d)
    assert 0.0 < untyped < typed < 1.0
    # the factor is a share of information per site: the panel size does not change it
    assert nuisance_factor(d.replace(n_sites=50)) == pytest.approx(untyped, rel=1e-12)


def test_limit_of_detection__more_data_lower_lod_and_power_at_lod():
    base = Design(n_sites=2000, depth=30, error=1e-3)
    lod = limit_of_detection(base)
    assert lod < limit_of_detection(base.replace(n_sites=500))
    assert limit_of_detection(base.replace(depth=100)) < lod
    assert limit_of_detection(base.replace(typed=True)) < lod  # knowing genotypes helps
    assert limit_of_detection(base.replace(error=1e-2)) > lod
    assert float(detection_power(base, lod)) == pytest.approx(0.95, abs=1e-3)
    assert float(detection_power(base, 1e-12)) == pytest.approx(0.05, abs=1e-3)


def test_sites_needed__reaches_the_target():
    d = Design(n_sites=1000, depth=40)
    n = sites_needed(d, 1e-3)
    assert float(detection_power(d.replace(n_sites=n), 1e-3)) >= 0.95
    assert float(detection_power(d.replace(n_sites=n - 5), 1e-3)) < 0.95
    res = power_analysis(d, fraction=1e-3)
    assert float(detection_power(d.replace(depth=res.depth_needed * 1.01), 1e-3)) >= 0.95


def test_power_cli__json_and_plot(tmp_path, capsys):
    out, svg, png = tmp_path / "p.json", tmp_path / "p.svg", tmp_path / "p.png"
    assert main(["power", "--sites", "1000", "--depth", "40", "--error", "0.001", "--relationship", "child",
                 "--fraction", "0.001", "--out", str(out), "--plot", str(svg)]) == 0
    text = capsys.readouterr().out
    assert "lod\t" in text and "sites_needed=" in text
    doc = json.loads(out.read_text())
    assert doc["target"]["power"] < 0.95 < doc["target"]["sites_needed"]
    assert len(doc["curve"]["fraction"]) == len(doc["curve"]["power"])
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    assert main(["power", "--sites", "1000", "--depth", "40", "--plot", str(png), "-q"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["--sites", "0", "--depth", "30"], "expected a positive integer"),
    (["--sites", "10", "--depth", "-1"], "expected a number > 0"),
    (["--sites", "10", "--depth", "30", "--relationship", "cousin"], "invalid choice"),
    (["--sites", "10", "--depth", "30", "--af-range", "0.5"], "LOW,HIGH"),
])
def test_power_cli__bad_options_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["power", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_power_cli__bad_plot_name(tmp_path, capsys):
    assert main(["power", "--sites", "10", "--depth", "30", "--plot", str(tmp_path / "p.txt")]) == 2
    assert "must end in .svg or .png" in capsys.readouterr().err


@pytest.mark.parametrize("typed", [True, False])
def test_noncentrality__profiled_error_multiplier_local_limit(typed):
    """lambda profiles the error multiplier out: never above the known-error value, and at
    small f its ratio to it is the efficient-information share (Schur complement)."""
    from microchimera.model.power import _noncentrality_known_error

    d = Design(n_sites=2000, depth=40, error=2e-3, relationship="child", typed=typed)
    for f in (1e-4, 1e-3, 1e-2):
        assert noncentrality(d, f) <= _noncentrality_known_error(d, f) * (1 + 1e-9)
    f = 2e-6  # the KL is quadratic to O(f / error) here
    ratio = noncentrality(d, f) / _noncentrality_known_error(d, f)
    assert ratio == pytest.approx(nuisance_factor(d), rel=2e-2)


def test_molecule_noncentrality__small_f_equals_the_pattern_fisher_information():
    # 2 KL((1-f) P_h + f P_d || P_h) -> f^2 sum (P_d - P_h)^2 / P_h as f -> 0; at f = 1e-10
    # even the near-background-free patterns (P_d / P_h ~ 1e6) are in that limit
    from microchimera.model.power import MOLECULE_DRAWS, _molecule_patterns

    d = Design(n_sites=4000, depth=1000, typed=True, snps_per_molecule=2)
    ph, pd = _molecule_patterns(2, tuple(d.af_range), d.error)
    fisher = (4000 // 2) * 1000 * float(np.sum((pd - ph) ** 2 / ph)) / MOLECULE_DRAWS
    assert molecule_noncentrality(d, 1e-10) / 1e-20 == pytest.approx(fisher, rel=1e-3)
    assert molecule_noncentrality(d, 0.0) == 0.0


def test_molecule_lod__far_below_the_site_lod_on_a_microhaplotype_panel():
    # 2,000 amplicons x 4 SNPs, 2,000 molecules each, error 1e-3 (issue 13 design (b)): the
    # molecule likelihood's LoD must be several times below the site model's (5e-6 vs 8.6e-5
    # here; the optimal test's, simulated in validation/molecules_limit.py, is 5e-6)
    d = Design(n_sites=8000, depth=2000, typed=True, af_range=(0.2, 0.8), snps_per_molecule=4)
    site, mol = limit_of_detection(d), molecule_limit_of_detection(d)
    assert mol < site / 8
    res = power_analysis(d).to_dict()
    assert res["lod_molecules"] == pytest.approx(mol) and res["lod"] == pytest.approx(site)


def test_molecule_design__untyped_or_other_relatives_refused():
    from microchimera.errors import UsageError

    with pytest.raises(UsageError, match="typed child or parent"):
        Design(n_sites=100, depth=10, snps_per_molecule=4)
    with pytest.raises(UsageError, match="typed child or parent"):
        Design(n_sites=100, depth=10, typed=True, relationship="sibling", snps_per_molecule=4)
    with pytest.raises(UsageError, match="snps per molecule"):
        Design(n_sites=100, depth=10, typed=True, snps_per_molecule=13)


def test_power_cli__molecule_lod_line(capsys):
    assert main(["power", "--sites", "400", "--depth", "500", "--typed", "--snps-per-molecule", "4"]) == 0
    out = capsys.readouterr().out
    assert "lod_molecules\t" in out and "4 SNPs per molecule" in out
