"""Allele counting at SNP sites (:func:`count_alleles`), the :class:`AlleleCounts` table and
the multi-site :class:`FragmentTable`."""
from .counting import CountResult, count_alleles
from .table import (
    COUNTS_SCHEMA_VERSION,
    FRAGMENTS_SCHEMA_VERSION,
    AlleleCounts,
    FragmentTable,
    read_counts,
    read_fragments,
    write_counts,
    write_counts_tsv,
    write_fragments,
)

__all__ = ["AlleleCounts", "COUNTS_SCHEMA_VERSION", "CountResult", "FRAGMENTS_SCHEMA_VERSION",
           "FragmentTable", "count_alleles", "read_counts", "read_fragments", "write_counts",
           "write_counts_tsv", "write_fragments"]
