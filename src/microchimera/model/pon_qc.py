"""Quality control of a panel of normals (``microchimera pon qc``) and of a sample against it.

:func:`pon_summary` is the text report: sites by flag, the per-site error distribution per
direction (quantiles of the posterior means and their spread over the class rate), strand
asymmetry, the worst sites, and the normals used and left out.
:func:`sample_background_check` compares a sample's own background at the panel's clean
sites with the panel's expectation (a run-level problem when it is far above).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from .pon import DIRECTIONS, FLAGS, PanelOfNormals, _homozygous

#: A sample's clean-site background this many times the panel's expectation is a warning.
SAMPLE_MAX_FOLD = 3.0


def pon_summary(pon: PanelOfNormals, meta: dict | None = None, top: int = 10) -> str:
    """A plain-text QC summary of ``pon`` (``meta``: the file metadata, for provenance)."""
    meta = meta or {}
    lines = [f"panel of normals: {pon.sites.n_sites} sites, {len(pon.normals)} normals used"
             + (f", {len(pon.excluded)} left out" if pon.excluded else "")]
    lines.append("sites by flag: " + ", ".join(f"{f} {int((pon.flag == f).sum())}" for f in FLAGS))
    rate = pon.rate
    for d, name in enumerate(DIRECTIONS):
        seen = pon.n_normals[:, d] > 0
        if not seen.any():
            lines.append(f"{name}: no homozygous normal at any site")
            continue
        q = np.quantile(rate[seen, d], [0.01, 0.5, 0.99])
        lo, hi = pon.errors[seen, d, 0], pon.errors[seen, d, 1]
        df, dr = pon.depth[seen, d, 0].sum(), pon.depth[seen, d, 1].sum()
        strand = (lo.sum() / max(df, 1)) / max(hi.sum() / max(dr, 1), 1e-12)
        lines.append(f"{name}: {int(seen.sum())} sites with homozygous normals; per-site error rate "
                     f"1% {q[0]:.2e}, median {q[1]:.2e}, 99% {q[2]:.2e} ({q[2] / max(q[0], 1e-12):.0f}-fold); "
                     f"forward/reverse error rate {strand:.2f}")
    worst = np.argsort(-rate.max(axis=1))[:top]
    lines.append(f"worst {len(worst)} sites (posterior mean error rate, larger direction):")
    letters = "ACGTN"
    for i in worst:
        d = int(np.argmax(rate[i]))
        lines.append(f"  {pon.sites.chrom[i]}:{pon.sites.pos[i] + 1} {letters[min(pon.sites.ref[i], 4)]}>"
                     f"{letters[min(pon.sites.alt[i], 4)]}  {DIRECTIONS[d]} {rate[i, d]:.2e}  "
                     f"errors fwd/rev {pon.errors[i, d, 0]}/{pon.errors[i, d, 1]} of "
                     f"{pon.depth[i, d, 0]}/{pon.depth[i, d, 1]} reads, {pon.n_normals[i, d]} normals, {pon.flag[i]}")
    lines.append("normals (background per base at clean sites): " + ", ".join(
        f"{k} {v:.2e}" for k, v in pon.normal_background.items()))
    for k, why in pon.excluded.items():
        lines.append(f"left out: {k}: {why}")
    if meta.get("version"):
        lines.append(f"built by microchimera {meta['version']}; sites md5 {meta.get('sites_md5', 'n/a')}")
    return "\n".join(lines)


def sample_background_check(pon: PanelOfNormals, ref: np.ndarray, alt: np.ndarray,
                            usable: np.ndarray) -> tuple[float, float, str | None]:
    """The sample's error reads at its homozygous sites that are clean in the panel, against the
    panel's expectation there.

    ``ref``/``alt`` (n_sites,) are the sample's counts over the panel's sites; ``usable``
    (bool) the sites to compare at: sites where donor DNA cannot add the other allele (the
    caller's certain background), or a donor at 1e-2 reads as a 4-fold background.  Returns ``(observed, expected, warning or None)``:
    a warning when the sample's background exceeds :data:`SAMPLE_MAX_FOLD` times the panel's,
    beyond Poisson noise (a run-level problem: another library prep, a damaged sample, a
    contaminated run).
    """
    homref, homalt = _homozygous(np.asarray(ref, np.int64), np.asarray(alt, np.int64))
    clean = usable & (pon.flag == "pass")
    rate = pon.rate
    x = float(np.where(homref & clean, alt, 0).sum() + np.where(homalt & clean, ref, 0).sum())
    n = ref + alt
    e = float((np.where(homref & clean, n * rate[:, 0], 0)).sum() + np.where(homalt & clean, n * rate[:, 1], 0).sum())
    if e <= 0:
        return x, e, None
    if x > SAMPLE_MAX_FOLD * e and stats.poisson.sf(x - 1, e) < 1e-6:
        return x, e, (f"the sample's error reads at sites clean in the panel of normals are {x / e:.1f}x the panel's "
                      f"expectation ({x:.0f} vs {e:.0f}): a run-level problem (library, damage, contamination?); the "
                      "panel's per-site rates may not apply to this sample")
    return x, e, None
