"""Detection power and limit of detection for a sequencing design, before any data exist.

A design is ``n_sites`` biallelic SNPs (population alt-allele frequency AF drawn uniformly
from ``af_range``), ``depth`` fragments per site (Poisson), a per-base substitution error
``error`` (split evenly over the three wrong bases, as in :mod:`microchimera.sim`) and one
donor of a given relationship to the host.

Notes
-----
The test of ``f = 0`` is the likelihood-ratio test of :mod:`microchimera.model.fit.detection`, whose
null distribution sits on the boundary (``1/2 chi2_0 + 1/2 chi2_1``).  Near the truth the
statistic behaves as ``T = max(0, Z)^2`` with ``Z ~ N(sqrt(lambda), 1)``, where the
non-centrality is twice the expected log-likelihood ratio of the true fraction against 0,

    lambda(f) = 2 * n_sites * E_{AF, n}[ KL( P_f(x | n, AF) || P_0(x | n, AF) ) ],

i.e. ``f^2`` times the expected Fisher information at small ``f``.  A level-``alpha`` test
rejects when ``sqrt(T) > z_{1-alpha}`` (because ``P(chi2_1 > c) = 2 alpha`` at
``c = z_{1-alpha}^2``), so

    power(f) = Phi( sqrt(lambda(f) / inflation) - z_{1-alpha} ).

``P_f(x | n, AF)`` is the distribution of alt reads among ``n`` at one site:

* ``typed=False`` (no-family mode, ``--relationship``): host and donor genotypes are
  unknown and summed out, ``sum_{g_h, g_d} P(g_h, g_d | AF, kinship) Bin(x; n, p(g_h, g_d, f))``;
  the KL divergence of these mixtures is computed exactly over ``x = 0..n``;
* ``typed=True`` (family mode with genotyped host and donor): the genotypes are known,
  so each site contributes ``n KL(Bern(p(f)) || Bern(p(0)))`` averaged over genotypes.

``p = mu (1 - E) + (1 - mu) E / 3`` normalised by the probability of reading REF or ALT,
with ``mu = (1 - f) g_h / 2 + f g_d / 2``.  Joint genotypes come from the IBD sharing
probabilities ``(k0, k1, k2)`` of the relationship with Hardy-Weinberg founders.  The
expectation over AF uses ``AF_NODES`` midpoints of ``af_range``; over the depth, the
midpoints of ``DEPTH_NODES`` equal-probability bins of Poisson(``depth``).

Overdispersion ``rho`` divides each site's information by ``1 + (n - 1) rho`` (the
beta-binomial variance factor), and ``inflation`` (the linked-site CI inflation of a
fit, >= 1) divides ``lambda``.  ``quantify`` estimates a common multiplier of the error
rates from the same reads (re-fitted under the null), so ``lambda`` is the KL divergence
from the least favourable null: ``min over kappa0 of 2 N E[KL(P_{f,1} || P_{0,kappa0})]``.
At small ``f`` this is ``f^2`` times the efficient information (:func:`nuisance_factor`
times the known-error information).
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import optimize, special, stats

from ..conventions import geq_per_100k
from ..errors import UsageError
from .fit import ERROR_SCALE_BOUNDS as KAPPA_BOUNDS  # the range quantify fits the multiplier in

#: IBD sharing probabilities (k0, k1, k2) of a donor with the host.
IBD = {
    "child": (0.0, 1.0, 0.0),
    "parent": (0.0, 1.0, 0.0),
    "sibling": (0.25, 0.5, 0.25),
    "grandchild": (0.5, 0.5, 0.0),
    "unrelated": (1.0, 0.0, 0.0),
}
RELATIONSHIPS = tuple(IBD)
AF_NODES = 24
DEPTH_NODES = 16
#: Most SNPs per molecule the power calculation enumerates (2^L patterns per amplicon).
MAX_MOLECULE_SNPS = 12
#: Amplicons drawn (fixed seed) to average the molecule statistic over AF and haplotypes.
MOLECULE_DRAWS = 2000
F_MIN, F_MAX = 1e-9, 0.5


@dataclass(frozen=True)
class Design:
    """A sequencing design: what ``microchimera power`` is asked about.

    Attributes
    ----------
    n_sites : int
        Biallelic SNP sites in the panel (all of them, informative or not).
    depth : float
        Mean fragments per site (Poisson).
    error : float
        Per-base substitution error (all classes together), in [0, 0.3).
    relationship : str
        One of :data:`RELATIONSHIPS`.
    typed : bool
        Host and donor genotyped (family mode) rather than summed out (no-family mode).
    af_range : tuple of float
        AF is uniform on this interval.
    alpha : float
        Level of the test of ``f = 0``.
    rho : float
        Beta-binomial overdispersion.
    inflation : float
        Linked-site inflation of the LRT statistic (>= 1).
    snps_per_molecule : int
        1: SNPs far apart (every fragment shows one).  ``L >= 2``: an amplicon or
        microhaplotype panel whose every molecule shows ``L`` SNPs (``n_sites / L``
        amplicons, ``depth`` molecules each); the LoD is then also given for the molecule
        likelihood (:func:`molecule_noncentrality`; typed child or parent donors only).
    """

    n_sites: int
    depth: float
    error: float = 1e-3
    relationship: str = "child"
    typed: bool = False
    af_range: tuple = (0.05, 0.95)
    alpha: float = 0.05
    rho: float = 0.0
    inflation: float = 1.0
    snps_per_molecule: int = 1

    def __post_init__(self):
        if int(self.n_sites) < 1:
            raise UsageError(f"sites: expected >= 1, found {self.n_sites}")
        if not (np.isfinite(self.depth) and self.depth > 0):
            raise UsageError(f"depth: expected a number > 0, found {self.depth}")
        if not 0.0 <= self.error < 0.3:
            raise UsageError(f"error: expected a per-base rate in [0, 0.3), found {self.error}")
        if self.relationship not in IBD:
            raise UsageError(f"relationship: expected one of {', '.join(RELATIONSHIPS)}, "
                             f"found {self.relationship!r}")
        lo, hi = self.af_range
        if not 0.0 < lo <= hi < 1.0:
            raise UsageError(f"af_range: expected 0 < low <= high < 1, found {lo}, {hi}")
        if not 0.0 < self.alpha < 0.5:
            raise UsageError(f"alpha: expected a number in (0, 0.5), found {self.alpha}")
        if not 0.0 <= self.rho < 1.0:
            raise UsageError(f"rho: expected a number in [0, 1), found {self.rho}")
        if not self.inflation >= 1.0:
            raise UsageError(f"inflation: expected >= 1, found {self.inflation}")
        if not 1 <= int(self.snps_per_molecule) <= MAX_MOLECULE_SNPS:
            raise UsageError(f"snps per molecule: expected 1 to {MAX_MOLECULE_SNPS}, found {self.snps_per_molecule}")
        if self.snps_per_molecule > 1:
            if not self.typed or self.relationship not in ("child", "parent"):
                raise UsageError("snps per molecule: the molecule likelihood is modelled for a typed child or parent "
                                 "of the host (--typed --relationship child|parent)")
            if int(self.n_sites) < self.snps_per_molecule:
                raise UsageError(f"sites: expected at least one molecule's {self.snps_per_molecule} SNPs, "
                                 f"found {self.n_sites}")

    def replace(self, **changes) -> Design:
        return Design(**{**asdict(self), **changes})


def joint_genotype_prior(af, relationship: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint host/donor alt dosages and their probabilities at each AF.

    Parameters
    ----------
    af : ndarray, float64, shape (n_af,)
    relationship : str

    Returns
    -------
    g_host, g_donor : ndarray, int64, shape (9,)
        Every (host, donor) dosage pair.
    weight : ndarray, float64, shape (n_af, 9)
        ``P(g_host, g_donor | AF)``; rows sum to 1.
    """
    k0, k1, k2 = IBD[relationship]
    p = np.asarray(af, dtype=np.float64)[:, None]
    q = 1.0 - p
    hwe = np.concatenate([q * q, 2 * p * q, p * p], axis=1)  # (n_af, 3)
    gh, gd = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
    gh, gd = gh.ravel(), gd.ravel()
    # k1: the donor carries one of the host's two alleles (alt with prob g_h/2) and one
    # allele drawn from the population (alt with prob AF).
    t = gh[None, :] / 2.0
    one = np.where(gd == 0, (1 - t) * q, np.where(gd == 2, t * p, t * q + (1 - t) * p))
    w = hwe[:, gh] * (k0 * hwe[:, gd] + k1 * one + k2 * (gd == gh)[None, :])
    return gh, gd, w


def _alt_read_prob(gh, gd, f, error) -> np.ndarray:
    mu = (1.0 - f) * gh / 2.0 + f * gd / 2.0
    e3 = error / 3.0
    p_alt = mu * (1.0 - error) + (1.0 - mu) * e3
    p_ref = (1.0 - mu) * (1.0 - error) + mu * e3
    return np.clip(p_alt / (p_alt + p_ref), 1e-300, 1.0 - 1e-16)


def _depth_nodes(depth: float) -> np.ndarray:
    """Midpoints of equal-probability bins of Poisson(depth), int64 (DEPTH_NODES,), >= 1."""
    u = (np.arange(DEPTH_NODES) + 0.5) / DEPTH_NODES
    return np.maximum(stats.poisson.ppf(u, depth).astype(np.int64), 1)


def _af_nodes(af_range) -> np.ndarray:
    lo, hi = af_range
    return lo + (hi - lo) * (np.arange(AF_NODES) + 0.5) / AF_NODES


def _support(n: int, p: np.ndarray, width: float = 12.0) -> np.ndarray:
    """Alt counts ``x`` within ``width`` standard deviations (+ ``width``) of ``n p`` for some
    ``p``: the binomial mass outside is below 1e-25, so the KL sum can skip it."""
    mean = n * p
    sd = np.sqrt(n * p * (1.0 - p))
    lo = np.clip(np.floor(mean - width * sd - width), 0, n).astype(np.int64)
    hi = np.clip(np.ceil(mean + width * sd + width), 0, n).astype(np.int64)
    keep = np.zeros(n + 1, dtype=bool)
    for a, b in zip(lo, hi, strict=True):
        keep[a:b + 1] = True
    return np.flatnonzero(keep).astype(np.float64)


def _mixture_kl(n: int, w: np.ndarray, p1: np.ndarray, p0: np.ndarray) -> float:
    """Mean over AF nodes of KL(sum_c w_c Bin(n, p1_c) || sum_c w_c Bin(n, p0_c)).

    The binomial coefficient cancels in the log ratio; each mixture is
    ``m(x) + log(W @ exp(l(x) - m(x)))`` with ``m`` the largest component (a matrix product).
    """
    x = _support(n, np.concatenate([p1, p0]))[:, None]
    log_choose = (special.gammaln(n + 1.0) - special.gammaln(x[:, 0] + 1.0) - special.gammaln(n - x[:, 0] + 1.0))

    def log_mix(p):
        lb = x * np.log(p)[None, :] + (n - x) * np.log1p(-p)[None, :]  # (n+1, 9)
        m = lb.max(axis=1)
        with np.errstate(divide="ignore"):
            return m[None, :] + np.log(w @ np.exp(lb - m[:, None]).T)  # (n_af, n+1)

    l1, l0 = log_mix(p1), log_mix(p0)
    prob = np.exp(l1 + log_choose[None, :])
    with np.errstate(invalid="ignore"):
        terms = np.where(prob > 0, prob * (l1 - l0), 0.0)
    return float(np.mean(terms.sum(axis=1)))


def _read_prob_derivatives(gh, gd, f, error) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alt-read probability and its derivatives in ``f`` and in ``log kappa`` (the error
    multiplier, at ``kappa = 1``), by central differences; each (9,)."""
    h = max(f * 1e-3, 1e-9)
    p = _alt_read_prob(gh, gd, f, error)
    dp_df = (_alt_read_prob(gh, gd, f + h, error) - _alt_read_prob(gh, gd, max(f - h, 0.0), error)) / (
        f + h - max(f - h, 0.0))
    e = 1e-4
    dp_dk = (_alt_read_prob(gh, gd, f, error * math.exp(e)) - _alt_read_prob(gh, gd, f, error * math.exp(-e))) / (2 * e)
    return p, dp_df, dp_dk


def nuisance_factor(design: Design) -> float:
    """Share of the information on ``f`` left once the error multiplier is estimated too:
    the small-``f`` limit of ``noncentrality / _noncentrality_known_error`` (a check of the
    profiled KL, and a quick summary of how much the error multiplier costs a design).

    ``quantify`` fits a common multiplier ``kappa`` of the error rates from the same reads
    and re-fits it under the null, so donor reads and errors trade off.  The factor is
    ``1 - I_fk^2 / (I_ff I_kk)`` of the expected Fisher information of ``(f, log kappa)``
    at the null ``f = 0`` (local alternatives: the efficient information at the null sets
    the power of the test), per site exact over the genotype mixture (``x = 0..n``) when
    genotypes are summed out; in (0, 1].  It does not depend on ``n_sites``: small panels
    lose as much as large ones, in share.
    """
    if design.error <= 0:
        return 1.0
    f = 1e-12
    af = _af_nodes(design.af_range)
    gh, gd, w = joint_genotype_prior(af, design.relationship)
    p, dp_df, dp_dk = _read_prob_derivatives(gh, gd, f, design.error)
    info = np.zeros((2, 2))
    for n in _depth_nodes(design.depth):
        scale = 1.0 / (1.0 + (n - 1.0) * design.rho)
        if design.typed:
            per = n / (p * (1 - p))  # binomial information of p from n reads, (9,)
            wm = w.mean(axis=0)
            for i, a in enumerate((dp_df, dp_dk)):
                for j, b in enumerate((dp_df, dp_dk)):
                    info[i, j] += scale * float(np.sum(wm * per * a * b))
        else:
            info += scale * _mixture_information(n, w, p, dp_df, dp_dk)
    if info[0, 0] <= 0 or info[1, 1] <= 0:
        return 1.0
    return float(np.clip(1.0 - info[0, 1] ** 2 / (info[0, 0] * info[1, 1]), 1e-6, 1.0))


def _mixture_information(n: int, w: np.ndarray, p: np.ndarray, dp_df: np.ndarray, dp_dk: np.ndarray) -> np.ndarray:
    """Mean over AF nodes of the (2, 2) Fisher information of ``sum_c w_c Bin(x; n, p_c)``
    in (f, log kappa), summed over the support of ``x``."""
    x = _support(n, p)[:, None]
    log_choose = (special.gammaln(n + 1.0) - special.gammaln(x + 1.0) - special.gammaln(n - x + 1.0))
    comp = np.exp(log_choose + x * np.log(p)[None, :] + (n - x) * np.log1p(-p)[None, :])  # (n_x, 9)
    score = x / p[None, :] - (n - x) / (1 - p)[None, :]  # d log Bin / dp, (n_x, 9)
    mix = w @ comp.T  # (n_af, n_x)
    d_f = w @ (comp * score * dp_df[None, :]).T
    d_k = w @ (comp * score * dp_dk[None, :]).T
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(mix > 0, 1.0 / mix, 0.0)
    out = np.empty((2, 2))
    out[0, 0] = np.mean(np.sum(d_f * d_f * inv, axis=1))
    out[0, 1] = out[1, 0] = np.mean(np.sum(d_f * d_k * inv, axis=1))
    out[1, 1] = np.mean(np.sum(d_k * d_k * inv, axis=1))
    return out


def noncentrality(design: Design, fraction: float) -> float:
    """Non-centrality ``lambda`` of the LRT statistic at donor fraction ``fraction`` (see Notes).

    The error multiplier ``kappa`` that ``quantify`` re-fits under the null is profiled out:
    ``lambda = min over kappa0 of 2 N E[KL(P_{f, kappa=1} || P_{0, kappa0})]`` (the expected
    LRT statistic against the least favourable null), searched over the fit's bounds.
    """
    f = float(fraction)
    if f <= 0:
        return 0.0
    known = _noncentrality_at(design, f, 1.0)
    if design.error <= 0:
        return known
    res = optimize.minimize_scalar(lambda lk: _noncentrality_at(design, f, math.exp(lk)),
                                   bounds=(math.log(KAPPA_BOUNDS[0]), math.log(KAPPA_BOUNDS[1])),
                                   method="bounded", options={"xatol": 1e-4})
    return float(min(known, res.fun))


def _noncentrality_known_error(design: Design, f: float) -> float:
    """``lambda`` with the error rates known (the KL form of the Notes)."""
    return _noncentrality_at(design, f, 1.0)


def _noncentrality_at(design: Design, f: float, kappa0: float) -> float:
    """``2 N E[KL(P_{f, 1} || P_{0, kappa0})]`` over AF and depth nodes."""
    af = _af_nodes(design.af_range)
    gh, gd, w = joint_genotype_prior(af, design.relationship)
    p1 = _alt_read_prob(gh, gd, f, design.error)  # (9,)
    p0 = _alt_read_prob(gh, gd, 0.0, design.error * kappa0)
    total = 0.0
    for n in _depth_nodes(design.depth):
        scale = 1.0 / (1.0 + (n - 1.0) * design.rho)
        if design.typed:
            kl = p1 * np.log(p1 / p0) + (1 - p1) * np.log((1 - p1) / (1 - p0))
            per_site = float(np.mean(w @ (n * kl)))
        else:
            per_site = _mixture_kl(n, w, p1, p0)
        total += max(per_site, 0.0) * scale
    return 2.0 * design.n_sites * total / DEPTH_NODES / design.inflation


@functools.cache
def _molecule_patterns(snps: int, af_range: tuple, error: float) -> tuple[np.ndarray, np.ndarray]:
    """Pattern probabilities of ``MOLECULE_DRAWS`` amplicons (``P_h``, ``P_d``: float64
    (n_patterns,) each, the patterns of every draw concatenated), built once per design key.

    Per draw (seed 0): AF uniform on ``af_range`` at each of ``snps`` SNPs, the host's two
    haplotypes and the donor's other haplotype from it, the donor sharing one of the host's
    (a child or a parent).  Only host-homozygous SNPs are observations of a molecule (the
    model's eligible sites; host-heterozygous ones carry almost nothing on ``f``).  A base
    is read as the other allele with probability ``error / 3``.
    """
    rng = np.random.default_rng(0)
    af = rng.uniform(af_range[0], af_range[1], (MOLECULE_DRAWS, snps))
    h = (rng.random((3, MOLECULE_DRAWS, snps)) < af).astype(np.int64)  # host hap 0, host hap 1, donor's own
    shared = h[rng.integers(0, 2, MOLECULE_DRAWS), np.arange(MOLECULE_DRAWS)]
    eligible = h[0] == h[1]
    e = error / 3.0
    ph, pd = [], []
    for i in range(MOLECULE_DRAWS):
        idx = np.flatnonzero(eligible[i])
        pat = (np.arange(2 ** len(idx))[:, None] >> np.arange(len(idx))[None, :]) & 1
        def prob(hap, idx=idx, pat=pat):
            return np.where(pat == hap[idx][None, :], 1.0 - e, e).prod(axis=1)
        ph.append(prob(h[0, i]))
        pd.append(0.5 * prob(shared[i]) + 0.5 * prob(h[2, i]))
    return np.concatenate(ph), np.concatenate(pd)


def molecule_noncentrality(design: Design, fraction: float) -> float:
    """``lambda`` of the molecule likelihood: ``2 (n_sites / L) depth E[KL(P_f || P_0)]`` over
    one molecule's ref/alt patterns at an amplicon's host-homozygous SNPs, averaged over
    ``MOLECULE_DRAWS`` amplicons (:func:`_molecule_patterns`), error rates known, divided
    by ``inflation``."""
    f = float(fraction)
    if f <= 0:
        return 0.0
    ph, pd = _molecule_patterns(int(design.snps_per_molecule), tuple(design.af_range), float(design.error))
    p1 = (1.0 - f) * ph + f * pd
    kl = float(np.sum(p1 * np.log1p(f * (pd / ph - 1.0)))) / MOLECULE_DRAWS  # log1p: exact as f -> 0
    amplicons = int(design.n_sites) // int(design.snps_per_molecule)
    return 2.0 * amplicons * design.depth * kl / design.inflation


def molecule_limit_of_detection(design: Design, power: float = 0.95) -> float | None:
    """The LoD of the molecule likelihood (:func:`molecule_noncentrality`); None below 0.5 unreached."""
    return _solve_lod(lambda f: molecule_noncentrality(design, f), _target_lambda(design, power))


def detection_power(design: Design, fraction) -> np.ndarray:
    """Probability that the level-``alpha`` test detects a donor at ``fraction``.

    Parameters
    ----------
    design : Design
    fraction : float or array_like, float64, shape (n,)

    Returns
    -------
    ndarray, float64, same shape as ``fraction``
    """
    fr = np.asarray(fraction, dtype=np.float64)
    z = stats.norm.ppf(1.0 - design.alpha)
    lam = np.array([noncentrality(design, v) for v in fr.ravel()]).reshape(fr.shape)
    out = stats.norm.cdf(np.sqrt(lam) - z)
    return np.where(fr > 0, out, design.alpha)


def _target_lambda(design: Design, power: float) -> float:
    if not design.alpha < power < 1.0:
        raise UsageError(f"power: expected a number in (alpha, 1), found {power}")
    return float((stats.norm.ppf(1.0 - design.alpha) + stats.norm.ppf(power)) ** 2)


def limit_of_detection(design: Design, power: float = 0.95) -> float | None:
    """Smallest fraction detected with probability ``power``; None if not reached below 0.5."""
    return _solve_lod(lambda f: noncentrality(design, f), _target_lambda(design, power))


def _solve_lod(lam, target: float) -> float | None:
    """Smallest ``f`` in [``F_MIN``, ``F_MAX``] with ``lam(f) >= target`` (log-scale root);
    None if ``F_MAX`` does not reach it."""
    if lam(F_MAX) < target:
        return None
    if lam(F_MIN) >= target:
        return F_MIN
    x = optimize.brentq(lambda v: lam(10.0**v) - target, math.log10(F_MIN), math.log10(F_MAX), xtol=1e-4)
    return float(10.0**x)


def sites_needed(design: Design, fraction: float, power: float = 0.95) -> int:
    """Sites (at the design's depth) to detect ``fraction`` with probability ``power``."""
    lam = noncentrality(design, fraction)
    if lam <= 0:
        raise UsageError(f"fraction: expected a number > 0, found {fraction}")
    return int(math.ceil(design.n_sites * _target_lambda(design, power) / lam))


def depth_needed(design: Design, fraction: float, power: float = 0.95, max_depth: float = 1e5) -> float | None:
    """Mean depth (at the design's sites) to detect ``fraction`` with probability ``power``;
    None if even ``max_depth`` is not enough (the error floor)."""
    target = _target_lambda(design, power)

    def gap(log_d):
        return noncentrality(design.replace(depth=10.0**log_d), fraction) - target

    if gap(math.log10(max_depth)) < 0:
        return None
    if gap(0.0) >= 0:
        return 1.0
    return float(10.0 ** optimize.brentq(gap, 0.0, math.log10(max_depth), xtol=1e-3))


@dataclass(frozen=True)
class PowerResult:
    """What ``microchimera power`` reports (JSON form by :meth:`to_dict`)."""

    design: Design
    power_target: float
    lod: float | None
    curve_fraction: np.ndarray
    curve_power: np.ndarray
    fraction: float | None = None
    power_at_fraction: float | None = None
    sites_needed: int | None = None
    depth_needed: float | None = None
    notes: list = field(default_factory=list)
    lod_molecules: float | None = None

    def to_dict(self) -> dict:
        return {
            "design": {**asdict(self.design), "af_range": list(self.design.af_range)},
            "power_target": self.power_target,
            "lod": self.lod,
            "lod_geq_per_100k": None if self.lod is None else float(geq_per_100k(self.lod, self.lod)),
            "lod_molecules": self.lod_molecules,
            "curve": {"fraction": self.curve_fraction.tolist(), "power": self.curve_power.tolist()},
            "target": None if self.fraction is None else {
                "fraction": self.fraction,
                "geq_per_100k": float(geq_per_100k(self.fraction, self.fraction)),
                "power": self.power_at_fraction,
                "sites_needed": self.sites_needed,
                "depth_needed": self.depth_needed,
            },
            "method": "non-central chi-square of the boundary LRT (docs/power.md)",
            "notes": list(self.notes),
        }


def power_analysis(design: Design, fraction: float | None = None, power: float = 0.95,
                   n_points: int = 41) -> PowerResult:
    """LoD and power curve of a design; with ``fraction``, also the power there and the
    sites or depth needed to reach ``power``.

    Raises
    ------
    UsageError
        Invalid design values, ``fraction`` outside (0, 0.5], ``power`` outside (alpha, 1).
    """
    _target_lambda(design, power)
    if fraction is not None and not 0.0 < fraction <= F_MAX:
        raise UsageError(f"fraction: expected a number in (0, {F_MAX}], found {fraction}")
    lod = limit_of_detection(design, power)
    centre = lod if lod is not None else (fraction or 1e-2)
    lo = max(F_MIN, min(centre, fraction or centre) / 30.0)
    hi = min(F_MAX, max(centre, fraction or centre) * 10.0)
    grid = np.geomspace(lo, hi, n_points)
    curve = detection_power(design, grid)
    notes = []
    if lod is None:
        notes.append(f"power {power} is not reached below f = {F_MAX}: sequencing error or too few sites")
    lod_mol = None
    if design.snps_per_molecule > 1:
        lod_mol = molecule_limit_of_detection(design, power)
        notes.append(f"lod is the site likelihood's (every read of a molecule counted at each of its "
                     f"{design.snps_per_molecule} SNPs); lod_molecules the molecule likelihood's, with the error "
                     "rate known (docs/power.md)")
    if fraction is None:
        return PowerResult(design, power, lod, grid, curve, notes=notes, lod_molecules=lod_mol)
    dn = depth_needed(design, fraction, power)
    if dn is None:
        notes.append("no depth reaches the target power with these sites: add sites")
    return PowerResult(design, power, lod, grid, curve, fraction=float(fraction),
                       power_at_fraction=float(detection_power(design, fraction)),
                       sites_needed=sites_needed(design, fraction, power), depth_needed=dn, notes=notes,
                       lod_molecules=lod_mol)
