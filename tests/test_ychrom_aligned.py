"""ychrom on reads aligned by a real aligner (minimap2 via mappy) from a genome with shared X/Y sequence.

Female-only sample: consistent with 0 after background; the same reads counted over the whole of
chrY without the male-specific mask (and without the MAPQ filter, as chrY read counts from
``idxstats`` are) give a false male signal; spiked male DNA at 1e-2 and 1e-3 lies in the CI.
"""
from __future__ import annotations

import pytest

from microchimera.ychrom import analyse_ychrom, default_background, estimate_male_fraction

pytest.importorskip("mappy")

import ychrom_genome  # noqa: E402  (tests/ helper)

FRACTIONS = {"female": 0.0, "control1": 0.0, "control2": 0.0, "spike1e2": 1e-2, "spike1e3": 1e-3}


@pytest.fixture(scope="module")
def aligned_fixture(tmp_path_factory):
    d = tmp_path_factory.mktemp("ychrom_aligned")
    fasta, bams = ychrom_genome.build_dataset(d, seed=2, fractions=FRACTIONS)
    masked = ychrom_genome.write_regions(d / "male_specific.bed")
    whole = d / "whole_chrY.bed"
    whole.write_text(f"chrY\t0\t{ychrom_genome.Y_MALE_SPECIFIC[1] + 2 * ychrom_genome.AMPLICON_LEN}\twhole\n")
    return {"fasta": fasta, "bams": bams, "masked": masked, "whole": whole}


def test_aligned__female_only_consistent_with_zero(aligned_fixture):
    b = aligned_fixture["bams"]
    res = analyse_ychrom([b["female"]], regions=aligned_fixture["masked"], controls=[b["control1"], b["control2"]],
                         reference=aligned_fixture["fasta"])
    est = res.samples[0].estimate
    assert est.ci95[0] == 0.0 and est.p_value > 0.05 and not est.detected
    assert est.ci95[1] < 1e-3


def test_aligned__without_masks_false_signal(aligned_fixture):
    b = aligned_fixture["bams"]
    res = analyse_ychrom([b["female"]], regions=aligned_fixture["whole"], min_mapq=0,
                         controls=[], reference=aligned_fixture["fasta"])
    s = res.samples[0]
    # PAR and X-transposed reads of a woman land on chrY: a false male fraction of several percent,
    # "significant" under a plain Poisson test.  (The dispersion estimate notices that the reads
    # pile up in the PAR bins and widens the CI, which is why the masks, not luck, must fix it.)
    assert s.estimate.male_fraction > 0.05
    assert s.estimate.dispersion > 10
    plain = estimate_male_fraction(s.counts, default_background(), phi=1.0)
    assert plain.detected and plain.p_value < 1e-10 and plain.ci95[0] > 0.05


def test_aligned__masked_region_no_signal_even_without_mapq_filter(aligned_fixture):
    b = aligned_fixture["bams"]
    res = analyse_ychrom([b["female"]], regions=aligned_fixture["masked"], min_mapq=0,
                         controls=[b["control1"]], reference=aligned_fixture["fasta"])
    assert not res.samples[0].estimate.detected


@pytest.mark.parametrize("name,truth", [("spike1e2", 1e-2), ("spike1e3", 1e-3)])
def test_aligned__spiked_male_within_ci(aligned_fixture, name, truth):
    b = aligned_fixture["bams"]
    res = analyse_ychrom([b[name]], regions=aligned_fixture["masked"], controls=[b["control1"], b["control2"]],
                         reference=aligned_fixture["fasta"])
    est = res.samples[0].estimate
    assert est.ci95[0] <= truth <= est.ci95[1], (est.male_fraction, est.ci95)
    if truth >= 1e-2:
        assert est.detected and est.ci95[0] > 0.5 * truth
