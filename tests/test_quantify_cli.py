"""CLI tests of quantify: exit codes, messages, result.json against its schema."""
import dataclasses
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from microchimera.cli import get_parser, main
from microchimera.workflow import load_schema

GATK = Path("/work/shared/data/real/gatk_calculatecontamination_NA12891_in_NA12892")


def test_parser__quantify_options():
    args = get_parser().parse_args(["quantify", "c.parquet", "--relationship", "child", "--relationship",
                                    "sibling", "--out", "r.json", "--alpha", "0.01"])
    assert args.relationship == ["child", "sibling"] and args.alpha == 0.01


def test_parser__max_depth_ratio(capsys):
    parse = get_parser().parse_args
    assert parse(["quantify", "c", "--relationship", "child", "--out", "r"]).max_depth_ratio == 3.0
    assert parse(["quantify", "c", "--relationship", "child", "--out", "r", "--max-depth-ratio", "0"]).max_depth_ratio is None
    assert parse(["run", "b.bam", "--relationship", "child", "--outdir", "o", "--max-depth-ratio", "4"]).max_depth_ratio == 4.0
    with pytest.raises(SystemExit) as exc:
        parse(["quantify", "c", "--relationship", "child", "--out", "r", "--max-depth-ratio", "0.5"])
    assert exc.value.code == 2
    assert "expected a number > 1" in capsys.readouterr().err


def test_parser__bad_relationship_is_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        get_parser().parse_args(["quantify", "c", "--relationship", "cousin", "--out", "r.json"])
    assert exc.value.code == 2
    assert "expected one of child" in capsys.readouterr().err


@pytest.mark.skipif(not GATK.exists(), reason="shared real data not present")
def test_main__quantify_gatk_table_writes_valid_result(tmp_path, capsys):
    table = next(GATK.glob("NA12891_0.03_*.table"))
    out = tmp_path / "result.json"
    assert main(["quantify", str(table), "--relationship", "unrelated", "--out", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema())
    assert (tmp_path / "result.tsv").exists()
    assert "unrelated" in capsys.readouterr().out
    assert doc["provenance"]["inputs"][0]["checksum"].startswith("sha256:")


def test_main__missing_pedigree_and_relationship(tmp_path, capsys):
    table = tmp_path / "t.table"
    table.write_text("#<METADATA>SAMPLE=s\ncontig\tposition\tref_count\talt_count\tother_alt_count\tallele_frequency\n"
                     "1\t100\t30\t0\t0\t0.2\n")
    assert main(["quantify", str(table), "--out", str(tmp_path / "r.json")]) == 2
    assert "--relationship" in capsys.readouterr().err


def test_main__af_out_of_range(tmp_path, capsys):
    table = tmp_path / "t.table"
    table.write_text("contig\tposition\tref_count\talt_count\tother_alt_count\tallele_frequency\n"
                     "1\t100\t30\t0\t0\t1.2\n")
    assert main(["quantify", str(table), "--relationship", "child", "--out", str(tmp_path / "r.json")]) == 1
    assert "out of range" in capsys.readouterr().err


def test_main__missing_counts(tmp_path, capsys):
    assert main(["quantify", str(tmp_path / "nope.parquet"), "--relationship", "child",
                 "--out", str(tmp_path / "r.json")]) == 1
    assert "not found" in capsys.readouterr().err


def test_main__demo_end_to_end(tmp_path, capsys):
    """simulate -> count -> quantify on the built-in family; result valid, son detected."""
    out = tmp_path / "demo"
    assert main(["demo", "--outdir", str(out), "--seed", "3", "-q"]) == 0
    doc = json.loads((out / "result.json").read_text())
    jsonschema.validate(doc, load_schema())
    assert (out / "counts.parquet").exists() and (out / "result.tsv").exists()
    son = next(d for d in doc["donors"] if d["name"] == "son")
    assert son["detected"] and son["ci95"][0] <= 1e-3 <= son["ci95"][1]
    assert doc["provenance"]["seed"] == 3
    assert "son" in capsys.readouterr().out


def test_quantify__gatk_table_with_a_family_takes_alleles_from_the_vcf(tmp_path, capsys):
    """Issue 16 item 3: a GetPileupSummaries table has no bases, so every genotype record was an
    'allele mismatch' and quantify said 'no informative sites' (exit 0)."""
    from microchimera.io.pedigree import Pedigree
    from microchimera.io.sites import SiteTable
    from microchimera.sim import simulate_counts, simulate_family

    rng = np.random.default_rng(4)
    n = 1500
    sites = SiteTable(("chr1",), np.zeros(n, np.int32), np.arange(n, dtype=np.int64) * 1000 + 100,
                      rng.integers(0, 4, n).astype(np.uint8), np.zeros(n, np.uint8), rng.uniform(0.1, 0.9, n))
    sites = dataclasses.replace(sites, alt=((sites.ref + rng.integers(1, 4, n)) % 4).astype(np.uint8))
    ped = Pedigree.from_records([("f", "dad", None, None, 1), ("f", "mum", None, None, 2), ("f", "kid", "dad", "mum", 1)])
    fam = simulate_family(ped, sites, rng, contig_lengths={"chr1": 2_000_000})
    g = {p: fam.genotype(p) for p in ped.ids}
    counts = simulate_counts(sites, g["mum"], g["kid"][None], [0.03], depth=60, rng=rng, sample="mum_blood")
    table = tmp_path / "mum.pileups.table"
    rows = [f"chr1\t{p + 1}\t{r}\t{a}\t{o}\t{af:.3f}" for p, r, a, o, af in zip(
        sites.pos, counts.ref_count[0], counts.alt_count[0], counts.other_count[0], sites.af, strict=True)]
    table.write_text("#<METADATA>SAMPLE=mum_blood\ncontig\tposition\tref_count\talt_count\tother_alt_count\t"
                     "allele_frequency\n" + "\n".join(rows) + "\n")
    gt = {0: "0/0", 1: "0/1", 2: "1/1"}
    vcf = tmp_path / "fam.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=2000000>\n"
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tmum\tkid\n" + "".join(
                       f"chr1\t{p + 1}\t.\t{'ACGT'[r]}\t{'ACGT'[a]}\t.\tPASS\t.\tGT\t{gt[int(m)]}\t{gt[int(k)]}\n"
                       for p, r, a, m, k in zip(sites.pos, sites.ref, sites.alt, g["mum"], g["kid"], strict=True)))
    pedf = tmp_path / "fam.ped"
    pedf.write_text("f\tdad\t0\t0\t1\t0\nf\tmum\t0\t0\t2\t0\nf\tkid\tdad\tmum\t1\t0\n")
    out = tmp_path / "r.json"
    assert main(["quantify", str(table), "--genotypes", str(vcf), "--pedigree", str(pedf), "--host", "mum",
                 "--donors", "kid", "--out", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())
    kid = doc["donors"][0]
    assert doc["sites"]["informative"] > 500 and kid["detected"]
    assert kid["ci95"][0] <= 0.03 <= kid["ci95"][1], kid
