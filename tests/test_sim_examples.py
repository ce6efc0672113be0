"""Every example scenario simulates (shrunk to a few hundred sites / low depth)."""
import json
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import numpy as np
import pytest

from microchimera.sim import load_scenario, simulate

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))


def _shrink(data: dict) -> dict:
    data.setdefault("panel", {})["n_sites"] = 200
    seq = data.setdefault("sequencing", {})
    seq["depth"] = min(seq.get("depth", 100), 8 if seq.get("whole_genome") else 20)
    genome = data.setdefault("genome", {})
    if seq.get("whole_genome"):
        genome.update(autosome_length=30000, chrx_length=60000, chry_length=60000)
    return data


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples__simulate_shrunk(path, tmp_path):
    data = _shrink(tomllib.loads(path.read_text()))
    res = simulate(load_scenario(data), tmp_path, np.random.default_rng(0), seed=0)
    truth = json.loads(res.truth_json.read_text())
    assert len(truth["samples"]) == len(data["samples"]) > 0
    for s in truth["samples"]:
        assert res.bams[s["name"]].exists()
        assert set(s["empirical_fractions"]) <= set(s["fractions"])
    if data["sequencing"].get("fastq"):
        assert set(res.fastq) == set(res.bams)
        assert all(p.exists() for pair in res.fastq.values() for p in pair)
