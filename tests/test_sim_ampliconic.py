"""Simulator: the optional ampliconic palindrome on chrY (``genome.ampliconic_length``)."""
import json

import numpy as np
import pysam
import pytest

from microchimera.sim import load_scenario, simulate
from microchimera.sim.genome import build_genome
from microchimera.sim.scenario import ScenarioError

AMP = 15_000


def _scenario(amp=AMP, **genome):
    g = {"n_autosomes": 1, "autosome_length": 60_000, "chrx_length": 100_000, "chry_length": 120_000,
         "par1_length": 10_000, "par2_length": 5_000, "xtr_length": 15_000, "ampliconic_length": amp}
    g.update(genome)
    return {
        "name": "amp",
        "genome": g,
        "panel": {"n_sites": 50},
        "sequencing": {"whole_genome": True, "depth": 20, "read_length": 100, "fragment_mean": 250},
        "family": {"people": [{"id": "dad", "sex": "male"}, {"id": "mom", "sex": "female"}]},
        "samples": [{"name": "dad_blood", "host": "dad"}],
    }


def _y(genome):
    i = genome.contig_index("chrY")
    return genome.sequence[genome.offsets[i]: genome.offsets[i + 1]]


def test_build_genome__palindrome_arms_are_reverse_complements():
    g = build_genome(load_scenario(_scenario()), np.random.default_rng(3))
    (c0, a0, a1), (c1, b0, b1) = g.regions["ampliconic"]
    assert c0 == c1 == "chrY" and a1 - a0 == b1 - b0 == AMP and a1 == b0
    y = _y(g)
    np.testing.assert_array_equal(y[b0:b1], 3 - y[a0:a1][::-1])
    # the palindrome lies after the XTR and before PAR2, and is not male-specific "msy"
    assert g.regions["xtr_y"][2] <= a0 and b1 <= 120_000 - 5_000
    assert g.regions["msy"]
    for _, s, e in g.regions["msy"]:
        assert e <= a0 or s >= b1
    # msy + PARs + XTR + arms tile chrY exactly
    pieces = sorted([(s, e) for _, s, e in g.regions["msy"]] + [(a0, a1), (b0, b1), g.regions["xtr_y"][1:],
                     g.regions["par1"][1][1:], g.regions["par2"][1][1:]])
    assert pieces[0][0] == 0 and pieces[-1][1] == 120_000
    assert all(p[1] == q[0] for p, q in zip(pieces, pieces[1:], strict=False))


def test_build_genome__no_palindrome_keeps_sequence():
    """ampliconic_length = 0 draws nothing extra: the genome equals one built without the key."""
    without = _scenario()
    del without["genome"]["ampliconic_length"]
    a = build_genome(load_scenario(_scenario(0)), np.random.default_rng(5))
    b = build_genome(load_scenario(without), np.random.default_rng(5))
    np.testing.assert_array_equal(a.sequence, b.sequence)
    assert a.regions["ampliconic"] == [] and len(a.regions["msy"]) == 2


def test_build_genome__palindrome_changes_only_second_arm():
    a = build_genome(load_scenario(_scenario(0)), np.random.default_rng(5))
    b = build_genome(load_scenario(_scenario()), np.random.default_rng(5))
    (_, _, _), (_, b0, b1) = b.regions["ampliconic"]
    ya, yb = _y(a), _y(b)
    np.testing.assert_array_equal(ya[:b0], yb[:b0])
    np.testing.assert_array_equal(ya[b1:], yb[b1:])


def test_load_scenario__palindrome_too_long():
    with pytest.raises(ScenarioError, match="genome.chry_length: .*ampliconic"):
        load_scenario(_scenario(amp=50_000))
    with pytest.raises(ScenarioError, match="genome.ampliconic_length"):
        load_scenario(_scenario(amp=-1))


def test_simulate__palindrome_reads_have_ampliconic_mapq_and_bed_excludes_it(tmp_path):
    sc = _scenario()
    sc["sequencing"]["mapq_ampliconic"] = 3
    res = simulate(load_scenario(sc), tmp_path, np.random.default_rng(1))
    truth = json.loads(res.truth_json.read_text())
    arms = [tuple(a[1:]) for a in truth["genome"]["ampliconic"]]
    assert len(arms) == 2
    bed = [line.split("\t") for line in res.ychrom_regions.read_text().splitlines()]
    assert len(bed) == 3
    for _, s, e, _ in bed:
        assert all(int(e) <= a0 or int(s) >= a1 for a0, a1 in arms)
    n_arm = n_other = 0
    with pysam.AlignmentFile(str(res.bams["dad_blood"])) as bam:
        for a in bam.fetch("chrY"):
            # MAPQ is drawn per fragment, by where the fragment starts
            frag_start = min(a.reference_start, a.next_reference_start)
            in_arm = any(a0 <= frag_start < a1 for a0, a1 in arms)
            if in_arm:
                n_arm += 1
                assert a.mapping_quality == 3
            elif a.mapping_quality == 60:
                n_other += 1
    # male at 20x over 2 x 15 kb of arms, one Y copy: ~20 * 30000 / 250 / 2 fragments x 2 reads
    assert n_arm > 1000 and n_other > 1000
