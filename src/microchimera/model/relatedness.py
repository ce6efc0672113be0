"""Is the donor DNA from the named relative?  The relatedness test of one sample.

For each detected donor, the likelihood of the sample's model (the donor as named in the
pedigree) is compared with that of the same model in which the donor is replaced by an
alternative source: an unrelated person (genotypes from HWE at the AF) and, where it
applies, a child of the host with an untyped partner (for a donor named as a sibling, parent,
grandchild or unrelated person).  Every model keeps the other components (other donors,
the unknown contributor) and is maximised over all fractions from the fitted ones, on the
sites the final fit kept (outliers out) and with the error rates fitted after the outlier
step, so hot sites that the fit dropped cannot speak for either source.  The best-supported
source wins when it beats every other by more than :data:`RELATEDNESS_LOG_LR`; otherwise
the verdict is ``undetermined``.  The three-way ``verdict``: ``relative`` (the named
relationship or a child of the host), ``unrelated`` or ``undetermined``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import MicrochimeraError
from ..io.pedigree import SEX_MALE, Pedigree
from ..result import KNOWN_CONTAMINANT_LABEL, DonorEstimate, RelatednessTest, RelatednessVerdict
from . import fit as fitmod
from .people import unknown_contributor_only
from .pon_rates import PonSiteRates, with_rate_uncertainty
from .sitemodel import SiteModel

RELATEDNESS_LOG_LR = np.log(20.0)


@dataclass(frozen=True)
class SampleData:
    """The per-site inputs a model is built from (all shape ``(n_all_sites,)``): fragments with
    ref or alt (``n``, int64), alt fragments (``alt``, int64), substitution class (int),
    per-class error rate (float64, shape ``(n_classes,)``) and linkage block (int); ``pon``: the
    panel of normals' view of the sites, whose rate uncertainty every model gets."""

    n: np.ndarray
    alt: np.ndarray
    site_class: np.ndarray
    error_rate: np.ndarray
    block: np.ndarray
    pon: PonSiteRates | None = None


def alternative_sources(label: str) -> tuple[str, ...]:
    """The sources a donor named with relationship ``label`` is tested against."""
    if label == "child":
        return ("unrelated",)
    if label == "unrelated":
        return ("child",)
    return ("unrelated", "child")


def _alternative_pedigree(ped: Pedigree, host: str, alt_name: str, alt_label: str) -> Pedigree:
    if alt_label == "unrelated":
        added = [("fam", alt_name, None, None, 0)]
    else:
        partner = f"{alt_name}_partner"
        father, mother = (host, partner) if ped.sex[ped.index(host)] == SEX_MALE else (partner, host)
        added = [("fam", partner, None, None, 0), ("fam", alt_name, father, mother, 0)]
    return ped.with_people(added, source="relatedness test")


def _verdict(conclusion: str) -> str | None:
    if conclusion in ("donor_not_detected", "not_tested"):
        return None
    if conclusion == "undetermined":
        return "undetermined"
    return "unrelated" if conclusion == "unrelated" else "relative"


def relatedness_test(model: SiteModel, fit, people, af: np.ndarray, inputs: SampleData,
                     donors: tuple[DonorEstimate, ...], keep: np.ndarray, founder_af=None) -> RelatednessTest:
    """Named relationship vs the alternative sources for every estimated donor.

    Parameters
    ----------
    model : SiteModel
        The sample's model as built (its ``data`` holds every site the model uses).
    fit : FitResult
        The final fit (fractions of every component, ``rho``, het share).
    inputs : SampleData
        ``error_rate`` is the fitted per-class rate (after the outlier step, times the
        fitted multiplier); every model of the test is evaluated with it.
    donors : tuple of DonorEstimate
        The named donors' estimates, in ``people.donors`` order.
    keep : ndarray, bool, shape (n_all_sites,)
        The sites the final fit kept (outliers dropped).
    founder_af : mapping, optional
        Untyped founders with their own AF (the unknown contributor's pooled AF, as in
        the sample's model).
    """
    members = people.members
    out = []
    for j, d in enumerate(people.donors):
        label = people.labels[d]
        if donors[j].fraction is None or label == KNOWN_CONTAMINANT_LABEL:
            continue
        alts = alternative_sources(label)
        models, common = [], model.mask & keep
        try:
            for alt_label in alts:
                alt_name = f"_alt_{alt_label}_{d}"
                alt_ped = _alternative_pedigree(people.pedigree, members[0], alt_name, alt_label)
                alt_members = list(members)
                alt_members[j + 1] = alt_name
                alt_model = SiteModel(alt_ped, people.typed, alt_members, af, model.mask, founder_af=founder_af,
                                      theta=model.theta)
                alt_model.build(inputs.n, inputs.alt, inputs.site_class, inputs.error_rate, inputs.block)
                models.append(alt_model)
                common &= alt_model.mask
        except MicrochimeraError as exc:  # too many untyped people for an alternative
            out.append(RelatednessVerdict(d, label, alts[0], "not_tested", note=str(exc)))
            continue

        def loglik(data, mask):
            data = dataclasses.replace(with_rate_uncertainty(data, inputs.pon, inputs.site_class),
                                       het_share=fit.het_share, error_rate=inputs.error_rate)
            # a panel's rate uncertainty placed at the fit's unknown contributor, as in the fit
            placed = data.with_pon_variance_at(unknown_contributor_only(fit.fraction, data.donors))
            sub = placed.subset(mask[data.site_index])
            return fitmod.newton(sub, fit.fraction, fit.rho)[1].loglik

        ll_main = loglik(model.data, common)
        ll_alts = {a: loglik(m.data, common) for a, m in zip(alts, models, strict=True)}
        best_alt = max(ll_alts, key=ll_alts.get)
        llr = ll_main - ll_alts[best_alt]
        ranked = sorted([(ll_main, label), *((v, a) for a, v in ll_alts.items())], reverse=True)
        if not donors[j].detected:
            conclusion = "donor_not_detected"
        elif ranked[0][0] - ranked[1][0] > RELATEDNESS_LOG_LR:
            conclusion = ranked[0][1]
        else:
            conclusion = "undetermined"
        out.append(RelatednessVerdict(d, label, best_alt, conclusion, loglik_hypothesis=ll_main,
                                      loglik_alternative=ll_alts[best_alt], log_likelihood_ratio=llr,
                                      verdict=_verdict(conclusion), alternatives=ll_alts))
    return RelatednessTest(tuple(out), float(RELATEDNESS_LOG_LR))
