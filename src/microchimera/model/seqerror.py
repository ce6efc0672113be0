"""Sequencing error per substitution class, estimated from the sample itself.

Two sources, both from the sample's own reads:

* **background sites**: every contributor is certainly homozygous (typed, or implied by
  Mendel), so any read of the other allele is an error of that exact class
  (``REF>ALT`` at all-hom-ref sites, ``ALT>REF`` at all-hom-alt sites);
* **other bases**: a base that is neither REF nor ALT can only be an error, whoever
  contributed the DNA.  At sites whose reads are almost all of one allele ``X``, the
  ``other`` count estimates the error rate from ``X`` to each of the two other bases
  (rate = other / (2 depth)); it is pooled over sites by origin base, and the origins are
  shrunk towards their common rate by an empirical-Bayes weight
  (:func:`origin_prior_reads`): fully pooled unless they differ by more than counting noise.

The class rate is the background estimate shrunk towards the other-base rate of its
origin base with a prior weight of ``PRIOR_READS`` reads, so a class with few background
reads falls back to the other-base rate.  Without certain genotypes (no family) only the
other-base rates are available; they are blind to transition/transversion differences.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import BASES, SUBSTITUTION_CLASSES

#: Index of the pooled class for sites without known bases (GATK tables).
UNKNOWN_CLASS = len(SUBSTITUTION_CLASSES)
CLASS_NAMES = (*SUBSTITUTION_CLASSES, "N>N")
PRIOR_READS = 1e6
#: Floor and ceiling of any error rate (per base).  With the fit's error scale (>= 0.1) the
#: floor is 1e-7 per class.  It also guards against plug-in rates estimated from a handful of
#: errors: on duplex molecule counts (validation/README.md, issue 15) a floor of 1e-10 let
#: classes with 0-1 background errors go to ~1e-8, and an absent son was "detected" in 17.5%
#: of 200 samples (3.0% with this floor).  Lower it only with the rates' uncertainty modelled.
MIN_RATE, MAX_RATE = 1e-6, 0.05


def substitution_class(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Class index (0..11, ``UNKNOWN_CLASS`` for unknown bases) of ``src>dst``, int64 (n_sites,)."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    known = (src < 4) & (dst < 4) & (src != dst)
    idx = src * 3 + np.where(dst < src, dst, dst - 1)
    return np.where(known, idx, UNKNOWN_CLASS)


@dataclass(frozen=True)
class ErrorModel:
    """Per-class error rates.

    Attributes
    ----------
    rate : ndarray, float64, shape (13,)
        Probability that a base of the class's source reads as its destination; index by
        :func:`substitution_class` (12 classes ``A>C`` ... ``T>G`` then ``N>N``).
    background_sites, background_reads, background_errors : ndarray, int64, shape (13,)
    other_rate : ndarray, float64, shape (5,)
        Other-base rate per origin base A, C, G, T, N.
    other_reads : ndarray, int64, shape (5,)
    """

    rate: np.ndarray
    background_sites: np.ndarray
    background_reads: np.ndarray
    background_errors: np.ndarray
    other_rate: np.ndarray
    other_reads: np.ndarray

    def to_dict(self, used_classes=None) -> dict:
        """JSON form: one entry per class (only ``used_classes`` if given)."""
        out = {}
        for c, name in enumerate(CLASS_NAMES):
            if used_classes is not None and c not in used_classes:
                continue
            origin = BASES.index(name[0]) if name[0] in BASES else 4
            source = "background" if self.background_reads[c] >= PRIOR_READS else (
                "background+other_bases" if self.background_reads[c] > 0 else "other_bases")
            out[name] = {
                "rate": float(self.rate[c]),
                "source": source,
                "background_sites": int(self.background_sites[c]),
                "background_reads": int(self.background_reads[c]),
                "background_errors": int(self.background_errors[c]),
                "other_base_rate": float(self.other_rate[origin]),
                "other_base_reads": int(self.other_reads[origin]),
            }
        return out


def origin_prior_reads(events, exposure) -> float:
    """Empirical-Bayes weight (in base calls) pulling each origin base's other-base rate to the pool.

    The per-origin rates ``events / exposure`` are modelled as Poisson counts around rates
    drawn from a distribution with mean ``m`` (the pooled rate) and variance ``tau2``,
    estimated by the method of moments (DerSimonian-Laird)::

        Q    = sum_b E_b (r_b - m)^2,   tau2 = max(0, (Q - (B - 1) m) / (S1 - S2 / S1))
        weight = m / tau2                 (S1 = sum E_b, S2 = sum E_b^2)

    so the shrunk rate is ``(k_b + weight m) / (E_b + weight)``.  When the spread between
    origins is no more than counting noise (``tau2 = 0``) every origin gets the pooled rate
    (weight ``inf``): with a few dozen other-base reads, per-origin rates are mostly noise,
    and noise treated as known rates turns errors into donor signal (the test of ``f = 0``
    rejected 15% of null samples on a 1,000-site panel at 40x before this).  With millions
    of reads real differences between origins stand out and are kept.

    Parameters
    ----------
    events, exposure : ndarray, float64, shape (n_origins,)
        Other-base calls and base calls at risk (2 per read: two other bases) per origin.

    Returns
    -------
    float
        Prior weight in base calls; ``inf`` for complete pooling.
    """
    k = np.asarray(events, dtype=np.float64)
    e = np.asarray(exposure, dtype=np.float64)
    keep = e > 0
    k, e = k[keep], e[keep]
    if len(e) < 2 or k.sum() <= 0:
        return float("inf")
    m = k.sum() / e.sum()
    q = float(np.sum(e * (k / e - m) ** 2))
    s1, s2 = e.sum(), float(np.sum(e * e))
    tau2 = (q - (len(e) - 1) * m) / (s1 - s2 / s1)
    return float(m / tau2) if tau2 > 0 else float("inf")


def estimate_error_rates(ref_count, alt_count, other_count, ref_base, alt_base,
                         background_ref=None, background_alt=None) -> ErrorModel:
    """Estimate per-class error rates from one sample's counts.

    Parameters
    ----------
    ref_count, alt_count, other_count : ndarray, int, shape (n_sites,)
    ref_base, alt_base : ndarray, uint8, shape (n_sites,)
        Base codes 0..3 (4 = unknown).
    background_ref, background_alt : ndarray, bool, shape (n_sites,), optional
        Sites where every contributor is certainly hom-ref / hom-alt.

    Returns
    -------
    ErrorModel
    """
    r = np.asarray(ref_count, dtype=np.int64)
    a = np.asarray(alt_count, dtype=np.int64)
    o = np.asarray(other_count, dtype=np.int64)
    n = r + a
    depth = n + o
    ref_base = np.asarray(ref_base, dtype=np.int64)
    alt_base = np.asarray(alt_base, dtype=np.int64)
    nc = len(CLASS_NAMES)
    bg_sites = np.zeros(nc, dtype=np.int64)
    bg_reads = np.zeros(nc, dtype=np.int64)
    bg_err = np.zeros(nc, dtype=np.int64)
    if background_ref is not None:
        cls = substitution_class(ref_base, alt_base)[background_ref]
        bg_sites += np.bincount(cls, minlength=nc)
        bg_reads += np.bincount(cls, weights=n[background_ref], minlength=nc).astype(np.int64)
        bg_err += np.bincount(cls, weights=a[background_ref], minlength=nc).astype(np.int64)
    if background_alt is not None:
        cls = substitution_class(alt_base, ref_base)[background_alt]
        bg_sites += np.bincount(cls, minlength=nc)
        bg_reads += np.bincount(cls, weights=n[background_alt], minlength=nc).astype(np.int64)
        bg_err += np.bincount(cls, weights=r[background_alt], minlength=nc).astype(np.int64)
    # Other-base rate per origin base, at sites whose reads are (almost) all one allele.
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(n > 0, a / np.maximum(n, 1), 0.5)
    origin = np.full(len(n), -1, dtype=np.int64)
    origin = np.where(frac <= 0.1, np.minimum(ref_base, 4), origin)
    origin = np.where(frac >= 0.9, np.minimum(alt_base, 4), origin)
    use = (origin >= 0) & (depth > 0)
    o_reads = np.bincount(origin[use], weights=depth[use], minlength=5).astype(np.int64)
    o_err = np.bincount(origin[use], weights=o[use], minlength=5)
    pooled = (o_err.sum() + 0.5) / (2.0 * o_reads.sum() + 1.0)
    weight = origin_prior_reads(o_err[:4], 2.0 * o_reads[:4])
    if np.isfinite(weight):
        other_rate = np.where(o_reads > 0, (o_err + weight * pooled) / (2.0 * o_reads + weight), pooled)
    else:
        other_rate = np.full(5, pooled)
    other_rate[4] = pooled
    cls_origin = np.array([BASES.index(c[0]) if c[0] in BASES else 4 for c in CLASS_NAMES])
    prior = other_rate[cls_origin]
    rate = (bg_err + PRIOR_READS * prior) / (bg_reads + PRIOR_READS)
    rate = np.clip(rate, MIN_RATE, MAX_RATE)
    return ErrorModel(rate, bg_sites, bg_reads, bg_err, np.clip(other_rate, MIN_RATE, MAX_RATE), o_reads)
