"""Counting on real reads (CEPH 1463 trio, chr20, b37) against `bcftools mpileup -a AD`.

Where semantics match (same read filters incl. supplementary, -Q20 -q20, no BAQ, no orphan
filter) the allele depths must be identical.  See docs/count.md for where they differ.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from microchimera.count import count_alleles
from microchimera.io.sites import read_sites

REAL = Path("/work/shared/data/real")
CEPH = REAL / "ceph1463_trio_chr20_b37_deeptrio"
VCF = CEPH / "test_hg001_giab_grch37_chr20_100kbp_at_10mb.vcf.gz"

pytestmark = [
    pytest.mark.skipif(not CEPH.exists(), reason="real test data not present"),
    pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed"),
]


@pytest.fixture(scope="module")
def ceph_sites_fixture():
    sites = read_sites(VCF)
    return sites.take((sites.pos >= 9_999_000) & (sites.pos < 10_011_000))


def _bcftools_ad(bam, extra=()):
    cmd = (f"bcftools mpileup -f {CEPH / 'hs37d5.chr20.fa.gz'} -r 20:9999000-10011000 -T {VCF} -a AD "
           f"-A -B -Q20 -q20 -d 100000 {' '.join(extra)} -Ou {bam} 2>/dev/null "
           "| bcftools query -f '%POS\\t%ALT\\t[%AD]\\n'")
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        pos, alt, ad = line.split("\t")
        ads = [int(x) for x in ad.split(",")]
        result[int(pos)] = (ads[0], dict(zip(alt.split(","), ads[1:], strict=True)))
    return result


@pytest.mark.parametrize("name", ["HG001", "NA12891", "NA12892"])
def test_count_alleles__equals_bcftools_ad_on_ceph_trio(ceph_sites_fixture, name):
    sites = ceph_sites_fixture
    bam = CEPH / f"{name}.chr20.10_10p1mb_sorted.bam"
    counts = count_alleles([bam], sites)
    assert counts.samples == (name,)
    # --ff 0xF04: also drop supplementary alignments, which bcftools keeps by default.
    bc = _bcftools_ad(bam, ["--ff", str(0x4 | 0x100 | 0x200 | 0x400 | 0x800)])
    compared = 0
    for i in range(sites.n_sites):
        pos = int(sites.pos[i]) + 1
        if pos not in bc:
            assert counts.depth[0, i] == 0
            continue
        ref, alts = bc[pos]
        assert (int(counts.ref_count[0, i]), int(counts.alt_count[0, i])) == (ref, alts.get("ACGT"[sites.alt[i]], 0)), pos
        compared += 1
    assert compared >= 50


def test_count_alleles__bcftools_default_keeps_supplementary(ceph_sites_fixture):
    """The one difference on this data: bcftools' default filter counts supplementary reads."""
    bam = CEPH / "HG001.chr20.10_10p1mb_sorted.bam"
    counts = count_alleles([bam], ceph_sites_fixture)
    bc = _bcftools_ad(bam)
    ours = {int(p) + 1: int(r) for p, r in zip(ceph_sites_fixture.pos, counts.ref_count[0], strict=True)}
    shared = [p for p in bc if p in ours]
    assert sum(bc[p][0] for p in shared) > sum(ours[p] for p in shared)


def test_count_alleles__chr_named_bam_with_b37_sites(ceph_sites_fixture):
    """NA12878_S1 (contig 'chr20') against the b37 VCF (contig '20'): matched by prefix."""
    bam = REAL / "na12878_hg002_chr20_100kb_b37_deepvariant" / "NA12878_S1.chr20.10_10p1mb.bam"
    if not bam.exists():
        pytest.skip("set 3 not present")
    counts = count_alleles([bam], ceph_sites_fixture)
    assert counts.samples == ("NA12878",)
    assert np.median(counts.depth[0]) > 20
