"""Simulation of families and microchimeric samples with known truth.

Public API:

- :func:`load_scenario`, :func:`builtin_scenario` -> :class:`Scenario` (validated TOML)
- :func:`simulate` -> :class:`SimulationResult` (FASTA, VCFs, PED, BAMs, truth.json)
- :func:`simulate_family` -> :class:`Family` (genotypes with recombination)
- :func:`simulate_counts` -> :class:`~microchimera.io.allele_counts.AlleleCounts` (no reads);
  :func:`site_error_spread` per-site error multipliers for it; :func:`simulate_normals` the
  samples of a panel of normals
"""
from .error_profile import ErrorProfile, panel_error_profile
from .family import Family, simulate_family
from .reads import (
           error_matrix,
           mixture_alt_share,
           simulate_counts,
           simulate_normals,
           site_error_spread,
)
from .scenario import Scenario, builtin_scenario, load_scenario
from .simulate import SimulationResult, scenario_pedigree, simulate

__all__ = ["ErrorProfile", "Family", "panel_error_profile", "Scenario", "SimulationResult", "builtin_scenario", "error_matrix",
           "load_scenario", "mixture_alt_share", "scenario_pedigree", "simulate", "simulate_counts",
           "simulate_family", "simulate_normals", "site_error_spread"]
