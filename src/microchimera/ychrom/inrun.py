"""The chrY estimate inside ``microchimera run``: beside the SNP estimate of each male donor (issue 5).

:func:`add_y_estimate` takes the result document of one sample (from
:func:`microchimera.model.quantify`), the sample's BAM and the pedigree, and adds

* a top-level ``ychrom`` block: whether the Y channel ran (``status``), the host's sex from the
  PED and from the reads, the male fraction with its CI/test/LoD, the background and regions
  used, and the comparison with the SNP estimates of the male donors
  (:func:`microchimera.ychrom.compare_y_and_snp`);
* ``y_comparison`` on every donor entry: the donor's sex from the PED and, for male donors, the
  joint comparison's status and z.

A disagreement or a Y signal with no male donor also goes into the document's ``warnings``.
The Y channel is skipped (with the reason recorded) when the PED says the host is male, when no
Y regions were given, or when the sample comes in several BAM files.  A host the PED calls female
whose reads look male is recorded as ``status = "error"`` with the message, and the SNP result
is kept: one channel's failure does not discard the other.
"""
from __future__ import annotations

import logging

from ..errors import InputError
from ..io.pedigree import SEX_FEMALE, SEX_MALE, Pedigree
from .analysis import analyse_ychrom, result_to_dict
from .compare import compare_y_and_snp

logger = logging.getLogger(__name__)

_SEX_NAMES = {SEX_MALE: "male", SEX_FEMALE: "female"}


def _sex(pedigree: Pedigree | None, pid: str) -> str:
    if pedigree is None or pid not in pedigree.ids:
        return "unknown"
    return _SEX_NAMES.get(int(pedigree.sex[pedigree.index(pid)]), "unknown")


def _skip(doc: dict, reason: str, host_sex: str) -> dict:
    block = {"status": "skipped", "reason": reason, "host_sex": {"pedigree": host_sex}}
    doc["ychrom"] = block
    for d in doc.get("donors", []):
        d["y_comparison"] = None
    return block


def add_y_estimate(doc: dict, bams, *, pedigree: Pedigree | None, host: str, build: str | None = None,
                   regions=None, controls=(), min_mapq: int = 30, reference=None) -> dict:
    """Add the chrY estimate and its comparison with the SNP estimates to ``doc`` (in place).

    Parameters
    ----------
    doc : dict
        Result document of one sample, with ``donors`` entries carrying ``name``, ``fraction``
        and ``ci95`` (``docs/result.md``).
    bams : list of path-like
        The sample's alignment files (the Y channel needs exactly one).
    pedigree : Pedigree or None
        Sexes of host and donors (no-family mode: ``None``; sexes are then unknown).
    host : str
    build, regions
        Packaged Y regions of a build, or a BED (as for :func:`analyse_ychrom`); neither skips
        the Y channel.
    controls : list of path-like
        Female control BAMs for the background (default background without them).

    Returns
    -------
    dict
        The ``ychrom`` block written to ``doc``.

    Raises
    ------
    UsageError
        Both ``build`` and ``regions`` given, or an unknown build.
    InputError
        Unreadable control files or a control that looks male (a user error in the options, not
        a property of the sample).
    """
    host_sex = _sex(pedigree, host)
    if host_sex == "male":
        return _skip(doc, "the host is male (PED): chrY reads come from the host itself", host_sex)
    if build is None and regions is None:
        return _skip(doc, "no Y regions: pass --build or --y-regions to estimate male DNA from chrY", host_sex)
    bams = list(bams)
    if len(bams) != 1:
        return _skip(doc, f"the sample is in {len(bams)} BAM files; run `microchimera ychrom` on each", host_sex)
    controls = list(controls)
    try:
        res = analyse_ychrom(bams, build=build, regions=regions, controls=controls, min_mapq=min_mapq,
                             reference=reference)
    except InputError as exc:
        msg = str(exc)
        if any(msg.startswith(f"{c}:") for c in controls):
            raise  # a bad control is an error in the options, not a property of this sample
        doc.setdefault("warnings", []).append(f"chrY estimate not made: {msg}")
        block = {"status": "error", "reason": msg, "host_sex": {"pedigree": host_sex}}
        doc["ychrom"] = block
        for d in doc.get("donors", []):
            d["y_comparison"] = None
        return block
    ydoc = result_to_dict(res)
    sample = ydoc["samples"][0]
    est = res.samples[0].estimate
    donors = []
    for d in doc.get("donors", []):
        sex = _sex(pedigree, d["name"])
        if d.get("fraction") is not None and d.get("ci95"):
            donors.append({"donor": d["name"], "male": sex == "male", "fraction": d["fraction"], "ci95": d["ci95"]})
    comparison = compare_y_and_snp(est, donors)
    block = {
        "status": "estimated",
        "host_sex": {"pedigree": host_sex, **sample["host_sex"]},
        "male_fraction": sample["male_fraction"],
        "counts": sample["counts"],
        "background": ydoc["background"],
        "build": ydoc["build"],
        "regions": ydoc["regions"],
        "min_mapq": ydoc["min_mapq"],
        "comparison": comparison,
        "warnings": sample["warnings"],
    }
    doc["ychrom"] = block
    for d in doc.get("donors", []):
        sex = _sex(pedigree, d["name"])
        entry = {"donor_sex": sex, "in_y_channel": sex == "male"}
        if sex == "male" and d["name"] in comparison["male_donors"]:
            entry.update(status=comparison["status"], z=comparison["z"], y_fraction=comparison["y_fraction"],
                         y_ci95=comparison["y_ci95"], male_donors=comparison["male_donors"])
        d["y_comparison"] = entry
    if comparison["status"] in ("disagree", "y_signal_without_male_donor"):
        doc.setdefault("warnings", []).append(comparison["message"])
        logger.warning("%s", comparison["message"])
    return block
