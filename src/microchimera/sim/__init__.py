"""Simulation of families and microchimeric samples with known truth.

Public API: :func:`simulate_family`, :func:`simulate_counts`, :func:`load_scenario`,
:func:`builtin_scenario`, :func:`simulate`.
"""
from .family import Family, simulate_family
from .reads import error_matrix, mixture_alt_share, simulate_counts

__all__ = ["Family", "error_matrix", "mixture_alt_share", "simulate_counts", "simulate_family"]
