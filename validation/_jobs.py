"""Running a validation's replicates on a process pool, with a resumable JSON-lines log."""
from __future__ import annotations

import json
from multiprocessing import Pool
from pathlib import Path

from microchimera._progress import progress_bar


def _one_blas_thread() -> None:
    """Pool initializer: one BLAS thread per worker process.  OpenBLAS starts a thread per
    core in every process, so ``procs`` workers on as many cores oversubscribe them; its
    threads spin while they wait, and a no-family replicate took 10.9 s instead of 6.7 s on
    a loaded 2-core machine.  No-op without threadpoolctl (a test extra)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1, user_api="blas")


def worker_pool(procs: int) -> Pool:
    """A process pool of ``procs`` workers with one BLAS thread each (:func:`_one_blas_thread`)."""
    return Pool(procs, initializer=_one_blas_thread)


def read_log(log: Path | None) -> list[dict]:
    """The rows already in ``log`` (none if it is None or absent)."""
    if log is None or not Path(log).exists():
        return []
    return [json.loads(line) for line in Path(log).read_text().splitlines() if line.strip()]


def run_jobs(worker, jobs: list, procs: int, *, log: Path | None = None, name: str = "replicates",
             progress: bool = False) -> list[dict]:
    """Run ``worker(job)`` for every job on ``procs`` processes; each returns a list of rows.

    With ``log``, each job's rows are appended as JSON lines as soon as it ends (so a run
    stopped at any moment keeps what it finished).  Returns the new rows.
    """
    rows = []
    fh = open(log, "a") if log is not None else None  # noqa: SIM115 - appended to as jobs end
    try:
        with worker_pool(procs) as pool, progress_bar(progress, name, total=len(jobs), unit="replicates") as advance:
            for out in pool.imap_unordered(worker, jobs, chunksize=1):
                rows.extend(out)
                if fh is not None:
                    fh.write("".join(json.dumps(r) + "\n" for r in out))
                    fh.flush()
                advance()
    finally:
        if fh is not None:
            fh.close()
    return rows
