"""Molecule-level simulation of amplicon panels: microhaplotypes and single ultra-deep amplicons.

Each amplicon yields molecules; a molecule comes from the host (probability ``1 - sum f``)
or from donor ``k`` (``f_k``), from one of that person's two haplotypes (a fair coin), and
shows the haplotype's allele at every SNP of the amplicon, each base misread as one of the
three other bases with probability ``error_rate`` (so REF>ALT is ``error_rate / 3``).  This
is the physics the site model lacks: the SNPs of a molecule are linked, and its errors are
independent.  :func:`simulate_molecules` returns the site counts and the multi-site fragments
table (as ``count --fragments`` writes them), so both evidence models run on the same data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import COUNT_DTYPE
from ..count.fragments import FragmentTable
from ..io.allele_counts import AlleleCounts
from ..io.genotypes import GenotypeMatrix
from ..io.pedigree import Pedigree
from ..io.sites import SiteTable

#: The trio of :func:`trio_sample`: the host ``mom``, her partner ``dad`` (untyped) and their
#: child ``kid`` (typed, the donor).
TRIO = Pedigree.from_records([("F", "mom", None, None, 2), ("F", "dad", None, None, 1),
                              ("F", "kid", "dad", "mom", 1)])


@dataclass(frozen=True)
class AmpliconPanel:
    """SNP sites grouped into amplicons.

    Attributes
    ----------
    sites : SiteTable
        Every SNP, sorted; ``af`` holds the population alt allele frequency.
    amplicon : ndarray, int64, shape (n_sites,)
        Amplicon of each site (0..n_amplicons-1, non-decreasing).
    """

    sites: SiteTable
    amplicon: np.ndarray

    @property
    def n_amplicons(self) -> int:
        return int(self.amplicon[-1]) + 1 if len(self.amplicon) else 0


def amplicon_panel(n_amplicons: int, snps: tuple[int, int], rng: np.random.Generator,
                   length: tuple[int, int] = (120, 200), af: tuple[float, float] = (0.2, 0.8),
                   spacing: int = 100_000, contigs: int = 22) -> AmpliconPanel:
    """``n_amplicons`` amplicons of ``length`` bp (uniform) carrying ``snps`` SNPs (uniform,
    inclusive), ``spacing`` bp apart on ``contigs`` autosomes, with AF uniform in ``af``.
    ``amplicon_panel(2000, (4, 4), rng)`` is the microhaplotype design, ``amplicon_panel(1,
    (30, 140), rng, length=(140, 140))`` a single ultra-deep amplicon (SNPs may then share a
    position's neighbourhood densely; positions are distinct)."""
    per = rng.integers(snps[0], snps[1] + 1, n_amplicons)
    lengths = rng.integers(length[0], length[1] + 1, n_amplicons)
    per = np.minimum(per, lengths)
    amp = np.repeat(np.arange(n_amplicons), per)
    per_contig = -(-n_amplicons // contigs)
    contig = (np.arange(n_amplicons) // per_contig).astype(np.int32)
    start = 1_000_000 + (np.arange(n_amplicons) % per_contig) * spacing
    offsets = np.concatenate([np.sort(rng.choice(ln, k, replace=False)) for ln, k in zip(lengths, per, strict=True)])
    pos = (start[amp] + offsets).astype(np.int64)
    ref = rng.integers(0, 4, len(pos)).astype(np.uint8)
    alt = ((ref + rng.integers(1, 4, len(pos))) % 4).astype(np.uint8)
    n_contigs = int(contig.max()) + 1 if n_amplicons else 0
    sites = SiteTable(tuple(f"chr{c + 1}" for c in range(n_contigs)), contig[amp], pos, ref, alt,
                      rng.uniform(af[0], af[1], len(pos)))
    return AmpliconPanel(sites, amp.astype(np.int64))


def random_haplotypes(af: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two haplotypes (int8 (2, n_sites) of 0 ref / 1 alt) of a person drawn from ``af``."""
    return (rng.random((2, len(af))) < af).astype(np.int8)


def child_haplotypes(mother: np.ndarray, father: np.ndarray, amplicon: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """A child's haplotypes (0: maternal, 1: paternal), one parental haplotype per amplicon
    each (no recombination inside an amplicon; independent between amplicons)."""
    n_amp = int(amplicon.max()) + 1 if len(amplicon) else 0
    pick_m = rng.integers(0, 2, n_amp)[amplicon]
    pick_f = rng.integers(0, 2, n_amp)[amplicon]
    cols = np.arange(mother.shape[1])
    return np.stack([mother[pick_m, cols], father[pick_f, cols]]).astype(np.int8)


def simulate_molecules(panel: AmpliconPanel, host: np.ndarray, donors, fractions, *, molecules: int,
                       error_rate: float, rng: np.random.Generator,
                       sample: str = "sample") -> tuple[AlleleCounts, FragmentTable]:
    """Counts and fragments of a host sample carrying donor molecules.

    Parameters
    ----------
    panel : AmpliconPanel
    host : ndarray, int8, shape (2, n_sites)
        The host's haplotypes (0 ref, 1 alt).
    donors : sequence of ndarray, int8, shape (2, n_sites)
        Each donor's haplotypes.
    fractions : sequence of float
        Donor shares of the molecules (genome equivalents); sum < 1.
    molecules : int
        Molecules per amplicon (Poisson mean).
    error_rate : float
        Per-base error; each wrong base equally likely (ref read as alt: ``error_rate / 3``).

    Returns
    -------
    (AlleleCounts, FragmentTable)
        Per-site ref/alt/other molecule counts, and one fragments row per (molecule, site) of
        amplicons with two or more SNPs.
    """
    f = np.asarray(fractions, dtype=np.float64)
    people = np.stack([np.asarray(host, dtype=np.int8), *[np.asarray(d, dtype=np.int8) for d in donors]])
    amp = panel.amplicon
    n_amp = panel.n_amplicons
    site_start = np.searchsorted(amp, np.arange(n_amp))
    site_count = np.bincount(amp, minlength=n_amp)
    n_mol = rng.poisson(molecules, n_amp)
    mol_amp = np.repeat(np.arange(n_amp), n_mol)
    who = rng.choice(len(people), size=len(mol_amp), p=np.r_[1.0 - f.sum(), f])
    hap = rng.integers(0, 2, len(mol_amp))
    # One row per (molecule, site of its amplicon).
    per = site_count[mol_amp]
    row_mol = np.repeat(np.arange(len(mol_amp)), per)
    row_site = site_start[mol_amp][row_mol] + (np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per))
    true = people[who[row_mol], hap[row_mol], row_site]
    u = rng.random(len(row_site))
    wrong = u < error_rate
    # A wrong base is the other allele with probability 1/3, else a third base.
    to_other_allele = wrong & (u < error_rate / 3)
    allele = np.where(to_other_allele, 1 - true, true).astype(np.int8)
    allele[wrong & ~to_other_allele] = 2
    n_sites = panel.sites.n_sites
    counts = np.zeros((1, n_sites, 3), dtype=COUNT_DTYPE)
    for a in range(3):
        counts[0, :, a] = np.bincount(row_site[allele == a], minlength=n_sites)
    table = AlleleCounts.from_totals((sample,), panel.sites, counts[..., 0], counts[..., 1], counts[..., 2],
                                     parameters={"simulated": "molecules", "molecules_per_amplicon": molecules,
                                                 "error_rate": error_rate})
    multi = site_count[mol_amp][row_mol] >= 2
    q = np.full(int(multi.sum()), 30, np.uint8)
    frags = FragmentTable.from_parts((sample,), panel.sites, [(
        np.zeros(len(q), np.int32), row_mol[multi], row_site[multi], allele[multi], q,
        rng.random(len(q)) < 0.5, np.ones(len(q), np.uint8))])
    return table, frags


@dataclass(frozen=True)
class TrioSample:
    """A host sample of :func:`trio_sample`: counts, fragments, the typed genotypes (``mom``
    and ``kid``, int8 dosages) and each person's haplotypes (int8 (2, n_sites))."""

    counts: AlleleCounts
    fragments: FragmentTable
    genotypes: GenotypeMatrix
    haplotypes: dict


def trio_sample(panel: AmpliconPanel, fraction: float, *, molecules: int, error_rate: float,
                rng: np.random.Generator, host_homozygous: bool = False, sample: str = "s") -> TrioSample:
    """The mother's sample carrying her child's molecules at ``fraction`` (:data:`TRIO`).

    Haplotypes are drawn from the panel's AF (the child gets one of the mother's and one of
    the father's per amplicon: :func:`child_haplotypes`); ``host_homozygous`` makes the
    mother homozygous at every SNP (a chimerism panel of host-homozygous markers).
    """
    mom = random_haplotypes(panel.sites.af, rng)
    if host_homozygous:
        mom[1] = mom[0]
    dad = random_haplotypes(panel.sites.af, rng)
    kid = child_haplotypes(mom, dad, panel.amplicon, rng)
    counts, frags = simulate_molecules(panel, mom, [kid], [fraction], molecules=molecules, error_rate=error_rate,
                                       rng=rng, sample=sample)
    gm = GenotypeMatrix(("mom", "kid"), np.stack([mom.sum(0), kid.sum(0)]).astype(np.int8),
                        np.full(panel.sites.n_sites, np.nan))
    return TrioSample(counts, frags, gm, {"mom": mom, "dad": dad, "kid": kid})
