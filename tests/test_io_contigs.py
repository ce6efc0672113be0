"""Tests of microchimera.io.contigs: the chr-alias rule and region strings."""
import numpy as np
import pytest

from microchimera.errors import InputError, UsageError
from microchimera.io.contigs import (
    Region,
    contig_key,
    match_contig,
    match_contigs,
    parse_region,
    region_mask,
)
from microchimera.io.sites import SiteTable


def test_contig_key__chr_prefix_and_mitochondrion():
    assert contig_key("chr1") == contig_key("1") == "1"
    assert contig_key("chrX") == "X"
    assert {contig_key(n) for n in ("chrM", "M", "MT", "chrMT")} == {"MT"}
    assert contig_key("Chr1") == "Chr1"


def test_match_contig__own_spelling_first():
    assert match_contig("1", ["chr1", "1"]) == "1"
    assert match_contig("1", ["chr2", "chr1"]) == "chr1"
    assert match_contig("chrM", ["1", "MT"]) == "MT"
    assert match_contig("MT", ["chr1", "chrM"]) == "chrM"
    assert match_contig("chr3", ["1", "2"]) is None


def test_match_contigs__missing_lists_both():
    assert match_contigs(["chr1", "2"], ["1", "chr2"], what="site", where="x.bam") == {"chr1": "1", "2": "chr2"}
    with pytest.raises(InputError, match="site contigs not found: chr9.*Contigs available: 1"):
        match_contigs(["chr9"], ["1"], what="site", where="x.bam")


def test_parse_region__forms_and_errors():
    assert parse_region("chr1") == Region("chr1")
    assert parse_region("chr1:1,001-2,000") == Region("chr1", 1001, 2000)
    assert parse_region("1:5") == Region("1", 5)
    assert str(parse_region("1:5-9")) == "1:5-9"
    with pytest.raises(UsageError, match="expected chrom:start-end"):
        parse_region("1:a-9")
    with pytest.raises(UsageError, match="1 <= start <= end"):
        parse_region("1:9-5")


def test_region_mask__alias_and_bounds():
    sites = SiteTable.from_records([("chr1", 99, "A", "C", None), ("chr1", 199, "A", "G", None),
                                    ("chr2", 99, "C", "T", None)])
    assert region_mask("1:100-199", sites).tolist() == [True, False, False]
    assert region_mask(Region("chr1", 150), sites).tolist() == [False, True, False]
    assert region_mask("chr2", sites).tolist() == [False, False, True]
    with pytest.raises(UsageError, match="not among the sites' contigs"):
        region_mask("chr3:x", sites)
    assert region_mask("chr1:300-400", sites).dtype == np.bool_
