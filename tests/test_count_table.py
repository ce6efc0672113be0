"""Tests of the AlleleCounts table and its Parquet/TSV round trip."""
import numpy as np
import pyarrow.parquet as pq
import pytest

from microchimera.errors import FormatError, InputError
from microchimera.io.allele_counts import (
    COUNTS_SCHEMA_VERSION,
    AlleleCounts,
    read_counts,
    read_counts_any,
    write_counts,
    write_counts_tsv,
)
from microchimera.io.sites import SiteTable


@pytest.fixture
def counts():
    rng = np.random.default_rng(1)
    sites = SiteTable.from_records([("chr2", 5, "A", "G", 0.3), ("chr1", 10, "C", "T", None),
                                    ("chr1", 3, "G", "A", 0.5)], contigs=["chr1", "chr2"])
    arrays = [rng.integers(0, 50, size=(2, 3)).astype(np.uint32) for _ in range(6)]
    return AlleleCounts(("s1", "s2"), sites, *arrays, parameters={"min_mapq": 20})


def test_write_counts__round_trip_is_exact(tmp_path, counts):
    path = tmp_path / "c.parquet"
    write_counts(counts, path)
    back = read_counts(path)
    assert back.samples == counts.samples
    assert back.sites.chrom.tolist() == counts.sites.chrom.tolist()
    np.testing.assert_array_equal(back.sites.pos, counts.sites.pos)
    for name in ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev"):
        np.testing.assert_array_equal(getattr(back, name), getattr(counts, name))
    assert back.parameters["min_mapq"] == 20


def test_write_counts__file_is_one_row_per_sample_and_site_with_1_based_pos(tmp_path, counts):
    path = tmp_path / "c.parquet"
    write_counts(counts, path)
    table = pq.read_table(path)
    assert table.num_rows == 6
    assert table.schema.metadata[b"microchimera.schema_version"].decode() == COUNTS_SCHEMA_VERSION
    rows = table.to_pylist()
    first = rows[0]
    assert (first["sample"], first["chrom"], first["pos"]) == ("s1", "chr1", 4)
    assert first["ref_count"] == first["ref_fwd"] + first["ref_rev"]


def test_write_counts_tsv__has_header_and_rows(tmp_path, counts):
    path = tmp_path / "c.tsv"
    write_counts_tsv(counts, path)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t")[:5] == ["sample", "chrom", "pos", "ref", "alt"]
    assert len(lines) == 7


def test_read_counts_any__reads_the_tsv_that_count_writes(tmp_path, counts):
    """Issue 16: quantify rejected the README's own ``count --tsv`` output."""
    path = tmp_path / "c.tsv"
    write_counts_tsv(counts, path)
    back = read_counts_any(path)
    assert back.samples == counts.samples and back.sites.chrom.tolist() == counts.sites.chrom.tolist()
    np.testing.assert_array_equal(back.sites.pos, counts.sites.pos)
    np.testing.assert_array_equal(back.sites.af, counts.sites.af)  # NaN where the sites had none
    for name in ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev"):
        np.testing.assert_array_equal(getattr(back, name), getattr(counts, name))
    write_counts(counts, tmp_path / "c.parquet")
    assert read_counts_any(tmp_path / "c.parquet").samples == counts.samples


def test_read_counts_any__names_the_accepted_formats(tmp_path, counts):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\tworld\n")
    with pytest.raises(FormatError, match="not a counts file; expected one of: microchimera counts Parquet.*TSV.*GATK"):
        read_counts_any(junk)
    ragged = tmp_path / "ragged.tsv"
    write_counts_tsv(counts, ragged)
    ragged.write_text(ragged.read_text() + "s1\tchr1\n")
    with pytest.raises(FormatError, match="ragged.tsv: not a microchimera counts TSV"):
        read_counts_any(ragged)


def test_read_counts__rejects_non_counts_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_counts(tmp_path / "none.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(FormatError, match="not a Parquet counts file"):
        read_counts(junk)


def test_allele_counts__rejects_wrong_shapes(counts):
    with pytest.raises(ValueError, match="expected uint32 shape"):
        AlleleCounts(("s1",), counts.sites, *(getattr(counts, c) for c in
                     ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev")))
