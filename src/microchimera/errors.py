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

Messages that tell the user to set a parameter name it by its Python name, as a ``{name}``
placeholder listed in ``params``: ``str(err)`` spells it ``name=`` (what a caller of the
library passes), and :meth:`MicrochimeraError.cli_message` spells it as the command's flag
(``--name``, or the flag in :data:`CLI_FLAGS` where the two differ)::

    >>> err = UsageError("give the host's ID ({host})", params=["host"])
    >>> str(err)
    "give the host's ID (host=)"
    >>> err.cli_message("quantify")
    "give the host's ID (--host)"
    >>> UsageError("{build} and {regions}", params=["build", "regions"]).cli_message("run")
    '--y-build and --y-regions'

Only the listed names are replaced, so braces elsewhere in a message (a path, a value) are
left alone.  In an f-string the placeholder is written ``{{host}}``.
"""
from __future__ import annotations

from collections.abc import Iterable

#: Where a command's flag is not ``--`` + the parameter name with ``_`` as ``-``:
#: command (``None``: every command) -> Python parameter name -> flag.
CLI_FLAGS: dict[str | None, dict[str, str]] = {
    None: {"relationships": "--relationship", "build_index": "--index"},
    # run adds the chrY estimate with its own --y-* flags (YChromOptions / analyse_ychrom).
    "run": {"build": "--y-build", "regions": "--y-regions", "controls": "--y-controls"},
    "ychrom": {"min_mapq": "--y-min-mapq"},
}


def cli_flag(name: str, command: str | None = None) -> str:
    """The flag of Python parameter ``name`` on ``command``'s command line."""
    for table in (CLI_FLAGS.get(command, {}), CLI_FLAGS[None]):
        if name in table:
            return table[name]
    return "--" + name.replace("_", "-")


class MicrochimeraError(Exception):
    """Base class of every error the library raises on purpose.

    Parameters
    ----------
    message : str
        The message; ``{name}`` for each name in ``params`` marks where a parameter is named.
    params : iterable of str, optional
        Python parameter names the message names (spelled ``name=`` by ``str(err)`` and as
        flags by :meth:`cli_message`).
    """

    exit_code = 1

    def __init__(self, message: str = "", *, params: Iterable[str] = ()):
        super().__init__(message)
        # An attribute (not an argument of Exception) so that pickling, which rebuilds the
        # error as cls(message) and then restores __dict__, keeps it: cohort errors cross
        # Dask workers.
        self.params = tuple(params)

    def _render(self, spell) -> str:
        text = str(self.args[0]) if self.args else ""
        for name in self.params:
            text = text.replace("{" + name + "}", spell(name))
        return text

    def __str__(self) -> str:
        return self._render(lambda name: f"{name}=")

    def cli_message(self, command: str | None = None) -> str:
        """The message with each parameter spelled as ``command``'s flag (``--host``)."""
        return self._render(lambda name: cli_flag(name, command))


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
