"""The detection-power-vs-fraction plot of ``microchimera power`` (SVG or PNG)."""
from __future__ import annotations

from pathlib import Path

from .figures import power_curve_plot, save_figure


def write_power_plot(result, path) -> Path:
    """Write the power curve of a :class:`~microchimera.model.power.PowerResult` to ``path``.

    Raises
    ------
    UsageError
        ``path`` ends in something else than ``.svg`` or ``.png``.
    """
    path = Path(path)
    d = result.design
    title = (f"{d.n_sites:,} sites, depth {d.depth:g}, error {d.error:g}, {d.relationship}"
             f" ({'typed' if d.typed else 'untyped'}), α = {d.alpha:g}")
    fig = power_curve_plot(result.curve_fraction, result.curve_power, lod=result.lod, target=result.fraction,
                           power_target=result.power_target, title=title)
    save_figure(fig, path)
    return path
