"""Quantify donors in one sample: from counts, pedigree and genotypes to the result document.

:func:`quantify` is the library behind ``microchimera quantify``.  It returns the
``result.json`` document (a plain dict, schema in ``docs/result.schema.json``) without the
``provenance`` block, which the caller adds.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ..conventions import GENOTYPE_DTYPE, MAX_DEPTH_RATIO, geq_per_100k
from ..errors import InputError, MicrochimeraError, UsageError
from ..io.allele_counts import AlleleCounts
from ..io.contigs import contig_key
from ..io.genotypes import GenotypeMatrix
from ..io.pedigree import SEX_UNKNOWN, Pedigree
from ..io.sites import SiteTable
from . import fit as fitmod
from .likelihood import ModelData
from .prior import check_mendel, estimate_af_from_founders, genotype_prior
from .seqerror import estimate_error_rates, substitution_class

logger = logging.getLogger(__name__)

RESULT_SCHEMA_VERSION = "1"
RELATIONSHIPS = ("child", "parent", "sibling", "grandchild", "unrelated")
AF_CLIP = (1e-3, 1 - 1e-3)
NON_AUTOSOMES = {"X", "Y", "M", "MT"}
PROFILE_POINTS = 41
RELATEDNESS_LOG_LR = np.log(20.0)


# ----------------------------------------------------------------------------- inputs
def _align_sites(counts_sites: SiteTable, sites: SiteTable) -> np.ndarray:
    """Index into ``sites`` of each counts site (-1 if absent); raise if the lists differ.

    Raises
    ------
    InputError
        If fewer than half of the counts' sites are in ``sites``, or REF/ALT disagree at
        more than 1% of the shared ones: the counts were made from another site list.
    """
    key = {(contig_key(c), int(p)): i for i, (c, p) in enumerate(zip(sites.chrom, sites.pos, strict=True))}
    idx = np.array([key.get((contig_key(c), int(p)), -1)
                    for c, p in zip(counts_sites.chrom, counts_sites.pos, strict=True)], dtype=np.int64)
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
    if not found.all():
        logger.warning("%d of %d counted sites are not in the sites file; they are not used",
                       int((~found).sum()), counts_sites.n_sites)
    return idx


def _no_family_pedigree(host: str, relationships) -> tuple[Pedigree, list[str], dict]:
    """Synthetic pedigree for ``--relationship`` donors; returns (pedigree, donors, labels)."""
    records = {}

    def add(pid, father=None, mother=None):
        if pid not in records:
            records[pid] = ["fam", pid, father, mother, SEX_UNKNOWN]
        return records[pid]

    add(host)
    donors, labels, seen = [], {}, {}
    for rel in relationships:
        if rel not in RELATIONSHIPS:
            raise UsageError(f"relationship must be one of {', '.join(RELATIONSHIPS)}, found {rel!r}")
        seen[rel] = seen.get(rel, 0) + 1
        name = rel if relationships.count(rel) == 1 else f"{rel}_{seen[rel]}"
        donors.append(name)
        labels[name] = rel
        if rel == "child":
            add("_partner")
            add(name, "_partner", host)
        elif rel == "parent":
            rec = records[host]
            if rec[2] is None:
                add(name)
                rec[2] = name
            elif rec[3] is None or rec[3] == "_parent_2":
                add(name)
                rec[3] = name
            else:
                raise UsageError("a host has at most two parents")
        elif rel == "sibling":
            rec = records[host]
            if rec[2] is None:
                add("_parent_1")
                rec[2] = "_parent_1"
            if rec[3] is None:
                add("_parent_2")
                rec[3] = "_parent_2"
            add(name, rec[2], rec[3])
        elif rel == "grandchild":
            add("_partner")
            add("_child", "_partner", host)
            add("_child_partner")
            add(name, "_child_partner", "_child")
        else:
            add(name)
    order = list(records.values())
    return Pedigree.from_records([tuple(r) for r in order], source="relationships"), donors, labels


def _relationship_label(ped: Pedigree, host: str, donor: str) -> str:
    if ped.parents(donor).count(host):
        return "child"
    if host in [c for c in ped.children(donor)]:
        return "parent"
    hp = {p for p in ped.parents(host) if p}
    if hp & {p for p in ped.parents(donor) if p}:
        return "sibling"
    for c in ped.children(host):
        if donor in ped.children(c):
            return "grandchild"
    phi = ped.kinship()[ped.index(host), ped.index(donor)]
    return "unrelated" if phi == 0 else f"relative (kinship {phi:g})"


class _Model:
    """One pedigree model of the sample: prior + likelihood data over all valid sites."""

    def __init__(self, ped, typed, members, af, mask):
        self.members = list(members)
        self.prior = genotype_prior(ped, typed, members, af)
        self.typed_dosage = {i: typed[m] for i, m in enumerate(members) if m in typed}
        self.mask = mask & self.prior.valid
        self.data = None

    def build(self, n, x, site_class, error_rate, block) -> ModelData:
        self.data = ModelData.build(self.members[1:], self.prior.weights, self.prior.config_genotypes,
                                    self.typed_dosage, n, x, site_class, error_rate, block, self.mask)
        return self.data

    def certain_background(self):
        """bool (n_all,) pair: sites where every member is certainly hom-ref / hom-alt."""
        w = self.prior.weights
        best = w.argmax(axis=1)
        certain = w[np.arange(len(w)), best] >= 0.999
        g = np.empty((len(self.members), len(w)), dtype=np.int64)
        for m in range(len(self.members)):
            g[m] = self.typed_dosage[m] if m in self.typed_dosage else self.prior.config_genotypes[m, best]
        ok = certain & self.mask
        return ok & (g == 0).all(axis=0), ok & (g == 2).all(axis=0)


# ----------------------------------------------------------------------------- main entry
def quantify(counts: AlleleCounts, *, sample: str | None = None, host: str | None = None, donors=None,
             pedigree: Pedigree | None = None, genotypes: GenotypeMatrix | None = None,
             sites: SiteTable | None = None, relationships=None, alpha: float = 0.05,
             block_size: float = 5e6, relatedness: bool = True,
             max_depth_ratio: float | None = MAX_DEPTH_RATIO) -> dict:
    """Estimate each donor's fraction in one sample.

    Parameters
    ----------
    counts : AlleleCounts
        Counts of the sample (and possibly others).
    sample : str, optional
        Which sample of ``counts`` (default: the only one).
    host : str
        The host's ID in the pedigree (no-family mode: a label, default the sample name).
    donors : sequence of str, optional
        Donor IDs in the pedigree (default: every relative of the host).
    pedigree : Pedigree, optional
        Family mode.  People absent from ``genotypes`` are untyped and summed out.
    genotypes : GenotypeMatrix, optional
        Typed people at ``counts.sites``.
    sites : SiteTable, optional
        The site list the counts were made from (checked) and its AF.
    relationships : sequence of str, optional
        No-family mode: one donor per entry of ``RELATIONSHIPS``.
    alpha : float
        Level of the detection test.
    block_size : float
        Genome block length (bp) for the block-sandwich CI inflation.
    relatedness : bool
        Run the "named relative vs unrelated person" test.
    max_depth_ratio : float or None
        Drop sites with more ref + alt reads than :func:`depth_cap` (collapsed duplications
        and CNV gains, whose paralogous reads look like donor alleles); None keeps every site.

    Returns
    -------
    dict
        The result document (see ``docs/result.md``) without ``provenance``.

    Raises
    ------
    UsageError
        Inconsistent options (donor = host, neither pedigree nor relationships, ...).
    InputError
        Host/donor absent from the PED, a Mendel-contradicting pedigree, counts from a
        different site list, missing allele frequencies.
    """
    warnings: list[str] = []
    if sample is None:
        if counts.n_samples != 1:
            raise UsageError(f"the counts hold {counts.n_samples} samples ({', '.join(counts.samples)}); "
                             f"choose one with --sample")
        sample = counts.samples[0]
    s = counts.sample_index(sample)
    if not 0 < alpha < 0.5:
        raise UsageError(f"alpha must be in (0, 0.5), found {alpha}")
    csites = counts.sites
    n_all = csites.n_sites
    ref = counts.ref_count[s].astype(np.int64)
    alt = counts.alt_count[s].astype(np.int64)
    other = counts.other_count[s].astype(np.int64)
    n = ref + alt
    mask = np.ones(n_all, dtype=bool)
    af = csites.af.copy()
    af_source = "counts" if np.isfinite(af).any() else None
    if sites is not None:
        idx = _align_sites(csites, sites)
        mask &= idx >= 0
        if sites.has_af():
            af = np.where(idx >= 0, sites.af[np.maximum(idx, 0)], np.nan)
            af_source = "sites"
    if af_source is None and genotypes is not None and np.isfinite(genotypes.af).any():
        af, af_source = genotypes.af.copy(), "genotypes"
    autosomal = np.array([contig_key(c).upper() not in NON_AUTOSOMES for c in csites.contigs])[csites.contig_id]
    mask &= autosomal
    cap = depth_cap(n[mask & (n > 0)], max_depth_ratio)
    high_depth = mask & (n > cap) if cap is not None else np.zeros(n_all, dtype=bool)
    mask &= ~high_depth

    # ------------------------------------------------------------------ people
    if relationships:
        if pedigree is not None:
            raise UsageError("give either a pedigree (--pedigree) or --relationship, not both")
        host = host or sample
        ped, donors, labels = _no_family_pedigree(host, list(relationships))
        typed = {}
        mode = "no_family"
    else:
        if pedigree is None:
            raise UsageError("give a pedigree (--pedigree with --genotypes) or --relationship for no-family mode")
        if host is None:
            raise UsageError("give the host's ID (--host)")
        ped = pedigree
        ped.index(host)
        if donors is None:
            donors = ped.relatives(host)
            if not donors:
                raise InputError(f"{host!r} has no relatives in the pedigree; name the donors with --donors")
        donors = list(donors)
        for d in donors:
            if d == host:
                raise UsageError(f"donor {d!r} is the host; a donor must be another person")
            ped.index(d)
        if len(set(donors)) != len(donors):
            raise UsageError(f"a donor is listed twice: {', '.join(donors)}")
        typed = {}
        if genotypes is not None:
            typed = {p: np.asarray(genotypes.get(p), dtype=GENOTYPE_DTYPE) for p in genotypes.samples if p in ped.ids}
        labels = {d: _relationship_label(ped, host, d) for d in donors}
        mode = "family"
    members = [host, *donors]
    mendel = check_mendel(ped, typed) if typed else []
    if af_source is None:
        needs_af = mode == "no_family" or any(p not in typed for p in ped.ids)
        if needs_af:
            af = estimate_af_from_founders(ped, typed) if typed else None
            if af is None:
                raise InputError("allele frequencies are missing: no INFO/AF in the sites file or counts, and no "
                                 "genotyped founders; give --sites with INFO/AF")
            af_source = "typed_founders"
            warnings.append("no population allele frequencies were given; AF estimated from the typed founders")
        else:
            af = np.full(n_all, 0.5)
            af_source = "unused"
    bad_af = np.isfinite(af) & ((af < 0) | (af > 1))
    if bad_af.any():
        raise InputError(f"allele frequency out of range [0, 1] at {int(bad_af.sum())} sites")
    af = np.clip(af, *AF_CLIP)

    site_class = substitution_class(csites.ref, csites.alt)
    block = fitmod.make_blocks(csites.contig_id, csites.pos, block_size)
    model = _Model(ped, typed, members, af, mask)
    bg_ref, bg_alt = model.certain_background()
    used = model.mask  # error rates from the sites the model uses (not chrX/Y, not too deep)
    errors = estimate_error_rates(ref * used, alt * used, other * used, csites.ref, csites.alt, bg_ref, bg_alt)
    data = model.build(n, alt, site_class, errors.rate, block)

    inf_any = data.informative() if data.n_sites else np.zeros(0, dtype=bool)
    data_inf = data.subset(inf_any)
    used_classes = set(np.unique(site_class[data.site_index]).tolist())

    doc = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "sample": sample,
        "host": host,
        "mode": mode,
        "alpha": alpha,
        "donors": [],
        "error_rates": errors.to_dict(used_classes),
        "overdispersion": {"rho": 0.0, "sites": int(min(data.n_sites, fitmod.RHO_SUBSAMPLE)), "het_alt_share": 0.5,
                           "error_scale": 1.0},
        "sites": {
            "in_counts": n_all,
            "autosomal": int(autosomal.sum()),
            "used": int(data.n_sites),
            "informative": int(data_inf.n_sites),
            "reads_used": int(data.n.sum()),
            "max_depth": None if cap is None else int(cap),
            "dropped": {**model.prior.dropped, "not_autosomal": int((~autosomal).sum()),
                        "high_depth": int(high_depth.sum()),
                        "no_reads": int((model.mask & (n == 0)).sum())},
            "af_source": af_source,
            "blocks": int(len(np.unique(data.block))) if data.n_sites else 0,
        },
        "untyped_people": [p for p in model.prior.untyped_people if not p.startswith("_") or mode == "family"],
        "mendel": mendel,
        "warnings": warnings,
    }
    if data_inf.n_sites == 0:
        warnings.append("no informative sites: no site where a donor can carry an allele the host lacks "
                        "has reads; fractions cannot be estimated")
        for d in donors:
            doc["donors"].append(_empty_donor(d, labels[d], d in typed))
        doc["relatedness_test"] = {"donors": []}
        doc["observed_vs_expected"] = {"by_host_genotype": [], "by_af_bin": []}
        return doc

    # A common error multiplier is fitted jointly on all sites: background sites anchor it
    # in the likelihood itself; without them (no family) the AF dependence of donor
    # alleles separates it from the fractions, and it repairs the transition blindness
    # of the other-base rates.
    fit_error = True
    fit = fitmod.fit_fractions(data_inf, rho_data=data, error_scale=fit_error)
    rate = errors.rate * fit.error_scale
    data = dataclasses.replace(data, het_share=fit.het_share, error_rate=rate)
    data_inf = dataclasses.replace(data_inf, het_share=fit.het_share, error_rate=rate)
    # Sites no genotype configuration explains (mapping artefacts) are dropped and the
    # model refitted once.
    out = data.outliers(fit.fraction)
    doc["sites"]["dropped"]["outlier"] = int(out.sum())
    if out.any():
        data = data.subset(~out)
        data_inf = data.subset(data.informative())
        fit = fitmod.fit_fractions(dataclasses.replace(data_inf, error_rate=errors.rate), rho_data=data,
                                   error_scale=fit_error)
        rate = errors.rate * fit.error_scale
        data = dataclasses.replace(data, het_share=fit.het_share, error_rate=rate)
        data_inf = dataclasses.replace(data_inf, het_share=fit.het_share, error_rate=rate)
        doc["sites"]["used"] = int(data.n_sites)
        doc["sites"]["informative"] = int(data_inf.n_sites)
        doc["sites"]["reads_used"] = int(data.n.sum())
    if fit_error:
        for c in doc["error_rates"].values():
            c["rate"] = float(min(1.0, c["rate"] * fit.error_scale))
            c["source"] += "+fitted_scale"
    doc["overdispersion"]["error_scale"] = fit.error_scale
    doc["overdispersion"]["rho"] = fit.rho
    doc["overdispersion"]["het_alt_share"] = fit.het_share
    lam = fitmod.block_inflation(data_inf, fit)
    total = float(fit.fraction.sum())
    for j, d in enumerate(donors):
        inf_j = data.informative(j)
        entry = {"name": d, "relationship": labels[d], "typed": d in typed}
        if not inf_j.any():
            warnings.append(f"donor {d!r}: no informative sites")
            doc["donors"].append({**_empty_donor(d, labels[d], d in typed)})
            continue
        thr = fitmod.CHI2_95 * lam[j]
        low, high, l0 = fitmod.profile_ci(data, fit, j, thr, base_rate=errors.rate if fit_error else None,
                                          boundary=True)
        stat = fitmod.lrt_refit_nuisance(data, data_inf, fit, j, errors.rate, refit_error=fit_error)
        pval = fitmod.boundary_p_value(stat / lam[j])
        f_j = float(fit.fraction[j])
        others = total - f_j
        lod = fitmod.limit_of_detection(data_inf, fit, j, alpha=alpha, inflation=lam[j],
                                         share=fitmod.nuisance_share(data, fit, j))
        entry.update({
            "fraction": f_j,
            "ci95": [low, high],
            "p_value": pval,
            "lrt_statistic": stat,
            "detected": bool(pval < alpha),
            "geq_per_100k": float(geq_per_100k(f_j, total)),
            "geq_per_100k_ci95": [float(geq_per_100k(low, low + others)), float(geq_per_100k(high, high + others))],
            "lod": lod,
            "lod_geq_per_100k": None if lod is None else float(geq_per_100k(lod, lod + others)),
            "informative_sites": int(inf_j.sum()),
            "informative_reads": int(data.n[inf_j].sum()),
            "ci_inflation": float(lam[j]),
            "profile": _profile_grid(data_inf, fit, j, high, lod),
            "per_chromosome": _per_chromosome(data_inf, fit, j, csites),
        })
        doc["donors"].append(entry)
    doc["relatedness_test"] = (_relatedness(model, fit, ped, typed, members, labels, af, n, alt, site_class,
                                            rate, block, mask, doc["donors"], fit.het_share) if relatedness
                               else {"donors": []})
    doc["observed_vs_expected"] = _observed_vs_expected(data, fit, af)
    return doc


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


def _empty_donor(name, label, typed) -> dict:
    return {"name": name, "relationship": label, "typed": typed, "fraction": None, "ci95": None,
            "p_value": None, "lrt_statistic": None, "detected": False, "geq_per_100k": None,
            "geq_per_100k_ci95": None, "lod": None, "lod_geq_per_100k": None, "informative_sites": 0,
            "informative_reads": 0, "ci_inflation": 1.0, "profile": None, "per_chromosome": []}


def _profile_grid(data, fit, j, high, lod) -> dict:
    """Log-likelihood of donor ``j``'s fraction on a grid, others at their MLE (conditional)."""
    top = max(2.0 * high, 1.5 * (lod or 0.0), 1e-6)
    grid = np.linspace(0.0, min(top, fitmod.F_MAX_TOTAL - (fit.fraction.sum() - fit.fraction[j])), PROFILE_POINTS)
    ll = []
    for v in grid:
        f = fit.fraction.copy()
        f[j] = v
        ll.append(fitmod.evaluate(data, f, fit.rho).loglik)
    ll = np.array(ll)
    return {"fraction": grid.tolist(), "delta_loglik": (ll - fit.loglik).tolist(), "others": "fixed_at_mle"}


def _per_chromosome(data, fit, j, csites) -> list:
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
        out.append({"contig": csites.contigs[c], "fraction": fj,
                    "ci95": None if se is None else [max(0.0, fj - 1.96 * se), fj + 1.96 * se],
                    "informative_sites": int(m.sum()), "informative_reads": int(sub.n.sum())})
    return out


def _observed_vs_expected(data, fit, af) -> dict:
    """Observed alt reads vs expected at the MLE and with no donor, by host genotype and AF bin."""
    p_hat = data.expected_alt_share(fit.fraction)
    p_0 = data.expected_alt_share(np.zeros(data.n_donors))
    gh = data.combo_gh[data.entry_combo]
    w = np.exp(data.entry_logw)
    host_g = np.bincount(data.entry_site, weights=w * gh, minlength=data.n_sites)
    host_g = np.rint(host_g).astype(int)
    by_g = []
    for g in (0, 1, 2):
        m = host_g == g
        by_g.append({"host_genotype": g, "sites": int(m.sum()), "reads": int(data.n[m].sum()),
                     "observed_alt": int(data.x[m].sum()), "expected_alt": float((data.n * p_hat)[m].sum()),
                     "expected_alt_no_donor": float((data.n * p_0)[m].sum())})
    site_af = af[data.site_index]
    edges = np.linspace(0, 1, 11)
    by_af = []
    hom = host_g == 0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = hom & (site_af >= lo) & (site_af < hi if hi < 1 else site_af <= hi)
        by_af.append({"af_low": float(lo), "af_high": float(hi), "sites": int(m.sum()), "reads": int(data.n[m].sum()),
                      "observed_alt": int(data.x[m].sum()), "expected_alt": float((data.n * p_hat)[m].sum()),
                      "expected_alt_no_donor": float((data.n * p_0)[m].sum())})
    return {"by_host_genotype": by_g, "by_af_bin": by_af, "af_bins_host_genotype": 0}


def _relatedness(model, fit, ped, typed, members, labels, af, n, alt, site_class, rate, block, mask, donor_docs,
                 het_share):
    """Named relationship vs the alternative (an unrelated person, or a child if named unrelated)."""
    out = []
    for j, d in enumerate(members[1:]):
        if donor_docs[j].get("fraction") is None:
            continue
        alt_label = "child" if labels[d] == "unrelated" else "unrelated"
        alt_name = f"_alt_{d}"
        recs = []
        for i, p in enumerate(ped.ids):
            fa, mo = ped.father[i], ped.mother[i]
            recs.append([ped.family[i], p, ped.ids[fa] if fa >= 0 else None, ped.ids[mo] if mo >= 0 else None, 0])
        if alt_label == "unrelated":
            recs.append(["fam", alt_name, None, None, 0])
        else:
            recs.append(["fam", "_alt_partner", None, None, 0])
            recs.append(["fam", alt_name, "_alt_partner", members[0], 0])
        alt_ped = Pedigree.from_records([tuple(r) for r in recs], source="relatedness test")
        alt_members = list(members)
        alt_members[j + 1] = alt_name
        try:
            alt_model = _Model(alt_ped, typed, alt_members, af, model.mask)
            alt_model.build(n, alt, site_class, rate, block)
        except MicrochimeraError as exc:  # too many untyped people for the alternative
            out.append({"donor": d, "hypothesis": labels[d], "alternative": alt_label, "conclusion": "not_tested",
                        "note": str(exc)})
            continue
        common = alt_model.mask & model.mask
        main_data = dataclasses.replace(model.data.subset(common[model.data.site_index]), het_share=het_share)
        alt_data = dataclasses.replace(alt_model.data.subset(common[alt_model.data.site_index]), het_share=het_share)
        ll_main = fitmod.newton(main_data, fit.fraction, fit.rho)[1].loglik
        ll_alt = fitmod.newton(alt_data, fit.fraction, fit.rho)[1].loglik
        llr = ll_main - ll_alt
        if not donor_docs[j]["detected"]:
            conclusion = "donor_not_detected"
        elif llr > RELATEDNESS_LOG_LR:
            conclusion = labels[d]
        elif llr < -RELATEDNESS_LOG_LR:
            conclusion = alt_label
        else:
            conclusion = "undetermined"
        out.append({"donor": d, "hypothesis": labels[d], "alternative": alt_label, "loglik_hypothesis": ll_main,
                    "loglik_alternative": ll_alt, "log_likelihood_ratio": llr, "conclusion": conclusion})
    return {"threshold_log_lr": float(RELATEDNESS_LOG_LR), "donors": out}
