"""The HTML report opened in a real headless browser (Debian chromium, installed by .ci/run)."""
from __future__ import annotations

import html as htmlmod
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from helpers.report import simulated_result, ychrom_document

from microchimera.report import write_report

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium; "
                                "installed by .ci/run)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--virtual-time-budget=5000"]


def _png_pixels(path) -> np.ndarray:
    """RGB(A) pixels of a PNG as (h, w, c) floats in [0, 255] (matplotlib reads PNG via Pillow)."""
    from matplotlib import image

    return np.asarray(image.imread(str(path)), dtype=np.float64) * 255.0


@pytest.fixture(scope="module")
def page_fixture(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    doc = simulated_result()
    doc["sample"] = "<script>alert(1)</script>"
    html = write_report(doc, tmp / "report.html", ychrom_document(sample=doc["sample"]))
    return tmp, html


def _chromium(tmp, *args, timeout=90):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_report__renders_in_headless_chromium(page_fixture):
    tmp, html = page_fixture
    proc = _chromium(tmp, "--enable-logging=stderr", "--v=0", "--dump-dom", html.as_uri())
    assert proc.returncode == 0, proc.stderr[-3000:]
    dom = proc.stdout
    # our inline script ran (the CSP allowed it by hash) and found an SVG in every figure
    m = re.search(r'data-figures-expected="(\d+)"\s+data-figures-ok="(\d+)"', dom)
    assert m, "the page's script did not run"
    assert int(m.group(1)) == 6 and m.group(2) == m.group(1)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
               or "Content Security Policy" in line or "Refused to" in line]
    assert not console, console
    assert "alert(1)" in dom and "<script>alert(1)" not in dom


def test_report__screenshot_not_blank(page_fixture):
    tmp, html = page_fixture
    shot = tmp / "shot.png"
    proc = _chromium(tmp, f"--screenshot={shot}", "--window-size=1200,1600", html.as_uri())
    assert shot.exists(), proc.stderr[-3000:]
    px = _png_pixels(shot)[..., :3]
    assert px.shape[:2] == (1600, 1200)
    assert px.std() > 20  # a blank (white) page has std 0
    # the forest plot's blue and the text's black are both on screen
    assert ((px[..., 2] > 120) & (px[..., 0] < 80)).sum() > 200
    assert (px.sum(axis=2) < 150).sum() > 2000


#: Measures the page as laid out (run in a test copy of the report whose CSP allows it).
MEASURE_SCRIPT = """
(function () {
  var out = {width: window.innerWidth, tables: [], arrows: []};
  document.querySelectorAll("table").forEach(function (t) {
    var head = Array.prototype.map.call(t.querySelectorAll("tr:first-child th"), function (h) { return h.textContent; });
    if (head[0] !== "donor" || head.indexOf("verdict") < 0) { return; }
    var box = t.parentElement;
    out.tables.push({scroll: t.scrollWidth, client: box.clientWidth, box_scroll: box.scrollWidth,
                     page_scroll: document.documentElement.scrollWidth});
  });
  document.querySelectorAll("figure[data-figure$='-forest'] [id*='ci-reaches-0']").forEach(function (a) {
    var r = a.getBoundingClientRect(), s = a.closest("svg").getBoundingClientRect();
    out.arrows.push({id: a.id, width: r.width, height: r.height,
                     inside: r.left >= s.left - 1 && r.right <= s.right + 1 && r.width > 0});
  });
  document.body.setAttribute("data-measure", JSON.stringify(out));
})();
"""


def _measure(tmp, html_path, width: int) -> dict:
    """Lay the report out in a ``width``-px viewport and return :data:`MEASURE_SCRIPT`'s numbers."""
    page = html_path.read_text(encoding="utf-8")
    page, n = re.subn(r"script-src 'sha256-[^']+'", "script-src 'unsafe-inline'", page)
    assert n == 1
    probe = tmp / f"measure_{width}.html"
    probe.write_text(page.replace("</body>", f"<script>{MEASURE_SCRIPT}</script>\n</body>"), encoding="utf-8")
    proc = _chromium(tmp, f"--window-size={width},900", "--dump-dom", probe.as_uri())
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = re.search(r'data-measure="([^"]*)"', proc.stdout)
    assert m, "the measuring script did not run"
    return json.loads(htmlmod.unescape(m.group(1)))


def test_report__verdict_table_fits_1400px_and_ci_to_0_has_an_arrow(page_fixture):
    """Issue 16 item 13: at 1400 px the verdict table (13 columns, CI cells) fits its box
    (the CI cells wrapped onto three lines and the table still ran past the page), and the
    forest plot ends a CI reaching 0 (the daughter's and the contamination row's) in a
    visible arrow."""
    tmp, html = page_fixture
    got = _measure(tmp, html, 1400)
    assert got["width"] == 1400
    (table,) = got["tables"]
    assert table["scroll"] <= table["client"], table
    assert table["box_scroll"] <= table["client"] and table["page_scroll"] <= 1400, table
    assert len(got["arrows"]) == 2 and all(a["inside"] and a["height"] > 0 for a in got["arrows"]), got["arrows"]
