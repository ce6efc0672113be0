"""Generated and copied docs (cli.md, result.schema.json) must match their sources."""
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


def test_result_schema__docs_copy_equals_the_shipped_one():
    from microchimera.workflow import SCHEMA_PATH

    assert (DOCS / "result.schema.json").read_bytes() == SCHEMA_PATH.read_bytes(), \
        "docs/result.schema.json differs from src/microchimera/model/result.schema.json: copy the package's one"
