"""docs/cli.md is generated from the parser and must be current."""
from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_cli_md__is_current(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    spec = importlib.util.spec_from_file_location("make_cli_md", DOCS / "make_cli_md.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == mod.render(), \
        "docs/cli.md is stale: run `python docs/make_cli_md.py`"
