"""Tests of microchimera.ychrom: regions, counting, statistics, bad input, CLI, comparison."""
from __future__ import annotations

import json
import math

import numpy as np
import pysam
import pytest
from helpers.bam import sam_to_bam
from scipy import optimize, stats

from microchimera.cli import main
from microchimera.errors import FormatError, InputError, UsageError
from microchimera.io.contigs import match_contig
from microchimera.ychrom import (
    YCounts,
    analyse_ychrom,
    background_from_controls,
    compare_y_and_snp,
    counting,
    default_background,
    estimate_male_fraction,
    packaged_y_regions,
    read_region_bed,
    regions,
)
from microchimera.ychrom import stats as ystats
from microchimera.ychrom.regions import BUILD_INFO

# ----------------------------------------------------------------------------- hand-made BAMs
SMALL = {"chr1": 200_000, "chr2": 200_000, "chrX": 100_000, "chrY": 100_000}


def _sam_bam(path, contigs, records):
    """Write records ``(name, flag, contig, pos0, mapq, length)`` as a sorted, indexed BAM."""
    lines = ["@HD\tVN:1.6\tSO:unsorted"] + [f"@SQ\tSN:{c}\tLN:{n}" for c, n in contigs.items()]
    lines.append("@RG\tID:rg\tSM:hostA")
    for name, flag, contig, pos, mapq, length in records:
        seq = "A" * length
        lines.append(f"{name}\t{flag}\t{contig}\t{pos + 1}\t{mapq}\t{length}M\t*\t0\t0\t{seq}\t*\tRG:Z:rg")
    return sam_to_bam("\n".join(lines) + "\n", path)


def _uniform_records(rng, contigs, per_base, prefix="r", length=100, mapq=60):
    recs = []
    for c, n in contigs.items():
        k = rng.poisson(per_base * n)
        for i, p in enumerate(np.sort(rng.integers(0, n - length, k))):
            recs.append((f"{prefix}{c}{i}", 0, c, int(p), mapq, length))
    return recs


@pytest.fixture(scope="module")
def flags_bam_fixture(tmp_path_factory):
    d = tmp_path_factory.mktemp("ychrom_flags")
    recs = [
        ("keep_se", 0, "chrY", 1000, 60, 100),
        ("keep_r1", 0x1 | 0x40, "chrY", 1100, 60, 100),
        ("drop_r2", 0x1 | 0x80, "chrY", 1200, 60, 100),
        ("drop_dup", 0x400, "chrY", 1300, 60, 100),
        ("drop_sec", 0x100, "chrY", 1400, 60, 100),
        ("drop_supp", 0x800, "chrY", 1500, 60, 100),
        ("drop_qc", 0x200, "chrY", 1600, 60, 100),
        ("drop_lowq", 0, "chrY", 1700, 29, 100),
        ("keep_q30", 0, "chrY", 1800, 30, 100),
        ("span_boundary", 0, "chrY", 4950, 60, 100),
        ("outside", 0, "chrY", 6000, 60, 100),
    ]
    return _sam_bam(d / "flags.bam", SMALL, recs)


# ----------------------------------------------------------------------------- regions
@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
def test_packaged_y_regions__male_specific_and_cited(build):
    r = packaged_y_regions(build)
    info = BUILD_INFO[build]
    assert r.n_regions == 8 and set(r.contig) == {"chrY"}
    assert np.all(np.diff(r.start) > 0) and np.all(r.start[1:] >= r.end[:-1])  # sorted, disjoint
    y_par1_end = {"GRCh38": 2_781_479, "GRCh37": 2_649_520}[build]
    y_par2_start = {"GRCh38": 56_887_902, "GRCh37": 59_034_049}[build]
    assert r.start.min() >= y_par1_end and r.end.max() <= y_par2_start
    assert r.end.max() <= info.lengths["Y"]
    assert 6e6 < r.total_bases < 9e6
    from importlib import resources

    text = resources.files("microchimera.ychrom").joinpath("regions", f"{build}.bed").read_text()
    assert "Poznik" in text and "Skaletsky" in text and "PAR1" in text


#: GRCh38 chrY classes of SexChrLab/SexChrCoordinates GRCh38/chrY_genomic_features_GRCh38.bed (cited in GRCh38.bed)
GRCH38_Y_XTR = [(3050044, 6235111), (6532906, 6748713)]
GRCH38_Y_AMPLICONIC = [(6235111, 6532906), (7574481, 10266944), (13984473, 14058733), (15875093, 15905214),
                       (16159795, 16425965), (17456266, 18870334), (21305953, 26415435)]


def test_packaged_y_regions__grch38_inside_chry_outside_pars_xtr_ampliconic():
    r = packaged_y_regions("GRCh38")
    assert r.end.max() <= 57_227_415 == BUILD_INFO["GRCh38"].lengths["Y"]
    # GRC PAR1 chrY:10,001-2,781,479 and PAR2 chrY:56,887,903-57,217,415 (1-based, inclusive)
    for s, e in [(10_000, 2_781_479), (56_887_902, 57_217_415), *GRCH38_Y_XTR, *GRCH38_Y_AMPLICONIC]:
        assert not np.any((r.start < e) & (s < r.end)), (s, e)
    assert r.total_bases == 8_260_324


def test_packaged_y_regions__grch38_lines_have_grch37_lengths():
    """Each GRCh38 line is the GRCh37 (Poznik) X-degenerate interval moved by a per-arm offset."""
    r38, r37 = packaged_y_regions("GRCh38"), packaged_y_regions("GRCh37")
    assert r38.name == r37.name
    shrink = np.zeros(8, dtype=np.int64)
    shrink[2] = 100_000  # Yq1 start moved inward: GRCh38's rebuilt centromere (see the file header)
    np.testing.assert_array_equal(r38.lengths, r37.lengths - shrink)
    offsets = (r38.end - r37.end).tolist()
    assert offsets == [131_959, 131_959] + [-2_111_880] * 4 + [-2_161_886] * 2


def test_packaged_y_regions__grch38_cites_sources_with_commits():
    from importlib import resources

    text = resources.files("microchimera.ychrom").joinpath("regions", "GRCh38.bed").read_text()
    for cite in ("SexChrLab/SexChrCoordinates", "a8146162e2bc658d39184a894448d0eb4f820e7d",
                 "genome-in-a-bottle/genome-stratifications", "aedb9100376862a606d5169fddd9a33cb4a8e514",
                 "APPROXIMATE"):
        assert cite in text
    assert "from memory" not in text


def test_packaged_y_regions__grch37_excludes_xtr_and_ampliconic():
    r = packaged_y_regions("GRCh37")
    excluded = [(2918085, 6103152), (6400947, 6616754), (6103152, 6400947), (7442522, 10135224),
                (16096353, 16170613), (19568146, 21032220), (23467839, 28561582)]
    for s, e in excluded:
        assert not np.any((r.start < e) & (s < r.end)), (s, e)


def test_packaged_y_regions__unknown_build():
    with pytest.raises(UsageError, match="unknown build 'hg18'"):
        packaged_y_regions("hg18")


def test_read_region_bed__errors(tmp_path):
    p = tmp_path / "r.bed"
    p.write_text("chrY\t10\n")
    with pytest.raises(FormatError, match="at least 3 BED columns"):
        read_region_bed(p)
    p.write_text("chrY\t10\t5\n")
    with pytest.raises(FormatError, match="0 <= start < end"):
        read_region_bed(p)
    p.write_text("# only a comment\n")
    with pytest.raises(FormatError, match="no regions"):
        read_region_bed(p)
    with pytest.raises(InputError, match="cannot read"):
        read_region_bed(tmp_path / "missing.bed")


def test_match_contig__aliases():
    assert match_contig("chrY", ["1", "X", "Y"]) == "Y"
    assert match_contig("Y", ["chr1", "chrY"]) == "chrY"
    assert match_contig("chrY", ["chr1", "chrX"]) is None


def test_make_windows__tiles_small_and_samples_large():
    w = regions.make_windows(["a", "b"], [250, 100], width=100, max_total=1000)
    assert list(zip(w.contig, w.start, w.end, strict=True)) == [("a", 0, 100), ("a", 100, 200), ("a", 200, 250), ("b", 0, 100)]
    w = regions.make_windows(["a"], [10_000], width=100, max_total=1000, exclude=[("a", 0, 2000)])
    assert w.total_bases <= 1000 and w.start.min() >= 2000


def test_region_split__covers_exactly():
    r = read_region_bed_text("chrY\t0\t250\tx\nchrY\t300\t350\ty\n")
    s = r.split(100)
    assert s.total_bases == r.total_bases and s.lengths.max() <= 100 and s.n_regions == 4


def read_region_bed_text(text):
    return regions._parse_bed(text, "test")


# ----------------------------------------------------------------------------- counting
def test_count_regions__matches_reference_and_filters(flags_bam_fixture):
    r = read_region_bed_text("chrY\t0\t5000\ta\nchrY\t5000\t5800\tb\nchrY\t7000\t9000\tc\n")
    fast = counting.count_regions(flags_bam_fixture, r, min_mapq=30)
    with pysam.AlignmentFile(str(flags_bam_fixture)) as af:
        ref = [counting.count_region_reference(af, c, s, e, 30) for c, s, e in zip(r.contig, r.start, r.end, strict=True)]
    assert fast.dtype == np.uint32
    assert list(fast) == ref == [4, 1, 0]  # keep_se, keep_r1, keep_q30, span | span | -


def test_effective_bases__read_length_and_ns():
    r = read_region_bed_text("chrY\t0\t1000\ta\nchrY\t2000\t2100\tb\n")
    eb = counting.effective_bases(r, 100.0, np.array([0, 100]))
    assert list(eb) == [1099.0, 0.0]


# ----------------------------------------------------------------------------- statistics
def _counts(y, e_units, a=1_000_000):
    # autosomal density a / 1e7 per base; choose Y bases so that E = e_units
    return YCounts(y, e_units * 1e7 / a, a, 1e7, 10, 10)


def test_estimate__closed_form_mle_and_profile():
    c = _counts(120, 1e5)
    bg = background_from_controls([_counts(30, 2e5)])
    est = estimate_male_fraction(c, bg)
    assert math.isclose(est.male_fraction, 2 * (120 / 1e5 - 30 / 2e5), rel_tol=1e-12)
    assert math.isclose(est.raw_male_fraction, 2 * 120 / 1e5, rel_tol=1e-12)
    # profile b: closed form equals numeric maximisation at several lambdas
    for lam in (0.0, 5e-4, 2e-3):
        def nll(b, lam=lam):
            return -ystats._loglik(lam, b, 120, 1e5, 30, 2e5)

        num = optimize.minimize_scalar(nll, bounds=(1e-12, 1e-2), method="bounded", options={"xatol": 1e-14}).x
        assert math.isclose(ystats._profile_b(lam, 120, 1e5, 30, 2e5), num, rel_tol=1e-4, abs_tol=1e-10)
    # the CI ends are where the profile deviance crosses chi2_1(0.95)
    lmax = ystats._profile(est.male_fraction / 2, 120, 1e5, 30, 2e5)
    for end in est.ci95:
        dev = 2 * (lmax - ystats._profile(end / 2, 120, 1e5, 30, 2e5))
        assert math.isclose(dev, stats.chi2.ppf(0.95, 1), rel_tol=1e-6)
    assert est.ci95[0] < est.male_fraction < est.ci95[1]
    assert math.isclose(est.geq_per_100k, 1e5 * est.male_fraction / (1 - est.male_fraction))


def test_estimate__zero_reads_gives_zero_with_upper_bound():
    est = estimate_male_fraction(_counts(0, 1e5), background_from_controls([_counts(0, 1e5)]))
    assert est.male_fraction == 0 and est.ci95[0] == 0 and est.p_value == 1.0
    assert 0 < est.ci95[1] < 1e-4 and not est.detected


def test_exact_p_value__is_binomial_tail():
    for y, yc, e, ec in [(5, 2, 1e4, 3e4), (12, 0, 1e4, 1e4), (1, 7, 5e3, 1e4)]:
        expected = stats.binom.sf(y - 1, y + yc, e / (e + ec))
        assert math.isclose(ystats.exact_p_value(y, e, yc, ec), expected, rel_tol=1e-10)


def test_detection_limit__has_stated_power():
    e, yc, ec = 2e5, 3.0, 4e5
    lod = ystats.detection_limit(e, yc, ec)
    b = yc / ec
    # smallest k detected, then P(Poisson >= k) at the LoD is 0.95
    k = next(k for k in range(1, 1000) if ystats.exact_p_value(k, e, yc, ec) < 0.05)
    assert math.isclose(stats.poisson.sf(k - 1, e * (lod / 2 + b)), 0.95, rel_tol=1e-6)


def test_dispersion__poisson_vs_overdispersed():
    rng = np.random.default_rng(1)
    w = np.full(50, 1e5)
    assert ystats.dispersion(rng.poisson(40, 50), w) < 1.6
    over = rng.poisson(rng.gamma(2.0, 20.0, 50))
    assert ystats.dispersion(over, w) > 5
    assert ystats.dispersion([3, 0, 1], [1.0, 1.0, 1.0]) == 1.0  # too few reads: Poisson


def test_default_background__documented_value():
    bg = default_background()
    assert math.isclose(bg.male_fraction, ystats.DEFAULT_BACKGROUND_MALE_FRACTION)
    lo, hi = bg.male_fraction_ci()
    assert lo < bg.male_fraction < hi


def test_robust_density__drops_gaps_and_duplications():
    keep = ystats.robust_density([100, 0, 98, 300, 102], [1.0] * 5)
    assert list(keep) == [True, False, True, False, True]


# ----------------------------------------------------------------------------- analysis + bad input
@pytest.fixture(scope="module")
def hand_bams_fixture(tmp_path_factory):
    d = tmp_path_factory.mktemp("ychrom_hand")
    rng = np.random.default_rng(7)
    auto = {"chr1": SMALL["chr1"], "chr2": SMALL["chr2"], "chrX": SMALL["chrX"]}
    female = _uniform_records(rng, auto, 0.01)
    # a man: autosomes at 0.01 fragments/base, one X and one Y at half that
    male = _uniform_records(rng, {"chr1": SMALL["chr1"], "chr2": SMALL["chr2"]}, 0.01, "m")
    male += _uniform_records(rng, {"chrX": SMALL["chrX"], "chrY": SMALL["chrY"]}, 0.005, "mx")
    male_y = [r for r in male if r[2] == "chrY"]
    out = {
        "female": _sam_bam(d / "female.bam", SMALL, female),
        "male": _sam_bam(d / "male.bam", SMALL, male),
        "spiked": _sam_bam(d / "spiked.bam", SMALL, female + male_y[: len(male_y) // 20]),
        "noy": _sam_bam(d / "noy.bam", {c: n for c, n in SMALL.items() if c != "chrY"}, female),
        "grch37": _sam_bam(d / "grch37.bam", {"chr1": 249_250_621, "chrX": 155_270_560, "chrY": 59_373_566},
                           [("a", 0, "chr1", 100, 60, 100)]),
    }
    bed = d / "y.bed"
    bed.write_text("Y\t0\t100000\tall\n")  # alias: the BAMs say chrY
    out["bed"] = bed
    return out


def test_analyse_ychrom__spiked_sample(hand_bams_fixture):
    f = hand_bams_fixture
    res = analyse_ychrom([f["spiked"], f["female"]], regions=f["bed"], controls=[f["female"]])
    spiked, female = res.samples
    assert spiked.sample == "hostA" and spiked.host_sex == "female"
    # 1/20 of a male's Y reads on a female background: 5% of a haploid Y per diploid = f 0.05
    assert spiked.estimate.ci95[0] < 0.05 < spiked.estimate.ci95[1]
    assert spiked.estimate.detected and not female.estimate.detected
    assert female.estimate.male_fraction == 0.0
    assert res.background.source == "controls"


def test_analyse_ychrom__male_host_is_error(hand_bams_fixture):
    with pytest.raises(InputError, match="looks male.*female host"):
        analyse_ychrom([hand_bams_fixture["male"]], regions=hand_bams_fixture["bed"])


def test_analyse_ychrom__male_control_is_error(hand_bams_fixture):
    f = hand_bams_fixture
    with pytest.raises(InputError, match="control .* looks male"):
        analyse_ychrom([f["female"]], regions=f["bed"], controls=[f["male"]])


def test_analyse_ychrom__no_chry_in_header(hand_bams_fixture):
    with pytest.raises(InputError, match="no Y contig in the BAM header"):
        analyse_ychrom([hand_bams_fixture["noy"]], regions=hand_bams_fixture["bed"])


def test_analyse_ychrom__wrong_build(hand_bams_fixture):
    with pytest.raises(InputError, match=r"chr1 is 249,250,621 bp long, but GRCh38 has 248,956,422 bp \(that is GRCh37's"):
        analyse_ychrom([hand_bams_fixture["grch37"]], build="GRCh38")


def test_analyse_ychrom__wrong_build_small_contigs(hand_bams_fixture):
    with pytest.raises(InputError, match="not aligned to GRCh37"):
        analyse_ychrom([hand_bams_fixture["female"]], build="GRCh37")


def test_analyse_ychrom__usage_and_missing_index(hand_bams_fixture, tmp_path):
    with pytest.raises(UsageError, match="exactly one of build"):
        analyse_ychrom([hand_bams_fixture["female"]])
    with pytest.raises(UsageError, match="exactly one of build"):
        analyse_ychrom([hand_bams_fixture["female"]], build="GRCh38", regions=hand_bams_fixture["bed"])
    bam = tmp_path / "noindex.bam"
    bam.write_bytes(hand_bams_fixture["female"].read_bytes())
    with pytest.raises(InputError, match="no index"):
        analyse_ychrom([bam], regions=hand_bams_fixture["bed"])


# ----------------------------------------------------------------------------- CLI
def test_cli_ychrom__writes_json(hand_bams_fixture, tmp_path, capsys):
    f = hand_bams_fixture
    out = tmp_path / "ychrom.json"
    rc = main(["ychrom", str(f["spiked"]), "--regions", str(f["bed"]), "--controls", str(f["female"]),
               "--min-mapq", "20", "--out", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == "microchimera.ychrom/1" and doc["min_mapq"] == 20
    s = doc["samples"][0]
    assert set(s["male_fraction"]) >= {"estimate", "ci95", "geq_per_100k", "p_value", "lod", "detected"}
    assert s["host_sex"]["inferred"] == "female"
    assert doc["background"]["source"] == "controls" and len(doc["background"]["controls"]) == 1
    assert doc["provenance"]["parameters"]["min_mapq"] == 20
    assert "hostA" in capsys.readouterr().out


def test_cli_ychrom__male_host_exit_1(hand_bams_fixture, tmp_path, capsys):
    f = hand_bams_fixture
    rc = main(["ychrom", str(f["male"]), "--regions", str(f["bed"]), "--out", str(tmp_path / "y.json")])
    assert rc == 1
    assert "microchimera: error:" in capsys.readouterr().err
    assert not (tmp_path / "y.json").exists()


def test_cli_ychrom__needs_build_or_regions(hand_bams_fixture, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["ychrom", str(hand_bams_fixture["female"]), "--out", str(tmp_path / "y.json")])
    assert exc.value.code == 2


# ----------------------------------------------------------------------------- Y vs SNP
def _est(f, lo, hi, p):
    return ystats.YEstimate(f, (lo, hi), f, p, 1e-4, 1.0, 10, 1e5)


def test_compare_y_and_snp__agree_disagree_unknown():
    y = _est(1e-3, 7e-4, 1.4e-3, 1e-9)
    son = {"donor": "son", "male": True, "fraction": 1.1e-3, "ci95": (8e-4, 1.4e-3)}
    daughter = {"donor": "dau", "male": False, "fraction": 2e-3, "ci95": (1.5e-3, 2.5e-3)}
    assert compare_y_and_snp(y, [son, daughter])["status"] == "agree"
    far = dict(son, fraction=5e-3, ci95=(4.5e-3, 5.5e-3))
    r = compare_y_and_snp(y, [far])
    assert r["status"] == "disagree" and "y_below_snp" in r["flags"] and r["z"] < -2.576
    r = compare_y_and_snp(y, [daughter])
    assert r["status"] == "y_signal_without_male_donor" and "unknown_male_source" in r["flags"]
    assert compare_y_and_snp(_est(0.0, 0.0, 1e-4, 1.0), [daughter])["status"] == "no_male_signal"
