"""Region sets for chrY quantification: packaged male-specific Y regions, build checks, windows.

Coordinates are 0-based half-open (BED), see :mod:`microchimera.conventions`.

Three region sets enter the estimate:

* **Y regions** -- male-specific, single-copy chrY (the X-degenerate sequence class), from the
  packaged ``regions/<build>.bed`` or a user BED.  PARs, the X-transposed region, ampliconic and
  heterochromatic sequence are left out because reads from a woman's X or autosomes land there.
* **Autosomal windows** -- the density denominator.  Generated from the BAM header (never a
  hard-coded contig list): every contig whose name without ``chr`` is a number is an autosome;
  fixed-width windows are spread evenly over them up to a total budget (whole autosomes when they
  fit).  Windows in assembly gaps, centromeres or copy-number changes are dropped later by a
  robust filter on their read density (:func:`microchimera.ychrom.stats.robust_density`).
* **X windows** -- the same over chrX outside the PARs and the X-transposed region (known builds
  only), used for the host sex check (X dosage).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..conventions import POS_DTYPE
from ..errors import FormatError, InputError, UsageError
from ..io.contigs import contig_key, match_contig

logger = logging.getLogger(__name__)

BUILDS = ("GRCh38", "GRCh37")


@dataclass(frozen=True)
class BuildInfo:
    """Facts about a reference build used for checks and X windows (0-based half-open).

    Lengths are the GRC's (``chrom.sizes``); PARs and X-transposed region as cited in
    ``docs/ychrom.md``.
    """

    name: str
    lengths: dict
    x_pars: tuple
    x_xtr: tuple


BUILD_INFO = {
    "GRCh38": BuildInfo(
        "GRCh38",
        {"1": 248_956_422, "X": 156_040_895, "Y": 57_227_415},
        ((10_000, 2_781_479), (155_701_382, 156_030_895)),
        (89_140_844, 93_328_068),  # Webster et al. 2019: DXS1217 start .. DXS3 end
    ),
    "GRCh37": BuildInfo(
        "GRCh37",
        {"1": 249_250_621, "X": 155_270_560, "Y": 59_373_566},
        ((60_000, 2_699_520), (154_931_043, 155_260_560)),
        (88_395_844, 92_583_067),
    ),
}


@dataclass(frozen=True)
class RegionSet:
    """Named intervals on one or more contigs.

    Attributes
    ----------
    contig : tuple of str, length n_regions
        Contig names as found in the BAM header (after alias resolution) or the source file.
    start, end : ndarray, int64, shape (n_regions,)
        0-based half-open coordinates.
    name : tuple of str
        Label per interval.
    source : str
        Where the intervals came from (packaged file name or path).
    """

    contig: tuple
    start: np.ndarray
    end: np.ndarray
    name: tuple
    source: str

    def __post_init__(self):
        n = len(self.contig)
        for field in ("start", "end"):
            arr = np.asarray(getattr(self, field), dtype=POS_DTYPE)
            if arr.shape != (n,):
                raise ValueError(f"{field}: expected shape ({n},), found {arr.shape}")
            object.__setattr__(self, field, arr)
        if len(self.name) != n:
            raise ValueError(f"name: expected {n} labels, found {len(self.name)}")
        if n and np.any(self.end <= self.start):
            i = int(np.argmax(self.end <= self.start))
            raise ValueError(f"{self.source}: empty interval {self.contig[i]}:{self.start[i]}-{self.end[i]}")

    @property
    def n_regions(self) -> int:
        return len(self.contig)

    @property
    def lengths(self) -> np.ndarray:
        return self.end - self.start

    @property
    def total_bases(self) -> int:
        return int(self.lengths.sum())

    def split(self, max_width: int) -> RegionSet:
        """Cut every interval into pieces of at most ``max_width`` bp (for dispersion estimates)."""
        contig, start, end, name = [], [], [], []
        for c, s, e, n in zip(self.contig, self.start, self.end, self.name, strict=True):
            k = max(1, math.ceil((e - s) / max_width))
            edges = np.linspace(s, e, k + 1).round().astype(POS_DTYPE)
            for j in range(k):
                contig.append(c)
                start.append(edges[j])
                end.append(edges[j + 1])
                name.append(f"{n}.{j}" if k > 1 else n)
        return RegionSet(tuple(contig), np.array(start), np.array(end), tuple(name), self.source)

    def renamed(self, mapping: dict) -> RegionSet:
        """The same intervals with contig names replaced through ``mapping``."""
        return RegionSet(tuple(mapping[c] for c in self.contig), self.start, self.end, self.name, self.source)


def read_region_bed(path, source: str | None = None) -> RegionSet:
    """Read a BED file (``#``, ``track`` and ``browser`` lines ignored) into a :class:`RegionSet`.

    Raises
    ------
    InputError
        If the file cannot be read.
    FormatError
        If a line has fewer than 3 columns, non-integer coordinates or ``end <= start``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read regions: {exc.strerror}") from exc
    return _parse_bed(text, source or str(path))


def _parse_bed(text: str, source: str) -> RegionSet:
    contig, start, end, name = [], [], [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) < 3:
            raise FormatError(f"{source}:{lineno}: expected at least 3 BED columns, found {len(fields)}")
        try:
            s, e = int(fields[1]), int(fields[2])
        except ValueError:
            raise FormatError(f"{source}:{lineno}: expected integer start/end, found {fields[1]!r} {fields[2]!r}") from None
        if s < 0 or e <= s:
            raise FormatError(f"{source}:{lineno}: expected 0 <= start < end, found {s} {e}")
        contig.append(fields[0])
        start.append(s)
        end.append(e)
        name.append(fields[3] if len(fields) > 3 else f"{fields[0]}:{s}-{e}")
    if not contig:
        raise FormatError(f"{source}: no regions found")
    return RegionSet(tuple(contig), np.array(start), np.array(end), tuple(name), source)


def packaged_y_regions(build: str) -> RegionSet:
    """The male-specific chrY regions shipped for ``build`` (``GRCh38`` or ``GRCh37``).

    Raises
    ------
    UsageError
        If ``build`` is not one of :data:`BUILDS`.
    """
    if build not in BUILDS:
        raise UsageError(f"unknown build {build!r}: expected one of {', '.join(BUILDS)}")
    text = resources.files("microchimera.ychrom").joinpath("regions", f"{build}.bed").read_text(encoding="utf-8")
    return _parse_bed(text, f"microchimera:ychrom/regions/{build}.bed")


def find_contig(header_lengths: dict, short: str) -> str | None:
    """The header contig that is ``short`` in any spelling (e.g. ``"Y"``: ``chrY`` or ``Y``), or ``None``."""
    return match_contig(short, list(header_lengths))


def check_build(header_lengths: dict, build: str, path) -> None:
    """Raise if the BAM's chr1/chrX/chrY lengths are not those of ``build``.

    Raises
    ------
    InputError
        Naming the contig, the length expected and the length found (and the build it matches).
    """
    info = BUILD_INFO[build]
    for short, expected in info.lengths.items():
        contig = find_contig(header_lengths, short)
        if contig is None:
            continue  # absence of chrY is reported by the caller with its own message
        found = header_lengths[contig]
        if found != expected:
            other = [b for b, i in BUILD_INFO.items() if i.lengths.get(short) == found]
            hint = f" (that is {other[0]}'s length)" if other else ""
            raise InputError(
                f"{path}: {contig} is {found:,} bp long, but {build} has {expected:,} bp{hint}; "
                # No flag named: run (--y-build), ychrom (--build), a cohort column and a Python
                # caller all reach this, and run keeps the message as the chrY estimate's reason.
                f"the BAM is not aligned to {build}: give the build it is aligned to, or Y regions in its "
                f"coordinates"
            )


def autosomes(header_lengths: dict) -> list[str]:
    """Header contigs whose name without ``chr`` is a number, in header order."""
    return [c for c in header_lengths if contig_key(c).isdigit()]


def make_windows(contigs, lengths, *, width: int, max_total: int, exclude=()) -> RegionSet:
    """Evenly spread windows of ``width`` bp over ``contigs``, at most ``max_total`` bp in all.

    Parameters
    ----------
    contigs : list of str
    lengths : list of int
        Contig lengths (same order).
    width : int
        Window width, bp.
    max_total : int
        Budget: when the contigs are longer in total, windows are placed every ``step`` bp with
        ``step = width * ceil(total / max_total)``, starting half a step in; otherwise the contigs
        are tiled completely.
    exclude : iterable of (contig, start, end)
        Intervals no window may overlap.
    """
    total = int(sum(lengths))
    if total == 0:
        raise InputError("no bases to place reference windows on")
    step = width * max(1, math.ceil(total / max_total))
    contig_out, start, end = [], [], []
    excl = list(exclude)
    for c, length in zip(contigs, lengths, strict=True):
        first = 0 if step == width else step // 2
        for s in range(first, length, step):
            e = min(s + width, length)
            if e - s < width // 2:
                continue
            if any(c == xc and s < xe and xs < e for xc, xs, xe in excl):
                continue
            contig_out.append(c)
            start.append(s)
            end.append(e)
    names = tuple(f"{c}:{s}-{e}" for c, s, e in zip(contig_out, start, end, strict=True))
    return RegionSet(tuple(contig_out), np.array(start, dtype=POS_DTYPE), np.array(end, dtype=POS_DTYPE), names, "windows")
