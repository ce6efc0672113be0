"""Y estimate beside the SNP estimate for a male donor: agreement and unexplained male signal.

For ``microchimera run`` (issue 5, item 4): when the host is female, call
:func:`compare_y_and_snp` once per sample with the Y estimate and, for each donor, the SNP
estimate and the donor's sex from the pedigree.  The returned dict goes into the report as is.
"""
from __future__ import annotations

import math

from .stats import YEstimate

#: Two estimates disagree when their difference exceeds this many joint standard errors.
DISAGREE_Z = 2.576  # two-sided 1%


def _se(estimate: float, ci95, towards: float) -> float:
    """Standard error from the CI half on the side facing ``towards`` (CIs may be asymmetric)."""
    lo, hi = ci95
    half = (hi - estimate) if towards >= estimate else (estimate - lo)
    return max(half, 0.0) / 1.959964


def compare_y_and_snp(y: YEstimate, donors) -> dict:
    """Compare the Y male fraction with SNP estimates of a sample's donors.

    Parameters
    ----------
    y : YEstimate
        From :func:`microchimera.ychrom.estimate_male_fraction` (or ``analyse_ychrom``).
    donors : iterable of dict
        One per donor: ``{"donor": id, "male": bool or None, "fraction": float,
        "ci95": (lo, hi)}`` -- the SNP fraction of that donor and its 95% CI.

    Returns
    -------
    dict
        ``{"y_fraction", "y_ci95", "snp_male_fraction", "snp_male_ci95", "z", "status",
        "flags": [...], "message"}``.  ``status`` is one of ``"agree"``, ``"disagree"``,
        ``"y_signal_without_male_donor"``, ``"no_y_signal"`` (male donors with SNP support but
        no Y detected, still consistent) or ``"no_male_signal"``.

    Notes
    -----
    The male donors' SNP fractions are summed (the Y channel sees all male DNA together), with
    their standard errors added in quadrature.  Disagreement is ``|f_Y - f_SNP| / sqrt(se_Y^2 +
    se_SNP^2) > 2.576``, each SE taken from the half of its CI that faces the other estimate.
    A Y signal with no male donor in the pedigree points to an unknown male source: a lost
    son, an older brother through the mother, a transfusion, or contamination.
    """
    donors = list(donors)
    male = [d for d in donors if d.get("male")]
    out = {
        "y_fraction": float(y.male_fraction),
        "y_ci95": [float(v) for v in y.ci95],
        "y_detected": bool(y.detected),
        "male_donors": [d["donor"] for d in male],
        "flags": [],
    }
    if not male:
        out.update(snp_male_fraction=None, snp_male_ci95=None, z=None)
        if y.detected:
            out["status"] = "y_signal_without_male_donor"
            out["flags"].append("unknown_male_source")
            out["message"] = (f"male DNA detected from chrY (fraction {y.male_fraction:.3g}, p = {y.p_value:.2g}) "
                              "but no donor in the pedigree is male: an unknown male source (lost son, older "
                              "brother via the mother, transfusion) or contamination")
        else:
            out["status"] = "no_male_signal"
            out["message"] = "no male donor and no chrY signal"
        return out
    f_snp = sum(float(d["fraction"]) for d in male)
    snp_lo = sum(float(d["ci95"][0]) for d in male)
    snp_hi = sum(float(d["ci95"][1]) for d in male)
    # Quadrature sum of per-donor SEs, each from its own CI half facing the Y estimate.
    se_snp = math.sqrt(sum(_se(float(d["fraction"]), d["ci95"], y.male_fraction) ** 2 for d in male))
    se_y = _se(y.male_fraction, y.ci95, f_snp)
    denom = math.hypot(se_y, se_snp)
    diff = y.male_fraction - f_snp
    z = diff / denom if denom > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    out.update(snp_male_fraction=f_snp, snp_male_ci95=[snp_lo, snp_hi], z=z)
    if abs(z) > DISAGREE_Z:
        out["status"] = "disagree"
        out["flags"].append("y_above_snp" if diff > 0 else "y_below_snp")
        out["message"] = (f"chrY male fraction {y.male_fraction:.3g} vs SNP {f_snp:.3g} for male donor(s) "
                          f"{', '.join(out['male_donors'])}: differ by {abs(z):.1f} joint SE"
                          + ("; extra male DNA from an unknown source?" if diff > 0 else
                             "; SNP signal not male (donor sex wrong?) or Y regions under-counted"))
    else:
        out["status"] = "agree" if y.detected else "no_y_signal"
        out["message"] = f"chrY {y.male_fraction:.3g} and SNP {f_snp:.3g} agree (|z| = {abs(z):.1f})"
    return out
