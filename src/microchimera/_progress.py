"""One progress-bar helper for long passes (rich), silent unless asked for.

The CLI decides (``cli.progress_enabled``: a terminal on stderr and no ``--quiet``) and passes
``progress=True`` down; the library only ever calls :func:`progress_bar`, which yields a
callback ``advance(n)``.  With ``enabled=False``, or when stderr is not a terminal after all,
the callback does nothing and nothing is written, so library code needs no ``if``.  Bars
draw on stderr and vanish when done (``transient``); results and logs are unaffected.

A bar with a ``total`` shows the percentage done, the time remaining and ``done of total
<unit>`` in the words of the work (``reads``, ``DNA fragments``, ``samples``,
``replicates``); without one, a spinner and a running count.  When the work is measured
in other units than the ones counted (a CRAM: compressed bytes of the slices to decode, while
reads are counted), ``work`` gives its amount in all: percent and time left follow the work,
next to a running count of ``unit``.
"""
from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress_bar(enabled: bool, description: str, total: float | None = None, unit: str = "items",
                 work: float | None = None):
    """Context manager yielding ``advance(n=1, work=0)`` for one task of a rich progress bar.

    Parameters
    ----------
    enabled : bool
        Draw the bar (the caller's decision; ``cli.progress_enabled(args)``).  Even when
        true, nothing is drawn unless stderr is a terminal.
    description : str
        Label of the task, e.g. ``"count mum.bam"``.
    total : float, optional
        Work units in all, if known up front (None: a spinner with a running count).  An
        estimate is fine: the percentage stops at 100.
    unit : str
        Name of the unit, plural, e.g. ``"reads"``.
    work : float, optional
        Instead of ``total``: the work in all, in units of its own (e.g. compressed bytes),
        when how many ``unit`` are to come is not known but the work is.  ``advance(n,
        work=w)`` then adds ``w`` to the work done, which the bar, percentage and time left
        follow, and ``n`` to a running count of ``unit`` shown next to them.  Without
        ``work``, the ``work`` argument of ``advance`` is ignored.

    Examples
    --------
    >>> with progress_bar(False, "nothing") as advance:
    ...     advance(5)
    >>> with progress_bar(False, "count mum.cram", unit="reads", work=1e6) as advance:
    ...     advance(4096, work=2.5e5)
    """
    if enabled:
        from rich.console import Console

        console = Console(file=sys.stderr)
    if not enabled or not console.is_terminal:
        yield _noop
        return
    from rich.progress import Progress

    with Progress(*_columns(total is not None or work is not None, unit), console=console, transient=True) as bar:
        if work is None:
            task = bar.add_task(description, total=total)
            yield lambda n=1, work=0: bar.advance(task, n)
            return
        task = bar.add_task(description, total=work, count=0)
        count = 0

        def advance(n=1, work=0):
            nonlocal count
            count += n
            bar.update(task, advance=work, count=count)

        yield advance


def _amount(n: float) -> str:
    """``950``, ``12.3k``, ``4.56M``, ``1.2G``: counts as a person reads them at a glance."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            value = n / size
            return f"{value:.3g}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return f"{n:.0f}"


def _columns(with_total: bool, unit: str) -> list:
    """The bar's columns: ``⠋ count mum.bam ━━━━╺━━━  45% 0:12 left 12.3M of 27.1M reads``.

    Every column keeps its width except the description, which is shortened (``…``) on a
    narrow terminal, so that the numbers stay on one line.  A bar following a ``work`` in
    other units (:func:`progress_bar`) ends with the running count alone:
    ``⠋ count mum.cram ━━━━╺━━━  45% 0:12 left 12.3M reads``.
    """
    from rich.progress import (
        BarColumn,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column
    from rich.text import Text

    class Description(ProgressColumn):
        def render(self, task):
            return Text(task.description, no_wrap=True, overflow="ellipsis")

    class Amount(ProgressColumn):
        def render(self, task):
            if "count" in task.fields:
                return Text(f"{_amount(task.fields['count'])} {unit}", style="progress.download")
            done = _amount(task.completed)
            text = f"{done} {unit}" if task.total is None else f"{done} of {_amount(task.total)} {unit}"
            return Text(text, style="progress.download")

    def fixed():
        return Column(no_wrap=True)

    columns = [SpinnerColumn(table_column=fixed()), Description(table_column=Column(min_width=8))]
    if with_total:
        columns += [BarColumn(bar_width=12, table_column=fixed()),
                    TextColumn("{task.percentage:>3.0f}%", table_column=fixed()),
                    TimeRemainingColumn(compact=True, table_column=fixed()), TextColumn("left", table_column=fixed())]
    columns.append(Amount(table_column=fixed()))
    if not with_total:
        columns.append(TimeElapsedColumn(table_column=fixed()))
    return columns


def _noop(n=1, work=0) -> None:
    return None
