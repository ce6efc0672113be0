"""Progress bars (issue 16 item 12): one helper (rich) for count, simulate, cohort and the
validation scripts; percent, time left and the amount in the work's own words on a
terminal; nothing at all off a terminal."""
from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest

from microchimera._progress import progress_bar

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def terminal(monkeypatch):
    """``screen = terminal()``, called in the test itself (pytest's capture sets ``sys.stderr``
    again after fixtures ran), makes stderr a fake terminal 150 columns wide; ``screen()`` is
    what was drawn on it so far, without escape codes."""
    monkeypatch.setenv("COLUMNS", "150")
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)

    def install():
        err = _FakeTerminal()
        monkeypatch.setattr(sys, "stderr", err)
        return lambda: ANSI.sub("", err.getvalue())

    return install


def test_progress_bar__disabled_is_silent(capsys):
    with progress_bar(False, "count x.bam", total=10) as advance:
        for _ in range(10):
            advance()
    assert capsys.readouterr() == ("", "")


def test_progress_bar__enabled_never_writes_stdout(monkeypatch, capsys):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress_bar(True, "count x.bam", total=4, unit="blocks") as advance:
        advance(2)
        advance(2)
    assert capsys.readouterr().out == ""  # bars go to stderr only (rich draws nothing off a terminal)


def test_progress_bar__not_a_terminal_draws_nothing(monkeypatch):
    err = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", err)
    with progress_bar(True, "count x.bam", total=4, unit="reads") as advance:
        advance(4)
    assert err.getvalue() == ""


def test_progress_bar__terminal_shows_percent_time_left_and_amount(terminal):
    screen = terminal()
    with progress_bar(True, "count mum.bam", total=2_000_000, unit="reads") as advance:
        advance(1_000_000)
        advance(1_000_000)
    text = screen()
    assert "count mum.bam" in text and "100%" in text and "left" in text
    assert "2M of 2M reads" in text


def test_progress_bar__without_total_a_running_count(terminal):
    screen = terminal()
    with progress_bar(True, "count mum.bam", unit="reads") as advance:
        advance(12_345)
    text = screen()
    assert "12.3k reads" in text and "%" not in text


@pytest.mark.parametrize("n, text", [(0, "0"), (950, "950"), (12_345, "12.3k"), (4_560_000, "4.56M"),
                                     (271_000_000, "271M"), (1.2e9, "1.2G")])
def test_amount__short_forms(n, text):
    from microchimera._progress import _amount

    assert _amount(n) == text


def test_count_alleles__bar_in_reads_with_percent(terminal, tiny_family_fixture):
    from microchimera.count import count_alleles
    from microchimera.io.sites import read_sites

    screen = terminal()
    sim = tiny_family_fixture
    bam = sim.bams["mother_mix"]
    counts = count_alleles([bam], read_sites(sim.sites_vcf), progress=True)
    text = screen()
    assert f"count {bam.name}" in text and "%" in text and "left" in text, text
    assert re.search(r"[\d.]+k? of [\d.]+k? reads", text), text
    assert "MB" not in text
    assert counts.parameters["stats"][str(bam)]["reads"] > 5000


def _last_amount(text: str, unit: str) -> tuple[float, float]:
    """``(done, total)`` of the last ``<done> of <total> <unit>`` drawn (the final frame)."""
    scale = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}
    *_, (d, ds, t, ts) = re.findall(rf"([\d.]+)([kMG]?) of ([\d.]+)([kMG]?) {unit}", text)
    return float(d) * scale[ds], float(t) * scale[ts]


def test_count_alleles__total_from_the_index_close_to_the_reads_read(terminal, tiny_family_fixture):
    """The bar's total (reads the index says the pass will read) against the reads it read."""
    from microchimera.count import count_alleles
    from microchimera.io.sites import read_sites

    screen = terminal()
    sim = tiny_family_fixture
    bam = sim.bams["mother_mix"]
    sites = read_sites(sim.sites_vcf)
    totals = []
    for threads, chosen in ((1, sites), (2, sites), (1, sites.take(np.arange(sites.n_sites) < 3))):
        read = count_alleles([bam], chosen, threads=threads, progress=True).parameters["stats"][str(bam)]["reads"]
        done, total = _last_amount(screen(), "reads")
        assert done == pytest.approx(read, rel=0.01)
        totals.append(total)
        # the whole panel: the index's reads of its contigs; three sites: interpolated within a 16 kb window
        assert total == pytest.approx(read, rel=0.3 if chosen is sites else 1), (threads, chosen.n_sites)
    assert totals[2] < 0.1 * totals[0]


@pytest.fixture
def small_slices_cram(tiny_family_fixture, tmp_path):
    """The tiny family's BAM as a CRAM of 1000-read slices (27 slices), indexed."""
    import pysam

    sim = tiny_family_fixture
    cram = tmp_path / "mother_mix.cram"
    pysam.view("-C", "-T", str(sim.reference), "--output-fmt-option", "seqs_per_slice=1000", "-o", str(cram),
               str(sim.bams["mother_mix"]), catch_stdout=False)
    pysam.index(str(cram))
    return cram


def test_count_alleles__cram_bar_with_percent_and_time_left(terminal, tiny_family_fixture, small_slices_cram):
    """A CRAM's index has no read counts: the bar follows the bytes of the slices to decode
    (percent, time left) next to a running count of the reads read."""
    from microchimera.count import count_alleles
    from microchimera.io.sites import read_sites

    screen = terminal()
    sim = tiny_family_fixture
    counts = count_alleles([small_slices_cram], read_sites(sim.sites_vcf), reference=sim.reference, progress=True)
    text = screen()
    read = counts.parameters["stats"][str(small_slices_cram)]["reads"]
    assert "count mother_mix.cram" in text and "100%" in text and "left" in text, text
    *_, (done, k) = re.findall(r"([\d.]+)(k?) reads", text)
    assert float(done) * (1e3 if k else 1) == pytest.approx(read, rel=0.01), text
    assert " of " not in text and "bytes" not in text


def test_count_alleles__cram_bytes_to_decode_follow_the_reads_read(tiny_family_fixture, small_slices_cram):
    """The total (bytes of the slices overlapping the runs of sites) against the slices
    there are, and the share of it passed against the share of the reads read on the way."""
    from microchimera.count import counting
    from microchimera.io.alignments import open_alignments
    from microchimera.io.sites import read_sites
    from microchimera.options import CountFilters

    sim = tiny_family_fixture
    info = open_alignments(small_slices_cram, reference=sim.reference)
    crai = counting._read_crai(info.index)
    mapped = crai[crai[:, 0] >= 0]
    assert len(mapped) > 20
    sites = read_sites(sim.sites_vcf)
    totals = []
    for chosen in (sites, sites.take(np.arange(sites.n_sites) < 3)):
        spans = counting._plan(chosen, info)
        work = counting._slice_work(info, spans)
        calls = []
        kst = counting._KernelState(spans, filters=CountFilters(), fragments=False, **counting._INITIAL)
        counting._count_pysam(info, kst, lambda n=1, work=0, calls=calls: calls.append((n, work)), work)
        reads, passed = np.array(calls, dtype=float).T
        assert reads.sum() == kst.stats()["reads"] and passed.sum() == pytest.approx(work.total)
        assert (passed >= 0).all()
        if chosen is sites:  # the panel spans both contigs: every mapped slice, read in turn
            assert work.total == pytest.approx(mapped[:, 5].sum(), rel=0.01)
            assert len(calls) > 5
            assert np.abs(np.cumsum(passed) / work.total - np.cumsum(reads) / reads.sum()).max() < 0.1
        else:  # three sites 300 bp apart: the slice or two over them
            assert 0 < work.total <= 2 * mapped[:, 5].max()
        totals.append(work.total)
    assert totals[1] < 0.1 * totals[0]


def test_simulate__bar_in_dna_fragments_with_percent(terminal, tmp_path, capsys):
    from microchimera.sim import load_scenario, simulate

    screen = terminal()
    scenario = load_scenario({"name": "tiny", "panel": {"n_sites": 200}, "sequencing": {"depth": 20},
                              "family": {"people": [{"id": "mom", "sex": "female"},
                                                    {"id": "kid", "sex": "male", "mother": "mom"}]},
                              "samples": [{"name": "s", "host": "mom", "donors": {"kid": 0.01}}]})
    simulate(scenario, tmp_path, np.random.default_rng(1), progress=True)
    text = screen()
    assert "simulate s" in text and "%" in text and "DNA fragments" in text, text
    assert re.search(r"[\d.]+k of 4k DNA fragments", text), text  # 200 sites x depth 20
    assert capsys.readouterr() == ("", "")  # no bar on the real stdout or stderr


def test_run_cohort__bar_in_samples_with_percent(terminal, tiny_family_fixture, tmp_path):
    from distributed import Client, LocalCluster
    from helpers.cohort import MANIFEST_HEADER

    from microchimera.cohort import SampleOptions, run_cohort

    screen = terminal()
    sim = tiny_family_fixture
    manifest = tmp_path / "m.tsv"
    manifest.write_text("\n".join([MANIFEST_HEADER] + [
        f"{name}\t{sim.bams['mother_mix']}\tmother\tson,daughter\t{sim.family_vcf}\t{sim.ped}\t{sim.sites_vcf}\tbrain"
        for name in ("a", "b")]) + "\n")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        result = run_cohort(manifest, tmp_path / "out", client=client, options=SampleOptions(report=False),
                            report=False, progress=True)
    assert [o.status for o in result.outcomes] == ["done", "done"]
    text = screen()
    assert "cohort m.tsv" in text and "100%" in text and "2 of 2 samples" in text, text


def _one_replicate(job):
    """Stands in for a validation script's replicate (the science is tested in validation/)."""
    return [{"job": job}]


@pytest.mark.parametrize("script", ["recover_fraction", "contamination"])
def test_validation_run__bar_in_replicates_with_percent(terminal, monkeypatch, script):
    import importlib
    from pathlib import Path

    screen = terminal()
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "validation"))
    module = importlib.import_module(script)
    monkeypatch.setattr(module, "replicate", _one_replicate)
    if script == "recover_fraction":
        rows = module.run(reps=3, procs=1, grid=[("typed", 1e-2)], progress=True)
    else:
        rows = module.run(3, 1, cells=("no_contam",), progress=True)
    assert len(rows) == 3
    text = screen()
    assert script in text and "100%" in text and "3 of 3 replicates" in text, text
