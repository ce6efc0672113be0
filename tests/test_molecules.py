"""The molecule likelihood (issue 13): exactness, derivatives, identification of beta, inputs."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from microchimera.count.fragments import FragmentTable, read_fragment_table, write_fragments
from microchimera.errors import FormatError, InputError, UsageError
from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.pedigree import Pedigree
from microchimera.model import quantify
from microchimera.model.fit import evaluate
from microchimera.model.likelihood import N_CLASSES, SWAP_CLASS, ModelData
from microchimera.model.molecules import (
    POPULATION,
    MoleculeData,
    collapse_molecules,
    molecule_terms,
)
from microchimera.options import QuantifyOptions
from microchimera.sim.molecules import TRIO as PED
from microchimera.sim.molecules import amplicon_panel, trio_sample

FAST = QuantifyOptions(relatedness=False, lod=False)


def _typed(gh, gd, n, x, e):
    k = len(n)
    return ModelData.build(["d"], np.ones((k, 1)), np.full((2, 1), -1, np.int8),
                           {0: np.asarray(gh, np.int8), 1: np.asarray(gd, np.int8)}, n, x,
                           np.zeros(k, np.int64), np.full(13, e), np.zeros(k, np.int64))


def _random_molecules(rng, n_mol=40, per=3, n_comp=2):
    mol = np.repeat(np.arange(n_mol), per)
    n = len(mol)
    dose = np.vstack([rng.integers(0, 3, (n_comp - 1, n)), np.full((1, n), POPULATION)]).astype(np.int8)
    return MoleculeData(mol, rng.integers(0, 10, n), rng.random(n) < 0.3, rng.random(n) < 0.2,
                        rng.integers(0, 12, n), dose, rng.uniform(0.05, 0.95, n), rng.integers(1, 5, n_mol) * 1.0)


def test_molecule_terms__derivatives_match_finite_differences():
    # f and log kappa, with weights and an unknown contributor drawn from the AF: the exact
    # gradient and Hessian must agree with central differences (to 1e-5 relative; the
    # differences themselves are good to about 1e-7 at this step)
    rng = np.random.default_rng(1)
    m = _random_molecules(rng)
    rate = np.full(N_CLASSES, 1e-2) * rng.uniform(0.5, 2, N_CLASSES)
    x0 = np.array([0.02, 0.01, 0.0])

    def terms(x, order):
        return molecule_terms(m, rate * np.exp(x[2]), SWAP_CLASS, x[:2], order, kappa=True)

    t = terms(x0, 2)
    h = 1e-6
    eye = np.eye(3)
    grad = [(terms(x0 + h * eye[j], 0).total - terms(x0 - h * eye[j], 0).total) / (2 * h) for j in range(3)]
    hess = np.array([(terms(x0 + h * eye[j], 1).grad - terms(x0 - h * eye[j], 1).grad) / (2 * h) for j in range(3)])
    np.testing.assert_allclose(t.grad, grad, rtol=1e-5)
    np.testing.assert_allclose(t.hess, hess, rtol=1e-5, atol=1e-6 * np.abs(hess).max())


def test_molecule_terms__finite_where_a_profile_asks_for_more_than_the_whole():
    """A profile fixing one fraction can probe sum f > 1 (the others' bounds do not see it):
    the host's share is held at 0 there, the log-likelihood, gradient and Hessian stay finite
    and the gradient is that of the held function (central differences, 1e-5 relative).
    Before, log of a negative mixture gave NaN there (seen in `run` on male-looking reads)."""
    rng = np.random.default_rng(3)
    m = _random_molecules(rng)
    rate = np.full(N_CLASSES, 1e-2)
    x0 = np.array([0.8, 0.4])
    t = molecule_terms(m, rate, SWAP_CLASS, x0, 2)
    assert np.isfinite(t.total) and np.isfinite(t.grad).all() and np.isfinite(t.hess).all()
    h = 1e-6
    grad = [(molecule_terms(m, rate, SWAP_CLASS, x0 + h * e, 0).total
             - molecule_terms(m, rate, SWAP_CLASS, x0 - h * e, 0).total) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(t.grad, grad, rtol=1e-5)


def test_single_read_molecules__reduce_exactly_to_the_site_model():
    # Every read of some sites moved into one-observation molecules: the log-likelihood, its
    # gradient and Hessian in (f, log kappa) are the site model's at rho = 0 (het share 1/2)
    rng = np.random.default_rng(2)
    k = 30
    gh = rng.choice([0, 2], k)
    gd = rng.integers(0, 3, k)
    n = rng.integers(5, 40, k).astype(float)
    x = rng.binomial(n.astype(int), 0.1).astype(float)
    full = _typed(gh, gd, n, x, 3e-3)
    moved = rng.random(k) < 0.5
    reads_n = np.where(moved, np.minimum(n, 4), 0).astype(int)
    reads_x = np.minimum(reads_n, x).astype(int)
    site = np.repeat(np.arange(k), reads_n)
    alt = np.concatenate([np.arange(r) < a for r, a in zip(reads_n, reads_x, strict=True)])
    m = MoleculeData(np.arange(len(site)), site, alt, gh[site] == 2, full.combo_class[full.entry_combo[site]],
                     np.abs(gd - gh)[site][None].astype(np.int8), np.full(len(site), 0.5), np.ones(len(site)))
    split = dataclasses.replace(full, n=n - reads_n, x=x - reads_x, molecules=m)._with_keys()
    for f in (0.0, 0.01, 0.2):
        a = evaluate(full, np.array([f]), 0.0, order=2, kappa=True)
        b = evaluate(split, np.array([f]), 0.0, order=2, kappa=True)
        assert a.loglik == pytest.approx(b.loglik, rel=1e-12)
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(a.hess, b.hess, rtol=1e-9, atol=1e-9)
        assert full.evaluate(np.array([f]), 0.0).loglik == pytest.approx(split.evaluate(np.array([f]), 0.0).loglik)
    assert np.array_equal(split.as_sites().n, full.n) and np.array_equal(split.as_sites().x, full.x)
    # ... and so is the LoD's expected statistic: the molecules' pattern KL plus the residual
    # sites' binomial KL is the sites' binomial KL
    from microchimera.model.fit.detection import _combo_read_weights, _oracle_lrt
    from microchimera.model.fit.optimisation import FitResult
    from microchimera.model.molecule_lod import MoleculeOracle

    fit = FitResult(np.array([0.0]), 0.0, 0.0, np.zeros((1, 1)), np.zeros((k, 1)))
    for v in (1e-4, 1e-2):
        whole = _oracle_lrt(full, fit, 0, v, _combo_read_weights(full, 0.0))
        parts = (_oracle_lrt(split, fit, 0, v, _combo_read_weights(split, 0.0))
                 + MoleculeOracle(m, split.error_rate, SWAP_CLASS).expected_lrt(np.array([v]), 0))
        assert parts == pytest.approx(whole, rel=1e-9)


def test_collapse_molecules__same_likelihood_as_every_molecule():
    rng = np.random.default_rng(3)
    mol = np.repeat(np.arange(500), 3)
    site = np.tile([0, 1, 2], 500)
    alt = rng.random(1500) < 0.02
    cm, cs, ca, w = collapse_molecules(mol, site, alt)
    assert w.sum() == 500 and len(w) < 40
    dose = np.array([[1, 2, 0]], np.int8)

    def md(mo, si, al, wt):
        return MoleculeData(mo, si, al, np.zeros(len(mo), bool), np.zeros(len(mo), np.int64), dose[:, si],
                            np.full(len(mo), 0.3), wt)

    rate = np.full(N_CLASSES, 1e-3)
    a = molecule_terms(md(mol, site, alt, np.ones(500)), rate, SWAP_CLASS, np.array([0.01]), 2, kappa=True)
    b = molecule_terms(md(cm, cs, ca, w), rate, SWAP_CLASS, np.array([0.01]), 2, kappa=True)
    assert a.total == pytest.approx(b.total, rel=1e-12)
    np.testing.assert_allclose(a.hess, b.hess, rtol=1e-10)


def test_quantify__microhaplotype_panel_molecules_beat_sites():
    # 400 amplicons x 4 SNPs x 2,000 molecules, child at 1e-4, error 1e-3 (design (b) of the
    # issue, smaller): donor molecules with two host-absent alleles are almost background-
    # free, so the molecule CI must be much narrower than the site CI (seen: 3x) and cover
    rng = np.random.default_rng(7)
    panel = amplicon_panel(400, (4, 4), rng)
    t = trio_sample(panel, 1e-4, molecules=2000, error_rate=1e-3, rng=rng)
    counts, frags, gm = t.counts, t.fragments, t.genotypes
    res = {ev: quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=panel.sites,
                        fragments=frags, options=dataclasses.replace(FAST, evidence=ev)) for ev in ("sites", "auto")}
    mol, site = res["auto"], res["sites"]
    lod = {ev: quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=panel.sites,
                        fragments=frags, options=QuantifyOptions(relatedness=False, evidence=ev)).donors[0].lod
           for ev in ("sites", "molecules")}
    # the molecules' LoD is far below the sites' (15x on the full-size design; 3x is loose)
    assert lod["molecules"] < lod["sites"] / 3, lod
    assert mol.evidence.model == "molecules" and site.evidence.model == "sites"
    assert mol.evidence.molecules > 0.5 * frags.n_rows / 4 and mol.evidence.eligible_sites > 0
    lo, hi = mol.donors[0].ci95
    assert lo <= 1e-4 <= hi
    width = {k: r.donors[0].ci95[1] - r.donors[0].ci95[0] for k, r in res.items()}
    assert width["auto"] < 0.6 * width["sites"], width
    assert mol.donors[0].p_value < site.donors[0].p_value
    assert mol.to_json()["evidence"]["model"] == "molecules"


def test_quantify__beta_unidentified_without_host_het_sites_is_fixed():
    # one 140-bp amplicon with 60 SNPs, the host homozygous at all: the het share is not
    # identified (the donor's sites fix f * beta only); it must stay 0.5 with a warning,
    # where it used to run to its bound (0.7) and take the fraction to 0.72x the truth
    rng = np.random.default_rng(11)
    panel = amplicon_panel(1, (60, 60), rng, length=(140, 140))
    t = trio_sample(panel, 1e-3, molecules=30_000, error_rate=1e-3, rng=rng, host_homozygous=True)
    counts, frags, gm = t.counts, t.fragments, t.genotypes
    for ev in ("sites", "molecules"):
        r = quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=panel.sites,
                     fragments=frags, options=dataclasses.replace(FAST, evidence=ev))
        assert r.overdispersion.het_alt_share == 0.5 and r.overdispersion.het_alt_share_source == "fixed"
        assert r.overdispersion.het_alt_share_sites == 0
        assert any("alt share fixed at 0.5" in w for w in r.warnings)
    # the molecule CI covers the truth on this seed (the validation measures coverage)
    lo, hi = r.donors[0].ci95
    assert lo <= 1e-3 <= hi


def _small(rng):
    panel = amplicon_panel(30, (3, 3), rng)
    t = trio_sample(panel, 1e-2, molecules=200, error_rate=1e-3, rng=rng)
    return panel, t.genotypes, t.counts, t.fragments


def test_fragments__from_another_sample_or_sites_file_or_truncated(tmp_path):
    rng = np.random.default_rng(5)
    panel, gm, counts, frags = _small(rng)
    other = dataclasses.replace(frags, samples=("t",), source="other.parquet")
    with pytest.raises(InputError, match=r"other.parquet: no fragments of sample 's'.*holds t"):
        quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=panel.sites,
                 fragments=other, options=FAST)
    path = tmp_path / "f.parquet"
    write_fragments(frags, path)
    back = read_fragment_table(path, panel.sites)
    assert back.n_rows == frags.n_rows and np.array_equal(np.sort(back.site), np.sort(frags.site))
    fewer = panel.sites.take(np.arange(panel.sites.n_sites - 3))
    with pytest.raises(FormatError, match=r"f.parquet: 3 of its 90 sites are not sites of the counts.*another sites"):
        read_fragment_table(path, fewer)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FormatError, match="cut.parquet"):
        read_fragment_table(cut, panel.sites)
    with pytest.raises(UsageError, match="needs the fragments table"):
        quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=panel.sites,
                 options=dataclasses.replace(FAST, evidence="molecules"))


def test_fragments__more_reads_than_the_counts_is_an_error():
    rng = np.random.default_rng(6)
    panel, gm, counts, frags = _small(rng)
    doubled = FragmentTable.from_parts(frags.samples, frags.sites, [
        (frags.sample, frags.fragment, frags.site, frags.allele, frags.base_qual, frags.reverse, frags.mates),
        (frags.sample, frags.fragment + 10**9, frags.site, frags.allele, frags.base_qual, frags.reverse,
         frags.mates)])
    with pytest.raises(InputError, match="not from the count these counts came from"):
        quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=panel.sites,
                 fragments=doubled, options=FAST)


# ----------------------------------------------------------------------------- command line
def test_cli__count_fragments_then_quantify_with_molecules(tiny_family_fixture, tmp_path, capsys):
    from microchimera.cli import main

    sim = tiny_family_fixture
    bam, sites = str(sim.bams["mother_mix"]), str(sim.sites_vcf)
    counts, frags = tmp_path / "c.parquet", tmp_path / "f.parquet"
    assert main(["count", bam, "--sites", sites, "--out", str(counts), "--fragments", str(frags), "-q"]) == 0
    family = ["--genotypes", str(sim.family_vcf), "--pedigree", str(sim.ped), "--host", "mother", "--sites", sites,
              "--no-lod", "-q"]
    out = tmp_path / "r.json"
    assert main(["quantify", str(counts), "--fragments", str(frags), "--out", str(out), *family]) == 0
    doc = json.loads(out.read_text())
    assert doc["evidence"]["requested"] == "auto"
    assert doc["evidence"]["fragments"] > 0 and doc["evidence"]["model"] in ("molecules", "sites")
    # a truncated fragments table: a one-line error naming it, exit 1, no result written
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(frags.read_bytes()[: frags.stat().st_size // 3])
    bad = tmp_path / "bad.json"
    capsys.readouterr()
    assert main(["quantify", str(counts), "--fragments", str(cut), "--out", str(bad), *family]) == 1
    err = capsys.readouterr().err
    assert "cut.parquet" in err and "Traceback" not in err and not bad.exists()
    # the fragments table given as the counts: named as what it is not
    assert main(["quantify", str(frags), "--out", str(bad), *family]) == 1
    assert "f.parquet" in capsys.readouterr().err and not bad.exists()
    # --evidence molecules without a fragments table
    assert main(["quantify", str(counts), "--evidence", "molecules", "--out", str(bad), *family]) == 2
    assert "needs the fragments table" in capsys.readouterr().err


@pytest.mark.parametrize("evidence", [None, "molecules", "sites"])
def test_cli__run_counts_the_fragments_unless_sites(tiny_family_fixture, tmp_path, evidence):
    """`run` counts the fragments itself, in the same pass, and uses them as molecules by
    default (auto) and with --evidence molecules; --evidence sites writes none."""
    from microchimera.cli import main

    sim = tiny_family_fixture
    outdir = tmp_path / "run"
    extra = [] if evidence is None else ["--evidence", evidence]
    assert main(["run", str(sim.bams["mother_mix"]), "--genotypes", str(sim.family_vcf), "--pedigree", str(sim.ped),
                 "--host", "mother", "--sites", str(sim.sites_vcf), "--outdir", str(outdir), *extra,
                 "--no-lod", "-q"]) == 0
    doc = json.loads((outdir / "result.json").read_text())
    assert (outdir / "fragments.parquet").exists() == (evidence != "sites")
    assert doc["evidence"]["requested"] == (evidence or "auto")
    if evidence == "sites":
        assert doc["evidence"]["model"] == "sites" and doc["evidence"]["fragments"] == 0
    else:
        assert doc["evidence"]["model"] == "molecules" and doc["evidence"]["fragments"] > 0


def test_poisson_threshold__feldman_cousins_cut_offs():
    # mu = 3: K = 0 alone has probability e^-3 = 4.98% and LR 2 mu = 6, so the 95% cut-off is 6;
    # large mu: the chi-square's 3.84 (within 5%: K is discrete, 3.93 at mu = 150); mu -> 0:
    # the statistic is ~2 mu, near 0
    from microchimera.model.fit.intervals import poisson_threshold

    assert poisson_threshold(3.0) == pytest.approx(6.0, abs=0.01)
    assert poisson_threshold(150.0) == pytest.approx(3.84, rel=0.05)
    assert poisson_threshold(0.0) == 0.0 and poisson_threshold(0.01) < 0.1


def test_het_share__identified_by_a_typed_transplant_donor():
    # Host homozygous at every site (no host-heterozygous site), an unrelated typed donor at
    # 20% (stem-cell chimerism): its heterozygous sites fix f * beta and its opposite-
    # homozygous sites f, so beta is identified from the donor and fitted (near 0.5: no
    # reference bias simulated), and the fraction is unbiased (within 5%, about 4 SE here)
    from microchimera.io.sites import SiteTable
    from microchimera.sim import simulate_counts

    rng = np.random.default_rng(21)
    k = 3000
    af = rng.uniform(0.2, 0.8, k)
    sites = SiteTable(("chr1",), np.zeros(k, np.int32), np.arange(k, dtype=np.int64) * 10_000 + 1000,
                      np.zeros(k, np.uint8), np.full(k, 2, np.uint8), af)
    host = np.where(rng.random(k) < af, 2, 0).astype(np.int8)
    donor = rng.binomial(2, af).astype(np.int8)
    counts = simulate_counts(sites, host, donor[None], [0.2], depth=100, rng=rng, sample="s")
    ped = Pedigree.from_records([("F", "h", None, None, 2), ("G", "d", None, None, 1)])
    gm = GenotypeMatrix(("h", "d"), np.stack([host, donor]), np.full(k, np.nan))
    r = quantify(counts, host="h", donors=["d"], pedigree=ped, genotypes=gm, sites=sites, options=FAST)
    assert r.overdispersion.het_alt_share_source == "typed donor d"
    assert r.overdispersion.het_alt_share_sites == 0
    assert abs(r.overdispersion.het_alt_share - 0.5) < 0.03
    assert abs(r.donors[0].fraction / 0.2 - 1) < 0.05
    assert not any("alt share fixed" in w for w in r.warnings)
