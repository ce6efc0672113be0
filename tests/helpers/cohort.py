"""Helpers for the cohort tests: a tiny simulated cohort, a real Dask cluster on loopback, and
the test side of the cohort engine's gate.

The cluster is started with the ``dask`` command line exactly as docs/cohort.md tells users
to (``dask scheduler`` + ``dask worker``), each worker in its own process under a nanny.

The fault tests never race the clock: :class:`Gate` holds every sample's ``process`` task at
a known point until the test lets it through, and :func:`wait_for` waits for events that the
gate makes certain to happen (its timeout only turns a hang into a failure).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from helpers.family import family_scenario
from microchimera.cohort.engine import TEST_GATE_ENV

N_SAMPLES = 20
CORRUPT = "s19"
DONORS = {"son": 0.02, "daughter": 0.01}
# Small on purpose: 20 samples must simulate, count and fit in seconds (CI has 2 cores).
PANEL = {"n_sites": 400, "spacing": 300}
SEQUENCING = {"depth": 30, "read_length": 100, "fragment_mean": 180, "fragment_sd": 30, "fragment_max": 300}
MANIFEST_HEADER = "sample\tbam\thost\tdonors\tgenotypes\tpedigree\tsites\ttissue"


def simulate_cohort(directory: Path, n_samples: int = N_SAMPLES, seed: int = 7) -> Path:
    """Simulate one family and ``n_samples`` tissue samples of the mother; write ``manifest.tsv``
    (relative paths) with the last sample's BAM corrupted.  Returns the manifest path."""
    from microchimera.sim import load_scenario, simulate

    directory.mkdir(parents=True, exist_ok=True)
    names = [f"s{i:02d}" for i in range(n_samples)]
    scenario = family_scenario("cohort", [{"name": n, "host": "mother", "donors": DONORS} for n in names],
                               panel=PANEL, sequencing=SEQUENCING)
    sim = simulate(load_scenario(scenario), directory / "sim", np.random.default_rng(seed), seed=seed)
    if CORRUPT in sim.bams:
        corrupt_bam(sim.bams[CORRUPT])
    return write_manifest(directory / "manifest.tsv", sim, names)


def write_manifest(path: Path, sim, samples, *, host: str = "mother", donors=("son", "daughter"),
                   tissue: str = "brain") -> Path:
    """A cohort manifest of ``samples`` of the simulation ``sim`` (a ``SimulationResult``), its
    paths relative to the manifest; returns ``path``."""
    def rel(p):
        return os.path.relpath(p, path.parent)

    rows = [MANIFEST_HEADER] + [
        f"{name}\t{rel(sim.bams[name])}\t{host}\t{','.join(donors)}\t{rel(sim.family_vcf)}\t{rel(sim.ped)}\t"
        f"{rel(sim.sites_vcf)}\t{tissue}" for name in samples]
    path.write_text("\n".join(rows) + "\n")
    return path


def corrupt_bam(path: Path) -> None:
    """Overwrite 4 kB in the middle of a BAM (its index stays): counting must fail."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = b"\0" * 4096
    path.write_bytes(bytes(data))


def _dask_exe() -> list:
    exe = shutil.which("dask")
    return [exe] if exe else [sys.executable, "-m", "dask"]


class DaskCluster:
    """``dask scheduler`` and N ``dask worker`` processes on 127.0.0.1; :meth:`close` stops them."""

    def __init__(self, directory: Path, n_workers: int = 2, timeout: float = 60):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.procs = []
        sched_file = directory / "scheduler.json"
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        self.env = env
        self._start([*_dask_exe(), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(sched_file)], "scheduler")
        deadline = time.time() + timeout
        while not sched_file.exists() or not sched_file.read_text().strip():
            self._check_alive(deadline)
            time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]
        for i in range(n_workers):
            self._start([*_dask_exe(), "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                         "--no-dashboard", "--name", f"w{i}", "--host", "127.0.0.1",
                         "--local-directory", str(directory / f"w{i}")], f"worker{i}")
        self.wait_for_workers(n_workers, timeout)

    def _start(self, cmd, name):
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 - closed in close()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs.append((proc, log))

    def _check_alive(self, deadline):
        for proc, log in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[:2]} exited with {proc.returncode}; see {log.name}")
        if time.time() > deadline:
            raise TimeoutError("Dask cluster did not start in time")

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=30)

    def wait_for_workers(self, n, timeout=60):
        with self.client() as c:
            c.wait_for_workers(n, timeout=timeout)

    def worker_pids(self) -> dict:
        """Worker address -> pid of the process that runs tasks (the nanny's child)."""
        with self.client() as c:
            return c.run(os.getpid)

    def close(self, graceful: bool = True):
        """Stop every process started here: SIGTERM (workers first, their nannies stop their
        children), or SIGKILL to each process group at once when ``graceful`` is false (a
        worker whose scheduler is gone would otherwise wait for it)."""
        for proc, _ in reversed(self.procs):
            if proc.poll() is None:
                if graceful:
                    proc.send_signal(signal.SIGTERM)
                else:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what we started
        for proc, log in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what we started
                proc.wait(timeout=5)
            log.close()
        self.procs = []


def numeric_results(outdir: Path, samples) -> dict:
    """Per sample, the numbers of result.json (provenance, paths and timings left out)."""
    keep = ("fraction", "ci95", "p_value", "lrt_statistic", "detected", "geq_per_100k", "geq_per_100k_ci95",
            "lod", "informative_sites", "informative_reads")
    out = {}
    for s in samples:
        doc = json.loads((outdir / "samples" / s / "result.json").read_text())
        out[s] = [{k: d.get(k) for k in ("name", *keep)} for d in doc["donors"]]
    return out


def wait_for(condition, what: str, *, alive=None, timeout: float = 300):
    """Return ``condition()`` once it is true (checked every 10 ms).

    Only for an event that is certain to happen: the timeout turns a hang (a bug) into a
    failure and decides nothing in a passing run.  ``alive``: false once the thread or process
    that brings the event about has ended, so that a crash fails at once.
    """
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if alive is not None and not alive():
            if value := condition():
                break
            raise AssertionError(f"the run ended before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout:g} s: hung?")
        time.sleep(0.01)
    return value


class Gate:
    """The test side of the cohort engine's gate (:data:`microchimera.cohort.engine.TEST_GATE_ENV`).

    With :attr:`env` in the driver's environment each sample's ``process`` task announces
    itself on a worker (:meth:`started`) and then waits until the test lets its sample through
    (:meth:`release`: it runs) or gives up (:meth:`abort`: every waiting task raises and writes
    nothing).  So a test chooses exactly which samples can finish before it kills something,
    however fast or loaded the machine.
    """

    def __init__(self, directory: Path):
        directory.mkdir(parents=True)
        self.path = directory
        self.env = {TEST_GATE_ENV: str(directory)}

    def started(self) -> list:
        """``(sample, pid)`` of every task that has reached the gate so far."""
        names = (p.name.rsplit(".", 2) for p in self.path.glob("*.started"))
        return sorted((sample, int(pid)) for sample, pid, _ in names)

    def pids(self, sample: str) -> list:
        """Worker pids of the attempts of ``sample``'s ``process`` task that reached the gate."""
        return [pid for s, pid in self.started() if s == sample]

    def wait_started(self, *, exclude=(), alive=None) -> tuple:
        """``(sample, pid)`` of a task held at the gate whose sample is not in ``exclude``."""
        return wait_for(lambda: next(((s, p) for s, p in self.started() if s not in exclude), None),
                        f"a process task at the gate (other than {sorted(exclude)})", alive=alive)

    def release(self, *samples: str) -> None:
        for sample in samples:
            (self.path / f"{sample}.go").touch()

    def abort(self) -> None:
        (self.path / "abort").touch()
