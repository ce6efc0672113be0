"""The detection-power-vs-fraction plot of ``microchimera power`` (SVG or PNG)."""
from __future__ import annotations

import io
from pathlib import Path

from .._atomic import write_bytes_atomic
from ..errors import UsageError
from .figures import power_curve_plot

FORMATS = {".svg": "svg", ".png": "png"}


def write_power_plot(result, path) -> Path:
    """Write the power curve of a :class:`~microchimera.model.power.PowerResult` to ``path``.

    Raises
    ------
    UsageError
        ``path`` ends in something else than ``.svg`` or ``.png``.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: plot format from the file name must be .svg or .png, found {path.suffix!r}")
    d = result.design
    title = (f"{d.n_sites:,} sites, depth {d.depth:g}, error {d.error:g}, {d.relationship}"
             f" ({'typed' if d.typed else 'untyped'}), α = {d.alpha:g}")
    fig = power_curve_plot(result.curve_fraction, result.curve_power, lod=result.lod, target=result.fraction,
                           power_target=result.power_target, title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    write_bytes_atomic(path, buf.getvalue())
    return path
