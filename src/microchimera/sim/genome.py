"""The synthetic reference genome and the SNP panel on it.

Layout: autosomes ``chr1..chrN`` (random sequence), ``chrX`` and ``chrY``.  PAR1 is the
first ``par1_length`` bp and PAR2 the last ``par2_length`` bp of both chrX and chrY, with
identical sequence.  An X-transposed region (XTR) of ``xtr_length`` bp sits in the middle
of chrX and as a copy with ``xtr_identity`` identity (substitutions) at a third of chrY.
With ``ampliconic_length`` > 0, a palindrome (two arms, the second the reverse complement of
the first) sits in the middle of the male-specific stretch after the XTR.  Everything else on
chrY is male-specific (``ychrom_regions.bed``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import BASES
from ..io.sites import SiteTable
from .scenario import Genome, Panel, Scenario

X_CONTIG, Y_CONTIG = "chrX", "chrY"


@dataclass(frozen=True)
class SyntheticGenome:
    """Reference sequence of every contig and the SNP panel.

    Attributes
    ----------
    contigs : tuple of str
    lengths : ndarray, int64, shape (n_contigs,)
    offsets : ndarray, int64, shape (n_contigs + 1,)
        Start of each contig in ``sequence`` (genome-global coordinates).
    sequence : ndarray, uint8, shape (genome_length,)
        Base codes 0..3 (ACGT) of all contigs, concatenated.
    sites : SiteTable
        The SNP panel (alt bases and AF set).
    markers : ndarray, int64, shape (n_sites,), optional
        With ``panel.population``: the built-in panel marker each site copies (its pooled AF
        and ancestry loadings); -1 on chrX.
    regions : dict
        ``{"par1": ..., "par2": ..., "xtr_x": ..., "xtr_y": ..., "ampliconic": [...], "msy": [...]}`` as 0-based
        half-open ``(contig, start, end)`` tuples.
    amplicons : ndarray, int64, shape (n_amplicons, 3), optional
        An amplicon panel (``panel.snps_per_amplicon`` > 0): per amplicon the contig index
        (into ``contigs``), the 0-based start and the length; every fragment of panel mode is
        then one whole amplicon.  Sorted by contig and start; each site lies in one.
    """

    contigs: tuple
    lengths: np.ndarray
    offsets: np.ndarray
    sequence: np.ndarray
    sites: SiteTable
    regions: dict
    markers: np.ndarray | None = None
    amplicons: np.ndarray | None = None

    def contig_index(self, name: str) -> int:
        return self.contigs.index(name)

    def site_global_pos(self) -> np.ndarray:
        """Genome-global offset of every site, int64 (n_sites,), sorted."""
        cid = np.array([self.contig_index(c) for c in self.sites.contigs], dtype=np.int64)
        return self.offsets[cid[self.sites.contig_id]] + self.sites.pos


def _random_bases(n: int, gc: float, rng) -> np.ndarray:
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return rng.choice(4, size=n, p=p).astype(np.uint8)


def _site_positions(n: int, length: int | None, spacing: float, model: str, margin: int, rng):
    """Sorted distinct positions of n sites, at least ``margin`` bp from both contig ends."""
    if length is None:
        if model == "fixed":
            gaps = np.full(n, int(round(spacing)), dtype=np.int64)
        else:
            gaps = 1 + np.floor(rng.exponential(spacing - 1, size=n)).astype(np.int64)
        pos = margin + np.cumsum(gaps) - gaps[0]
        return pos, int(pos[-1] + margin + 1) if n else 2 * margin
    usable = length - 2 * margin
    if usable < n:
        raise ValueError(f"contig of {length} bp cannot hold {n} sites with {margin} bp margins")
    pos = np.sort(rng.choice(usable, size=n, replace=False)).astype(np.int64) + margin
    return pos, length


def _amplicon_positions(n: int, panel: Panel, margin: int, rng):
    """Sites of an amplicon panel on one contig: ``ceil(n / k)`` amplicons of uniform length
    in ``[amplicon_min, amplicon_max]`` with starts ``spacing`` bp apart on average (never
    overlapping), ``k = snps_per_amplicon`` distinct SNP positions inside each at least 10 bp
    from its ends (the last amplicon takes what is left).  Returns (site positions, contig
    length, amplicons as (start, length) rows)."""
    k = panel.snps_per_amplicon
    n_amp = -(-n // k)
    if n_amp == 0:  # an autosome left without sites (fewer sites than autosomes)
        return np.zeros(0, np.int64), 2 * margin, np.zeros((0, 2), np.int64)
    length = rng.integers(panel.amplicon_min, panel.amplicon_max + 1, size=n_amp).astype(np.int64)
    gap = np.maximum(1 + np.floor(rng.exponential(max(panel.spacing - 1, 1), size=n_amp)).astype(np.int64),
                     panel.amplicon_max + 1)
    start = margin + np.cumsum(gap) - gap[0]
    pos = []
    for i in range(n_amp):
        m = min(k, n - i * k)
        inner = rng.choice(int(length[i]) - 20, size=m, replace=False) + 10
        pos.append(start[i] + np.sort(inner))
    contig_length = int(start[-1] + panel.amplicon_max + margin + 1)
    return np.concatenate(pos), contig_length, np.stack([start, length], axis=1)


def _allele_frequencies(panel: Panel, n: int, rng) -> np.ndarray:
    if panel.af_distribution == "beta":
        af = rng.beta(panel.af_beta_a, panel.af_beta_b, size=n)
        return np.clip(af, panel.af_min, panel.af_max)
    return rng.uniform(panel.af_min, panel.af_max, size=n)


def build_genome(scenario: Scenario, rng: np.random.Generator) -> SyntheticGenome:
    """Draw the reference sequence and SNP panel of ``scenario``.

    Sites sit on autosomes (``panel.n_sites``, split evenly) and optionally on the
    X-specific part of chrX (``panel.n_sites_x``).  Alt alleles are transitions with
    probability 2/3.  Margins of ``fragment_max + 100`` bp keep every fragment inside its
    contig.
    """
    g: Genome = scenario.genome
    panel = scenario.panel
    margin = scenario.sequencing.fragment_max + 100
    names, seqs, site_recs, amplicons = [], [], [], []
    per = np.full(g.n_autosomes, panel.n_sites // g.n_autosomes)
    per[: panel.n_sites % g.n_autosomes] += 1
    for a in range(g.n_autosomes):
        name = f"chr{a + 1}"
        if panel.snps_per_amplicon:
            pos, length, amps = _amplicon_positions(int(per[a]), panel, margin, rng)
            if g.autosome_length is not None and length > g.autosome_length:
                raise ValueError(f"an autosome of {g.autosome_length} bp cannot hold {len(amps)} amplicons "
                                 f"{panel.spacing:g} bp apart")
            length = g.autosome_length or length
            amplicons.append(np.column_stack([np.full(len(amps), a, np.int64), amps]))
        else:
            pos, length = _site_positions(int(per[a]), g.autosome_length, panel.spacing, panel.spacing_model,
                                          margin, rng)
        names.append(name)
        seqs.append(_random_bases(length, g.gc, rng))
        site_recs.append((name, pos))
    lx, ly = g.chrx_length, g.chry_length
    x = _random_bases(lx, g.gc, rng)
    y = _random_bases(ly, g.gc, rng)
    y[: g.par1_length] = x[: g.par1_length]
    if g.par2_length:
        y[ly - g.par2_length:] = x[lx - g.par2_length:]
    xtr_x0 = (lx - g.xtr_length) // 2
    xtr_y0 = g.par1_length + (ly - g.par1_length - g.par2_length - g.xtr_length) // 3
    xtr = x[xtr_x0: xtr_x0 + g.xtr_length].copy()
    diff = rng.random(g.xtr_length) >= g.xtr_identity
    xtr[diff] = (xtr[diff] + rng.integers(1, 4, size=int(diff.sum()))) % 4
    y[xtr_y0: xtr_y0 + g.xtr_length] = xtr
    # Ampliconic palindrome: two arms of ampliconic_length bp, the second the reverse complement
    # of the first, centred in the male-specific stretch after the XTR.  Reads from either arm
    # match both equally well, as in the P1-P8 palindromes of the real chrY.  No random draw, so
    # scenarios without a palindrome keep their sequences.
    amp = g.ampliconic_length
    xtr_y1 = xtr_y0 + g.xtr_length
    amp0 = xtr_y1 + (ly - g.par2_length - xtr_y1 - 2 * amp) // 2
    if amp:
        y[amp0 + amp: amp0 + 2 * amp] = 3 - y[amp0: amp0 + amp][::-1]   # codes A0 C1 G2 T3
    names += [X_CONTIG, Y_CONTIG]
    seqs += [x, y]
    if panel.n_sites_x:
        lo, hi = g.par1_length + margin, lx - g.par2_length - margin
        allowed = np.setdiff1d(np.arange(lo, hi), np.arange(xtr_x0 - margin, xtr_x0 + g.xtr_length + margin))
        if len(allowed) < panel.n_sites_x:
            raise ValueError(f"chrX has room for only {len(allowed)} sites outside PAR/XTR")
        site_recs.append((X_CONTIG, np.sort(rng.choice(allowed, size=panel.n_sites_x, replace=False))))
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    sequence = np.concatenate(seqs)

    contig_of = {n: i for i, n in enumerate(names)}
    chrom, pos = [], []
    for name, p in site_recs:
        chrom += [name] * len(p)
        pos.append(p)
    pos = np.concatenate(pos).astype(np.int64)
    gpos = offsets[[contig_of[c] for c in chrom]] + pos
    ref = sequence[gpos]
    transition = rng.random(len(pos)) < 2 / 3
    # codes A0 C1 G2 T3: the transition partner is (r + 2) % 4, transversions (r + 1 or 3) % 4
    transversion = (ref + 1 + 2 * rng.integers(0, 2, size=len(pos))) % 4
    alt = np.where(transition, (ref + 2) % 4, transversion).astype(np.uint8)
    markers = None
    if panel.population:
        # Each autosomal site copies a marker of the built-in panel (drawn without replacement,
        # in genome order): its pooled AF goes in the sites file, its loadings give the family's
        # population AF (microchimera.sim.simulate).
        from ..io.panels import load_builtin

        source = load_builtin(panel.ancestry_panel)
        autosomal = np.array([c != X_CONTIG for c in chrom])
        markers = np.full(len(pos), -1, dtype=np.int64)
        markers[autosomal] = np.sort(rng.choice(source.n_markers, size=int(autosomal.sum()), replace=False))
        af = np.where(autosomal, source.sites.af[np.maximum(markers, 0)], _allele_frequencies(panel, len(pos), rng))
        af = np.clip(af, 1e-3, 1 - 1e-3)
    else:
        af = _allele_frequencies(panel, len(pos), rng)
    used = [n for n in names if n in {c for c, _ in site_recs}]
    cid = np.array([used.index(c) for c in chrom], dtype=np.int32)
    sites = SiteTable(tuple(used), cid, pos, ref.astype(np.uint8), alt, af.astype(np.float64))
    regions = {
        "par1": [(X_CONTIG, 0, g.par1_length), (Y_CONTIG, 0, g.par1_length)],
        "par2": [(X_CONTIG, lx - g.par2_length, lx), (Y_CONTIG, ly - g.par2_length, ly)],
        "xtr_x": (X_CONTIG, xtr_x0, xtr_x0 + g.xtr_length),
        "xtr_y": (Y_CONTIG, xtr_y0, xtr_y0 + g.xtr_length),
        "ampliconic": [(Y_CONTIG, amp0, amp0 + amp), (Y_CONTIG, amp0 + amp, amp0 + 2 * amp)] if amp else [],
        "msy": [(Y_CONTIG, g.par1_length, xtr_y0)] + (
            [(Y_CONTIG, xtr_y1, amp0), (Y_CONTIG, amp0 + 2 * amp, ly - g.par2_length)] if amp
            else [(Y_CONTIG, xtr_y1, ly - g.par2_length)]),
    }
    return SyntheticGenome(tuple(names), lengths, offsets, sequence, sites, regions, markers,
                           np.concatenate(amplicons).astype(np.int64) if amplicons else None)


def fasta_bytes(genome: SyntheticGenome, line: int = 60) -> bytes:
    """The reference as FASTA text (``line`` bases per line)."""
    letters = np.frombuffer(BASES.encode(), dtype=np.uint8)
    parts = []
    for i, name in enumerate(genome.contigs):
        s = letters[genome.sequence[genome.offsets[i]: genome.offsets[i + 1]]]
        n_full = len(s) // line
        body = np.empty((n_full, line + 1), dtype=np.uint8)
        body[:, :line] = s[: n_full * line].reshape(n_full, line)
        body[:, line] = ord("\n")
        parts.append(f">{name}\n".encode() + body.tobytes())
        rest = s[n_full * line:]
        if len(rest):
            parts.append(rest.tobytes() + b"\n")
    return b"".join(parts)
