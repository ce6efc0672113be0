"""Tests of the sites readers (VCF/BCF, BED, TSV) and SiteTable."""
import gzip

import numpy as np
import pysam
import pytest

from microchimera.errors import FormatError, InputError
from microchimera.io.sites import SiteTable, read_sites

VCF_TEXT = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=1000>
##contig=<ID=chr2,length=1000>
##INFO=<ID=AF,Number=A,Type=Float,Description="alt frequency">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
chr1\t10\t.\tA\tG\t.\t.\tAF=0.25
chr1\t20\t.\tAT\tA\t.\t.\tAF=0.1
chr1\t30\t.\tC\tT,G\t.\t.\tAF=0.1,0.2
chr1\t40\t.\tc\tt\t.\t.\t.
chr2\t5\t.\tG\tN\t.\t.\tAF=0.5
chr2\t7\t.\tT\tC\t.\t.\tAF=0.75
"""


@pytest.fixture
def vcf_path(tmp_path):
    plain = tmp_path / "sites.vcf"
    plain.write_text(VCF_TEXT)
    out = tmp_path / "sites.vcf.gz"
    pysam.tabix_compress(str(plain), str(out))
    return out


def test_read_sites__vcf_keeps_biallelic_snps_and_counts_the_rest(vcf_path):
    sites = read_sites(vcf_path)
    assert sites.n_sites == 3
    assert list(sites.chrom) == ["chr1", "chr1", "chr2"]
    assert list(sites.pos) == [9, 39, 6]  # 0-based
    assert list(sites.ref_letters()) == [b"A", b"C", b"T"]
    assert list(sites.alt_letters()) == [b"G", b"T", b"C"]
    np.testing.assert_array_equal(sites.af, [0.25, np.nan, 0.75])
    assert sites.skipped == {"indel_or_mnp": 1, "multiallelic": 1, "non_acgt": 1}


def test_read_sites__bed_is_zero_based_and_tsv_one_based(tmp_path):
    bed = tmp_path / "s.bed"
    bed.write_text("chr1\t9\t10\tA\tG\t0.3\nchr1\t19\t21\tA\tG\n")
    tsv = tmp_path / "s.tsv.gz"
    with gzip.open(tsv, "wt") as fh:
        fh.write("chrom\tpos\tref\talt\taf\nchr1\t10\tA\tG\t0.3\n")
    a, b = read_sites(bed), read_sites(tsv)
    assert a.pos.tolist() == b.pos.tolist() == [9]
    assert a.skipped == {"not_single_base": 1}
    assert b.af.tolist() == [0.3]


def test_read_sites__errors_name_file_and_line(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_sites(tmp_path / "missing.vcf")
    bad = tmp_path / "bad.tsv"
    bad.write_text("chr1\t10\tA\tG\nchr1\tten\tA\n")
    with pytest.raises(FormatError, match=r"bad.tsv:2: expected tab-separated"):
        read_sites(bad)
    empty = tmp_path / "indels.tsv"
    empty.write_text("chr1\t10\tAT\tG\n")
    with pytest.raises(InputError, match="no usable biallelic SNP"):
        read_sites(empty)
    af = tmp_path / "af.tsv"
    af.write_text("chr1\t10\tA\tG\t1.5\n")
    with pytest.raises(FormatError, match="AF out of range"):
        read_sites(af)


def test_site_table__sorted_and_duplicates_rejected():
    t = SiteTable.from_records([("2", 5, "A", "G", None), ("1", 9, "C", "T", None), ("1", 2, "G", "A", None)],
                               contigs=["1", "2"])
    assert t.chrom.tolist() == ["1", "1", "2"] and t.pos.tolist() == [2, 9, 5]
    with pytest.raises(FormatError, match="duplicate site 1:3"):
        SiteTable.from_records([("1", 2, "G", "A", None), ("1", 2, "G", "C", None)])


def test_read_vcf__unindexed_bgzipped_vcf_reads_quietly(tmp_path, capfd):
    """Issue 16 item 9: an unindexed genotypes VCF printed htslib's '[E::idx_find_and_load]'
    three times, although no index is needed to read it from start to end."""
    from microchimera.io.genotypes import read_genotypes, vcf_samples

    plain = tmp_path / "g.vcf"
    plain.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n"
                     '##INFO=<ID=AF,Number=A,Type=Float,Description="AF">\n'
                     '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                     "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tmum\n"
                     "chr1\t10\t.\tA\tG\t.\tPASS\tAF=0.3\tGT\t0/1\n")
    gz = tmp_path / "g.vcf.gz"
    pysam.tabix_compress(str(plain), str(gz))
    assert not (tmp_path / "g.vcf.gz.tbi").exists()
    capfd.readouterr()
    sites = read_sites(gz)
    assert vcf_samples(gz) == ("mum",)
    assert read_genotypes(gz, sites, ["mum"]).dosage.tolist() == [[1]]
    assert "idx_find_and_load" not in capfd.readouterr().err
