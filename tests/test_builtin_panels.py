"""Built-in panels on alignments (issue 17 item 1): real GRCh38 reads, a BAM whose contigs
lack ``chr``, and a clear error when the panel's genome build is not the BAM's."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pysam
import pytest
from helpers.bam import sam_to_bam

from microchimera.cli import main
from microchimera.count import read_counts
from microchimera.io.builds import LENGTHS, build_of
from microchimera.io.panels import builtin_panel_of, load_builtin
from microchimera.io.sites import read_sites

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
GIAB = REAL / "giab_aj_trio_grch38_24regions_kmer_denovo_filter"
CEPH = REAL / "ceph1463_trio_chr20_b37_deeptrio"
needs_giab = pytest.mark.skipif(not (GIAB / "HG004_mother.bam").exists(),
                                reason=f"real GIAB reads not found under {GIAB}")
needs_ceph = pytest.mark.skipif(not (CEPH / "NA12892.chr20.10_10p1mb_sorted.bam").exists(),
                                reason=f"real CEPH reads not found under {CEPH}")


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("microchimera: error:")]
    assert len(lines) == 1, err
    return lines[0]


# ----------------------------------------------------------------------------- real reads

def _markers_in(panel, bed: Path) -> list:
    """The panel's markers inside a BED's windows, as ``chrom:pos`` (1-based)."""
    s = panel.sites
    out = []
    for line in bed.read_text().splitlines():
        chrom, start, end = line.split("\t")[:3]
        if chrom not in s.contigs:  # the panel has no marker on chr22
            continue
        cid = s.contigs.index(chrom)
        inside = (s.contig_id == cid) & (s.pos >= int(start)) & (s.pos < int(end))
        out += [f"{chrom}:{p + 1}" for p in s.pos[inside]]
    return out


@needs_giab
def test_giab_windows_hold_three_markers_of_the_100k_panel_and_reads_reach_one():
    """The 24 windows (~48 kb) of the GIAB trio hold 3 of the 99,996 markers of
    1000g-100k-GRCh38; the reads (which cover only part of each window) reach 1 of them."""
    panel = load_builtin("1000g-100k-GRCh38")
    assert panel.n_markers == 99_996
    assert _markers_in(panel, GIAB / "regions.grch38.bed") == ["chr5:97089755", "chr8:125786767",
                                                               "chr19:15035087"]
    with pysam.AlignmentFile(str(GIAB / "HG004_mother.bam")) as af:
        reached = {m: af.count(m.split(":")[0], int(m.split(":")[1]) - 1, int(m.split(":")[1]))
                   for m in _markers_in(panel, GIAB / "regions.grch38.bed")}
    assert reached["chr5:97089755"] > 0 and reached["chr8:125786767"] == 0 and reached["chr19:15035087"] == 0


@needs_giab
@pytest.mark.parametrize("mode", ["no-family", "trio-ped"])
def test_run__giab_mother_with_the_100k_panel_ends_with_a_clear_warning(tmp_path, capsys, mode):
    """`run` on HG004 (GRCh38, 24 small windows, no @RG) with --sites builtin:1000g-100k-GRCh38:
    exit 0 and a one-line warning that only 1 of the 99,996 sites has reads, so the estimates
    say next to nothing (they are still written: CI [0, ~1]); no traceback."""
    out = tmp_path / "out"
    argv = ["run", str(GIAB / "HG004_mother.bam"), "--sites", "builtin:1000g-100k-GRCh38", "--outdir", str(out),
            "--no-report"]
    if mode == "no-family":
        argv += ["--relationship", "child"]
    else:  # the trio, nobody typed: HG004 host, her son HG002 the donor
        ped = tmp_path / "aj.ped"
        ped.write_text("aj\tHG003_father\t0\t0\t1\t0\naj\tHG004_mother\t0\t0\t2\t0\n"
                       "aj\tHG002_child\tHG003_father\tHG004_mother\t1\t0\n")
        argv += ["--pedigree", str(ped), "--host", "HG004_mother", "--donors", "HG002_child"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert ("microchimera: warning: only 1 of the 99,996 sites (0.001%) have usable reads: the alignments "
            "cover little of the site list") in err
    doc = json.loads((out / "result.json").read_text())
    assert doc["sites"]["in_counts"] == 99_996 and doc["sites"]["used"] == 1 and doc["sites"]["informative"] == 1
    assert any(w.startswith("only 1 of the 99,996 sites") for w in doc["warnings"])
    donor = doc["donors"][0]
    assert donor["name"] == ("child" if mode == "no-family" else "HG002_child") and not donor["detected"]
    assert donor["ci95"][0] == 0 and donor["ci95"][1] > 0.9


@needs_giab
@pytest.mark.parametrize("command", ["count", "run"])
def test_wrong_build__grch37_panel_on_the_grch38_giab_bam_is_a_one_line_error(tmp_path, capsys, command):
    bam = GIAB / "HG004_mother.bam"
    argv = [command, str(bam), "--sites", "builtin:1000g-100k-GRCh37"]
    argv += (["--out", str(tmp_path / "c.parquet")] if command == "count"
             else ["--relationship", "child", "--outdir", str(tmp_path / "out")])
    assert main(argv) == 1  # InputError: a data problem
    line = _error_line(capsys)
    assert line == (f"microchimera: error: {bam} is GRCh38 (chr1: 248,956,422 bp, chr2: 242,193,529 bp) but panel "
                    "1000g-100k-GRCh37 is GRCh37 (1: 249,250,621 bp, 2: 243,199,373 bp); the built-in panel for "
                    "GRCh38 is builtin:1000g-100k-GRCh38")
    assert not (tmp_path / "c.parquet").exists() and not (tmp_path / "out").exists()


@needs_ceph
def test_wrong_build__grch38_panel_on_a_grch37_bam(tmp_path, capsys):
    bam = CEPH / "NA12892.chr20.10_10p1mb_sorted.bam"
    assert main(["count", str(bam), "--sites", "builtin:1000g-10k-GRCh38", "--out", str(tmp_path / "c.parquet")]) == 1
    line = _error_line(capsys)
    assert (f"{bam} is GRCh37 (1: 249,250,621 bp, 2: 243,199,373 bp) but panel 1000g-10k-GRCh38 is GRCh38 "
            "(chr1: 248,956,422 bp, chr2: 242,193,529 bp); the built-in panel for GRCh37 is "
            "builtin:1000g-10k-GRCh37") in line


@needs_giab
@needs_ceph
def test_build_lengths_are_those_of_the_real_headers():
    """The GRCh38 table is the GIAB BAM's @SQ chr1-chr22, chrX (GRCh38 analysis set); the
    GRCh37 table is the CEPH BAM's 1-22, X (hs37d5); each header is told its build."""
    for bam, build in ((GIAB / "HG004_mother.bam", "GRCh38"), (CEPH / "NA12892.chr20.10_10p1mb_sorted.bam", "GRCh37")):
        with pysam.AlignmentFile(str(bam)) as af:
            header = dict(zip(af.references, af.lengths, strict=True))
            assert build_of(af.references, af.lengths)[0] == build
        assert {k: header.get(("chr" if build == "GRCh38" else "") + k) for k in LENGTHS[build]} == LENGTHS[build]


def test_build_of__a_simulated_or_mixed_header_has_no_build():
    assert build_of(["chr1", "chr2", "chrX"], [2_000_000, 2_000_000, 200_000]) == (None, [])
    assert build_of(["1", "2"], [LENGTHS["GRCh37"]["1"], LENGTHS["GRCh38"]["2"]]) == (None, [])
    assert build_of(["chr1", "chrUn"], [LENGTHS["GRCh38"]["1"], 1000]) == ("GRCh38", [("chr1", 248_956_422)])


def test_builtin_panel_of__only_the_panels_themselves():
    sites = read_sites("builtin:1000g-10k-GRCh37")
    assert builtin_panel_of(sites) == ("1000g-10k-GRCh37", "GRCh37")
    assert builtin_panel_of(read_sites("builtin:1000g-100k-GRCh38")) == ("1000g-100k-GRCh38", "GRCh38")
    assert builtin_panel_of(sites.take(np.arange(10))) is None


# ----------------------------------------------------------------------------- no-chr BAM

#: Reads per chosen marker: (allele, strand, MAPQ, base quality at the site); a pair's two
#: mates overlap the marker and both show ALT (quality 40 and 30): one fragment, on the
#: strand of the better mate (forward).
_READS = [("ref", "+", 60, 35)] * 3 + [("alt", "-", 60, 35)] * 2 + [("ref", "-", 60, 35)] + [
    ("alt", "+", 5, 35),     # MAPQ 5 < 20: filtered
    ("alt", "+", 60, 10),    # base quality 10 < 20: not counted
    ("other", "+", 60, 35),  # neither REF nor ALT
]
_LEN = 100


def _no_chr_bam(tmp_path: Path, panel_name: str, lengths: dict, step: int = 200) -> tuple[Path, np.ndarray, dict]:
    """A BAM whose contigs are ``1``..``22``, ``X``, ``Y`` (``lengths``) with reads at 40 markers
    of ``panel_name`` (every ``step``-th, none with another marker within 2 x the read length);
    returns the BAM, the markers' indexes and the expected counts per strand column."""
    panel = load_builtin(panel_name)
    s = panel.sites
    close = np.zeros(s.n_sites, bool)
    near = (np.diff(s.contig_id) == 0) & (np.diff(s.pos) < 2 * _LEN)
    close[1:] |= near
    close[:-1] |= near
    chosen = [i for i in range(0, s.n_sites, step) if not close[i]][:40]
    assert len(chosen) == 40 and len({s.contig_id[i] for i in chosen}) >= 10
    names = [*map(str, range(1, 23)), "X", "Y"]
    head = ["@HD\tVN:1.6\tSO:unsorted", *(f"@SQ\tSN:{n}\tLN:{lengths[n]}" for n in names),
            "@RG\tID:rg\tSM:nochr"]
    expect = {k: np.zeros(s.n_sites, np.int64) for k in ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev",
                                                         "other_fwd", "other_rev")}
    rows = []
    rng = np.random.default_rng(7)
    for i in chosen:
        chrom = s.contigs[s.contig_id[i]].removeprefix("chr")
        ref, alt = "ACGT"[s.ref[i]], "ACGT"[s.alt[i]]
        other = next(b for b in "ACGT" if b not in (ref, alt))
        letter = {"ref": ref, "alt": alt, "other": other}
        for k, (allele, strand, mapq, bq) in enumerate(_READS):
            off = int(rng.integers(5, _LEN - 5))  # the marker's offset in the read
            seq = list(rng.choice(list("ACGT"), _LEN))
            seq[off] = letter[allele]
            qual = ["I"] * _LEN
            qual[off] = chr(33 + bq)
            rows.append(f"r{i}_{k}\t{16 if strand == '-' else 0}\t{chrom}\t{s.pos[i] - off + 1}\t{mapq}\t{_LEN}M\t*\t0\t0\t"
                        f"{''.join(seq)}\t{''.join(qual)}\tRG:Z:rg")
            if mapq >= 20 and bq >= 20:
                expect[f"{allele}_{'rev' if strand == '-' else 'fwd'}"][i] += 1
        start1, start2 = s.pos[i] - 30 + 1, s.pos[i] - 60 + 1  # mates at offsets 30 and 60
        for flag, start, off, bq, mstart in ((99, start1, 30, 40, start2), (147, start2, 60, 30, start1)):
            seq = list("C" * _LEN)
            seq[off] = alt
            qual = ["I"] * _LEN
            qual[off] = chr(33 + bq)
            rows.append(f"p{i}\t{flag}\t{chrom}\t{start}\t60\t{_LEN}M\t=\t{mstart}\t0\t{''.join(seq)}\t"
                        f"{''.join(qual)}\tRG:Z:rg")
        expect["alt_fwd"][i] += 1
    bam = sam_to_bam("\n".join(head + rows) + "\n", tmp_path / "nochr.bam")
    return bam, np.array(chosen), expect


_GRCH37_NOCHR = {**LENGTHS["GRCh37"], "Y": 59_373_566}
_GRCH38_NOCHR = {**LENGTHS["GRCh38"], "Y": 57_227_415}
_UNKNOWN = {k: v + 1 for k, v in _GRCH37_NOCHR.items()}  # matches neither build: not checked


@pytest.mark.parametrize(("panel", "lengths"), [
    ("1000g-10k-GRCh37", _GRCH37_NOCHR),   # panel contigs 1, 2, ...: the names match as they are
    ("1000g-10k-GRCh38", _GRCH38_NOCHR),   # panel contigs chr1, chr2, ...: matched across the prefix
    ("1000g-10k-GRCh37", _UNKNOWN),        # a header of neither build passes unchecked
])
def test_count__no_chr_bam_at_builtin_panel_markers(tmp_path, capsys, panel, lengths):
    """`count --sites builtin:NAME` on a BAM with contigs 1..22, X, Y and reads placed at 40 of
    the panel's markers: every marker's six strand counts are what the reads say (filtered
    reads and bases left out, the overlapping pair once), and every other marker has none."""
    bam, chosen, expect = _no_chr_bam(tmp_path, panel, lengths)
    out = tmp_path / "c.parquet"
    assert main(["count", str(bam), "--sites", f"builtin:{panel}", "--out", str(out)]) == 0
    assert f"nochr\tsites={load_builtin(panel).n_markers}\tcovered=40\t" in capsys.readouterr().out
    counts = read_counts(out)
    assert counts.samples == ("nochr",) and counts.n_sites == load_builtin(panel).n_markers
    for column, want in expect.items():
        np.testing.assert_array_equal(getattr(counts, column)[0], want, err_msg=column)
    assert counts.alt_fwd[0, chosen].tolist() == [1] * 40 and counts.ref_fwd[0, chosen].tolist() == [3] * 40


def test_run__no_chr_bam_with_the_100k_grch38_panel(tmp_path, capsys):
    """`run BAM --sites builtin:1000g-100k-GRCh38` (no family) on a BAM whose contigs are 1..22,
    X, Y: the reads at 40 markers are found across the missing prefix and counted as `count`
    counts them; the result says how few sites had reads."""
    panel = "1000g-100k-GRCh38"
    bam, chosen, expect = _no_chr_bam(tmp_path, panel, _GRCH38_NOCHR, step=2000)
    out = tmp_path / "out"
    assert main(["run", str(bam), "--sites", f"builtin:{panel}", "--relationship", "child", "--outdir", str(out),
                 "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    n = load_builtin(panel).n_markers
    assert f"only 40 of the {n:,} sites" in err
    counts = read_counts(out / "counts.parquet")
    np.testing.assert_array_equal(counts.alt_fwd[0], expect["alt_fwd"])
    np.testing.assert_array_equal(counts.ref_rev[0], expect["ref_rev"])
    doc = json.loads((out / "result.json").read_text())
    assert doc["sites"]["in_counts"] == n and doc["donors"][0]["name"] == "child"


def test_count__no_chr_grch37_bam_with_a_grch38_panel_is_a_one_line_error(tmp_path, capsys):
    bam, _, _ = _no_chr_bam(tmp_path, "1000g-10k-GRCh37", _GRCH37_NOCHR)
    assert main(["count", str(bam), "--sites", "builtin:1000g-10k-GRCh38", "--out", str(tmp_path / "c.parquet")]) == 1
    assert (f"{bam} is GRCh37 (1: 249,250,621 bp, 2: 243,199,373 bp) but panel 1000g-10k-GRCh38 is GRCh38 "
            "(chr1: 248,956,422 bp, chr2: 242,193,529 bp)") in _error_line(capsys)
