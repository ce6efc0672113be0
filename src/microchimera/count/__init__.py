"""Allele counting at SNP sites (:func:`count_alleles`) and the multi-site :class:`FragmentTable`.

:class:`AlleleCounts` and its readers/writers live in :mod:`microchimera.io.allele_counts`;
they are re-exported here, where the README documents them.
"""
from ..io.allele_counts import (
    COUNTS_SCHEMA_VERSION,
    AlleleCounts,
    read_counts,
    write_counts,
    write_counts_tsv,
)
from .counting import CountResult, count_alleles
from .fragments import FRAGMENTS_SCHEMA_VERSION, FragmentTable, read_fragments, write_fragments

__all__ = ["AlleleCounts", "COUNTS_SCHEMA_VERSION", "CountResult", "FRAGMENTS_SCHEMA_VERSION",
           "FragmentTable", "count_alleles", "read_counts", "read_fragments", "write_counts",
           "write_counts_tsv", "write_fragments"]
