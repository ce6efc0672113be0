"""HTML report, MultiQC custom content and the ``report`` command."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import pytest
from helpers.report import simulated_result, ychrom_document

from microchimera.cli import main
from microchimera.report import render_report, write_multiqc, write_report
from microchimera.report.multiqc import multiqc_document

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def result_fixture():
    return simulated_result()


@pytest.fixture(scope="module")
def evil_html_fixture(result_fixture):
    doc = copy.deepcopy(result_fixture)
    doc["sample"] = EVIL
    doc["donors"][0]["name"] = "son --><script>alert(2)</script>"
    doc["warnings"] = [EVIL]
    doc["provenance"]["command"] = f"microchimera run '{EVIL}'"
    return render_report(doc, ychrom_document(sample=EVIL))


def test_render_report__escapes_user_strings(evil_html_fixture):
    html = evil_html_fixture
    scripts = re.findall(r"<script\b", html, flags=re.I)
    assert len(scripts) == 1  # only our own script at the end of the page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "alert(2)" in html and "<script>alert(2)" not in html
    assert "<!--" not in html  # SVG comments (which echo names) are stripped


def test_render_report__self_contained(evil_html_fixture):
    html = evil_html_fixture
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # no resource is fetched: no external src/href and no stylesheet links
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "<link" not in html and "@import" not in html


def test_render_report__every_section_and_figure(result_fixture):
    html = render_report(result_fixture, ychrom_document())
    figs = re.findall(r'<figure data-figure="([^"]+)"', html)
    assert figs == ["s0-forest", "s0-ove", "s0-profile", "s0-chrom", "s0-errors", "s0-y"]
    for fig in figs:  # each figure holds one inline SVG with its own id prefix
        block = html.split(f'<figure data-figure="{fig}">', 1)[1].split("</figure>", 1)[0]
        assert block.count("<svg") == 1 and 'data-figure="' in block
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids repeat across figures"
    for text in ("Verdict per donor", "Relatedness test", "chrY estimate beside the SNP estimate",
                 "Sequencing error by substitution class", "Per-chromosome estimates", "command", "seed",
                 "microchimera run mum.bam --seed 7", "son", "dau"):
        assert text in html


def test_render_report__missing_fields_are_left_out():
    doc = {"sample": "s", "host": "h", "donors": [{"name": "kid", "fraction": None}]}
    html = render_report(doc)
    assert "no estimate" in html
    assert "Not in this result file" in html and "error_rates" in html
    assert "<figure" not in html or 'data-figure="s0-forest"' in html


def test_render_report__cohort_view(result_fixture):
    other = copy.deepcopy(result_fixture)
    other["sample"] = "mum_heart"
    other["tissue"] = "heart"
    html = render_report([result_fixture, other], details=False)
    assert 'data-figure="cohort"' in html and "heart" in html and "mum_brain" in html
    assert 'data-figure="s0-forest"' not in html  # summary only


def test_write_report__cli_positional_ychrom_and_errors(tmp_path, result_fixture, capsys):
    res, yj, out = tmp_path / "result.json", tmp_path / "ychrom.json", tmp_path / "report.html"
    res.write_text(json.dumps(result_fixture))
    yj.write_text(json.dumps(ychrom_document()))
    assert main(["report", str(res), str(yj), "--out", str(out), "--multiqc", str(tmp_path / "mqc")]) == 0
    html = out.read_text()
    assert 'data-figure="s0-y"' in html
    assert (tmp_path / "mqc" / "mum_brain_microchimera_mqc.json").exists()
    assert str(out) in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["report", str(bad), "--out", str(tmp_path / "x.html")]) == 1
    assert "bad.json: not valid JSON" in capsys.readouterr().err
    bad.write_text(json.dumps({"schema_version": "1"}))
    assert main(["report", str(bad), "--out", str(tmp_path / "x.html")]) == 1
    assert "not a microchimera result document" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_write_report__returns_path(tmp_path, result_fixture):
    assert write_report(result_fixture, tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_multiqc_document__one_row_per_donor(result_fixture):
    doc = multiqc_document(result_fixture)
    assert doc["id"] == "microchimera" and doc["plot_type"] == "table"
    assert set(doc["data"]) == {"mum_brain | son", "mum_brain | dau", "mum_brain | contamination"}
    assert doc["data"]["mum_brain | son"]["geq_per_100k"] == result_fixture["donors"][0]["geq_per_100k"]


def test_write_multiqc__real_multiqc_finds_our_section(tmp_path, result_fixture):
    pytest.importorskip("multiqc", reason="multiqc is not installed (pip install '.[test]')")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("brain", "heart"):
        doc = copy.deepcopy(result_fixture)
        doc["sample"] = name
        write_multiqc(doc, data)
    out = tmp_path / "mqc_out"
    proc = subprocess.run([sys.executable, "-m", "multiqc", str(data), "-o", str(out), "--no-ansi", "-f",
                           "--no-version-check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    mqc = json.loads((out / "multiqc_data" / "multiqc_data.json").read_text())
    table = mqc["report_saved_raw_data"]["multiqc_microchimera_table"]
    assert set(table) == {f"{s} | {d}" for s in ("brain", "heart") for d in ("son", "dau", "contamination")}
    assert table["brain | son"]["geq_per_100k"] == pytest.approx(result_fixture["donors"][0]["geq_per_100k"])
    assert "microchimera_table" in mqc["report_plot_data"]
    assert "microchimera: donor fractions" in (out / "multiqc_report.html").read_text()
