"""Boundary validators for arrays passed into the library."""
from __future__ import annotations

import numpy as np


def as_array(values, *, name: str, ndim: int, dtype=None) -> np.ndarray:
    """Return ``values`` as an ndarray of ``ndim`` dimensions (and ``dtype`` if given).

    Raises
    ------
    ValueError
        If the number of dimensions differs, naming ``name`` and both shapes.
    """
    arr = np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, found shape {arr.shape}")
    return arr


def check_aligned(name_first: str, first: np.ndarray, **others: np.ndarray) -> None:
    """Raise ``ValueError`` unless every array in ``others`` has ``len(first)`` rows."""
    n = len(first)
    for name, arr in others.items():
        if len(arr) != n:
            raise ValueError(f"{name}: expected {n} rows (as {name_first}), found {len(arr)}")


def check_probability(value: float, name: str, *, open_low=False, open_high=False) -> float:
    """Return ``float(value)`` if it lies in [0, 1] (optionally open at either end)."""
    v = float(value)
    low_ok = v > 0 if open_low else v >= 0
    high_ok = v < 1 if open_high else v <= 1
    if not (low_ok and high_ok and np.isfinite(v)):
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        raise ValueError(f"{name}: expected a number in {lo}0, 1{hi}, found {value!r}")
    return v
