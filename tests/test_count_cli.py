"""`microchimera count` end to end: outputs, and bad input as one-line errors with exit code 1."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from microchimera.cli import get_parser, main
from microchimera.count import read_counts, read_fragments

SITES = Path(__file__).parent / "data" / "count_edge_sites.tsv"  # the sites of edge_bam_fixture


def test_count_parser__defaults():
    args = get_parser().parse_args(["count", "a.bam", "--sites", "s.vcf", "--out", "c.parquet"])
    assert (args.min_mapq, args.min_baseq, args.threads, args.proper_pairs, args.index) == (20, 20, 1, False, False)


def test_run_count__parquet_fragments_and_tsv(edge_bam_fixture, tmp_path, capsys):
    bam, sites = edge_bam_fixture[0], SITES
    out, frag = tmp_path / "c.parquet", tmp_path / "f.parquet"
    assert main(["count", str(bam), "--sites", str(sites), "--out", str(out), "--fragments", str(frag),
                 "--threads", "2"]) == 0
    counts = read_counts(out)
    assert counts.samples == ("edge",)
    np.testing.assert_array_equal(counts.alt_count[0], [2, 2, 3])
    assert counts.parameters["min_baseq"] == 20 and counts.parameters["sites"] == str(sites)
    table = read_fragments(frag)
    assert table.column("pos").to_pylist() == [50, 70]
    assert "edge\tsites=3" in capsys.readouterr().out
    tsv = tmp_path / "c.tsv"
    assert main(["count", str(bam), "--sites", str(sites), "--out", str(tsv), "--tsv", "-q"]) == 0
    assert tsv.read_text().splitlines()[0].startswith("sample\tchrom\tpos")


def test_run_count__mean_depth_over_all_sites_and_over_the_covered_ones(edge_bam_fixture, tmp_path, capsys):
    """Issue 16 item 15: ``mean_depth`` averages over every site, those with no reads too (as
    samtools coverage's meandepth and mosdepth's mean do), which reads as shallow data when
    most of a panel is outside the reads; ``mean_depth_covered`` is the depth where there are reads."""
    bam = edge_bam_fixture[0]
    sites = tmp_path / "sites.tsv"
    sites.write_text(SITES.read_text() + "chr1\t190\tA\tG\n")  # no read reaches 190
    out = tmp_path / "c.parquet"
    assert main(["count", str(bam), "--sites", str(sites), "--out", str(out)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("edge\t"))
    fields = dict(f.split("=", 1) for f in line.split("\t")[1:])
    depth = read_counts(out).depth[0].astype(float)
    assert depth[3] == 0 and (depth[:3] > 0).all() and fields["covered"] == "3"
    assert float(fields["mean_depth"]) == round(depth.mean(), 1)
    assert float(fields["mean_depth_covered"]) == round(depth[:3].mean(), 1) > float(fields["mean_depth"])

def _fails(argv, capsys, pattern):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("microchimera: error:") and "Traceback" not in err
    assert pattern in err, err


def test_run_count__bad_input(edge_bam_fixture, tmp_path, capsys):
    bam, sites = edge_bam_fixture[0], SITES
    out = str(tmp_path / "c.parquet")
    noindex = tmp_path / "noindex.bam"
    shutil.copy(bam, noindex)
    _fails(["count", str(noindex), "--sites", str(sites), "--out", out], capsys, "no index")
    assert main(["count", str(noindex), "--sites", str(sites), "--out", out, "--index", "-q"]) == 0
    cut = tmp_path / "cut.bam"
    cut.write_bytes(bam.read_bytes()[:-30])
    _fails(["count", str(cut), "--sites", str(sites), "--out", out], capsys, "truncated BAM")
    indels = tmp_path / "indels.tsv"
    indels.write_text("chr1\t50\tA\tAT\nchr1\t60\tCG\tC\n")
    _fails(["count", str(bam), "--sites", str(indels), "--out", out], capsys, "no usable biallelic SNP")
    other = tmp_path / "other.tsv"
    other.write_text("chrQ\t50\tA\tG\n")
    _fails(["count", str(bam), "--sites", str(other), "--out", out], capsys, "contigs not found: chrQ")
    cram = tmp_path / "x.cram"
    cram.write_bytes(b"CRAM" + bytes(40))
    _fails(["count", str(cram), "--sites", str(sites), "--out", out], capsys, "CRAM needs the reference")
    _fails(["count", str(tmp_path / "absent.bam"), "--sites", str(sites), "--out", out], capsys, "not found")


def test_run_count__verbose_logs_read_statistics_per_file(tiny_family_fixture, tmp_path, caplog):
    """Issue 16 item 11: ``-v`` shows each file's read statistics (the counting pass's own tallies)."""
    sim = tiny_family_fixture
    bam = sim.bams["mother_mix"]
    out = tmp_path / "c.parquet"
    assert main(["count", str(bam), "--sites", str(sim.sites_vcf), "--out", str(out), "-v", "--min-mapq", "30"]) == 0
    st = read_counts(out).parameters["stats"][str(bam)]
    depth = read_counts(out).depth[0]
    lines = [r.getMessage() for r in caplog.records if r.levelname == "INFO" and str(bam) in r.getMessage()]
    assert len(lines) == 2, caplog.text
    kept = st["reads"] - st["skipped_flag"] - st["skipped_mapq"] - st["skipped_not_proper"]
    assert f"(sample mother_mix): {st['reads']:,} reads read, {kept:,} kept" in lines[0]
    assert f"filtered out {st['skipped_flag']:,} unmapped, secondary, supplementary, duplicate or QC-fail" in lines[0]
    assert f"{st['skipped_mapq']:,} with MAPQ < 30" in lines[0] and st["skipped_flag"] > 0
    assert f"{st['fragments_counted']:,} fragments counted ({st['overlapping_pairs_merged']:,} overlapping" \
        in lines[1]
    assert f"{int((depth > 0).sum()):,} of {len(depth):,} sites covered, mean depth {depth.mean():.1f}" in lines[1]
    caplog.clear()
    assert main(["count", str(bam), "--sites", str(sim.sites_vcf), "--out", str(out)]) == 0
    assert "reads read" not in caplog.text  # without -v: no statistics
