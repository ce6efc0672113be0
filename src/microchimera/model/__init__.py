"""The quantification model: genotype priors, likelihood, error model, fitting, tests, limits.

See ``docs/model.md`` for the mathematics.
"""
from .fit import FitResult, fit_fractions
from .likelihood import ModelData
from .prior import GenotypePrior, genotype_prior
from .quantify import RELATIONSHIPS, quantify
from .seqerror import ErrorModel, estimate_error_rates

__all__ = ["ErrorModel", "FitResult", "GenotypePrior", "ModelData", "RELATIONSHIPS", "estimate_error_rates",
           "fit_fractions", "genotype_prior", "quantify"]
