"""Error types raised by the library, each carrying the CLI exit code.

The library raises; only :mod:`microchimera.cli` turns these into a message on stderr
and an exit status.  Exit codes (documented in ``docs/cli.md``):

====  ==========================================================
code  meaning
====  ==========================================================
0     success
1     data or runtime problem (bad input file, failed fit, ...)
2     usage problem (bad option, bad scenario/config key or value)
3     partial failure (a cohort where some samples failed)
====  ==========================================================
"""
from __future__ import annotations


class MicrochimeraError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = 1


class UsageError(MicrochimeraError):
    """The user asked for something inconsistent (bad option or configuration value)."""

    exit_code = 2


class ScenarioError(UsageError):
    """A simulation scenario file is malformed; the message names the key."""


class InputError(MicrochimeraError):
    """An input file is missing, unreadable or inconsistent with the others."""


class FormatError(InputError):
    """An input file is not in the expected format; the message names file and record."""


class ModelError(MicrochimeraError):
    """The model cannot be fitted with the data given (e.g. no informative sites)."""


class PartialFailure(MicrochimeraError):
    """Some units of a multi-sample job failed while others succeeded."""

    exit_code = 3
