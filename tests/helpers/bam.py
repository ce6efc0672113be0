"""SAM text (or a SAM / unsorted BAM file) -> coordinate-sorted, indexed BAM, through pysam."""
from __future__ import annotations

from pathlib import Path

import pysam


def sam_to_bam(source: str | Path, bam: str | Path, *, index: bool = True, level: int | None = None) -> Path:
    """Sort ``source`` into ``bam`` (``samtools sort``) and index it (``.bai``) unless ``index`` is false.

    Parameters
    ----------
    source : str or pathlib.Path
        SAM *text* (a ``str``: written to ``<bam>.sam`` first), or the *path* (a
        :class:`~pathlib.Path`) of a SAM or unsorted BAM file.
    level : int, optional
        BGZF compression level of the output (``samtools sort -l``); 1 is fastest.
    """
    bam = Path(bam)
    if isinstance(source, str):
        sam = bam.with_name(bam.name + ".sam")
        sam.write_text(source)
        source = sam
    pysam.sort(*(["-l", str(level)] if level is not None else []), "-o", str(bam), str(source))
    if index:
        pysam.index(str(bam))
    return bam
