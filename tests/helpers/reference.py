"""Slow, obviously-correct reference implementations that the fast kernels are tested against.

``reference_count``: allele counting read by read with pysam.  Every primary read is
filtered, its base at every site taken from ``get_aligned_pairs`` and the reads grouped by
name (a pair = one fragment); nothing depends on sort order, pending buffers or hashing.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pysam

SKIP_FLAGS = 0x4 | 0x100 | 0x200 | 0x400 | 0x800


def _merge_site(a, b, qdiff):
    """a, b: (base, qual, reverse, first_in_pair). Returns (base, qual, reverse, mates) or None."""
    if a[0] == b[0]:
        best = a if (a[1], a[3]) >= (b[1], b[3]) else b
        return best[0], best[1], best[2], 2
    if abs(a[1] - b[1]) < qdiff:
        return None
    best = a if a[1] > b[1] else b
    return best[0], best[1], best[2], 1


def reference_count(bam_path, sites, *, contig_map=None, min_mapq=20, min_baseq=20,
                    require_proper_pairs=False, qdiff=10):
    """Return ``(counts, fragments)`` for one BAM.

    counts: uint32 (6, n_sites), rows ref_fwd, ref_rev, alt_fwd, alt_rev, other_fwd, other_rev.
    fragments: sorted list of tuples of (site, allele, qual, reverse, mates), one per fragment
    showing >= 2 sites.
    """
    site_at = {}
    for i in range(sites.n_sites):
        name = sites.contigs[sites.contig_id[i]]
        name = (contig_map or {}).get(name, name)
        site_at[(name, int(sites.pos[i]))] = i
    per_fragment = defaultdict(list)  # key -> list of {site: (base, qual, reverse, first)}
    with pysam.AlignmentFile(str(bam_path), "rb") as af:
        for read in af.fetch(until_eof=True):
            if read.flag & SKIP_FLAGS or read.mapping_quality < min_mapq:
                continue
            if require_proper_pairs and not read.is_proper_pair:
                continue
            if read.query_sequence is None:
                continue
            quals = read.query_qualities
            obs = {}
            for qpos, rpos in read.get_aligned_pairs(matches_only=True):
                i = site_at.get((read.reference_name, rpos))
                if i is None:
                    continue
                base = read.query_sequence[qpos]
                q = 255 if quals is None else quals[qpos]
                if base in "ACGT" and q >= min_baseq and q != 255:
                    obs[i] = ("ACGT".index(base), q, read.is_reverse, read.is_read1)
            if not obs:
                continue
            paired = read.is_paired and not read.mate_is_unmapped and read.next_reference_id == read.reference_id
            key = read.query_name if paired else (read.query_name, read.flag, read.reference_start)
            per_fragment[key].append(obs)
    counts = np.zeros((6, sites.n_sites), dtype=np.uint32)
    fragments = []
    for reads in per_fragment.values():
        if len(reads) == 1:
            merged = {i: (b, q, r, 1) for i, (b, q, r, _) in reads[0].items()}
        else:
            a, b = reads
            merged = {}
            for i in set(a) | set(b):
                if i in a and i in b:
                    m = _merge_site(a[i], b[i], qdiff)
                    if m is not None:
                        merged[i] = m
                else:
                    x = a.get(i) or b.get(i)
                    merged[i] = (x[0], x[1], x[2], 1)
        rows = []
        for i, (base, q, rev, mates) in sorted(merged.items()):
            allele = 0 if base == sites.ref[i] else 1 if base == sites.alt[i] else 2
            counts[2 * allele + int(rev), i] += 1
            rows.append((i, allele, q, bool(rev), mates))
        if len(rows) >= 2:
            fragments.append(tuple(rows))
    return counts, sorted(fragments)
