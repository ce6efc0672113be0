"""A small whole-genome-like BAM for the sparse-site reader tests."""
from __future__ import annotations

import numpy as np

from helpers.family import PEOPLE
from microchimera.io.sites import read_sites
from microchimera.sim import load_scenario, simulate


def simulate_wgs(outdir, seed: int):
    """Reads tiling two 1.5 Mb autosomes (~10x, with indels, soft clips and 5% duplicates)
    and 100 sites at uniform random positions (one per ~30 kb, a genome-wide panel's
    density) in ``outdir``; returns (BAM with its .bai, sites)."""
    people = [PEOPLE[p] for p in ("father", "mother", "son")]
    scenario = {"name": "wgs", "genome": {"n_autosomes": 2, "autosome_length": 1_500_000},
                "panel": {"n_sites": 100},
                "sequencing": {"whole_genome": True, "depth": 8, "indel_rate": 0.05, "soft_clip_rate": 0.05,
                               "duplicate_rate": 0.05},
                "family": {"people": people},
                "samples": [{"name": "blood", "host": "mother", "donors": {"son": 0.05}}]}
    sim = simulate(load_scenario(scenario), outdir, np.random.default_rng(seed), seed=seed)
    return sim.bams["blood"], read_sites(sim.sites_vcf)
