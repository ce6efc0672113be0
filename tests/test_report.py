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


# ----------------------------------------------------------------------------- issue 16 item 13
def _table_cells(html: str, key: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells (tags stripped) of the verdict table (the first whose header
    starts with donor, relationship) or of the cohort table (the first in the cohort section)."""
    if key == "verdict":
        block = re.search(r"<table[^>]*>\s*<tr><th>donor</th><th>relationship</th>.*?</table>", html, re.S).group(0)
    else:
        block = re.search(r"<table[^>]*>.*?</table>", html.split('<section id="cohort">', 1)[1], re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", block, flags=re.S)

    def cells(row, tag):
        return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", row, re.S)]

    return cells(rows[0], "th"), [cells(r, "td") for r in rows[1:]]


def _number_kind(text: str) -> str:
    """'sci', 'fixed<decimals>' or 'other' of one number as the report prints it."""
    if re.fullmatch(r"-?\d\.\d+e-?\d+", text):
        return "sci"
    m = re.fullmatch(r"-?[\d,]+(?:\.(\d+))?", text)
    return f"fixed{len(m.group(1) or '')}" if m else "other"


def test_render_report__one_number_format_per_column(result_fixture):
    """Item 13: a column never mixes 9.85e-04 with 0.00134 (nor 2.1e-06 with 0.031)."""
    doc = copy.deepcopy(result_fixture)
    # values on both sides of 1e-3, as in a real report (CIs from 1e-5 to 1e-3, p from 1e-19 to 0.2)
    doc["donors"][0]["ci95"] = [4.7e-4, 1.34e-3]
    doc["donors"][1]["p_value"] = 0.031
    doc["donors"][-1]["p_value"] = 1.0  # a donor at 0: reads 1, not 1.00e0
    header, rows = _table_cells(render_report(doc), "verdict")
    assert [r[header.index("p-value")] for r in rows][-1] == "1"
    numeric = ["fraction", "gEq/100k", "p-value", "LoD (fraction)", "LoD (gEq/100k)"]
    for name in numeric:
        col = header.index(name)
        cells = [r[col] for r in rows if r[col] not in ("n/a", "0", "1")]
        if name in ("fraction", "gEq/100k"):  # the estimate and its CI share one format
            cells += [end for r in rows for end in r[col + 1].split(" – ") if r[col + 1] != "n/a" and end != "0"]
        kinds = {_number_kind(c) for c in cells}
        assert len(kinds) == 1 and "other" not in kinds, (name, cells)


def test_write_report__names_the_result_file_not_result_1(tmp_path, result_fixture):
    """Item 13: run and demo write result.json, then the report from the same dict."""
    (tmp_path / "result.json").write_text(json.dumps(result_fixture, indent=2))
    html = write_report(result_fixture, tmp_path / "report.html").read_text()
    assert 'file <span class="mono">result.json</span>' in html and "result 1" not in html
    # a dict that is not that file is not given its name, nor a made-up one
    other = copy.deepcopy(result_fixture)
    other["sample"] = "someone_else"
    html = write_report(other, tmp_path / "other.html").read_text()
    assert "result.json" not in html and "result 1" not in html and "· file" not in html
    html = render_report(result_fixture, sources=["runs/brain/result.json"])
    assert 'file <span class="mono">runs/brain/result.json</span>' in html


def _donor_at_zero() -> dict:
    """A donor estimated at 0 whose profile falls fast on a grid that runs on to 1.5 LoD."""
    grid = [i * 5e-5 for i in range(41)]  # 0 .. 2e-3
    return {"name": "dau", "fraction": 0.0, "ci95": [0.0, 4e-5], "detected": False, "p_value": 1.0,
            "geq_per_100k": 0.0, "geq_per_100k_ci95": [0.0, 4.0], "lod": 1.3e-3, "lod_geq_per_100k": 130.0,
            "ci_inflation": 1.0, "profile": {"fraction": grid, "delta_loglik": [-4.8e4 * v for v in grid]}}


def test_forest_plot__a_ci_reaching_0_ends_in_an_arrow(result_fixture):
    """Item 13: the arrow docs/report.md promises, in the SVG as ``<prefix>-ci-reaches-0-<row>``."""
    from microchimera.report import figures

    son = result_fixture["donors"][0]
    assert son["geq_per_100k_ci95"][0] > 0
    svg = figures.forest_plot([son, _donor_at_zero()], "p")
    assert re.findall(r'id="(p-ci-reaches-0-\d+)"', svg) == ["p-ci-reaches-0-1"]
    assert "ci-reaches-0" not in figures.forest_plot([son], "q")
    # the report draws the contamination row too (its CI reaches 0 in this fixture)
    html = render_report(result_fixture)
    assert result_fixture["contamination"]["geq_per_100k_ci95"][0] == 0
    assert "s0-forest-ci-reaches-0-2" in html


def test_error_rate_figure__bars_from_0(result_fixture):
    """Item 13: a log axis cut at the smallest rate made a 10% difference look like 3x."""
    from microchimera.report import figures

    fig = figures.error_rate_figure(result_fixture["error_rates"])
    (ax,) = fig.axes
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    assert max(p.get_height() for p in ax.patches) <= ax.get_ylim()[1]


def test_profile_figure__a_donor_at_0_is_not_a_sliver():
    """Item 13: the curve of a donor at 0 spans most of its panel, not its first 5%."""
    from microchimera.report import figures

    d = _donor_at_zero()
    (ax,) = [a for a in figures.profile_figure([d]).axes if a.get_visible()]
    lo, hi = ax.get_xlim()
    ylo = ax.get_ylim()[0]
    visible = [x for x, y in zip(d["profile"]["fraction"], d["profile"]["delta_loglik"], strict=True) if y >= ylo]
    assert (max(visible) - max(lo, 0)) / (hi - lo) > 0.5
    assert lo < 0  # the estimate line at 0 is not hidden under the spine
    assert any("off scale" in t.get_text() for leg in [ax.get_legend()] if leg for t in leg.get_texts())


def test_y_vs_snp_figure__in_the_forest_plots_unit(result_fixture):
    """Item 13: chrY and SNP estimates in gEq/100k, the forest plot's axis (was: fraction)."""
    from microchimera.report import figures
    from microchimera.report.html import _y_estimate

    y = _y_estimate({"sample": "mum_brain"}, [ychrom_document()])
    fig = figures.y_vs_snp_figure(y, result_fixture["donors"])
    (ax,) = fig.axes
    assert ax.get_xlabel() == figures.forest_figure(result_fixture["donors"]).axes[0].get_xlabel()
    chry = ax.lines[1].get_xdata()[0]  # lines[0]: its CI
    assert chry == pytest.approx(ychrom_document()["samples"][0]["male_fraction"]["geq_per_100k"])
    son = [line.get_xdata()[0] for line in ax.lines if line.get_marker() == "o"][1]
    assert son == pytest.approx(result_fixture["donors"][0]["geq_per_100k"])
    html = render_report(result_fixture, ychrom_document())
    assert "male DNA 280 gEq/100k (95% CI 225 – 337)" in html


def test_power_curve_plot__the_power_line_is_labelled():
    """Item 13: the dotted 0.95 line of ``microchimera power --plot`` had no label."""
    from microchimera.report.figures import power_curve_plot

    fig = power_curve_plot([1e-5, 1e-4, 1e-3], [0.05, 0.5, 1.0], power_target=0.95)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("0.95" in t for t in texts), texts


def test_render_report__cohort_view_shows_lod_p_chry_and_tissue(result_fixture):
    """Item 13: the cohort table had sample, host, donor, verdict and gEq only."""
    heart = copy.deepcopy(result_fixture)
    heart["sample"], heart["tissue"] = "mum_heart", "heart"
    html = render_report([result_fixture, heart], ychrom_document(sample="mum_heart"), details=False)
    header, rows = _table_cells(html, "cohort")
    for name in ("tissue", "LoD (gEq/100k)", "p-value", "chrY male DNA (gEq/100k)", "chrY 95% CI"):
        assert name in header
    by = {(r[header.index("sample")], r[header.index("donor")]): dict(zip(header, r, strict=True)) for r in rows}
    son = by[("mum_heart", "son")]
    assert son["tissue"] == "heart" and by[("mum_brain", "son")]["tissue"] == ""
    assert float(son["LoD (gEq/100k)"]) == pytest.approx(result_fixture["donors"][0]["lod_geq_per_100k"], rel=0.01)
    assert float(son["p-value"]) == pytest.approx(result_fixture["donors"][0]["p_value"], rel=0.05)
    assert son["chrY male DNA (gEq/100k)"] == "280" and son["chrY 95% CI"] == "225 – 337"
    # the ychrom.json names mum_heart: mum_brain is not given its estimate
    assert by[("mum_brain", "son")]["chrY male DNA (gEq/100k)"] == "not run"
