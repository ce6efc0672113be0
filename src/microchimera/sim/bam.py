"""Read-level simulation of one tissue sample: fragments -> coordinate-sorted BAM.

Fragments are drawn chunk by chunk in numpy (which person and haplotype copy, where,
how long), encoded to raw BAM records by :mod:`._kernels`, sorted within the chunk and
streamed through a BGZF writer.  Records whose position may still be preceded by reads of
the next chunk are carried over, so the file is sorted while memory stays bounded by the
chunk size (not by depth or panel size).

Depth
    *Panel mode*: each site receives Poisson(``depth``) (or exactly ``depth``) fragments
    overlapping it, times the relative amount of DNA at that site (a male X has half).
    Fragments of nearby sites add to each other's depth.  *Whole-genome mode*: fragment
    starts are a Poisson process with ``depth / fragment_mean`` starts per bp per diploid
    genome equivalent, so autosomal fragment coverage is ``depth``.

Alignment model (whole-genome mode)
    Reads from PAR1/PAR2 (of chrX or chrY) are placed on chrX or chrY with probability 1/2
    each and MAPQ ``mapq_par``; reads from the XTR land on their own copy with MAPQ
    ``mapq_xtr`` except a fraction ``xtr_mismap_rate`` placed on the other copy.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..io.pedigree import SEX_MALE
from . import _kernels
from ._bgzf import BgzfWriter, bam_header_bytes
from .family import Family
from .genome import X_CONTIG, Y_CONTIG, SyntheticGenome
from .reads import error_matrix
from .scenario import Sample, Sequencing

logger = logging.getLogger(__name__)

#: Target number of fragments per chunk (sets memory use: ~0.2 GB of records).
CHUNK_FRAGMENTS = 200_000
REGION_CLASSES = ("autosome", "chrX", "chrY", "par", "xtr")
_AUTOSOME, _CHRX, _CHRY, _PAR, _XTR = range(5)


@dataclass
class SampleReads:
    """What was written for one sample (counts of unique fragments, duplicates excluded)."""

    fragments: np.ndarray      # int64 (n_people, n_region_classes)
    duplicates: int
    reads: int


@dataclass(frozen=True)
class _Segment:
    start: int
    end: int
    rows: np.ndarray           # int32 haplotype copy rows (2 * person + copy)
    rate: np.ndarray           # float64 fragment starts per bp per copy
    src_base: np.ndarray       # int64 genome offset of placed position 0 for each copy
    mapq: int
    region: int


def quality_model(seq: Sequencing):
    """Quality bins and per-bin error thresholds for the read kernel.

    Each base draws a quality bin with ``quality_weights``; the error probability of a
    true base ``b`` in bin ``q`` is ``min(1, rate_b * w_q)`` with
    ``w_q = 10^(-Q/10) / E[10^(-Q/10)]``, so errors concentrate at low qualities while the
    overall rate per class stays ``error_rates`` (up to the cap at 1).
    """
    e = error_matrix(seq.error_rates())
    qv = np.asarray(seq.quality_values, dtype=np.uint8)
    qw = np.asarray(seq.quality_weights, dtype=np.float64)
    qw = qw / qw.sum()
    phred = 10.0 ** (-qv.astype(np.float64) / 10.0)
    w = phred / float((qw * phred).sum())
    cum = np.cumsum(qw)[:-1]
    qual_thr = np.minimum(np.round(cum * 2.0 ** 32), 2.0 ** 32).astype(np.uint64)
    total = e.sum(axis=1)                                        # (4,)
    p_err = np.minimum(1.0, w[:, None] * total[None, :])         # (n_bins, 4)
    err_thr = np.zeros((len(qv), 5), dtype=np.uint64)
    err_thr[:, :4] = np.minimum(np.round(p_err * 2.0 ** 32), 2.0 ** 32 - 1).astype(np.uint64)
    sub_tgt = np.zeros((4, 3), dtype=np.uint8)
    sub_cum = np.ones((4, 3), dtype=np.float64)
    for b in range(4):
        targets = [t for t in range(4) if t != b]
        sub_tgt[b] = targets
        if total[b] > 0:
            sub_cum[b] = np.cumsum(e[b, targets]) / total[b]
    return qv, qual_thr, err_thr, sub_cum, sub_tgt


def person_weights(sample: Sample, ids) -> np.ndarray:
    """Share of genome equivalents per person, float64 (n_people,): host 1 - sum f."""
    w = np.zeros(len(ids))
    for d, f in sample.donors:
        w[ids.index(d)] = f
    w[ids.index(sample.host)] = 1.0 - sum(f for _, f in sample.donors)
    return w


def _copies(family: Family, kind: str):
    """Haplotype copy rows carrying an autosome / X / Y (int32)."""
    male = family.pedigree.sex == SEX_MALE
    n = family.n_people
    rows = []
    for p in range(n):
        if kind == "A":
            rows += [2 * p, 2 * p + 1]
        elif kind == "X":
            rows += [2 * p + 1] if male[p] else [2 * p, 2 * p + 1]
        elif male[p]:
            rows.append(2 * p)
    return np.asarray(rows, dtype=np.int32)


def _wg_segments(genome: SyntheticGenome, family: Family, weights, seq: Sequencing) -> dict:
    """Per placed contig: the segments, their source copies and fragment start rates."""
    per_bp = seq.depth / seq.fragment_mean / 2.0   # starts per bp per haplotype copy (weight 1)
    off = {c: int(genome.offsets[i]) for i, c in enumerate(genome.contigs)}
    lx = int(genome.lengths[genome.contig_index(X_CONTIG)])
    ly = int(genome.lengths[genome.contig_index(Y_CONTIG)])
    xr, yr = genome.regions["xtr_x"], genome.regions["xtr_y"]
    p1 = genome.regions["par1"][0][2]
    p2 = lx - genome.regions["par2"][0][1]
    cx, cy, ca = _copies(family, "X"), _copies(family, "Y"), _copies(family, "A")
    wx, wy, wa = weights[cx // 2] * per_bp, weights[cy // 2] * per_bp, weights[ca // 2] * per_bp

    def seg(start, end, parts, mapq, region):
        rows = np.concatenate([p[0] for p in parts]).astype(np.int32)
        rate = np.concatenate([p[1] for p in parts])
        base = np.concatenate([np.full(len(p[0]), p[2], dtype=np.int64) for p in parts])
        keep = rate > 0
        return _Segment(start, end, rows[keep], rate[keep], base[keep], mapq, region)

    m = seq.xtr_mismap_rate
    out = {}
    for i, c in enumerate(genome.contigs):
        L = int(genome.lengths[i])
        if c not in (X_CONTIG, Y_CONTIG):
            out[c] = [seg(0, L, [(ca, wa, off[c])], seq.mapq, _AUTOSOME)]
    x_shift_y = off[Y_CONTIG] + ly - lx   # PAR2 of chrY seen from chrX coordinates
    out[X_CONTIG] = [
        seg(0, p1, [(cx, wx / 2, off[X_CONTIG]), (cy, wy / 2, off[Y_CONTIG])], seq.mapq_par, _PAR),
        seg(p1, xr[1], [(cx, wx, off[X_CONTIG])], seq.mapq, _CHRX),
        seg(xr[1], xr[2], [(cx, wx * (1 - m), off[X_CONTIG]),
                           (cy, wy * m, off[Y_CONTIG] + yr[1] - xr[1])], seq.mapq_xtr, _XTR),
        seg(xr[2], lx - p2, [(cx, wx, off[X_CONTIG])], seq.mapq, _CHRX),
        seg(lx - p2, lx, [(cx, wx / 2, off[X_CONTIG]), (cy, wy / 2, x_shift_y)], seq.mapq_par, _PAR),
    ]
    out[Y_CONTIG] = [
        seg(0, p1, [(cx, wx / 2, off[X_CONTIG]), (cy, wy / 2, off[Y_CONTIG])], seq.mapq_par, _PAR),
        seg(p1, yr[1], [(cy, wy, off[Y_CONTIG])], seq.mapq, _CHRY),
        seg(yr[1], yr[2], [(cy, wy * (1 - m), off[Y_CONTIG]),
                           (cx, wx * m, off[X_CONTIG] + xr[1] - yr[1])], seq.mapq_xtr, _XTR),
        *_y_specific_segments(seg, yr[2], ly - p2, genome.regions["ampliconic"], (cy, wy, off[Y_CONTIG]), seq),
        seg(ly - p2, ly, [(cx, wx / 2, off[X_CONTIG] + lx - ly), (cy, wy / 2, off[Y_CONTIG])],
            seq.mapq_par, _PAR),
    ]
    return out


def _y_specific_segments(seg, start, end, ampliconic, part, seq: Sequencing) -> list:
    """Male-specific chrY from ``start`` to ``end``, with the palindrome arms at ``mapq_ampliconic``.

    Fragments from an arm are placed at their true position; a real aligner cannot tell the
    arms apart, hence the MAPQ (0 by default).
    """
    out, pos = [], start
    for _, a0, a1 in ampliconic:
        out.append(seg(pos, a0, [part], seq.mapq, _CHRY))
        out.append(seg(a0, a1, [part], seq.mapq_ampliconic, _CHRY))
        pos = a1
    out.append(seg(pos, end, [part], seq.mapq, _CHRY))
    return out


def _fragment_lengths(n, seq: Sequencing, rng) -> np.ndarray:
    ln = np.rint(rng.normal(seq.fragment_mean, seq.fragment_sd, size=n))
    return np.clip(ln, seq.fragment_min, seq.fragment_max).astype(np.int32)


def _panel_chunks(genome: SyntheticGenome, family: Family, weights, seq: Sequencing, depth, rng):
    """Yield fragment chunks of panel mode: (arrays, regions, bound_key)."""
    sites = genome.sites
    ca, cx = _copies(family, "A"), _copies(family, "X")
    wa, wx = weights[ca // 2], weights[cx // 2]
    classes = {"A": (ca, wa / wa.sum() if wa.sum() > 0 else wa, wa.sum() / 2.0),
               "X": (cx, wx / wx.sum() if wx.sum() > 0 else wx, wx.sum() / 2.0)}
    step = max(1, int(CHUNK_FRAGMENTS // max(depth, 1.0)))
    if genome.amplicons is not None:
        yield from _amplicon_chunks(genome, seq, depth, classes["A"], step, rng)
        return
    bounds = np.searchsorted(sites.contig_id, np.arange(len(sites.contigs) + 1))
    for cid, name in enumerate(sites.contigs):
        lo, hi = int(bounds[cid]), int(bounds[cid + 1])
        tid = genome.contig_index(name)
        kind = "X" if name == X_CONTIG else "A"
        rows, probs, dna = classes[kind]
        for s0 in range(lo, hi, step):
            s1 = min(hi, s0 + step)
            mean = depth * dna
            if seq.depth_model == "poisson":
                n_per = rng.poisson(mean, size=s1 - s0)
            else:
                n_per = np.full(s1 - s0, int(round(mean)), dtype=np.int64)
            n = int(n_per.sum())
            site_pos = np.repeat(sites.pos[s0:s1], n_per)
            length = _fragment_lengths(n, seq, rng)
            start = site_pos - (rng.random(n) * length).astype(np.int64)
            copy = rows[rng.choice(len(rows), size=n, p=probs)] if n else np.zeros(0, np.int32)
            bound = sites.pos[s1] - seq.fragment_max if s1 < hi else np.int64(1) << 35
            frags = dict(tid=np.full(n, tid, np.int32), pos=start.astype(np.int64), length=length,
                         src=genome.offsets[tid] + start, copy=copy.astype(np.int32),
                         mapq=np.full(n, seq.mapq, np.uint8))
            region = np.full(n, _CHRX if kind == "X" else _AUTOSOME, np.int8)
            yield frags, region, (np.int64(tid) << 36) + int(max(bound, 0))


def _amplicon_chunks(genome: SyntheticGenome, seq: Sequencing, depth, autosomal, step, rng):
    """Fragments of an amplicon panel: Poisson(``depth``) (or exactly ``depth``) molecules per
    amplicon, each the whole amplicon (start and length fixed, as PCR makes them), from a copy
    drawn by the people's weights.  Autosomal amplicons only."""
    rows, probs, dna = autosomal
    amps = genome.amplicons
    for a0 in range(0, len(amps), step):
        a1 = min(len(amps), a0 + step)
        chunk = amps[a0:a1]
        if seq.depth_model == "poisson":
            n_per = rng.poisson(depth * dna, size=len(chunk))
        else:
            n_per = np.full(len(chunk), int(round(depth * dna)), dtype=np.int64)
        n = int(n_per.sum())
        tid = np.repeat(chunk[:, 0], n_per).astype(np.int32)
        start = np.repeat(chunk[:, 1], n_per).astype(np.int64)
        length = np.repeat(chunk[:, 2], n_per).astype(np.int32)
        copy = rows[rng.choice(len(rows), size=n, p=probs)] if n else np.zeros(0, np.int32)
        frags = dict(tid=tid, pos=start, length=length, src=genome.offsets[tid] + start, copy=copy.astype(np.int32),
                     mapq=np.full(n, seq.mapq, np.uint8))
        region = np.full(n, _AUTOSOME, np.int8)
        # no later fragment starts before the next amplicon (sorted by contig, then start)
        bound = (np.int64(amps[a1, 0]) << 36) + int(amps[a1, 1]) if a1 < len(amps) else np.int64(1) << 62
        yield frags, region, bound


def _wg_chunks(genome: SyntheticGenome, family: Family, weights, seq: Sequencing, rng):
    """Yield fragment chunks of whole-genome mode."""
    segments = _wg_segments(genome, family, weights, seq)
    for tid, name in enumerate(genome.contigs):
        L = int(genome.lengths[tid])
        segs = segments[name]
        max_rate = max((float(s.rate.sum()) for s in segs), default=0.0)
        window = int(max(10_000, CHUNK_FRAGMENTS / max(max_rate, 1e-9)))
        for a in range(0, L, window):
            b = min(L, a + window)
            parts = []
            for s in segs:
                lo, hi = max(a, s.start), min(b, s.end)
                if hi <= lo or len(s.rows) == 0:
                    continue
                total = float(s.rate.sum())
                n = int(rng.poisson(total * (hi - lo)))
                start = np.sort(rng.integers(lo, hi, size=n)).astype(np.int64)
                k = rng.choice(len(s.rows), size=n, p=s.rate / total)
                parts.append((start, s.rows[k], s.src_base[k] + start, s.mapq, s.region))
            if parts:
                start = np.concatenate([p[0] for p in parts])
                n = len(start)
                length = _fragment_lengths(n, seq, rng)
                keep = start + length <= L
                frags = dict(tid=np.full(n, tid, np.int32), pos=start, length=length,
                             src=np.concatenate([p[2] for p in parts]),
                             copy=np.concatenate([p[1] for p in parts]).astype(np.int32),
                             mapq=np.concatenate([np.full(len(p[0]), p[3], np.uint8) for p in parts]))
                region = np.concatenate([np.full(len(p[0]), p[4], np.int8) for p in parts])
                frags = {k: v[keep] for k, v in frags.items()}
                region = region[keep]
            else:
                frags = dict(tid=np.zeros(0, np.int32), pos=np.zeros(0, np.int64), length=np.zeros(0, np.int32),
                             src=np.zeros(0, np.int64), copy=np.zeros(0, np.int32), mapq=np.zeros(0, np.uint8))
                region = np.zeros(0, np.int8)
            bound = (np.int64(tid) << 36) + b if b < L else (np.int64(tid + 1) << 36)
            yield frags, region, bound


def umi_family_sizes(seq: Sequencing, n: int, rng: np.random.Generator) -> np.ndarray:
    """Reads of each molecule's strand families, int32 (n, 2): negative binomial with mean
    ``seq.umi_family_mean`` and shape ``seq.umi_family_shape`` (PCR and sampling make family
    sizes over-dispersed); 0 is a strand never sequenced.  Column 1 (strand B) only for
    duplex libraries."""
    k, mean = seq.umi_family_shape, seq.umi_family_mean
    fam = rng.negative_binomial(k, k / (k + mean), size=(n, 2)).astype(np.int32)
    if not seq.umi_duplex:
        fam[:, 1] = 0
    return fam


def header_text(genome: SyntheticGenome, sample: Sample, command: str = "") -> str:
    lines = ["@HD\tVN:1.6\tSO:coordinate"]
    lines += [f"@SQ\tSN:{c}\tLN:{int(n)}" for c, n in zip(genome.contigs, genome.lengths, strict=True)]
    lines.append(f"@RG\tID:{sample.name}\tSM:{sample.name}\tPL:ILLUMINA\tLB:{sample.name}-lib1")
    lines.append(f"@PG\tID:microchimera-simulate\tPN:microchimera\tCL:{command or 'microchimera.sim.simulate'}")
    return "\n".join(lines) + "\n"


def write_sample_bam(path, genome: SyntheticGenome, family: Family, sample: Sample, seq: Sequencing,
                     rng: np.random.Generator, *, sample_index: int = 0, threads: int = 2,
                     progress=None, error_profile=None) -> SampleReads:
    """Simulate the reads of ``sample`` and write them as a coordinate-sorted BAM (no index).

    Parameters
    ----------
    path : path-like
        Output BAM.
    rng : numpy.random.Generator
        Drives every draw; kernel streams are seeded from it, one seed per chunk.
    threads : int
        BGZF compression threads.
    progress : callable, optional
        Called with the number of fragments after each chunk.
    error_profile : ErrorProfile, optional
        The panel's per-site error (:func:`~microchimera.sim.panel_error_profile` over
        ``genome.sites``): at a site, a read base's error comes from it, per read strand,
        whatever the base's quality; elsewhere the quality model's class rates.

    Returns
    -------
    SampleReads
    """
    ids = family.ids
    weights = person_weights(sample, list(ids))
    depth = sample.depth if sample.depth is not None else seq.depth
    qv, qual_thr, err_thr, sub_cum, sub_tgt = quality_model(seq)
    site_gpos = genome.site_global_pos()
    haps = family.haplotypes.reshape(-1, family.n_sites)
    site_alleles = np.where(haps == 1, genome.sites.alt[None, :], genome.sites.ref[None, :]).astype(np.uint8)
    rg_tag = np.frombuffer(b"RGZ" + sample.name.encode() + b"\0", dtype=np.uint8)
    sp = [b"spZ" + pid.encode() + b"\0" for pid in ids]
    sp_tags = np.frombuffer(b"".join(sp), dtype=np.uint8)
    sp_off = np.concatenate([[0], np.cumsum([len(s) for s in sp])]).astype(np.int64)
    prefix = np.frombuffer(f"s{sample_index}.".encode(), dtype=np.uint8)
    rl = seq.read_length
    rec_bound = (36 + len(prefix) + 21 + 4 * _kernels.MAX_OPS + (rl + 1) // 2 + rl + len(rg_tag)
                 + int(max(len(s) for s in sp)) + 4 + 6 * _kernels.MAX_OPS + 2 * seq.umi_length + 5 + 40)
    dup_mean = seq.duplicate_rate / (1.0 - seq.duplicate_rate)
    library = seq.umi_family_mean > 0
    n_molecules = 0
    if error_profile is not None:
        if error_profile.n_sites != genome.sites.n_sites:
            raise ValueError(f"error profile of {error_profile.n_sites} sites for a panel of {genome.sites.n_sites}")
        prof_rate = np.ascontiguousarray(error_profile.rate, dtype=np.float64)
        prof_other = np.minimum(error_profile.other_scale * 2.0 * seq.error_rate / 3.0, 0.45)
    else:
        prof_rate, prof_other = np.zeros((0, 2, 2)), np.zeros(0)

    if seq.whole_genome:
        chunks = _wg_chunks(genome, family, weights, seq, rng)
    else:
        chunks = _panel_chunks(genome, family, weights, seq, depth, rng)
    counts = np.zeros((family.n_people, len(REGION_CLASSES)), dtype=np.int64)
    n_dup = n_reads = 0
    name_id = 0
    carry_buf = np.zeros(0, np.uint8)
    carry_off = np.zeros(0, np.int64)
    carry_len = np.zeros(0, np.int64)
    carry_key = np.zeros(0, np.int64)
    contigs = list(zip(genome.contigs, (int(x) for x in genome.lengths), strict=True))
    with open(path, "wb") as fh:
        writer = BgzfWriter(fh, threads=threads)
        try:
            writer.write(bam_header_bytes(header_text(genome, sample), contigs))
            for frags, region, bound in chunks:
                n = len(frags["pos"])
                order = np.argsort(frags["pos"], kind="stable")
                frags = {k: v[order] for k, v in frags.items()}
                region = region[order]
                ndup = (rng.poisson(dup_mean, size=n) if dup_mean > 0 else np.zeros(n)).astype(np.int32)
                np.add.at(counts, (frags["copy"] // 2, region), 1)
                if library:
                    fam = umi_family_sizes(seq, n, rng)
                    n_dup += int(np.maximum(fam.sum(axis=1) - 1, 0).sum())
                    n_rec = 2 * int(fam.sum())
                else:
                    fam = np.zeros((0, 2), np.int32)
                    n_dup += int(ndup.sum())
                    n_rec = 2 * (n + int(ndup.sum()))
                out = np.empty(max(1, n_rec) * rec_bound, dtype=np.uint8)
                rec_off = np.empty(n_rec, np.int64)
                rec_key = np.empty(n_rec, np.int64)
                # NOTE: the kernel's random stream is seeded with an integer drawn from rng.
                seed = int(rng.integers(0, 2**63 - 1))
                nrec, nbytes, name_id = _kernels.encode_fragments(
                    genome.sequence, site_gpos, site_alleles,
                    frags["tid"], frags["pos"], frags["length"], frags["src"], frags["copy"],
                    frags["mapq"], ndup, rl, seq.indel_rate, seq.soft_clip_rate, seq.umi_length,
                    qv, qual_thr, err_thr, sub_cum, sub_tgt, prefix, name_id, rg_tag, sp_tags, sp_off,
                    seed, out, rec_off, rec_key, genome.sites.ref, genome.sites.alt, prof_rate, prof_other,
                    fam, seq.umi_duplex, seq.pcr_error_rate, seq.pcr_cycles, seq.damage_rate, seq.umi_error_rate,
                    seq.umi_mi, n_molecules)
                n_molecules += n
                n_reads += nrec
                rec_len = np.diff(np.append(rec_off, nbytes))
                all_buf = np.concatenate([carry_buf, out[:nbytes]])
                all_off = np.concatenate([carry_off, rec_off + len(carry_buf)])
                all_len = np.concatenate([carry_len, rec_len])
                all_key = np.concatenate([carry_key, rec_key])
                del out
                order = np.argsort(all_key, kind="stable")
                sorted_key = all_key[order]
                cut = int(np.searchsorted(sorted_key, bound, side="left"))
                sorted_buf = np.empty(len(all_buf), np.uint8)
                _kernels.gather_records(all_buf, all_off, all_len, order, sorted_buf)
                sorted_len = all_len[order]
                cut_bytes = int(sorted_len[:cut].sum())
                writer.write(sorted_buf[:cut_bytes])
                carry_buf = sorted_buf[cut_bytes:].copy()
                carry_len = sorted_len[cut:]
                carry_off = (np.cumsum(carry_len) - carry_len).astype(np.int64)
                carry_key = sorted_key[cut:]
                if progress is not None:
                    progress(n)
            writer.write(carry_buf)
        finally:
            writer.close()
    return SampleReads(counts, n_dup, n_reads)
