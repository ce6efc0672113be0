"""microchimera: detect and quantify microchimerism from sequencing data.

The public API: the packages ``microchimera.sim``, ``count``, ``model``, ``ychrom``,
``report`` and ``cohort`` (``docs/architecture.md`` says what each owns), the modules
``options`` (each step's settings) and ``result`` (the typed result), and the names most
scripts need, importable from here::

    from microchimera import CountFilters, QuantifyOptions, count_alleles, quantify

Everything is loaded on first use, so ``import microchimera`` stays cheap (the cohort
package imports Dask; the report package Jinja2).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Subpackages and modules reachable as attributes (``microchimera.options`` ...).
_SUBPACKAGES = ("cohort", "count", "io", "model", "options", "report", "result", "sim", "ychrom")
#: Public name -> module that defines it.
_NAMES = {
    "AlleleCounts": "io.allele_counts",
    "read_counts": "io.allele_counts",
    "write_counts": "io.allele_counts",
    "count_alleles": "count",
    "quantify": "model",
    "QuantifyResult": "result",
    "DonorEstimate": "result",
    "donor_rows": "result",
    "CountFilters": "options",
    "QuantifyOptions": "options",
    "YChromOptions": "options",
    "SampleInputs": "workflow",
    "quantify_files": "workflow",
    "run_pipeline": "workflow",
    "simulate": "sim",
    "simulate_counts": "sim",
    "load_scenario": "sim",
    "MicrochimeraError": "errors",
}

__all__ = ["__version__", *_SUBPACKAGES, *_NAMES]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
