"""Is the donor DNA from the named relative?  The relatedness test of one sample.

For each estimated donor, the likelihood at the fitted fractions of the sample's model (the
donor as named in the pedigree) is compared with that of the same model in which the donor
is replaced by the alternative: an unrelated person (genotypes from HWE at the AF), or, when
the donor was named unrelated, a child of the host with an untyped partner.  Both are
maximised over the fractions from the fitted ones, on the sites valid in both models.  A
log-likelihood ratio beyond +-:data:`RELATEDNESS_LOG_LR` decides; in between it is
``undetermined``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import MicrochimeraError
from ..io.pedigree import Pedigree
from ..result import DonorEstimate, RelatednessTest, RelatednessVerdict
from . import fit as fitmod
from .sitemodel import SiteModel

RELATEDNESS_LOG_LR = np.log(20.0)


@dataclass(frozen=True)
class SampleData:
    """The per-site inputs a model is built from (all shape ``(n_all_sites,)``): fragments with
    ref or alt (``n``, int64), alt fragments (``alt``, int64), substitution class (int),
    per-class error rate (float64, shape ``(n_classes,)``) and linkage block (int)."""

    n: np.ndarray
    alt: np.ndarray
    site_class: np.ndarray
    error_rate: np.ndarray
    block: np.ndarray


def _alternative_pedigree(ped: Pedigree, host: str, alt_name: str, alt_label: str) -> Pedigree:
    recs = []
    for i, p in enumerate(ped.ids):
        fa, mo = ped.father[i], ped.mother[i]
        recs.append([ped.family[i], p, ped.ids[fa] if fa >= 0 else None, ped.ids[mo] if mo >= 0 else None, 0])
    if alt_label == "unrelated":
        recs.append(["fam", alt_name, None, None, 0])
    else:
        recs.append(["fam", "_alt_partner", None, None, 0])
        recs.append(["fam", alt_name, "_alt_partner", host, 0])
    return Pedigree.from_records([tuple(r) for r in recs], source="relatedness test")


def relatedness_test(model: SiteModel, fit, people, af: np.ndarray, inputs: SampleData,
                     donors: tuple[DonorEstimate, ...]) -> RelatednessTest:
    """Named relationship vs the alternative for every estimated donor.

    ``model`` is the sample's :class:`SiteModel` as built (its ``data`` with the base error
    rates and every site the model uses); ``inputs.error_rate`` is the rate the alternative
    model is built with.
    """
    members = people.members
    out = []
    for j, d in enumerate(members[1:]):
        if donors[j].fraction is None:
            continue
        label = people.labels[d]
        alt_label = "child" if label == "unrelated" else "unrelated"
        alt_name = f"_alt_{d}"
        alt_ped = _alternative_pedigree(people.pedigree, members[0], alt_name, alt_label)
        alt_members = list(members)
        alt_members[j + 1] = alt_name
        try:
            alt_model = SiteModel(alt_ped, people.typed, alt_members, af, model.mask)
            alt_model.build(inputs.n, inputs.alt, inputs.site_class, inputs.error_rate, inputs.block)
        except MicrochimeraError as exc:  # too many untyped people for the alternative
            out.append(RelatednessVerdict(d, label, alt_label, "not_tested", note=str(exc)))
            continue
        common = alt_model.mask & model.mask
        main_data = dataclasses.replace(model.data.subset(common[model.data.site_index]), het_share=fit.het_share)
        alt_data = dataclasses.replace(alt_model.data.subset(common[alt_model.data.site_index]),
                                       het_share=fit.het_share)
        ll_main = fitmod.newton(main_data, fit.fraction, fit.rho)[1].loglik
        ll_alt = fitmod.newton(alt_data, fit.fraction, fit.rho)[1].loglik
        llr = ll_main - ll_alt
        if not donors[j].detected:
            conclusion = "donor_not_detected"
        elif llr > RELATEDNESS_LOG_LR:
            conclusion = label
        elif llr < -RELATEDNESS_LOG_LR:
            conclusion = alt_label
        else:
            conclusion = "undetermined"
        out.append(RelatednessVerdict(d, label, alt_label, conclusion, loglik_hypothesis=ll_main,
                                      loglik_alternative=ll_alt, log_likelihood_ratio=llr))
    return RelatednessTest(tuple(out), float(RELATEDNESS_LOG_LR))
