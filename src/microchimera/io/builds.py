"""Human genome builds told apart by the lengths of their chromosomes.

An alignment file does not say which genome build its reads are on, but its header does
list every contig with its length (``@SQ SN LN``), and chromosomes 1-22 and X have
different lengths in GRCh37 and GRCh38.  :func:`build_of` names the build of a header
from them; :func:`check_build` compares it with the build of a site list that has one
(the built-in panels) and explains a mismatch.

The lengths are those of the primary assembly (GRCh37: the ``1``..``X`` of hs37d5 and of
UCSC hg19; GRCh38: the ``chr1``..``chrX`` of the GRCh38 analysis sets and of UCSC hg38),
as the @SQ lines of the CEPH (hs37d5) and GIAB (GRCh38 analysis set) BAMs under
``shared/data/real`` list them (``tests/test_builtin_panels.py`` compares the two).  A
header none of whose chromosomes has either build's length (a simulated genome, another
species) has no build here, and nothing is checked.
"""
from __future__ import annotations

from ..errors import InputError
from .contigs import contig_key

#: Chromosome lengths (bp) per build, keyed by contig name without ``chr``.
LENGTHS = {
    "GRCh37": {
        "1": 249_250_621, "2": 243_199_373, "3": 198_022_430, "4": 191_154_276, "5": 180_915_260,
        "6": 171_115_067, "7": 159_138_663, "8": 146_364_022, "9": 141_213_431, "10": 135_534_747,
        "11": 135_006_516, "12": 133_851_895, "13": 115_169_878, "14": 107_349_540, "15": 102_531_392,
        "16": 90_354_753, "17": 81_195_210, "18": 78_077_248, "19": 59_128_983, "20": 63_025_520,
        "21": 48_129_895, "22": 51_304_566, "X": 155_270_560,
    },
    "GRCh38": {
        "1": 248_956_422, "2": 242_193_529, "3": 198_295_559, "4": 190_214_555, "5": 181_538_259,
        "6": 170_805_979, "7": 159_345_973, "8": 145_138_636, "9": 138_394_717, "10": 133_797_422,
        "11": 135_086_622, "12": 133_275_309, "13": 114_364_328, "14": 107_043_718, "15": 101_991_189,
        "16": 90_338_345, "17": 83_257_441, "18": 80_373_285, "19": 58_617_616, "20": 64_444_167,
        "21": 46_709_983, "22": 50_818_468, "X": 156_040_895,
    },
}


def build_of(contigs, lengths) -> tuple[str | None, list]:
    """The build whose chromosome lengths a header's contigs have.

    Parameters
    ----------
    contigs, lengths : sequences
        The header's contig names (``chr`` or not) and lengths, in the same order.

    Returns
    -------
    (build, evidence)
        ``build`` is ``"GRCh37"`` or ``"GRCh38"`` when at least one of chromosomes 1-22 and X
        has that build's length and none has the other's; ``None`` otherwise (no human
        chromosome of either length, or a mix).  ``evidence``: the ``(name, length)`` of the
        header's chromosomes that have the build's length, in header order.
    """
    hits: dict = {build: [] for build in LENGTHS}
    for name, length in zip(contigs, lengths, strict=True):
        key = contig_key(name)
        for build, table in LENGTHS.items():
            if table.get(key) == length:
                hits[build].append((name, int(length)))
    found = [build for build, ev in hits.items() if ev]
    if len(found) != 1:
        return None, []
    return found[0], hits[found[0]]


def check_build(where, contigs, lengths, *, panel: str, build: str, panel_contigs) -> None:
    """Raise if a header (``contigs``, ``lengths`` of file ``where``) is on another build
    than a panel (``panel`` named, on ``build``, whose contig names are ``panel_contigs``).

    A header of no known build (:func:`build_of`) passes.

    Raises
    ------
    InputError
        Naming the file, its build and two of its chromosomes with their lengths, the
        panel, its build and the same chromosomes' lengths there, and the built-in panel
        of the file's build to use instead.
    """
    found, evidence = build_of(contigs, lengths)
    if found is None or found == build or build not in LENGTHS:
        return
    spelling = {contig_key(c): c for c in panel_contigs}
    examples = evidence[:2]
    theirs = ", ".join(f"{name}: {length:,} bp" for name, length in examples)
    ours = ", ".join(f"{spelling.get(contig_key(name), contig_key(name))}: "
                     f"{LENGTHS[build][contig_key(name)]:,} bp" for name, _ in examples)
    other = panel.replace(build, found) if build in panel else None
    hint = f"; the built-in panel for {found} is builtin:{other}" if other else ""
    raise InputError(f"{where} is {found} ({theirs}) but panel {panel} is {build} ({ours}){hint}")
