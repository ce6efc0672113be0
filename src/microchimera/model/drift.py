"""Drift of the family's population from the allele frequencies in use (the forensic θ).

Allele frequencies come from a panel: pooled, a population's, or the host's individual AF
at her ancestry coordinates (:mod:`microchimera.model.ancestry`).  The family's own
population has drifted from any of them.  Under the Balding–Nichols model its AF at a
site scatters around the panel's ``p`` with variance ``theta * p * (1 - p)``, and the
founders' alleles are exchangeable draws from it, so they are correlated: a host
homozygous for ref makes her untyped partner, or the unknown father of her child, carry
ref more often than ``p`` says (``P(alt) = (1 - theta) p / (1 + theta)`` for the next
allele).  Ignoring it biases the fraction of a donor drawn from the AF by about
``-2 theta`` (``docs/model.md``, "Drift").  :func:`~microchimera.model.prior.genotype_prior`
takes ``theta``.

``theta`` is not estimable from one family with useful precision: the host's own
heterozygosity deficit estimates it with a standard error of about ``1.4 / sqrt(sites)``
(0.014 at 10,000 sites, more than the value itself), and the deficit of one person is her
Mendelian luck as much as her population's drift.  The default is therefore the
forensic convention, ``0.01`` (NRC II, 1996, recommendation 4.1: most populations; 0.03
for small isolated ones), and the host's estimate is reported beside it as a check that
flags an AF that does not fit her population at all (a pooled panel for a family of one
continent gives 0.05–0.15).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from ..conventions import DEFAULT_THETA  # noqa: F401  (re-exported: the default of --theta)

#: Fewest sites for the host's inbreeding estimate.
MIN_SITES = 100
#: The host's estimate above θ by more than this and 3 SE: the AF do not fit her population.
EXCESS_WARN = 0.02
_F_BOUNDS = (-0.3, 0.6)


@dataclass(frozen=True)
class HostInbreeding:
    """The host's excess homozygosity against the AF in use (Wright's F, method of
    maximum likelihood over genotype likelihoods); ``value``/``se`` None below
    :data:`MIN_SITES` sites."""

    value: float | None
    se: float | None
    sites: int


def inbreeding_genotype_probs(af: np.ndarray, f: float) -> np.ndarray:
    """P(genotype) of one person under Balding–Nichols drift ``f``, float64 ``(n_sites, 3)``.

    ``((1-p)^2 + f p (1-p), 2 p (1-p) (1-f), p^2 + f p (1-p))``: the two alleles of a
    person are two draws of the urn of :func:`~microchimera.model.prior.genotype_prior`.
    """
    p = np.asarray(af, dtype=np.float64)
    pq = p * (1.0 - p)
    return np.stack([(1 - p) ** 2 + f * pq, 2 * pq * (1 - f), p * p + f * pq], axis=-1)


def host_inbreeding(lik: np.ndarray, af: np.ndarray) -> HostInbreeding:
    """Maximum-likelihood F of the host from her genotype likelihoods.

    Parameters
    ----------
    lik : ndarray, float64, shape (n_sites, 3)
        P(data | genotype 0, 1, 2) per site (one-hot for a typed host).
    af : ndarray, float64, shape (n_sites,)
        The AF her relatives are given, in (0, 1).

    Returns
    -------
    HostInbreeding
        ``se`` from the observed information (numerical second derivative).
    """
    lik = np.asarray(lik, dtype=np.float64)
    af = np.asarray(af, dtype=np.float64)
    ok = np.isfinite(af) & (af > 0) & (af < 1) & (lik.sum(axis=1) > 0)
    lik, af = lik[ok], af[ok]
    n = int(ok.sum())
    if n < MIN_SITES:
        return HostInbreeding(None, None, n)
    lik = lik / lik.max(axis=1, keepdims=True)

    def negll(f: float) -> float:
        probs = np.clip(inbreeding_genotype_probs(af, f), 1e-300, None)
        return -float(np.log((lik * probs).sum(axis=1)).sum())

    res = minimize_scalar(negll, bounds=_F_BOUNDS, method="bounded", options={"xatol": 1e-6})
    f = float(res.x)
    h = 1e-4
    curv = (negll(f + h) - 2 * negll(f) + negll(f - h)) / (h * h)
    se = float(1.0 / np.sqrt(curv)) if curv > 0 else None
    return HostInbreeding(f, se, n)


def drift_warning(est: HostInbreeding, theta: float) -> str | None:
    """A warning when the host is far more homozygous than the AF and ``theta`` allow."""
    if est.value is None or est.se is None:
        return None
    excess = est.value - theta
    if excess > EXCESS_WARN and excess > 3 * est.se:
        return (f"the host is more homozygous than the allele frequencies predict (F = {est.value:.3f} ± "
                f"{est.se:.3f} at {est.sites} sites, theta = {theta:g}): the AF do not fit her population, and "
                "donors drawn from them (untyped relatives, the no-family child) are likely underestimated; "
                "use --ancestry auto with a built-in panel's sites, a population panel, or a larger --theta")
    return None
