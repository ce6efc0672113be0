"""Per-sample counting and the whole ``ychrom`` analysis: BAMs in, :class:`YchromResult` out.

The JSON written by :func:`write_ychrom_json` is documented in ``docs/ychrom.md``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from .._atomic import write_text_atomic
from ..errors import InputError, UsageError
from ..io.alignments import open_alignments
from ..io.contigs import match_contig
from . import counting
from .regions import (
    BUILD_INFO,
    RegionSet,
    autosomes,
    check_build,
    find_contig,
    make_windows,
    packaged_y_regions,
    read_region_bed,
)
from .stats import (
    DEFAULT_BACKGROUND_MALE_FRACTION,
    MAX_MALE_FRACTION,
    Background,
    YCounts,
    YEstimate,
    background_from_controls,
    default_background,
    estimate_male_fraction,
    robust_density,
)

logger = logging.getLogger(__name__)

SCHEMA = "microchimera.ychrom/1"

#: Autosomal windows: width and total budget (bp).  300 windows of 100 kb on GRCh38.
WINDOW_WIDTH = 100_000
MAX_WINDOW_BASES = 30_000_000
#: Y regions are cut into bins of at most this width for the dispersion estimate.
Y_BIN_WIDTH = 100_000


@dataclass(frozen=True)
class SampleResult:
    """One analysed BAM."""

    path: str
    sample: str
    counts: YCounts
    estimate: YEstimate
    host_sex: str
    warnings: tuple


@dataclass(frozen=True)
class YchromResult:
    """All samples of one ``ychrom`` run with their shared background."""

    samples: tuple
    background: Background
    controls: tuple
    build: str | None
    regions_source: str
    n_regions: int
    region_bases: int
    min_mapq: int


def load_y_regions(build: str | None = None, regions=None) -> RegionSet:
    """The packaged regions of ``build`` or a user BED (exactly one of the two).

    Raises
    ------
    UsageError
        If both or neither are given, or the build is unknown.
    """
    if (build is None) == (regions is None):
        raise UsageError("give exactly one of {build} (GRCh38/GRCh37) or {regions} (a BED)", params=["build", "regions"])
    return packaged_y_regions(build) if build is not None else read_region_bed(regions)


def count_sample(path, y_regions: RegionSet, *, build: str | None = None, min_mapq: int = 30,
                 reference=None, window_width: int = WINDOW_WIDTH,
                 max_window_bases: int = MAX_WINDOW_BASES) -> tuple:
    """Count one BAM: Y regions, autosomal windows, X windows.

    Returns
    -------
    (sample name, YCounts)

    Raises
    ------
    InputError
        No chrY in the header, wrong build, no autosomes, no autosomal reads, unindexed file,
        CRAM without ``reference``, several samples in one file (checks of
        :func:`microchimera.io.alignments.open_alignments`, as for SNP counting).
    FormatError
        Not BAM/CRAM, truncated, not coordinate-sorted.
    """
    info = open_alignments(path, reference=reference)
    af = info.open()
    try:
        lengths = dict(zip(info.contigs, info.lengths, strict=True))
        name = info.sample
        mapping = {}
        for c in set(y_regions.contig):
            found = match_contig(c, lengths)
            if found is None:
                raise InputError(
                    f"{path}: no {c} contig in the BAM header (contigs: {', '.join(list(lengths)[:30])}"
                    f"{', ...' if len(lengths) > 30 else ''}); male DNA cannot be measured without chrY")
            mapping[c] = found
        if build is not None:
            check_build(lengths, build, path)
        y = y_regions.renamed(mapping)
        for c, e in zip(y.contig, y.end, strict=True):
            if e > lengths[c]:
                raise InputError(f"{path}: region {c}:{e} lies beyond {c}'s length {lengths[c]:,}: wrong build or regions file")
        y_bins = y.split(Y_BIN_WIDTH)

        autos = autosomes(lengths)
        if not autos:
            raise InputError(f"{path}: no autosomes (contigs named 1..22 or chr1..chr22) in the header")
        windows = make_windows(autos, [lengths[c] for c in autos], width=window_width, max_total=max_window_bases)
        xname = find_contig(lengths, "X")
        xwin = None
        if xname is not None:
            excl = ()
            if build is not None:
                info = BUILD_INFO[build]
                excl = tuple((xname, s, e) for s, e in (*info.x_pars, info.x_xtr))
            xwin = make_windows([xname], [lengths[xname]], width=window_width,
                                max_total=max(window_width, max_window_bases // 10), exclude=excl)

        fasta = pysam.FastaFile(str(reference)) if reference is not None else None
        read_len = counting.mean_read_length(af, windows, min_mapq=min_mapq)
        logger.info("%s: counting %d Y bins, %d autosomal windows", path, y_bins.n_regions, windows.n_regions)
        y_counts = counting.count_regions(path, y_bins, min_mapq=min_mapq, reference=reference)
        y_bases = counting.effective_bases(y_bins, read_len, counting.n_bases(fasta, y_bins))
        a_counts = counting.count_regions(path, windows, min_mapq=min_mapq, reference=reference)
        a_bases = counting.effective_bases(windows, read_len, counting.n_bases(fasta, windows))
        keep = robust_density(a_counts, a_bases)
        if not keep.any() or a_counts[keep].sum() == 0:
            raise InputError(f"{path}: no reads with MAPQ >= {min_mapq} in the autosomal windows")
        x_n, x_b = 0, 0.0
        if xwin is not None and xwin.n_regions:
            x_counts = counting.count_regions(path, xwin, min_mapq=min_mapq, reference=reference)
            x_bases = counting.effective_bases(xwin, read_len, counting.n_bases(fasta, xwin))
            xk = robust_density(x_counts, x_bases)
            x_n, x_b = int(x_counts[xk].sum()), float(x_bases[xk].sum())
    finally:
        af.close()
    counts = YCounts(
        y_fragments=int(y_counts.sum()),
        y_effective_bases=float(y_bases.sum()),
        autosomal_fragments=int(a_counts[keep].sum()),
        autosomal_effective_bases=float(a_bases[keep].sum()),
        n_windows=int(windows.n_regions),
        n_windows_used=int(keep.sum()),
        x_fragments=x_n,
        x_effective_bases=x_b,
        y_bin_fragments=y_counts,
        y_bin_bases=y_bases,
    )
    return name, counts


def _host_sex(counts: YCounts, max_male_fraction: float) -> tuple:
    warnings = []
    if counts.raw_male_fraction > max_male_fraction:
        return "male", warnings
    xd = counts.x_dosage
    if np.isfinite(xd) and xd < 1.5:
        warnings.append(f"chrX dosage {xd:.2f} (female ~2, male ~1) with no Y: check the sample (45,X? wrong regions?)")
    return "female", warnings


def sex_from_reads(path, *, build: str | None = None, regions=None, min_mapq: int = 30,
                   reference=None, max_male_fraction: float = MAX_MALE_FRACTION) -> tuple[str, float]:
    """``("male" | "female", male fraction before background)`` of one sample from its chrY
    reads in the male-specific regions (as :func:`analyse_ychrom` decides a host's sex)."""
    name, counts = count_sample(path, load_y_regions(build, regions), build=build, min_mapq=min_mapq,
                                reference=reference)
    return _host_sex(counts, max_male_fraction)[0], float(counts.raw_male_fraction)


def analyse_ychrom(bams, *, build: str | None = None, regions=None, controls=(), min_mapq: int = 30,
                   reference=None, max_male_fraction: float = MAX_MALE_FRACTION,
                   default_background_fraction: float = DEFAULT_BACKGROUND_MALE_FRACTION,
                   window_width: int = WINDOW_WIDTH, max_window_bases: int = MAX_WINDOW_BASES) -> YchromResult:
    """Male DNA in female hosts from chrY reads (method in ``docs/ychrom.md``).

    Parameters
    ----------
    bams : list of path-like
        Indexed BAM/CRAM files of female hosts.
    build : {"GRCh38", "GRCh37"}, optional
        Use the packaged Y regions and check contig lengths against this build.
    regions : path-like, optional
        A BED of male-specific Y regions instead of ``build``.
    controls : list of path-like
        Female samples with no male DNA; their Y reads give the background.  Without them the
        documented default background (:data:`DEFAULT_BACKGROUND_MALE_FRACTION`) is used.
    min_mapq : int
        Minimum mapping quality of counted reads.
    reference : path-like, optional
        FASTA: needed for CRAM; also lets N bases be left out of effective bases.

    Raises
    ------
    UsageError
        Inconsistent options.
    InputError
        Bad input files; a host or control that is male (male fraction before background above
        ``max_male_fraction``).
    """
    bams = [Path(b) for b in bams]
    if not bams:
        raise UsageError("no BAM files given")
    if min_mapq < 0:
        raise UsageError(f"{{min_mapq}} {min_mapq}: expected an integer >= 0", params=["min_mapq"])
    y_regions = load_y_regions(build, regions)
    kw = dict(build=build, min_mapq=min_mapq, reference=reference, window_width=window_width,
              max_window_bases=max_window_bases)

    control_counts, control_names = [], []
    for c in controls:
        name, cc = count_sample(c, y_regions, **kw)
        sex, _ = _host_sex(cc, max_male_fraction)
        if sex == "male":
            raise InputError(f"{c}: control {name!r} looks male (male fraction {cc.raw_male_fraction:.3g} before "
                             f"background, > {max_male_fraction}); the chrY controls must be female samples")
        control_counts.append(cc)
        control_names.append(name)
    background = (background_from_controls(control_counts, control_names) if control_counts
                  else default_background(default_background_fraction))

    samples = []
    for b in bams:
        name, cc = count_sample(b, y_regions, **kw)
        sex, warnings = _host_sex(cc, max_male_fraction)
        if sex == "male":
            raise InputError(
                f"{b}: host {name!r} looks male: chrY density gives a male fraction of {cc.raw_male_fraction:.3g} "
                f"(> {max_male_fraction}); ychrom measures male DNA in a female host and cannot be used for a "
                f"male host (use the SNP-based estimate instead)")
        est = estimate_male_fraction(cc, background)
        samples.append(SampleResult(str(b), name, cc, est, sex, tuple(warnings)))
    return YchromResult(tuple(samples), background, tuple(zip(map(str, controls), control_names, control_counts, strict=True)),
                        build, y_regions.source, y_regions.n_regions, y_regions.total_bases, min_mapq)


def _counts_dict(c: YCounts) -> dict:
    return {
        "y_fragments": int(c.y_fragments),
        "y_effective_bases": float(c.y_effective_bases),
        "autosomal_fragments": int(c.autosomal_fragments),
        "autosomal_effective_bases": float(c.autosomal_effective_bases),
        "autosomal_windows": int(c.n_windows),
        "autosomal_windows_used": int(c.n_windows_used),
        "x_fragments": int(c.x_fragments),
        "x_effective_bases": float(c.x_effective_bases),
        "expected_units": float(c.expected_units),
    }


def _finite(v):
    return None if v is None or not np.isfinite(v) else float(v)


def result_to_dict(result: YchromResult, provenance: dict | None = None) -> dict:
    """The JSON-ready form of a :class:`YchromResult` (schema ``microchimera.ychrom/1``)."""
    bg = result.background
    samples = []
    for s in result.samples:
        e = s.estimate
        samples.append({
            "sample": s.sample,
            "path": s.path,
            "host_sex": {"inferred": s.host_sex, "raw_male_fraction": float(e.raw_male_fraction),
                         "x_dosage": _finite(s.counts.x_dosage)},
            "counts": _counts_dict(s.counts),
            "male_fraction": {
                "estimate": float(e.male_fraction),
                "ci95": [float(v) for v in e.ci95],
                "raw": float(e.raw_male_fraction),
                "geq_per_100k": e.geq_per_100k,
                "geq_per_100k_ci95": list(e.geq_per_100k_ci95),
                "p_value": float(e.p_value),
                "detected": bool(e.detected),
                "lod": _finite(e.lod),
                "dispersion": float(e.dispersion),
            },
            "warnings": list(s.warnings),
        })
    return {
        "schema": SCHEMA,
        "build": result.build,
        "regions": {"source": result.regions_source, "n_regions": result.n_regions, "bases": result.region_bases},
        "min_mapq": result.min_mapq,
        "background": {
            "source": bg.source,
            "male_fraction": float(bg.male_fraction),
            "male_fraction_ci95": [float(v) for v in bg.male_fraction_ci()],
            "y_fragments": float(bg.y_fragments),
            "expected_units": float(bg.expected_units),
            "controls": [{"path": p, "sample": n, "counts": _counts_dict(c)} for p, n, c in result.controls],
        },
        "samples": samples,
        "provenance": provenance or {},
    }


def write_ychrom_json(result: YchromResult, path, provenance: dict | None = None) -> None:
    """Write ``ychrom.json`` atomically."""
    write_text_atomic(path, json.dumps(result_to_dict(result, provenance), indent=2) + "\n")
