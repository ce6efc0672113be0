"""Allele counting: hand-made edge cases, the kernel against tests/helpers/reference.py, bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pysam
import pytest
from helpers.bam import sam_to_bam
from helpers.reference import reference_count

from microchimera.count import CountResult, _bgzf, count_alleles, counting
from microchimera.errors import InputError, UsageError
from microchimera.io.sites import SiteTable, read_sites
from microchimera.options import CountFilters

DATA = Path(__file__).parent / "data"


# ----------------------------------------------------------------------------- random BAMs
def _random_bam(path, rng, *, n_pairs=1500, contigs=(("chr1", 20000), ("chr2", 8000)), site_step=23):
    """A coordinate-sorted, indexed BAM full of awkward reads, and its SiteTable.

    Overlapping and identical-start mates, duplicates, secondary/supplementary/QC-fail
    records, low MAPQ, soft clips, insertions, deletions, N skips, N bases, low and missing
    base qualities, orphans (mate absent), unmapped mates, mates on another contig,
    single-end reads.  Mates carry independent sequencing errors, so they sometimes disagree.
    """
    refs = {name: rng.choice(list("ACGT"), size=length) for name, length in contigs}
    records, site_rows = [], []
    for name, length in contigs:
        pos = np.arange(150, length - 150, site_step) + rng.integers(0, 8, size=len(range(150, length - 150, site_step)))
        for p in pos:
            ref = refs[name][p]
            alt = rng.choice([b for b in "ACGT" if b != ref])
            site_rows.append((name, int(p), ref, alt, None))
    sites = SiteTable.from_records(site_rows, contigs=[c for c, _ in contigs])
    alt_of = {(sites.contigs[c], int(p)): "ACGT"[a] for c, p, a in zip(sites.contig_id, sites.pos, sites.alt, strict=True)}

    def make_read(contig, start, n_aligned, hap):
        """Return (cigar, seq, quals) of a read aligned from ``start``, with random events."""
        ops, seq = [], []
        if rng.random() < 0.2:
            k = int(rng.integers(1, 12))
            ops.append((4, k))
            seq += list(rng.choice(list("ACGT"), size=k))
        ref, left = start, n_aligned
        while left > 0:
            m = int(min(left, rng.integers(5, 60)))
            ops.append((0, m))
            for p in range(ref, ref + m):
                b = hap.get(p, refs[contig][p])
                u = rng.random()
                if u < 0.03:
                    b = rng.choice(list("ACGTN"))
                seq.append(b)
            ref += m
            left -= m
            if left > 0:
                u = rng.random()
                if u < 0.15:
                    k = int(rng.integers(1, 4))
                    ops.append((1, k))
                    seq += list(rng.choice(list("ACGT"), size=k))
                elif u < 0.3:
                    k = int(rng.integers(1, 4))
                    ops.append((2, k))
                    ref += k
                elif u < 0.35:
                    k = int(rng.integers(20, 200))
                    ops.append((3, k))
                    ref += k
        if rng.random() < 0.2:
            k = int(rng.integers(1, 12))
            ops.append((4, k))
            seq += list(rng.choice(list("ACGT"), size=k))
        quals = rng.integers(2, 42, size=len(seq))
        if rng.random() < 0.01:
            quals = None
        return ops, "".join(seq), quals, ref

    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": n, "LN": ln} for n, ln in contigs], "RG": [{"ID": "r", "SM": "sim"}]}
    with pysam.AlignmentFile(str(path) + ".unsorted.bam", "wb", header=header) as out:
        def seg(qname, flag, tid, pos, mapq, cigar, seq, quals, mtid, mpos):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.flag, a.reference_id, a.reference_start = qname, flag, tid, pos
            a.mapping_quality, a.cigartuples, a.query_sequence = mapq, cigar, seq
            if quals is not None:
                a.query_qualities = pysam.qualitystring_to_array("".join(chr(33 + int(q)) for q in quals))
            a.next_reference_id, a.next_reference_start = mtid, mpos
            a.set_tag("RG", "r")
            return a

        for i in range(n_pairs):
            tid = int(rng.integers(0, len(contigs)))
            contig, length = contigs[tid]
            start = int(rng.integers(0, length - 900))
            hap = {p: (alt_of[(contig, p)] if rng.random() < 0.3 else refs[contig][p])
                   for p in range(start, start + 800) if (contig, p) in alt_of}
            len1, len2 = int(rng.integers(40, 110)), int(rng.integers(40, 110))
            insert = int(rng.integers(40, 400))
            start2 = start if rng.random() < 0.05 else start + max(0, insert - len2)
            c1, s1, q1, _ = make_read(contig, start, len1, hap)
            c2, s2, q2, _ = make_read(contig, start2, len2, hap)
            mapq1, mapq2 = (int(x) for x in rng.choice([0, 5, 30, 60], p=[.05, .05, .3, .6], size=2))
            name = f"frag{i}"
            u = rng.random()
            if u < 0.05:  # single-end read
                records.append(seg(name, 16 * int(rng.random() < .5), tid, start, mapq1, c1, s1, q1, -1, -1))
                continue
            proper = 0x2 if rng.random() < 0.9 else 0
            f1, f2 = 0x1 | proper | 0x40 | 0x20, 0x1 | proper | 0x80 | 0x10
            if rng.random() < 0.3:  # read 2 leftmost
                f1, f2 = f1 ^ 0x30, f2 ^ 0x30
            extra = 0x400 if rng.random() < 0.05 else 0
            f1 |= extra
            f2 |= extra
            if u < 0.08:  # mate unmapped, placed at read 1
                records.append(seg(name, f1 | 0x8, tid, start, mapq1, c1, s1, q1, tid, start))
                records.append(seg(name, (f2 | 0x4) & ~0x2, tid, start, 0, None, s2, q2, tid, start))
                continue
            tid2, pos2 = tid, start2
            if u < 0.10:  # mate on the other contig
                tid2 = 1 - tid
            r1 = seg(name, f1 | (0x200 if rng.random() < .02 else 0), tid, start, mapq1, c1, s1, q1, tid2, pos2)
            r2 = seg(name, f2 | (0x200 if rng.random() < .02 else 0), tid2, pos2, mapq2, c2, s2, q2, tid, start)
            records.append(r1)
            if rng.random() > 0.05:  # else: orphan, mate missing from the slice
                records.append(r2)
            if rng.random() < 0.03:
                records.append(seg(name, f1 | 0x100, tid, int(rng.integers(0, length - 200)), 0, c1, s1, q1, tid2, pos2))
            if rng.random() < 0.02:
                records.append(seg(name, f2 | 0x800, tid, int(rng.integers(0, length - 200)), 60, c2, s2, q2, tid, start))
            if rng.random() < 0.04:  # a PCR duplicate of the pair under another name
                records.append(seg(name + "d", f1 | 0x400, tid, start, mapq1, c1, s1, q1, tid2, pos2))
                records.append(seg(name + "d", f2 | 0x400, tid2, pos2, mapq2, c2, s2, q2, tid, start))
        for a in records:
            out.write(a)
    sam_to_bam(Path(str(path) + ".unsorted.bam"), path)
    Path(str(path) + ".unsorted.bam").unlink()
    return path, sites


@pytest.fixture(scope="session")
def random_bam_fixture(tmp_path_factory):
    d = tmp_path_factory.mktemp("random")
    bam, sites = _random_bam(d / "sim.bam", np.random.default_rng(20240601))
    assert pysam.AlignmentFile(str(bam)).mapped > 2000  # guard: the fixture is not trivially small
    return bam, sites


def _stack(counts, sample=0):
    return np.stack([getattr(counts, c)[sample] for c in
                     ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev")])


def _fragment_tuples(frags):
    out = {}
    for i in range(frags.n_rows):
        out.setdefault(int(frags.fragment[i]), []).append(
            (int(frags.site[i]), int(frags.allele[i]), int(frags.base_qual[i]), bool(frags.reverse[i]),
             int(frags.mates[i])))
    return sorted(tuple(v) for v in out.values())


# ----------------------------------------------------------------------------- edge cases
def test_count_alleles__hand_made_edge_cases(edge_bam_fixture):
    bam, sites = edge_bam_fixture
    counts = count_alleles([bam], sites)
    assert counts.samples == ("edge",)
    # rows ref_fwd, ref_rev, alt_fwd, alt_rev, other_fwd, other_rev; columns sites 50, 60, 70
    expected = np.array([[1, 2, 1],
                         [0, 0, 1],
                         [2, 2, 0],
                         [0, 0, 3],
                         [1, 0, 0],
                         [0, 0, 0]])
    np.testing.assert_array_equal(_stack(counts), expected)
    stats = counts.parameters["stats"][str(bam)]
    assert stats["mate_conflicts"] == 1
    # pairs A, B, C, F; E does not overlap, D's first mate shows no base above the quality threshold
    assert stats["overlapping_pairs_merged"] == 4


def test_count_alleles__proper_pairs_only(edge_bam_fixture):
    bam, sites = edge_bam_fixture
    counts = count_alleles([bam], sites, filters=CountFilters(require_proper_pairs=True))
    expected = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 0], [0, 0, 2], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(_stack(counts), expected)


def test_count_alleles__fragments_table(edge_bam_fixture):
    bam, sites = edge_bam_fixture
    result = count_alleles([bam], sites, fragments=True)
    assert isinstance(result, CountResult)
    # only pairE shows two sites: ref at 50 (read 1, forward), ref at 70 (read 2, reverse)
    assert _fragment_tuples(result.fragments) == [((0, 0, 40, False, 1), (2, 0, 40, True, 1))]


def test_count_alleles__agrees_with_reference_on_edge_cases(edge_bam_fixture):
    bam, sites = edge_bam_fixture
    for proper in (False, True):
        counts = count_alleles([bam], sites, filters=CountFilters(require_proper_pairs=proper))
        ref, _ = reference_count(bam, sites, require_proper_pairs=proper)
        np.testing.assert_array_equal(_stack(counts), ref)


# ----------------------------------------------------------------------------- against the reference
@pytest.mark.parametrize("min_mapq,min_baseq", [(20, 20), (0, 0), (30, 13)])
def test_count_alleles__matches_reference(random_bam_fixture, min_mapq, min_baseq):
    bam, sites = random_bam_fixture
    result = count_alleles([bam], sites, filters=CountFilters(min_mapq=min_mapq, min_baseq=min_baseq), fragments=True)
    ref, ref_frags = reference_count(bam, sites, min_mapq=min_mapq, min_baseq=min_baseq)
    np.testing.assert_array_equal(_stack(result.counts), ref)
    assert _fragment_tuples(result.fragments) == ref_frags
    stats = result.counts.parameters["stats"][str(bam)]
    assert stats["overlapping_pairs_merged"] > 50 and stats["mate_conflicts"] > 0  # the cases were exercised


def test_count_alleles__tiny_buffers_seeks_and_growth(random_bam_fixture, monkeypatch):
    """Records crossing every batch boundary, an index jump per run, minimal capacities."""
    bam, sites = random_bam_fixture
    monkeypatch.setattr(_bgzf, "CHUNK", 300)
    monkeypatch.setattr(counting, "SEEK_MIN", 0)
    monkeypatch.setattr(counting, "SPAN_GAP", 300)
    monkeypatch.setattr(counting, "_INITIAL", {"k": 1, "e": 2, "c": 1})
    monkeypatch.setattr(counting, "MIN_SITES_PER_FRAGMENT_SLICE", 1)
    result = count_alleles([bam], sites, fragments=True, threads=2)
    ref, ref_frags = reference_count(bam, sites)
    np.testing.assert_array_equal(_stack(result.counts), ref)
    assert _fragment_tuples(result.fragments) == _split_at_cuts(ref_frags, bam, sites, 2)


def _split_at_cuts(frags, bam, sites, threads):
    """The reference fragments as ``threads`` slices see them: each cut at the slices' site
    boundaries, the pieces showing two or more sites kept (the documented behaviour)."""
    info = counting.open_alignments(bam)
    parts = counting._split(counting._plan(sites, info), counting._read_bai(info), threads)
    part_of = np.empty(sites.n_sites, np.int64)
    for k, part in enumerate(parts):
        part_of[part.order] = k
    return _pieces(frags, part_of)


def _pieces(frags, part_of):
    pieces = []
    for rows in frags:
        for k in sorted({int(part_of[r[0]]) for r in rows}):
            piece = tuple(r for r in rows if part_of[r[0]] == k)
            if len(piece) >= 2:
                pieces.append(piece)
    return sorted(pieces)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_count_alleles__threads_with_fragments(random_bam_fixture, threads, monkeypatch):
    """Fragments counted in slices: the same counts as one kernel, and the same fragments
    except those straddling a cut, which are split there (and must be, for the test to
    mean anything: some are).  The fixture's panel is small: let it be cut anyway."""
    monkeypatch.setattr(counting, "MIN_SITES_PER_FRAGMENT_SLICE", 1)
    bam, sites = random_bam_fixture
    one = count_alleles([bam], sites, fragments=True)
    many = count_alleles([bam], sites, fragments=True, threads=threads)
    np.testing.assert_array_equal(_stack(many.counts), _stack(one.counts))
    whole = _fragment_tuples(one.fragments)
    expected = _split_at_cuts(whole, bam, sites, threads)
    assert _fragment_tuples(many.fragments) == expected
    assert len(np.unique(many.fragments.fragment)) == len(expected)  # ids unique across slices
    assert expected != whole  # some fragment straddles a cut in this fixture


def test_count_alleles__small_panels_are_not_cut_for_fragments(random_bam_fixture, monkeypatch):
    """Fewer than twice MIN_SITES_PER_FRAGMENT_SLICE sites: one kernel whatever --threads, no
    fragment lost (the fixture's 1,192 sites against a minimum raised to 600)."""
    bam, sites = random_bam_fixture
    monkeypatch.setattr(counting, "MIN_SITES_PER_FRAGMENT_SLICE", 600)
    assert sites.n_sites < 2 * counting.MIN_SITES_PER_FRAGMENT_SLICE
    one = _fragment_tuples(count_alleles([bam], sites, fragments=True).fragments)
    assert _fragment_tuples(count_alleles([bam], sites, fragments=True, threads=4).fragments) == one


def test_merge_fragments__regions_of_a_cohort_sample(random_bam_fixture):
    """A cohort sample counted region by region: the merged fragments are the whole count's,
    each cut at the region boundaries (as with --threads), on the whole panel's site indices."""
    from microchimera.cohort.sample import merge_fragments, plan_regions
    from microchimera.io.contigs import region_mask

    bam, sites = random_bam_fixture
    whole = _fragment_tuples(count_alleles([bam], sites, fragments=True).fragments)
    regions = plan_regions(sites, 6)
    parts = [count_alleles([bam], sites, fragments=True, region=r).fragments for r in regions]
    merged = merge_fragments(sites, regions, parts)
    part_of = np.empty(sites.n_sites, np.int64)
    for k, r in enumerate(regions):
        part_of[region_mask(r, sites)] = k
    expected = _pieces(whole, part_of)
    assert _fragment_tuples(merged) == expected and expected != whole
    assert len(regions) >= 4 and merged.sites is sites


@pytest.mark.parametrize("tiny", [False, True])
def test_count_alleles__threads_split_sites_same_counts(random_bam_fixture, monkeypatch, tiny):
    """threads > 1 counts slices of the sites with separate readers and kernels: same counts
    as one kernel and as the reference, across contigs, with tiny buffers too."""
    bam, sites = random_bam_fixture
    if tiny:
        # no byte estimate from the index: cuts by site counts, inside and between contigs
        split = counting._split
        monkeypatch.setattr(counting, "_split", lambda spans, bai, parts: split(spans, [], parts))
        monkeypatch.setattr(_bgzf, "CHUNK", 300)
        monkeypatch.setattr(counting, "SEEK_MIN", 0)
        monkeypatch.setattr(counting, "SPAN_GAP", 300)
        monkeypatch.setattr(counting, "_INITIAL", {"k": 1, "e": 2, "c": 1})
    one = _stack(count_alleles([bam], sites, threads=1))
    ref, _ = reference_count(bam, sites)
    np.testing.assert_array_equal(one, ref)
    for threads in (2, 3, 7):
        np.testing.assert_array_equal(_stack(count_alleles([bam], sites, threads=threads)), one)
        np.testing.assert_array_equal(_stack(count_alleles([bam], sites, threads=threads, filters=CountFilters(require_proper_pairs=True))),
                                      _stack(count_alleles([bam], sites, filters=CountFilters(require_proper_pairs=True))))
    info = counting.open_alignments(bam)
    spans = counting._plan(sites, info)
    parts = counting._split(spans, counting._read_bai(info), 7)
    assert len(parts) >= (7 if tiny else 2)
    assert np.array_equal(np.concatenate([p.order for p in parts]), spans.order)
    if tiny:  # some slice starts inside a contig, some slice spans two
        assert any(p.runs[0][1] > spans.pos[spans.tid_start[p.runs[0][0]]] for p in parts)
        assert any(len({r[0] for r in p.runs}) == 2 for p in parts)


def test_count_alleles__pysam_path_matches(random_bam_fixture, tmp_path):
    """BAM with only a CSI index goes through pysam; same numbers."""
    bam, sites = random_bam_fixture
    copy = tmp_path / "csi.bam"
    shutil.copy(bam, copy)
    pysam.index("-c", str(copy))
    result = count_alleles([copy], sites, fragments=True)
    ref, ref_frags = reference_count(bam, sites)
    np.testing.assert_array_equal(_stack(result.counts), ref)
    assert _fragment_tuples(result.fragments) == ref_frags


def test_count_alleles__region_restricts_sites(random_bam_fixture):
    bam, sites = random_bam_fixture
    counts = count_alleles([bam], sites, region="chr2:1001-3000")
    inside = (sites.chrom == "chr2") & (sites.pos >= 1000) & (sites.pos < 3000)
    assert counts.n_sites == inside.sum()
    ref, _ = reference_count(bam, sites)
    np.testing.assert_array_equal(_stack(counts), ref[:, inside])


def test_count_alleles__chr_prefix_matched(edge_bam_fixture, tmp_path, caplog):
    bam, _ = edge_bam_fixture
    tsv = tmp_path / "s.tsv"
    tsv.write_text((DATA / "count_edge_sites.tsv").read_text().replace("chr1", "1"))
    with caplog.at_level("INFO"):
        counts = count_alleles([bam], read_sites(tsv))
    assert "chr" in caplog.text
    assert counts.alt_count.sum() == 7


def test_count_alleles__same_sample_files_add(edge_bam_fixture, tmp_path):
    bam, sites = edge_bam_fixture
    copy = tmp_path / "again.bam"
    shutil.copy(bam, copy)
    shutil.copy(str(bam) + ".bai", str(copy) + ".bai")
    one = count_alleles([bam], sites)
    two = count_alleles([bam, copy], sites)
    assert two.samples == ("edge",)
    np.testing.assert_array_equal(two.depth, 2 * one.depth)


# ----------------------------------------------------------------------------- bad input
def test_count_alleles__missing_index(edge_bam_fixture, tmp_path):
    bam, sites = edge_bam_fixture
    copy = tmp_path / "noindex.bam"
    shutil.copy(bam, copy)
    with pytest.raises(InputError, match=r"no index.*\(build_index=\)"):
        count_alleles([copy], sites)
    counts = count_alleles([copy], sites, build_index=True)
    assert (tmp_path / "noindex.bam.bai").exists() and counts.depth.sum() > 0


def test_count_alleles__truncated_bam(edge_bam_fixture, tmp_path):
    bam, sites = edge_bam_fixture
    cut = tmp_path / "cut.bam"
    cut.write_bytes(bam.read_bytes()[:-40])
    with pytest.raises(InputError, match="truncated"):
        count_alleles([cut], sites, build_index=True)


def test_count_alleles__unknown_contigs(edge_bam_fixture, tmp_path):
    bam, _ = edge_bam_fixture
    tsv = tmp_path / "s.tsv"
    tsv.write_text("chrom\tpos\tref\talt\nchrZZ\t5\tA\tC\n")
    with pytest.raises(InputError, match=r"contigs not found: chrZZ.*available: chr1"):
        count_alleles([bam], read_sites(tsv))


def test_count_alleles__cram_needs_reference(edge_bam_fixture, tmp_path):
    bam, sites = edge_bam_fixture
    fa = tmp_path / "ref.fa"
    fa.write_text(">chr1\n" + "A" * 49 + "A" + "C" * 9 + "C" + "G" * 9 + "G" + "T" * 130 + "\n")
    pysam.faidx(str(fa))
    cram = tmp_path / "edge.cram"
    pysam.view("-C", "-T", str(fa), "-o", str(cram), str(bam), catch_stdout=False)
    pysam.index(str(cram))
    with pytest.raises(InputError, match="CRAM needs the reference"):
        count_alleles([cram], sites)
    counts = count_alleles([cram], sites, reference=fa)
    np.testing.assert_array_equal(counts.depth, count_alleles([bam], sites).depth)


def test_count_alleles__reference_mismatch(edge_bam_fixture, tmp_path):
    bam, sites = edge_bam_fixture
    fa = tmp_path / "wrong.fa"
    fa.write_text(">chr1\n" + "T" * 200 + "\n")
    pysam.faidx(str(fa))
    with pytest.raises(InputError, match=r"3 of 3 sites .*chr1:50 REF=A FASTA=T"):
        count_alleles([bam], sites, reference=fa)


def test_count_alleles__bad_region_and_threads(edge_bam_fixture):
    bam, sites = edge_bam_fixture
    with pytest.raises(UsageError, match="not among"):
        count_alleles([bam], sites, region="chr9:1-5")
    with pytest.raises(InputError, match="no site inside"):
        count_alleles([bam], sites, region="chr1:1-10")
    with pytest.raises(UsageError, match="threads"):
        count_alleles([bam], sites, threads=0)


def test_count_alleles__several_samples_in_one_bam(edge_bam_fixture, tmp_path):
    _, sites = edge_bam_fixture
    text = (DATA / "count_edge.sam").read_text().replace("@RG\tID:rg1\tSM:edge\n", "@RG\tID:rg1\tSM:a\n@RG\tID:rg2\tSM:b\n")
    bam = sam_to_bam(text, tmp_path / "two.bam")
    with pytest.raises(InputError, match="2 samples"):
        count_alleles([bam], sites)


# ----------------------------------------------------------------------------- simulator BAM
def test_count_alleles__matches_reference_on_simulator_bam(tiny_family_fixture):
    bam, sites = tiny_family_fixture.bams["mother_mix"], read_sites(tiny_family_fixture.sites_vcf)
    result = count_alleles([bam], sites, fragments=True)
    ref, ref_frags = reference_count(bam, sites)
    np.testing.assert_array_equal(_stack(result.counts), ref)
    assert _fragment_tuples(result.fragments) == ref_frags
    stats = result.counts.parameters["stats"][str(bam)]
    assert stats["skipped_flag"] > 0 and stats["overlapping_pairs_merged"] > 0 and len(ref_frags) > 0
