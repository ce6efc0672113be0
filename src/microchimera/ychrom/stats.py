"""Male fraction from chrY and autosomal fragment counts: estimate, CI, test, background, LoD.

Notes
-----
Let ``y`` be the fragments in the male-specific Y regions, ``E`` the fragments those regions
would hold if their density equalled the autosomal density (``E = (a / L_a) * L_y`` with ``a``
autosomal fragments, ``L_a`` and ``L_y`` effective bases), and ``Y_c``, ``E_c`` the same summed
over female control samples.  A genome carries one Y per two autosome copies, so a sample with a
male share ``f`` of its genome equivalents has Y density ``f / 2`` times the autosomal density:

    y   ~ Poisson(E   * (f / 2 + b))
    Y_c ~ Poisson(E_c * b)

with ``b`` the female background rate (mismapped reads per unit of ``E``).  Hence
``male fraction = 2 * (Y density) / (autosomal density)`` before background, and the MLE is
``f = 2 * max(0, y / E - Y_c / E_c)``.  The 95% CI is the profile-likelihood interval over ``b``
(``f >= 0``), widened by a quasi-Poisson dispersion ``phi >= 1`` estimated from the spread of
counts among Y bins when there are enough reads.  The test of ``f = 0`` is the exact conditional
test for two Poisson rates: given ``n = y + Y_c``, ``y ~ Binomial(n, E / (E + E_c))`` under the
null.  The autosomal denominator's own Poisson error (hundreds of thousands of fragments or more)
is neglected.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats

from ..conventions import geq_per_100k

#: Default female background when no ``--controls`` are given, as a male-fraction equivalent.
#: A conservative placeholder (not measured on real data): it is carried as one pseudo-read of
#: background, i.e. with 100% relative uncertainty.  Measure your own with female controls.
DEFAULT_BACKGROUND_MALE_FRACTION = 5e-5

#: A sample whose male fraction before background exceeds this is treated as a male host.
MAX_MALE_FRACTION = 0.2

_CHI2_95 = stats.chi2.ppf(0.95, 1)


@dataclass(frozen=True)
class YCounts:
    """Fragment counts of one sample.

    Attributes
    ----------
    y_fragments : int
        Fragments in the male-specific Y regions.
    y_effective_bases : float
        Their effective bases (see :func:`microchimera.ychrom.counting.effective_bases`).
    autosomal_fragments : int
        Fragments in the autosomal windows kept by :func:`robust_density`.
    autosomal_effective_bases : float
    n_windows, n_windows_used : int
        Autosomal windows placed and kept.
    x_fragments : int
        Fragments in chrX windows (outside PARs/XTR); 0 if no chrX.
    x_effective_bases : float
    y_bin_fragments : ndarray, uint32, shape (n_bins,)
        Per-bin Y counts (for the dispersion estimate).
    y_bin_bases : ndarray, float64, shape (n_bins,)
    """

    y_fragments: int
    y_effective_bases: float
    autosomal_fragments: int
    autosomal_effective_bases: float
    n_windows: int
    n_windows_used: int
    x_fragments: int = 0
    x_effective_bases: float = 0.0
    y_bin_fragments: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    y_bin_bases: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        if self.autosomal_fragments <= 0 or self.autosomal_effective_bases <= 0:
            raise ValueError("no autosomal fragments: cannot normalise the Y density")
        if self.y_effective_bases <= 0:
            raise ValueError("Y regions have no effective bases")

    @property
    def autosomal_density(self) -> float:
        """Autosomal fragments per effective base."""
        return self.autosomal_fragments / self.autosomal_effective_bases

    @property
    def expected_units(self) -> float:
        """``E``: Y fragments expected if the Y density equalled the autosomal density."""
        return self.autosomal_density * self.y_effective_bases

    @property
    def raw_male_fraction(self) -> float:
        """``2 * (Y density) / (autosomal density)``, before background subtraction."""
        return 2.0 * self.y_fragments / self.expected_units

    @property
    def x_dosage(self) -> float:
        """chrX copies per diploid autosome set (female ~2, male ~1); NaN without X windows."""
        if self.x_effective_bases <= 0:
            return float("nan")
        return 2.0 * (self.x_fragments / self.x_effective_bases) / self.autosomal_density


def robust_density(counts, bases, low: float = 0.5, high: float = 1.5):
    """Keep windows whose density is within ``[low, high]`` times the median density.

    Drops windows in assembly gaps, centromeres, deletions or duplications.

    Parameters
    ----------
    counts : ndarray, shape (n_windows,)
    bases : ndarray, float64, shape (n_windows,)

    Returns
    -------
    keep : ndarray, bool, shape (n_windows,)
    """
    counts = np.asarray(counts, dtype=np.float64)
    bases = np.asarray(bases, dtype=np.float64)
    ok = bases > 0
    if not ok.any():
        return ok
    dens = np.where(ok, counts / np.where(ok, bases, 1.0), 0.0)
    med = float(np.median(dens[ok]))
    if med <= 0:
        return ok & (dens > 0)
    return ok & (dens >= low * med) & (dens <= high * med)


def dispersion(bin_counts, bin_bases, min_fragments: int = 50, min_bins: int = 5) -> float:
    """Quasi-Poisson dispersion ``phi >= 1`` of Y counts among bins (Pearson chi2 / df).

    Returns 1 when there are fewer than ``min_fragments`` fragments or ``min_bins`` bins: the
    estimate would be noise, and at such counts Poisson error dominates anyway.
    """
    n = np.asarray(bin_counts, dtype=np.float64)
    w = np.asarray(bin_bases, dtype=np.float64)
    keep = w > 0
    n, w = n[keep], w[keep]
    if n.size < min_bins or n.sum() < min_fragments:
        return 1.0
    mu = n.sum() * w / w.sum()
    chi2 = float(np.sum((n - mu) ** 2 / mu))
    return max(1.0, chi2 / (n.size - 1))


@dataclass(frozen=True)
class Background:
    """Female background: ``y_fragments`` seen where ``expected_units`` male-equivalent units were.

    ``rate`` is per unit of ``E``; ``male_fraction`` = ``2 * rate`` is the same as a male fraction.
    """

    y_fragments: float
    expected_units: float
    source: str
    samples: tuple = ()

    @property
    def rate(self) -> float:
        return self.y_fragments / self.expected_units

    @property
    def male_fraction(self) -> float:
        return 2.0 * self.rate

    def male_fraction_ci(self, level: float = 0.95) -> tuple:
        """Exact (Garwood) Poisson interval of ``2 * rate``."""
        a = 1.0 - level
        k = self.y_fragments
        lo = 0.0 if k <= 0 else stats.chi2.ppf(a / 2, 2 * k) / 2
        hi = stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2
        return (2.0 * lo / self.expected_units, 2.0 * hi / self.expected_units)


def background_from_controls(controls, names=()) -> Background:
    """Pool female control samples (:class:`YCounts`) into one :class:`Background`."""
    controls = list(controls)
    if not controls:
        raise ValueError("no controls")
    y = float(sum(c.y_fragments for c in controls))
    e = float(sum(c.expected_units for c in controls))
    return Background(y, e, "controls", tuple(names))


def default_background(male_fraction: float = DEFAULT_BACKGROUND_MALE_FRACTION) -> Background:
    """The documented default: one pseudo-read at ``male_fraction`` (100% relative uncertainty)."""
    return Background(1.0, 2.0 / male_fraction, "default")


@dataclass(frozen=True)
class YEstimate:
    """Male fraction of one sample after background.

    Attributes
    ----------
    male_fraction : float
        MLE of ``f`` (share of genome equivalents from a male), ``>= 0``.
    ci95 : tuple of float
        Profile-likelihood 95% interval.
    raw_male_fraction : float
        ``2 * y / E`` before background.
    p_value : float
        Test of ``f = 0`` against the background (one-sided).
    lod : float
        Smallest ``f`` detected (p < 0.05) with probability 0.95 at this depth and background.
    dispersion : float
        Quasi-Poisson ``phi`` used (1 = Poisson).
    """

    male_fraction: float
    ci95: tuple
    raw_male_fraction: float
    p_value: float
    lod: float
    dispersion: float
    y_fragments: int
    expected_units: float

    @property
    def geq_per_100k(self) -> float:
        return float(geq_per_100k(self.male_fraction))

    @property
    def geq_per_100k_ci95(self) -> tuple:
        return tuple(float(geq_per_100k(v)) for v in self.ci95)

    @property
    def detected(self) -> bool:
        return self.p_value < 0.05


def _profile_b(lam, y, e, yc, ec):
    """Background rate maximising the joint likelihood at ``lam = f / 2`` (closed form)."""
    s = e + ec
    bq = s * lam - y - yc
    return (-bq + math.sqrt(bq * bq + 4.0 * s * yc * lam)) / (2.0 * s)


def _loglik(lam, b, y, e, yc, ec):
    return (special.xlogy(y, e * (lam + b)) - e * (lam + b)
            + special.xlogy(yc, ec * b) - ec * b)


def _profile(lam, y, e, yc, ec):
    return _loglik(lam, _profile_b(lam, y, e, yc, ec), y, e, yc, ec)


def exact_p_value(y, e, yc, ec) -> float:
    """One-sided exact conditional test of equal Poisson rates (``f = 0``).

    ``P(Binomial(y + Y_c, E / (E + E_c)) >= y)``, written as the regularised incomplete beta
    ``I_p(y, Y_c + 1)`` so that a non-integer pseudo-count ``Y_c`` works too.
    """
    if y <= 0:
        return 1.0
    return float(special.betainc(y, yc + 1.0, e / (e + ec)))


def detection_limit(e, yc, ec, alpha: float = 0.05, power: float = 0.95) -> float:
    """Smallest male fraction detected at level ``alpha`` with probability ``power``.

    The critical count ``k`` is the smallest ``y`` with :func:`exact_p_value` ``< alpha``; the
    LoD is the ``f`` at which ``P(Poisson(E (f/2 + b)) >= k) = power`` with ``b = Y_c / E_c``.
    """
    hi = 1
    while exact_p_value(hi, e, yc, ec) >= alpha:
        hi *= 2
        if hi > 1 << 40:
            return float("inf")
    lo = hi // 2  # p(lo) >= alpha (or lo == 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if exact_p_value(mid, e, yc, ec) < alpha:
            hi = mid
        else:
            lo = mid
    mean = stats.chi2.ppf(power, 2 * hi) / 2.0  # P(Poisson(mean) >= k) = P(chi2_2k <= 2 mean)
    return max(0.0, 2.0 * (mean / e - yc / ec))


def estimate_male_fraction(counts: YCounts, background: Background, *, phi: float | None = None) -> YEstimate:
    """Male fraction of one sample, with CI, test and LoD (model in the module Notes).

    Parameters
    ----------
    counts : YCounts
    background : Background
    phi : float, optional
        Dispersion; estimated from ``counts.y_bin_fragments`` when omitted.
    """
    y = float(counts.y_fragments)
    e = counts.expected_units
    yc, ec = float(background.y_fragments), float(background.expected_units)
    phi = dispersion(counts.y_bin_fragments, counts.y_bin_bases) if phi is None else max(1.0, phi)

    lam_hat = max(0.0, y / e - yc / ec)
    lmax = _profile(lam_hat, y, e, yc, ec)

    def excess(lam):
        return 2.0 * (lmax - _profile(lam, y, e, yc, ec)) / phi - _CHI2_95

    lower = 0.0
    if lam_hat > 0 and excess(0.0) > 0:
        lower = optimize.brentq(excess, 0.0, lam_hat, xtol=1e-14 / e, rtol=1e-10)
    hi = lam_hat + (math.sqrt(y + 1.0) * 3.0 + 3.0) / e
    while excess(hi) < 0:
        hi *= 2.0
    upper = optimize.brentq(excess, lam_hat, hi, xtol=1e-14 / e, rtol=1e-10)

    if phi > 1.0:
        d0 = max(0.0, 2.0 * (lmax - _profile(0.0, y, e, yc, ec)) / phi)
        p = 0.5 * float(stats.chi2.sf(d0, 1)) if lam_hat > 0 else 1.0
    else:
        p = exact_p_value(y, e, yc, ec)
    return YEstimate(
        male_fraction=2.0 * lam_hat,
        ci95=(2.0 * lower, 2.0 * upper),
        raw_male_fraction=counts.raw_male_fraction,
        p_value=p,
        lod=float(detection_limit(e, yc, ec)),
        dispersion=phi,
        y_fragments=int(y),
        expected_units=e,
    )
