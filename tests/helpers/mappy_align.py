"""Test helper: align paired FASTQ with minimap2 (``mappy``, short-read preset) into a sorted, indexed BAM.

Used by the real-aligner tests (``tests/test_ychrom_aligned.py``): the simulator writes FASTQ
(``sequencing.fastq = true``) and this module maps it, so MAPQ, PAR and X-transposed mismapping
come from minimap2 itself rather than from the simulator's alignment model.

Only the primary hit of each mate is written; unmapped mates are kept (flag 0x4) beside their
mapped mate.  ``TLEN`` is left 0 (nothing downstream uses it); mate fields and the proper-pair
flag (both mates on one contig, opposite strands) are set.
"""
from __future__ import annotations

from pathlib import Path

import pysam

from helpers.bam import sam_to_bam

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def _primary_hits(aligner, seq1: str, seq2: str, buf) -> tuple:
    h1 = h2 = None
    for h in aligner.map(seq1, seq2, buf=buf):
        if not h.is_primary:
            continue
        if h.read_num == 1 and h1 is None:
            h1 = h
        elif h.read_num == 2 and h2 is None:
            h2 = h
    return h1, h2


def _segment(header, name, seq, qual, hit, mate, read_num, rg) -> pysam.AlignedSegment:
    a = pysam.AlignedSegment(header)
    a.query_name = name
    flag = 0x1 | (0x40 if read_num == 1 else 0x80)
    if hit is not None and hit.strand < 0:
        seq, qual = seq.translate(_COMPLEMENT)[::-1], qual[::-1]
    if mate is None:
        flag |= 0x8
    else:
        flag |= 0x20 if mate.strand < 0 else 0
        a.next_reference_name = mate.ctg
        a.next_reference_start = mate.r_st
    if hit is None:
        flag |= 0x4
        if mate is not None:  # SAM recommendation: an unmapped mate takes its partner's position
            a.reference_name = mate.ctg
            a.reference_start = mate.r_st
    else:
        if mate is not None and mate.ctg == hit.ctg and mate.strand != hit.strand:
            flag |= 0x2
        flag |= 0x10 if hit.strand < 0 else 0
        left, right = (len(seq) - hit.q_en, hit.q_st) if hit.strand < 0 else (hit.q_st, len(seq) - hit.q_en)
        a.reference_name = hit.ctg
        a.reference_start = hit.r_st
        a.mapping_quality = hit.mapq
        a.cigarstring = (f"{left}S" if left else "") + hit.cigar_str + (f"{right}S" if right else "")
    a.flag = flag
    a.query_sequence = seq
    a.query_qualities = pysam.qualitystring_to_array(qual)
    a.set_tag("RG", rg)
    return a


def align_pairs(reference, fastq1, fastq2, bam_path, sample: str, aligner=None) -> Path:
    """Map a FASTQ pair with minimap2's ``sr`` preset; write ``bam_path`` (coordinate-sorted + ``.bai``).

    Parameters
    ----------
    reference : path-like
        FASTA with a ``.fai`` (contig order of the BAM header).
    fastq1, fastq2 : path-like
        Mates in the same order (as ``samtools fastq -1/-2`` writes them).
    sample : str
        Read group ID and ``SM``.
    aligner : mappy.Aligner, optional
        Reuse an index built once for several samples.
    """
    import mappy

    aligner = aligner or mappy.Aligner(str(reference), preset="sr")
    with pysam.FastaFile(str(reference)) as fa:
        header = pysam.AlignmentHeader.from_dict({
            "HD": {"VN": "1.6", "SO": "unsorted"},
            "SQ": [{"SN": n, "LN": ln} for n, ln in zip(fa.references, fa.lengths, strict=True)],
            "RG": [{"ID": sample, "SM": sample, "PL": "ILLUMINA"}],
            "PG": [{"ID": "minimap2", "PN": "mappy", "CL": "mappy.Aligner(preset='sr')"}],
        })
    bam_path = Path(bam_path)
    unsorted = bam_path.with_name(bam_path.name + ".unsorted.bam")
    buf = mappy.ThreadBuffer()
    with pysam.AlignmentFile(str(unsorted), "wbu", header=header) as out:  # uncompressed: sorted next
        reads2 = mappy.fastx_read(str(fastq2))
        for name, s1, q1 in mappy.fastx_read(str(fastq1)):
            name2, s2, q2 = next(reads2)
            if name2 != name:
                raise ValueError(f"{fastq1} / {fastq2}: mates out of order ({name} vs {name2})")
            h1, h2 = _primary_hits(aligner, s1, s2, buf)
            out.write(_segment(header, name, s1, q1, h1, h2, 1, sample))
            out.write(_segment(header, name, s2, q2, h2, h1, 2, sample))
    sam_to_bam(unsorted, bam_path, level=1)
    unsorted.unlink()
    return bam_path
