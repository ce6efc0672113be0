"""Fitting donor fractions: maximum likelihood, profile CIs, tests and limits of detection.

The modules, each importing only those before it:

* :mod:`.evaluation` -- :func:`evaluate`, the likelihood with its derivatives in the
  fractions and the error multiplier, on the data's regrouped entries;
* :mod:`.optimisation` -- maximum likelihood: :func:`fit_fractions` (fractions, ``rho``,
  het share, error multiplier), :func:`newton`, :class:`FitResult`;
* :mod:`.intervals` -- profile-likelihood CIs (:func:`profile_ci`) and the linked-sites
  inflation (:func:`block_inflation`, :func:`make_blocks`);
* :mod:`.expected` -- what the design is expected to show: the expected LRT statistic with
  genotypes summed out, against the least favourable null (:func:`~.expected.profiled_lrt`);
* :mod:`.detection` -- the LRT of ``f_k = 0`` (:func:`lrt_refit_nuisance`,
  :func:`boundary_p_value`) and the limit of detection (:func:`limit_of_detection`).

Fractions ``f`` are shares of genome equivalents in the sample (0..1), ``rho`` the
beta-binomial overdispersion (0 the binomial).  This package re-exports the names the rest
of :mod:`microchimera` uses; everything else is imported from its module.
"""
from .detection import boundary_p_value, limit_of_detection, lrt_refit_nuisance, oracle_lod
from .evaluation import evaluate
from .intervals import CHI2_95, block_inflation, make_blocks, present_donors, profile_ci
from .optimisation import (
    ERROR_SCALE_BOUNDS,
    F_MAX_TOTAL,
    MIN_HET_SHARE_SITES,
    RHO_SUBSAMPLE,
    FitResult,
    fit_fractions,
    newton,
)

__all__ = [
    "CHI2_95", "ERROR_SCALE_BOUNDS", "F_MAX_TOTAL", "MIN_HET_SHARE_SITES", "RHO_SUBSAMPLE", "FitResult", "block_inflation",
    "boundary_p_value", "evaluate", "fit_fractions", "limit_of_detection", "lrt_refit_nuisance",
    "make_blocks", "newton", "oracle_lod", "present_donors", "profile_ci",
]
