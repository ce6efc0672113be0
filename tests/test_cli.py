"""Tests of the command-line frame (parser, exit codes, error printing)."""
import argparse
import re

import pytest

from microchimera import __version__, cli


def test_main__no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: microchimera" in capsys.readouterr().err


def test_main__version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("func, text, expected", [
    (cli.positive_int, "3", 3), (cli.non_negative_int, "0", 0), (cli.probability, "0.5", 0.5),
])
def test_argument_types__accept_valid(func, text, expected):
    assert func(text) == expected


@pytest.mark.parametrize("func, text", [
    (cli.positive_int, "0"), (cli.positive_int, "x"), (cli.non_negative_int, "-1"),
    (cli.probability, "1.5"), (cli.probability, "p"),
])
def test_argument_types__reject_invalid(func, text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected"):
        func(text)


def test_comma_list__drops_empty_items():
    assert cli.comma_list("a, b,,c") == ["a", "b", "c"]


def test_logging_format__warnings_are_spelled_like_the_cli_s_own():
    """Issue 16 item 15: 'WARNING:' (logging) and 'warning:' (the CLI) both appeared."""
    import logging

    record = logging.LogRecord("microchimera.x", logging.WARNING, __file__, 1, "no @RG line", None, None)
    assert cli._LowerLevelFormatter("microchimera: %(levelname)s: %(message)s").format(record) == \
        "microchimera: warning: no @RG line"
    assert record.levelname == "WARNING"  # the record other handlers see is not changed


def test_power__depth_needed_is_written_as_a_number_a_person_reads(capsys):
    """Issue 16 item 15: 'depth_needed=3.5e+03'."""
    assert cli.main(["power", "--sites", "20000", "--depth", "100", "--fraction", "1e-4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"depth_needed=\d{1,3}(,\d{3})+\b", out), out


def test_quiet__means_results_only_everywhere(capsys):
    """Issue 16 item 11: `power -q` printed nothing at all while `quantify -q` printed its table."""
    assert cli.main(["power", "--sites", "20000", "--depth", "100", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("lod\t") and captured.err == ""
    help_text = cli.get_parser().format_help() + " ".join(
        a.help or "" for a in cli.get_parser()._subparsers._group_actions[0].choices["power"]._actions)
    assert "only the results" in help_text
