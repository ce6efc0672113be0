"""One progress-bar helper for long passes (rich), silent unless asked for.

The CLI decides (``cli.progress_enabled``: a terminal on stderr and no ``--quiet``) and passes
``progress=True`` down; the library only ever calls :func:`progress_bar`, which yields a
callback ``advance(n)``.  With ``enabled=False`` the callback does nothing, so library code
needs no ``if``.  Bars draw on stderr and vanish when done (``transient``); results and logs
are unaffected.
"""
from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress_bar(enabled: bool, description: str, total: float | None = None, unit: str = "items"):
    """Context manager yielding ``advance(n=1)`` for one task of a rich progress bar.

    Parameters
    ----------
    enabled : bool
        Draw the bar (the caller's decision; ``cli.progress_enabled(args)``).
    description : str
        Label of the task, e.g. ``"count mum.bam"``.
    total : float, optional
        Work units in all (None: a spinner with a running count).
    unit : str
        Name of the unit shown beside the count.

    Examples
    --------
    >>> with progress_bar(False, "nothing") as advance:
    ...     advance(5)
    """
    if not enabled:
        yield _noop
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn()]
    columns += [TextColumn(f"{{task.completed:,.0f}} {unit}"), TimeElapsedColumn()]
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def _noop(n=1) -> None:
    return None
