"""Genotypes of named people at the sites of a :class:`~microchimera.io.sites.SiteTable`.

:func:`read_genotypes` reads the ``GT`` field of a VCF/BCF and returns alt-allele dosages
(``int8``, ``GENOTYPE_MISSING`` = -1 where unknown) aligned to the site table.  Records are
matched by contig (``chr`` prefix ignored) and position; a record whose REF/ALT are the
site's ALT/REF is used with the dosage flipped, any other allele mismatch is missing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..conventions import BASE_CODE, BASE_UNKNOWN, GENOTYPE_DTYPE, GENOTYPE_MISSING
from ..errors import FormatError, InputError
from .contigs import contig_key
from .sites import SiteTable, open_vcf

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenotypeMatrix:
    """Alt dosages of several people at the sites of one site table.

    Attributes
    ----------
    samples : tuple of str, length n_samples
    dosage : ndarray, int8, shape (n_samples, n_sites)
        0, 1 or 2 alt alleles; ``GENOTYPE_MISSING`` (-1) where unknown.
    af : ndarray, float64, shape (n_sites,)
        ``INFO/AF`` of the genotype VCF where present, else NaN.
    stats : dict
        ``matched`` (records used), ``flipped`` (REF/ALT swapped), ``allele_mismatch``,
        ``alleles_from_vcf`` (sites of counts without bases, e.g. GATK tables, whose alleles
        were taken from the record).
    """

    samples: tuple
    dosage: np.ndarray
    af: np.ndarray
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.dosage.dtype != GENOTYPE_DTYPE or self.dosage.ndim != 2 or self.dosage.shape[0] != len(self.samples):
            raise ValueError(f"GenotypeMatrix.dosage: expected int8 shape ({len(self.samples)}, n_sites), "
                             f"found {self.dosage.dtype} {self.dosage.shape}")

    def __contains__(self, person) -> bool:
        return person in self.samples

    def get(self, person: str) -> np.ndarray:
        """Dosage of ``person``, int8 (n_sites,)."""
        try:
            return self.dosage[self.samples.index(person)]
        except ValueError:
            raise InputError(f"{person!r} is not in the genotypes (samples: {', '.join(self.samples)})") from None


def vcf_samples(path) -> tuple:
    """Sample names in the header of a VCF/BCF."""

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: genotypes file not found")
    with open_vcf(path) as vf:
        return tuple(vf.header.samples)


def read_genotypes(path, sites: SiteTable, samples=None, *, absent_as_ref: bool = False) -> GenotypeMatrix:
    """Read GT of ``samples`` at ``sites`` from a VCF/BCF.

    Parameters
    ----------
    path : path-like
        VCF/BCF (bgzipped or plain; an index is not needed).
    sites : SiteTable
        The sites to align to (n_sites).
    samples : sequence of str, optional
        People to read; default every sample of the VCF.
    absent_as_ref : bool
        Treat sites absent from the VCF as homozygous reference (for VCFs that list
        variant records only).  Default: absent sites are missing.

    Returns
    -------
    GenotypeMatrix
        ``dosage`` int8 (n_samples, n_sites); haploid calls count as 0 or 2.

    Raises
    ------
    InputError
        If the file is missing or a requested sample is not in it (naming those present).
    FormatError
        If the file cannot be parsed.
    """

    path = Path(path)
    present = vcf_samples(path)
    if samples is None:
        samples = present
    samples = tuple(samples)
    missing = [s for s in samples if s not in present]
    if missing:
        raise InputError(f"{path}: sample(s) {', '.join(map(repr, missing))} not in the VCF "
                         f"(samples present: {', '.join(present) or 'none'})")
    n = sites.n_sites
    fill = 0 if absent_as_ref else GENOTYPE_MISSING
    dosage = np.full((len(samples), n), fill, dtype=GENOTYPE_DTYPE)
    af = np.full(n, np.nan)
    key = {(contig_key(c), int(p)): i for i, (c, p) in enumerate(zip(sites.chrom, sites.pos, strict=True))}
    stats = {"matched": 0, "flipped": 0, "allele_mismatch": 0, "alleles_from_vcf": 0}
    vf = open_vcf(path)
    with vf:
        vf.subset_samples(list(samples))
        has_af = "AF" in vf.header.info
        try:
            for rec in vf:
                i = key.get((contig_key(rec.chrom), rec.pos - 1))
                if i is None:
                    continue
                alts = rec.alts or ()
                ref = BASE_CODE.get(rec.ref.upper(), -1)
                alt = BASE_CODE.get(alts[0].upper(), -1) if len(alts) == 1 else -1
                if sites.ref[i] == BASE_UNKNOWN and ref >= 0 and (alt >= 0 or not alts):
                    # Counts without bases (GATK GetPileupSummaries): their ref/alt are the
                    # resource VCF's, taken to be this record's REF/ALT.
                    flip = False
                    stats["alleles_from_vcf"] += 1
                elif ref == sites.ref[i] and (alt == sites.alt[i] or not alts):
                    flip = False
                elif ref == sites.alt[i] and alt == sites.ref[i]:
                    flip = True
                    stats["flipped"] += 1
                else:
                    stats["allele_mismatch"] += 1
                    dosage[:, i] = GENOTYPE_MISSING
                    continue
                stats["matched"] += 1
                for j, s in enumerate(samples):
                    gt = rec.samples[s].get("GT")
                    if not gt or any(a is None for a in gt):
                        dosage[j, i] = GENOTYPE_MISSING
                        continue
                    d = sum(1 for a in gt if a == 1) * (2 // len(gt))
                    if any(a not in (0, 1) for a in gt):
                        d = GENOTYPE_MISSING
                    dosage[j, i] = d if not flip or d < 0 else 2 - d
                if has_af and "AF" in rec.info and len(alts) == 1:
                    value = rec.info["AF"]
                    value = float(value[0] if isinstance(value, tuple) else value)
                    af[i] = 1.0 - value if flip else value
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path}: unreadable VCF record: {exc}") from exc
    logger.info("%s: genotypes of %d people at %d/%d sites (%d flipped, %d allele mismatches)",
                path, len(samples), stats["matched"], n, stats["flipped"], stats["allele_mismatch"])
    return GenotypeMatrix(samples, dosage, af, stats)
