"""Allele counting at SNP sites, and the :class:`AlleleCounts` table."""
from .table import COUNTS_SCHEMA_VERSION, AlleleCounts, read_counts, write_counts, write_counts_tsv

__all__ = ["AlleleCounts", "COUNTS_SCHEMA_VERSION", "read_counts", "write_counts", "write_counts_tsv"]
