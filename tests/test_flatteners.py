"""One donor, the same values in every per-donor table: result.tsv, cohort.tsv/Parquet, MultiQC,
the terminal table and the HTML cohort rows are all selections of ``result.donor_rows``."""
from __future__ import annotations

import csv
import json
import math

import pyarrow.parquet as pq
import pytest

from microchimera.cohort.engine import SampleOutcome
from microchimera.cohort.manifest import SampleSpec
from microchimera.cohort.table import write_cohort_table
from microchimera.report.html import cohort_rows as html_cohort_rows
from microchimera.report.multiqc import multiqc_document
from microchimera.result import CONTAMINATION_ROW, RESULT_TSV_COLUMNS, donor_rows, tsv_cell
from microchimera.workflow import result_tsv, summary_table

NUMERIC = ("fraction", "ci95_low", "ci95_high", "p_value", "geq_per_100k", "geq_ci95_low", "geq_ci95_high", "lod")


@pytest.fixture(scope="module")
def outputs_fixture(tmp_path_factory):
    """A quantified sample (son detected, daughter not) written as `run` and `cohort` write it."""
    from helpers.report import simulated_result

    doc = simulated_result(seed=7, n_sites=2000)
    # An inestimable donor as well: no informative sites, so no numbers at all.
    doc["donors"].append({**doc["donors"][1], "name": "loss", "fraction": None, "ci95": None, "p_value": None,
                          "detected": False, "geq_per_100k": None, "geq_per_100k_ci95": None, "lod": None,
                          "lod_geq_per_100k": None, "informative_sites": 0, "informative_reads": 0})
    out = tmp_path_factory.mktemp("flat")
    sample_dir = out / "samples" / doc["sample"]
    sample_dir.mkdir(parents=True)
    (sample_dir / "result.json").write_text(json.dumps(doc))
    (sample_dir / "result.tsv").write_text(result_tsv(doc))
    spec = SampleSpec(sample=doc["sample"], bams=("x.bam",), host="mum", tissue="brain", line=2)
    parquet, tsv = write_cohort_table([SampleOutcome(spec, "done", {})], out)
    return doc, sample_dir / "result.tsv", tsv, parquet


def _read_tsv(path) -> dict:
    with open(path, newline="") as fh:
        return {row["donor"]: row for row in csv.DictReader(fh, delimiter="\t")}


def test_donor_rows__one_row_per_donor_with_json_values(outputs_fixture):
    doc = outputs_fixture[0]
    rows = donor_rows(doc)
    assert [r.donor for r in rows] == ["son", "dau", "loss", CONTAMINATION_ROW]
    son = rows[0]
    assert son.detected is True and son.verdict == "detected"
    assert son.fraction == doc["donors"][0]["fraction"]
    assert (son.ci95_low, son.ci95_high) == tuple(doc["donors"][0]["ci95"])
    assert rows[2].fraction is None and rows[2].verdict == "no estimate"
    # The contamination component is the last row, from the document's top-level block.
    c = rows[3]
    assert c.relationship == "unknown unrelated" and c.fraction == doc["contamination"]["fraction"]
    assert c.verdict == ("detected: contamination" if doc["contamination"]["detected"] else "not detected")


def test_flatteners__result_tsv_cohort_tsv_parquet_and_multiqc_agree(outputs_fixture):
    doc, result_path, cohort_path, parquet_path = outputs_fixture
    result = _read_tsv(result_path)
    cohort = _read_tsv(cohort_path)
    mqc = multiqc_document(doc)["data"]
    table = pq.read_table(parquet_path).to_pylist()
    parquet = {r["donor"]: r for r in table}
    rows = donor_rows(doc)
    assert len(rows) == 4 and set(result) == set(cohort) == set(parquet) == {"son", "dau", "loss", CONTAMINATION_ROW}
    for r in rows:
        # Text files: the same cell, spelled by the one cell formatter, for every shared column.
        for col in RESULT_TSV_COLUMNS:
            assert result[r.donor][col] == cohort[r.donor][col] == tsv_cell(getattr(r, col)), (r.donor, col)
        # Parquet and MultiQC carry the values themselves.
        assert parquet[r.donor]["detected"] is r.detected and parquet[r.donor]["verdict"] == r.verdict
        key = f"{doc['sample']} | {r.donor}"
        assert mqc[key]["detected"] is r.detected and mqc[key]["verdict"] == r.verdict
        for col in NUMERIC:
            v = getattr(r, col)
            assert parquet[r.donor][col] == v
            if col in mqc[key]:
                assert mqc[key][col] == v
            elif col in ("fraction", "p_value", "geq_per_100k"):
                assert v is None  # MultiQC leaves out only missing values
    assert result["son"]["detected"] == "true" and result["dau"]["detected"] == "false"
    assert result["loss"]["fraction"] == "NA"


def test_flatteners__terminal_and_html_rows_show_the_row_values(outputs_fixture):
    doc = outputs_fixture[0]
    rows = donor_rows(doc)
    html = {r["donor"]: r for r in html_cohort_rows([doc])}
    table = summary_table(doc).splitlines()
    text = table[2:-2]
    assert len(text) == len(rows) == len(html) == 4
    for r, line in zip(rows, text, strict=True):
        assert line.split()[0] == r.donor
        assert html[r.donor]["verdict"] == r.verdict and html[r.donor]["detected"] is bool(r.detected)
        assert html[r.donor]["geq"] == r.geq_per_100k
        if r.fraction is not None:
            assert f"{r.fraction:.3g}" in line
            assert math.isclose(html[r.donor]["ci"][1], r.geq_ci95_high)
    assert text[0].rstrip().endswith("detected") and text[1].rstrip().endswith("not detected")
    assert text[2].rstrip().endswith("no estimate")
    # Issue 16 item 10: the LoD is a column, the truth column is the demo's only, and the
    # units and the verdict are defined under the table with the document's alpha.
    assert table[0].split()[:4] == ["donor", "relationship", "estimate", "95%"] and "LoD" in table[0]
    assert f"{rows[0].lod:.2g}" in text[0]
    assert "gEq/100k: donor genome equivalents per 100,000 host genomes" in table[-2]
    assert f"alpha = {doc['alpha']:g}" in table[-1]
    assert summary_table(doc, {"son": 0.003}).splitlines()[0].split()[:3] == ["donor", "relationship", "truth"]


def test_verdict__a_named_stranger_detected_is_contamination_not_a_surprise():
    """A typed unrelated donor (index hopping from another patient) that the relatedness test
    finds unrelated is what it was named as: 'detected: contamination', not 'looks unrelated'."""
    from microchimera.result import VERDICT_CONTAMINATION, VERDICT_LOOKS_UNRELATED, verdict

    stranger = {"name": "other", "relationship": "unrelated", "fraction": 1e-3, "detected": True}
    son = {"name": "son", "relationship": "child", "fraction": 1e-3, "detected": True}
    doc = {"relatedness_test": {"donors": [{"donor": "other", "verdict": "unrelated"},
                                           {"donor": "son", "verdict": "unrelated"}]}}
    assert verdict(stranger, doc) == VERDICT_CONTAMINATION
    assert verdict(son, doc) == VERDICT_LOOKS_UNRELATED
    assert verdict({**stranger, "detected": False}, doc) == "not detected"
