"""Readers of the standard formats: sites (VCF/BED/TSV), genotypes (VCF), pedigrees (PED)."""
