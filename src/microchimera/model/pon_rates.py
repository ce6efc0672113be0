"""A panel of normals applied to one sample's sites (``quantify --pon``).

:func:`pon_site_rates` matches the panel to the counts' sites (contig with or without
``chr``, position, REF/ALT), drops the sites it flags (``noisy``, ``strand_bias``), and gives
every other matched site its posterior-mean REF>ALT and ALT>REF rates.  The likelihood keeps
one rate per class, so each matched site is put in a *stratum*, the pair of log-spaced bins
of its two rates (:data:`~microchimera.model.likelihood.PON_BINS` bins from
:data:`RATE_MIN` to :data:`RATE_MAX`: a bin is 1.4-fold wide, so a site's rate is carried to
within 18%), and each bin's rate is the geometric mean of its edges.  Sites the panel does
not hold keep their substitution class and the sample's own class rate.  The fitted error
multiplier scales the panel's rates with the sample's (a run whose error level differs from
the normals' as a whole).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io.sites import SiteTable
from .likelihood import N_CLASSES, PON_BINS, PON_CLASS0
from .pon import PanelOfNormals

RATE_MIN, RATE_MAX = 1e-6, 0.05
EDGES = np.logspace(np.log10(RATE_MIN), np.log10(RATE_MAX), PON_BINS + 1)
#: The rate each bin stands for (geometric mean of its edges).
BIN_RATE = np.sqrt(EDGES[:-1] * EDGES[1:])
#: Fewest of the counts' sites the panel must hold.
MIN_SHARED = 0.5


@dataclass(frozen=True)
class PonSiteRates:
    """The panel's view of one sample's sites.

    Attributes
    ----------
    matched : ndarray, bool, shape (n_sites,)
        Sites the panel holds (and does not flag).
    flagged : ndarray, bool, shape (n_sites,)
        Sites the panel flags for exclusion.
    rate : ndarray, float64, shape (n_sites, 2)
        Posterior-mean REF>ALT / ALT>REF rates at matched sites (NaN elsewhere).
    site_class : ndarray, int64, shape (n_sites,)
        Stratum class at matched sites, -1 elsewhere.
    index : ndarray, int64, shape (n_sites,)
        Each site's row in the panel (-1: not in it).
    concentration : ndarray, float64, shape (n_sites, 2), optional
        ``alpha + beta`` of the posterior Beta of each direction's rate at matched sites
        (NaN elsewhere): how many reads' worth the panel knows the rate to.
    """

    matched: np.ndarray
    flagged: np.ndarray
    rate: np.ndarray
    site_class: np.ndarray
    index: np.ndarray
    concentration: np.ndarray | None = None

    def combo_rho(self, combo_class: np.ndarray, combo_gh: np.ndarray, site_class: np.ndarray,
                  site_index: np.ndarray) -> np.ndarray:
        """Extra overdispersion of each combo's reads from the uncertainty of the panel's rates,
        float64 (n_combos,).

        At a site whose host is homozygous the reads other than the host's allele are errors
        at rate ``e`` (plus donor DNA); the panel knows ``e`` as a Beta of concentration
        ``c = alpha + beta``, and a binomial whose rate is that Beta is a beta-binomial of
        overdispersion ``1 / (c + 1)``, which is what a combo of hom-ref (REF>ALT) or hom-alt
        (ALT>REF) host gets, averaged over the stratum's sites (``site_class`` of the model's
        sites).  Heterozygous hosts: 0 (the rate's uncertainty is negligible against the
        allele share there).  Combos of classes the panel does not make: 0.  ``site_class``
        (n_sites,) is every site's class, ``site_index`` the model's sites among them.
        """
        out = np.zeros(len(combo_class))
        if self.concentration is None:
            return out
        site_class = site_class[site_index]
        conc = self.concentration[site_index]
        strata = site_class >= PON_CLASS0
        if not strata.any():
            return out
        for d, gh in ((0, 0.0), (1, 2.0)):
            ok = strata & np.isfinite(conc[:, d])
            mean_rho = np.bincount(site_class[ok], weights=1.0 / (conc[ok, d] + 1.0), minlength=N_CLASSES)
            n = np.bincount(site_class[ok], minlength=N_CLASSES)
            per_class = np.divide(mean_rho, n, out=np.zeros(N_CLASSES), where=n > 0)
            sel = combo_gh == gh
            out[sel] = per_class[combo_class[sel]]
        return out

    def classes(self, substitution: np.ndarray) -> np.ndarray:
        """The class of every site: its stratum where matched, else ``substitution``."""
        return np.where(self.matched, self.site_class, substitution)

    @staticmethod
    def extend(class_rate: np.ndarray) -> np.ndarray:
        """The per-class rate array of the likelihood: the 13 substitution classes'
        ``class_rate`` then every stratum's REF>ALT bin rate, float64 (N_CLASSES,)."""
        b_ra = np.arange(PON_BINS * PON_BINS) // PON_BINS
        out = np.empty(N_CLASSES)
        out[:PON_CLASS0] = class_rate[:PON_CLASS0]
        out[PON_CLASS0:] = BIN_RATE[b_ra]
        return out


def with_rate_uncertainty(data, pon: PonSiteRates | None, site_class: np.ndarray):
    """``data`` (a :class:`~microchimera.model.likelihood.ModelData`) with the panel's rate
    uncertainty as per-combo overdispersion (:meth:`PonSiteRates.combo_rho`); itself without a
    panel.  ``site_class`` (n_all_sites,) is the class every site was built with."""
    if pon is None:
        return data
    rho = pon.combo_rho(data.combo_class, data.combo_gh, site_class, data.site_index)
    return dataclasses.replace(data, combo_rho=rho, combo_rho_pon=rho)


def _bin(rate: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(EDGES, rate, side="right") - 1, 0, PON_BINS - 1)


def pon_site_rates(pon: PanelOfNormals, sites: SiteTable, source: str = "the panel of normals") -> PonSiteRates:
    """Match ``pon`` to ``sites``.

    Raises
    ------
    InputError
        The panel holds fewer than half of the sites, or its alleles differ at more than 1%
        of the shared ones (it was built on other sites or another build), with examples;
        the counts name no alleles (a GATK table).
    """
    if sites.n_sites and (sites.ref >= 4).all():
        raise InputError(f"{source}: the counts name no REF/ALT alleles (a GATK pileup-summaries table?), so a panel "
                         "of normals cannot be matched to them; count the BAM with microchimera count at the "
                         "panel's sites file")
    idx = pon.sites.index_of(sites)
    hit = idx >= 0
    if hit.sum() < MIN_SHARED * sites.n_sites:
        ex = ", ".join(f"{c}:{p + 1}" for c, p in zip(sites.chrom[~hit][:3], sites.pos[~hit][:3], strict=False))
        raise InputError(f"{source} was built on other sites: it holds {int(hit.sum())} of the {sites.n_sites} "
                         f"counted sites (not in it: {ex}{', ...' if (~hit).sum() > 3 else ''}); build it with "
                         "microchimera pon build at the same sites file")
    j = idx[hit]
    differ = np.zeros(sites.n_sites, dtype=bool)
    differ[hit] = (pon.sites.ref[j] != sites.ref[hit]) | (pon.sites.alt[j] != sites.alt[hit])
    if differ.sum() > 0.01 * hit.sum():
        i = np.flatnonzero(differ)[:3]
        letters = "ACGTN"
        ex = "; ".join(f"{sites.chrom[k]}:{sites.pos[k] + 1} {letters[min(sites.ref[k], 4)]}>"
                       f"{letters[min(sites.alt[k], 4)]} counted, {letters[min(pon.sites.ref[idx[k]], 4)]}>"
                       f"{letters[min(pon.sites.alt[idx[k]], 4)]} in the panel" for k in i)
        raise InputError(f"{source} does not fit these sites: REF/ALT differ at {int(differ.sum())} of "
                         f"{int(hit.sum())} shared sites ({ex}): another genome build or site list?")
    hit &= ~differ
    flag = np.full(sites.n_sites, "", dtype=object)
    flag[hit] = pon.flag[idx[hit]]
    flagged = hit & ((flag == "noisy") | (flag == "strand_bias"))
    matched = hit & ~flagged
    rate = np.full((sites.n_sites, 2), np.nan)
    rate[matched] = pon.rate[idx[matched]]
    conc = np.full((sites.n_sites, 2), np.nan)
    conc[matched] = (pon.alpha + pon.beta)[idx[matched]]
    cls = np.full(sites.n_sites, -1, dtype=np.int64)
    b = _bin(np.nan_to_num(rate, nan=RATE_MIN))
    cls[matched] = PON_CLASS0 + b[matched, 0] * PON_BINS + b[matched, 1]
    return PonSiteRates(matched, flagged, rate, cls, np.where(hit, idx, -1), conc)
