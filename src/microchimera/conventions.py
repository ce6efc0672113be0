"""Coordinates, encodings, dtypes and units, defined once for the whole package.

Coordinates
    Internally every position is **0-based**, intervals are half-open ``[start, end)``
    (as in BED, pysam and htslib).  Only VCF text, region strings (``chr1:1001-2000``)
    and the ``pos`` column of the counts table are 1-based, and conversion happens in
    :mod:`microchimera.io` alone (counts table: :mod:`microchimera.io.allele_counts`).

Alleles
    At a biallelic SNP site the allele carried by a read is ``ALLELE_REF`` (0),
    ``ALLELE_ALT`` (1), ``ALLELE_OTHER`` (2, a base that is neither) or
    ``ALLELE_MISSING`` (-1, no base: deletion, N or filtered), stored as ``int8``.

Genotypes
    Alt-allele dosage ``0, 1, 2`` as ``int8``; ``GENOTYPE_MISSING`` (-1) when unknown.

Counts
    Read/fragment counts are ``uint32``.

Likelihoods
    ``float64``, natural-log space.

Intervals of a count
    An observed count ``k`` (error reads, alt reads) gets the exact 95% Poisson interval of
    Garwood, :func:`poisson_ci95`.

Units of donor amount
    A *fraction* ``f`` is the share of genome equivalents in the sample that come from a
    donor (0..1).  *gEq per 100,000* is ``1e5 * f / (1 - sum(f))``: donor genome
    equivalents per 100,000 host genome equivalents.
"""
from __future__ import annotations

import numpy as np

ALLELE_MISSING = -1
ALLELE_REF = 0
ALLELE_ALT = 1
ALLELE_OTHER = 2

GENOTYPE_MISSING = -1

GENOTYPE_DTYPE = np.int8
COUNT_DTYPE = np.uint32

#: quantify drops sites with more than this many times the median ref + alt depth
#: (collapsed duplications, CNV gains; ``microchimera.model.quantify.depth_cap``).
MAX_DEPTH_RATIO = 3.0
#: Balding–Nichols drift θ of a family's population from the AF in use (NRC II
#: recommendation 4.1; ``microchimera.model.drift``).
DEFAULT_THETA = 0.01
POS_DTYPE = np.int64

BASES = "ACGT"
#: Base letter -> code 0..3; anything else (N, IUPAC) -> 4.
BASE_CODE = {b: i for i, b in enumerate(BASES)}
BASE_UNKNOWN = 4

#: The 12 substitution classes ``REF>ALT`` for which error rates are reported.
SUBSTITUTION_CLASSES = tuple(f"{a}>{b}" for a in BASES for b in BASES if a != b)

GEQ_SCALE = 1e5


def geq_per_100k(fraction, total_fraction=None):
    """Convert a donor fraction to donor genome equivalents per 100,000 host genomes.

    Parameters
    ----------
    fraction : float or ndarray
        Donor share of genome equivalents in the sample (0..1).
    total_fraction : float or ndarray, optional
        Sum of the fractions of all donors (defaults to ``fraction``: one donor).

    Returns
    -------
    float or ndarray
        ``1e5 * fraction / (1 - total_fraction)``.
    """
    if total_fraction is None:
        total_fraction = fraction
    return GEQ_SCALE * np.asarray(fraction) / (1.0 - np.asarray(total_fraction))


def poisson_ci95(k: float) -> tuple[float, float]:
    """Exact 95% Poisson interval of a count ``k`` (Garwood: chi-square quantiles); ``(0, 3.69)`` at 0."""
    from scipy import stats

    k = max(0.0, float(k))
    lo = 0.0 if k == 0 else float(stats.chi2.ppf(0.025, 2 * k) / 2)
    return lo, float(stats.chi2.ppf(0.975, 2 * k + 2) / 2)
