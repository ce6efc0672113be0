"""Report figures as inline SVG strings, drawn with matplotlib from result-document values.

Every function takes plain values read from ``result.json`` (never arrays from a fit) and
returns one ``<svg>`` element as text, or None when the document lacks the data.  Figures use
the object-oriented API on a fresh :class:`matplotlib.figure.Figure` (no pyplot global
state), glyphs drawn as paths (no font files needed by the browser), and a per-figure id
prefix so that several SVGs inlined in one HTML page never share an element id.
"""
from __future__ import annotations

import io
import math
import re

import matplotlib
import numpy as np

matplotlib.use("Agg", force=False)
import matplotlib.patches  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..conventions import geq_per_100k, poisson_ci95  # noqa: E402

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_ID = re.compile(r'\b(id="|href="#|url\(#)([^")]+)')
DETECTED, NOT_DETECTED, LOD_COLOUR, Y_COLOUR = "#1b6ca8", "#8c8c8c", "#c0392b", "#7d3c98"
#: The x label of every figure in gEq/100k (the forest plot and the chrY figure share it).
GEQ_LABEL = "donor genome equivalents per 100,000 host genomes (95% CI)"


def _svg(fig: Figure, prefix: str) -> str:
    """The figure as one standalone ``<svg>`` element with ids prefixed by ``prefix``."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": prefix}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = _PROLOG.sub("", buf.getvalue(), count=1)
    # Comments may echo user strings (sample and donor names); drop them all.
    text = _COMMENT.sub("", text)
    text = _ID.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    return text.replace("<svg ", f'<svg class="figure-svg" data-figure="{prefix}" role="img" ', 1)


#: Figure file formats by file-name suffix.
FIGURE_FORMATS = {".svg": "svg", ".png": "png"}


def save_figure(fig: Figure, path) -> None:
    """Write ``fig`` atomically as SVG or PNG, chosen by ``path``'s suffix.

    Raises
    ------
    UsageError
        Another suffix.
    """
    from pathlib import Path

    from .._atomic import write_bytes_atomic
    from ..errors import UsageError

    path = Path(path)
    fmt = FIGURE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: plot format from the file name must be .svg or .png, found {path.suffix!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    write_bytes_atomic(path, buf.getvalue())


def _new(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=96)
    fig.set_layout_engine("constrained")
    return fig


def _label(text, limit: int = 28) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: gid of the arrow that ends a CI reaching 0 in the forest plot (an SVG ``id`` prefix).
ARROW_GID = "ci-reaches-0"


def _log_axis(values) -> tuple[float, float, float]:
    """``(floor, left, right)`` of a log axis over ``values`` (None and values <= 0 skipped;
    1.0 when none is left): the floor a fifth of the smallest, where a 0 is drawn; the left
    edge half a decade below it, room for the arrow of a CI reaching 0; the right edge three
    times the largest."""
    positive = [v for v in values if v is not None and v > 0] or [1.0]
    floor = min(positive) / 5.0
    return floor, floor / 3.0, max(positive) * 3.0


def _arrow_to_zero(ax, y: float, floor: float, left: float, colour) -> None:
    """The arrow from the floor to the left edge of a log axis that ends a CI reaching 0."""
    arrow = ax.annotate("", xy=(left, y), xytext=(floor, y),
                        arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 2.2, "mutation_scale": 14,
                                    "shrinkA": 0, "shrinkB": 0})
    arrow.arrow_patch.set_gid(f"{ARROW_GID}-{y}")


def forest_plot(donors: list[dict], prefix: str) -> str | None:
    """:func:`forest_figure` as an SVG element."""
    fig = forest_figure(donors)
    return None if fig is None else _svg(fig, prefix)


def forest_figure(donors: list[dict]) -> Figure | None:
    """Donors' gEq per 100,000 host genomes with 95% CIs (log axis) and each donor's LoD.

    The axis starts at a floor below the smallest positive value; an estimate of 0 is drawn
    on the floor, and a CI reaching 0 runs through it to the axis edge and ends in a
    left-pointing arrow (SVG id ``<prefix>-ci-reaches-0-<row>``).  A donor without estimate
    is listed with "no estimate".
    """
    rows = [d for d in donors if d.get("name") is not None]
    if not rows:
        return None
    est = [(d.get("geq_per_100k"), d.get("geq_per_100k_ci95"), d.get("lod_geq_per_100k"), bool(d.get("detected")))
           for d in rows]
    floor, left, hi_edge = _log_axis([v for e in est for v in (e[0], *(e[1] or ()), e[2])])
    fig = _new(7.0, 0.55 * len(rows) + 1.3)
    ax = fig.add_subplot()
    for y, (g, ci, lod, det) in enumerate(est):
        colour = DETECTED if det else NOT_DETECTED
        if ci is not None and None not in ci:
            start = ci[0] if ci[0] > 0 else floor
            ax.plot([start, max(ci[1], floor)], [y, y], color=colour, lw=2.2, solid_capstyle="butt")
            if ci[0] <= 0:
                _arrow_to_zero(ax, y, floor, left, colour)
        if g is not None:
            ax.plot([max(g, floor)], [y], marker="o", mfc=colour if det else "white",
                    mec=colour, ms=8, mew=2, zorder=3)
        else:
            ax.text(floor * 1.2, y, "no estimate", va="center", fontsize=9, color=NOT_DETECTED)
        if lod is not None and lod > 0:
            ax.plot([lod], [y], marker="|", color=LOD_COLOUR, ms=16, mew=2.5)
    ax.set_xscale("log")
    ax.set_xlim(left, hi_edge)
    ax.set_yticks(range(len(rows)), [_label(d["name"]) for d in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(GEQ_LABEL)
    ax.plot([], [], "o", mfc=DETECTED, mec=DETECTED, label="detected")
    ax.plot([], [], "o", mfc="white", mec=NOT_DETECTED, label="not detected")
    ax.plot([], [], "|", color=LOD_COLOUR, ms=12, mew=2.5, label="limit of detection")
    if any(ci is not None and None not in ci and ci[0] <= 0 for _, ci, _, _ in est):
        ax.plot([], [], marker="$\\leftarrow$", ls="", color=NOT_DETECTED, ms=12, label="CI reaches 0")
    ax.legend(loc="lower right", fontsize=8, frameon=False, ncol=4, bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", which="major", alpha=0.3)
    return fig


def observed_vs_expected_plot(ove: dict, prefix: str) -> str | None:
    """Non-host allele fraction at host-homozygous sites: observed (95% CI) vs expected.

    Left: by population AF of the non-host allele (host hom-ref sites); right: by host
    genotype (hom-ref: alt reads; hom-alt: ref reads).  Expected at the fitted fractions
    and with no donor (sequencing error only).
    """
    by_af = [b for b in (ove or {}).get("by_af_bin", []) if b.get("reads")]
    by_g = [b for b in (ove or {}).get("by_host_genotype", []) if b.get("reads") and b.get("host_genotype") in (0, 2)]
    if not by_af and not by_g:
        return None
    fig = _new(8.0, 3.4)
    axes = fig.subplots(1, 2, width_ratios=[2.2, 1])

    def shares(b, flip):
        n = b["reads"]
        obs = n - b["observed_alt"] if flip else b["observed_alt"]
        exp = n - b["expected_alt"] if flip else b["expected_alt"]
        exp0 = n - b["expected_alt_no_donor"] if flip else b["expected_alt_no_donor"]
        lo, hi = poisson_ci95(obs)
        return obs / n, lo / n, hi / n, exp / n, exp0 / n

    ax = axes[0]
    if by_af:
        x = [0.5 * (b["af_low"] + b["af_high"]) for b in by_af]
        vals = [shares(b, False) for b in by_af]
        ax.errorbar(x, [v[0] for v in vals], yerr=[[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]],
                    fmt="o", color="black", ms=5, capsize=2, label="observed (95% CI)")
        ax.plot(x, [v[3] for v in vals], "-", color=DETECTED, lw=2, label="expected, fitted donors")
        ax.plot(x, [v[4] for v in vals], "--", color=NOT_DETECTED, lw=1.5, label="expected, no donor (error)")
        ax.set_xlabel("population frequency of the non-host allele (host hom-ref sites)")
        ax.legend(fontsize=8, frameon=False)
    ax.set_ylabel("non-host allele fraction")
    ax = axes[1]
    if by_g:
        labels = ["hom-ref\n(alt reads)" if b["host_genotype"] == 0 else "hom-alt\n(ref reads)" for b in by_g]
        vals = [shares(b, b["host_genotype"] == 2) for b in by_g]
        xs = range(len(by_g))
        ax.errorbar(xs, [v[0] for v in vals], yerr=[[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]],
                    fmt="o", color="black", ms=6, capsize=3)
        ax.plot(xs, [v[3] for v in vals], "_", color=DETECTED, ms=26, mew=2.5)
        ax.plot(xs, [v[4] for v in vals], "_", color=NOT_DETECTED, ms=26, mew=1.5)
        ax.set_xticks(list(xs), labels)
        ax.set_xlim(-0.6, len(by_g) - 0.4)
        ax.set_xlabel("host genotype")
    for a in axes:
        a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        a.grid(alpha=0.3)
    return _svg(fig, prefix)


def profile_plot(donors: list[dict], prefix: str) -> str | None:
    """:func:`profile_figure` as an SVG element."""
    fig = profile_figure(donors)
    return None if fig is None else _svg(fig, prefix)


def _profile_xmax(x: list[float], y: list[float], low: float, d: dict) -> float:
    """Right end of a profile panel: where the curve leaves the panel (below ``low``) to the
    right of its top, and at least the CI, so a donor at 0 whose curve falls within a few
    grid steps is not a sliver at the left of a grid that runs on to 1.5 LoD."""
    top = max(range(len(y)), key=y.__getitem__)
    last = next((i for i in range(top, len(y)) if y[i] < low), len(y) - 1)
    right = x[min(last + 1, len(x) - 1)]
    ci = d.get("ci95")
    if ci and None not in ci:
        right = max(right, 1.2 * float(ci[1]))
    return min(max(right, x[1] if len(x) > 1 else 0.0), x[-1]) or 1e-6


def profile_figure(donors: list[dict]) -> Figure | None:
    """Log-likelihood profile of each donor's fraction, with MLE, CI, CI threshold and LoD.

    Each panel shows the curve down to four times the CI threshold (x up to where it leaves
    the panel, and at least the CI); a LoD beyond the panel is named in its legend entry.
    """
    rows = [d for d in donors if isinstance(d.get("profile"), dict) and d["profile"].get("fraction")]
    if not rows:
        return None
    ncol = min(3, len(rows))
    nrow = math.ceil(len(rows) / ncol)
    fig = _new(3.2 * ncol, 2.7 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax, d in zip(axes, rows, strict=False):
        prof = d["profile"]
        x = [float(v) for v in prof["fraction"]]
        y = [float(v) for v in prof["delta_loglik"]]
        thr = -0.5 * 3.841458820694124 * float(d.get("ci_inflation") or 1.0)
        low = max(min(y), 4 * thr)
        right = _profile_xmax(x, y, low, d)
        ax.plot(x, y, "-", color=DETECTED if d.get("detected") else NOT_DETECTED, lw=2)
        ax.axhline(thr, color="black", lw=0.8, ls=":", label="95% CI threshold")
        if d.get("fraction") is not None:
            ax.axvline(d["fraction"], color="black", lw=1, label="estimate")
        ci = d.get("ci95")
        if ci and None not in ci:
            ax.axvspan(ci[0], ci[1], color=DETECTED, alpha=0.12, label="95% CI")
        lod = d.get("lod")
        if lod is not None and lod <= right:
            ax.axvline(lod, color=LOD_COLOUR, lw=1.2, ls="--", label="LoD")
        elif lod is not None:
            ax.plot([], [], color=LOD_COLOUR, lw=1.2, ls="--", label=f"LoD {lod:.2e} (off scale →)")
        ax.set_xlim(-0.03 * right, right)  # the estimate line at 0 stays clear of the spine
        ax.set_ylim(low, max(0.5, max(y) + 0.5))
        ax.set_title(_label(d["name"], 30), fontsize=10)
        ax.set_xlabel("fraction")
        ax.set_ylabel("Δ log-likelihood")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
        ax.grid(alpha=0.3)
        if lod is not None and lod > right:
            ax.legend(handles=ax.get_legend_handles_labels()[0][-1:], fontsize=7, frameon=False, loc="upper right")
    axes[0].legend(fontsize=7, frameon=False, loc="lower left")
    for ax in axes[len(rows):]:
        ax.set_visible(False)
    return fig


def per_chromosome_plot(donors: list[dict], prefix: str) -> str | None:
    """Each donor's fraction fitted per contig (95% Wald CI) against its genome-wide CI."""
    rows = [d for d in donors if d.get("per_chromosome")]
    if not rows:
        return None
    fig = _new(8.0, 2.3 * len(rows) + 0.5)
    axes = fig.subplots(len(rows), 1, squeeze=False).ravel()
    for ax, d in zip(axes, rows, strict=True):
        pcs = d["per_chromosome"]
        xs = list(range(len(pcs)))
        f = [p.get("fraction") or 0.0 for p in pcs]
        lo = [max(0.0, v - (p.get("ci95") or [v, v])[0]) for v, p in zip(f, pcs, strict=True)]
        hi = [max(0.0, (p.get("ci95") or [v, v])[1] - v) for v, p in zip(f, pcs, strict=True)]
        if d.get("ci95") and None not in d["ci95"]:
            ax.axhspan(d["ci95"][0], d["ci95"][1], color=DETECTED, alpha=0.15, label="genome-wide 95% CI")
        if d.get("fraction") is not None:
            ax.axhline(d["fraction"], color=DETECTED, lw=1.2, label="genome-wide estimate")
        ax.errorbar(xs, f, yerr=[lo, hi], fmt="o", color="black", ms=4, capsize=2, label="per contig (95% CI)")
        ax.set_xticks(xs, [_label(p.get("contig", "?"), 8) for p in pcs], rotation=90 if len(pcs) > 12 else 0,
                      fontsize=8)
        ax.set_ylabel("fraction")
        ax.set_title(_label(d["name"], 40), fontsize=10, loc="left")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False, ncol=3, loc="upper right")
    return _svg(fig, prefix)


def error_rate_plot(error_rates: dict, prefix: str) -> str | None:
    """:func:`error_rate_figure` as an SVG element."""
    fig = error_rate_figure(error_rates)
    return None if fig is None else _svg(fig, prefix)


def error_rate_figure(error_rates: dict) -> Figure | None:
    """Per-class error rate as bars from 0 (linear axis), coloured by where the estimate came from.

    Bars start at 0 so that their lengths compare: on a log axis cut at the smallest rate,
    a 10% difference between classes looked like a factor of several.
    """
    if not error_rates:
        return None
    names = list(error_rates)
    rates = [max(float(error_rates[n].get("rate") or 0.0), 0.0) for n in names]
    src = [str(error_rates[n].get("source", "unknown")) for n in names]
    kinds = list(dict.fromkeys(src))
    palette = [DETECTED, "#5dade2", "#f0b27a", Y_COLOUR, NOT_DETECTED, "#48c9b0"]
    colours = {s: palette[i % len(palette)] for i, s in enumerate(kinds)}
    fig = _new(7.0, 3.0)
    ax = fig.add_subplot()
    ax.bar(range(len(names)), rates, color=[colours[s] for s in src])
    for s in kinds:
        ax.bar([0], [0], color=colours[s], label=_label(s.replace("_", " ").replace("+", " + "), 40))
    ax.set_ylim(0, 1.25 * max(rates) if max(rates) > 0 else 1e-6)  # room for the legend
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel("error rate per base")
    ax.set_xlabel("substitution class (true base > read base)")
    ax.legend(fontsize=8, frameon=False, title="estimated from", title_fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return fig


#: Super-population colours of the ancestry figure.
SUPERPOP_COLOURS = {"AFR": "#e67e22", "AMR": "#c0392b", "EAS": "#27ae60", "EUR": "#2980b9", "SAS": "#8e44ad"}


def ancestry_plot(ancestry: dict | None, prefix: str) -> str | None:
    """:func:`ancestry_figure` as an SVG element."""
    fig = ancestry_figure(ancestry)
    return None if fig is None else _svg(fig, prefix)


def ancestry_figure(ancestry: dict | None) -> Figure | None:
    """The host on the panel's ancestry axes (1-2 and 3-4) among the 1000 Genomes samples,
    coloured by super-population; a circle of one standard error around the host when the
    coordinates were estimated.  None unless coordinates were used on a built-in panel."""
    from ..io.panels import BUILTIN, load_builtin

    if not ancestry or not ancestry.get("coordinates") or ancestry.get("panel") not in BUILTIN:
        return None
    panel = load_builtin(ancestry["panel"])
    v = np.asarray(ancestry["coordinates"], dtype=float)
    se = ancestry.get("coordinate_se")
    fig = _new(7.0, 3.3)
    for k, (a, b) in enumerate(((0, 1), (2, 3))):
        if b >= panel.n_axes:
            break
        ax = fig.add_subplot(1, 2, k + 1)
        for sp, colour in SUPERPOP_COLOURS.items():
            m = panel.superpopulations == sp
            ax.scatter(panel.coordinates[m, a], panel.coordinates[m, b], s=3, alpha=0.35, color=colour,
                       label=sp, rasterized=True, linewidths=0)  # 2504 points: a bitmap keeps the SVG small
        ax.scatter([v[a]], [v[b]], s=90, marker="*", color="black", label="host", zorder=3)
        if se and np.isfinite(se):
            ax.add_patch(matplotlib.patches.Circle((v[a], v[b]), se, fill=False, color="black", lw=0.8))
        ax.set_xlabel(f"axis {a + 1}")
        ax.set_ylabel(f"axis {b + 1}")
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=7, frameon=False, markerscale=2, loc="best")
    return fig


def pon_figure(pon) -> Figure:
    """Per-site error rates of a panel of normals (posterior means, log axis) by direction,
    with each class's prior rate; flagged sites in red."""
    fig = _new(7.0, 3.0)
    for d, name in enumerate(("REF>ALT (hom-ref normals)", "ALT>REF (hom-alt normals)")):
        ax = fig.add_subplot(1, 2, d + 1)
        rate = pon.rate[:, d]
        seen = pon.n_normals[:, d] > 0
        bins = np.logspace(-6, -1, 51)
        ok = seen & pon.usable
        ax.hist(np.clip(rate[ok], 1e-6, 0.1), bins=bins, color=DETECTED, alpha=0.8, label="pass")
        bad = seen & ~pon.usable
        if bad.any():
            ax.hist(np.clip(rate[bad], 1e-6, 0.1), bins=bins, color=LOD_COLOUR, alpha=0.8, label="flagged")
        ax.set_xscale("log")
        ax.set_xlabel("error rate per base (posterior mean)")
        ax.set_ylabel("sites")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    return fig


def y_vs_snp_plot(y: dict | None, donors: list[dict], prefix: str) -> str | None:
    """:func:`y_vs_snp_figure` as an SVG element."""
    fig = y_vs_snp_figure(y, donors)
    return None if fig is None else _svg(fig, prefix)


def y_vs_snp_figure(y: dict | None, donors: list[dict]) -> Figure | None:
    """The chrY male DNA beside the SNP estimates of the donors (and of their male sum), in gEq
    per 100,000 host genomes: the forest plot's unit and axis.

    ``y``: ``{"geq", "geq_ci95", "comparison"}`` (the report's chrY view, chrY in gEq/100k);
    the SNP sum of the male donors, given as a fraction, is converted as chrY's estimate is
    (:func:`~microchimera.conventions.geq_per_100k` of one fraction).
    """
    if not y or y.get("geq") is None:
        return None
    rows = [("chrY male DNA", y["geq"], y.get("geq_ci95"), Y_COLOUR)]
    for d in donors:
        if d.get("geq_per_100k") is None:
            continue
        sex = (d.get("y_comparison") or {}).get("donor_sex")
        tag = f" ({sex})" if sex and sex != "unknown" else ""
        rows.append((f"SNP: {_label(d['name'], 22)}{tag}", d["geq_per_100k"], d.get("geq_per_100k_ci95"),
                     DETECTED if d.get("detected") else NOT_DETECTED))
    comparison = y.get("comparison") or {}
    snp_male = comparison.get("snp_male_fraction")
    if snp_male is not None:
        ci = comparison.get("snp_male_ci95")
        ci = [float(geq_per_100k(float(v))) for v in ci] if ci and None not in ci else None
        rows.append(("SNP: all male donors", float(geq_per_100k(float(snp_male))), ci, DETECTED))
    floor, left, hi_edge = _log_axis([v for _, e, ci, _ in rows for v in (e, *(ci or ()))])
    fig = _new(7.0, 0.5 * len(rows) + 1.1)
    ax = fig.add_subplot()
    for i, (_, e, ci, colour) in enumerate(rows):
        if ci and None not in ci:
            ax.plot([max(ci[0], floor), max(ci[1], floor)], [i, i], color=colour, lw=2.2)
            if ci[0] <= 0:
                _arrow_to_zero(ax, i, floor, left, colour)
        ax.plot([max(e, floor)], [i], "o", color=colour, ms=8, zorder=3)
    ax.set_xscale("log")
    ax.set_xlim(left, hi_edge)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(GEQ_LABEL)
    ax.grid(axis="x", alpha=0.3)
    return fig


def cohort_plot(rows: list[dict], prefix: str) -> str | None:
    """gEq per 100,000 per donor (colour) per sample/tissue (x), 95% CIs; hollow = not detected.

    ``rows``: ``{"sample", "donor", "geq", "ci", "detected"}`` dicts.
    """
    rows = [r for r in rows if r.get("geq") is not None]
    if not rows:
        return None
    samples = list(dict.fromkeys(r["sample"] for r in rows))
    donors = list(dict.fromkeys(r["donor"] for r in rows))
    palette = matplotlib.colormaps["tab10"]
    lo_edge, _, hi_edge = _log_axis([v for r in rows for v in (r["geq"], *(r["ci"] or ()))])
    fig = _new(max(6.0, 0.45 * len(samples) + 2.5), 4.2)
    ax = fig.add_subplot()
    width = 0.7 / max(1, len(donors))
    for k, donor in enumerate(donors):
        colour = palette(k % 10)
        for r in (r for r in rows if r["donor"] == donor):
            x = samples.index(r["sample"]) - 0.35 + width * (k + 0.5)
            ci = r.get("ci")
            if ci and None not in ci:
                ax.plot([x, x], [max(ci[0], lo_edge), max(ci[1], lo_edge)], color=colour, lw=2)
            ax.plot([x], [max(r["geq"], lo_edge)], "o", mec=colour, mfc=colour if r["detected"] else "white",
                    ms=7, mew=2)
        ax.plot([], [], "o", color=colour, label=_label(donor, 24))
    ax.set_yscale("log")
    ax.set_ylim(lo_edge, hi_edge)
    ax.set_xticks(range(len(samples)), [_label(s, 20) for s in samples], rotation=45 if len(samples) > 4 else 0,
                  ha="right" if len(samples) > 4 else "center", fontsize=8)
    ax.set_ylabel("gEq per 100,000 host genomes (95% CI)")
    ax.set_xlabel("sample / tissue (hollow: not detected)")
    ax.legend(fontsize=8, frameon=False, title="donor", title_fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig, prefix)


def power_curve_plot(fraction, power, *, lod=None, target=None, power_target=0.95, title=None) -> Figure:
    """Detection power against donor fraction (log axis); returns the Figure (the caller saves it)."""
    fig = _new(6.0, 3.8)
    ax = fig.add_subplot()
    ax.plot(fraction, power, "-", color=DETECTED, lw=2)
    ax.axhline(power_target, color="black", lw=0.8, ls=":", label=f"power {power_target:g}")
    if lod is not None:
        ax.axvline(lod, color=LOD_COLOUR, ls="--", lw=1.2, label=f"LoD {lod:.3g}")
    if target is not None:
        ax.axvline(target, color=Y_COLOUR, lw=1.2, label=f"target {target:.3g}")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("donor fraction")
    ax.set_ylabel("detection power")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    return fig
