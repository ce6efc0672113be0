"""The chrY estimate inside ``microchimera run``: beside the SNP estimate of each male donor (issue 5).

:func:`add_y_estimate` takes the :class:`~microchimera.result.QuantifyResult` of one sample,
the sample's BAM and the pedigree, and returns the result with

* a :class:`YChromBlock` (JSON: the top-level ``ychrom`` block): whether the Y channel ran
  (``status``), the host's sex from the PED and from the reads, the male fraction with its
  CI/test/LoD, the background and regions used, and the comparison with the SNP estimates of
  the male donors (:func:`microchimera.ychrom.compare_y_and_snp`);
* a :class:`~microchimera.result.DonorYComparison` on every donor: the donor's sex from the
  PED and, for male donors, the joint comparison's status and z.

A disagreement or a Y signal with no male donor also goes into the result's ``warnings``.
The Y channel is skipped (with the reason recorded) when the PED says the host is male, when no
Y regions were given, or when the sample comes in several BAM files.  A host the PED calls female
whose reads look male is recorded as ``status = "error"`` with the message, and the SNP result
is kept: one channel's failure does not discard the other.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError
from ..io.pedigree import SEX_FEMALE, SEX_MALE, Pedigree
from ..options import YChromOptions
from ..result import DonorYComparison, QuantifyResult
from .analysis import YchromResult, analyse_ychrom, result_to_dict, sex_from_reads
from .compare import compare_y_and_snp

logger = logging.getLogger(__name__)

_SEX_NAMES = {SEX_MALE: "male", SEX_FEMALE: "female"}


@dataclass(frozen=True)
class YChromBlock:
    """The chrY channel of one ``run``: ``status`` is ``estimated`` (then ``analysis`` holds
    the one-sample chrY result and ``comparison`` its comparison with the SNP estimates),
    ``skipped`` or ``error`` (then ``reason`` says why).  ``host_sex`` is the PED's."""

    status: str
    host_sex: str
    reason: str | None = None
    analysis: YchromResult | None = None
    comparison: Mapping | None = None

    def to_json(self) -> dict:
        if self.analysis is None:
            return {"status": self.status, "reason": self.reason, "host_sex": {"pedigree": self.host_sex}}
        ydoc = result_to_dict(self.analysis)
        sample = ydoc["samples"][0]
        return {"status": self.status, "host_sex": {"pedigree": self.host_sex, **sample["host_sex"]},
                "male_fraction": sample["male_fraction"], "counts": sample["counts"],
                "background": ydoc["background"], "build": ydoc["build"], "regions": ydoc["regions"],
                "min_mapq": ydoc["min_mapq"], "comparison": dict(self.comparison or {}),
                "warnings": sample["warnings"]}


def _sex(pedigree: Pedigree | None, pid: str) -> str:
    if pedigree is None or pid not in pedigree.ids:
        return "unknown"
    return _SEX_NAMES.get(int(pedigree.sex[pedigree.index(pid)]), "unknown")


def _without_y(result: QuantifyResult, block: YChromBlock, warnings=()) -> QuantifyResult:
    donors = [dataclasses.replace(d, y_comparison=None) for d in result.donors]
    return result.with_ychrom(block, donors, warnings)


def add_y_estimate(result: QuantifyResult, bams, *, pedigree: Pedigree | None,
                   options: YChromOptions | None = None, reference=None) -> QuantifyResult:
    """The result with the chrY estimate and its comparison with the SNP estimates added.

    Parameters
    ----------
    result : QuantifyResult
        Result of one sample (:func:`microchimera.model.quantify`); its ``host`` is looked
        up in ``pedigree``.
    bams : list of path-like
        The sample's alignment files (the Y channel needs exactly one).
    pedigree : Pedigree or None
        Sexes of host and donors (no-family mode: ``None``; sexes are then unknown).
    options : YChromOptions
        Packaged Y regions of a build, or a BED (as for :func:`analyse_ychrom`) — neither
        skips the Y channel —, female control BAMs for the background, chrY MAPQ threshold.

    Returns
    -------
    QuantifyResult
        With ``ychrom`` set, every donor's ``y_comparison``, and any chrY warnings.

    Raises
    ------
    UsageError
        An unknown build.
    InputError
        Unreadable control files or a control that looks male (a user error in the options, not
        a property of the sample).
    """
    options = options or YChromOptions()
    bams = list(bams)
    host_sex = _sex(pedigree, result.host)
    if host_sex == "male":
        reason = "the host is male (PED): chrY reads come from the host itself"
        if options.enabled and len(bams) == 1:
            # Say so when the reads disagree with the PED (a sex or sample mix-up), instead of
            # skipping silently.
            read_sex, raw = sex_from_reads(bams[0], build=options.build, regions=options.regions,
                                           min_mapq=options.min_mapq, reference=reference)
            if read_sex == "female":
                msg = (f"the PED says the host {result.host!r} is male but the reads look female (male fraction "
                       f"{raw:.3g} from chrY before background): check the PED sex or the sample; chrY estimate "
                       f"skipped")
                return _without_y(result, YChromBlock("skipped", host_sex, msg), [msg])
        return _without_y(result, YChromBlock("skipped", host_sex, reason))
    if not options.enabled:
        return _without_y(result, YChromBlock("skipped", host_sex, "no Y regions: give a Y build or regions "
                                                                   "(run: --y-build or --y-regions; cohort: the "
                                                                   "'ychrom' column) to estimate male DNA from chrY"))
    if len(bams) != 1:
        return _without_y(result, YChromBlock("skipped", host_sex, f"the sample is in {len(bams)} BAM files; run "
                                                                   "`microchimera ychrom` on each"))
    controls = list(options.controls)
    try:
        res = analyse_ychrom(bams, build=options.build, regions=options.regions, controls=controls,
                             min_mapq=options.min_mapq, reference=reference)
    except InputError as exc:
        msg = str(exc)
        if any(msg.startswith(f"{c}:") for c in controls):
            raise  # a bad control is an error in the options, not a property of this sample
        return _without_y(result, YChromBlock("error", host_sex, msg), [f"chrY estimate not made: {msg}"])
    est = res.samples[0].estimate
    snp = [{"donor": d.name, "male": _sex(pedigree, d.name) == "male", "fraction": d.fraction, "ci95": list(d.ci95)}
           for d in result.donors if d.fraction is not None and d.ci95]
    comparison = compare_y_and_snp(est, snp)
    donors = []
    for d in result.donors:
        sex = _sex(pedigree, d.name)
        view = DonorYComparison(sex, sex == "male")
        if sex == "male" and d.name in comparison["male_donors"]:
            view = dataclasses.replace(view, status=comparison["status"], z=comparison["z"],
                                       y_fraction=comparison["y_fraction"], y_ci95=comparison["y_ci95"],
                                       male_donors=tuple(comparison["male_donors"]))
        donors.append(dataclasses.replace(d, y_comparison=view))
    warnings = []
    if comparison["status"] in ("disagree", "y_signal_without_male_donor"):
        warnings.append(comparison["message"])
        logger.warning("%s", comparison["message"])
    return result.with_ychrom(YChromBlock("estimated", host_sex, analysis=res, comparison=comparison), donors,
                              warnings)
