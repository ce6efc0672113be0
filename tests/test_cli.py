"""Tests of the command-line frame (parser, exit codes, error printing)."""
import argparse

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
