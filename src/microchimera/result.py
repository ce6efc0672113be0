"""The result of quantifying one sample, typed, and the one flattening of it into rows.

:class:`QuantifyResult` is what :func:`microchimera.model.quantify` returns; its
:meth:`~QuantifyResult.to_json` writes the ``result.json`` document (schema
``docs/result.schema.json``, fields ``docs/result.md``) key for key.  The chrY channel
(:mod:`microchimera.ychrom.inrun`) adds its block with :meth:`QuantifyResult.with_ychrom`
instead of editing a dict.

Every per-donor table downstream — ``result.tsv``, the terminal table, ``cohort.tsv`` /
``cohort.parquet``, the MultiQC file and the HTML report — is a selection of the columns of
:func:`donor_rows`, which reads the JSON form (the contract: the report and the cohort
table are built from ``result.json`` files alone), and every TSV cell is spelled by
:func:`tsv_cell`.  So one donor shows the same values everywhere.

Units: ``fraction`` is the donor's share of the sample's genome equivalents (0..1);
``geq_per_100k`` is donor genome equivalents per 100,000 host genome equivalents; ``lod`` is a
fraction; CIs are ``1 - alpha`` two-sided profile intervals.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .conventions import poisson_ci95

#: Version of the ``result.json`` schema (``docs/result.schema.json``).
RESULT_SCHEMA_VERSION = "2"


class JsonBlock(Protocol):
    """A typed block of the result with its JSON form (e.g. the chrY block)."""

    def to_json(self) -> dict: ...


def _pair(v) -> list | None:
    return None if v is None else [v[0], v[1]]


# ----------------------------------------------------------------------------- per donor
@dataclass(frozen=True)
class ContigEstimate:
    """Donor fraction fitted on one contig alone (others fixed at the genome-wide MLE); Wald CI."""

    contig: str
    fraction: float
    ci95: tuple[float, float] | None
    informative_sites: int
    informative_reads: int

    def to_json(self) -> dict:
        return {"contig": self.contig, "fraction": self.fraction, "ci95": _pair(self.ci95),
                "informative_sites": self.informative_sites, "informative_reads": self.informative_reads}


@dataclass(frozen=True)
class LikelihoodProfile:
    """Log-likelihood drop of one donor's fraction on a grid (fractions), others at their MLE."""

    fraction: tuple[float, ...]
    delta_loglik: tuple[float, ...]
    others: str = "fixed_at_mle"

    def to_json(self) -> dict:
        return {"fraction": list(self.fraction), "delta_loglik": list(self.delta_loglik), "others": self.others}


@dataclass(frozen=True)
class DonorYComparison:
    """The chrY channel's view of one donor: sex from the PED and, for a male donor of a
    female host, the joint comparison of the chrY and SNP estimates."""

    donor_sex: str
    in_y_channel: bool
    status: str | None = None
    z: float | None = None
    y_fraction: float | None = None
    y_ci95: tuple[float, float] | None = None
    male_donors: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"donor_sex": self.donor_sex, "in_y_channel": self.in_y_channel}
        if self.status is not None:
            out.update(status=self.status, z=self.z, y_fraction=self.y_fraction, y_ci95=_pair(self.y_ci95),
                       male_donors=list(self.male_donors or ()))
        return out


@dataclass(frozen=True)
class DonorEstimate:
    """One donor's estimate in one sample.

    ``fraction`` is None when the donor has no informative site (then every statistic is
    None, ``detected`` is False and ``informative_sites`` is 0).  ``ci_inflation`` is the
    block-sandwich factor (>= 1) applied to the CI threshold and the test statistic.
    """

    name: str
    relationship: str
    typed: bool
    fraction: float | None = None
    ci95: tuple[float, float] | None = None
    p_value: float | None = None
    lrt_statistic: float | None = None
    detected: bool = False
    geq_per_100k: float | None = None
    geq_per_100k_ci95: tuple[float, float] | None = None
    lod: float | None = None
    lod_geq_per_100k: float | None = None
    informative_sites: int = 0
    informative_reads: int = 0
    ci_inflation: float = 1.0
    profile: LikelihoodProfile | None = None
    per_chromosome: tuple[ContigEstimate, ...] = ()
    #: Set by the chrY channel; written to JSON only when the result has a ``ychrom`` block.
    y_comparison: DonorYComparison | None = None

    @property
    def estimated(self) -> bool:
        """Whether the donor had informative sites (and so an estimate)."""
        return self.fraction is not None

    def to_json(self, with_y: bool = False) -> dict:
        out = {"name": self.name, "relationship": self.relationship, "typed": self.typed,
               "fraction": self.fraction, "ci95": _pair(self.ci95), "p_value": self.p_value,
               "lrt_statistic": self.lrt_statistic, "detected": self.detected,
               "geq_per_100k": self.geq_per_100k, "geq_per_100k_ci95": _pair(self.geq_per_100k_ci95),
               "lod": self.lod, "lod_geq_per_100k": self.lod_geq_per_100k,
               "informative_sites": self.informative_sites, "informative_reads": self.informative_reads,
               "ci_inflation": self.ci_inflation, "profile": None if self.profile is None else self.profile.to_json(),
               "per_chromosome": [c.to_json() for c in self.per_chromosome]}
        if with_y:
            out["y_comparison"] = None if self.y_comparison is None else self.y_comparison.to_json()
        return out


# ----------------------------------------------------------------------------- per sample
@dataclass(frozen=True)
class ClassErrorRate:
    """Sequencing error rate of one substitution class (per base call) and where it came from."""

    rate: float
    source: str
    background_sites: int
    background_reads: int
    background_errors: int
    other_base_rate: float
    other_base_reads: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Overdispersion:
    """Fitted nuisance parameters: beta-binomial ``rho``, sites it was fitted on, the alt share
    of a heterozygote's reads (``het_alt_share_source``: ``"host heterozygous sites"`` when
    the ``het_alt_share_sites`` host-heterozygous sites identify it and it was fitted,
    ``"typed donor NAME"`` when a typed donor's heterozygous and opposite-homozygous sites do,
    ``"fixed"`` at 0.5 when nothing does), and the multiplier applied to every class error rate."""

    rho: float = 0.0
    sites: int = 0
    het_alt_share: float = 0.5
    error_scale: float = 1.0
    het_alt_share_sites: int = 0
    het_alt_share_source: str = "fixed"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SiteSummary:
    """How many sites each filter kept or dropped (``dropped``: reason -> number of sites)."""

    in_counts: int
    autosomal: int
    used: int
    informative: int
    reads_used: int
    max_depth: int | None
    dropped: Mapping[str, int]
    af_source: str
    blocks: int

    def to_json(self) -> dict:
        return {"in_counts": self.in_counts, "autosomal": self.autosomal, "used": self.used,
                "informative": self.informative, "reads_used": self.reads_used, "max_depth": self.max_depth,
                "dropped": dict(self.dropped), "af_source": self.af_source, "blocks": self.blocks}


@dataclass(frozen=True)
class MendelCheck:
    """Mendel errors of one typed child against its typed parents."""

    child: str
    parents: tuple[str, ...]
    errors: int
    checked: int

    def to_json(self) -> dict:
        return {"child": self.child, "parents": list(self.parents), "errors": self.errors, "checked": self.checked}


@dataclass(frozen=True)
class RelatednessVerdict:
    """Named relationship vs the alternative sources for one donor (log-likelihoods in nats).

    ``alternatives`` maps each alternative source (``unrelated``, ``child``) to its
    log-likelihood; ``alternative`` is the best of them and ``log_likelihood_ratio`` the
    named hypothesis's log-likelihood minus that one's.  ``conclusion`` is the winning
    source (the hypothesis or an alternative), ``undetermined``, ``donor_not_detected`` or
    ``not_tested`` (then ``note`` says why and there are no log-likelihoods); ``verdict`` the
    three-way reading: ``relative``, ``unrelated``, ``undetermined`` (None when not decided).
    """

    donor: str
    hypothesis: str
    alternative: str
    conclusion: str
    loglik_hypothesis: float | None = None
    loglik_alternative: float | None = None
    log_likelihood_ratio: float | None = None
    note: str | None = None
    verdict: str | None = None
    alternatives: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"donor": self.donor, "hypothesis": self.hypothesis, "alternative": self.alternative}
        if self.note is not None:
            out.update(conclusion=self.conclusion, note=self.note)
        else:
            out.update(loglik_hypothesis=self.loglik_hypothesis, loglik_alternative=self.loglik_alternative,
                       log_likelihood_ratio=self.log_likelihood_ratio, conclusion=self.conclusion)
        out.update(verdict=self.verdict, alternatives=dict(self.alternatives))
        return out


@dataclass(frozen=True)
class RelatednessTest:
    """The relatedness test of every estimated donor; ``threshold_log_lr`` None when not run."""

    donors: tuple[RelatednessVerdict, ...] = ()
    threshold_log_lr: float | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {} if self.threshold_log_lr is None else {"threshold_log_lr": self.threshold_log_lr}
        out["donors"] = [d.to_json() for d in self.donors]
        return out


@dataclass(frozen=True, kw_only=True)
class AltBin:
    """Observed vs expected alt reads in one bin of sites: by host genotype (``host_genotype``)
    or, at host hom-ref sites, by allele-frequency bin (``af_low``..``af_high``)."""

    host_genotype: int | None = None
    af_low: float | None = None
    af_high: float | None = None
    sites: int
    reads: int
    observed_alt: int
    expected_alt: float
    expected_alt_no_donor: float

    def to_json(self) -> dict:
        key = ({"host_genotype": self.host_genotype} if self.host_genotype is not None
               else {"af_low": self.af_low, "af_high": self.af_high})
        return {**key, "sites": self.sites, "reads": self.reads, "observed_alt": self.observed_alt,
                "expected_alt": self.expected_alt, "expected_alt_no_donor": self.expected_alt_no_donor}


@dataclass(frozen=True)
class ObservedVsExpected:
    """Model check: alt reads observed vs expected at the MLE and with no donor DNA.
    ``af_bins_host_genotype`` is the host genotype of the AF bins (None: no bins made)."""

    by_host_genotype: tuple[AltBin, ...] = ()
    by_af_bin: tuple[AltBin, ...] = ()
    af_bins_host_genotype: int | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"by_host_genotype": [b.to_json() for b in self.by_host_genotype],
                               "by_af_bin": [b.to_json() for b in self.by_af_bin]}
        if self.af_bins_host_genotype is not None:
            out["af_bins_host_genotype"] = self.af_bins_host_genotype
        return out


@dataclass(frozen=True)
class ContaminationEstimate:
    """The unknown unrelated contributor of one sample (DNA of nobody in the PED).

    ``fitted`` is False when the component was switched off (``--no-contamination-component``)
    or could not be fitted (``note`` says why: a donor that is itself an untyped unrelated
    person); then there is no ``estimate``.  ``estimate`` holds its fraction, CI, test and LoD exactly as
    a donor's.  ``identifiability`` is ``good`` or ``weak``: weak when the estimate of its
    fraction is correlated beyond :data:`WEAK_IDENTIFIABILITY_CORRELATION` (in absolute value)
    with a named donor's (``correlated_with``, ``correlation``; from the observed information
    of the fractions at the fit).  Without typed donors (no-family mode, an untyped child) a
    child at ``f`` and an unrelated person at ``f / 2`` give the same expected allele shares,
    so the two trade off: both CIs are profile intervals over the other, and so widen.
    """

    fitted: bool
    estimate: DonorEstimate | None = None
    identifiability: str | None = None
    correlation: float | None = None
    correlated_with: str | None = None
    note: str | None = None

    @property
    def detected(self) -> bool:
        return bool(self.estimate is not None and self.estimate.detected)

    def to_json(self) -> dict:
        if not self.fitted:
            return {"fitted": False} if self.note is None else {"fitted": False, "note": self.note}
        e = self.estimate
        return {"fitted": True, "fraction": e.fraction, "ci95": _pair(e.ci95), "p_value": e.p_value,
                "lrt_statistic": e.lrt_statistic, "detected": e.detected, "geq_per_100k": e.geq_per_100k,
                "geq_per_100k_ci95": _pair(e.geq_per_100k_ci95), "lod": e.lod,
                "lod_geq_per_100k": e.lod_geq_per_100k, "informative_sites": e.informative_sites,
                "informative_reads": e.informative_reads, "ci_inflation": e.ci_inflation,
                "identifiability": self.identifiability, "correlation": self.correlation,
                "correlated_with": self.correlated_with}


@dataclass(frozen=True)
class PonUse:
    """How a panel of normals was used for one sample (``quantify --pon``; ``docs/pon.md``).

    ``path`` and ``sites_md5`` name the panel, ``normals`` how many it was built from;
    ``matched_sites`` the sample's sites given the panel's per-site rates, ``flagged_sites``
    those dropped as the panel flags them (noisy, strand bias); ``background_observed`` /
    ``background_expected`` the sample's error reads at its homozygous, panel-clean sites and
    what the panel expects there (their ratio far above 1: a run-level problem).
    """

    path: str
    sites_md5: str | None
    normals: int
    matched_sites: int
    flagged_sites: int
    background_observed: float
    background_expected: float

    def to_json(self) -> dict:
        ratio = self.background_observed / self.background_expected if self.background_expected > 0 else None
        return {**dataclasses.asdict(self), "background_ratio": ratio}


@dataclass(frozen=True)
class UmiCounting:
    """How the counts were made from UMI families (``count --umi``; ``docs/count.md``).

    From the counts' metadata, summed over the sample's files: ``molecules`` counted,
    ``reads`` (read pairs) in them, ``strand_families``, the ``family_size_histogram``
    (``{size: families}``) and, duplex, ``duplex_yield`` (molecules with both strands / seen).
    In ``result.json`` it also carries ``consensus_error``: the per-base error after consensus,
    measured from the fit's background sites (3 x errors into the site's other allele / calls,
    summed over the substitution classes) with its exact 95% Poisson interval.
    """

    umi_tag: str | None
    molecule_tag: str | None
    duplex: bool
    min_family_size: int
    molecules: int
    reads: int
    strand_families: int
    family_size_histogram: Mapping[str, int]
    duplex_yield: float | None

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any], sample: str) -> UmiCounting | None:
        """From an :class:`~microchimera.io.allele_counts.AlleleCounts`' ``parameters`` (None:
        not UMI counts)."""
        opts = parameters.get("umi")
        if not opts:
            return None
        files = [st["umi"] for st in (parameters.get("stats") or {}).values()
                 if isinstance(st, Mapping) and st.get("sample") == sample and "umi" in st]
        hist: dict[str, int] = {}
        for f in files:
            for k, v in (f.get("family_size_histogram") or {}).items():
                hist[k] = hist.get(k, 0) + int(v)
        molecules = sum(int(f.get("molecules") or 0) for f in files)
        yields = [(f.get("duplex_yield"), int(f.get("molecules") or 0)) for f in files if f.get("duplex_yield")]
        seen = sum(m / y for y, m in yields)
        return cls(umi_tag=None if opts.get("molecule_tag") else opts.get("umi_tag"),
                   molecule_tag=opts.get("molecule_tag"), duplex=bool(opts.get("duplex")),
                   min_family_size=int(opts.get("min_family_size") or 1), molecules=molecules,
                   reads=sum(int(f.get("reads") or 0) for f in files),
                   strand_families=sum(int(f.get("strand_families") or 0) for f in files),
                   family_size_histogram=dict(sorted(hist.items(), key=lambda kv: int(kv[0]))),
                   duplex_yield=(sum(m for _, m in yields) / seen) if seen else None)

    def to_json(self, error_rates: Mapping[str, ClassErrorRate]) -> dict:
        errors = sum(e.background_errors for e in error_rates.values())
        calls = sum(e.background_reads for e in error_rates.values())
        out = dataclasses.asdict(self)
        out["family_size_histogram"] = dict(self.family_size_histogram)
        if calls:
            lo, hi = poisson_ci95(errors)
            out["consensus_error"] = {"per_base": 3 * errors / calls, "ci95": [3 * lo / calls, 3 * hi / calls],
                                      "background_errors": errors, "background_calls": calls}
        else:
            out["consensus_error"] = None
        return out


@dataclass(frozen=True)
class EvidenceUse:
    """Which evidence the likelihood used (``--evidence``; ``docs/model.md``, molecules).

    ``requested``: ``auto``, ``sites`` or ``molecules``; ``model``: ``sites`` or
    ``molecules`` (fragments given and asked for).  With molecules: ``fragments`` multi-site
    fragments of the sample in the table, ``molecules`` those modelled as molecules (two or
    more observations at eligible sites), ``observations`` their (molecule, site)
    observations, taken out of the site counts, and ``eligible_sites`` the sites where
    molecules are modelled (host homozygous, named genotypes certain).  ``note`` says why
    molecules were not used, or what limits them.
    """

    requested: str = "auto"
    model: str = "sites"
    fragments: int = 0
    molecules: int = 0
    observations: int = 0
    eligible_sites: int = 0
    note: str | None = None

    @property
    def used(self) -> bool:
        return self.model == "molecules"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AncestryEstimate:
    """Whose allele frequencies the host's untyped relatives were given (``docs/model.md``).

    ``mode``: ``pooled`` (the sites' AF as given), ``auto`` (the host's coordinates
    estimated from its reads at the panel's markers), ``population`` (a named 1000 Genomes
    population's mean coordinates, ``population_given``) or ``coordinates`` (given).
    ``coordinates`` are the host's coordinates on the panel's axes (None: none used, and
    ``note`` says why); ``nearest_population``/``nearest_superpopulation`` the labels most
    common among the 10 reference samples nearest to them and ``distance`` the distance to
    the nearest (coordinate units); ``log_lr_vs_pooled`` the log-likelihood gain of the
    estimated coordinates over the pooled AF and ``coordinate_se`` the root mean of their
    standard errors (``auto`` only).  ``markers`` the usable sites that are panel markers,
    ``markers_with_reads`` those with reads, ``adjusted_sites`` the sites given AF at the
    coordinates.  ``donors_note`` says why the donors' and the unknown contributor's own
    ancestry is not estimated (their reads per marker at the fitted fractions).
    ``theta`` is the Balding–Nichols drift of the family's population from those AF that
    the genotype prior allowed for (``--theta``); ``host_inbreeding`` (± ``_se``, over
    ``host_inbreeding_sites``) the host's own excess homozygosity against them, a check of
    the AF (:mod:`microchimera.model.drift`).
    """

    mode: str = "pooled"
    panel: str | None = None
    build: str | None = None
    coordinates: tuple[float, ...] | None = None
    nearest_population: str | None = None
    nearest_superpopulation: str | None = None
    distance: float | None = None
    population_given: str | None = None
    log_lr_vs_pooled: float | None = None
    coordinate_se: float | None = None
    markers: int = 0
    markers_with_reads: int = 0
    adjusted_sites: int = 0
    note: str | None = None
    donors_note: str | None = None
    theta: float = 0.0
    host_inbreeding: float | None = None
    host_inbreeding_se: float | None = None
    host_inbreeding_sites: int = 0

    @property
    def used(self) -> bool:
        return self.coordinates is not None

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["coordinates"] = None if self.coordinates is None else list(self.coordinates)
        return {"used": self.used, **out}


#: Largest |correlation| of the contamination estimate with a donor's still called identifiable.
WEAK_IDENTIFIABILITY_CORRELATION = 0.9


@dataclass(frozen=True)
class QuantifyResult:
    """Everything quantify found in one sample (``result.json``).

    ``mode`` is ``family`` (pedigree + genotypes) or ``no_family`` (``--relationship``).
    ``provenance`` is the block of :func:`microchimera.provenance.get_provenance` (None from
    the library call, which has no command line or input files to record); ``ychrom`` the
    chrY channel's block when ``run`` asked for it.  ``label`` is the name a caller gave this
    result (a cohort manifest's ``sample``), which names its rows and files instead of the
    counts' sample (the BAM's ``@RG SM``, which two tissues of one person may share), and
    ``tissue`` the tissue the caller named; both None from a plain ``quantify``.
    """

    sample: str
    host: str
    mode: str
    alpha: float
    donors: tuple[DonorEstimate, ...]
    error_rates: Mapping[str, ClassErrorRate]
    overdispersion: Overdispersion
    sites: SiteSummary
    untyped_people: tuple[str, ...]
    mendel: tuple[MendelCheck, ...]
    warnings: tuple[str, ...]
    relatedness_test: RelatednessTest
    observed_vs_expected: ObservedVsExpected
    contamination: ContaminationEstimate = field(default_factory=lambda: ContaminationEstimate(False))
    ancestry: AncestryEstimate = field(default_factory=AncestryEstimate)
    pon: PonUse | None = None
    evidence: EvidenceUse = field(default_factory=EvidenceUse)
    umi: UmiCounting | None = None
    provenance: Mapping[str, Any] | None = None
    label: str | None = None
    tissue: str | None = None
    ychrom: JsonBlock | None = None
    schema_version: str = field(default=RESULT_SCHEMA_VERSION)

    def donor(self, name: str) -> DonorEstimate:
        """The estimate of donor ``name``; KeyError if it was not fitted."""
        for d in self.donors:
            if d.name == name:
                return d
        raise KeyError(name)

    def with_provenance(self, provenance: Mapping[str, Any]) -> QuantifyResult:
        return dataclasses.replace(self, provenance=provenance)

    def with_label(self, label: str | None, tissue: str | None = None) -> QuantifyResult:
        """A copy named ``label`` (and ``tissue``) by its caller (see the class docstring)."""
        return dataclasses.replace(self, label=label, tissue=tissue)

    def with_warnings(self, warnings: Sequence[str]) -> QuantifyResult:
        """A copy with ``warnings`` put before the result's own (those of the file reading)."""
        return dataclasses.replace(self, warnings=(*warnings, *self.warnings))

    def with_ychrom(self, block: JsonBlock, donors: Sequence[DonorEstimate],
                    warnings: Sequence[str] = ()) -> QuantifyResult:
        """A copy with the chrY block, the donors' chrY views and any chrY warnings added."""
        return dataclasses.replace(self, ychrom=block, donors=tuple(donors),
                                   warnings=(*self.warnings, *warnings))

    def to_json(self) -> dict:
        """The ``result.json`` document (key order as in ``docs/result.md``)."""
        with_y = self.ychrom is not None
        out: dict[str, Any] = {
            "schema_version": self.schema_version, "sample": self.sample,
            **({"label": self.label} if self.label is not None else {}),
            **({"tissue": self.tissue} if self.tissue is not None else {}),
            "host": self.host, "mode": self.mode, "alpha": self.alpha, "contamination": self.contamination.to_json(),
            "donors": [d.to_json(with_y) for d in self.donors],
            "error_rates": {k: v.to_json() for k, v in self.error_rates.items()},
            "overdispersion": self.overdispersion.to_json(), "sites": self.sites.to_json(),
            "untyped_people": list(self.untyped_people), "mendel": [m.to_json() for m in self.mendel],
            "warnings": list(self.warnings), "relatedness_test": self.relatedness_test.to_json(),
            "observed_vs_expected": self.observed_vs_expected.to_json(), "ancestry": self.ancestry.to_json(),
            "pon": None if self.pon is None else self.pon.to_json(), "evidence": self.evidence.to_json(),
        }
        if self.umi is not None:
            out["umi"] = self.umi.to_json(self.error_rates)
        if self.provenance is not None:
            out["provenance"] = dict(self.provenance)
        if with_y:
            out["ychrom"] = self.ychrom.to_json()
        return out

    def rows(self) -> list[DonorRow]:
        """:func:`donor_rows` of this result."""
        return donor_rows(self.to_json())


# ----------------------------------------------------------------------------- the rows
@dataclass(frozen=True)
class DonorRow:
    """One (sample, donor) line: the headline numbers every per-donor table shows.

    Non-finite numbers are None.  ``detected`` is the JSON value (False for a donor without
    an estimate, whose ``verdict`` is ``no estimate``).  ``male_*`` come from the chrY block
    (``male_status`` None when the chrY channel was not asked for).
    """

    sample: str
    host: str | None
    donor: str | None
    relationship: str | None
    fraction: float | None
    ci95_low: float | None
    ci95_high: float | None
    p_value: float | None
    detected: bool | None
    geq_per_100k: float | None
    geq_ci95_low: float | None
    geq_ci95_high: float | None
    lod: float | None
    lod_geq_per_100k: float | None
    informative_sites: int | None
    informative_reads: int | None
    verdict: str
    male_status: str | None = None
    male_fraction: float | None = None
    male_ci95_low: float | None = None
    male_ci95_high: float | None = None
    male_p_value: float | None = None
    male_detected: bool | None = None

    def select(self, columns: Sequence[str]) -> list:
        return [getattr(self, c) for c in columns]


#: The columns of ``result.tsv``, in order.
RESULT_TSV_COLUMNS = ("sample", "host", "donor", "relationship", "fraction", "ci95_low", "ci95_high", "p_value",
                      "detected", "verdict", "geq_per_100k", "geq_ci95_low", "geq_ci95_high", "lod", "informative_sites",
                      "informative_reads")


def _num(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def _ends(v) -> tuple:
    return (None, None) if not v else (_num(v[0]), _num(v[1]))


#: Name of the contamination component's row in every per-donor table.
CONTAMINATION_ROW = "contamination"
#: Relationship (to the host) of the unknown unrelated contributor, in results and rows.
CONTAMINANT_LABEL = "unknown unrelated"
#: Relationship of a person named as a known possible contaminant (``--contaminants``).
KNOWN_CONTAMINANT_LABEL = "known contaminant"
#: Verdicts whose reader must look twice: DNA that looks unrelated, or a detected contaminant.
VERDICT_LOOKS_UNRELATED = "detected, looks unrelated: contamination?"
VERDICT_CONTAMINATION = "detected: contamination"
VERDICT_SOURCE_UNDETERMINED = "detected, could be contamination"


def verdict(donor: Mapping, doc: Mapping | None = None) -> str:
    """The verdict of one donor entry of ``result.json`` (``doc`` is the whole document).

    ``no estimate`` / ``not detected`` / ``detected``; :data:`VERDICT_CONTAMINATION` for a
    detected donor named as unrelated or as a known contaminant; :data:`VERDICT_LOOKS_UNRELATED`
    when the relatedness test of ``doc`` finds a relative's detected DNA unrelated to the host;
    :data:`VERDICT_SOURCE_UNDETERMINED` when the contamination component is weakly separable
    from this donor and the relatedness test does not find the DNA related.
    """
    if donor.get("fraction") is None:
        return "no estimate"
    if not donor.get("detected"):
        return "not detected"
    if donor.get("relationship") in ("unrelated", KNOWN_CONTAMINANT_LABEL):
        return VERDICT_CONTAMINATION  # a typed stranger, a lab control, another patient: not a relative
    doc = doc or {}
    related = None
    for test in (doc.get("relatedness_test") or {}).get("donors", []):
        if test.get("donor") == donor.get("name"):
            related = test.get("verdict")
    if related == "unrelated":
        return VERDICT_LOOKS_UNRELATED
    c = doc.get("contamination") or {}
    if c.get("identifiability") == "weak" and c.get("correlated_with") == donor.get("name") and related != "relative":
        return VERDICT_SOURCE_UNDETERMINED
    return "detected"


def verdict_class(text: str) -> str:
    """CSS class of a verdict badge: ``detected``, ``not-detected``, ``no-estimate`` or ``warning``."""
    if text in (VERDICT_LOOKS_UNRELATED, VERDICT_CONTAMINATION, VERDICT_SOURCE_UNDETERMINED):
        return "warning"
    return text.replace(" ", "-")


def male_columns(doc: Mapping) -> dict:
    """The ``male_*`` columns of a result document (from its ``ychrom`` block)."""
    block = doc.get("ychrom") or {}
    cols = {"male_status": block.get("status")}
    m = block.get("male_fraction") if block.get("status") == "estimated" else None
    if m:
        lo, hi = _ends(m.get("ci95"))
        cols.update(male_fraction=_num(m.get("estimate")), male_ci95_low=lo, male_ci95_high=hi,
                    male_p_value=_num(m.get("p_value")), male_detected=m.get("detected"))
    return cols


def donor_rows(doc: Mapping) -> list[DonorRow]:
    """The (sample, donor) rows of one ``result.json`` document (a dict, as read from the file).

    One row per donor, then a :data:`CONTAMINATION_ROW` row when the contamination component
    was fitted.  ``sample`` is the document's ``label`` when it has one, else its ``sample``.
    A document with no donors and no contamination component gives no rows.  This is the
    only flattening of a result: see the module docstring.
    """
    if not isinstance(doc, Mapping) or not isinstance(doc.get("donors"), list):
        from .errors import InputError

        raise InputError("expected a result document with a 'donors' list")
    male = male_columns(doc)
    name = str(doc.get("label") or doc.get("sample"))
    entries = [(d, verdict(d, doc), d.get("name"), d.get("relationship")) for d in doc["donors"]]
    c = doc.get("contamination") or {}
    if c.get("fitted"):
        text = "no estimate" if c.get("fraction") is None else (
            VERDICT_CONTAMINATION if c.get("detected") else "not detected")
        entries.append((c, text, CONTAMINATION_ROW, CONTAMINANT_LABEL))
    rows = []
    for d, text, donor, relationship in entries:
        lo, hi = _ends(d.get("ci95"))
        glo, ghi = _ends(d.get("geq_per_100k_ci95"))
        rows.append(DonorRow(
            sample=name, host=doc.get("host"), donor=donor,
            relationship=relationship, fraction=_num(d.get("fraction")), ci95_low=lo, ci95_high=hi,
            p_value=_num(d.get("p_value")), detected=d.get("detected"), geq_per_100k=_num(d.get("geq_per_100k")),
            geq_ci95_low=glo, geq_ci95_high=ghi, lod=_num(d.get("lod")),
            lod_geq_per_100k=_num(d.get("lod_geq_per_100k")), informative_sites=d.get("informative_sites"),
            informative_reads=d.get("informative_reads"), verdict=text,
            **(male if donor != CONTAMINATION_ROW else {})))
    return rows


def tsv_cell(v) -> str:
    """One TSV cell: ``NA`` for missing, ``true``/``false``, floats to 6 significant digits."""
    if v is None or isinstance(v, bool):
        return {None: "NA", True: "true", False: "false"}[v]
    text = f"{v:.6g}" if isinstance(v, float) else str(v)
    return text.replace("\t", " ").replace("\n", " ")


def rows_tsv(rows: Sequence[DonorRow], columns: Sequence[str] = RESULT_TSV_COLUMNS) -> str:
    """Rows as tab-separated text with a header line."""
    lines = ["\t".join(columns)] + ["\t".join(tsv_cell(v) for v in r.select(columns)) for r in rows]
    return "\n".join(lines) + "\n"
