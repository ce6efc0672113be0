"""A small simulated result document (and chrY document) for the report tests."""
from __future__ import annotations

import numpy as np

from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.pedigree import Pedigree
from microchimera.io.sites import SiteTable
from microchimera.model import quantify
from microchimera.provenance import get_provenance
from microchimera.sim import simulate_counts, simulate_family

CONTIGS = ("chr1", "chr2", "chr3", "chr4")


def simulated_result(seed: int = 7, n_sites: int = 4000, depth: float = 80, fractions=(3e-3, 5e-4),
                     sample: str = "mum_brain") -> dict:
    """Mother (host) with a son and a daughter as donors; both genotyped, father untyped."""
    rng = np.random.default_rng(seed)
    contig_id = np.sort(rng.integers(0, len(CONTIGS), n_sites)).astype(np.int32)
    pos = np.concatenate([np.sort(rng.choice(40_000_000, int((contig_id == c).sum()), replace=False))
                          for c in range(len(CONTIGS))]).astype(np.int64)
    ref = rng.integers(0, 4, n_sites).astype(np.uint8)
    alt = ((ref + rng.integers(1, 4, n_sites)) % 4).astype(np.uint8)
    sites = SiteTable(CONTIGS, contig_id, pos, ref, alt, rng.uniform(0.05, 0.95, n_sites))
    ped = Pedigree.from_records([("f", "dad", None, None, 1), ("f", "mum", None, None, 2),
                                 ("f", "son", "dad", "mum", 1), ("f", "dau", "dad", "mum", 2)])
    fam = simulate_family(ped, sites, rng, contig_lengths={c: 40_000_000 for c in CONTIGS})
    ids = list(fam.ids)
    g = fam.genotypes
    counts = simulate_counts(sites, g[ids.index("mum")], g[[ids.index("son"), ids.index("dau")]], list(fractions),
                             depth=depth, rng=rng, sample=sample)
    typed = GenotypeMatrix(("mum", "son", "dau"), g[[ids.index(p) for p in ("mum", "son", "dau")]].astype(np.int8),
                           np.full(n_sites, np.nan))
    doc = quantify(counts, host="mum", donors=["son", "dau"], pedigree=ped, genotypes=typed, sites=sites).to_json()
    doc["provenance"] = get_provenance(command="microchimera run mum.bam --seed 7", seed=seed,
                                       parameters={"alpha": 0.05})
    return doc


def ychrom_document(sample: str = "mum_brain", estimate: float = 2.8e-3) -> dict:
    """A hand-made ``ychrom.json`` (schema ``microchimera.ychrom/1``) with one sample."""
    return {
        "schema": "microchimera.ychrom/1", "build": "GRCh38",
        "regions": {"source": "GRCh38", "n_regions": 10, "bases": 8_260_000}, "min_mapq": 30,
        "background": {"source": "default", "male_fraction": 5e-5, "male_fraction_ci95": [0, 1e-4]},
        "samples": [{"sample": sample, "path": f"{sample}.bam",
                     "male_fraction": {"estimate": estimate, "ci95": [0.8 * estimate, 1.2 * estimate],
                                       "geq_per_100k": 1e5 * estimate, "p_value": 1e-30, "detected": True,
                                       "lod": 2e-4},
                     "warnings": []}],
        "provenance": {},
    }
