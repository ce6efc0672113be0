"""``run`` with the chrY channel: a female host with a son, simulated whole genome (issue 5, item 4)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.family import FAMILY, family_scenario

from microchimera.errors import InputError
from microchimera.io.pedigree import Pedigree
from microchimera.options import YChromOptions
from microchimera.result import (
    DonorEstimate,
    ObservedVsExpected,
    Overdispersion,
    QuantifyResult,
    RelatednessTest,
    SiteSummary,
)
from microchimera.sim import load_scenario, simulate
from microchimera.workflow import SampleInputs, run_pipeline
from microchimera.ychrom.inrun import add_y_estimate

SON_FRACTION = 1e-2


def _scenario() -> dict:
    return family_scenario(
        "ychrom_run",
        [{"name": "mother_heart", "host": "mother", "donors": {"son": SON_FRACTION}},
         {"name": "aunt_blood", "host": "aunt"},
         {"name": "father_blood", "host": "father"}],
        people=(*FAMILY, "aunt"),
        genome={"n_autosomes": 2, "autosome_length": 300_000, "chrx_length": 200_000, "chry_length": 1_000_000,
                "par1_length": 20_000, "par2_length": 10_000, "xtr_length": 40_000},
        panel={"n_sites": 3000},
        sequencing={"whole_genome": True, "depth": 20, "read_length": 100, "fragment_mean": 250})


@pytest.fixture(scope="module")
def run_sim_fixture(tmp_path_factory):
    d = tmp_path_factory.mktemp("ychrom_run")
    return simulate(load_scenario(_scenario()), d / "sim", np.random.default_rng(4), seed=4)


def _run(sim, outdir, *, host="mother", donors=("son", "daughter"), bams=None, y_regions=None, y_controls=()):
    """`run` on the simulated family; returns the result.json document."""
    inputs = SampleInputs(host=host, donors=donors, genotypes=sim.family_vcf, pedigree=sim.ped,
                          sites=sim.sites_vcf)
    result = run_pipeline(bams or [sim.bams["mother_heart"]], outdir=outdir, inputs=inputs,
                          ychrom=YChromOptions(regions=y_regions, controls=tuple(y_controls)))
    return result.to_json()


def test_run__female_host_with_son_writes_both_estimates_and_comparison(run_sim_fixture, tmp_path):
    sim = run_sim_fixture
    _run(sim, tmp_path, y_regions=sim.ychrom_regions, y_controls=[sim.bams["aunt_blood"]])
    doc = json.loads((tmp_path / "result.json").read_text())
    y = doc["ychrom"]
    assert y["status"] == "estimated"
    assert y["host_sex"]["pedigree"] == "female" and y["host_sex"]["inferred"] == "female"
    lo, hi = y["male_fraction"]["ci95"]
    assert lo <= SON_FRACTION <= hi and y["male_fraction"]["detected"]
    assert y["background"]["source"] == "controls"
    cmp = y["comparison"]
    assert cmp["status"] == "agree" and cmp["male_donors"] == ["son"] and abs(cmp["z"]) < 2.576
    by_name = {d["name"]: d for d in doc["donors"]}
    son, daughter = by_name["son"], by_name["daughter"]
    assert son["ci95"][0] <= SON_FRACTION <= son["ci95"][1]          # the SNP estimate is there too
    assert son["y_comparison"]["donor_sex"] == "male" and son["y_comparison"]["status"] == "agree"
    assert son["y_comparison"]["y_fraction"] == y["male_fraction"]["estimate"]
    assert daughter["y_comparison"] == {"donor_sex": "female", "in_y_channel": False}
    assert not any("chrY" in w for w in doc.get("warnings", []))


def test_run__y_signal_without_male_donor_is_flagged(run_sim_fixture, tmp_path):
    """The son's DNA is there but only the daughter is named: an unknown male source."""
    sim = run_sim_fixture
    doc = _run(sim, tmp_path, donors=["daughter"], y_regions=sim.ychrom_regions)
    cmp = doc["ychrom"]["comparison"]
    assert cmp["status"] == "y_signal_without_male_donor" and "unknown_male_source" in cmp["flags"]
    assert any("no donor in the pedigree is male" in w for w in doc["warnings"])
    assert json.loads((tmp_path / "result.json").read_text())["ychrom"]["comparison"]["status"] == cmp["status"]


def test_run__without_y_options_no_ychrom_block(run_sim_fixture, tmp_path):
    doc = _run(run_sim_fixture, tmp_path, donors=["son"])
    assert "ychrom" not in doc


def test_run__male_host_skips_y_channel(run_sim_fixture, tmp_path):
    sim = run_sim_fixture
    doc = _run(sim, tmp_path, host="father", donors=["son"], bams=[sim.bams["father_blood"]],
               y_regions=sim.ychrom_regions)
    assert doc["ychrom"]["status"] == "skipped" and "host is male" in doc["ychrom"]["reason"]
    assert doc["donors"][0]["y_comparison"] is None


def test_run__male_host_whose_reads_look_female_is_said(run_sim_fixture, tmp_path):
    """Issue 16 item 8: PED says male, the reads are a woman's (the aunt's): the chrY estimate
    was skipped silently (exit 0, warnings: [])."""
    sim = run_sim_fixture
    doc = _run(sim, tmp_path, host="father", donors=["son"], bams=[sim.bams["aunt_blood"]],
               y_regions=sim.ychrom_regions)
    assert doc["ychrom"]["status"] == "skipped" and "reads look female" in doc["ychrom"]["reason"]
    assert any("PED says the host 'father' is male but the reads look female" in w for w in doc["warnings"])


def test_run__reads_look_male_for_a_female_host_recorded_not_raised(run_sim_fixture, tmp_path):
    """PED says female, reads say male (a swapped sample): the SNP result stays, the Y block says why."""
    sim = run_sim_fixture
    doc = _run(sim, tmp_path, bams=[sim.bams["father_blood"]], y_regions=sim.ychrom_regions)
    assert doc["ychrom"]["status"] == "error" and "looks male" in doc["ychrom"]["reason"]
    assert any("chrY estimate not made" in w for w in doc["warnings"])
    assert doc["donors"]


def test_run__male_control_is_an_error(run_sim_fixture, tmp_path):
    sim = run_sim_fixture
    with pytest.raises(InputError, match="control .* looks male"):
        _run(sim, tmp_path, y_regions=sim.ychrom_regions, y_controls=[sim.bams["father_blood"]])


# ----------------------------------------------------------------------------- add_y_estimate alone
def _result():
    """A one-donor result with no site data (the chrY channel reads only donors and host)."""
    empty = {"in_counts": 0, "autosomal": 0, "used": 0, "informative": 0, "reads_used": 0, "max_depth": None,
             "dropped": {}, "af_source": "sites", "blocks": 0}
    return QuantifyResult(sample="mum_heart", host="mum", mode="family", alpha=0.05,
                          donors=(DonorEstimate("son", "child", True, fraction=0.01, ci95=(0.008, 0.012)),),
                          error_rates={}, overdispersion=Overdispersion(), sites=SiteSummary(**empty),
                          untyped_people=(), mendel=(), warnings=(), relatedness_test=RelatednessTest(),
                          observed_vs_expected=ObservedVsExpected())


def _ped():
    return Pedigree.from_records([("f", "mum", None, None, 2), ("f", "dad", None, None, 1),
                                  ("f", "son", "dad", "mum", 1)], source="test")


def test_add_y_estimate__no_regions_skips():
    res = add_y_estimate(_result(), ["x.bam"], pedigree=_ped())
    block = res.to_json()["ychrom"]
    # run's flags, not ychrom's (issue 16 item 7)
    assert block["status"] == "skipped" and "--y-build or --y-regions" in block["reason"]
    assert res.to_json()["donors"][0]["y_comparison"] is None


def test_add_y_estimate__several_bams_skip():
    res = add_y_estimate(_result(), ["a.bam", "b.bam"], pedigree=_ped(), options=YChromOptions(regions="y.bed"))
    assert res.ychrom.status == "skipped" and "2 BAM files" in res.ychrom.reason


def test_quantify_result__no_y_comparison_key_without_the_chry_channel():
    doc = _result().to_json()
    assert "ychrom" not in doc and "y_comparison" not in doc["donors"][0]


def test_cli_run__y_options_print_the_chry_estimate_and_write_report(run_sim_fixture, tmp_path, capsys):
    from microchimera import cli

    sim = run_sim_fixture
    code = cli.main(["run", str(sim.bams["mother_heart"]), "--genotypes", str(sim.family_vcf),
                     "--pedigree", str(sim.ped), "--sites", str(sim.sites_vcf), "--host", "mother",
                     "--donors", "son,daughter", "--y-regions", str(sim.ychrom_regions),
                     "--y-controls", str(sim.bams["aunt_blood"]), "--outdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "chrY male DNA:" in out and "agree" in out
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert list(tmp_path.glob("*_microchimera_mqc.json"))
