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


def _observations(read, site_at, min_baseq):
    """{site: (base, qual, reverse, first_in_pair)} of one read's bases at the sites."""
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
    return obs


def _fragment_key(read):
    """(key, paired): a pair's reads share their name; a lone read is its own fragment."""
    paired = read.is_paired and not read.mate_is_unmapped and read.next_reference_id == read.reference_id
    return (read.query_name if paired else (read.query_name, read.flag, read.reference_start)), paired


def _merge_reads(reads, qdiff):
    """One fragment's reads' observations -> {site: (base, qual, reverse, mates)}."""
    if len(reads) == 1:
        return {i: (b, q, r, 1) for i, (b, q, r, _) in reads[0].items()}
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
    return merged


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
            obs = _observations(read, site_at, min_baseq)
            if obs:
                per_fragment[_fragment_key(read)[0]].append(obs)
    counts = np.zeros((6, sites.n_sites), dtype=np.uint32)
    fragments = []
    for reads in per_fragment.values():
        merged = _merge_reads(reads, qdiff)
        rows = []
        for i, (base, q, rev, mates) in sorted(merged.items()):
            allele = 0 if base == sites.ref[i] else 1 if base == sites.alt[i] else 2
            counts[2 * allele + int(rev), i] += 1
            rows.append((i, allele, q, bool(rev), mates))
        if len(rows) >= 2:
            fragments.append(tuple(rows))
    return counts, sorted(fragments)


def _hamming1(a, b):
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def _directional(counts):
    """UMI-tools' directional clusters of ``{umi: reads}``, written out plainly: UMIs taken by
    count (descending), ties by sequence; each unclustered one takes every UMI reachable from it
    (edges a -> b: one base apart and count[a] >= 2 count[b] - 1) not yet clustered."""
    umis = sorted(counts, key=lambda u: (-counts[u], u))
    cluster = {}
    for start in umis:
        if start in cluster:
            continue
        reached, todo = {start}, [start]
        while todo:
            a = todo.pop()
            for b in umis:
                if b not in reached and counts[a] >= 2 * counts[b] - 1 and _hamming1(a, b):
                    reached.add(b)
                    todo.append(b)
        for u in reached:
            cluster.setdefault(u, start)
    return cluster


def _consensus(members):
    """members: [(base, qual)] -> (base, error): flat-prior posterior over A, C, G, T."""
    import math

    ll = [0.0] * 4
    for base, q in members:
        e = min(10.0 ** (-q / 10.0), 0.75)
        for b in range(4):
            ll[b] += math.log(1 - e) if base == b else math.log(e / 3)
    top = max(ll)
    best = min(b for b in range(4) if ll[b] >= top - 1e-9)
    tot = sum(math.exp(ll[b] - ll[best]) for b in range(4) if b != best)
    return best, tot / (1 + tot)


def reference_umi_count(bam_path, sites, *, tag="RX", duplex=False, min_family_size=1, min_mapq=20,
                        min_baseq=20, qdiff=10, pre_umi_error=10 ** -4.5):
    """Molecule counts (6, n_sites) of a UMI BAM, the plain way: reads (duplicates kept) merged
    into fragments as :func:`reference_count` does, fragments grouped by (contig, leftmost and
    rightmost start, paired, strand of read 1 [single-strand]) and UMI (duplex: halves put in
    strand A's order), UMIs clustered by :func:`_directional`, one consensus per strand family
    and site, duplex calls where both strands agree."""
    import math

    site_at = {(sites.contigs[sites.contig_id[i]], int(sites.pos[i])): i for i in range(sites.n_sites)}
    frags = defaultdict(list)
    info = {}
    with pysam.AlignmentFile(str(bam_path), "rb") as af:
        for read in af.fetch(until_eof=True):
            if read.flag & (SKIP_FLAGS & ~0x400) or read.mapping_quality < min_mapq or read.query_sequence is None:
                continue
            obs = _observations(read, site_at, min_baseq)
            if not obs:
                continue
            key, paired = _fragment_key(read)
            frags[key].append(obs)
            r1rev = read.is_reverse if (read.is_read1 or not read.is_paired) else read.mate_is_reverse
            umi = read.get_tag(tag)
            if duplex:
                x, y = umi.replace("+", "-").split("-")
                umi = f"{y}-{x}" if r1rev else umi
            lo, hi = ((min(read.reference_start, read.next_reference_start),
                       max(read.reference_start, read.next_reference_start)) if paired
                      else (read.reference_start, read.reference_start))
            info[key] = (read.reference_id, lo, hi, paired, int(r1rev), umi)
    groups = defaultdict(lambda: defaultdict(list))  # group -> umi -> [fragment merged obs]
    for key, reads in frags.items():
        merged = {i: (b, q) for i, (b, q, _, _) in _merge_reads(reads, qdiff).items()}
        tid, lo, hi, paired, strand, umi = info[key]
        group = (tid, lo, hi, paired) if duplex else (tid, lo, hi, paired, strand)
        groups[group][umi].append((strand, merged))
    counts = np.zeros((6, sites.n_sites), dtype=np.uint32)
    for members in groups.values():
        cluster = _directional({u: len(v) for u, v in members.items()})
        molecules = defaultdict(lambda: ([], []))
        for u, frs in members.items():
            for strand, merged in frs:
                molecules[cluster[u]][strand].append(merged)
        for strands in molecules.values():
            usable = [len(s) >= min_family_size for s in strands]
            if duplex and not all(usable):
                continue
            calls = []
            for k, fam in enumerate(strands):
                if not fam or not usable[k]:
                    calls.append(None)
                    continue
                per_site = defaultdict(list)
                for merged in fam:
                    for i, bq in merged.items():
                        per_site[i].append(bq)
                calls.append({i: _consensus(m) for i, m in per_site.items()})
            found = []
            if duplex:
                a, b = calls
                for i in set(a) & set(b):
                    if a[i][0] == b[i][0]:
                        found.append((i, a[i][0], (a[i][1] + pre_umi_error) * (b[i][1] + pre_umi_error) / 3, 0))
            else:
                for k, c in enumerate(calls):
                    for i, (base, err) in (c or {}).items():
                        found.append((i, base, err + pre_umi_error, k))
            for i, base, err, rev in found:
                q = min(round(-10 * math.log10(max(err, 1e-300))), 93)
                if q < min_baseq:
                    continue
                allele = 0 if base == sites.ref[i] else 1 if base == sites.alt[i] else 2
                counts[2 * allele + rev, i] += 1
    return counts
