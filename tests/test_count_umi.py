"""count --umi: molecule families against the slow reference, the simulator's UMI libraries,
consensus error against the simulator's truth, and bad input."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pysam
import pytest
from helpers.reference import _directional, reference_umi_count

from microchimera.count import _umi as U
from microchimera.count import count_alleles
from microchimera.count.umi import UmiOptions
from microchimera.errors import FormatError, InputError, UsageError
from microchimera.io.sites import read_sites
from microchimera.sim import load_scenario, simulate

PEOPLE = [
    {"id": "dad", "sex": "male"},
    {"id": "mom", "sex": "female"},
    {"id": "son", "sex": "male", "father": "dad", "mother": "mom"},
]


def _scenario(**seq):
    sequencing = {"depth": 40, "read_length": 100, "fragment_mean": 160, "fragment_sd": 30, "fragment_min": 100,
                  "fragment_max": 250, "umi_length": 6, "umi_family_mean": 3, "umi_error_rate": 0.01,
                  "pcr_error_rate": 1e-4, "damage_rate": 2e-3, "error_rate": 3e-3}
    sequencing.update(seq)
    return {"name": "umitest", "panel": {"n_sites": 300, "spacing": 150},
            "sequencing": sequencing, "family": {"people": PEOPLE},
            "samples": [{"name": "mom_blood", "host": "mom", "donors": {"son": 0.05}}]}


@pytest.fixture(scope="module")
def libraries(tmp_path_factory):
    """A single-strand and a duplex UMI library (with MI tags) of the same design."""
    out = {}
    for name, extra in (("single", {}), ("duplex", {"umi_duplex": True, "umi_mi": True})):
        d = tmp_path_factory.mktemp(name)
        res = simulate(load_scenario(_scenario(**extra)), d, np.random.default_rng(5), seed=5)
        out[name] = (res.bams["mom_blood"], read_sites(res.sites_vcf))
    return out


def _matrix(counts):
    return np.stack([counts.ref_fwd[0], counts.ref_rev[0], counts.alt_fwd[0], counts.alt_rev[0],
                     counts.other_fwd[0], counts.other_rev[0]])


@pytest.mark.parametrize("duplex,min_family_size", [(False, 1), (False, 2), (True, 1), (True, 2)])
def test_umi_count__equals_the_slow_reference(libraries, duplex, min_family_size):
    bam, sites = libraries["duplex" if duplex else "single"]
    got = count_alleles([bam], sites, umi=UmiOptions(duplex=duplex, min_family_size=min_family_size))
    want = reference_umi_count(bam, sites, duplex=duplex, min_family_size=min_family_size)
    assert want.sum() > 1000  # a design with something to compare
    np.testing.assert_array_equal(_matrix(got), want)


def test_umi_count__molecule_tag_matches_the_umi_grouping(libraries):
    """fgbio-style MI ids (/A /B) give the same duplex molecules as the UMIs themselves, but
    for UMI sequencing errors the UMI grouping could not repair (a few)."""
    bam, sites = libraries["duplex"]
    by_umi = _matrix(count_alleles([bam], sites, umi=UmiOptions(duplex=True)))
    by_mi = _matrix(count_alleles([bam], sites, umi=UmiOptions(molecule_tag="MI", duplex=True)))
    # umi_error_rate 0.01 on 12 bases: ~11% of reads carry a UMI error; nearly all are merged
    # back by the directional step, so the totals agree within 2%
    assert abs(int(by_mi.sum()) - int(by_umi.sum())) <= 0.02 * by_mi.sum()


def test_umi_count__one_count_per_family(libraries):
    bam, sites = libraries["single"]
    reads = _matrix(count_alleles([bam], sites))
    mols = count_alleles([bam], sites, umi=UmiOptions())
    st = next(iter(mols.parameters["stats"].values()))["umi"]
    m = _matrix(mols)
    # duplicates are not flagged in a raw UMI library: reads / molecules ~ mean family size
    # (3, negative binomial, zero families unseen: E[n | n > 0] = 3 / (1 - (2/5)^2) = 3.57)
    assert 3.2 < reads.sum() / m.sum() < 3.9
    assert 3.2 < st["mean_family_size"] < 3.9
    assert st["reads"] == reads.sum() or st["reads"] < reads.sum()  # read pairs over sites <= read-sites


def test_consensus_error__within_2x_of_the_simulators_truth(tmp_path):
    """Single-strand consensus error is the damage (2e-3 on one strand, all of its family's
    reads) plus what consensus leaves of read and PCR errors; duplex removes the damage.
    Measured as the third-base rate x 3/2 (a third base is 2 of the 3 wrong bases) at sites
    where the host and donor are homozygous alike."""
    sc = _scenario(depth=150, umi_family_mean=6, umi_error_rate=0.0, umi_duplex=True, damage_rate=2e-3,
                   pcr_error_rate=1e-6, error_rate=1e-3)
    sc["panel"]["n_sites"] = 1500
    res = simulate(load_scenario(sc), tmp_path, np.random.default_rng(8), seed=8)
    bam, sites = res.bams["mom_blood"], read_sites(res.sites_vcf)
    ss = _matrix(count_alleles([bam], sites, umi=UmiOptions(min_family_size=3)))
    dx = _matrix(count_alleles([bam], sites, umi=UmiOptions(duplex=True, min_family_size=3)))
    ss_err = 1.5 * ss[4:].sum() / ss.sum()
    # truth: damage 2e-3 on the strand (every read) + reads: with >= 3 reads at Q37 (most),
    # a wrong consensus needs 2 of 3 reads wrong alike: ~1e-6; PCR 1e-6 x 12 cycles, early
    # cycles shared: < 1e-5.  So ~2e-3.
    assert 1e-3 < ss_err < 4e-3
    # duplex: both strands damaged alike ~ (2e-3)^2 / 3 ~ 1e-6: at most a handful of the ~1e5
    # molecule-sites; 30 would be 3e-4, 100x the truth
    assert dx[4:].sum() <= 30 and dx.sum() > 20_000


def test_directional__matches_the_plain_version():
    rng = np.random.default_rng(3)
    bases = "ACGT"
    for _ in range(200):
        n = int(rng.integers(1, 12))
        umis = {}
        for _ in range(n):
            u = "".join(rng.choice(list(bases), 3))
            umis[u] = umis.get(u, 0) + int(rng.integers(1, 9))
        want = _directional(umis)
        order = sorted(umis, key=lambda u: (-umis[u], u))
        codes = np.array([(3 << 56) | int("".join(str(bases.index(c)) for c in u), 4) for u in order], np.int64)
        cl = np.empty(len(order), np.int64)
        U.directional(np.array([0, len(order)], np.int64), codes, np.array([umis[u] for u in order], np.int64), cl)
        got = {u: order[int(np.flatnonzero(cl == cl[k])[0])] for k, u in enumerate(order)}
        assert got == want


# ------------------------------------------------------------------------------------ bad input
def _edit(src, dst, change):
    with pysam.AlignmentFile(str(src)) as inp, pysam.AlignmentFile(str(dst), "wb", template=inp) as out:
        for k, read in enumerate(inp.fetch(until_eof=True)):
            change(k, read)
            out.write(read)
    pysam.index(str(dst))
    return dst


def test_umi_count__no_umis_is_a_clear_error(libraries, tmp_path):
    bam, sites = libraries["single"]
    plain = _edit(bam, tmp_path / "plain.bam", lambda k, r: r.set_tag("RX", None))
    with pytest.raises(InputError, match=r"plain\.bam.*no UMI in the RX tag.*--umi-tag"):
        count_alleles([plain], sites, umi=UmiOptions())
    with pytest.raises(InputError, match="the XY tag"):
        count_alleles([bam], sites, umi=UmiOptions(tag="XY"))


def test_umi_count__mixed_lengths_and_single_strand_duplex_fail(libraries, tmp_path):
    bam, sites = libraries["single"]
    mixed = _edit(bam, tmp_path / "mixed.bam",
                  lambda k, r: r.set_tag("RX", r.get_tag("RX") + "A") if k % 50 == 49 else None)
    with pytest.raises(FormatError, match=r"mixed\.bam: UMIs of different lengths \(6 and 7 bases; a read at"):
        count_alleles([mixed], sites, umi=UmiOptions())
    with pytest.raises(FormatError, match=r"--duplex, but the read at .* single-strand UMI"):
        count_alleles([bam], sites, umi=UmiOptions(duplex=True))


def test_umi_count__unsorted_bam_fails(tmp_path):
    sam = tmp_path / "u.sam"
    sam.write_text("@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:10000\n"
                   "r1\t0\tchr1\t500\t60\t10M\t*\t0\t0\tACGTACGTAC\tIIIIIIIIII\tRX:Z:AAAA\n"
                   "r2\t0\tchr1\t100\t60\t10M\t*\t0\t0\tACGTACGTAC\tIIIIIIIIII\tRX:Z:AAAA\n")
    bam = tmp_path / "u.bam"
    pysam.view("-b", "-o", str(bam), str(sam), catch_stdout=False)  # as written: not sorted
    sites_tsv = tmp_path / "s.tsv"
    sites_tsv.write_text("chrom\tpos\tref\talt\nchr1\t102\tC\tT\nchr1\t502\tC\tT\n")
    with pytest.raises((FormatError, InputError), match=r"u\.bam.*(order|sort)"):
        count_alleles([bam], read_sites(sites_tsv), umi=UmiOptions(), build_index=True)


def test_umi_options__bad_values():
    with pytest.raises(UsageError, match="two characters"):
        UmiOptions(tag="RXX")
    with pytest.raises(UsageError, match="min-family-size"):
        UmiOptions(min_family_size=0)


def test_count_cli__umi_flags(libraries, tmp_path):
    bam, _ = libraries["duplex"]
    sites = str(bam).replace("mom_blood.bam", "sites.vcf.gz")
    out = tmp_path / "c.parquet"
    r = subprocess.run([sys.executable, "-m", "microchimera", "count", str(bam), "--sites", sites, "--out", str(out),
                        "--duplex", "--min-family-size", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "duplex_yield=" in r.stdout and out.exists()
    r = subprocess.run([sys.executable, "-m", "microchimera", "count", str(bam), "--sites", sites, "--out",
                        str(out), "--min-family-size", "2"], capture_output=True, text=True)
    assert r.returncode != 0 and "add --umi" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(shutil.which("umi_tools") is None, reason="umi_tools not installed")
def test_grouping__agrees_with_umi_tools_group(libraries, tmp_path):
    """``umi_tools group --paired --method directional`` on the same BAM: its read-1 groups
    against ours (docs/count.md explains the differences: ties, reads without a site)."""
    bam, sites = libraries["single"]
    out = tmp_path / "grouped.bam"
    subprocess.run(["umi_tools", "group", "-I", str(bam), "--paired", "--extract-umi-method=tag", "--umi-tag=RX",
                    "--method=directional", "--output-bam", "-S", str(out), "--log", str(tmp_path / "log")],
                   check=True)
    # UMI-tools tags read 1 only: give read 2 its mate's group
    with pysam.AlignmentFile(str(out)) as af:
        group_of = {r.query_name: r.get_tag("UG") for r in af.fetch(until_eof=True) if r.is_read1}
    both = _edit(out, tmp_path / "both.bam", lambda k, r: r.set_tag("UG", group_of[r.query_name]))
    ug = count_alleles([both], sites, umi=UmiOptions(molecule_tag="UG"))
    ours = count_alleles([bam], sites, umi=UmiOptions())
    st_ug, st_ours = (next(iter(c.parameters["stats"].values()))["umi"] for c in (ug, ours))
    assert st_ug["reads"] == st_ours["reads"] > 10_000
    # same families but for ties (UMI-tools: first seen; here: by sequence) and UMI-tools' key
    # (read 1's 5' end and the template length, where ours is both starts): within 0.5%
    assert abs(st_ug["molecules"] - st_ours["molecules"]) <= 0.005 * st_ours["molecules"]
    np.testing.assert_allclose(_matrix(ug).sum(axis=1), _matrix(ours).sum(axis=1), rtol=0.01, atol=5)


def test_quantify__reports_the_molecule_counting_and_consensus_error(libraries, tmp_path):
    import json

    import jsonschema

    from microchimera.workflow import SCHEMA_PATH

    bam, _ = libraries["duplex"]
    d = bam.parent
    counts, out = tmp_path / "c.parquet", tmp_path / "r.json"
    mc = [sys.executable, "-m", "microchimera"]
    subprocess.run([*mc, "count", str(bam), "--sites", str(d / "sites.vcf.gz"), "--out", str(counts), "--duplex",
                    "-q"], check=True)
    subprocess.run([*mc, "quantify", str(counts), "--genotypes", str(d / "family.vcf.gz"), "--pedigree",
                    str(d / "family.ped"), "--host", "mom", "--out", str(out), "-q"], check=True, capture_output=True)
    r = json.loads(out.read_text())
    jsonschema.validate(r, json.loads(SCHEMA_PATH.read_text()))
    u = r["umi"]
    assert u["duplex"] and u["umi_tag"] == "RX" and u["molecules"] > 1000 and 0.5 < u["duplex_yield"] < 1
    assert sum(u["family_size_histogram"].values()) == u["strand_families"]
    ce = u["consensus_error"]
    # duplex: errors need both strands wrong alike; the read error (3e-3) is far above the bound
    assert ce["background_calls"] > 1000 and ce["ci95"][0] <= ce["per_base"] <= ce["ci95"][1] < 3e-3
    son = next(x for x in r["donors"] if x["name"] == "son")
    assert son["ci95"][0] <= 0.05 * 1.1 and son["ci95"][1] >= 0.05 * 0.9  # truth 0.05 (x persistence noise)


def test_power__takes_molecules_and_the_consensus_error():
    mc = [sys.executable, "-m", "microchimera", "power", "--sites", "20000", "--typed", "-q"]
    a = subprocess.run([*mc, "--molecules", "2000", "--molecule-error", "1e-6"], capture_output=True, text=True)
    b = subprocess.run([*mc, "--depth", "2000", "--error", "1e-6"], capture_output=True, text=True)
    assert a.returncode == 0 and a.stdout == b.stdout and "error=1e-06" in a.stdout
    # the duplex design's LoD is below 1e-5 (the target), the read-level one is not
    lod = float(a.stdout.split("lod\t")[1].split()[0])
    reads = subprocess.run([*mc, "--depth", "2000", "--error", "1e-3"], capture_output=True, text=True)
    assert lod < 1e-5 < float(reads.stdout.split("lod\t")[1].split()[0])


def test_run__counts_molecules_with_duplex(libraries, tmp_path):
    """`run --duplex`: UMI families counted in the pass, their multi-site families are the
    molecule likelihood's fragments, and result.json says how they were made."""
    import json

    bam, _ = libraries["duplex"]
    d = bam.parent
    r = subprocess.run([sys.executable, "-m", "microchimera", "run", str(bam), "--genotypes", str(d / "family.vcf.gz"),
                        "--pedigree", str(d / "family.ped"), "--host", "mom", "--outdir", str(tmp_path / "o"),
                        "--duplex", "--no-report", "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "o" / "result.json").read_text())
    assert res["umi"]["duplex"] and res["umi"]["molecules"] > 1000
    assert res["evidence"]["model"] == "molecules" and res["evidence"]["molecules"] > 0
