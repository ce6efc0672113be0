"""Suite-wide fixtures; a fixture that one module needs stays in that module.

As in tskit, fixture names end in ``_fixture``.  The costly ones are session-scoped, seeded,
and check on creation that they are what the tests assume: a fixture that silently shrank
(no reads, no sites, a missing sample) would let the tests that use it pass vacuously.

Helpers that are not fixtures are in the ``helpers`` package beside this file (``tests/`` is
on ``sys.path`` because this is a rootdir conftest with no ``__init__.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest
from helpers.bam import sam_to_bam
from helpers.family import TINY_DONORS, TINY_FAMILY

from microchimera.io.sites import read_sites

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def edge_bam_fixture(tmp_path_factory):
    """``(bam, sites)``: ``data/count_edge.sam`` (hand-made counting edge cases of sample
    ``edge``) as a sorted, indexed BAM, and the 3 sites of ``data/count_edge_sites.tsv``."""
    bam = sam_to_bam(DATA / "count_edge.sam", tmp_path_factory.mktemp("edge") / "edge.bam")
    sites = read_sites(DATA / "count_edge_sites.tsv")
    n_records = sum(1 for line in (DATA / "count_edge.sam").read_text().splitlines() if not line.startswith("@"))
    with pysam.AlignmentFile(str(bam)) as af:
        assert af.header.to_dict()["RG"][0]["SM"] == "edge"
        assert sum(1 for _ in af.fetch(until_eof=True)) == n_records > 20
    assert sites.n_sites == 3
    return bam, sites


@pytest.fixture(scope="session")
def tiny_family_fixture(tmp_path_factory):
    """The tiny family (``helpers.family.TINY_FAMILY``) simulated with seed 7: a
    ``SimulationResult`` (reference, panel and family VCFs, PED, chrY regions, and the BAM of
    sample ``mother_mix``: the mother's tissue with her son's and daughter's DNA)."""
    from microchimera.sim import load_scenario, simulate

    sim = simulate(load_scenario(TINY_FAMILY), tmp_path_factory.mktemp("tiny_family"), np.random.default_rng(7),
                   seed=7)
    assert list(sim.bams) == ["mother_mix"]
    (truth,) = sim.truth["samples"]
    assert truth["host"] == "mother" and truth["fractions"] == TINY_DONORS
    assert read_sites(sim.sites_vcf).n_sites == TINY_FAMILY["panel"]["n_sites"]
    with pysam.AlignmentFile(str(sim.bams["mother_mix"])) as af:
        assert af.mapped > 5000
    with pysam.VariantFile(str(sim.family_vcf)) as vf:
        assert list(vf.header.samples) == ["father", "mother", "son", "daughter"]
    assert sim.ychrom_regions.stat().st_size > 0
    return sim
