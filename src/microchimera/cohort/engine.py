"""The driver of ``microchimera cohort``: submit every sample's tasks to a Dask cluster,
collect what comes back, and write the cohort table.

Task graph per sample (built as results arrive, so finished samples cost one cheap task)::

    check ──complete──▶ skipped (outputs reused)
      │
      └──todo──▶ count region 1 ─┐
                 count region 2 ─┼──▶ process (merge, quantify, ychrom, record)
                 ...            ─┘
                 (small samples: process alone counts the whole BAM via `run`'s pipeline)

Workers read the inputs and write ``<outdir>/samples/<sample>/`` themselves, so inputs and
``outdir`` must be on a filesystem every worker sees (as on any cluster with shared storage).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from .._atomic import write_text_atomic
from .._progress import progress_bar
from ..errors import InputError, MicrochimeraError, UsageError
from ..provenance import get_provenance
from .manifest import Manifest, SampleSpec, read_manifest
from .sample import (
    SampleOptions,
    check_sample,
    count_region,
    process_sample,
    sample_dir,
    write_failure,
)
from .table import write_cohort_table

logger = logging.getLogger(__name__)

SUMMARY_NAME = "cohort.json"
#: Test hook, unset in real runs: a directory that every worker sees.  When the driver's
#: environment names one, each sample's ``process`` task first creates
#: ``<dir>/<sample>.<pid>.started`` (``pid``: the worker process running it) and then waits
#: until ``<dir>/<sample>.go`` exists (it then runs as usual) or ``<dir>/abort`` does (it then
#: raises, writing nothing).  ``tests/test_cohort_dask.py`` uses it to kill a worker, the
#: driver or the scheduler at a known point of a run instead of racing the clock.
TEST_GATE_ENV = "MICROCHIMERA_COHORT_TEST_GATE"


@dataclass(frozen=True)
class SampleOutcome:
    """What happened to one sample in this run.

    ``status`` is ``"done"`` (computed now), ``"skipped"`` (complete outputs for the same
    inputs already there) or ``"failed"`` (``record`` holds the error).
    """

    spec: SampleSpec
    status: str
    record: dict = field(repr=False)

    @property
    def sample(self) -> str:
        return self.spec.sample

    @property
    def directory_name(self) -> str:
        return f"samples/{self.spec.sample}"


@dataclass(frozen=True)
class CohortResult:
    outdir: Path
    outcomes: tuple
    table_parquet: Path
    table_tsv: Path
    summary: Path
    report: Path | None = None

    def _with(self, status):
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list:
        return self._with("done")

    @property
    def skipped(self) -> list:
        return self._with("skipped")

    @property
    def failed(self) -> list:
        return self._with("failed")


def default_n_workers() -> int:
    """One single-threaded worker process per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def open_client(scheduler: str | None = None, n_workers: int | None = None, timeout: float = 30):
    """A ``distributed.Client``: attached to ``scheduler`` (``tcp://host:port``) when given,
    else to a new ``LocalCluster`` of ``n_workers`` single-threaded processes (default: one per CPU).

    Raises
    ------
    UsageError
        Both ``scheduler`` and ``n_workers`` given.
    InputError
        The scheduler cannot be reached within ``timeout`` seconds.
    """
    from distributed import Client, LocalCluster

    if scheduler and n_workers:
        raise UsageError("give either a scheduler address or a number of local workers, not both")
    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    # One thread per worker: counting releases the GIL but quantify is numpy/Python, so
    # processes, not threads, are what scale.
    n = n_workers or default_n_workers()
    # Dashboard on a free port (":0"): two cohorts on one machine must not fight over 8787.
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        logger.info("local Dask cluster: %d worker process(es), scheduler %s, dashboard %s", n,
                    cluster.scheduler_address, client.dashboard_link)
        yield client


def run_cohort(manifest, outdir, *, client=None, scheduler: str | None = None, n_workers: int | None = None,
               options: SampleOptions | None = None, retries: int = 2, force: bool = False,
               report: bool = True, command: str | None = None, progress: bool = False) -> CohortResult:
    """Run count → quantify (→ ychrom) for every sample of a manifest on Dask.

    Parameters
    ----------
    manifest : Manifest or path-like
        See :func:`~microchimera.cohort.read_manifest`.
    outdir : path-like
        Created if missing.  Per-sample outputs go to ``outdir/samples/<sample>/``; the
        cohort table to ``outdir/cohort.parquet`` and ``outdir/cohort.tsv``.
    client : distributed.Client, optional
        Use this client (the caller owns it).  Else one is opened with ``scheduler`` /
        ``n_workers`` (:func:`open_client`) and closed at the end.
    options : SampleOptions, optional
        Filters and model settings applied to every sample (default: ``SampleOptions()``).
    retries : int
        How often Dask retries a task that raised an unexpected error.  (A task on a
        worker that dies is rescheduled by the scheduler regardless.)
    force : bool
        Recompute samples whose outputs are complete.
    report : bool
        Also write ``outdir/cohort.html`` (:func:`microchimera.report.write_report`, cohort
        view, from the samples' ``result.json``).  Per-sample ``report.html``: ``options.report``.
    command : str, optional
        Recorded in provenance.
    progress : bool
        Draw a progress bar on stderr: samples finished (done, skipped or failed) of all
        (:func:`microchimera._progress.progress_bar`).

    Returns
    -------
    CohortResult
        One outcome per sample (``done``/``skipped``/``failed``).  A failed sample never
        raises; the caller decides what partial failure means.

    Raises
    ------
    FormatError
        Problems in the manifest (all of them, by line).
    InputError
        The scheduler cannot be reached, or ``outdir`` cannot be written.
    """
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest)
    options = options or SampleOptions()
    outdir = Path(outdir)
    try:
        (outdir / "samples").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{outdir}: cannot create the output directory: {exc.strerror}") from None
    started = time.time()
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(open_client(scheduler, n_workers))
        advance = stack.enter_context(progress_bar(progress, f"cohort {manifest.path.name}",
                                                   total=len(manifest.samples), unit="samples"))
        outcomes = _drive(client, manifest, outdir, options, retries, force, command, advance)
    ordered = tuple(outcomes[s.sample] for s in manifest.samples)
    parquet, tsv = write_cohort_table(ordered, outdir)
    summary = outdir / SUMMARY_NAME
    _write_summary(summary, manifest, ordered, options, retries, command, time.time() - started)
    html = _write_report(ordered, outdir, manifest) if report else None
    return CohortResult(outdir=outdir, outcomes=ordered, table_parquet=parquet, table_tsv=tsv, summary=summary,
                        report=html)


def _write_report(outcomes, outdir: Path, manifest: Manifest) -> Path | None:
    """``cohort.html``: :mod:`microchimera.report`'s cohort view over every sample with a result.
    Per-sample sections are left out (``details=False``): with figures they cost seconds per
    sample; ``microchimera report samples/<sample>/result.json`` draws them for one sample."""
    from ..report import write_report

    ok = [o for o in outcomes if o.status != "failed"]
    if not ok:
        return None
    failed = len(outcomes) - len(ok)
    title = f"microchimera cohort: {manifest.path.name}, {len(ok)} samples" + \
        (f" ({failed} failed: see cohort.tsv)" if failed else "")
    try:
        return write_report([sample_dir(outdir, o.sample) / "result.json" for o in ok], outdir / "cohort.html",
                            title=title, details=False)
    except MicrochimeraError as exc:
        # The table and the per-sample results are the record; a report that cannot be drawn
        # must not turn a finished cohort into a failed one.
        logger.warning("cohort report not written: %s", exc)
        return None


def _drive(client, manifest: Manifest, outdir: Path, options: SampleOptions, retries: int, force: bool,
           command: str | None, advance=None) -> dict:
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]  # keys must not collide with an earlier run on a shared scheduler
    n = len(manifest.samples)
    rank = {spec.sample: n - i for i, spec in enumerate(manifest.samples)}  # Dask: higher runs first
    pending, outcomes = {}, {}
    queue = as_completed()
    gate = os.environ.get(TEST_GATE_ENV)  # None unless a test set it

    def submit(func, *args, key, priority, spec, stage=None, **kwargs):
        fut = client.submit(func, *args, key=f"mc-{key}-{spec.sample}-{token}", priority=priority,
                            retries=retries, pure=False, **kwargs)
        if stage is not None:  # region counts are only inputs of `process`: not awaited here
            pending[fut.key] = (spec, stage, fut)
            queue.add(fut)
        return fut

    # Earlier manifest rows get higher priority, so samples finish in order rather than all at the end.
    for spec in manifest.samples:
        submit(check_sample, spec, options, outdir, force, key="check", priority=rank[spec.sample], spec=spec,
               stage="check")
    try:
        for fut in queue:
            spec, stage, _ = pending.pop(fut.key)
            if fut.status == "cancelled":
                raise _Interrupted(f"task {fut.key} was cancelled")
            try:
                # Waits when a killed worker took the result with it and it is being recomputed
                # (the status seen here can be a passing 'lost'/'pending' for a task that then
                # finishes); raises the task's own error after its retries, or KilledWorker.
                res = fut.result()
            except OSError:  # the scheduler went away: handled below
                raise
            except Exception:  # noqa: BLE001 - any task error is this sample's failure
                if fut.status == "cancelled":
                    raise _Interrupted(f"task {fut.key} was cancelled") from None
                outcomes[spec.sample] = _task_failure(outdir, spec, fut, stage)
                _log(outcomes, n, advance)
                continue
            fut.release()
            if stage == "check" and res["state"] == "todo":
                prio = rank[spec.sample]
                regions = res["regions"]
                parts = [submit(count_region, spec, options, r, key=f"count{j}", priority=prio, spec=spec)
                         for j, r in enumerate(regions)]
                process = (_gated, gate, process_sample, spec.sample) if gate else (process_sample,)
                submit(*process, spec, options, outdir, res["fingerprint"], regions, *parts,
                       command=command, key="process", priority=prio + 1, spec=spec, stage="process")
                continue
            if stage == "check" and res["state"] == "complete":
                outcomes[spec.sample] = SampleOutcome(spec, "skipped", res["record"])
            elif stage == "check":
                outcomes[spec.sample] = SampleOutcome(spec, "failed", res["record"])
            else:
                outcomes[spec.sample] = SampleOutcome(spec, "failed" if res["status"] == "failed" else "done", res)
            _log(outcomes, n, advance)
    except BaseException as exc:
        # Ctrl-C or a lost scheduler: cancel what is queued; per-sample outputs written so far
        # are complete (atomic files, record last), so the next run resumes from them.
        with contextlib.suppress(Exception):
            client.cancel([f for _, _, f in pending.values()], force=True)
        if isinstance(exc, OSError | _Interrupted):  # distributed's CommClosedError is an OSError
            raise MicrochimeraError(
                f"lost the Dask scheduler mid-run ({exc}); {len(outcomes)} of {n} samples had finished, and "
                f"their outputs are complete: run the same command again to finish the rest") from exc
        raise
    return outcomes


def _gated(gate: str, func, sample: str, *args, **kwargs):
    """``func(*args, **kwargs)`` once the test gate lets ``sample`` through (:data:`TEST_GATE_ENV`)."""
    gate = Path(gate)
    (gate / f"{sample}.{os.getpid()}.started").touch()
    while not (gate / f"{sample}.go").exists():
        if (gate / "abort").exists():
            raise RuntimeError(f"test gate {gate}: aborted before {sample} ran")
        time.sleep(0.01)
    return func(*args, **kwargs)


class _Interrupted(Exception):
    """Tasks cancelled under us (the scheduler went away or another client cancelled them)."""


def _task_failure(outdir, spec, fut, stage) -> SampleOutcome:
    """A task that raised (after its retries) or whose worker kept dying (KilledWorker)."""
    try:
        exc = fut.exception()
    except Exception as get_exc:  # noqa: BLE001 - e.g. CancelledError: still record something
        exc = get_exc
    if exc is None:
        exc = RuntimeError(f"task {fut.key} ended with status {fut.status}")
    return SampleOutcome(spec, "failed", write_failure(outdir, spec, exc, stage=stage))


def _log(outcomes: dict, n: int, advance=None) -> None:
    """A sample is finished: one INFO line (``-v``), one step of the progress bar."""
    if advance is not None:
        advance(1)
    last = next(reversed(outcomes.values()))
    msg = last.record.get("message", "") if last.status == "failed" else ""
    logger.info("[%d/%d] %s: %s%s", len(outcomes), n, last.sample, last.status, f" ({msg})" if msg else "")


def _write_summary(path, manifest, outcomes, options, retries, command, seconds) -> None:
    doc = {
        "schema": "microchimera.cohort/1",
        "manifest": str(manifest.path),
        "n_samples": len(outcomes),
        "n_done": sum(o.status == "done" for o in outcomes),
        "n_skipped": sum(o.status == "skipped" for o in outcomes),
        "n_failed": sum(o.status == "failed" for o in outcomes),
        "seconds": round(seconds, 3),
        "samples": [{"sample": o.sample, "status": o.status, "directory": o.directory_name,
                     **({"error": o.record.get("message"), "error_type": o.record.get("error_type")}
                        if o.status == "failed" else {})} for o in outcomes],
        "provenance": get_provenance(command=command, inputs=[manifest.path],
                                     parameters={**options.result_parameters(), "retries": retries,
                                                 "split_bytes": options.split_bytes, "version": __version__}),
    }
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n")


__all__ = ["CohortResult", "SampleOutcome", "default_n_workers", "open_client", "run_cohort", "sample_dir"]
