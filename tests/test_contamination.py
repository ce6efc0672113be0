"""Microchimerism or contamination (issue 12), end to end through the CLI on simulated reads.

The mother's blood holds her son's DNA (0.5%) and a stranger's (2%, untyped: nobody in the
VCF).  With the default contamination component the stranger is reported as
``contamination`` in every table and the son keeps his own fraction; without it the son
absorbs the stranger, and every table says that his DNA looks unrelated.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers.family import PEOPLE
from test_report_browser import CHROMIUM, _chromium

from microchimera.cli import main
from microchimera.cohort.table import _RESULT_COLUMNS
from microchimera.report import write_report
from microchimera.result import (
    CONTAMINATION_ROW,
    VERDICT_CONTAMINATION,
    VERDICT_LOOKS_UNRELATED,
    donor_rows,
)
from microchimera.sim import load_scenario, simulate

SON, STRANGER = 5e-3, 2e-2
SCENARIO = {
    "name": "contam_test", "panel": {"n_sites": 1500}, "sequencing": {"depth": 80},
    "family": {"people": [dict(PEOPLE["father"]), dict(PEOPLE["mother"]), dict(PEOPLE["son"]),
                          {**PEOPLE["neighbour"], "typed": False}]},
    "samples": [{"name": "mum_blood", "host": "mother", "donors": {"son": SON, "neighbour": STRANGER}}],
}


@pytest.fixture(scope="module")
def runs_fixture(tmp_path_factory):
    """``(sim, {"default": outdir, "off": outdir})``: `run` with and without the component."""
    tmp = tmp_path_factory.mktemp("contam")
    sim = simulate(load_scenario(SCENARIO), tmp / "sim", np.random.default_rng(5), seed=5)
    outs = {}
    for name, extra in (("default", []), ("off", ["--no-contamination-component"])):
        out = tmp / name
        code = main(["run", str(sim.bams["mum_blood"]), "--genotypes", str(sim.family_vcf), "--pedigree",
                     str(sim.ped), "--host", "mother", "--donors", "son", "--sites", str(sim.sites_vcf), "--outdir", str(out),
                     *extra])
        assert code == 0 and (out / "result.json").exists()
        outs[name] = out
    return sim, outs


def _doc(outdir) -> dict:
    return json.loads((outdir / "result.json").read_text())


def _tsv(outdir) -> dict:
    lines = (outdir / "result.tsv").read_text().splitlines()
    head = lines[0].split("\t")
    return {row["donor"]: row for row in (dict(zip(head, line.split("\t"), strict=True)) for line in lines[1:])}


def _mqc(outdir) -> dict:
    (path,) = outdir.glob("*_mqc.json")
    return json.loads(path.read_text())["data"]


def test_run__contamination_component_reports_the_stranger_and_keeps_the_son(runs_fixture):
    _, outs = runs_fixture
    doc = _doc(outs["default"])
    c = doc["contamination"]
    assert c["fitted"] and c["detected"] and c["identifiability"] == "good"
    # 1500 sites at 80x: SE of the contamination fraction ~1e-3; these are 3-SE checks.
    assert abs(c["fraction"] - STRANGER) < 4e-3 and c["ci95"][0] <= STRANGER <= c["ci95"][1] + 1e-3
    son = next(d for d in doc["donors"] if d["name"] == "son")
    assert son["ci95"][0] <= SON <= son["ci95"][1] and son["fraction"] < 2.5 * SON
    assert any("contamination: DNA of an unknown unrelated person detected" in w for w in doc["warnings"])
    # The contamination row is in every table, with its verdict.
    assert _tsv(outs["default"])[CONTAMINATION_ROW]["verdict"] == VERDICT_CONTAMINATION
    assert _mqc(outs["default"])[f"mum_blood | {CONTAMINATION_ROW}"]["verdict"] == VERDICT_CONTAMINATION
    assert "verdict" in _RESULT_COLUMNS  # cohort.tsv / cohort.parquet carry the same column


def test_run__without_the_component_the_son_looks_unrelated_everywhere(runs_fixture, capsys):
    _, outs = runs_fixture
    doc = _doc(outs["off"])
    assert doc["contamination"] == {"fitted": False}
    son = next(d for d in doc["donors"] if d["name"] == "son")
    assert son["detected"] and son["fraction"] > 2 * SON  # he absorbed the stranger
    (test,) = [t for t in doc["relatedness_test"]["donors"] if t["donor"] == "son"]
    assert test["verdict"] == "unrelated" and test["log_likelihood_ratio"] < -np.log(20)
    assert any("looks unrelated" in w for w in doc["warnings"])
    assert _tsv(outs["off"])["son"]["verdict"] == VERDICT_LOOKS_UNRELATED
    assert _mqc(outs["off"])["mum_blood | son"]["verdict"] == VERDICT_LOOKS_UNRELATED
    assert {r.donor: r.verdict for r in donor_rows(doc)}["son"] == VERDICT_LOOKS_UNRELATED
    assert CONTAMINATION_ROW not in _tsv(outs["off"])


def test_run__terminal_table_shows_the_verdicts(runs_fixture, capsys):
    sim, outs = runs_fixture
    code = main(["report", str(outs["off"] / "result.json"), "--out", str(outs["off"] / "again.html")])
    assert code == 0
    capsys.readouterr()
    code = main(["quantify", str(outs["default"] / "counts.parquet"), "--genotypes", str(sim.family_vcf),
                 "--pedigree", str(sim.ped), "--host", "mother", "--sites", str(sim.sites_vcf), "--out",
                 str(outs["default"] / "again.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^contamination\s+unknown unrelated\s.*detected: contamination\s*$", out, re.M), out
    # -q: the table still prints (it is the result), the warnings do not (issue 16 item 11).
    code = main(["quantify", str(outs["default"] / "counts.parquet"), "--genotypes", str(sim.family_vcf),
                 "--pedigree", str(sim.ped), "--host", "mother", "--sites", str(sim.sites_vcf), "--out",
                 str(outs["default"] / "again.json"), "-q"])
    quiet = capsys.readouterr()
    assert code == 0 and quiet.err == "" and "detected: contamination" in quiet.out


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (installed by .ci/run)")
def test_report__verdict_badge_says_contamination_in_the_browser(runs_fixture, tmp_path):
    _, outs = runs_fixture
    html = write_report(_doc(outs["off"]), tmp_path / "off.html")
    proc = _chromium(tmp_path, "--dump-dom", html.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    badges = re.findall(r'<span class="badge ([\w-]+)">([^<]+)</span>', proc.stdout)
    assert ("warning", VERDICT_LOOKS_UNRELATED) in badges, badges
    html = write_report(_doc(outs["default"]), tmp_path / "default.html")
    proc = _chromium(tmp_path, "--dump-dom", html.as_uri())
    badges = re.findall(r'<span class="badge ([\w-]+)">([^<]+)</span>', proc.stdout)
    assert ("warning", VERDICT_CONTAMINATION) in badges, badges


def test_quantify__bad_donor_and_contaminant_lists(runs_fixture, tmp_path, capsys):
    sim, outs = runs_fixture
    base = ["quantify", str(outs["default"] / "counts.parquet"), "--genotypes", str(sim.family_vcf),
            "--pedigree", str(sim.ped), "--host", "mother", "--sites", str(sim.sites_vcf),
            "--out", str(tmp_path / "r.json")]
    assert main([*base, "--donors", ","]) == 2
    err = capsys.readouterr().err
    assert "--donors names nobody" in err and "Traceback" not in err
    assert main([*base, "--donors", "son,father", "--contaminants", "father"]) == 2
    err = capsys.readouterr().err
    assert "'father' named both as a donor and as a contaminant" in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()
    # A known contaminant is fitted by name and not tested for relatedness.
    assert main([*base, "--donors", "son", "--contaminants", "father"]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(d["name"], d["relationship"]) for d in doc["donors"]] == [("son", "child"),
                                                                        ("father", "known contaminant")]
    assert [t["donor"] for t in doc["relatedness_test"]["donors"]] == ["son"]


def test_quantify__contamination_only_sample_with_no_relatives(runs_fixture, tmp_path, capsys):
    sim, outs = runs_fixture
    ped = tmp_path / "alone.ped"
    ped.write_text("fam\tmother\t0\t0\t2\t0\n")
    args = ["quantify", str(outs["default"] / "counts.parquet"), "--genotypes", str(sim.family_vcf),
            "--pedigree", str(ped), "--host", "mother", "--sites", str(sim.sites_vcf)]
    assert main([*args, "--out", str(tmp_path / "r.json")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["donors"] == [] and doc["contamination"]["fitted"] and doc["contamination"]["detected"]
    # The son's and the stranger's DNA are both non-host DNA of nobody in this PED.
    assert doc["contamination"]["fraction"] > STRANGER / 2
    assert [r.donor for r in donor_rows(doc)] == [CONTAMINATION_ROW]
    capsys.readouterr()
    assert main([*args, "--no-contamination-component", "--out", str(tmp_path / "r2.json")]) == 1
    err = capsys.readouterr().err
    assert "no relatives" in err and "Traceback" not in err
