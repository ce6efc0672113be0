"""The host's ancestry from its own reads, and the allele frequencies of its untyped relatives.

A sample is almost all host DNA, so its ref/alt counts at a panel's markers are the host's
genotype likelihoods.  With the panel's individual allele frequencies
``AF(v) = (mu + UD v) / 2`` (:class:`~microchimera.io.panels.AncestryPanel`), the host's
coordinates ``v`` maximise (as in VerifyBamID2, without its contamination term)::

    log L(v) = sum_sites log sum_g HWE(g; AF_s(v)) * Bin(alt_s; n_s, p_g)

with ``p_0 = e``, ``p_1 = 1/2``, ``p_2 = 1 - e`` (``e``: the sample's base error rate).  The
donor's DNA, at the fractions this tool measures, moves ``v`` by far less than its
sampling error.  The untyped relatives of the host (the father of a no-family child, an
untyped partner, any untyped founder of the family) are given ``AF(v)``: they are assumed
to share the host's ancestry.  The unknown unrelated contributor keeps the pooled AF.

Where the sites are not a panel's markers, or too few of them have reads
(:data:`MIN_MARKERS`), ``auto`` falls back to the sites' own AF and says why.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from ..errors import InputError, UsageError
from ..io.panels import (
    AF_FLOOR,
    BUILTIN,
    BUILTIN_PREFIX,
    AncestryPanel,
    detect_builtin,
    load_builtin,
    read_vb2_panel,
)
from ..io.sites import SiteTable
from ..result import AncestryEstimate

logger = logging.getLogger(__name__)

#: Fewest markers with reads for ``auto`` to estimate coordinates (fewer: pooled AF).
MIN_MARKERS = 500
#: Error rate of the genotype likelihoods (per base call).
GENOTYPE_ERROR = 1e-3
#: Starting points: the origin and each super-population's mean coordinates.
_STARTS = ("AFR", "AMR", "EAS", "EUR", "SAS")


def parse_ancestry(value: str) -> str:
    """Check an ``--ancestry`` value: ``auto``, ``pooled``, a population label, or
    comma-separated coordinates; returns it unchanged (labels are checked against the
    panel later)."""
    value = str(value).strip()
    if not value:
        raise UsageError("ancestry must be auto, pooled, a 1000 Genomes population (e.g. YRI, EUR) "
                         "or comma-separated coordinates, found ''")
    if "," in value:
        try:
            [float(x) for x in value.split(",")]
        except ValueError:
            raise UsageError(f"ancestry coordinates must be numbers separated by commas, found {value!r}") from None
    return value


def genotype_likelihoods(ref: np.ndarray, alt: np.ndarray, error: float = GENOTYPE_ERROR) -> np.ndarray:
    """P(reads | g) for g = 0, 1, 2 alt alleles, each row scaled to max 1; float64 ``(n, 3)``."""
    ref = np.asarray(ref, dtype=np.float64)[:, None]
    alt = np.asarray(alt, dtype=np.float64)[:, None]
    p = np.array([error, 0.5, 1.0 - error])[None, :]
    logl = alt * np.log(p) + ref * np.log1p(-p)
    return np.exp(logl - logl.max(axis=1, keepdims=True))


def _quadratic(lik: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sum_g HWE(g; q) lik_g = a + b q + c q^2``: the coefficients per site."""
    a = lik[:, 0]
    return a, 2.0 * (lik[:, 1] - a), a - 2.0 * lik[:, 1] + lik[:, 2]


def _negloglik(v, mu, ud, coef):
    """-log L(v) and its gradient; ``coef`` from :func:`_quadratic`."""
    a, b, c = coef
    raw = (mu + ud @ v) / 2.0
    q = np.clip(raw, AF_FLOOR, 1 - AF_FLOOR)  # as AncestryPanel.af_at
    per = a + q * (b + c * q)
    free = (raw > AF_FLOOR) & (raw < 1 - AF_FLOOR)
    g = -(ud.T @ (np.where(free, (b + 2.0 * c * q) / per, 0.0) / 2.0))
    return -float(np.log(per).sum()), g


def estimate_coordinates(panel: AncestryPanel, index: np.ndarray, ref: np.ndarray,
                         alt: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Maximum-likelihood coordinates of the sample at markers ``index`` (ints into the
    panel, one per count) from its ``ref``/``alt`` counts.

    Returns ``(v, log_lr, se)``: ``v`` shape ``(k,)``, the log-likelihood gain of ``v`` over
    the pooled AF (``v = 0``), and the root mean of the coordinates' standard errors (from
    the inverse observed information, by finite differences of the analytic gradient).
    """
    mu, ud = panel.mu[index], panel.loadings[index]
    lik = _quadratic(genotype_likelihoods(ref, alt))
    scale = float(np.std(panel.coordinates)) or 1.0
    starts = [np.zeros(panel.n_axes)]
    groups = panel.groups()
    starts += [panel.coordinates[groups[g]].mean(axis=0) for g in _STARTS if g in groups]
    # A climb from each start: the clipping of AF to (0, 1) leaves kinks, and so local optima
    # a log-likelihood unit or two apart within one continent's cloud.
    best = None
    for x0 in starts:
        res = minimize(lambda u: _scaled(u, scale, mu, ud, lik), x0 / scale, jac=True, method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    v = best.x * scale
    ll0 = -_negloglik(np.zeros(panel.n_axes), mu, ud, lik)[0]
    h = 1e-4 * scale
    hess = np.empty((panel.n_axes, panel.n_axes))
    for a in range(panel.n_axes):
        e = np.zeros(panel.n_axes)
        e[a] = h
        hess[a] = (_negloglik(v + e, mu, ud, lik)[1] - _negloglik(v - e, mu, ud, lik)[1]) / (2 * h)
    try:
        var = np.diag(np.linalg.inv((hess + hess.T) / 2))
    except np.linalg.LinAlgError:
        var = np.full(panel.n_axes, np.nan)
    # NaN where the curvature is not that of a maximum (a coordinate pinned by clipped AF).
    se = float(np.sqrt(np.mean(var))) if np.all(var > 0) else float("nan")
    return v, float(-best.fun - ll0), se


def _scaled(u, scale, mu, ud, lik):
    f, g = _negloglik(u * scale, mu, ud, lik)
    return f, g * scale


def choose_panel(sites: SiteTable, panel: str | None) -> tuple[AncestryPanel | None, np.ndarray]:
    """The panel for ``sites`` and each site's marker index (-1: no marker).

    ``panel`` None picks the built-in panel that holds most of the sites; a built-in name
    must fit them (a panel of the other build holding more of them is an error); any other
    value is the prefix of a VerifyBamID2 resource (``PREFIX.bed/.mu/.UD/.V``, population
    labels from ``PREFIX.pop`` if present).
    """
    if panel is None:
        found, idx, n = detect_builtin(sites)
        return found, idx
    if panel.removeprefix(BUILTIN_PREFIX) not in BUILTIN and Path(f"{panel}.bed").exists():
        labels = Path(f"{panel}.pop")
        chosen = read_vb2_panel(panel, labels if labels.exists() else None)
        return chosen, chosen.check_fits(sites, "the sites")
    chosen = load_builtin(panel)
    idx = chosen.check_fits(sites, "the sites")
    other = [n for n, b in BUILTIN.items() if b != chosen.build and n.split("-")[1] == chosen.name.split("-")[1]]
    for name in other:
        n_other = int((load_builtin(name).match(sites) >= 0).sum())
        if n_other > 5 * int((idx >= 0).sum()):
            raise InputError(f"panel {chosen.name} is for {chosen.build}, but the sites look like "
                             f"{BUILTIN[name]}: {n_other} of them are markers of {name}, "
                             f"{int((idx >= 0).sum())} of {chosen.name}")
    return chosen, idx


def host_ancestry(sites: SiteTable, ref: np.ndarray, alt: np.ndarray, mask: np.ndarray, af: np.ndarray,
                  ancestry: str, panel: str | None = None) -> tuple[np.ndarray, AncestryEstimate]:
    """The AF of the host's untyped relatives, and the ancestry block of the result.

    Parameters
    ----------
    sites : SiteTable
        The counts' sites, shape ``(n_all_sites,)`` like ``ref``, ``alt``, ``mask``, ``af``.
    mask : ndarray, bool
        Sites the model may use (the coordinates are estimated on these).
    af : ndarray, float64
        The AF the inputs give (pooled).  Returned unchanged where a site is no marker.
    ancestry : str
        ``auto`` (estimate from the reads), ``pooled`` (the inputs' AF), a population or
        super-population label of the panel, or coordinates ``v1,v2,...``.
    panel : str, optional
        A built-in panel name; default: the one holding most of the sites.

    Returns
    -------
    (family_af, AncestryEstimate)
        ``family_af`` float64 ``(n_all_sites,)``.

    Raises
    ------
    UsageError
        An unknown population, or coordinates of the wrong length.
    InputError
        An explicit population/coordinates with sites that hold no panel marker.
    """
    ancestry = parse_ancestry(ancestry)
    if ancestry == "pooled":
        return af, AncestryEstimate(mode="pooled", note="the sites' allele frequencies are used as given")
    chosen, idx = choose_panel(sites, panel)
    explicit = ancestry != "auto"
    n_hit = int((idx >= 0).sum())
    if chosen is not None and panel is None and n_hit < max(10, 0.01 * sites.n_sites):
        chosen = None  # a few positions that coincide by chance do not make a panel
    if chosen is None:
        msg = (f"none of the {sites.n_sites} sites is a marker of a built-in ancestry panel "
               f"({', '.join(BUILTIN)})") if n_hit == 0 else (
               f"only {n_hit} of the {sites.n_sites} sites are markers of a built-in ancestry panel: the sites "
               "are not such a panel")
        if explicit:
            raise InputError(f"--ancestry {ancestry}: {msg}; use sites from such a panel (e.g. --sites "
                             "builtin:1000g-100k-GRCh38) or --ancestry pooled")
        return af, AncestryEstimate(mode="auto", note=f"pooled AF used: {msg}")
    use = (idx >= 0) & mask
    n_markers = int(use.sum())
    covered = use & ((ref + alt) > 0)
    base = dict(mode="auto", panel=chosen.name,
                build=chosen.build, markers=n_markers, markers_with_reads=int(covered.sum()))
    if explicit and "," in ancestry:
        v = np.array([float(x) for x in ancestry.split(",")])
        if len(v) != chosen.n_axes:
            raise UsageError(f"--ancestry coordinates: panel {chosen.name} has {chosen.n_axes} axes, "
                             f"found {len(v)} values")
        est = dict(base, mode="coordinates")
        ll, se = None, None
    elif explicit:
        v = chosen.coordinates_of(ancestry)
        est = dict(base, mode="population", population_given=ancestry)
        ll, se = None, None
    else:
        if covered.sum() < MIN_MARKERS:
            return af, AncestryEstimate(**base, note=(f"pooled AF used: {int(covered.sum())} panel markers have "
                                                      f"reads, fewer than the {MIN_MARKERS} needed to place the host"))
        v, ll, se = estimate_coordinates(chosen, idx[covered], ref[covered], alt[covered])
        est = base
    pop, superpop, dist = chosen.nearest(v)
    family_af = af.copy()
    family_af[idx >= 0] = chosen.af_at(v, idx[idx >= 0])
    n_adj = int((idx >= 0).sum())
    note = None
    if n_adj < sites.n_sites:
        note = f"{sites.n_sites - n_adj} of {sites.n_sites} sites are no panel marker and keep the sites' AF"
    return family_af, AncestryEstimate(**est, coordinates=tuple(float(x) for x in v), nearest_population=pop,
                                       nearest_superpopulation=superpop, distance=dist, log_lr_vs_pooled=ll,
                                       coordinate_se=se, adjusted_sites=n_adj, note=note)
