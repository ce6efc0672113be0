"""A cohort whose two tissues share one @RG SM, through real MultiQC (issue 16 item 2, must show).

Two tissues of one person are often sequenced as two BAMs with the person's ID as SM.  The
cohort names every output by the manifest's ``sample`` column, not by SM, so the six rows of
the manifest below stay six samples: six ``*_mqc.json`` files, six samples in MultiQC's
data, six named sample groups (with their tissue) in ``cohort.tsv`` and ``cohort.html``.
About 17 s (simulation and the cohort ~14 s, MultiQC ~3 s): left unmarked.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest
from helpers.cohort import MANIFEST_HEADER
from helpers.family import family_scenario

from microchimera.cli import main

DONORS = ("son", "daughter")
#: The BAM shared by two tissues; its SM is no manifest name.
SHARED = "mother_tissue"
#: manifest sample -> (simulated BAM whose SM it carries, tissue)
ROWS = {
    "mum_brain": (SHARED, "brain"),
    "mum_heart": (SHARED, "heart"),
    "mum_blood": ("mum_blood", "blood"),
    "mum_liver": ("mum_liver", "liver"),
    "mum_lung": ("mum_lung", "lung"),
    "mum_skin": ("mum_skin", "skin"),
}
# Small on purpose (seconds, 2 cores): 400 sites at depth 10.
PANEL = {"n_sites": 400, "spacing": 300}
SEQUENCING = {"depth": 10, "read_length": 100, "fragment_mean": 180, "fragment_sd": 30, "fragment_max": 300}


def _sm(bam: Path) -> str:
    with pysam.AlignmentFile(str(bam)) as af:
        (rg,) = af.header.to_dict()["RG"]
    return rg["SM"]


@pytest.fixture(scope="module")
def shared_sm_cohort_fixture(tmp_path_factory):
    """``(manifest, outdir)``: the six-row cohort above, run by ``microchimera cohort``."""
    from microchimera.sim import load_scenario, simulate

    tmp = tmp_path_factory.mktemp("shared_sm_cohort")
    simulated = sorted({bam for bam, _ in ROWS.values()})
    scenario = family_scenario("shared_sm", [{"name": n, "host": "mother", "donors": {"son": 0.02}}
                                             for n in simulated], panel=PANEL, sequencing=SEQUENCING)
    sim = simulate(load_scenario(scenario), tmp / "sim", np.random.default_rng(16), seed=16)
    # The second tissue of the shared person: its own file, the same @RG SM.
    heart = tmp / "mum_heart.bam"
    shutil.copy(sim.bams[SHARED], heart)
    shutil.copy(str(sim.bams[SHARED]) + ".bai", str(heart) + ".bai")
    bams = {name: (heart if name == "mum_heart" else sim.bams[bam]) for name, (bam, _) in ROWS.items()}
    assert _sm(bams["mum_brain"]) == _sm(bams["mum_heart"]) == SHARED

    manifest = tmp / "manifest.tsv"

    def rel(p):
        return os.path.relpath(p, tmp)

    manifest.write_text("\n".join([MANIFEST_HEADER] + [
        f"{name}\t{rel(bams[name])}\tmother\t{','.join(DONORS)}\t{rel(sim.family_vcf)}\t{rel(sim.ped)}\t"
        f"{rel(sim.sites_vcf)}\t{tissue}" for name, (_, tissue) in ROWS.items()]) + "\n")
    outdir = tmp / "cohort"
    code = main(["cohort", str(manifest), "--outdir", str(outdir), "--workers", "2", "--no-sample-reports", "-q"])
    assert code == 0
    return manifest, outdir


def test_cohort__two_tissues_sharing_one_sm_are_six_named_rows(shared_sm_cohort_fixture):
    _, outdir = shared_sm_cohort_fixture
    mqc = sorted(p.name for p in outdir.glob("samples/*/*_mqc.json"))
    assert mqc == sorted(f"{name}_microchimera_mqc.json" for name in ROWS)
    with open(outdir / "cohort.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert {(r["sample"], r["tissue"]) for r in rows} == {(n, t) for n, (_, t) in ROWS.items()}
    assert all(r["status"] == "done" for r in rows)
    # one row per (sample, donor): the two donors and the unknown unrelated contributor
    assert sorted(r["sample"] for r in rows) == sorted(list(ROWS) * 3)
    assert SHARED not in {r["sample"] for r in rows}
    # cohort.html: a row per (sample, donor) whose first cell names the sample with its tissue,
    # beside it ("mum_brain", "brain") or with it ("mum_brain (brain)")
    table = _html_rows((outdir / "cohort.html").read_text(encoding="utf-8"))
    named = {name for name, (_, tissue) in ROWS.items()
             if any(r[:2] == [name, tissue] or r[0] == f"{name} ({tissue})" for r in table)}
    assert named == set(ROWS), table[:8]
    assert not any(SHARED in r[0] for r in table)


def _html_rows(text: str) -> list:
    """The ``<td>`` texts of every table row of an HTML page (header rows left out)."""
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag == "td":
                self.cell = []

        def handle_endtag(self, tag):
            if tag == "td" and self.cell is not None:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    parser = Rows()
    parser.feed(text)
    return [r for r in parser.rows if r]


def _multiqc_samples(data: dict) -> dict:
    """MultiQC's parsed data of the microchimera section: sample (before `` | donor``) -> donors."""
    (table,) = [v for k, v in data["report_saved_raw_data"].items() if "microchimera" in k]
    out: dict = {}
    for key in table:
        sample, donor = key.split(" | ")
        out.setdefault(sample, set()).add(donor)
    return out


def test_multiqc__six_samples_named_as_in_the_manifest(shared_sm_cohort_fixture, tmp_path):
    """Real MultiQC over the cohort's output directory, as docs/report.md says (``multiqc DIR``)."""
    _, outdir = shared_sm_cohort_fixture
    report = tmp_path / "multiqc"
    proc = subprocess.run([sys.executable, "-m", "multiqc", str(outdir), "-o", str(report), "--data-format", "json",
                           "--no-version-check", "--quiet", "--force"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((report / "multiqc_data" / "multiqc_data.json").read_text())
    # The mqc files are custom content of plot_type "table" (report/multiqc.py): MultiQC keeps
    # them as one table, a row per "sample | donor"; its general-stats table gets nothing.
    samples = _multiqc_samples(data)
    assert set(samples) == set(ROWS), sorted(samples)
    assert sum(len(d) for d in samples.values()) == 3 * len(ROWS)
    assert all({"son", "daughter"} <= donors for donors in samples.values()), samples
    assert SHARED not in samples
