"""Test helper: a tiny genome with X/Y shared sequence, simulated mixtures, real alignment (mappy).

Stand-in until :mod:`microchimera.sim` has its whole-genome FASTQ mode (see the ychrom report).
The genome has everything that makes Y counting hard:

* ``chr1``..``chr4``: random autosomes.
* ``chrX``: ``[PAR1][X unique][X-transposed source][X gametolog of Y][X unique]``.
* ``chrY``: ``[PAR1, identical to X][XTR, 1% diverged from X][X-degenerate, 10% diverged from
  the X gametolog][Y unique][ampliconic: two identical copies][tail]``.

Only ``[X-degenerate][Y unique]`` is male-specific (:data:`Y_MALE_SPECIFIC`).  Reads are 2x100 bp
from ~300 bp fragments with 0.2% substitution errors, mapped with minimap2's short-read preset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
COMP = bytes.maketrans(b"ACGTN", b"TGCAN")

AUTOSOME_LEN = 400_000
N_AUTOSOMES = 4
PAR_LEN = 60_000
XTR_LEN = 100_000
XDEG_LEN = 100_000
YUNIQUE_LEN = 200_000
AMPLICON_LEN = 30_000
TAIL_LEN = 20_000
#: chrY layout offsets (0-based half-open)
Y_PAR = (0, PAR_LEN)
Y_XTR = (PAR_LEN, PAR_LEN + XTR_LEN)
Y_MALE_SPECIFIC = (Y_XTR[1], Y_XTR[1] + XDEG_LEN + YUNIQUE_LEN)
READ_LEN = 100


def _random_seq(n, rng):
    return BASES[rng.integers(0, 4, n)].copy()


def _mutate(seq, rate, rng):  # genome construction only
    out = seq.copy()
    hit = rng.random(seq.size) < rate
    # a substitution always changes the base: shift by 1..3
    codes = np.searchsorted(BASES, out[hit])
    out[hit] = BASES[(codes + rng.integers(1, 4, hit.sum())) % 4]
    return out


def make_genome(rng):
    """Return ``{contig: uint8 array}``."""
    g = {f"chr{i}": _random_seq(AUTOSOME_LEN, rng) for i in range(1, N_AUTOSOMES + 1)}
    par = _random_seq(PAR_LEN, rng)
    x_unique1 = _random_seq(140_000, rng)
    xtr_src = _random_seq(XTR_LEN, rng)
    x_gametolog = _random_seq(XDEG_LEN, rng)
    x_unique2 = _random_seq(100_000, rng)
    g["chrX"] = np.concatenate([par, x_unique1, xtr_src, x_gametolog, x_unique2])
    amplicon = _random_seq(AMPLICON_LEN, rng)
    g["chrY"] = np.concatenate([
        par,
        _mutate(xtr_src, 0.01, rng),
        _mutate(x_gametolog, 0.10, rng),
        _random_seq(YUNIQUE_LEN, rng),
        amplicon,
        amplicon[::-1].copy(),  # palindrome arm (reverse, not complement: still a repeat)
        _random_seq(TAIL_LEN, rng),
    ])
    return g


def write_fasta(genome, path):
    with open(path, "w") as fh:
        for name, seq in genome.items():
            fh.write(f">{name}\n")
            s = seq.tobytes().decode()
            for i in range(0, len(s), 80):
                fh.write(s[i:i + 80] + "\n")
    pysam.faidx(str(path))


_COMP_CODE = np.zeros(256, dtype=np.uint8)
for _a, _b in zip(b"ACGT", b"TGCA", strict=True):
    _COMP_CODE[_a] = _b


def simulate_pairs(genome, male_fraction, rng, *, depth_per_copy=6.0, error=0.002):
    """Fragments from a female host (2 autosome + 2 X copies) and a male donor at ``male_fraction``.

    Returns a list of ``(name, read1, read2)`` str triples (read2 reverse-complemented).
    """
    copies_female = {c: 2 for c in genome if c != "chrY"}
    copies_male = {c: 2 for c in genome if c not in ("chrX", "chrY")} | {"chrX": 1, "chrY": 1}
    out = []
    offs = np.arange(READ_LEN)
    for source, weight, copies in (("h", 1.0 - male_fraction, copies_female), ("d", male_fraction, copies_male)):
        for contig, n_copies in copies.items():
            seq = genome[contig]
            n = rng.poisson(weight * n_copies * depth_per_copy * seq.size / (2 * READ_LEN))
            if n == 0:
                continue
            flen = np.clip(rng.normal(300, 30, n).astype(np.int64), 2 * READ_LEN, 500)
            start = rng.integers(0, seq.size - flen)
            r1 = seq[start[:, None] + offs]
            r2 = _COMP_CODE[seq[(start + flen - 1)[:, None] - offs]]
            for r in (r1, r2):
                hit = rng.random(r.shape) < error
                codes = np.searchsorted(BASES, r[hit])
                r[hit] = BASES[(codes + rng.integers(1, 4, hit.sum())) % 4]
            swap = rng.random(n) < 0.5
            r1[swap], r2[swap] = r2[swap], r1[swap].copy()
            b1, b2 = r1.tobytes().decode(), r2.tobytes().decode()
            for i in range(n):
                j = i * READ_LEN
                out.append((f"{source}{contig}_{i}", b1[j:j + READ_LEN], b2[j:j + READ_LEN]))
    return out


def _sam_line(name, seq, hit, read_num, mate, proper, sample):
    flag = 0x1 | (0x40 if read_num == 1 else 0x80)
    if mate is None:
        flag |= 0x8
        rnext, pnext = "*", 0
    else:
        flag |= 0x20 if mate.strand < 0 else 0
        flag |= 0x2 if proper else 0
        rnext, pnext = mate.ctg, mate.r_st + 1
    if hit is None:
        flag |= 0x4
        rname, pos = (rnext, pnext) if mate is not None else ("*", 0)
        return f"{name}\t{flag}\t{rname}\t{pos}\t0\t*\t{'=' if rname != '*' else '*'}\t{pnext}\t0\t{seq}\t*\tRG:Z:{sample}\n"
    if hit.strand < 0:
        flag |= 0x10
        seq = seq.translate(COMP)[::-1]
        left, right = len(seq) - hit.q_en, hit.q_st
    else:
        left, right = hit.q_st, len(seq) - hit.q_en
    cigar = (f"{left}S" if left else "") + hit.cigar_str + (f"{right}S" if right else "")
    rn = "=" if rnext == hit.ctg else rnext
    return f"{name}\t{flag}\t{hit.ctg}\t{hit.r_st + 1}\t{hit.mapq}\t{cigar}\t{rn}\t{pnext}\t0\t{seq}\t*\tRG:Z:{sample}\n"


def align_to_bam(aligner, fasta, pairs, bam_path, sample):
    """Map pairs with mappy and write a coordinate-sorted, indexed BAM (via SAM text)."""
    fa = pysam.FastaFile(str(fasta))
    lines = ["@HD\tVN:1.6\tSO:unsorted\n"]
    lines += [f"@SQ\tSN:{n}\tLN:{ln}\n" for n, ln in zip(fa.references, fa.lengths, strict=True)]
    lines.append(f"@RG\tID:{sample}\tSM:{sample}\n")
    fa.close()
    for name, s1, s2 in pairs:
        h1 = h2 = None
        for h in aligner.map(s1, s2):
            if not h.is_primary:
                continue
            if h.read_num == 1 and h1 is None:
                h1 = h
            elif h.read_num == 2 and h2 is None:
                h2 = h
        proper = h1 is not None and h2 is not None and h1.ctg == h2.ctg
        lines.append(_sam_line(name, s1, h1, 1, h2, proper, sample))
        lines.append(_sam_line(name, s2, h2, 2, h1, proper, sample))
    sam = Path(str(bam_path) + ".sam")
    sam.write_text("".join(lines))
    pysam.sort("-o", str(bam_path), str(sam))
    sam.unlink()
    pysam.index(str(bam_path))
    return Path(bam_path)


def write_regions(path, contig="chrY", span=Y_MALE_SPECIFIC):
    Path(path).write_text(f"# male-specific Y of the test genome\n{contig}\t{span[0]}\t{span[1]}\tmale_specific\n")
    return Path(path)


def build_dataset(outdir, seed, fractions: dict, depth_per_copy=6.0):
    """Genome + one BAM per ``{sample_name: male_fraction}``; returns ``(fasta, {name: bam})``."""
    import mappy

    outdir = Path(outdir)
    rng = np.random.default_rng(seed)
    genome = make_genome(rng)
    fasta = outdir / "genome.fa"
    write_fasta(genome, fasta)
    aligner = mappy.Aligner(str(fasta), preset="sr")
    bams = {}
    for name, f in fractions.items():
        pairs = simulate_pairs(genome, f, rng, depth_per_copy=depth_per_copy)
        bams[name] = align_to_bam(aligner, fasta, pairs, outdir / f"{name}.bam", name)
    return fasta, bams
