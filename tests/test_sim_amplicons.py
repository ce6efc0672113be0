"""Simulator: amplicon panels at read level (``panel.snps_per_amplicon``), the designs of the
molecule model (microhaplotype panels, one ultra-deep amplicon) as real BAMs."""
import json

import numpy as np
import pysam
import pytest

from microchimera.count import count_alleles
from microchimera.io.sites import read_sites
from microchimera.sim import load_scenario, simulate
from microchimera.sim.genome import build_genome
from microchimera.sim.scenario import ScenarioError

FAMILY = {"people": [{"id": "father", "sex": "male"}, {"id": "mother", "sex": "female"},
                     {"id": "son", "sex": "male", "father": "father", "mother": "mother"}]}


def _scenario(panel=None, sequencing=None, son=1e-2):
    return {"name": "amp", "genome": {"n_autosomes": 2},
            "panel": {"n_sites": 400, "snps_per_amplicon": 4, "spacing": 3000, **(panel or {})},
            "sequencing": {"depth": 60, **(sequencing or {})}, "family": FAMILY,
            "samples": [{"name": "mother_blood", "host": "mother", "donors": {"son": son}}]}


def test_build_genome__sites_lie_in_their_amplicons():
    g = build_genome(load_scenario(_scenario()), np.random.default_rng(1))
    amps = g.amplicons
    assert amps.shape == (100, 3)  # 400 sites / 4 per amplicon
    assert np.all((amps[:, 2] >= 120) & (amps[:, 2] <= 200))
    sites = g.sites
    for k, (c, start, length) in enumerate(amps):
        inside = (sites.contig_id == c) & (sites.pos >= start + 10) & (sites.pos < start + length - 10)
        assert inside.sum() == 4, k
    # amplicons of one contig do not overlap, so no molecule covers two of them
    for c in (0, 1):
        a = amps[amps[:, 0] == c]
        assert np.all(a[1:, 1] > a[:-1, 1] + a[:-1, 2])


def test_build_genome__other_panels_draw_as_before():
    """snps_per_amplicon = 0 (the default) takes no extra draw: every other scenario keeps its
    genome (and hence its BAMs) for a given seed."""
    plain = {**_scenario(), "panel": {"n_sites": 400, "spacing": 3000}}
    a = build_genome(load_scenario(plain), np.random.default_rng(5))
    b = build_genome(load_scenario({**plain, "panel": {**plain["panel"], "snps_per_amplicon": 0}}),
                     np.random.default_rng(5))
    assert a.amplicons is None and np.array_equal(a.sites.pos, b.sites.pos)
    assert np.array_equal(a.sequence, b.sequence)


@pytest.mark.parametrize("panel,sequencing,message", [
    ({"snps_per_amplicon": 150}, {}, "do not fit"),
    ({"amplicon_min": 300, "amplicon_max": 200}, {}, "greater than panel.amplicon_max"),
    ({"n_sites_x": 10}, {}, "chrX sites"),
    ({}, {"whole_genome": True}, "whole_genome"),
    ({"amplicon_max": 700}, {}, "fragment_max"),
])
def test_scenario__amplicon_panel_errors(panel, sequencing, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario(_scenario(panel, sequencing))


def test_simulate__every_read_pair_is_a_whole_amplicon(tmp_path):
    sim = simulate(load_scenario(_scenario()), tmp_path, np.random.default_rng(2), seed=2)
    bed = [line.split("\t") for line in sim.amplicons.read_text().splitlines()]
    amplicons = {(c, int(s), int(e)) for c, s, e, _ in bed}
    assert len(amplicons) == 100 and json.loads(sim.truth_json.read_text())["genome"]["amplicons"] == 100
    spans = set()
    with pysam.AlignmentFile(str(sim.bams["mother_blood"])) as bam:
        for read in bam:
            if read.is_read1:
                start = min(read.reference_start, read.next_reference_start)
                spans.add((read.reference_name, start, start + abs(read.template_length)))
    assert spans == amplicons
    # the fragments of the count show all 4 sites of their amplicon, or fewer where a base
    # failed the quality filter (2% of bases have quality 2, 5% quality 12: below 20)
    result = count_alleles([sim.bams["mother_blood"]], read_sites(sim.sites_vcf), fragments=True)
    sizes = np.bincount(np.bincount(result.fragments.fragment))
    assert len(sizes) == 5 and sizes[4] > 0.6 * sizes.sum()
    depth = result.counts.ref_fwd + result.counts.ref_rev + result.counts.alt_fwd + result.counts.alt_rev
    assert 40 < np.median(depth) < 60  # Poisson(60) molecules per amplicon, minus low-quality bases


def test_run__an_amplicon_panel_uses_molecules_and_finds_the_son(tmp_path):
    """End to end, the default `run` on a read-level microhaplotype panel: the fragments are
    counted, the model is the molecule model, and the son at 1e-2 is detected with a CI holding
    the truth (one seeded sample: a fixed outcome, checked here to catch a broken pipeline; the
    calibration is validation/molecules.py's)."""
    from microchimera.cli import main

    sim = simulate(load_scenario(_scenario(sequencing={"depth": 400})), tmp_path / "sim", np.random.default_rng(4),
                   seed=4)
    out = tmp_path / "run"
    assert main(["run", str(sim.bams["mother_blood"]), "--sites", str(sim.sites_vcf), "--genotypes",
                 str(sim.family_vcf), "--pedigree", str(sim.ped), "--host", "mother", "--no-lod", "-q",
                 "--outdir", str(out)]) == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["evidence"]["model"] == "molecules" and doc["evidence"]["molecules"] > 1000
    (son,) = doc["donors"]
    truth = json.loads(sim.truth_json.read_text())["samples"][0]["empirical_fractions"]["son"]
    assert son["detected"] and son["ci95"][0] <= truth <= son["ci95"][1]


def test_build_genome__an_autosome_without_sites_gets_no_amplicon():
    """Fewer sites than autosomes (2 sites, 3 autosomes): the empty one has no amplicon
    (it raised an IndexError)."""
    g = build_genome(load_scenario(_scenario({"n_sites": 2, "snps_per_amplicon": 1}) | {"genome": {"n_autosomes": 3}}),
                     np.random.default_rng(1))
    assert g.amplicons.shape == (2, 3) and g.sites.n_sites == 2
    assert set(g.amplicons[:, 0]) == {0, 1}
