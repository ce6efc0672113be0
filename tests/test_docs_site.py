"""The documentation site (mkdocs.yml, docs/) builds with ``mkdocs build --strict``.

Strict mode turns every warning into a failure: a broken relative link or anchor in any page
(validation/README.md and benchmarks/README.md included, through docs/hooks/external_pages.py),
a nav entry without its file, or a page of docs/ left out of the nav.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build__strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install '.[docs]' or '.[test]')")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # material's end-of-life banner
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    for page in ("index.html", "cli/index.html", "result/index.html", "model/index.html",
                 "tutorials/index.html", "validation/index.html", "benchmarks/index.html"):
        assert (site / page).is_file(), page
    # the generated pages carry the READMEs' own sections, not a stub
    for page, readme in (("validation", "validation/README.md"), ("benchmarks", "benchmarks/README.md")):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        sections = [line[3:].strip() for line in (ROOT / readme).read_text(encoding="utf-8").splitlines()
                    if line.startswith("## ")]
        assert sections and all(f">{escape(s, quote=False)}<" in html for s in sections if not set("`*_[") & set(s)), (page, sections)
    # files under docs/ that are not pages stay out of the site
    assert not (site / "hooks").exists() and not (site / "make_cli_md.py").exists()


def test_external_pages__links_rewritten():
    """README links to docs/ pages point to the site's page; links to other repository
    files become code paths; URLs and anchors are untouched."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install '.[docs]' or '.[test]')")
    spec = importlib.util.spec_from_file_location("external_pages", ROOT / "docs/hooks/external_pages.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = ("[model](../docs/model.md#units) and [the script](recover_fraction.py), "
            "[`validation/lod_power.py`](lod_power.py), [web](https://example.org/x.md), "
            "[here](#power)")
    out = mod.rewrite_links(text, "validation/README.md", "validation.md", "docs")
    assert out == ("[model](model.md#units) and the script (`validation/recover_fraction.py`), "
                   "`validation/lod_power.py`, [web](https://example.org/x.md), [here](#power)")
