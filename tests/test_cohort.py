"""Cohort pieces that need no cluster: manifest checks, region planning and merging,
completion records, the CLI parser."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from helpers.cohort import write_manifest

from microchimera.cli import byte_size, get_parser
from microchimera.cohort import (
    SampleOptions,
    is_complete,
    merge_counts,
    plan_regions,
    read_manifest,
)
from microchimera.cohort.sample import (
    RECORD_NAME,
    check_sample,
    count_region,
    fingerprint,
    process_sample,
)
from microchimera.count import count_alleles
from microchimera.errors import FormatError, InputError
from microchimera.io.contigs import region_mask
from microchimera.io.sites import SiteTable, read_sites
from microchimera.options import CountFilters

HEADER = "sample\tbam\thost\tdonors\tgenotypes\tpedigree\tsites\ttissue\n"


@pytest.fixture(scope="module")
def small_cohort_fixture(tiny_family_fixture, tmp_path_factory):
    """A manifest of the tiny family's one sample (the mother's, with her son's and daughter's DNA)."""
    return write_manifest(tmp_path_factory.mktemp("small_cohort") / "manifest.tsv", tiny_family_fixture,
                          list(tiny_family_fixture.bams))


def _write(tmp_path, text, name="m.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_manifest__paths_relative_to_manifest_and_lists(tmp_path):
    (tmp_path / "sub").mkdir()
    path = _write(tmp_path / "sub", "# a comment\n" + HEADER +
                  "a\tx.bam,y.bam\tmum\tson, daughter\tg.vcf.gz\tf.ped\t\tbrain\n\n")
    (spec,) = read_manifest(path).samples
    assert spec.bams == (tmp_path / "sub" / "x.bam", tmp_path / "sub" / "y.bam")
    assert spec.donors == ("son", "daughter")
    assert spec.sites is None and spec.site_source == tmp_path / "sub" / "g.vcf.gz"
    assert spec.tissue == "brain" and spec.line == 3


def test_read_manifest__every_row_error_at_once_with_line_numbers(tmp_path):
    path = _write(tmp_path, HEADER +
                  "ok\ta.bam\tmum\tson\tg.vcf\tf.ped\t\t\n"       # line 2: fine
                  "\ta.bam\tmum\tson\tg.vcf\tf.ped\t\t\n"         # 3: no sample
                  "ok\ta.bam\tmum\tson\tg.vcf\tf.ped\t\t\n"       # 4: duplicate
                  "c d\t\tmum\tmum\t\tf.ped\t\t\n"                # 5: bad name, no bam, host=donor, no panel
                  "e\ta.bam\n")                                   # 6: wrong field count
    with pytest.raises(FormatError) as info:
        read_manifest(path)
    msg = str(info.value)
    assert "7 problem(s)" in msg
    for expected in ("line 3: empty 'sample'", "line 4 (sample ok): sample 'ok' already given on line 2",
                     "line 5 (sample c d): 'sample' must be", "line 5 (sample c d): empty 'bam'",
                     "the host 'mum' is also listed as a donor", "line 5 (sample c d): no SNP panel",
                     "line 6: expected 8 tab-separated fields, found 2"):
        assert expected in msg


def test_read_manifest__header_problems(tmp_path):
    with pytest.raises(FormatError, match=r"(?s)unknown column.*'genotype'.*missing required column.*bam"):
        read_manifest(_write(tmp_path, "sample\thost\tgenotype\nx\ty\tz\n"))
    with pytest.raises(FormatError, match="no samples"):
        read_manifest(_write(tmp_path, HEADER))
    with pytest.raises(InputError, match="manifest not found"):
        read_manifest(tmp_path / "absent.tsv")


def test_read_manifest__relationship_mode(tmp_path):
    path = _write(tmp_path, "sample\tbam\trelationship\tsites\tpedigree\n"
                  "a\ta.bam\tchild,child\ts.vcf\t\n"
                  "b\tb.bam\tchild\ts.vcf\tf.ped\n")
    with pytest.raises(FormatError, match="line 3 .*cannot be combined") as info:
        read_manifest(path)
    assert "line 2" not in str(info.value)


def _sites(contigs_pos):
    contigs = tuple(sorted({c for c, _ in contigs_pos}))
    cid = np.array([contigs.index(c) for c, _ in contigs_pos], dtype=np.int32)
    pos = np.array([p for _, p in contigs_pos], dtype=np.int64)
    n = len(pos)
    return SiteTable(contigs=contigs, contig_id=cid, pos=pos, ref=np.zeros(n, np.uint8), alt=np.ones(n, np.uint8),
                     af=np.full(n, 0.5))


def test_plan_regions__partition_every_site_once_never_across_contigs():
    rng = np.random.default_rng(3)
    pos1 = np.sort(rng.choice(10**6, 700, replace=False))
    pos2 = np.sort(rng.integers(0, 10**5, 500))  # with repeated positions
    sites = _sites([("chr1", int(p)) for p in pos1] + [("chr2", int(p)) for p in pos2])
    for n in (1, 2, 5, 12, 1000):
        regions = plan_regions(sites, n)
        if n == 1:
            assert regions == []
            continue
        hits = np.zeros(sites.n_sites, dtype=int)
        for r in regions:
            mask = region_mask(r, sites)
            assert len(set(sites.contig_id[mask])) == 1
            hits += mask
        assert np.all(hits == 1)
        assert len(regions) <= sites.n_sites // 100
    assert 4 <= len(plan_regions(sites, 5)) <= 6


def test_merge_counts__regions_equal_whole_panel(small_cohort_fixture):
    spec = read_manifest(small_cohort_fixture).samples[0]
    sites = read_sites(spec.site_source)
    whole = count_alleles(list(spec.bams), sites)
    regions = plan_regions(sites, 3)
    assert len(regions) >= 3
    parts = [count_region(spec, SampleOptions(), r) for r in regions]
    merged = merge_counts(sites, regions, parts)
    for name in ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev"):
        assert np.array_equal(getattr(merged, name), getattr(whole, name))
    assert merged.parameters["regions"] == regions


def _strip(doc):
    """A result document without what legitimately differs between runs (paths, command, time)."""
    return {k: v for k, v in doc.items() if k not in ("provenance", "counts")}


def test_process_sample__split_equals_whole_and_record_detects_changes(small_cohort_fixture, tiny_family_fixture,
                                                                       tmp_path):
    from dataclasses import replace

    spec = read_manifest(small_cohort_fixture).samples[0]
    # With the chrY channel too, so the split path is held to everything `run` writes.
    spec = replace(spec, ychrom=str(tiny_family_fixture.ychrom_regions))
    options = SampleOptions()
    fp = fingerprint(spec, options)
    whole = process_sample(spec, options, tmp_path / "whole", fp)
    regions = plan_regions(read_sites(spec.site_source), 4)
    parts = [count_region(spec, options, r) for r in regions]
    split = process_sample(spec, options, tmp_path / "split", fp, regions, *parts)
    assert whole["status"] == split["status"] == "ok" and split["n_regions"] == len(regions) >= 3
    assert whole["ychrom"] == split["ychrom"] == "estimated"
    docs = [json.loads((tmp_path / d / "samples" / spec.sample / "result.json").read_text())
            for d in ("whole", "split")]
    assert _strip(docs[0]) == _strip(docs[1])
    # ... molecules included (the default): the region cuts sit in gaps no fragment spans
    assert docs[1]["evidence"]["model"] == "molecules" and docs[1]["evidence"]["fragments"] > 0
    assert "fragments.parquet" in split["outputs"]
    # The same files as `run` writes (counts, result, MultiQC, report.html): nothing forgotten.
    assert sorted(whole["outputs"]) == sorted(split["outputs"])
    assert {"counts.parquet", "result.json", "result.tsv", "report.html"} <= set(whole["outputs"])
    directory = tmp_path / "whole" / "samples" / spec.sample
    assert is_complete(directory, fp)
    assert not is_complete(directory, fingerprint(spec, SampleOptions(filters=CountFilters(min_mapq=30))))
    assert check_sample(spec, options, tmp_path / "whole")["state"] == "complete"
    assert check_sample(spec, options, tmp_path / "whole", force=True)["state"] == "todo"
    (directory / "counts.parquet").write_bytes(b"x")
    assert not is_complete(directory, fp)
    (directory / RECORD_NAME).unlink()
    assert check_sample(spec, options, tmp_path / "whole")["state"] == "todo"


def test_check_sample__missing_input_is_a_recorded_failure(small_cohort_fixture, tmp_path):
    spec = read_manifest(small_cohort_fixture).samples[0]
    from dataclasses import replace

    spec = replace(spec, bams=(tmp_path / "nope.bam",))
    res = check_sample(spec, SampleOptions(), tmp_path)
    assert res["state"] == "failed" and "bam file not found" in res["record"]["message"]
    assert (tmp_path / "samples" / spec.sample / "cohort_failure.json").exists()


def test_byte_size__units_and_errors():
    assert byte_size("2G") == 2 * 1024**3
    assert byte_size("500m") == 500 * 1024**2
    assert byte_size("1.5KiB") == 1536
    assert byte_size("4096") == 4096
    for bad in ("", "G", "-1M", "two"):
        with pytest.raises(argparse.ArgumentTypeError):
            byte_size(bad)


def test_cohort_parser__scheduler_and_workers_exclusive(capsys):
    args = get_parser().parse_args(["cohort", "m.tsv", "--outdir", "o", "--workers", "3", "--split-size", "1G"])
    assert (args.workers, args.scheduler, args.split_size, args.retries) == (3, None, 1024**3, 2)
    with pytest.raises(SystemExit):
        get_parser().parse_args(["cohort", "m.tsv", "--outdir", "o", "--workers", "2", "--scheduler", "tcp://x:1"])


def test_cohort_cli__bad_manifest_exit_1_lists_rows(tmp_path, capsys):
    from microchimera.cli import main

    path = _write(tmp_path, HEADER + "a\t\tmum\tson\tg\tf\t\t\n")
    assert main(["cohort", str(path), "--outdir", str(tmp_path / "o"), "--workers", "1"]) == 1
    assert "line 2 (sample a): empty 'bam'" in capsys.readouterr().err


def test_process_sample__ychrom_when_asked_and_host_not_male(small_cohort_fixture, tiny_family_fixture, tmp_path):
    from dataclasses import replace

    import pyarrow.parquet as pq

    from microchimera.cohort import SampleOutcome, write_cohort_table

    spec = read_manifest(small_cohort_fixture).samples[0]
    bed = tiny_family_fixture.ychrom_regions
    options = SampleOptions(report=False)
    outcomes = []
    for s in (replace(spec, ychrom=str(bed)), replace(spec, sample="plain"),
              # the PED says this host is male: `run` skips the chrY channel and says why
              replace(spec, sample="male_host", host="father", donors=("son",), ychrom=str(bed))):
        record = process_sample(s, options, tmp_path, fingerprint(s, options))
        assert record["status"] == "ok"
        outcomes.append(SampleOutcome(s, "done", record))
    assert [o.record["ychrom"] for o in outcomes] == ["estimated", None, "skipped"]  # None: not asked
    parquet, _ = write_cohort_table(outcomes, tmp_path)
    rows = pq.read_table(parquet).to_pylist()
    assert [(r["sample"], r["donor"], r["male_status"]) for r in rows] == [
        (spec.sample, "son", "estimated"), (spec.sample, "daughter", "estimated"), (spec.sample, "contamination", None),
        ("plain", "son", None), ("plain", "daughter", None), ("plain", "contamination", None),
        ("male_host", "son", "skipped"), ("male_host", "contamination", None)]
    assert [r["male_fraction"] >= 0 for r in rows[:2]] == [True, True] and rows[2]["male_fraction"] is None
    assert rows[3]["male_fraction"] is None


def test_read_manifest__contaminants_column(tmp_path):
    head = "sample\tbam\thost\tdonors\tcontaminants\tgenotypes\tpedigree\n"
    (spec,) = read_manifest(_write(tmp_path, head + "a\ta.bam\tmum\tson\tctrl,other\tg.vcf\tf.ped\n")).samples
    assert spec.donors == ("son",) and spec.contaminants == ("ctrl", "other")
    with pytest.raises(FormatError, match="'son' listed both in 'donors' and in 'contaminants'"):
        read_manifest(_write(tmp_path, head + "a\ta.bam\tmum\tson\tson\tg.vcf\tf.ped\n", name="m2.tsv"))


def test_process_sample__two_tissues_sharing_one_sm_keep_the_manifest_names(small_cohort_fixture, tmp_path):
    """Issue 16 item 2: outputs were keyed by the BAM's @RG SM, so two tissues of one person
    whose BAMs share it collided (one MultiQC file, two same-named cohort rows)."""
    from dataclasses import replace

    import pyarrow.parquet as pq

    from microchimera.cohort import SampleOutcome, write_cohort_table
    from microchimera.report.html import cohort_rows as html_cohort_rows

    spec = read_manifest(small_cohort_fixture).samples[0]
    options = SampleOptions(report=False)
    outcomes, docs = [], []
    for name, tissue in (("mum_brain", "brain"), ("mum_heart", "heart")):
        s = replace(spec, sample=name, tissue=tissue)  # the same BAM, so the same SM
        assert process_sample(s, options, tmp_path, fingerprint(s, options))["status"] == "ok"
        outcomes.append(SampleOutcome(s, "done", {}))
        directory = tmp_path / "samples" / name
        doc = json.loads((directory / "result.json").read_text())
        assert (doc["label"], doc["tissue"]) == (name, tissue) and doc["sample"] == "mother_mix"
        (mqc,) = directory.glob("*_mqc.json")
        assert mqc.name == f"{name}_microchimera_mqc.json"
        assert {k.split(" | ")[0] for k in json.loads(mqc.read_text())["data"]} == {name}
        docs.append(doc)
    parquet, _ = write_cohort_table(outcomes, tmp_path)
    rows = pq.read_table(parquet).to_pylist()
    assert {r["sample"] for r in rows} == {"mum_brain", "mum_heart"}
    assert {(r["sample"], r["tissue"]) for r in rows} == {("mum_brain", "brain"), ("mum_heart", "heart")}
    assert {r["sample"] for r in html_cohort_rows(docs)} == {"mum_brain (brain)", "mum_heart (heart)"}


def test_docs_cohort_library_example__runs_as_a_script(small_cohort_fixture, tmp_path, monkeypatch):
    """Issue 16 item 14: the library example of docs/cohort.md (it passed min_mapq to
    SampleOptions, which takes a CountFilters since the options refactor)."""
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "cohort.md").read_text(encoding="utf-8")
    library = text.split("## Library", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", library.split("\n## ", 1)[0], re.S)
    manifest = tmp_path / "manifest.tsv"
    shutil.copy(small_cohort_fixture, manifest)
    # the manifest's paths are relative to its own folder: rewrite them for the copy
    rows = [line.split("\t") for line in manifest.read_text().splitlines()]
    head = rows[0]
    for row in rows[1:]:
        for col in ("bam", "genotypes", "pedigree", "sites"):
            i = head.index(col)
            if row[i]:
                row[i] = str((Path(small_cohort_fixture).parent / row[i]).resolve())
    manifest.write_text("\n".join("\t".join(r) for r in rows) + "\n")
    (tmp_path / "example.py").write_text(code)
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[0] == "1 0 0"
    assert (tmp_path / "results" / "cohort.parquet").exists()
