"""The progress-bar helper: silent when disabled, draws on stderr when enabled."""
from __future__ import annotations

import io
import sys

from microchimera._progress import progress_bar


def test_progress_bar__disabled_is_silent(capsys):
    with progress_bar(False, "count x.bam", total=10) as advance:
        for _ in range(10):
            advance()
    assert capsys.readouterr() == ("", "")


def test_progress_bar__enabled_never_writes_stdout(monkeypatch, capsys):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress_bar(True, "count x.bam", total=4, unit="blocks") as advance:
        advance(2)
        advance(2)
    assert capsys.readouterr().out == ""  # bars go to stderr only (rich draws nothing off a terminal)
