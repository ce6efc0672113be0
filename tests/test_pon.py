"""Panel of normals (issue 14 items 1 and 3): per-site error from donor-free samples."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from microchimera.cli import main
from microchimera.errors import FormatError, InputError
from microchimera.io.allele_counts import AlleleCounts, write_counts
from microchimera.io.sites import SiteTable
from microchimera.model.pon import build_pon
from microchimera.model.pon_file import read_pon, write_pon
from microchimera.model.pon_qc import pon_summary, sample_background_check
from microchimera.sim import simulate_counts, simulate_normals
from microchimera.sim.reads import site_error_spread

N_SITES = 6000
BASE = 1e-3 / 3  # the simulator's default error per class (1e-3 per base over 3 classes)


def _sites(rng, n=N_SITES):
    ref = rng.integers(0, 4, n).astype(np.uint8)
    alt = ((ref + rng.integers(1, 4, n)) % 4).astype(np.uint8)
    return SiteTable(("chr1",), np.zeros(n, np.int32), np.arange(n, dtype=np.int64) * 1000, ref, alt,
                     rng.uniform(0.05, 0.95, n))


@pytest.fixture(scope="module")
def panel():
    """10 normals sharing one error profile (log-normal sigma 1, 1% hot sites at 2e-2), the last
    carrying 3e-3 of an unrelated person's DNA."""
    rng = np.random.default_rng(14)
    sites = _sites(rng)
    scale = site_error_spread(N_SITES, rng, sigma=1.0, hot_share=0.01, hot_rate=2e-2)
    counts = simulate_normals(sites, rng, n_normals=10, depth=500, donor_fractions={9: 3e-3}, site_error_scale=scale)
    return sites, scale, counts, build_pon(counts, sites)


def test_pon__normal_with_donor_dna_is_left_out(panel):
    _, _, _, pon = panel
    assert list(pon.excluded) == ["N9"] and "donor DNA" in pon.excluded["N9"]
    assert "N9" not in pon.normals and len(pon.normals) == 9
    assert pon.normal_background["N9"] > 3 * np.median([pon.normal_background[f"N{j}"] for j in range(9)])


def test_pon__per_site_rates_calibrated_and_hot_sites_flagged(panel):
    """The posterior 95% interval of a site's rate covers the true rate at ~95% of sites
    (6,000 sites: SE 0.3%, bounds 0.92-0.99 allow the shrinkage prior's approximation); most hot
    sites (20x the class rate) are flagged noisy and almost no other site is."""
    _, scale, _, pon = panel
    true = BASE * scale
    hot = scale > 10
    seen = pon.n_normals[:, 0] > 0
    lo, hi = pon.quantile(0.025)[:, 0], pon.quantile(0.975)[:, 0]
    cover = ((lo <= true) & (true <= hi))[seen & ~hot].mean()
    assert 0.92 <= cover <= 0.99
    assert (pon.flag[hot] == "noisy").mean() > 0.5
    assert (pon.flag[~hot] == "noisy").mean() < 0.005
    # the per-site means follow the true rates better than the class rate does
    ok = seen & ~hot & (pon.n_normals[:, 0] >= 3)
    err_site = np.abs(np.log(pon.rate[ok, 0] / true[ok])).mean()
    err_class = np.abs(np.log(pon.class_rate[:12, 0].mean() / true[ok])).mean()
    assert err_site < err_class


def test_pon__strand_bias_flagged():
    rng = np.random.default_rng(3)
    sites = _sites(rng, 2000)
    normals = []
    for j in range(5):
        g = np.zeros(2000, np.int8)
        c = simulate_counts(sites, g, g[None], [0.0], depth=400, rng=rng, sample=f"N{j}")
        alt_fwd = c.alt_fwd.copy()
        alt_fwd[0, :20] += 40  # 20 sites with forward-strand-only artefacts (~20% on one strand)
        normals.append(AlleleCounts(c.samples, c.sites, c.ref_fwd, c.ref_rev, alt_fwd, c.alt_rev, c.other_fwd,
                                    c.other_rev))
    pon = build_pon(AlleleCounts.combine(normals))
    assert set(pon.flag[:20]) <= {"strand_bias", "noisy"} and (pon.flag[:20] == "strand_bias").sum() >= 10
    assert (pon.flag[20:] == "pass").mean() > 0.99


def test_pon__a_class_without_errors_is_not_error_free():
    """Shallow normals with no error read in a class (depth 30, error 1e-5 per class): the class
    prior is the Jeffreys mean of its reads, 0.5 / (reads + 1), not the 1e-6 floor, and its
    strength at most those reads; before, it was 1e-6 with a strength of 1e6, so a sample's
    first error read at such a site could only be donor DNA."""
    from microchimera.model.seqerror import substitution_class

    rng = np.random.default_rng(8)
    sites = _sites(rng, 1200)
    normals = simulate_normals(sites, rng, n_normals=3, depth=30, error_rates=1e-5)
    pon = build_pon(normals, sites)
    cls = substitution_class(sites.ref, sites.alt)
    for c in range(12):
        sel = cls == c
        errors = pon.errors[sel, 0].sum()
        reads = pon.depth[sel, 0].sum()
        if errors == 0 and reads > 0:
            assert pon.class_rate[c, 0] == pytest.approx(0.5 / (reads + 1), rel=1e-6)
            assert pon.class_strength[c, 0] <= reads
            assert (pon.rate[sel, 0] > 1e-5).all()  # a site's rate stays near the class's
            break
    else:
        pytest.fail("no class without error reads: the test did not exercise the case")


def test_pon__file_roundtrip_and_bad_files(panel, tmp_path):
    sites, _, counts, pon = panel
    path = tmp_path / "pon.parquet"
    write_pon(pon, path, {"normals": ["x"]})
    back, meta = read_pon(path)
    assert np.array_equal(back.alpha, pon.alpha) and np.array_equal(back.errors, pon.errors)
    assert list(back.flag) == list(pon.flag) and meta["excluded"] == pon.excluded
    assert back.sites.n_sites == sites.n_sites and (back.sites.pos == sites.pos).all()
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(FormatError, match="not a readable Parquet file"):
        read_pon(bad)
    other = tmp_path / "counts.parquet"
    write_counts(counts, other)
    with pytest.raises(FormatError, match="not a microchimera panel of normals"):
        read_pon(other)
    with pytest.raises(InputError, match="not found"):
        read_pon(tmp_path / "missing.parquet")


def test_pon__one_normal_warns_and_works(panel, caplog):
    _, _, counts, _ = panel
    with caplog.at_level(logging.WARNING):
        pon = build_pon(counts.select_samples(["N0"]))
    assert "from one normal" in caplog.text and pon.normals == ("N0",)


def test_pon__tables_over_other_sites_are_refused(panel):
    _, _, counts, _ = panel
    with pytest.raises(InputError, match="counted at other sites"):
        AlleleCounts.combine([counts.select_samples(["N0"]), counts.select_samples(["N1"]).take_sites(
            slice(0, 100))], ["a.parquet", "b.parquet"])


def test_sample_background_check(panel):
    sites, scale, counts, pon = panel
    rng = np.random.default_rng(5)
    g = rng.binomial(2, sites.af).astype(np.int8)
    usable = np.ones(sites.n_sites, bool)
    same = simulate_counts(sites, g, g[None], [0.0], depth=500, rng=rng, site_error_scale=scale)
    x, e, warn = sample_background_check(pon, same.ref_count[0], same.alt_count[0], usable)
    assert warn is None and 0.7 < x / e < 1.4
    noisy = simulate_counts(sites, g, g[None], [0.0], depth=500, rng=rng, site_error_scale=scale * 5)
    x, e, warn = sample_background_check(pon, noisy.ref_count[0], noisy.alt_count[0], usable)
    assert warn is not None and "run-level problem" in warn


def test_cli_pon_build_and_qc(panel, tmp_path, capsys):
    _, _, counts, _ = panel
    files = []
    for j in (0, 1, 2, 9):
        f = tmp_path / f"n{j}.parquet"
        write_counts(counts.select_samples([f"N{j}"]), f)
        files.append(str(f))
    out = tmp_path / "pon.parquet"
    assert main(["pon", "build", *files, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "from 3 normals" in err and "normal 'N9' left out" in err
    assert main(["pon", "qc", str(out), "--top", "2", "--plot", str(tmp_path / "pon.svg")]) == 0
    text = capsys.readouterr().out
    assert "worst 2 sites" in text and "left out: N9" in text and (tmp_path / "pon.svg").stat().st_size > 1000
    assert main(["pon", "build", files[0], files[0], "--out", str(out)]) == 1
    assert "occur in more than one" in capsys.readouterr().err
    assert main(["pon", "qc", str(tmp_path / "n0.parquet")]) == 1
    assert "not a microchimera panel of normals" in capsys.readouterr().err


def test_pon_summary_mentions_every_flag(panel):
    _, _, _, pon = panel
    text = pon_summary(pon, {"version": "x", "sites_md5": "abc"})
    assert all(f in text for f in ("pass", "noisy", "strand_bias", "no_normals")) and "sites md5 abc" in text


# ----------------------------------------------------------------------------- quantify --pon
def _family_design(seed, hot_share=0.05, hot_rate=5e-3, depth=300, n=6000):
    from microchimera.io.genotypes import GenotypeMatrix
    from microchimera.io.pedigree import Pedigree
    from microchimera.sim import simulate_family

    rng = np.random.default_rng(seed)
    alleles = _sites(rng, n)
    sites = SiteTable(tuple(f"chr{i + 1}" for i in range(6)), np.repeat(np.arange(6), n // 6).astype(np.int32),
                      np.tile(np.arange(n // 6, dtype=np.int64) * 10_000, 6), alleles.ref, alleles.alt,
                      rng.uniform(0.05, 0.95, n))
    scale = site_error_spread(n, rng, sigma=1.0, hot_share=hot_share, hot_rate=hot_rate)
    normals = AlleleCounts.combine([
        simulate_counts(sites, g, g[None], [0.0], depth=depth, rng=rng, sample=f"N{j}", site_error_scale=scale)
        for j, g in enumerate(rng.binomial(2, sites.af, (10, n)).astype(np.int8))])
    ped = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                                 ("F", "kid", "dad", "mom", 1)])
    fam = simulate_family(ped, sites, rng, contig_lengths=dict.fromkeys(sites.contigs, 100_000_000))
    g = {p: fam.genotype(p).astype(np.int8) for p in ped.ids}
    gm = GenotypeMatrix(("mom", "dad", "kid"), np.stack([g["mom"], g["dad"], g["kid"]]), np.full(n, np.nan))
    return rng, sites, scale, normals, ped, g, gm


def test_quantify_pon__uses_the_panel_and_tightens_the_null(tmp_path):
    """5% of sites hot at 5e-3 (too weak for the outlier step), son absent: with the panel the
    CI's upper end is lower than without it, the fit uses the panel's strata, and the estimate
    at 1e-3 stays within 25% (one replicate at 300x: SE about 9%)."""
    from microchimera.model import quantify
    from microchimera.options import QuantifyOptions

    rng, sites, scale, normals, ped, g, gm = _family_design(21)
    pon_path = tmp_path / "pon.parquet"
    write_pon(build_pon(normals, sites), pon_path)
    common = dict(host="mom", donors=["kid"], pedigree=ped, genotypes=gm, sites=sites)
    absent = simulate_counts(sites, g["mom"], g["kid"][None], [0.0], depth=300, rng=rng, sample="s",
                             site_error_scale=scale)
    plain = quantify(absent, **common, options=QuantifyOptions(relatedness=False, lod=False))
    with_pon = quantify(absent, **common, options=QuantifyOptions(relatedness=False, lod=False, pon=pon_path))
    assert with_pon.donors[0].ci95[1] < plain.donors[0].ci95[1]
    assert "pon_flagged" in with_pon.sites.dropped and "pon_flagged" not in plain.sites.dropped
    present = simulate_counts(sites, g["mom"], g["kid"][None], [1e-3], depth=300, rng=rng, sample="s",
                              site_error_scale=scale)
    r = quantify(present, **common, options=QuantifyOptions(relatedness=False, lod=False, pon=pon_path))
    assert abs(r.donors[0].fraction / 1e-3 - 1) < 0.25 and r.donors[0].detected


def test_quantify_pon__other_sites_and_other_alleles_are_clear_errors(tmp_path):
    from microchimera.model import quantify
    from microchimera.options import QuantifyOptions

    rng, sites, scale, normals, ped, g, gm = _family_design(22, n=1200)
    counts = simulate_counts(sites, g["mom"], g["kid"][None], [0.0], depth=50, rng=rng, sample="s")
    other = build_pon(normals.take_sites(slice(0, 300)))
    path = tmp_path / "other.parquet"
    write_pon(other, path)
    common = dict(host="mom", donors=["kid"], pedigree=ped, genotypes=gm, sites=sites)
    with pytest.raises(InputError, match="was built on other sites: it holds 300 of the 1200"):
        quantify(counts, **common, options=QuantifyOptions(relatedness=False, lod=False, pon=path))
    pon = build_pon(normals)
    flipped = SiteTable(pon.sites.contigs, pon.sites.contig_id, pon.sites.pos, pon.sites.alt, pon.sites.ref,
                        pon.sites.af)
    import dataclasses

    write_pon(dataclasses.replace(pon, sites=flipped), path)
    with pytest.raises(InputError, match="REF/ALT differ at 1200 of 1200"):
        quantify(counts, **common, options=QuantifyOptions(relatedness=False, lod=False, pon=path))


def test_quantify_pon__sample_far_noisier_than_the_panel_warns(tmp_path):
    from microchimera.model import quantify
    from microchimera.options import QuantifyOptions

    rng, sites, scale, normals, ped, g, gm = _family_design(23, hot_share=0.0, n=3000)
    write_pon(build_pon(normals), tmp_path / "p.parquet")
    noisy = simulate_counts(sites, g["mom"], g["kid"][None], [0.0], depth=300, rng=rng, sample="s",
                            site_error_scale=scale * 6)
    r = quantify(noisy, host="mom", donors=["kid"], pedigree=ped, genotypes=gm, sites=sites,
                 options=QuantifyOptions(relatedness=False, lod=False, pon=tmp_path / "p.parquet"))
    assert any("run-level problem" in w for w in r.warnings)


def test_quantify_pon__result_block_validates(tmp_path):
    import json

    import jsonschema

    from microchimera.model import quantify
    from microchimera.options import QuantifyOptions
    from microchimera.workflow import load_schema

    rng, sites, scale, normals, ped, g, gm = _family_design(24, n=1200)
    write_pon(build_pon(normals), tmp_path / "p.parquet")
    counts = simulate_counts(sites, g["mom"], g["kid"][None], [1e-2], depth=100, rng=rng, sample="s",
                             site_error_scale=scale)
    common = dict(host="mom", donors=["kid"], pedigree=ped, genotypes=gm, sites=sites)
    doc = quantify(counts, **common, options=QuantifyOptions(relatedness=False, lod=False,
                                                             pon=tmp_path / "p.parquet")).to_json()
    block = doc["pon"]
    assert block["normals"] == 10 and block["matched_sites"] + block["flagged_sites"] <= 1200
    assert 0.5 < block["background_ratio"] < 2
    plain = quantify(counts, **common, options=QuantifyOptions(relatedness=False, lod=False)).to_json()
    assert plain["pon"] is None
    from microchimera.provenance import get_provenance

    schema = load_schema()
    for d in (doc, plain):
        jsonschema.validate({**json.loads(json.dumps(d)), "provenance": get_provenance(command="test")}, schema)


def test_quantify_pon__gatk_table_is_a_clear_error(panel, tmp_path):
    from pathlib import Path

    from microchimera.io.allele_counts import read_counts_any
    from microchimera.model import quantify
    from microchimera.options import QuantifyOptions

    gatk = (Path(__file__).resolve().parents[2] / "shared" / "data" / "real" /
            "gatk_calculatecontamination_NA12891_in_NA12892" / "NA12891_0.01_NA12892_0.99.table")
    if not gatk.exists():
        pytest.skip("shared real data not present")
    _, _, _, pon = panel
    write_pon(pon, tmp_path / "p.parquet")
    with pytest.raises(InputError, match="name no REF/ALT alleles"):
        quantify(read_counts_any(gatk), relationships=["child"],
                 options=QuantifyOptions(relatedness=False, lod=False, pon=tmp_path / "p.parquet"))


def test_bb_terms__per_term_overdispersion_equals_the_scalar_case():
    """An array of rho (a panel of normals' uncertain rates, zeros mixed in) gives each term
    exactly what the scalar call gives it."""
    from microchimera.model.likelihood import bb_logpmf_terms

    rng = np.random.default_rng(4)
    n = rng.integers(1, 500, 200).astype(float)
    x = np.floor(n * rng.uniform(0, 0.02, 200))
    p = rng.uniform(1e-4, 0.05, 200)
    rho = np.where(rng.random(200) < 0.3, 0.0, rng.uniform(1e-5, 1e-2, 200))
    got = bb_logpmf_terms(x, n, p, rho, order=2)
    for k in (0, 17, 101, 199):
        want = bb_logpmf_terms(x[k:k + 1], n[k:k + 1], p[k:k + 1], float(rho[k]), order=2)
        for g, w in zip(got, want, strict=True):
            assert g[k] == pytest.approx(w[0], rel=1e-12, abs=1e-12)


def test_quantify_pon__uncertain_rates_enter_as_overdispersion(panel):
    """With a panel, a hom-ref or hom-alt host's combos get the beta-binomial overdispersion of
    their stratum's posterior, 1/(alpha + beta + 1), and heterozygous ones none."""
    from microchimera.model.likelihood import PON_CLASS0
    from microchimera.model.pon_rates import pon_site_rates

    sites, _, _, pon = panel
    rates = pon_site_rates(pon, sites)
    cls = rates.classes(np.zeros(sites.n_sites, np.int64))
    combo_class = np.array([cls[rates.matched][0]] * 3)
    combo_gh = np.array([0.0, 1.0, 2.0])
    rho = rates.combo_rho(combo_class, combo_gh, cls, np.arange(sites.n_sites))
    stratum = cls == combo_class[0]
    conc = (pon.alpha + pon.beta)[rates.index[stratum]]
    assert combo_class[0] >= PON_CLASS0
    assert rho[0] == pytest.approx(np.mean(1 / (conc[:, 0] + 1)))
    assert rho[2] == pytest.approx(np.mean(1 / (conc[:, 1] + 1)))
    assert rho[1] == 0.0 and 0 < rho[0] < 0.01


def test_quantify_pon__a_contaminant_under_per_site_errors_is_not_overestimated(tmp_path):
    """The design where a plug-in panel failed (validation/contamination.py, seed 120000: a
    stranger at 1e-3, log-normal per-site error with 1% hot sites, 10 normals at 1000x):
    the contamination came out 1.25e-3 (CI 1.17-1.33e-3) with the panel's posterior means
    plugged in; with the rates' uncertainty integrated and the class prior on a grid it is
    1.04e-3 (0.94-1.13e-3).  One fixed sample: this catches the bias coming back; the
    validation measures coverage over replicates."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))
    from _designs import family_panel
    from recover_fraction import N_CONTIGS, N_SITES, PED

    from microchimera.io.genotypes import GenotypeMatrix
    from microchimera.model import quantify
    from microchimera.options import QuantifyOptions

    rng = np.random.default_rng(120000)
    sites, g = family_panel(rng, N_SITES, PED, N_CONTIGS)
    gm = GenotypeMatrix(("mom", "dad", "kid"), np.stack([g[p] for p in ("mom", "dad", "kid")]),
                        np.full(N_SITES, np.nan))
    spread = site_error_spread(N_SITES, rng)
    counts = simulate_counts(sites, g["mom"], np.stack([g["kid"], g["stranger"]]), [0.0, 1e-3], depth=1000,
                             rng=rng, sample="s", site_error_scale=spread)
    normals = simulate_normals(sites, rng, n_normals=10, depth=1000, site_error_scale=spread)
    path = tmp_path / "pon.parquet"
    write_pon(build_pon(normals, sites), path)
    r = quantify(counts, host="mom", donors=["kid"], pedigree=PED, genotypes=gm, sites=sites,
                 options=QuantifyOptions(pon=str(path), relatedness=False, lod=False))
    low, high = r.contamination.estimate.ci95
    assert low <= 1e-3 <= high and abs(r.contamination.estimate.fraction / 1e-3 - 1) < 0.1


def test_pon_variance__on_the_error_reads_only(tmp_path):
    """The panel's rate uncertainty is the variance of a combo's error reads: placed at
    fractions ``f``, ``combo_rho * p (1 - p)`` equals ``combo_rho_pon * p0 (1 - p0)`` (``p0``:
    no donor DNA), and combos where the donor carries the host's genotype keep the panel's
    value.  The fit places it at the unknown contributor only: a named donor's sites keep the
    panel's value (right under that donor's null)."""
    from microchimera.model.people import CONTAMINANT, resolve_people, unknown_contributor_only
    from microchimera.model.quantify import (
        apply_pon,
        build_error_model,
        complete_allele_frequencies,
        fit_with_outlier_refit,
        select_sites,
    )
    from microchimera.options import QuantifyOptions

    rng, sites, scale, normals, ped, g, gm = _family_design(23, n=3000)
    path = tmp_path / "pon.parquet"
    write_pon(build_pon(normals, sites), path)
    counts = simulate_counts(sites, g["mom"], g["kid"][None], [1e-2], depth=300, rng=rng, sample="s",
                             site_error_scale=scale)
    sel, rates, _, _ = apply_pon(select_sites(counts, "s", sites), path)
    people = resolve_people(sample="s", host="mom", donors=["kid"], pedigree=ped, genotypes=gm, relationships=None,
                            contamination_component=True)
    af, _, _ = complete_allele_frequencies(sel, people, gm)
    stage = build_error_model(sel, people, af, QuantifyOptions().block_size, pon=rates)
    data = stage.data
    assert data.donors == ("kid", CONTAMINANT)
    assert data.combo_rho_pon is not None and np.array_equal(data.combo_rho, data.combo_rho_pon)
    f = np.array([1e-2, 0.0])
    moved = data.with_pon_variance_at(f)
    p0, _ = data.combo_p(np.zeros(2))
    p, _ = data.combo_p(f)
    kid_differs = (data.combo_rho_pon > 0) & (np.abs(data.combo_delta[0]) > 0)
    assert kid_differs.sum() >= 2
    np.testing.assert_allclose((moved.combo_rho * p * (1 - p))[kid_differs],
                               (data.combo_rho_pon * p0 * (1 - p0))[kid_differs])
    assert (moved.combo_rho[kid_differs] < 0.5 * data.combo_rho_pon[kid_differs]).all()  # 1e-2 >> error reads
    same = (data.combo_delta == 0).all(axis=0)
    np.testing.assert_array_equal(moved.combo_rho[same], data.combo_rho_pon[same])
    np.testing.assert_array_equal(unknown_contributor_only([3e-3, 2e-4], data.donors), [0.0, 2e-4])
    fitted = fit_with_outlier_refit(stage, sel)
    only_kid = kid_differs & (data.combo_delta[1] == 0)  # the contaminant carries the host's genotype
    assert only_kid.any()
    np.testing.assert_array_equal(fitted.data.combo_rho[only_kid], data.combo_rho_pon[only_kid])
