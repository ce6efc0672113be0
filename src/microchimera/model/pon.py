"""A panel of normals: per-site sequencing error from samples that carry no donor DNA.

Real error is not one rate per substitution class: it varies over 100-fold within a class
with sequence context, differs between strands, and a few sites are far above the rest.
Samples known to hold no donor DNA at the panel's sites (the host's own earlier sample,
unrelated controls, blanks) show the same errors at the same sites.  This module estimates,
per site, per direction and per strand, the error rate with its uncertainty:

* **Which normals count at a site.** A normal is homozygous at a site when fewer than
  :data:`HOM_MAX_SHARE` of its reads show the other allele (and it has at least
  :data:`MIN_DEPTH` reads); only homozygous normals inform the error there, hom-ref ones
  the ``REF>ALT`` direction (their alt reads are errors), hom-alt ones ``ALT>REF``.
* **Per-site rates, shrunk to the class.** A site's ``x`` error reads of ``n`` (summed over
  its homozygous normals, deflated by the between-normal overdispersion of the class) meet a
  prior of the class's site rates: with enough sites and error reads, a distribution on
  :data:`PRIOR_GRID` estimated by maximum marginal likelihood (:func:`_grid_prior`; a
  log-normal spread with hot sites is no Beta), each site's posterior carried as the Beta of
  its mean and variance; otherwise ``Beta(m·μ, m·(1−μ))`` with ``μ`` the class's Jeffreys
  mean and ``m`` from the excess variance of the site rates (method of moments).  A site
  with few normals stays near its class; a site with many reads gets its own.
* **Flags.** ``noisy``: the posterior's 1% quantile is above :data:`NOISY_FOLD` times the
  class rate and above :data:`NOISY_MIN_RATE`; ``strand_bias``: one strand's errors exceed the
  other's by :data:`STRAND_FOLD` times with a binomial p-value below 1e-6; ``no_normals``: no
  homozygous normal in either direction (the class rate is the only knowledge).  ``noisy``
  and ``strand_bias`` sites are for exclusion.
* **A normal with donor DNA.** Each normal's background rate at the panel's clean sites is
  compared with the others'; one whose rate exceeds :data:`NORMAL_MAX_FOLD` times their
  median, beyond Poisson noise, is flagged and left out of every estimate.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from ..errors import InputError
from ..io.allele_counts import AlleleCounts
from ..io.sites import SiteTable
from .seqerror import MAX_RATE, MIN_RATE, UNKNOWN_CLASS, substitution_class

logger = logging.getLogger(__name__)

#: A normal is homozygous at a site when the other allele's share of its reads is below this.
HOM_MAX_SHARE = 0.1
#: Fewest ref+alt reads of a normal at a site for it to count there.
MIN_DEPTH = 10
#: ``noisy``: posterior 1% quantile above this multiple of the class rate ...
NOISY_FOLD = 5.0
#: ... and above this rate per base.
NOISY_MIN_RATE = 2e-3
#: ``strand_bias``: one strand's error rate this many times the other's (p < 1e-6).
STRAND_FOLD = 8.0
#: A normal whose clean-site background exceeds the others' median this many times is flagged.
NORMAL_MAX_FOLD = 3.0
#: Directions of error at a site: REF>ALT (seen at hom-ref normals), ALT>REF (at hom-alt ones).
DIRECTIONS = ("ref_alt", "alt_ref")
FLAGS = ("pass", "noisy", "strand_bias", "no_normals")


@dataclass(frozen=True)
class PanelOfNormals:
    """Per-site error of a panel of normals.

    Arrays are over ``sites`` (``n``) and the two :data:`DIRECTIONS` (axis 1); ``[..., 0]``
    is the forward strand and ``[..., 1]`` the reverse one where an axis of 2 follows.

    Attributes
    ----------
    sites : SiteTable
    normals : tuple of str
        The normals used (flagged ones left out: ``excluded``).
    errors, depth : ndarray, int64, shape (n, 2, 2)
        Error reads and reads of the homozygous normals, by direction and strand.
    n_normals : ndarray, int32, shape (n, 2)
        Homozygous normals per direction.
    alpha, beta : ndarray, float64, shape (n, 2)
        Posterior Beta of the per-base error rate (both strands), per direction.
    class_rate, class_strength, class_overdispersion : ndarray, float64, shape (13, 2)
        Per substitution class (index :func:`substitution_class` of REF>ALT) and direction:
        the prior mean, its strength ``m`` (pseudo-reads) and the between-normal
        overdispersion used to deflate the counts.
    flag : ndarray of str, shape (n,)
        One of :data:`FLAGS`.
    normal_background : dict str -> float
        Each normal's error rate per base at clean sites (all normals, flagged ones too).
    excluded : dict str -> str
        Flagged normals and why.
    """

    sites: SiteTable
    normals: tuple[str, ...]
    errors: np.ndarray
    depth: np.ndarray
    n_normals: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    class_rate: np.ndarray
    class_strength: np.ndarray
    class_overdispersion: np.ndarray
    flag: np.ndarray
    normal_background: dict = field(default_factory=dict)
    excluded: dict = field(default_factory=dict)

    @property
    def rate(self) -> np.ndarray:
        """Posterior mean error rate per base, float64 (n, 2)."""
        return self.alpha / (self.alpha + self.beta)

    def quantile(self, q: float) -> np.ndarray:
        """Posterior quantile ``q`` of the error rate, float64 (n, 2)."""
        return special.betaincinv(self.alpha, self.beta, q)

    @property
    def usable(self) -> np.ndarray:
        """bool (n,): sites not flagged for exclusion."""
        return (self.flag != "noisy") & (self.flag != "strand_bias")


def _homozygous(ref: np.ndarray, alt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = ref + alt
    deep = n >= MIN_DEPTH
    with np.errstate(invalid="ignore", divide="ignore"):
        return deep & (alt < HOM_MAX_SHARE * n), deep & (ref < HOM_MAX_SHARE * n)


def _per_normal(counts: AlleleCounts, keep: np.ndarray):
    """errors/depth (normals, n, 2 directions, 2 strands) of homozygous normals, and hom masks."""
    ref = counts.ref_fwd.astype(np.int64) + counts.ref_rev
    alt = counts.alt_fwd.astype(np.int64) + counts.alt_rev
    homref, homalt = _homozygous(ref, alt)
    homref &= keep[None, :]
    homalt &= keep[None, :]
    fwd = counts.ref_fwd.astype(np.int64) + counts.alt_fwd
    rev = counts.ref_rev.astype(np.int64) + counts.alt_rev
    err = np.zeros((*ref.shape, 2, 2), dtype=np.int64)
    dep = np.zeros_like(err)
    err[..., 0, 0] = np.where(homref, counts.alt_fwd, 0)
    err[..., 0, 1] = np.where(homref, counts.alt_rev, 0)
    err[..., 1, 0] = np.where(homalt, counts.ref_fwd, 0)
    err[..., 1, 1] = np.where(homalt, counts.ref_rev, 0)
    for d, hom in enumerate((homref, homalt)):
        dep[..., d, 0] = np.where(hom, fwd, 0)
        dep[..., d, 1] = np.where(hom, rev, 0)
    return err, dep, homref, homalt


def _class_prior(x: np.ndarray, n: np.ndarray, cls: np.ndarray, xn: np.ndarray, nn: np.ndarray):
    """Per class: mean rate, Beta strength across sites, between-normal overdispersion.

    ``x``/``n`` (sites,) are summed error reads/reads; ``xn``/``nn`` (normals, sites) per
    normal.  Method of moments: the variance of site rates beyond binomial noise gives the
    spread of true site rates, ``Var = μ(1−μ)/(m+1)``; the variance between normals within
    sites beyond binomial noise gives the overdispersion ``ρ``.  ``μ`` is the Jeffreys
    posterior mean ``(x + ½)/(n + 1)`` of the class's reads, so a class whose normals showed
    no error is not taken as error-free, and ``m`` is at most the class's reads: a prior
    across sites is never more certain than all the reads behind it (with few normals, or
    shallow ones, a class without visible spread otherwise got ``m`` = 1e9 at ``μ`` = 1e-6,
    and every error a sample then showed at its sites was unexplainable but as donor DNA).
    """
    n_cls = UNKNOWN_CLASS + 1
    mean = np.full(n_cls, np.nan)
    strength = np.full(n_cls, np.nan)
    rho = np.zeros(n_cls)
    for c in range(n_cls):
        m = (cls == c) & (n > 0)
        if not m.any():
            continue
        reads = float(n[m].sum())
        mu = float(np.clip((x[m].sum() + 0.5) / (reads + 1.0), MIN_RATE, MAX_RATE))
        mean[c] = mu
        r = x[m] / n[m]
        excess = np.average((r - mu) ** 2, weights=n[m]) - mu * (1 - mu) / np.average(n[m], weights=n[m])
        var = max(float(excess), 1e-12)
        strength[c] = float(np.clip(mu * (1 - mu) / var - 1.0, 1.0, max(reads, 1.0)))
        # between normals, within sites: pooled over the class's sites with >= 2 normals
        xs, ns = xn[:, m], nn[:, m]
        ok = (ns > 0).sum(axis=0) >= 2
        if ok.any():
            xs, ns = xs[:, ok], ns[:, ok]
            site_mu = xs.sum(axis=0) / ns.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                resid = np.where(ns > 0, (xs - ns * site_mu) ** 2 - ns * site_mu * (1 - site_mu), 0.0)
            denom = (np.where(ns > 0, ns * (ns - 1), 0.0) * np.maximum(site_mu * (1 - site_mu), 1e-12)).sum()
            rho[c] = float(np.clip(resid.sum() / denom, 0.0, 0.5)) if denom > 0 else 0.0
    return mean, strength, rho


#: Rates of the grid the per-class prior of site rates lives on (per base, log-spaced).
PRIOR_GRID = np.logspace(-6.5, -1.0, 48)
#: Fewest sites with reads, and error reads among them, for a class's prior to be estimated on
#: the grid (else a Beta by moments around the Jeffreys mean: with no error read a grid prior
#: would sit at its lowest rate, certain of an error-free class).
GRID_MIN_SITES = 50
GRID_MIN_ERRORS = 20
_EM_ITERATIONS = 150


def _grid_likelihood(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Binomial likelihood of each site's ``x`` error reads of ``n`` at every rate of
    :data:`PRIOR_GRID`, scaled to 1 at each site's maximum, float64 ``(n_sites, n_grid)``."""
    ll = x[:, None] * np.log(PRIOR_GRID)[None, :] + (n - x)[:, None] * np.log1p(-PRIOR_GRID)[None, :]
    return np.exp(ll - ll.max(axis=1, keepdims=True))


def _grid_prior(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The class's prior of site rates as weights on :data:`PRIOR_GRID`, by maximum marginal
    likelihood (EM; the nonparametric maximum-likelihood prior of Kiefer and Wolfowitz, here
    on a fixed grid).

    A log-normal spread with a few hot sites, as real panels show, is far from a Beta: a Beta
    fitted by moments to it is pulled wide by the hot sites, so a quiet site's few reads then
    set its rate alone.  ``x``/``n``: error reads / reads per site (effective, may be
    fractional; every ``n`` > 0).
    """
    lik = _grid_likelihood(x, n)
    w = np.full(len(PRIOR_GRID), 1.0 / len(PRIOR_GRID))
    for _ in range(_EM_ITERATIONS):
        post = lik * w
        post /= post.sum(axis=1, keepdims=True)
        w = post.mean(axis=0)
    return w


def _posterior_on(x: np.ndarray, n: np.ndarray, w: np.ndarray):
    """Posterior mean and variance of each site's rate under the grid prior ``w``."""
    post = _grid_likelihood(x, n) * w
    post /= post.sum(axis=1, keepdims=True)
    mean = post @ PRIOR_GRID
    return mean, np.maximum(post @ PRIOR_GRID**2 - mean**2, 1e-18)


def _normal_background(err: np.ndarray, dep: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Each normal's error reads per read at ``clean`` sites, float64 (normals,)."""
    e = err[:, clean].sum(axis=(1, 2, 3))
    d = dep[:, clean].sum(axis=(1, 2, 3))
    return np.where(d > 0, e / np.maximum(d, 1), np.nan)


def build_pon(counts: AlleleCounts, sites: SiteTable | None = None) -> PanelOfNormals:
    """The panel of normals from the normals' counts (every sample of ``counts``).

    ``sites`` (optional) is the site list the counts were made from; its alleles must match.

    Raises
    ------
    InputError
        No normal, or the counts name no alleles (a GATK table: no REF/ALT to orient errors).
    """
    s = counts.sites
    if counts.n_samples == 0:
        raise InputError("no normal in the counts")
    if (s.ref >= 4).all():
        raise InputError("the normals' counts name no REF/ALT alleles (a GATK table?): a panel of normals "
                         "needs counts made by microchimera count at a sites file")
    if sites is not None and sites.n_sites == s.n_sites and not (
            (sites.pos == s.pos).all() and (sites.ref == s.ref).all()):
        raise InputError("the normals' counts were made from another site list than the one given")
    if counts.n_samples == 1:
        logger.warning("panel of normals from one normal (%s): per-site rates rest on one sample and "
                       "a donor-contaminated normal cannot be recognised", counts.samples[0])
    cls = np.stack([substitution_class(s.ref, s.alt), substitution_class(s.alt, s.ref)], axis=1)
    keep = np.ones(counts.n_samples, dtype=bool)
    excluded: dict = {}
    err, dep, _, _ = _per_normal(counts, np.ones(s.n_sites, bool))
    # Flag normals: background at sites where no normal looks noisy (first pass: all sites).
    rough = np.ones(s.n_sites, dtype=bool)
    for _ in range(2):
        bg = _normal_background(err, dep, rough)
        if counts.n_samples >= 3:
            for j in range(counts.n_samples):
                others = np.delete(bg, j)
                med = float(np.nanmedian(others)) if np.isfinite(others).any() else np.nan
                if not np.isfinite(bg[j]) or not np.isfinite(med) or med <= 0:
                    continue
                d = float(dep[j, rough].sum())
                expected = med * d
                seen = float(err[j, rough].sum())
                if bg[j] > NORMAL_MAX_FOLD * med and stats.poisson.sf(seen - 1, expected) < 1e-6:
                    keep[j] = False
                    excluded[counts.samples[j]] = (f"non-host reads at clean sites {bg[j]:.2e} per base, "
                                                  f"{bg[j] / med:.1f}x the other normals' median {med:.2e}: "
                                                  "donor DNA or contamination")
        x = err[keep].sum(axis=(0, 3))  # (n, 2)
        n = dep[keep].sum(axis=(0, 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(n > 0, x / np.maximum(n, 1), 0.0)
        rough = ~((r > NOISY_MIN_RATE) & (x >= 5)).any(axis=1)
    if not keep.any():
        raise InputError("every normal was flagged as carrying non-host DNA")
    errk, depk = err[keep], dep[keep]
    x = errk.sum(axis=(0, 3)).astype(np.float64)  # (n, 2)
    n = depk.sum(axis=(0, 3)).astype(np.float64)
    xn = errk.sum(axis=3)  # (normals, n, 2)
    nn = depk.sum(axis=3)
    mean = np.full((UNKNOWN_CLASS + 1, 2), np.nan)
    strength = np.full_like(mean, np.nan)
    rho = np.zeros_like(mean)
    for d in range(2):
        mean[:, d], strength[:, d], rho[:, d] = _class_prior(x[:, d], n[:, d], cls[:, d], xn[..., d], nn[..., d])
    # Classes never seen: the pooled rate of all classes, a weak prior.
    pooled = float(np.clip(x.sum() / max(n.sum(), 1.0), MIN_RATE, MAX_RATE))
    mean = np.where(np.isfinite(mean), mean, pooled)
    strength = np.where(np.isfinite(strength), strength, 10.0)
    mu = mean[cls, np.arange(2)[None, :]]
    m = strength[cls, np.arange(2)[None, :]]
    n_norm = (nn > 0).sum(axis=0)  # (n, 2)
    per_normal = np.where(n_norm > 0, n / np.maximum(n_norm, 1), 0.0)
    deff = 1.0 + np.maximum(per_normal - 1.0, 0.0) * rho[cls, np.arange(2)[None, :]]
    alpha = m * mu + x / deff
    beta = m * (1 - mu) + (n - x) / deff
    # Where a class has enough sites, its prior of site rates is estimated on a grid instead
    # (a log-normal spread with hot sites is no Beta); each site's posterior is then carried
    # as the Beta of the same mean and variance.
    for d in range(2):
        for c in range(UNKNOWN_CLASS + 1):
            sel = cls[:, d] == c
            seen = sel & (n[:, d] > 0)
            if seen.sum() < GRID_MIN_SITES or x[sel, d].sum() < GRID_MIN_ERRORS:
                continue  # too little to learn a shape from: the Beta by moments (Jeffreys mean)
            xe, ne = x[sel, d] / deff[sel, d], n[sel, d] / deff[sel, d]
            w = _grid_prior(xe[ne > 0], ne[ne > 0])
            pm, pv = _posterior_on(xe, ne, w)
            conc = np.maximum(pm * (1 - pm) / pv - 1.0, 1.0)
            alpha[sel, d] = pm * conc
            beta[sel, d] = (1 - pm) * conc
            prior_mean = float(w @ PRIOR_GRID)
            prior_var = float(w @ PRIOR_GRID**2) - prior_mean**2
            mean[c, d] = prior_mean
            strength[c, d] = float(np.clip(prior_mean * (1 - prior_mean) / max(prior_var, 1e-18) - 1.0, 1.0, 1e9))
    mu = mean[cls, np.arange(2)[None, :]]
    post = PanelOfNormals(s, tuple(np.asarray(counts.samples)[keep]), errk.sum(axis=0), depk.sum(axis=0),
                          n_norm.astype(np.int32), alpha, beta, mean, strength, rho,
                          np.full(s.n_sites, "pass", dtype=object), {}, excluded)
    flag = np.full(s.n_sites, "pass", dtype=object)
    lo = post.quantile(0.01)
    noisy = ((lo > NOISY_FOLD * mu) & (lo > NOISY_MIN_RATE)).any(axis=1)
    e_f, e_r = post.errors[..., 0], post.errors[..., 1]
    d_f, d_r = post.depth[..., 0], post.depth[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rf, rr = e_f / np.maximum(d_f, 1), e_r / np.maximum(d_r, 1)
        share = d_f / np.maximum(d_f + d_r, 1)
    tot = e_f + e_r
    p_f = stats.binom.sf(e_f - 1, tot, share)
    p_r = stats.binom.sf(e_r - 1, tot, 1 - share)
    biased = (((rf > STRAND_FOLD * np.maximum(rr, 1e-9)) & (p_f < 1e-6))
              | ((rr > STRAND_FOLD * np.maximum(rf, 1e-9)) & (p_r < 1e-6))).any(axis=1)
    flag[(n_norm == 0).all(axis=1)] = "no_normals"
    flag[noisy] = "noisy"
    flag[biased] = "strand_bias"  # the more specific of the two (a strand artefact is noisy too)
    bg_all = _normal_background(err, dep, flag == "pass")
    return dataclasses.replace(post, flag=flag, normal_background={
        str(name): float(b) for name, b in zip(counts.samples, bg_all, strict=True)})
