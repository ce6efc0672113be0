"""What a result shows beside the estimates: likelihood profiles, per-contig fits, and the
observed vs expected non-host alleles (the model check of ``docs/report.md``)."""
from __future__ import annotations

import numpy as np

from ..io.sites import SiteTable
from ..result import AltBin, ContigEstimate, LikelihoodProfile, ObservedVsExpected
from . import fit as fitmod
from .likelihood import ModelData

PROFILE_POINTS = 41


def profile_grid(data: ModelData, fit, j: int, high: float, lod: float | None) -> LikelihoodProfile:
    """Log-likelihood of donor ``j``'s fraction on a grid, others at their MLE (conditional).

    The grid runs from 0 to ``max(2 * high, 1.5 * lod, 1e-6)`` (``high``: upper CI bound) in
    :data:`PROFILE_POINTS` steps, capped so the fractions sum below ``F_MAX_TOTAL``.
    """
    top = max(2.0 * high, 1.5 * (lod or 0.0), 1e-6)
    grid = np.linspace(0.0, min(top, fitmod.F_MAX_TOTAL - (fit.fraction.sum() - fit.fraction[j])), PROFILE_POINTS)
    ll = []
    for v in grid:
        f = fit.fraction.copy()
        f[j] = v
        ll.append(fitmod.evaluate(data, f, fit.rho).loglik)
    ll = np.array(ll)
    return LikelihoodProfile(tuple(grid.tolist()), tuple((ll - fit.loglik).tolist()))


def per_chromosome(data: ModelData, fit, j: int, csites: SiteTable) -> tuple[ContigEstimate, ...]:
    """Donor ``j`` fitted on each contig alone (others fixed at the genome-wide MLE), Wald CI."""
    out = []
    contig = csites.contig_id[data.site_index]
    free = np.zeros(data.n_donors, dtype=bool)
    free[j] = True
    inf_j = data.informative(j)
    for c in np.unique(contig):
        m = (contig == c) & inf_j
        if not m.any():
            continue
        sub = data.subset(m)
        f, ev = fitmod.newton(sub, fit.fraction, fit.rho, free=free, max_iter=50)
        h = -ev.hess[j, j]
        se = float(1.0 / np.sqrt(h)) if h > 0 else None
        fj = float(f[j])
        out.append(ContigEstimate(csites.contigs[c], fj, None if se is None else (max(0.0, fj - 1.96 * se),
                                                                                  fj + 1.96 * se),
                                  int(m.sum()), int(sub.n.sum())))
    return tuple(out)


def _alt_bin(m: np.ndarray, data: ModelData, exp_hat: np.ndarray, exp_0: np.ndarray, **key) -> AltBin:
    return AltBin(sites=int(m.sum()), reads=int(data.n[m].sum()), observed_alt=int(data.x[m].sum()),
                  expected_alt=float(exp_hat[m].sum()), expected_alt_no_donor=float(exp_0[m].sum()), **key)


def observed_vs_expected(data: ModelData, fit, af: np.ndarray) -> ObservedVsExpected:
    """Observed alt reads vs expected at the MLE and with no donor, by host genotype and, at
    host hom-ref sites, by AF decile (``af``: float64, shape ``(n_all_sites,)``)."""
    exp_hat = data.n * data.expected_alt_share(fit.fraction)
    exp_0 = data.n * data.expected_alt_share(np.zeros(data.n_donors))
    gh = data.combo_gh[data.entry_combo]
    w = np.exp(data.entry_logw)
    host_g = np.bincount(data.entry_site, weights=w * gh, minlength=data.n_sites)
    host_g = np.rint(host_g).astype(int)
    by_g = tuple(_alt_bin(host_g == g, data, exp_hat, exp_0, host_genotype=g) for g in (0, 1, 2))
    site_af = af[data.site_index]
    edges = np.linspace(0, 1, 11)
    hom = host_g == 0
    by_af = tuple(_alt_bin(hom & (site_af >= lo) & (site_af < hi if hi < 1 else site_af <= hi), data, exp_hat,
                           exp_0, af_low=float(lo), af_high=float(hi))
                  for lo, hi in zip(edges[:-1], edges[1:], strict=True))
    return ObservedVsExpected(by_g, by_af, af_bins_host_genotype=0)
