"""Provenance records attached to every result file."""
from __future__ import annotations

import hashlib
import platform
import sys
from pathlib import Path

from . import __version__


def file_checksum(path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Return ``"<algorithm>:<hexdigest>"`` of a file's bytes."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return f"{algorithm}:{h.hexdigest()}"


def get_provenance(command: str | None = None, inputs=(), seed=None, parameters=None) -> dict:
    """Build the ``provenance`` block of a result file.

    Parameters
    ----------
    command : str, optional
        The command line (defaults to ``sys.argv`` joined by spaces).
    inputs : iterable of path-like
        Input files; each is recorded with its size and SHA-256 checksum.
    seed : int, optional
        The random seed used, if any.
    parameters : dict, optional
        Other parameters worth recording (filters, thresholds).
    """
    records = []
    for p in inputs:
        p = Path(p)
        records.append({"path": str(p), "size": p.stat().st_size, "checksum": file_checksum(p)})
    import numpy
    import pysam
    import scipy

    return {
        "tool": "microchimera",
        "version": __version__,
        "command": command if command is not None else " ".join(sys.argv),
        "inputs": records,
        "seed": seed,
        "parameters": parameters or {},
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "pysam": pysam.__version__,
        },
    }
