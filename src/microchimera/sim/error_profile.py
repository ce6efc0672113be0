"""Per-panel sequencing error that looks like a real panel's, shared by every sample run on it.

Real error at a SNP site is not one rate per substitution class: it spreads over 100-fold
within a class with sequence context, a few sites are hot in every sample, some errors sit
on one strand, CpG C>T is raised, FFPE damage adds C>T/G>A and oxidation (8-oxoG) G>T on one
read strand.  :func:`panel_error_profile` draws such a profile once per panel;
:func:`~microchimera.sim.reads.simulate_counts` (``error_profile=``) applies it to every
sample, normals and tissue alike, so a panel of normals can learn what the samples suffer.

Rates are per base and per read strand, for the two directions of a site: ``REF>ALT`` (a
true ref base read as alt) and ``ALT>REF``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io.sites import SiteTable
from .reads import DEFAULT_ERROR_RATE

_C, _G, _T, _A = 1, 2, 3, 0  # base codes A0 C1 G2 T3


@dataclass(frozen=True)
class ErrorProfile:
    """Per-site error of one panel.

    Attributes
    ----------
    rate : ndarray, float64, shape (n_sites, 2, 2)
        ``[site, direction, strand]``: direction 0 ``REF>ALT``, 1 ``ALT>REF``; strand 0
        forward, 1 reverse read.  Per base.
    other_scale : ndarray, float64, shape (n_sites,)
        Multiplier of the class rates to a third base (context and hot sites raise these too).
    hot : ndarray, bool, shape (n_sites,)
    cpg : ndarray, bool, shape (n_sites,)
        Sites whose C>T (or G>A) error is raised by a CpG context.
    """

    rate: np.ndarray
    other_scale: np.ndarray
    hot: np.ndarray
    cpg: np.ndarray

    @property
    def n_sites(self) -> int:
        return self.rate.shape[0]

    def mean_rate(self) -> np.ndarray:
        """Strand-averaged rate, float64 (n_sites, 2)."""
        return self.rate.mean(axis=2)


def _is(src, dst, a, b):
    return (src == a) & (dst == b)


def panel_error_profile(sites: SiteTable, rng: np.random.Generator, *, base_rate: float = DEFAULT_ERROR_RATE,
                        sigma: float = 1.0, hot_share: float = 0.01, hot_rate: float = 2e-2,
                        strand_bias_share: float = 0.0, strand_bias_fold: float = 8.0,
                        cpg_fold: float = 1.0, ffpe: float = 0.0, oxidation: float = 0.0) -> ErrorProfile:
    """Draw a panel's error profile.

    Parameters
    ----------
    base_rate : float
        Total substitution error per base; a class gets a third of it.
    sigma : float
        Log-sd of the per-site, per-direction log-normal spread (mean 1).
    hot_share, hot_rate : float
        Share of hot sites and their total error per base (a third per class).
    strand_bias_share, strand_bias_fold : float
        Share of sites whose errors sit on one strand (random), ``fold`` times the other's
        rate (the site's mean rate kept).
    cpg_fold : float
        Multiplier of C>T (and G>A) at sites with a CpG context (a random quarter of C/G sites:
        the flanking base is not simulated).
    ffpe : float
        FFPE deamination: C>T and G>A added per base, both strands.
    oxidation : float
        8-oxoG: G>T added per base on forward reads and C>A on reverse ones.

    Raises
    ------
    ValueError
        Rates or shares out of range.
    """
    for name, v, lo, hi in (("base_rate", base_rate, 0, 0.5), ("sigma", sigma, 0, 5), ("hot_share", hot_share, 0, 1),
                            ("hot_rate", hot_rate, 0, 0.5), ("strand_bias_share", strand_bias_share, 0, 1),
                            ("strand_bias_fold", strand_bias_fold, 1, 1e6), ("cpg_fold", cpg_fold, 0, 1e4),
                            ("ffpe", ffpe, 0, 0.5), ("oxidation", oxidation, 0, 0.5)):
        if not lo <= v <= hi:
            raise ValueError(f"panel_error_profile: {name} must be in [{lo}, {hi}], found {v}")
    n = sites.n_sites
    per_class = base_rate / 3.0
    spread = np.exp(rng.normal(-0.5 * sigma * sigma, sigma, (n, 2)))
    rate = per_class * spread
    other_scale = spread.mean(axis=1)
    hot = rng.random(n) < hot_share
    rate[hot] = hot_rate / 3.0
    other_scale[hot] = hot_rate / base_rate
    ref, alt = sites.ref.astype(np.int64), sites.alt.astype(np.int64)
    src = np.stack([ref, alt], axis=1)  # true base of each direction
    dst = np.stack([alt, ref], axis=1)  # the base it is misread as
    cpg = ((ref == _C) | (ref == _G) | (alt == _C) | (alt == _G)) & (rng.random(n) < 0.25)
    ct = _is(src, dst, _C, _T) | _is(src, dst, _G, _A)
    rate = np.where(ct & cpg[:, None], rate * cpg_fold, rate)
    rate = np.repeat(rate[:, :, None], 2, axis=2)
    rate = rate + ffpe * ct[:, :, None]
    rate[:, :, 0] += oxidation * _is(src, dst, _G, _T)
    rate[:, :, 1] += oxidation * _is(src, dst, _C, _A)
    biased = rng.random(n) < strand_bias_share
    if biased.any():
        k = strand_bias_fold
        hi_w, lo_w = 2 * k / (k + 1), 2 / (k + 1)
        fwd_high = rng.random(n) < 0.5
        w = np.where(fwd_high[:, None], [hi_w, lo_w], [lo_w, hi_w])
        rate[biased] = rate[biased] * w[biased][:, None, :]
    return ErrorProfile(np.clip(rate, 0.0, 0.45), other_scale, hot, cpg)
