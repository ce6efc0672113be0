"""Quantify donors in one sample: from counts, pedigree and genotypes to a :class:`QuantifyResult`.

:func:`quantify` is the library behind ``microchimera quantify``.  It runs in stages, each a
function of its own that can be called and tested alone:

1. :func:`select_sites` — the sample's counts, the sites the model may use (autosomal, in
   the site list, not too deep) and the allele frequencies the inputs carry;
2. :func:`~microchimera.model.people.resolve_people`, :func:`complete_allele_frequencies` and
   :func:`family_allele_frequencies` — host, donors, typed people, AF for whoever is
   untyped, and the host's ancestry, whose AF its untyped relatives get;
3. :func:`build_error_model` — the genotype prior, the per-class error rates from the
   background sites, and the likelihood data;
4. :func:`fit_with_outlier_refit` — the joint fit, then one refit without the sites no
   genotype configuration explains;
5. :func:`donor_estimates` — per donor: CI, test, LoD, gEq, profile, per-contig fits;
6. :func:`~microchimera.model.relatedness.relatedness_test`.

The result has no ``provenance`` block: the caller (:mod:`microchimera.workflow`) adds it.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from ..conventions import DEFAULT_THETA, geq_per_100k
from ..count.fragments import FragmentTable
from ..errors import InputError, UsageError
from ..io.allele_counts import AlleleCounts
from ..io.contigs import contig_key
from ..io.genotypes import GenotypeMatrix
from ..io.pedigree import Pedigree
from ..io.sites import SiteTable
from ..options import QuantifyOptions
from ..result import (
    WEAK_IDENTIFIABILITY_CORRELATION,
    AncestryEstimate,
    ClassErrorRate,
    ContaminationEstimate,
    DonorEstimate,
    MendelCheck,
    ObservedVsExpected,
    Overdispersion,
    PonUse,
    QuantifyResult,
    RelatednessTest,
    SiteSummary,
    UmiCounting,
)
from . import fit as fitmod
from .ancestry import genotype_likelihoods, host_ancestry
from .diagnostics import observed_vs_expected, per_chromosome, profile_grid
from .drift import drift_warning, host_inbreeding
from .evidence import evidence_in_use, with_molecules
from .likelihood import ModelData
from .people import CONTAMINANT, RELATIONSHIPS, People, resolve_people, unknown_contributor_only
from .pon import PanelOfNormals
from .pon_rates import PonSiteRates, pon_site_rates, with_rate_uncertainty
from .prior import check_mendel, estimate_af_from_founders
from .relatedness import SampleData, relatedness_test
from .seqerror import ErrorModel, estimate_error_rates, substitution_class
from .sitemodel import SiteModel

logger = logging.getLogger(__name__)

__all__ = ["RELATIONSHIPS", "depth_cap", "quantify"]

AF_CLIP = (1e-3, 1 - 1e-3)
NON_AUTOSOMES = {"X", "Y", "M", "MT"}


# ----------------------------------------------------------------------------- 1. sites
@dataclass(frozen=True)
class SiteSelection:
    """One sample's counts and the sites the model may use.

    Arrays have shape ``(n_all_sites,)`` over ``sites`` (the counts' site list): ``ref``,
    ``alt``, ``other`` and ``n = ref + alt`` fragments (int64); ``mask`` the usable sites;
    ``autosomal`` and ``high_depth`` (above ``max_depth``) what was dropped and why; ``af``
    the alt-allele frequency the inputs give (float64, NaN unknown) and ``af_source`` where
    it came from (None: no input carries AF); ``notes`` warnings for the result.
    """

    sample: str
    sites: SiteTable
    ref: np.ndarray
    alt: np.ndarray
    other: np.ndarray
    mask: np.ndarray
    autosomal: np.ndarray
    high_depth: np.ndarray
    max_depth: int | None
    af: np.ndarray
    af_source: str | None
    notes: tuple[str, ...] = ()

    @property
    def n(self) -> np.ndarray:
        return self.ref + self.alt


def _align_sites(counts_sites: SiteTable, sites: SiteTable) -> np.ndarray:
    """Index into ``sites`` of each counts site (-1 if absent); raise if the lists differ.

    Raises
    ------
    InputError
        If fewer than half of the counts' sites are in ``sites``, or REF/ALT disagree at
        more than 1% of the shared ones: the counts were made from another site list.
    """
    idx = sites.index_of(counts_sites)
    found = idx >= 0
    if found.sum() < 0.5 * counts_sites.n_sites:
        raise InputError(f"the counts were made from a different site list: only {int(found.sum())} of their "
                         f"{counts_sites.n_sites} sites are in the sites file ({sites.n_sites} sites)")
    known = found & (counts_sites.ref < 4)
    j = idx[known]
    bad = (counts_sites.ref[known] != sites.ref[j]) | (counts_sites.alt[known] != sites.alt[j])
    if bad.sum() > 0.01 * max(1, known.sum()):
        raise InputError(f"the counts were made from a different site list: REF/ALT differ from the sites file "
                         f"at {int(bad.sum())} of {int(known.sum())} shared sites")
    return idx


def choose_sample(counts: AlleleCounts, sample: str | None) -> str:
    """``sample``, or the only sample of ``counts``; UsageError if there are several."""
    if sample is None:
        if counts.n_samples != 1:
            raise UsageError(f"the counts hold {counts.n_samples} samples ({', '.join(counts.samples)}); "
                             "choose one with {sample}", params=["sample"])
        sample = counts.samples[0]
    counts.sample_index(sample)
    return sample


def select_sites(counts: AlleleCounts, sample: str, sites: SiteTable | None = None,
                 max_depth_ratio: float | None = QuantifyOptions.max_depth_ratio) -> SiteSelection:
    """Stage 1: the sample's counts and usable sites (autosomal, in ``sites``, not too deep).

    AF comes from ``sites`` (INFO/AF) when it has it, else from the counts' own site table.
    """
    s = counts.sample_index(sample)
    csites = counts.sites
    n_all = csites.n_sites
    ref = counts.ref_count[s].astype(np.int64)
    alt = counts.alt_count[s].astype(np.int64)
    other = counts.other_count[s].astype(np.int64)
    n = ref + alt
    mask = np.ones(n_all, dtype=bool)
    af = csites.af.copy()
    af_source = "counts" if np.isfinite(af).any() else None
    notes = ()
    if sites is not None:
        idx = _align_sites(csites, sites)
        if (idx < 0).any():
            notes = (f"{int((idx < 0).sum())} of {n_all} counted sites are not in the sites file; they are not used",)
        mask &= idx >= 0
        if sites.has_af():
            af = np.where(idx >= 0, sites.af[np.maximum(idx, 0)], np.nan)
            af_source = "sites"
    autosomal = np.array([contig_key(c).upper() not in NON_AUTOSOMES for c in csites.contigs])[csites.contig_id]
    mask &= autosomal
    cap = depth_cap(n[mask & (n > 0)], max_depth_ratio)
    high_depth = mask & (n > cap) if cap is not None else np.zeros(n_all, dtype=bool)
    mask &= ~high_depth
    return SiteSelection(sample, csites, ref, alt, other, mask, autosomal, high_depth, cap, af, af_source, notes)


def depth_cap(depth: np.ndarray, ratio: float | None) -> int | None:
    """Largest ref + alt depth a site may have: ``max(ratio * median, median + 6 sqrt(median))``.

    ``depth`` holds the depths of the candidate sites with reads.  Collapsed segmental
    duplications and copy-number gains pile up reads from paralogous copies whose
    differences look like donor alleles at a few percent, and the mixture then explains them
    better the higher the fraction: on GATK's NA12891-in-NA12892 tables (median depth 81,
    6% of sites above 3x) keeping them put the 8% spike at 0.088 and the 1% spike at 0.0089;
    without them 0.085 and 0.0095 (``validation/README.md``).  The second term only matters
    for shallow data, where a Poisson depth exceeds ``ratio`` times its median by chance.
    None (no cap) if ``ratio`` is None or no site has reads.
    """
    if ratio is None or len(depth) == 0:
        return None
    if not ratio > 1:
        raise UsageError(f"max_depth_ratio must be > 1, found {ratio}")
    med = float(np.median(depth))
    return int(np.floor(max(ratio * med, med + 6.0 * np.sqrt(med))))


# ----------------------------------------------------------------------------- 2. people and AF
def complete_allele_frequencies(sel: SiteSelection, people: People,
                                genotypes: GenotypeMatrix | None) -> tuple[np.ndarray, str, list[str]]:
    """Stage 2: AF for the untyped people, clipped to :data:`AF_CLIP`; returns (af, source, warnings).

    In order: the inputs' AF, the genotypes VCF's AF, AF estimated from the typed founders
    (with a warning).  When everyone in the pedigree is typed, AF is not needed (``unused``).

    Raises
    ------
    InputError
        AF is needed and nothing gives it, or an AF is outside [0, 1].
    """
    af, source, warnings = sel.af, sel.af_source, []
    if source is None and genotypes is not None and np.isfinite(genotypes.af).any():
        af, source = genotypes.af.copy(), "genotypes"
    if source is None:
        needs_af = people.mode == "no_family" or any(p not in people.typed for p in people.pedigree.ids)
        if needs_af:
            af = estimate_af_from_founders(people.pedigree, people.typed) if people.typed else None
            if af is None:
                raise InputError("allele frequencies are missing: no INFO/AF in the sites file or counts, and no "
                                 "genotyped founders; give {sites} with INFO/AF", params=["sites"])
            source = "typed_founders"
            warnings.append("no population allele frequencies were given; AF estimated from the typed founders")
        else:
            af = np.full(sel.sites.n_sites, 0.5)
            source = "unused"
    bad_af = np.isfinite(af) & ((af < 0) | (af > 1))
    if bad_af.any():
        raise InputError(f"allele frequency out of range [0, 1] at {int(bad_af.sum())} sites")
    return np.clip(af, *AF_CLIP), source, warnings


def family_allele_frequencies(sel: SiteSelection, people: People, af: np.ndarray,
                              options: QuantifyOptions) -> tuple[np.ndarray, dict | None, AncestryEstimate]:
    """Stage 2b: the AF of the host's untyped relatives at the host's ancestry.

    Returns ``(family_af, founder_af, ancestry)``: ``family_af`` float64 ``(n_all_sites,)``
    (``af`` itself where no ancestry is used), ``founder_af`` the AF of the people who keep
    the pooled ``af`` (the unknown unrelated contributor; None when ``family_af`` is ``af``),
    and the result's ancestry block.  See :func:`~microchimera.model.ancestry.host_ancestry`.
    """
    family_af, ancestry = host_ancestry(sel.sites, sel.ref, sel.alt, sel.mask, af, options.ancestry,
                                        options.ancestry_panel)
    if not ancestry.used:
        return af, None, ancestry
    family_af = np.clip(family_af, *AF_CLIP)
    return family_af, ({people.contaminant: af} if people.contaminant else None), ancestry


def host_drift(sel: SiteSelection, people: People, model: SiteModel, af: np.ndarray, ancestry: AncestryEstimate,
               theta: float) -> tuple[AncestryEstimate, str | None]:
    """Stage 2c: the ancestry block with ``theta`` and the host's own inbreeding estimate
    against ``af`` at the model's sites (typed: her genotypes; else her reads' genotype
    likelihoods), and a warning when the AF do not fit her population
    (:mod:`~microchimera.model.drift`)."""
    use = model.mask.copy()
    if people.host in people.typed:
        g = people.typed[people.host]
        use &= g >= 0
        lik = np.zeros((len(g), 3))
        lik[np.arange(len(g)), np.clip(g, 0, 2)] = 1.0
    else:
        use &= (sel.ref + sel.alt) > 0
        lik = genotype_likelihoods(sel.ref, sel.alt)
    est = host_inbreeding(lik[use], af[use])
    block = dataclasses.replace(ancestry, theta=theta, host_inbreeding=est.value, host_inbreeding_se=est.se,
                                host_inbreeding_sites=est.sites)
    return block, drift_warning(est, theta)


# ----------------------------------------------------------------------------- 3. error model
@dataclass(frozen=True)
class ErrorModelStage:
    """The sample's model with base error rates: the :class:`SiteModel`, the per-class
    :class:`ErrorModel` (from certain hom-ref/hom-alt background sites and other-base
    calls at the sites the model uses; with a panel of normals, ``pon``, its rate array
    also holds the PoN strata), and the likelihood data built with its rates."""

    model: SiteModel
    errors: ErrorModel
    data: ModelData
    inputs: SampleData
    pon: PonSiteRates | None = None


def _with_pon(errors: ErrorModel, pon: PonSiteRates | None) -> ErrorModel:
    """``errors`` with the PoN strata's rates appended (unchanged without a panel)."""
    return errors if pon is None else dataclasses.replace(errors, rate=PonSiteRates.extend(errors.rate))


def apply_pon(sel: SiteSelection, path) -> tuple[SiteSelection, PonSiteRates, PanelOfNormals, PonUse]:
    """Stage 1b (``--pon``): the panel's rates at the sample's sites; its flagged sites leave
    the mask.  Returns the narrowed selection, the rates, the panel and the result's block
    (without the background comparison: :func:`pon_background`)."""
    from .pon_file import read_pon

    pon, meta = read_pon(path)
    rates = pon_site_rates(pon, sel.sites, source=str(path))
    block = PonUse(str(path), meta.get("sites_md5"), len(pon.normals), int((rates.matched & sel.mask).sum()),
                   int((rates.flagged & sel.mask).sum()), 0.0, 0.0)
    return dataclasses.replace(sel, mask=sel.mask & ~rates.flagged), rates, pon, block


def pon_background(sel: SiteSelection, stage: ErrorModelStage, pon: PanelOfNormals,
                   block: PonUse) -> tuple[PonUse, list[str]]:
    """The sample's error reads against the panel's expectation at the sites where no member
    of the model can carry the other allele (the host and the named donors certainly
    homozygous for one allele: donor DNA cannot add to them), panel-clean sites only.
    Without such sites (no family typed) the comparison is skipped (zeros)."""
    from .pon_qc import sample_background_check

    contaminant = [m for m, p in enumerate(stage.model.members) if p == CONTAMINANT]
    bg_ref, bg_alt = stage.model.certain_background(ignore=contaminant)
    rates = stage.pon
    hit = rates.index >= 0
    n_pon = pon.sites.n_sites
    ref, alt = np.zeros(n_pon, dtype=np.int64), np.zeros(n_pon, dtype=np.int64)
    use = np.zeros(n_pon, dtype=bool)
    j = rates.index[hit]
    ref[j], alt[j] = sel.ref[hit], sel.alt[hit]
    use[j] = (bg_ref | bg_alt)[hit] & sel.mask[hit]
    if not use.any():
        return block, []
    observed, expected, warning = sample_background_check(pon, ref, alt, use)
    return dataclasses.replace(block, background_observed=observed, background_expected=expected), (
        [warning] if warning else [])


def class_error_rates(sel: SiteSelection, model: SiteModel, exclude: np.ndarray | None = None) -> ErrorModel:
    """Per-class error rates from the sites the model uses, less ``exclude`` (bool,
    ``(n_all_sites,)``: the outliers once the fit has found them)."""
    contaminant = [m for m, p in enumerate(model.members) if p == CONTAMINANT]
    bg_ref, bg_alt = model.certain_background(ignore=contaminant)
    used = model.mask if exclude is None else model.mask & ~exclude  # not chrX/Y, not too deep
    return estimate_error_rates(sel.ref * used, sel.alt * used, sel.other * used, sel.sites.ref, sel.sites.alt,
                                bg_ref & used, bg_alt & used)


def build_error_model(sel: SiteSelection, people: People, af: np.ndarray, block_size: float,
                      founder_af=None, pon: PonSiteRates | None = None,
                      theta: float = DEFAULT_THETA) -> ErrorModelStage:
    """Stage 3: genotype prior, per-class error rates and likelihood data (``founder_af``:
    the people who do not get ``af``, see :func:`family_allele_frequencies`; ``pon``: the
    panel of normals' strata replace the substitution class of the sites it holds;
    ``theta``: the family population's drift from ``af``, :mod:`~microchimera.model.drift`)."""
    csites = sel.sites
    site_class = substitution_class(csites.ref, csites.alt)
    if pon is not None:
        site_class = pon.classes(site_class)
    block = fitmod.make_blocks(csites.contig_id, csites.pos, block_size)
    model = SiteModel(people.pedigree, people.typed, people.members, af, sel.mask, founder_af=founder_af, theta=theta)
    errors = _with_pon(class_error_rates(sel, model), pon)
    n = sel.n
    data = model.build(n, sel.alt, site_class, errors.rate, block)
    # The panel's rates are known only to their posterior: a beta-binomial at its sites.
    data = with_rate_uncertainty(data, pon, site_class)
    return ErrorModelStage(model, errors, data, SampleData(n, sel.alt, site_class, errors.rate, block, pon), pon)


# ----------------------------------------------------------------------------- 4. fit
@dataclass(frozen=True)
class FittedModel:
    """The joint fit after the outlier refit.

    ``data`` holds every site kept (outliers dropped), ``data_inf`` the informative ones,
    both with the fitted het share and error rates (``base_rate * fit.error_scale``);
    ``errors`` are the per-class rates estimated without the outliers (``base_rate`` is
    their ``rate``) and ``keep`` (bool, ``(n_all_sites,)``) the sites of ``data``.
    """

    fit: fitmod.FitResult
    data: ModelData
    data_inf: ModelData
    errors: ErrorModel
    n_outliers: int
    keep: np.ndarray

    @property
    def base_rate(self) -> np.ndarray:
        return self.errors.rate

    @property
    def error_rate(self) -> np.ndarray:
        return self.base_rate * self.fit.error_scale


def _fit_once(data: ModelData, data_inf: ModelData, base_rate: np.ndarray, near: fitmod.FitResult | None = None):
    # A common error multiplier is fitted jointly on all sites: background sites anchor it
    # in the likelihood itself; without them (no family) the AF dependence of donor
    # alleles separates it from the fractions, and it repairs the transition blindness
    # of the other-base rates.  ``near``: a fit on the same sites to start from, keeping its
    # rho and het share (the refit after a panel's uncertainty is placed).
    if near is not None:
        fit = fitmod.fit_fractions(dataclasses.replace(data_inf, error_rate=base_rate), rho=near.rho,
                                   f0=near.fraction, rho_data=data, error_scale=True, kappa0=near.error_scale)
        fit = dataclasses.replace(fit, het_share_sites=near.het_share_sites, het_share_source=near.het_share_source)
    else:
        fit = fitmod.fit_fractions(dataclasses.replace(data_inf, error_rate=base_rate), rho_data=data, error_scale=True)
    rate = base_rate * fit.error_scale
    return (fit, dataclasses.replace(data, het_share=fit.het_share, error_rate=rate),
            dataclasses.replace(data_inf, het_share=fit.het_share, error_rate=rate))


def fit_with_outlier_refit(stage: ErrorModelStage, sel: SiteSelection) -> FittedModel:
    """Stage 4: fit the fractions (with rho, het share and error multiplier), drop the sites
    no genotype configuration explains (mapping artefacts, hot error sites), re-estimate the
    per-class error rates without them (a hot site must not raise its class's rate for every
    other site), and refit once; with a panel of normals, the refit has the panel's rate
    uncertainty placed at the first fit's unknown contributor
    (:func:`~microchimera.model.people.unknown_contributor_only`,
    :meth:`~microchimera.model.likelihood.ModelData.with_pon_variance_at`)."""
    data, errors = stage.data, stage.errors
    data_inf = data.subset(data.informative())
    fit, data, data_inf = _fit_once(data, data_inf, errors.rate)
    out = data.outliers(fit.fraction)
    keep = np.zeros(sel.sites.n_sites, dtype=bool)
    keep[data.site_index] = True
    if out.any():
        keep[data.site_index[out]] = False
        errors = _with_pon(class_error_rates(sel, stage.model, exclude=stage.model.mask & ~keep), stage.pon)
        # The refit starts from the first fit's error multiplier (rho and the het share are
        # estimated on ``data`` with its rates) applied to the rates without the outliers.
        data = dataclasses.replace(data.subset(~out), error_rate=errors.rate * fit.error_scale)
    if data.combo_rho_pon is not None:
        # a panel's rate uncertainty belongs to the error reads: placed at this fit's unknown contributor
        data = data.with_pon_variance_at(unknown_contributor_only(fit.fraction, data.donors))
    if out.any():
        fit, data, data_inf = _fit_once(data, data.subset(data.informative()), errors.rate)
    elif data.combo_rho_pon is not None:  # the same sites: start from the fit, keep its rho and het share
        fit, data, data_inf = _fit_once(data, data.subset(data.informative()), errors.rate, near=fit)
    return FittedModel(fit, data, data_inf, errors, int(out.sum()), keep)


# ----------------------------------------------------------------------------- 5. per donor
def _empty_donor(name: str, people: People) -> DonorEstimate:
    return DonorEstimate(name, people.labels[name], name in people.typed)


def component_estimates(fitted: FittedModel, people: People, csites: SiteTable,
                        alpha: float, lod: bool = True,
                        ci_only: tuple[str, ...] = ()) -> tuple[tuple[DonorEstimate, ...], list[str]]:
    """Stage 5: each component's CI, boundary test, LoD, gEq/100k, profile and per-contig fits.

    Returns the estimates in ``people.components`` order (the named donors, then the
    contamination component if fitted) and warnings (donors with no informative site).
    The CI and the test of one component re-fit every other (the unknown contributor
    included), so a component that trades off with another gets the wider interval.
    ``lod`` False skips the limits of detection (``QuantifyOptions.lod``).  Components named
    in ``ci_only`` get their fraction and CIs only (no test, LoD, profile or per-contig fits):
    the donors whose joint estimate serves only to widen the named-hypothesis CI
    (:func:`weakly_separable_donors`).
    """
    fit, data, data_inf = fitted.fit, fitted.data, fitted.data_inf
    reference = [fitmod.oracle_lod(data_inf, fit, j, alpha=alpha) for j in range(len(people.components))]
    lam = fitmod.block_inflation(data_inf, fit, reference)
    present = fitmod.present_donors(fit, reference)
    # The LoD of a donor below its oracle LoD takes the sample's linkage from the donors that
    # are present: its own inflation is not estimable at 0 (see block_inflation).
    lod_lam = np.where(present, lam, float(np.median(lam[present])) if present.any() else 1.0)
    total = float(fit.fraction.sum())
    out, warnings = [], []
    for j, d in enumerate(people.components):
        inf_j = data.informative(j)
        if not inf_j.any():
            if d != people.contaminant:
                warnings.append(f"donor {d!r}: no informative sites")
            out.append(_empty_donor(d, people))
            continue
        thr = fitmod.CHI2_95 * lam[j]
        low, high, _ = fitmod.profile_ci(data, fit, j, thr, base_rate=fitted.base_rate, boundary=True,
                                         decisive=decisive_molecules(data, j))
        f_j = float(fit.fraction[j])
        others = total - f_j
        estimate = DonorEstimate(
            name=d, relationship=people.labels[d], typed=d in people.typed, fraction=f_j, ci95=(low, high),
            geq_per_100k=float(geq_per_100k(f_j, total)),
            geq_per_100k_ci95=(float(geq_per_100k(low, low + others)), float(geq_per_100k(high, high + others))),
            informative_sites=int(inf_j.sum()), informative_reads=int(data.as_sites().n[inf_j].sum()),
            ci_inflation=float(lam[j]))
        if d in ci_only:
            out.append(estimate)
            continue
        stat = fitmod.lrt_refit_nuisance(data, data_inf, fit, j, fitted.base_rate, refit_error=True)
        pval = fitmod.boundary_p_value(stat / lam[j])
        lod_j = fitmod.limit_of_detection(data, data_inf, fit, j, alpha=alpha, inflation=lod_lam[j],
                                           near=reference[j]) if lod else None
        out.append(dataclasses.replace(
            estimate, p_value=pval, lrt_statistic=stat, detected=bool(pval < alpha), lod=lod_j,
            lod_geq_per_100k=None if lod_j is None else float(geq_per_100k(lod_j, lod_j + others)),
            profile=profile_grid(data_inf, fit, j, high, lod_j), per_chromosome=per_chromosome(data_inf, fit, j, csites)))
    return tuple(out), warnings


def decisive_molecules(data: ModelData, donor: int):
    """``f -> `` expected nearly background-free molecules of ``donor`` at ``f`` (None without
    molecules): the scale of the Poisson cut-off of its CI (:func:`~.fit.intervals.profile_ci`)."""
    oracle = data.molecule_oracle()
    return None if oracle is None else lambda f: oracle.decisive(f, donor)


def contamination_estimate(fit: fitmod.FitResult, people: People,
                           estimate: DonorEstimate | None) -> ContaminationEstimate:
    """The contamination block: its estimate and how well the data separate it from the donors.

    The correlation of the fraction estimates comes from the observed information of the
    fractions at the fit (``fit.hess``); beyond :data:`WEAK_IDENTIFIABILITY_CORRELATION` in
    absolute value with some donor (or an information matrix that is not positive definite)
    the component is ``weak``.  It is ``weak`` by design, whatever that correlation, when a
    donor's genotype is partly drawn from the population AF
    (:meth:`~microchimera.model.people.People.drawn_from_population`: a no-family child, a
    loss of an untyped father): the joint maximum then trades the donor against the unknown
    contributor and the error multiplier, and at f = 1e-2, no family, 10,000 sites, depth
    200 it put the child 4% low with 12 of 16 CIs covering (``validation/README.md``).
    """
    if people.contaminant is None:
        return ContaminationEstimate(False, note=people.no_contaminant_reason)
    if estimate is None:
        estimate = _empty_donor(people.contaminant, people)
    if estimate.fraction is None:
        return ContaminationEstimate(True, estimate)
    if not people.donors:
        return ContaminationEstimate(True, estimate, "good")
    c = len(people.components) - 1
    drawn = people.drawn_from_population()
    info = -np.asarray(fit.hess, dtype=np.float64)
    try:
        ok = bool(np.all(np.linalg.eigvalsh(info) > 0))
        cov = np.linalg.inv(info) if ok else None
    except np.linalg.LinAlgError:
        ok, cov = False, None
    if not ok:
        return ContaminationEstimate(True, estimate, "weak", None, drawn[0] if drawn else None)
    sd = np.sqrt(np.diag(cov))
    corr = cov[c, :c] / (sd[c] * sd[:c])
    if drawn:
        j = max((people.donors.index(d) for d in drawn), key=lambda i: abs(corr[i]))
        return ContaminationEstimate(True, estimate, "weak", float(corr[j]), people.donors[j])
    j = int(np.argmax(np.abs(corr)))
    r = float(corr[j])
    return ContaminationEstimate(True, estimate, "weak" if abs(r) > WEAK_IDENTIFIABILITY_CORRELATION else "good",
                                 r, people.donors[j])


def _widen(alone: DonorEstimate, joint: DonorEstimate) -> DonorEstimate:
    """``alone`` (fitted without the component) with its CIs stretched to cover ``joint``'s."""
    if alone.fraction is None or joint.fraction is None:
        return alone

    def hull(a, b):
        return (min(a[0], b[0]), max(a[1], b[1]))

    return dataclasses.replace(alone, ci95=hull(alone.ci95, joint.ci95),
                               geq_per_100k_ci95=hull(alone.geq_per_100k_ci95, joint.geq_per_100k_ci95))


def weakly_separable_donors(sel: SiteSelection, people: People, af: np.ndarray, options: QuantifyOptions,
                            joint: tuple[DonorEstimate, ...], pon: PonSiteRates | None = None,
                            molecules=None) -> tuple[DonorEstimate, ...]:
    """The donors' estimates when the contamination component is weakly identifiable.

    The joint fit then cannot split the non-host DNA between a donor and the unknown
    contributor: its maximum sits anywhere on a ridge (a child at ``f`` or an unrelated
    person at ``f/2``), so the donor's point estimate and test would depend on which way the
    ridge tilts by chance.  The donor's point estimate, test and LoD are those of the named
    hypothesis alone (the model without the component, as the user named the source); its CI
    is the hull of that interval and the joint profile interval, which re-fits the component
    and so reaches down to what remains if the DNA were a stranger's.  The verdict and a
    warning say that the source is undetermined (:data:`~microchimera.result.VERDICT_SOURCE_UNDETERMINED`).
    ``molecules`` (``(data, people) -> data``) puts the molecules into the model alone when
    the joint fit had them.
    """
    alone = dataclasses.replace(people, contaminant=None)
    stage = build_error_model(sel, alone, af, options.block_size, pon=pon, theta=options.theta)
    if molecules is not None:
        stage = dataclasses.replace(stage, data=molecules(stage.data, alone))
    fitted = fit_with_outlier_refit(stage, sel)
    estimates, _ = component_estimates(fitted, alone, sel.sites, options.alpha, options.lod)
    return tuple(_widen(a, j) for a, j in zip(estimates, joint, strict=True))


def source_warnings(donors: tuple[DonorEstimate, ...], contamination: ContaminationEstimate,
                    rel: RelatednessTest) -> list[str]:
    """What a reader must not miss about where the non-host DNA comes from."""
    out = []
    c = contamination.estimate
    if contamination.detected:
        out.append(f"contamination: DNA of an unknown unrelated person detected at {c.fraction:.3g} "
                   f"(95% CI {c.ci95[0]:.3g}-{c.ci95[1]:.3g}); the named donors' estimates are net of it")
    if contamination.identifiability == "weak" and contamination.correlation is not None:
        out.append(f"contamination and {contamination.correlated_with!r} are weakly separable here "
                   f"(estimate correlation {contamination.correlation:.2f}): {contamination.correlated_with!r} "
                   f"is estimated as named, with a CI that also allows the DNA to be an unrelated person's")
    elif contamination.identifiability == "weak":
        out.append("contamination is weakly separable from the named donors here (their information matrix is "
                   "singular): their CIs allow either source")
    for v in rel.donors:
        if v.verdict == "unrelated" and v.hypothesis != "unrelated":
            out.append(f"donor {v.donor!r}: the minor DNA looks unrelated to the host (log LR "
                       f"{v.log_likelihood_ratio:.1f} for {v.hypothesis!r} vs unrelated): contamination?")
    if not contamination.fitted and contamination.note is None and any(d.detected for d in donors):
        out.append("no contamination component was fitted: DNA of an unrelated person would be counted as a "
                   "named donor's")
    return out


def _donor_ancestry_note(fit: fitmod.FitResult, data: ModelData) -> str:
    """Why the donors' own ancestry is not estimated: their reads per marker."""
    f = float(np.max(fit.fraction)) if len(fit.fraction) else 0.0
    depth = float(np.median(data.as_sites().n)) if data.n_sites else 0.0
    return (f"not estimated for the donors or the unknown contributor: at the largest fitted fraction "
            f"({f:.3g}) a donor contributes about {f * depth:.2g} reads per marker (median depth {depth:.0f}), "
            "far too few to place a person; they get the host's coordinates (relatives) or the pooled AF "
            "(the unknown contributor)")


# ----------------------------------------------------------------------------- the whole
def _error_rates(errors: ErrorModel, used_classes, scale: float | None) -> dict[str, ClassErrorRate]:
    rates = {k: ClassErrorRate(**v) for k, v in errors.to_dict(used_classes).items()}
    if scale is None:
        return rates
    return {k: dataclasses.replace(v, rate=float(min(1.0, v.rate * scale)), source=v.source + "+fitted_scale")
            for k, v in rates.items()}


def quantify(counts: AlleleCounts, *, sample: str | None = None, host: str | None = None, donors=None,
             pedigree: Pedigree | None = None, genotypes: GenotypeMatrix | None = None,
             sites: SiteTable | None = None, relationships=None, contaminants=None,
             options: QuantifyOptions | None = None, fragments: FragmentTable | None = None) -> QuantifyResult:
    """Estimate each donor's fraction in one sample, and the unknown unrelated contributor's.

    Parameters
    ----------
    counts : AlleleCounts
        Counts of the sample (and possibly others).
    sample : str, optional
        Which sample of ``counts`` (default: the only one).
    host : str
        The host's ID in the pedigree (no-family mode: a label, default the sample name).
    donors : sequence of str, optional
        Donor IDs in the pedigree (default: every relative of the host and every typed
        non-relative; see :func:`~microchimera.model.people.resolve_people`).
    pedigree : Pedigree, optional
        Family mode.  People absent from ``genotypes`` are untyped and summed out.
    genotypes : GenotypeMatrix, optional
        Typed people at ``counts.sites``.
    sites : SiteTable, optional
        The site list the counts were made from (checked) and its AF.
    relationships : sequence of str, optional
        No-family mode: one donor per entry of ``RELATIONSHIPS``.
    contaminants : sequence of str, optional
        People of the PED known to be possible contaminants (a lab control, another sample
        of the run): fitted like donors, not tested for relatedness.
    options : QuantifyOptions, optional
        Test level, linkage block size, depth cap, relatedness test, contamination
        component, evidence (defaults: see :class:`~microchimera.options.QuantifyOptions`).
    fragments : FragmentTable, optional
        The multi-site fragments of the same count (``count --fragments``): with
        ``options.evidence`` ``"auto"`` or ``"molecules"`` each fragment's observations at the
        eligible sites are one molecule (:mod:`microchimera.model.molecules`).

    Returns
    -------
    QuantifyResult
        Without ``provenance``; ``.to_json()`` is the ``result.json`` document.  Fractions
        are shares of the sample's genome equivalents (0..1).

    Raises
    ------
    UsageError
        Inconsistent options (donor = host, neither pedigree nor relationships, a person
        named as donor and contaminant, ``donors`` naming nobody, ...).
    InputError
        Host or donor absent from the PED, a Mendel-contradicting pedigree, counts from a
        different site list, missing allele frequencies, nobody to fit.
    """
    options = options or QuantifyOptions()
    sample = choose_sample(counts, sample)
    sel = select_sites(counts, sample, sites, options.max_depth_ratio)
    pon, panel, pon_use = None, None, None
    if options.pon is not None:
        sel, pon, panel, pon_use = apply_pon(sel, options.pon)
    people = resolve_people(sample=sample, host=host, donors=donors, pedigree=pedigree, genotypes=genotypes,
                            relationships=list(relationships) if relationships else None,
                            contaminants=contaminants, contamination_component=options.contamination)
    mendel = check_mendel(people.pedigree, people.typed) if people.typed else []
    af, af_source, warnings = complete_allele_frequencies(sel, people, genotypes)
    af, founder_af, ancestry = family_allele_frequencies(sel, people, af, options)
    warnings = [*sel.notes, *warnings]
    stage = build_error_model(sel, people, af, options.block_size, founder_af, pon, options.theta)
    ancestry, drift_note = host_drift(sel, people, stage.model, af, ancestry, options.theta)
    if drift_note:
        warnings.append(drift_note)
    if pon is not None:
        pon_use, pon_notes = pon_background(sel, stage, panel, pon_use)
        warnings += pon_notes
    evidence = evidence_in_use(options.evidence, fragments)
    attach = None
    if evidence.used:
        data_m, evidence = with_molecules(stage.data, fragments, sel.sites, people, af, sample, evidence)
        stage = dataclasses.replace(stage, data=data_m)
        if evidence.used:
            def attach(data, who):
                return with_molecules(data, fragments, sel.sites, who, af, sample, evidence)[0]
    data0 = stage.data
    n_inf0 = int(data0.informative().sum()) if data0.n_sites else 0
    used_classes = set(np.unique(stage.inputs.site_class[data0.site_index]).tolist())
    prior = stage.model.prior
    dropped = {**prior.dropped, "not_autosomal": int((~sel.autosomal).sum()),
               "high_depth": int(sel.high_depth.sum()), "no_reads": int((stage.model.mask & (sel.n == 0)).sum()),
               **({"pon_flagged": pon_use.flagged_sites} if pon is not None else {})}
    common = dict(
        sample=sample, host=people.host, mode=people.mode, alpha=options.alpha,
        untyped_people=tuple(p for p in prior.untyped_people
                             if p != people.contaminant and (not p.startswith("_") or people.mode == "family")),
        mendel=tuple(MendelCheck(m["child"], tuple(m["parents"]), m["errors"], m["checked"]) for m in mendel),
        umi=UmiCounting.from_parameters(counts.parameters or {}, sample))

    def site_summary(data, n_inf, **more):
        return SiteSummary(
            in_counts=sel.sites.n_sites, autosomal=int(sel.autosomal.sum()), used=int(data.n_sites),
            informative=n_inf, reads_used=int(data.as_sites().n.sum()), max_depth=sel.max_depth,
            dropped={**dropped, **more}, af_source=af_source,
            blocks=int(len(np.unique(data0.block))) if data0.n_sites else 0)

    rho_sites = int(min(data0.n_sites, fitmod.RHO_SUBSAMPLE))
    n_donors = len(people.donors)
    if n_inf0 == 0:
        warnings.append("no informative sites: no site where a donor can carry an allele the host lacks "
                        "has reads; fractions cannot be estimated")
        return QuantifyResult(
            **common, donors=tuple(_empty_donor(d, people) for d in people.donors),
            error_rates=_error_rates(stage.errors, used_classes, None),
            overdispersion=Overdispersion(sites=rho_sites), sites=site_summary(data0, 0),
            warnings=tuple(warnings), relatedness_test=RelatednessTest(),
            observed_vs_expected=ObservedVsExpected(),
            contamination=contamination_estimate(None, people, None), ancestry=ancestry, pon=pon_use, evidence=evidence)

    fitted = fit_with_outlier_refit(stage, sel)
    fit = fitted.fit
    # With a donor drawn from the AF the component is weak by design (contamination_estimate):
    # the joint fit then only widens the donors' CIs, so it computes nothing else for them.
    ci_only = people.donors if people.contaminant and people.drawn_from_population() else ()
    estimates, donor_warnings = component_estimates(fitted, people, sel.sites, options.alpha, options.lod, ci_only)
    estimates, contaminant = estimates[:n_donors], (estimates[n_donors] if people.contaminant else None)
    contamination = contamination_estimate(fit, people, contaminant)
    if contamination.identifiability == "weak" and people.donors:
        estimates = weakly_separable_donors(sel, people, af, options, estimates, pon, attach)
    elif ci_only:  # not weak after all (the component had no estimate): the donors in full
        estimates = component_estimates(fitted, people, sel.sites, options.alpha, options.lod)[0][:n_donors]
    rel = RelatednessTest()
    if options.relatedness:
        rel = relatedness_test(stage.model, fit, people, af,
                               dataclasses.replace(stage.inputs, error_rate=fitted.error_rate), estimates,
                               fitted.keep, founder_af)
    warnings += donor_warnings + source_warnings(estimates, contamination, rel)
    if fit.het_share_source == "fixed":
        warnings.append(f"heterozygote alt share fixed at 0.5: {fit.het_share_sites} host-heterozygous site(s) "
                        f"identify it (need {fitmod.MIN_HET_SHARE_SITES}) and no typed donor has both heterozygous and "
                        "opposite-homozygous sites with enough reads; with reference bias the fractions "
                        "are biased by about 0.5/beta")
    if ancestry.used:
        ancestry = dataclasses.replace(ancestry, donors_note=_donor_ancestry_note(fit, fitted.data))
    return QuantifyResult(
        **common, donors=estimates, error_rates=_error_rates(fitted.errors, used_classes, fit.error_scale),
        overdispersion=Overdispersion(rho=fit.rho, sites=rho_sites, het_alt_share=fit.het_share,
                                      error_scale=fit.error_scale, het_alt_share_sites=fit.het_share_sites,
                                      het_alt_share_source=fit.het_share_source),
        sites=site_summary(fitted.data, int(fitted.data_inf.n_sites), outlier=fitted.n_outliers),
        warnings=tuple(warnings), relatedness_test=rel,
        observed_vs_expected=observed_vs_expected(fitted.data, fit, af), contamination=contamination,
        ancestry=ancestry, pon=pon_use, evidence=evidence)
