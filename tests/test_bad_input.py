"""Every user mistake of issue 6 ends in a clear message and a documented exit code, never a traceback.

Each test drives ``microchimera.cli.main([...])`` in-process and asserts the exit status
(``docs/cli.md``) and the words of the message on stderr.
"""
from __future__ import annotations

import errno
import json
import logging
import os

import numpy as np
import pysam
import pytest
from helpers.bam import sam_to_bam

from microchimera.cli import main

CONTIG_LEN = 2000
SITES = [(300, "A", "G"), (500, "C", "T"), (900, "G", "A"), (1400, "T", "C")]  # 1-based


def _reference(rng) -> str:
    seq = list("".join(rng.choice(list("ACGT"), CONTIG_LEN)))
    for pos, ref, _ in SITES:
        seq[pos - 1] = ref
    return "".join(seq)


def _sam(seq: str, contig: str = "chr1", n_reads: int = 120) -> str:
    lines = ["@HD\tVN:1.6\tSO:coordinate", f"@SQ\tSN:{contig}\tLN:{CONTIG_LEN}", "@RG\tID:rg\tSM:mum"]
    starts = sorted(np.random.default_rng(3).integers(1, CONTIG_LEN - 100, n_reads).tolist())
    for i, s in enumerate(starts):
        read = seq[s - 1:s + 99]
        lines.append(f"r{i}\t0\t{contig}\t{s}\t60\t100M\t*\t0\t0\t{read}\t{'I' * 100}\tRG:Z:rg")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def inputs_fixture(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_input")
    rng = np.random.default_rng(11)
    seq = _reference(rng)
    fa = tmp / "ref.fa"
    fa.write_text(">chr1\n" + "\n".join(seq[i:i + 60] for i in range(0, CONTIG_LEN, 60)) + "\n")
    pysam.faidx(str(fa))
    sites = tmp / "sites.tsv"
    sites.write_text("chrom\tpos\tref\talt\n" + "".join(f"chr1\t{p}\t{r}\t{a}\n" for p, r, a in SITES))
    bam = sam_to_bam(_sam(seq), tmp / "mum.bam")
    counts = tmp / "counts.parquet"
    assert main(["count", str(bam), "--sites", str(sites), "--out", str(counts), "-q"]) == 0
    return {"tmp": tmp, "seq": seq, "fa": fa, "sites": sites, "bam": bam, "counts": counts}


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_count__missing_bam_index(inputs_fixture, tmp_path, capsys):
    bam = sam_to_bam(_sam(inputs_fixture["seq"]), tmp_path / "noindex.bam", index=False)
    code = main(["count", str(bam), "--sites", str(inputs_fixture["sites"]), "--out", str(tmp_path / "c.parquet")])
    err = _err(capsys)
    assert code == 1
    assert "no index" in err and "samtools index" in err and "--index" in err
    assert main(["count", str(bam), "--sites", str(inputs_fixture["sites"]), "--out", str(tmp_path / "c.parquet"),
                 "--index", "-q"]) == 0


def test_count__truncated_bam(inputs_fixture, tmp_path, capsys):
    data = inputs_fixture["bam"].read_bytes()
    bam = tmp_path / "cut.bam"
    bam.write_bytes(data[: len(data) // 2])
    pysam.index(str(inputs_fixture["bam"]), str(tmp_path / "cut.bam.bai"))
    code = main(["count", str(bam), "--sites", str(inputs_fixture["sites"]), "--out", str(tmp_path / "c.parquet")])
    assert code == 1
    assert "truncated BAM" in _err(capsys)


def test_count__corrupt_bam(inputs_fixture, tmp_path, capsys):
    bam = tmp_path / "junk.bam"
    bam.write_bytes(b"this is not a BAM file at all\n" * 10)
    code = main(["count", str(bam), "--sites", str(inputs_fixture["sites"]), "--out", str(tmp_path / "c.parquet")])
    assert code == 1
    assert "not a BAM or CRAM file" in _err(capsys)


def test_count__cram_without_reference(inputs_fixture, tmp_path, capsys):
    cram = tmp_path / "mum.cram"
    pysam.view("-C", "-T", str(inputs_fixture["fa"]), "-o", str(cram), str(inputs_fixture["bam"]), catch_stdout=False)
    pysam.index(str(cram))
    code = main(["count", str(cram), "--sites", str(inputs_fixture["sites"]), "--out", str(tmp_path / "c.parquet")])
    err = _err(capsys)
    assert code == 1
    assert "CRAM needs the reference FASTA" in err and "--reference" in err
    assert main(["count", str(cram), "--sites", str(inputs_fixture["sites"]), "--out", str(tmp_path / "c.parquet"),
                 "--reference", str(inputs_fixture["fa"]), "-q"]) == 0


def test_count__contig_names_chr_prefix(inputs_fixture, tmp_path, capsys):
    # sites say "1", the BAM says "chr1": matched automatically (and said so) ...
    sites = tmp_path / "nochr.tsv"
    sites.write_text(inputs_fixture["sites"].read_text().replace("chr1\t", "1\t"))
    assert main(["count", str(inputs_fixture["bam"]), "--sites", str(sites), "--out", str(tmp_path / "c.parquet"),
                 "-q"]) == 0
    # ... while names that match in no spelling fail with both lists and the fix
    sites.write_text(inputs_fixture["sites"].read_text().replace("chr1\t", "NC_000001.11\t"))
    code = main(["count", str(inputs_fixture["bam"]), "--sites", str(sites), "--out", str(tmp_path / "c.parquet")])
    err = _err(capsys)
    assert code == 1
    assert "contigs not found: NC_000001.11" in err and "Contigs available: chr1" in err
    assert "same genome build" in err


def test_count__ref_mismatch_wrong_build(inputs_fixture, tmp_path, capsys):
    swap = {"A": "C", "C": "G", "G": "T", "T": "A"}
    sites = tmp_path / "wrong.tsv"
    sites.write_text("chrom\tpos\tref\talt\n" + "".join(f"chr1\t{p}\t{swap[r]}\t{a}\n" for p, r, a in SITES))
    code = main(["count", str(inputs_fixture["bam"]), "--sites", str(sites), "--out", str(tmp_path / "c.parquet"),
                 "--reference", str(inputs_fixture["fa"])])
    err = _err(capsys)
    assert code == 1
    assert "REF allele that differs from the FASTA" in err and "same build" in err


def _family_files(tmp, ped_text=None, vcf_samples=("mum", "kid")):
    ped = tmp / "fam.ped"
    ped.write_text(ped_text or "fam\tmum\t0\t0\t2\t-9\nfam\tdad\t0\t0\t1\t-9\nfam\tkid\tdad\tmum\t1\t-9\n")
    vcf = tmp / "fam.vcf"
    head = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=2000>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(vcf_samples) + "\n")
    body = "".join(f"chr1\t{p}\t.\t{r}\t{a}\t.\tPASS\t.\tGT\t" + "\t".join(["0/1"] * len(vcf_samples)) + "\n"
                   for p, r, a in SITES)
    vcf.write_text(head + body)
    return ped, vcf


def test_quantify__sample_not_in_vcf_or_ped(inputs_fixture, tmp_path, capsys, caplog):
    ped, vcf = _family_files(tmp_path, vcf_samples=("dad", "kid"))
    base = ["quantify", str(inputs_fixture["counts"]), "--pedigree", str(ped), "--genotypes", str(vcf),
            "--out", str(tmp_path / "r.json")]
    code = main([*base, "--host", "nobody"])
    err = _err(capsys)
    assert code == 1 and "'nobody'" in err and "pedigree" in err
    # Typed people are optional: the host is inferred, and we say so on the terminal and in
    # result.json (issue 16 item 9: it was only logged).
    assert main([*base, "--host", "mum"]) == 0
    assert "'mum' is not in" in capsys.readouterr().err
    warnings = json.loads((tmp_path / "r.json").read_text())["warnings"]
    assert any("'mum' is not in" in w and "fam.vcf" in w for w in warnings), warnings


def test_quantify__malformed_ped(inputs_fixture, tmp_path, capsys):
    ped, vcf = _family_files(tmp_path, ped_text="fam\tmum\t0\n")
    code = main(["quantify", str(inputs_fixture["counts"]), "--pedigree", str(ped), "--genotypes", str(vcf),
                 "--host", "mum", "--out", str(tmp_path / "r.json")])
    err = _err(capsys)
    assert code == 1
    assert "fam.ped:1: expected at least 5 fields" in err


def test_count__multiallelic_and_indel_sites_skipped_and_counted(inputs_fixture, tmp_path, caplog):
    vcf = tmp_path / "sites.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=2000>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "chr1\t300\t.\tA\tG\t.\tPASS\t.\n"
                   "chr1\t500\t.\tC\tT,G\t.\tPASS\t.\n"
                   "chr1\t900\t.\tGA\tG\t.\tPASS\t.\n"
                   "chr1\t1400\t.\tT\tC\t.\tPASS\t.\n")
    out = tmp_path / "c.tsv"
    with caplog.at_level(logging.WARNING):
        assert main(["count", str(inputs_fixture["bam"]), "--sites", str(vcf), "--out", str(out), "--tsv"]) == 0
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "kept 2 SNPs" in msg and "1 multiallelic" in msg and "1 indel" in msg
    assert sum(1 for line in out.read_text().splitlines() if line and not line.startswith(("#", "sample"))) == 2


def test_count__empty_bam(inputs_fixture, tmp_path, capsys):
    sam = "\n".join(_sam(inputs_fixture["seq"]).splitlines()[:3]) + "\n"
    bam = sam_to_bam(sam, tmp_path / "empty.bam")
    code = main(["count", str(bam), "--sites", str(inputs_fixture["sites"]), "--out", str(tmp_path / "c.parquet")])
    err = _err(capsys)
    assert code == 1
    assert "no reads" in err and "empty.bam" in err


@pytest.mark.parametrize("where", ["missing", "file"])
def test_output_directory_not_writable(inputs_fixture, tmp_path, capsys, where):
    if where == "missing":
        out = tmp_path / "no" / "such" / "dir" / "c.parquet"
    else:
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "c.parquet"
    code = main(["count", str(inputs_fixture["bam"]), "--sites", str(inputs_fixture["sites"]), "--out", str(out)])
    err = _err(capsys)
    assert code == 1
    assert "output directory" in err and str(out.parent) in err


def test_disk_full_mid_write__no_half_file(inputs_fixture, tmp_path, capsys, monkeypatch):
    import microchimera._atomic as atomic

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    res = tmp_path / "result.json"
    res.write_text(json.dumps({"sample": "s", "host": "h", "donors": []}))
    out = tmp_path / "report.html"
    code = main(["report", str(res), "--out", str(out)])
    err = _err(capsys)
    assert code == 1 and "No space left on device" in err and "report.html" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # neither the file nor a temporary


def test_disk_full_mid_write__parquet(inputs_fixture, tmp_path, capsys, monkeypatch):
    import pyarrow.parquet as pq

    real = pq.write_table

    def half_then_full(table, where, *args, **kwargs):
        with open(where, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", half_then_full)
    out = tmp_path / "c.parquet"
    code = main(["count", str(inputs_fixture["bam"]), "--sites", str(inputs_fixture["sites"]), "--out", str(out)])
    monkeypatch.setattr(pq, "write_table", real)
    err = _err(capsys)
    assert code == 1 and "No space left on device" in err and "c.parquet" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["file", "readonly"])
def test_run__output_directory_that_cannot_be_made_is_one_line(inputs_fixture, tmp_path, capsys, where):
    """Issue 16 item 5: `run` printed a traceback where every other command gives one line."""
    if where == "file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out = ro / "out"
        if os.access(ro, os.W_OK):  # root ignores the mode bits: nothing to test there
            pytest.skip("running as root: a read-only directory is still writable")
    ped, vcf = _family_files(tmp_path)
    code = main(["run", str(inputs_fixture["bam"]), "--sites", str(inputs_fixture["sites"]), "--pedigree", str(ped),
                 "--genotypes", str(vcf), "--host", "mum", "--outdir", str(out)])
    err = _err(capsys)
    assert code == 1 and "cannot create output directory" in err and str(out) in err


def test_run__a_failed_run_leaves_no_empty_output_directory(inputs_fixture, tmp_path, capsys):
    """Issue 16 item 5: a run that fails (here: an empty BAM) removed nothing it had made."""
    empty = sam_to_bam("@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:2000\n@RG\tID:rg\tSM:mum\n",
                       tmp_path / "empty.bam")
    ped, vcf = _family_files(tmp_path)
    out = tmp_path / "new" / "out"
    code = main(["run", str(empty), "--sites", str(inputs_fixture["sites"]), "--pedigree", str(ped),
                 "--genotypes", str(vcf), "--host", "mum", "--outdir", str(out)])
    assert code == 1 and "Traceback" not in capsys.readouterr().err
    assert not out.exists() and not out.parent.exists()


def test_run__a_missing_chrY_control_fails_before_counting(inputs_fixture, tmp_path, capsys, monkeypatch):
    """Issue 16 item 7: `run --y-build` checked the control BAMs only after counting, and left
    counts.parquet behind."""
    def no_counting(*args, **kwargs):  # the check must come first: counting is never reached
        raise AssertionError("counted before checking the chrY controls")

    # run_pipeline imports count_alleles from microchimera.count when it is called
    monkeypatch.setattr("microchimera.count.count_alleles", no_counting)
    bed = tmp_path / "y.bed"
    bed.write_text("chrY\t0\t1000\n")
    ped, vcf = _family_files(tmp_path)
    out = tmp_path / "out"
    code = main(["run", str(inputs_fixture["bam"]), "--sites", str(inputs_fixture["sites"]), "--pedigree", str(ped),
                 "--genotypes", str(vcf), "--host", "mum", "--outdir", str(out), "--y-regions", str(bed),
                 "--y-controls", str(tmp_path / "absent_female.bam")])
    err = _err(capsys)
    assert code == 1 and "absent_female.bam" in err
    assert not out.exists()


# ----------------------------------------------------------------------------- Python vs CLI spelling
def test_quantify_files__a_missing_host_is_named_as_python_spells_it(inputs_fixture, tmp_path):
    """Issue 16 item 14: the library said `--host` to a Python caller, who passes ``host=``."""
    from microchimera import SampleInputs, quantify_files
    from microchimera.errors import UsageError

    ped, vcf = _family_files(tmp_path)
    inputs = SampleInputs(pedigree=ped, genotypes=vcf, sites=inputs_fixture["sites"])
    with pytest.raises(UsageError) as info:
        quantify_files(inputs_fixture["counts"], inputs)
    assert "(host=)" in str(info.value) and "--host" not in str(info.value)


def test_quantify__a_missing_host_is_named_as_the_flag(inputs_fixture, tmp_path, capsys):
    ped, vcf = _family_files(tmp_path)
    code = main(["quantify", str(inputs_fixture["counts"]), "--pedigree", str(ped), "--genotypes", str(vcf),
                 "--sites", str(inputs_fixture["sites"]), "--out", str(tmp_path / "r.json")])
    err = _err(capsys)
    assert code == 2 and "give the host's ID (--host)" in err and "host=" not in err


def test_sample_inputs__python_and_cli_spellings_of_relationships():
    from microchimera import SampleInputs
    from microchimera.errors import UsageError

    with pytest.raises(UsageError) as info:
        SampleInputs(relationships=["child"], pedigree="fam.ped")
    err = info.value
    assert str(err) == "relationships= (no-family mode) cannot be combined with pedigree=/genotypes="
    # the flag is singular (--relationship, given once per donor)
    assert err.cli_message("quantify") == ("--relationship (no-family mode) cannot be combined with "
                                           "--pedigree/--genotypes")


def test_cli_message__run_spells_the_chrY_parameters_as_its_y_flags():
    from microchimera.errors import UsageError

    err = UsageError("give exactly one of {build} or {regions}; {build} again", params=["build", "regions"])
    assert str(err) == "give exactly one of build= or regions=; build= again"
    assert err.cli_message("ychrom") == "give exactly one of --build or --regions; --build again"
    assert err.cli_message("run") == "give exactly one of --y-build or --y-regions; --y-build again"


def test_error__braces_that_are_not_parameters_are_left_alone_and_pickling_keeps_them():
    import pickle

    from microchimera.errors import InputError

    err = InputError("/data/{sample}.bam: not found; pass {reference}", params=["reference"])
    assert str(err) == "/data/{sample}.bam: not found; pass reference="
    back = pickle.loads(pickle.dumps(err))  # cohort errors cross Dask workers
    assert type(back) is InputError and back.params == ("reference",) and str(back) == str(err)
    assert back.cli_message("count") == "/data/{sample}.bam: not found; pass --reference"


def test_cli_flags__every_flag_the_table_names_exists_on_its_command():
    """errors.CLI_FLAGS maps parameter names to flags; a renamed flag must fail here, not in
    front of a user."""
    import argparse

    from microchimera.cli import get_parser
    from microchimera.errors import CLI_FLAGS

    sub = next(a for a in get_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {cmd: {o for a in p._actions for o in a.option_strings} for cmd, p in sub.choices.items()}
    for command, table in CLI_FLAGS.items():
        for name, flag in table.items():
            where = [command] if command is not None else list(flags)
            assert any(flag in flags[c] for c in where), (command, name, flag)
