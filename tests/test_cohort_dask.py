"""``microchimera cohort`` on a real Dask cluster: a scheduler and two worker processes
started with the ``dask`` command line on 127.0.0.1, and 20 simulated samples, one corrupt.

Each test leaves the cluster with two live workers; the module fixture stops every process
it started, even when a test fails.

The fault tests (a killed worker, driver or scheduler) do not race the clock: the engine's test
gate (``gate_fixture``, :class:`helpers.cohort.Gate`) holds every sample's ``process`` task
until the test lets it through, so the kill lands exactly when the test says, on a fast or a
loaded machine alike.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq
import pytest
from helpers.cohort import (
    CORRUPT,
    N_SAMPLES,
    DaskCluster,
    Gate,
    numeric_results,
    simulate_cohort,
    wait_for,
)

from microchimera.cli import main
from microchimera.cohort import SampleOptions, run_cohort
from microchimera.cohort.engine import TEST_GATE_ENV
from microchimera.cohort.sample import FAILURE_NAME, RECORD_NAME
from microchimera.errors import MicrochimeraError

GOOD = [f"s{i:02d}" for i in range(N_SAMPLES) if f"s{i:02d}" != CORRUPT]
NO_HTML = SampleOptions(report=False)  # per-sample report.html costs seconds; tested in test_cohort.py


@pytest.fixture(scope="module")
def cohort_fixture(tmp_path_factory):
    return simulate_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="module")
def cluster_fixture(tmp_path_factory, request):
    cluster = DaskCluster(tmp_path_factory.mktemp("dask"), n_workers=2)
    # SIGKILL to each process group we started: nothing of ours can outlive the module, and
    # a graceful Dask shutdown costs seconds that CI does not need to spend.
    request.addfinalizer(lambda: cluster.close(graceful=False))
    return cluster


@pytest.fixture(scope="module")
def reference_fixture(cohort_fixture, cluster_fixture, tmp_path_factory):
    """One uninterrupted run through the CLI: (outdir, exit code, seconds)."""
    outdir = tmp_path_factory.mktemp("reference")
    t = time.time()
    rc = main(["cohort", str(cohort_fixture), "--outdir", str(outdir), "--scheduler", cluster_fixture.address,
               "-q", "--no-sample-reports"])
    return outdir, rc, time.time() - t


@pytest.fixture
def gate_fixture(tmp_path):
    """The engine's test gate; aborted at the end, so that no task of a failed test stays held
    on the shared cluster."""
    gate = Gate(tmp_path / "gate")
    yield gate
    gate.abort()


def _records(outdir):
    return sorted(p.parent.name for p in (outdir / "samples").glob(f"*/{RECORD_NAME}"))


def _let_through(gate, outdir, n_good, alive):
    """Release the first ``n_good`` good samples whose ``process`` task reaches the gate (and the
    corrupt one, should it come first); return them once each has finished."""
    released = []
    while sum(s in GOOD for s in released) < n_good:
        sample, _ = gate.wait_started(exclude=released, alive=alive)
        gate.release(sample)
        released.append(sample)
    finished = [outdir / "samples" / s / (RECORD_NAME if s in GOOD else FAILURE_NAME) for s in released]
    wait_for(lambda: all(p.exists() for p in finished), f"{released} finished", alive=alive)
    return sorted(s for s in released if s in GOOD)


def test_cohort__19_results_one_recorded_failure_exit_3(reference_fixture):
    outdir, rc, _ = reference_fixture
    assert rc == 3
    assert _records(outdir) == GOOD
    for s in GOOD:
        assert (outdir / "samples" / s / "counts.parquet").exists()
        assert (outdir / "samples" / s / "result.json").exists()
    failure = json.loads((outdir / "samples" / CORRUPT / FAILURE_NAME).read_text())
    assert failure["status"] == "failed" and failure["error_type"] in ("FormatError", "InputError")
    assert "s19.bam" in failure["message"]
    table = pq.read_table(outdir / "cohort.parquet").to_pylist()
    assert {r["sample"] for r in table if r["status"] == "done"} == set(GOOD)
    assert len([r for r in table if r["status"] == "done"]) == 3 * len(GOOD)  # son, daughter, contamination
    (bad,) = [r for r in table if r["status"] == "failed"]
    assert bad["sample"] == CORRUPT and bad["error"] and bad["manifest_line"] == N_SAMPLES + 1
    son = [r["fraction"] for r in table if r["donor"] == "son"]
    assert len(son) == len(GOOD) and all(0.005 < f < 0.05 for f in son)  # truth 0.02; sanity only, calibration lives in validation/
    tsv = (outdir / "cohort.tsv").read_text().splitlines()
    assert len(tsv) == 1 + 3 * len(GOOD) + 1
    summary = json.loads((outdir / "cohort.json").read_text())
    assert (summary["n_done"], summary["n_failed"]) == (19, 1)
    html = (outdir / "cohort.html").read_text()  # the report package's cohort view
    assert "19 samples (1 failed" in html and all(s in html for s in GOOD)


def test_cohort__rerun_skips_complete_samples_and_redoes_a_changed_one(reference_fixture, cluster_fixture,
                                                                       cohort_fixture, tmp_path):
    outdir, _, _ = reference_fixture
    before = numeric_results(outdir, GOOD)
    result = run_cohort(cohort_fixture, outdir, scheduler=cluster_fixture.address, report=False, options=NO_HTML)
    assert [o.sample for o in result.skipped] == GOOD
    assert [o.sample for o in result.failed] == [CORRUPT]  # failures are always retried
    # A damaged output makes its sample incomplete: it is redone, the others are not.
    (outdir / "samples" / "s03" / "result.tsv").write_text("truncated")
    result = run_cohort(cohort_fixture, outdir, scheduler=cluster_fixture.address, report=False, options=NO_HTML)
    assert [o.sample for o in result.done] == ["s03"]
    assert numeric_results(outdir, GOOD) == before


def test_cohort__killed_worker_is_retried(reference_fixture, cluster_fixture, cohort_fixture, gate_fixture,
                                         tmp_path, monkeypatch):
    """The worker process running a sample's ``process`` task is killed mid-task (held at the
    gate, after another sample finished): the task runs again elsewhere, results unchanged."""
    ref_outdir, _, _ = reference_fixture
    outdir = tmp_path / "killed"
    gate, victim = gate_fixture, GOOD[1]
    gate.release(*(s for s in (*GOOD, CORRUPT) if s != victim))  # only the victim is ever held
    monkeypatch.setenv(TEST_GATE_ENV, gate.env[TEST_GATE_ENV])
    box = {}
    runner = threading.Thread(target=lambda: box.update(
        result=run_cohort(cohort_fixture, outdir, scheduler=cluster_fixture.address, report=False, options=NO_HTML)))
    pids = cluster_fixture.worker_pids()
    runner.start()
    try:
        (killed,) = wait_for(lambda: gate.pids(victim), f"{victim} at the gate", alive=runner.is_alive)
        wait_for(lambda: _records(outdir), "a finished sample", alive=runner.is_alive)
        assert killed in pids.values()  # the task process under a nanny
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: [p for p in gate.pids(victim) if p != killed], f"{victim} rescheduled", alive=runner.is_alive)
        gate.release(victim)
    finally:
        gate.abort()  # a no-op once everything is released; else the run ends instead of hanging
        runner.join(120)
    assert not runner.is_alive()
    result = box["result"]
    assert [o.sample for o in result.failed] == [CORRUPT]
    assert sorted(o.sample for o in result.done) == GOOD
    assert numeric_results(outdir, GOOD) == numeric_results(ref_outdir, GOOD)
    cluster_fixture.wait_for_workers(2)  # the nanny restarted the killed worker
    assert killed not in cluster_fixture.worker_pids().values()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_cohort__interrupted_run_resumes_to_identical_results(reference_fixture, cluster_fixture, cohort_fixture,
                                                              gate_fixture, tmp_path, sig):
    ref_outdir, _, _ = reference_fixture
    outdir = tmp_path / "interrupted"
    gate = gate_fixture
    cmd = [sys.executable, "-m", "microchimera", "cohort", str(cohort_fixture), "--outdir", str(outdir),
           "--scheduler", cluster_fixture.address, "-q", "--no-report"]
    # A shell that starts a job in the background sets SIGINT to "ignored", and children
    # inherit that (Python then installs no Ctrl-C handler): give the driver the default back.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **gate.env},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # One sample finishes, every other one is held at the gate: the signal lands mid-run.
        (first,) = _let_through(gate, outdir, 1, alive=lambda: proc.poll() is None)
        proc.send_signal(sig)  # SIGKILL: no clean-up at all in the driver; SIGINT: Ctrl-C
        rc = proc.wait(60)
    finally:
        gate.abort()  # the tasks still held on the shared cluster raise and write nothing
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    finished_before = _records(outdir)
    assert finished_before == [first]
    # Whatever the killed run left behind: only complete samples carry a record.
    rc = main(["cohort", str(cohort_fixture), "--outdir", str(outdir), "--scheduler", cluster_fixture.address,
               "-q", "--no-report"])
    assert rc == 3
    summary = json.loads((outdir / "cohort.json").read_text())
    skipped = [s["sample"] for s in summary["samples"] if s["status"] == "skipped"]
    assert set(finished_before) <= set(skipped)
    assert _records(outdir) == GOOD
    assert numeric_results(outdir, GOOD) == numeric_results(ref_outdir, GOOD)
    ref = pq.read_table(ref_outdir / "cohort.parquet").drop(["status"])
    new = pq.read_table(outdir / "cohort.parquet").drop(["status"])
    assert new.equals(ref)


def test_cohort__killed_scheduler_is_an_error_and_the_rerun_finishes(reference_fixture, cluster_fixture,
                                                                      cohort_fixture, gate_fixture, tmp_path,
                                                                      monkeypatch):
    ref_outdir, _, _ = reference_fixture
    outdir = tmp_path / "lost"
    gate = gate_fixture
    doomed = DaskCluster(tmp_path / "doomed", n_workers=1)
    monkeypatch.setenv(TEST_GATE_ENV, gate.env[TEST_GATE_ENV])
    box = {}

    def go():
        try:
            box["result"] = run_cohort(cohort_fixture, outdir, scheduler=doomed.address, report=False, options=NO_HTML)
        except MicrochimeraError as exc:
            box["error"] = exc

    runner = threading.Thread(target=go)
    try:
        runner.start()
        # Two samples finish, the next one is held at the gate when the scheduler dies.
        finished = _let_through(gate, outdir, 2, alive=runner.is_alive)
        os.killpg(doomed.procs[0][0].pid, signal.SIGKILL)
        runner.join(90)
    finally:
        gate.abort()
        doomed.close(graceful=False)
    assert not runner.is_alive()
    assert "lost the Dask scheduler" in str(box.get("error")), box
    assert _records(outdir) == finished and len(finished) == 2
    monkeypatch.delenv(TEST_GATE_ENV)
    result = run_cohort(cohort_fixture, outdir, scheduler=cluster_fixture.address, report=False, options=NO_HTML)
    assert set(finished) <= {o.sample for o in result.skipped}
    assert numeric_results(outdir, GOOD) == numeric_results(ref_outdir, GOOD)
