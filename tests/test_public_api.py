"""The package's face: every public name resolves, and the README's importable packages exist."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import microchimera

README = Path(__file__).resolve().parents[1] / "README.md"


def test_public_api__every_name_in_all_resolves():
    assert len(microchimera.__all__) > 20
    for name in microchimera.__all__:
        assert getattr(microchimera, name) is not None, name


def test_public_api__readme_packages_are_attributes():
    named = re.findall(r"`microchimera\.(\w+)`", README.read_text(encoding="utf-8"))
    assert {"sim", "count", "model", "ychrom", "report", "cohort"} <= set(named)
    for name in named:
        assert name in microchimera.__all__, name
        assert getattr(microchimera, name).__name__ == f"microchimera.{name}"


def test_public_api__import_is_lazy():
    code = "import sys, microchimera; print('distributed' in sys.modules, 'microchimera.model' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
