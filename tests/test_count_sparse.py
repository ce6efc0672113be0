"""Counting at sparse sites on a whole-genome BAM (issue 17): the reader jumps by the BAI
linear index to each site's reads instead of inflating every block, with the same counts."""
from __future__ import annotations

import numpy as np
import pytest
from helpers.reference import reference_count
from helpers.wgs import simulate_wgs

from microchimera.count import _bgzf, count_alleles, counting
from microchimera.io.sites import SiteTable


@pytest.fixture(scope="module")
def wgs_fixture(tmp_path_factory):
    """Reads tiling two 1.5 Mb autosomes (~10x) and 100 sites at uniform random positions
    (one per ~30 kb, a genome-wide panel's density); returns (BAM, sites)."""
    d = tmp_path_factory.mktemp("wgs")
    return simulate_wgs(d, 17)


def _stack(counts):
    return np.stack([getattr(counts, c)[0] for c in
                     ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev")])


def _inflated_blocks(monkeypatch) -> list:
    """Count the BGZF blocks the reader inflates (one list entry per batch)."""
    seen = []
    inflate = _bgzf._inflate

    def counting_inflate(raw, blocks, base, path):
        seen.append(len(blocks))
        return inflate(raw, blocks, base, path)

    monkeypatch.setattr(_bgzf, "_inflate", counting_inflate)
    return seen


def test_sparse_sites__jumps_inflate_a_fraction_of_the_blocks_with_the_same_counts(wgs_fixture, monkeypatch):
    bam, sites = wgs_fixture
    seen = _inflated_blocks(monkeypatch)
    jumped = count_alleles([bam], sites)
    jumped_blocks = sum(seen)
    seen.clear()
    monkeypatch.setattr(counting, "SEEK_MIN", 1 << 40)  # never jump: stream every block
    streamed = count_alleles([bam], sites)
    streamed_blocks = sum(seen)
    np.testing.assert_array_equal(_stack(jumped), _stack(streamed))
    assert (_stack(jumped).sum(axis=0) > 0).mean() > 0.9  # the sites have reads
    # one 16 kb window of reads per site at most, of ~30 kb between sites
    assert jumped_blocks < 0.6 * streamed_blocks, (jumped_blocks, streamed_blocks)


@pytest.fixture(scope="module")
def clustered_fixture(wgs_fixture):
    """The sparse sites and, next to each, sites in the same 16 kb window, the next window and
    40 kb on; with the reference counts and fragments (tests/helpers/reference.py)."""
    bam, sites = wgs_fixture
    records = {(c, int(p)): (c, int(p), "ACGT"[sites.ref[i]], "ACGT"[sites.alt[i]], None)
               for i, (c, p) in enumerate(zip(sites.chrom, sites.pos, strict=True))}
    for c, p in list(records):
        for d in (150, 9_000, 17_000, 40_000):
            if p + d < 1_500_000:
                records.setdefault((c, p + d), (c, p + d, "A", "G", None))
    clustered = SiteTable.from_records(records.values(), contigs=sites.contigs)
    return bam, clustered, reference_count(bam, clustered)


@pytest.mark.parametrize("threads", [1, 2])
def test_sparse_sites__clusters_tiny_reads_and_fragments_same_as_reference(clustered_fixture, monkeypatch, threads):
    """Neighbouring sites mix reading on, skipping inside a batch and jumping; tiny reads after
    each jump cross every block boundary.  Counts and fragments equal the reference's."""
    bam, clustered, (ref, ref_frags) = clustered_fixture
    monkeypatch.setattr(_bgzf, "JUMP_READ", 1)
    monkeypatch.setattr(counting, "SEEK_MIN", 1 << 12)
    got = count_alleles([bam], clustered, fragments=threads == 1, threads=threads)
    np.testing.assert_array_equal(_stack(got.counts if threads == 1 else got), ref)
    if threads == 1:
        frags = got.fragments
        mine = {}
        for i in range(frags.n_rows):
            mine.setdefault(int(frags.fragment[i]), []).append(
                (int(frags.site[i]), int(frags.allele[i]), int(frags.base_qual[i]), bool(frags.reverse[i]),
                 int(frags.mates[i])))
        assert sorted(tuple(v) for v in mine.values()) == ref_frags and ref_frags
    info = counting.open_alignments(bam)
    runs = counting._jump_runs(counting._plan(clustered, info), counting._read_bai(info))
    assert 100 < len(runs) < clustered.n_sites  # neighbours in one run, sparse sites apart
