"""ychrom on simulator FASTQ aligned by a real aligner (minimap2 via mappy), and beside the SNP estimate.

The project's simulator (:mod:`microchimera.sim`, whole-genome mode) writes a genome whose chrX
and chrY share PAR1/PAR2 sequence and an X-transposed region (99% identity), with an ampliconic
palindrome on chrY, and FASTQ pairs for a family: mother (host), son (male donor), two unrelated
women (female controls).  :mod:`helpers.mappy_align` maps the FASTQ with minimap2, so PAR reads get MAPQ
0 on a random copy and XTR/palindrome reads are placed by the aligner, not by the simulator.

Proofs (issue 5):

* female-only sample: consistent with 0 after background from female controls;
* the same reads over the whole of chrY without the male-specific mask (and without the MAPQ
  filter, as chrY counts from ``idxstats`` are) give a false male signal;
* the palindrome arms must be masked too: left in, they lose their MAPQ-0 reads and bias a
  real male signal down;
* spiked son at 1e-2 and 1e-3: the truth lies in the CI;
* the chrY estimate and the SNP estimate (:func:`microchimera.model.quantify` on allele counts
  from the same aligned BAM) of the same son agree within their joint uncertainty.
"""
from __future__ import annotations

import json

import numpy as np
import pysam
import pytest
from helpers.family import family_scenario

from microchimera.count import count_alleles
from microchimera.io.genotypes import read_genotypes
from microchimera.io.pedigree import read_ped
from microchimera.io.sites import read_sites
from microchimera.model import quantify
from microchimera.options import CountFilters, QuantifyOptions
from microchimera.sim import load_scenario, simulate
from microchimera.ychrom import (
    analyse_ychrom,
    compare_y_and_snp,
    default_background,
    estimate_male_fraction,
)

mappy = pytest.importorskip("mappy")

from helpers import mappy_align  # noqa: E402  (needs mappy)

CHRY_LENGTH = 2_000_000  # only male DNA reads chrY: a long one costs little and gives Y counts
AMPLICONIC_ARM = 300_000
SON = {"female": 0.0, "control1": 0.0, "control2": 0.0, "spike1e2": 1e-2, "spike1e3": 1e-3}


def _scenario() -> dict:
    hosts = {"control1": "aunt", "control2": "neighbour"}
    return family_scenario(
        "ychrom_aligned",
        [{"name": s, "host": hosts.get(s, "mother"), **({"donors": {"son": f}} if f else {})} for s, f in SON.items()],
        people=("father", "mother", "son", "aunt", "neighbour"),
        genome={"n_autosomes": 3, "autosome_length": 200_000, "chrx_length": 200_000,
                "chry_length": CHRY_LENGTH, "par1_length": 40_000, "par2_length": 10_000,
                "xtr_length": 60_000, "xtr_identity": 0.99, "ampliconic_length": AMPLICONIC_ARM},
        panel={"n_sites": 3000},
        sequencing={"whole_genome": True, "fastq": True, "depth": 20, "read_length": 100,
                    "fragment_mean": 300, "fragment_sd": 30, "fragment_min": 200, "fragment_max": 450,
                    "error_rate": 1e-3})


@pytest.fixture(scope="module")
def aligned_fixture(tmp_path_factory):
    d = tmp_path_factory.mktemp("ychrom_aligned")
    sim = simulate(load_scenario(_scenario()), d / "sim", np.random.default_rng(2), seed=2)
    aligner = mappy.Aligner(str(sim.reference), preset="sr")
    bams = {name: mappy_align.align_pairs(sim.reference, r1, r2, d / f"{name}.mm2.bam", name, aligner)
            for name, (r1, r2) in sim.fastq.items()}
    truth = json.loads(sim.truth_json.read_text())
    arms = d / "with_ampliconic.bed"
    arms.write_text(sim.ychrom_regions.read_text() + "".join(
        f"{c}\t{s}\t{e}\tampliconic\n" for c, s, e in truth["genome"]["ampliconic"]))
    whole = d / "whole_chrY.bed"
    whole.write_text(f"chrY\t0\t{CHRY_LENGTH}\twhole\n")
    return {"sim": sim, "bams": bams, "masked": sim.ychrom_regions, "whole": whole, "arms": arms,
            "truth": truth, "controls": [bams["control1"], bams["control2"]]}


def _y(fx, name, **kw):
    kw.setdefault("regions", fx["masked"])
    kw.setdefault("controls", fx["controls"])
    return analyse_ychrom([fx["bams"][name]], reference=fx["sim"].reference, **kw).samples[0]


def test_aligned__simulator_truth_matches_scenario(aligned_fixture):
    truth = {s["name"]: s for s in aligned_fixture["truth"]["samples"]}
    assert truth["spike1e2"]["male_fraction"] == pytest.approx(1e-2)
    assert truth["female"]["male_fraction"] == 0.0
    # guard: the aligner really scatters PAR reads (MAPQ 0) -- otherwise the mask test proves nothing
    with pysam.AlignmentFile(str(aligned_fixture["bams"]["female"])) as bam:
        par_mapq = [a.mapping_quality for a in bam.fetch("chrY", 5_000, 35_000)]
    assert len(par_mapq) > 500 and np.mean(np.array(par_mapq) == 0) > 0.8


def test_aligned__female_only_consistent_with_zero(aligned_fixture):
    est = _y(aligned_fixture, "female").estimate
    assert est.ci95[0] == 0.0 and est.p_value > 0.05 and not est.detected
    assert est.ci95[1] < 1e-3


def test_aligned__without_masks_false_signal(aligned_fixture):
    s = _y(aligned_fixture, "female", regions=aligned_fixture["whole"], min_mapq=0, controls=[])
    # A woman's PAR (and some XTR) reads land on chrY: half her two PAR copies' reads go to chrY,
    # so 50 kb of PAR at half the autosomal density over 2 Mb of chrY reads as a male fraction of
    # 2 * 0.5 * 50k / 2M = 2.5% -- "significant" under a plain Poisson test.  (The dispersion
    # estimate notices that the reads pile up in the PAR bins and widens the CI, which is why the
    # masks, not luck, must fix it.)
    assert s.estimate.male_fraction > 0.015
    assert s.estimate.dispersion > 10
    plain = estimate_male_fraction(s.counts, default_background(), phi=1.0)
    assert plain.detected and plain.p_value < 1e-10 and plain.ci95[0] > 0.015


def test_aligned__masked_region_no_signal_even_without_mapq_filter(aligned_fixture):
    assert not _y(aligned_fixture, "female", min_mapq=0, controls=[aligned_fixture["bams"]["control1"]]).estimate.detected


def test_aligned__ampliconic_arms_must_be_masked(aligned_fixture):
    """Palindrome reads get MAPQ 0 from minimap2: counted bases without reads pull a real signal down."""
    masked = _y(aligned_fixture, "spike1e2").estimate
    unmasked = _y(aligned_fixture, "spike1e2", regions=aligned_fixture["arms"]).estimate
    assert masked.ci95[0] <= 1e-2 <= masked.ci95[1]
    assert unmasked.ci95[1] < 1e-2
    # the arms hold almost no MAPQ >= 30 fragments, so the estimate drops by ~ their share of bases
    msy = CHRY_LENGTH - 40_000 - 10_000 - 60_000 - 2 * AMPLICONIC_ARM
    assert unmasked.male_fraction / masked.male_fraction == pytest.approx(msy / (msy + 2 * AMPLICONIC_ARM), rel=0.15)


@pytest.mark.parametrize("name,truth", [("spike1e2", 1e-2), ("spike1e3", 1e-3)])
def test_aligned__spiked_male_within_ci(aligned_fixture, name, truth):
    est = _y(aligned_fixture, name).estimate
    assert est.ci95[0] <= truth <= est.ci95[1], (est.male_fraction, est.ci95)
    assert est.detected
    if truth >= 1e-2:
        assert est.ci95[0] > 0.5 * truth


def test_aligned__y_and_snp_estimates_of_son_agree(aligned_fixture):
    """Issue 5 'Must show': the chrY and SNP estimates of the same son, same reads, agree."""
    fx = aligned_fixture
    sim = fx["sim"]
    sites = read_sites(sim.sites_vcf)
    counts = count_alleles([fx["bams"]["spike1e2"]], sites, filters=CountFilters(min_mapq=20, min_baseq=20))
    ped = read_ped(sim.ped)
    genotypes = read_genotypes(sim.family_vcf, sites)
    doc = quantify(counts, host="mother", donors=["son"], pedigree=ped, genotypes=genotypes, sites=sites,
                   options=QuantifyOptions(relatedness=False)).to_json()
    son = doc["donors"][0]
    assert son["ci95"][0] <= 1e-2 <= son["ci95"][1], son
    y = _y(fx, "spike1e2").estimate
    cmp = compare_y_and_snp(y, [{"donor": "son", "male": True, "fraction": son["fraction"], "ci95": son["ci95"]}])
    assert cmp["status"] == "agree", cmp
    assert abs(cmp["z"]) < 2.576
    # and a wrongly named donor sex is caught: the same Y signal with no male donor is flagged
    lost = compare_y_and_snp(y, [{"donor": "son", "male": False, "fraction": son["fraction"], "ci95": son["ci95"]}])
    assert lost["status"] == "y_signal_without_male_donor" and "unknown_male_source" in lost["flags"]
