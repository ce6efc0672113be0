"""Family genetics: founders from allele frequencies, children by Mendelian transmission.

Haplotype convention: copy 0 is the **paternal** copy, copy 1 the **maternal** copy.
Alleles are ``int8`` 0 (ref) / 1 (alt); a copy a person does not have (the paternal X of
a male, any Y of a female, the second Y of a male) is ``-1``.

Sex chromosomes (contigs named ``x_contig`` / ``y_contig``) are treated as fully
sex-linked (sites inside the pseudo-autosomal regions are not modelled specially):
a son gets his father's Y and one recombined maternal X; a daughter gets her father's
single X unchanged and one recombined maternal X.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..conventions import GENOTYPE_DTYPE, GENOTYPE_MISSING
from ..io.pedigree import SEX_FEMALE, SEX_MALE, Pedigree
from ..io.sites import SiteTable

logger = logging.getLogger(__name__)

KIND_AUTOSOME, KIND_X, KIND_Y = 0, 1, 2
#: Default genetic length of every contig (Morgans): a synthetic contig stands for a
#: whole human chromosome (~1.5 M on average), so siblings share segments, not all or nothing.
DEFAULT_MORGANS = 1.5


@dataclass(frozen=True)
class Family:
    """Simulated genomes of every person of a pedigree at the panel's sites.

    Attributes
    ----------
    pedigree : Pedigree
    haplotypes : ndarray, int8, shape (n_people, 2, n_sites)
        Allele (0 ref, 1 alt) on the paternal (0) and maternal (1) copy; -1 where the
        person has no such copy (sex chromosomes).
    site_kind : ndarray, int8, shape (n_sites,)
        ``KIND_AUTOSOME`` (0), ``KIND_X`` (1) or ``KIND_Y`` (2).
    crossovers : dict
        ``(child, parent_role, contig) -> ndarray of crossover positions`` (0-based bp),
        recorded for inspection and tests.
    """

    pedigree: Pedigree
    haplotypes: np.ndarray
    site_kind: np.ndarray
    crossovers: dict

    @property
    def ids(self) -> tuple:
        return self.pedigree.ids

    @property
    def n_people(self) -> int:
        return self.pedigree.n_people

    @property
    def n_sites(self) -> int:
        return self.haplotypes.shape[2]

    @property
    def copy_number(self) -> np.ndarray:
        """Copies of each site per person, int8 (n_people, n_sites): 2 autosomes, 1/2 X, 1/0 Y."""
        return (self.haplotypes >= 0).sum(axis=1).astype(np.int8)

    @property
    def genotypes(self) -> np.ndarray:
        """Alt dosage scaled to two copies, int8 (n_people, n_sites).

        ``0, 1, 2`` on autosomes and a female X; a hemizygous site (male X or Y) carries
        ``0`` or ``2`` so that ``g / 2`` stays the alt share of that person's DNA there;
        ``GENOTYPE_MISSING`` (-1) where the person has no copy (a female's Y).
        """
        h = self.haplotypes
        present = h >= 0
        n_copies = present.sum(axis=1)
        alt = np.where(present, h, 0).sum(axis=1)
        g = np.where(n_copies == 2, alt, np.where(n_copies == 1, 2 * alt, GENOTYPE_MISSING))
        return g.astype(GENOTYPE_DTYPE)

    def genotype(self, person: str) -> np.ndarray:
        """Dosage of one person, int8 (n_sites,)."""
        return self.genotypes[self.pedigree.index(person)]


def site_kinds(sites: SiteTable, x_contig: str = "chrX", y_contig: str = "chrY") -> np.ndarray:
    """Kind of each site's contig, int8 (n_sites,): 0 autosome, 1 X, 2 Y."""
    kind_of_contig = np.array([KIND_X if c == x_contig else KIND_Y if c == y_contig else KIND_AUTOSOME
                               for c in sites.contigs], dtype=np.int8)
    return kind_of_contig[sites.contig_id] if sites.n_sites else np.zeros(0, np.int8)


def _founder_copy(af: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(af.shape[0]) < af).astype(np.int8)


def _gamete(parent_haps: np.ndarray, sites: SiteTable, contig_spans: list, morgans: dict,
            rng: np.random.Generator, record: dict, key) -> np.ndarray:
    """One recombined copy of a diploid parent's two haplotypes at every site.

    Crossovers: Poisson(genetic length in Morgans) per contig, uniform in physical
    position (a uniform map, no interference).  The starting copy is a fair coin.
    """
    out = np.empty(sites.n_sites, dtype=np.int8)
    for cid, (lo, hi, length) in enumerate(contig_spans):
        if hi == lo:
            continue
        name = sites.contigs[cid]
        n_co = rng.poisson(morgans.get(name, DEFAULT_MORGANS))
        co = np.sort(rng.random(n_co) * length)
        record[(*key, name)] = co
        start = rng.integers(2)
        which = (start + np.searchsorted(co, sites.pos[lo:hi], side="right")) % 2
        out[lo:hi] = parent_haps[which, np.arange(lo, hi)]
    return out


def simulate_family(pedigree: Pedigree, sites: SiteTable, rng: np.random.Generator, *,
                    morgans=None, contig_lengths=None, x_contig: str = "chrX",
                    y_contig: str = "chrY") -> Family:
    """Simulate every person's haplotypes at ``sites``.

    Founders (and any missing parent) draw each copy independently with P(alt) = AF
    (Hardy–Weinberg).  Each child receives one recombined copy from each parent.

    Parameters
    ----------
    pedigree : Pedigree
        People in an order where parents precede children (as ``Pedigree`` guarantees).
    sites : SiteTable
        Sites with ``af`` set (NaN AF raises).
    rng : numpy.random.Generator
    morgans : float or dict, optional
        Genetic length per contig in Morgans (a float applies to all contigs); default 1.5.
    contig_lengths : dict, optional
        Physical length per contig (bp) over which crossovers fall; default: last site + 1.
    x_contig, y_contig : str
        Names of the sex chromosomes.

    Returns
    -------
    Family

    Raises
    ------
    ValueError
        If some site has no AF or a person's sex is unknown while sex-chromosome sites exist.
    """
    af = sites.af
    if sites.n_sites and not np.all(np.isfinite(af)):
        raise ValueError("simulate_family: every site needs an allele frequency (found NaN AF)")
    if isinstance(morgans, (int, float)):
        morgans = dict.fromkeys(sites.contigs, float(morgans))
    morgans = dict(morgans or {})
    kind = site_kinds(sites, x_contig, y_contig)
    spans = []
    bounds = np.searchsorted(sites.contig_id, np.arange(len(sites.contigs) + 1))
    for cid, name in enumerate(sites.contigs):
        lo, hi = int(bounds[cid]), int(bounds[cid + 1])
        length = (contig_lengths or {}).get(name, int(sites.pos[hi - 1]) + 1 if hi > lo else 1)
        spans.append((lo, hi, length))
    n, m = pedigree.n_people, sites.n_sites
    if (kind != KIND_AUTOSOME).any() and (pedigree.sex == 0).any():
        raise ValueError("simulate_family: sex-chromosome sites need every person's sex "
                         f"(unknown: {[pedigree.ids[i] for i in np.flatnonzero(pedigree.sex == 0)]})")
    haps = np.full((n, 2, m), -1, dtype=np.int8)
    xs, ys = kind == KIND_X, kind == KIND_Y
    crossovers: dict = {}
    for i, pid in enumerate(pedigree.ids):
        male = pedigree.sex[i] == SEX_MALE
        f, mo = int(pedigree.father[i]), int(pedigree.mother[i])
        # paternal copy (index 0)
        if f >= 0:
            pat = _gamete(haps[f], sites, spans, morgans, rng, crossovers, (pid, "father"))
            pat[xs] = haps[f, 1, xs] if not male else -1   # father's single X (his maternal copy)
            pat[ys] = haps[f, 0, ys] if male else -1       # father's Y
        else:
            pat = _founder_copy(af, rng)
            if male:
                pat[xs] = -1
            else:
                pat[ys] = -1
        # maternal copy (index 1)
        if mo >= 0:
            mat = _gamete(haps[mo], sites, spans, morgans, rng, crossovers, (pid, "mother"))
        else:
            mat = _founder_copy(af, rng)
        mat[ys] = -1
        haps[i, 0], haps[i, 1] = pat, mat
        if pedigree.sex[i] == SEX_FEMALE:
            haps[i, :, ys] = -1
    return Family(pedigree, haps, kind, crossovers)
