"""Read-level simulator: BAM/VCF/FASTA outputs read back through pysam, truth agreement."""
import json
from pathlib import Path

import numpy as np
import pysam
import pytest

from microchimera.io.pedigree import read_ped
from microchimera.sim import load_scenario, simulate

PEOPLE = [
    {"id": "dad", "sex": "male"},
    {"id": "mom", "sex": "female"},
    {"id": "son", "sex": "male", "father": "dad", "mother": "mom"},
    {"id": "dau", "sex": "female", "father": "dad", "mother": "mom"},
    {"id": "loss", "sex": "female", "father": "dad", "mother": "mom", "loss": True, "typed": False},
]


def _scenario(**seq):
    sequencing = {"depth": 60, "read_length": 100, "fragment_mean": 150, "fragment_sd": 40,
                  "fragment_min": 60, "fragment_max": 300, "duplicate_rate": 0.1, "umi_length": 8,
                  "indel_rate": 0.05, "soft_clip_rate": 0.05}
    sequencing.update(seq)
    return {
        "name": "bamtest",
        "panel": {"n_sites": 600, "spacing": 400, "n_sites_x": 20},
        "sequencing": sequencing,
        "family": {"people": PEOPLE},
        "samples": [
            {"name": "mom_brain", "host": "mom", "tissue": "brain",
             "donors": {"son": 0.05, "dau": 0.03, "loss": 0.01}},
            {"name": "mom_blood", "host": "mom", "depth": 20},
        ],
    }


@pytest.fixture(scope="module")
def sim_fixture(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    res = simulate(load_scenario(_scenario()), out, np.random.default_rng(11), seed=11)
    return res


def _reads(path):
    with pysam.AlignmentFile(str(path)) as bam:
        return list(bam.fetch(until_eof=True))


def test_simulate__writes_every_output(sim_fixture):
    r = sim_fixture
    for p in (r.reference, Path(f"{r.reference}.fai"), r.sites_vcf, Path(f"{r.sites_vcf}.tbi"), r.family_vcf,
              Path(f"{r.family_vcf}.tbi"), r.ped, r.ychrom_regions, r.truth_json):
        assert p.exists() and p.stat().st_size > 0, p
    assert sorted(r.bams) == ["mom_blood", "mom_brain"]
    for bam in r.bams.values():
        assert Path(f"{bam}.bai").exists()
    truth = json.loads(r.truth_json.read_text())
    assert truth["seed"] == 11
    assert truth["genome"]["par1"][0] == ["chrX", 0, 10000]


def test_simulate__bam_fields_read_back(sim_fixture):
    r = sim_fixture
    fasta = pysam.FastaFile(str(r.reference))
    with pysam.AlignmentFile(str(r.bams["mom_brain"])) as bam:
        hd = bam.header.to_dict()
        assert hd["HD"]["SO"] == "coordinate"
        assert hd["RG"][0]["SM"] == "mom_brain"
        reads = list(bam.fetch(until_eof=True))
        # index works: region counts equal a manual overlap count
        start, end = 5000, 9000
        manual = sum(1 for a in reads if a.reference_name == "chr1" and a.reference_start < end
                     and a.reference_end > start)
        assert bam.count("chr1", start, end) == manual > 0
    keys = [(a.reference_id, a.reference_start) for a in reads]
    assert keys == sorted(keys)
    by_name = {}
    for a in reads:
        by_name.setdefault(a.query_name, []).append(a)
    assert len(by_name) > 1000 and all(len(v) == 2 for v in by_name.values())
    mism = total = 0
    for a, b in by_name.values():
        assert a.is_paired and a.is_proper_pair and a.is_read1 != b.is_read1
        assert a.is_reverse != b.is_reverse and a.mate_is_reverse == b.is_reverse
        assert a.next_reference_start == b.reference_start and b.next_reference_start == a.reference_start
        assert a.template_length == -b.template_length != 0
        assert a.get_tag("MC") == b.cigarstring and b.get_tag("MC") == a.cigarstring
        assert a.get_tag("sp") == b.get_tag("sp") in {p["id"] for p in PEOPLE}
        assert a.get_tag("RG") == "mom_brain"
        assert a.is_duplicate == b.is_duplicate
        for x in (a, b):
            assert x.mapping_quality == 60
            assert x.query_length == x.infer_query_length() == len(x.query_qualities)
            ref = fasta.fetch(x.reference_name, x.reference_start, x.reference_end)
            q = x.query_sequence
            for qpos, rpos in x.get_aligned_pairs(matches_only=True):
                total += 1
                mism += q[qpos] != ref[rpos - x.reference_start]
    # mismatches = SNP alleles (~1 site per 400 bp, alt in ~half the copies) + 1e-3 errors
    assert 0 < mism / total < 0.01


def test_simulate__errors_concentrate_at_low_quality(tmp_path):
    sc = _scenario(duplicate_rate=0.0, indel_rate=0.0, soft_clip_rate=0.0, error_rate=0.01)
    sc["samples"] = [{"name": "s", "host": "mom"}]
    sc["panel"]["n_sites_x"] = 0
    res = simulate(load_scenario(sc), tmp_path, np.random.default_rng(5))
    fasta = pysam.FastaFile(str(res.reference))
    sites = {(s.chrom, s.pos - 1) for s in pysam.VariantFile(str(res.sites_vcf))}
    err = {}
    for a in _reads(res.bams["s"]):
        ref = fasta.fetch(a.reference_name, a.reference_start, a.reference_end)
        for qpos, rpos in a.get_aligned_pairs(matches_only=True):
            if (a.reference_name, rpos) in sites:
                continue
            q = a.query_qualities[qpos]
            n, e = err.get(q, (0, 0))
            err[q] = (n + 1, e + (a.query_sequence[qpos] != ref[rpos - a.reference_start]))
    rate = {q: e / n for q, (n, e) in err.items()}
    overall = sum(e for _, e in err.values()) / sum(n for n, _ in err.values())
    assert rate[2] > 20 * rate[37]
    assert 0.006 < overall < 0.014          # the scenario's 1% overall (binomial SE ~ 1e-4)


def test_simulate__empirical_fractions_agree_with_scenario(sim_fixture):
    r = sim_fixture
    truth = json.loads(r.truth_json.read_text())["samples"][0]
    counts = {}
    for a in _reads(r.bams["mom_brain"]):
        if a.is_read1 and not a.is_duplicate and a.reference_name.startswith("chr") \
                and a.reference_name not in ("chrX", "chrY"):
            counts[a.get_tag("sp")] = counts.get(a.get_tag("sp"), 0) + 1
    n = sum(counts.values())
    assert n == truth["n_fragments_autosomal"] > 0
    assert set(truth["fractions"]) == {"son", "dau", "loss"}
    for donor, f in truth["fractions"].items():
        emp = counts.get(donor, 0) / n
        assert emp == pytest.approx(truth["empirical_fractions"][donor])
        # fragments are iid draws of a source with probability f: binomial SE sqrt(f(1-f)/n);
        # 4 SE keeps the false-failure rate of the three checks below ~2e-4
        assert abs(emp - f) < 4 * np.sqrt(f * (1 - f) / n), (donor, emp, f)


def test_simulate__overlaps_duplicates_umis_indels_clips(sim_fixture):
    reads = _reads(sim_fixture.bams["mom_brain"])
    fwd = [a for a in reads if not a.is_reverse]
    overlapping = sum(a.reference_end > a.next_reference_start for a in fwd)
    assert overlapping > 0.2 * len(fwd)   # fragments ~150 < 2 x 100 bp reads
    dup_pairs = sum(a.is_duplicate for a in fwd)
    assert 0.05 < dup_pairs / len(fwd) < 0.15   # duplicate_rate 0.1
    assert len(reads) > 100 and all(len(a.get_tag("RX")) == 8 for a in reads[:100])
    ops = {op for a in reads for op, _ in a.cigartuples}
    assert {0, 1, 2, 4} <= ops   # M, I, D, S
    # duplicates share the UMI and outer coordinates of an original fragment
    originals = {(a.reference_start, a.next_reference_start, a.get_tag("RX")) for a in fwd if not a.is_duplicate}
    dups = [a for a in fwd if a.is_duplicate and a.cigartuples[0][0] != 4]
    shared = sum((a.reference_start, a.next_reference_start, a.get_tag("RX")) in originals for a in dups)
    assert shared > 0.5 * len(dups)


def test_simulate__vcfs_and_ped_read_back(sim_fixture):
    r = sim_fixture
    with pysam.VariantFile(str(r.sites_vcf)) as vf:
        recs = list(vf)
        assert len(recs) == 620 and all(0 < rec.info["AF"][0] < 1 for rec in recs)
        assert len(list(vf.fetch("chr2", 0, 10**7))) > 0
    with pysam.VariantFile(str(r.family_vcf)) as vf:
        assert list(vf.header.samples) == ["dad", "mom", "son", "dau"]   # the loss is untyped
        x = [rec for rec in vf if rec.chrom == "chrX"]
        assert len(x) == 20                                               # panel.n_sites_x
        assert all(len(rec.samples["son"]["GT"]) == 1 for rec in x)      # haploid male X
        assert all(len(rec.samples["dau"]["GT"]) == 2 for rec in x)
    ped = read_ped(r.ped)
    assert set(ped.ids) == {"dad", "mom", "son", "dau", "loss"}
    assert ped.parents("loss") == ("dad", "mom")
    fa = pysam.FastaFile(str(r.reference))
    assert {"chr1", "chr2", "chrX", "chrY"} <= set(fa.references)
    assert fa.fetch("chrX", 0, 10000) == fa.fetch("chrY", 0, 10000)         # PAR1 shared
    truth = json.loads(r.truth_json.read_text())
    (_, xs, xe), (_, ys, ye) = truth["genome"]["xtr"]
    xtr_x, xtr_y = fa.fetch("chrX", xs, xe), fa.fetch("chrY", ys, ye)
    identity = np.mean([a == b for a, b in zip(xtr_x, xtr_y, strict=True)])
    assert 0.98 < identity < 1.0


def test_simulate__same_seed_identical_bytes_different_seed_differs(tmp_path):
    sc = load_scenario(_scenario())
    files = ("ref.fa", "sites.vcf.gz", "family.vcf.gz", "family.ped", "mom_brain.bam", "mom_brain.bam.bai",
             "truth.json")
    a = simulate(sc, tmp_path / "a", np.random.default_rng(3), seed=3).outdir
    b = simulate(sc, tmp_path / "b", np.random.default_rng(3), seed=3).outdir
    c = simulate(sc, tmp_path / "c", np.random.default_rng(4), seed=4).outdir
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "mom_brain.bam").read_bytes() != (c / "mom_brain.bam").read_bytes()
    assert (a / "ref.fa").read_bytes() != (c / "ref.fa").read_bytes()


def test_simulate__whole_genome_sex_chromosomes(tmp_path):
    sc = {
        "name": "wg",
        "genome": {"autosome_length": 40000, "chrx_length": 60000, "chry_length": 60000},
        "panel": {"n_sites": 50},
        "sequencing": {"whole_genome": True, "depth": 10, "fastq": True, "xtr_mismap_rate": 0.0},
        "family": {"people": PEOPLE[:3]},
        "samples": [{"name": "female", "host": "mom"}, {"name": "male", "host": "son"},
                    {"name": "mix", "host": "mom", "donors": {"son": 0.2}}],
    }
    res = simulate(load_scenario(sc), tmp_path, np.random.default_rng(9))
    regions = [line.split("\t") for line in res.ychrom_regions.read_text().splitlines()]
    msy = [(c, int(s), int(e)) for c, s, e, _ in regions]

    def in_msy(a):
        return a.reference_name == "chrY" and any(s <= a.reference_start < e for _, s, e in msy)

    female = _reads(res.bams["female"])
    male = _reads(res.bams["male"])
    assert not any(in_msy(a) and a.mapping_quality >= 30 for a in female)
    assert sum(in_msy(a) for a in male) > 50
    mix_y = [a for a in _reads(res.bams["mix"]) if in_msy(a) and a.mapping_quality >= 30]
    assert len(mix_y) > 10 and all(a.get_tag("sp") == "son" for a in mix_y)
    par = [a for a in female if a.reference_start < 10000 and a.reference_name in ("chrX", "chrY")]
    assert par and all(a.mapping_quality == 0 for a in par)
    # male X coverage is half the female's
    def cov(reads, contig):
        return sum(a.reference_name == contig and 20000 < a.reference_start < 50000 for a in reads)
    assert 0.35 < cov(male, "chrX") / cov(female, "chrX") < 0.65
    r1, r2 = res.fastq["mix"]
    with pysam.FastxFile(str(r1)) as f1, pysam.FastxFile(str(r2)) as f2:
        n1 = sum(1 for _ in f1)
        n2 = sum(1 for _ in f2)
    assert n1 == n2 == len(_reads(res.bams["mix"])) // 2


@pytest.mark.parametrize("whole_genome", [False, True])
def test_write_sample_bam__sorted_across_small_chunks(tmp_path, monkeypatch, whole_genome):
    """Many tiny chunks exercise the carry-over of records between chunks."""
    from microchimera.sim import bam as sim_bam

    monkeypatch.setattr(sim_bam, "CHUNK_FRAGMENTS", 500)
    sc = _scenario(whole_genome=whole_genome, depth=15 if whole_genome else 60)
    if whole_genome:
        sc["genome"] = {"autosome_length": 30000, "chrx_length": 60000, "chry_length": 60000}
        sc["panel"] = {"n_sites": 50}
    sc["samples"] = sc["samples"][:1]
    res = simulate(load_scenario(sc), tmp_path, np.random.default_rng(2))
    reads = _reads(res.bams["mom_brain"])
    keys = [(a.reference_id, a.reference_start) for a in reads]
    assert keys == sorted(keys)
    assert len(reads) == res.truth["samples"][0]["n_reads"]
    names = {}
    for a in reads:
        names[a.query_name] = names.get(a.query_name, 0) + 1
    assert set(names.values()) == {2}
