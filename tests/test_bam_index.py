"""The fine-grained CSI index (``microchimera index``, issue 17) and the fast reader on CSI
indexes: htslib reads the index as it reads samtools' own, its offsets are the exact linear
index, and counts through it equal counts through the BAI while fewer blocks are inflated."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pysam
import pytest
from helpers.bam import sam_to_bam
from helpers.reference import reference_count
from helpers.wgs import simulate_wgs

from microchimera.cli import main
from microchimera.count import _bgzf, count_alleles
from microchimera.count.bam_index import build_csi, read_bai, read_csi, start_offsets
from microchimera.errors import FormatError, InputError, UsageError
from microchimera.io.alignments import open_alignments
from microchimera.io.sites import SiteTable


@pytest.fixture(scope="module")
def wgs(tmp_path_factory):
    """Reads tiling two 1.5 Mb autosomes (~10x, with indels, soft clips and duplicates) and
    100 sites at uniform random positions; returns (BAM with a .bai only, sites)."""
    d = tmp_path_factory.mktemp("wgs_index")
    return simulate_wgs(d, 23)


def _copy(bam, where, index_ext=".bai"):
    """The BAM copied to ``where`` with its BAI (or none: ``index_ext`` None)."""
    where.mkdir(exist_ok=True)
    out = where / bam.name
    shutil.copy(bam, out)
    if index_ext:
        shutil.copy(str(bam) + index_ext, str(out) + index_ext)
    return out


@pytest.fixture(scope="module")
def fine(wgs, tmp_path_factory):
    """The BAM beside its BAI and a fine CSI (min_shift 9) written by ``build_csi``."""
    bam, _ = wgs
    copy = _copy(bam, tmp_path_factory.mktemp("fine"))
    return copy, build_csi(copy)


def _tally(counts):
    return np.stack([getattr(counts, c)[0] for c in
                     ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev")])


def test_fine_csi__htslib_fetches_and_counts_same_as_with_the_bai(fine):
    bam, csi = fine
    assert csi.name == bam.name + ".fine.csi"
    rng = np.random.default_rng(5)
    with pysam.AlignmentFile(str(bam), index_filename=str(bam) + ".bai") as by_bai, \
            pysam.AlignmentFile(str(bam), index_filename=str(csi)) as by_csi:
        assert by_bai.get_index_statistics() == by_csi.get_index_statistics()
        for _ in range(150):
            contig = by_bai.references[int(rng.integers(2))]
            a = int(rng.integers(1_500_000))
            b = a + int(rng.choice([1, 100, 600, 5_000, 200_000]))
            want = [(r.query_name, r.flag, r.reference_start) for r in by_bai.fetch(contig, a, b)]
            got = [(r.query_name, r.flag, r.reference_start) for r in by_csi.fetch(contig, a, b)]
            assert got == want, (contig, a, b)


def test_fine_csi__offsets_are_the_exact_linear_index(fine):
    """Every window's offset is at or before the first read over it (never after: that would
    lose reads) and, where a bin of the index starts there, exactly it; never before the BAI's
    16 kb window offset."""
    bam, csi = fine
    refs, bai = read_csi(csi), read_bai(str(bam) + ".bai")
    assert refs[0].shift == 9
    first = {}
    with pysam.AlignmentFile(str(bam), index_filename=str(csi)) as af:
        while True:
            voff = af.tell()
            try:
                r = next(af)
            except StopIteration:
                break
            if r.is_unmapped:
                continue
            for w in range(r.reference_start >> 9, ((r.reference_end - 1) >> 9) + 1):
                first.setdefault((r.reference_id, w), voff)
    with_bin = 0
    for tid in (0, 1):
        windows = np.array(sorted(w for t, w in first if t == tid))
        truth = np.array([first[(tid, w)] for w in windows], np.uint64)
        got = start_offsets(refs[tid], windows << 9)
        assert (got <= truth).all()
        assert (got >= start_offsets(bai[tid], windows << 9)).all()
        own = np.isin(windows, refs[tid].known)
        np.testing.assert_array_equal(got[own], truth[own])
        with_bin += int(own.sum())
    # a window none of whose reads lies wholly inside it has no bin of its own, and takes the
    # offset of the window before: at ~10x with 150 bp reads ~8% of the 512 bp windows
    assert with_bin > 0.85 * len(first), (with_bin, len(first))


@pytest.mark.parametrize("threads", [1, 2])
def test_fine_csi__count_uses_it_with_the_same_counts_and_fewer_blocks(wgs, fine, monkeypatch, threads):
    bam_bai, sites = wgs
    bam, csi = fine
    assert open_alignments(bam).index == csi
    seen = []
    inflate = _bgzf._inflate
    monkeypatch.setattr(_bgzf, "_inflate", lambda raw, blocks, base, path: seen.append(len(blocks))
                        or inflate(raw, blocks, base, path))
    with_bai = count_alleles([bam_bai], sites, threads=threads, fragments=True)
    bai_blocks = sum(seen)
    seen.clear()
    with_csi = count_alleles([bam], sites, threads=threads, fragments=True)
    np.testing.assert_array_equal(_tally(with_csi.counts), _tally(with_bai.counts))
    assert with_csi.fragments.n_rows == with_bai.fragments.n_rows
    assert (_tally(with_csi.counts).sum(axis=0) > 0).mean() > 0.9
    # a 512 bp window before each site instead of half a 16 kb one (the index's own blocks included)
    assert sum(seen) < 0.5 * bai_blocks, (sum(seen), bai_blocks)


def test_records_longer_than_the_headroom__counted_and_indexed(tmp_path, monkeypatch):
    """Reads whose BAM records (a 200 kB tag) are longer than the 64 kB kept free in front of
    each batch: the fast reader and the index writer carry them over whole into the next
    batch (with tiny reads, at every block boundary), and the counts through the BAI and the
    fine CSI equal the reference's."""
    rng = np.random.default_rng(3)
    rows, sites = ["@HD\tVN:1.6\tSO:unsorted", "@SQ\tSN:chr1\tLN:100000", "@RG\tID:a\tSM:s"], []
    for i, pos in enumerate(range(1_000, 90_000, 3_000)):
        sites.append(("chr1", pos + 50, "A", "G", None))
        for j in range(12):
            seq = list(rng.choice(list("ACGT"), 100))
            seq[50 - j] = "AG"[j % 2]
            # random bases, so that each 64 kB block compresses to more than the 300 bytes read at
            # a time; 200 kB, because htslib starts a long record on a new block and the carried
            # part must outgrow one block plus the headroom
            tag = f"\tXX:Z:{''.join(rng.choice(list('ACGT'), 200_000))}" if j % 5 == 0 else ""
            rows.append(f"r{i}_{j}\t0\tchr1\t{pos + j + 1}\t60\t100M\t*\t0\t0\t{''.join(seq)}\t{'I' * 100}"
                        f"\tRG:Z:a{tag}")
    bam = sam_to_bam("\n".join(rows) + "\n", tmp_path / "long.bam")
    table = SiteTable.from_records(sites, contigs=["chr1"])
    want, _ = reference_count(bam, table)
    assert want[2].sum() > 0 and want[0].sum() > 0
    monkeypatch.setattr(_bgzf, "CHUNK", 300)
    np.testing.assert_array_equal(_tally(count_alleles([bam], table)), want)
    build_csi(bam)
    assert open_alignments(bam).index.name == bam.name + ".fine.csi"
    np.testing.assert_array_equal(_tally(count_alleles([bam], table)), want)
    with pysam.AlignmentFile(str(bam), index_filename=str(bam) + ".fine.csi") as af:
        assert sum(1 for _ in af.fetch("chr1", 40_000, 40_001)) == sum(1 for _ in pysam.AlignmentFile(
            str(bam)).fetch("chr1", 40_000, 40_001))


def test_samtools_csi__fast_reader_same_counts(wgs, tmp_path):
    """A BAM with only samtools' own CSI (merged bins) is read by the fast reader too."""
    bam_bai, sites = wgs
    bam = _copy(bam_bai, tmp_path / "st", index_ext=None)
    pysam.index("-c", str(bam))
    info = open_alignments(bam)
    assert info.index.name == bam.name + ".csi"
    refs = read_csi(info.index)
    assert refs[0].shift == 14 and refs[0].has_reads
    np.testing.assert_array_equal(_tally(count_alleles([bam], sites)), _tally(count_alleles([bam_bai], sites)))


def test_index_choice__a_stale_fine_index_is_passed_over(fine, tmp_path, caplog):
    bam, csi = fine
    copy = _copy(bam, tmp_path / "stale")
    shutil.copy(csi, str(copy) + ".fine.csi")
    old = copy.stat().st_mtime - 100
    os.utime(str(copy) + ".fine.csi", (old, old))
    assert open_alignments(copy).index.name == copy.name + ".bai"
    os.utime(str(copy) + ".bai", (old, old))  # everything stale: the first found, with a warning
    assert open_alignments(copy).index.name == copy.name + ".fine.csi"
    assert "older than the file" in caplog.text


def test_index_cli__writes_and_reports(wgs, tmp_path, capsys):
    bam = _copy(wgs[0], tmp_path / "cli")
    assert main(["index", str(bam), "--min-shift", "12"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"index\t{bam}.fine.csi"
    assert read_csi(str(bam) + ".fine.csi")[0].shift == 12
    assert main(["index", str(bam), str(bam), "--out", str(tmp_path / "x.csi")]) != 0
    assert "--out names one index" in capsys.readouterr().err


def _unsorted_bam(path):
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 10_000}],
              "RG": [{"ID": "a", "SM": "s"}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, pos in enumerate((500, 900, 300)):
            r = pysam.AlignedSegment(out.header)
            r.query_name, r.reference_id, r.reference_start = f"r{i}", 0, pos
            r.cigartuples, r.query_sequence = [(0, 10)], "ACGTACGTAC"
            r.query_qualities = pysam.qualitystring_to_array("I" * 10)
            out.write(r)
    return path


def test_index_bad_input(wgs, tmp_path):
    with pytest.raises(FormatError, match=r"not coordinate-sorted: record 3 \(chr1:301\)"):
        build_csi(_unsorted_bam(tmp_path / "unsorted.bam"))
    assert not (tmp_path / "unsorted.bam.fine.csi").exists()
    cut = tmp_path / "cut.bam"
    cut.write_bytes(wgs[0].read_bytes()[:300_000])
    with pytest.raises(FormatError, match="truncated"):
        build_csi(cut)
    with pytest.raises(InputError, match="not found"):
        build_csi(tmp_path / "missing.bam")
    with pytest.raises(UsageError, match="min_shift"):
        build_csi(wgs[0], tmp_path / "x.csi", min_shift=30)
    bad = tmp_path / "bad.csi"
    data = pysam.BGZFile  # a CSI cut short: a clear error, not garbage offsets
    good = build_csi(wgs[0], tmp_path / "good.csi")
    raw = _inflated(good)
    with data(str(bad), "wb") as fh:
        fh.write(raw[: len(raw) // 2])
    with pytest.raises(FormatError, match="truncated CSI"):
        read_csi(bad)
    (tmp_path / "junk.csi").write_bytes(b"not an index at all")
    with pytest.raises(FormatError, match="CSI"):
        read_csi(tmp_path / "junk.csi")


def _inflated(path) -> bytes:
    import gzip

    return gzip.decompress(path.read_bytes())


def test_writing_counts_does_not_import_pandas(tmp_path):
    """pyarrow imports pandas (~0.4 s) when handed numpy arrays; count's Parquet writer builds
    its columns from buffers instead, which a sparse-panel count depends on for its speed."""
    code = ("import sys, numpy as np\n"
            "from microchimera.io.sites import SiteTable\n"
            "from microchimera.io.allele_counts import AlleleCounts, write_counts, read_counts\n"
            "s = SiteTable.from_records([('chr1', 5, 'A', 'G', 0.3), ('chr2', 9, 'C', 'T', 0.1)])\n"
            "c = AlleleCounts.from_totals(['x'], s, np.array([[3, 4]]), np.array([[1, 0]]), np.array([[0, 2]]))\n"
            f"write_counts(c, {str(tmp_path / 'c.parquet')!r})\n"
            "assert 'pandas' not in sys.modules\n"
            f"back = read_counts({str(tmp_path / 'c.parquet')!r})\n"
            "assert back.alt_count.tolist() == [[1, 0]] and back.sites.contigs == ('chr1', 'chr2')\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
