"""Count-level validation designs shared by the scripts: a random SNP panel over contigs with
recombination and a family's genotypes on it."""
from __future__ import annotations

import numpy as np

from microchimera.io.pedigree import Pedigree
from microchimera.io.sites import SiteTable
from microchimera.sim import simulate_family

CONTIG_LENGTH = 100_000_000


def random_panel(rng: np.random.Generator, n_sites: int, n_contigs: int = 10) -> SiteTable:
    """``n_sites`` SNPs spread evenly over ``n_contigs`` contigs of 100 Mb: random positions,
    alleles and allele frequencies uniform on [0.05, 0.95], drawn from ``rng`` in that order."""
    per = n_sites // n_contigs
    cid = np.repeat(np.arange(n_contigs), per).astype(np.int32)
    pos = np.concatenate([np.sort(rng.choice(CONTIG_LENGTH, per, replace=False)) for _ in range(n_contigs)])
    ref = rng.integers(0, 4, per * n_contigs).astype(np.uint8)
    alt = ((ref + rng.integers(1, 4, len(ref))) % 4).astype(np.uint8)
    return SiteTable(tuple(f"chr{i + 1}" for i in range(n_contigs)), cid, pos.astype(np.int64), ref, alt,
                     rng.uniform(0.05, 0.95, len(ref)))


def family_panel(rng: np.random.Generator, n_sites: int, pedigree: Pedigree, n_contigs: int = 10):
    """A :func:`random_panel` and every person's genotypes on it (int8 alt-allele counts) from
    :func:`~microchimera.sim.simulate_family`, with recombination over the 100 Mb contigs.
    Returns ``(sites, {person: genotypes})``; the draws come from ``rng`` in a fixed order."""
    sites = random_panel(rng, n_sites, n_contigs)
    fam = simulate_family(pedigree, sites, rng, contig_lengths=dict.fromkeys(sites.contigs, CONTIG_LENGTH))
    return sites, {p: fam.genotype(p).astype(np.int8) for p in pedigree.ids}
