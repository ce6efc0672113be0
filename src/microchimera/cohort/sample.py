"""What a Dask worker does for one sample: check, count (whole or one region), quantify, record.

Every function here is a plain module-level function of picklable arguments, so Dask ships
it to any worker.  Outputs go to ``<outdir>/samples/<sample>/`` through the same writers
``microchimera run`` uses, each file atomically; :data:`RECORD_NAME` is written last and is
the only proof that a sample is complete.  It holds the checksums of every input and output,
so a re-run can tell a finished sample (skip) from a stale or half-written one (redo).

Known data problems (:class:`~microchimera.errors.MicrochimeraError`) become a failure
record here and are *not* retried; anything else propagates so that Dask retries it
(``retries=``) and the driver records it if it keeps failing.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .._atomic import write_text_atomic
from ..errors import InputError, MicrochimeraError
from ..options import CountFilters, QuantifyOptions, YChromOptions
from ..provenance import file_checksum
from .manifest import SampleSpec

logger = logging.getLogger(__name__)

RECORD_NAME = "cohort_record.json"
FAILURE_NAME = "cohort_failure.json"
RECORD_SCHEMA = "microchimera.cohort-sample/1"
_COUNT_ARRAYS = ("ref_fwd", "ref_rev", "alt_fwd", "alt_rev", "other_fwd", "other_rev")
#: A region is never planned with fewer sites than this: below it, task overhead dominates.
MIN_SITES_PER_REGION = 100


@dataclass(frozen=True)
class SampleOptions:
    """Per-sample settings shared by the whole cohort: the ``run`` options.

    ``filters`` and ``quantify`` are the count and model settings, ``ychrom_min_mapq`` the
    chrY MAPQ threshold (a row's Y build or regions come from the manifest).  ``threads`` and
    ``split_bytes`` change speed, not results (but for the molecules of a fragment showing
    sites on both sides of a slice or region boundary, :func:`merge_fragments`), so they are not part of a sample's
    fingerprint; ``report`` (the per-sample ``report.html`` that ``run`` writes) is
    presentation only, so neither is it.
    """

    filters: CountFilters = field(default_factory=CountFilters)
    quantify: QuantifyOptions = field(default_factory=QuantifyOptions)
    ychrom_min_mapq: int = YChromOptions.min_mapq
    report: bool = True
    threads: int = 1
    split_bytes: int = 2 * 1024**3

    def result_parameters(self) -> dict:
        q = self.quantify
        return {"min_mapq": int(self.filters.min_mapq), "min_baseq": int(self.filters.min_baseq),
                "alpha": float(q.alpha), "max_depth_ratio": q.max_depth_ratio, "absent_as_ref": bool(q.absent_as_ref),
                "contamination_component": bool(q.contamination), "ychrom_min_mapq": int(self.ychrom_min_mapq),
                **({"proper_pairs": True} if self.filters.require_proper_pairs else {})}


def sample_dir(outdir, sample: str) -> Path:
    """Where the outputs of ``sample`` go: ``<outdir>/samples/<sample>``."""
    return Path(outdir) / "samples" / sample


# ----------------------------------------------------------------------------- fingerprints
@functools.lru_cache(maxsize=4096)
def _cached_checksum(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime too: a file rewritten in place gets checksummed again.  The
    # cache matters because the family VCF/PED is shared by every sample on the worker.
    return file_checksum(path)


def _describe_input(role: str, path: Path) -> dict:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{role} file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"{role} file {path}: {exc.strerror}") from None
    return {"role": role, "path": str(path), "size": st.st_size,
            "checksum": _cached_checksum(str(path), st.st_size, st.st_mtime_ns)}


def fingerprint(spec: SampleSpec, options: SampleOptions) -> dict:
    """Everything a sample's results depend on: tool version, manifest row, options, and
    the size and SHA-256 of every input file.

    Raises
    ------
    InputError
        If an input file is missing or unreadable.
    """
    row = {k: (None if v is None else (list(map(str, v)) if isinstance(v, tuple) else str(v)))
           for k, v in asdict(spec).items() if k not in ("line", "tissue")}
    return {"version": __version__, "row": row, "parameters": options.result_parameters(),
            "inputs": [_describe_input(role, p) for role, p in spec.input_files()]}


def _normalise(obj):
    return json.loads(json.dumps(obj))


def _output_entries(directory: Path, names) -> dict:
    return {name: {"size": (directory / name).stat().st_size, "checksum": file_checksum(directory / name)}
            for name in names}


def read_record(directory) -> dict | None:
    """The completion record of a sample directory, or None when absent or unreadable."""
    path = Path(directory) / RECORD_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and record.get("schema") == RECORD_SCHEMA else None


def is_complete(directory, fp: dict) -> bool:
    """Whether ``directory`` holds finished outputs for exactly these inputs: the record's
    fingerprint equals ``fp`` and every output still has the size and checksum recorded."""
    directory = Path(directory)
    record = read_record(directory)
    if record is None or record.get("fingerprint") != _normalise(fp):
        return False
    for name, entry in record.get("outputs", {}).items():
        path = directory / name
        try:
            if path.stat().st_size != entry["size"] or file_checksum(path) != entry["checksum"]:
                return False
        except (FileNotFoundError, KeyError, TypeError):
            return False
    return True


# ----------------------------------------------------------------------------- regions
@functools.lru_cache(maxsize=8)
def _read_sites_cached(path: str, size: int, mtime_ns: int):
    from ..io.sites import read_sites

    return read_sites(path)


def _sites(spec: SampleSpec):
    path = spec.site_source
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"sites file not found: {path}") from None
    return _read_sites_cached(str(path), st.st_size, st.st_mtime_ns)


def plan_regions(sites, n_regions: int) -> list[str]:
    """Split a panel into about ``n_regions`` regions with similar numbers of sites.

    Parameters
    ----------
    sites : SiteTable
        Sorted by (contig, position).
    n_regions : int
        Wanted number of regions; fewer are made when a region would hold fewer than
        :data:`MIN_SITES_PER_REGION` sites.

    Returns
    -------
    list of str
        Region strings ``chrom:start-end`` (1-based, inclusive, as ``count_alleles`` takes
        them).  Together they hold every site exactly once; none spans two contigs and no
        boundary separates two sites at the same position.  Empty when ``n_regions <= 1``
        (count the whole panel in one task).  Each boundary sits at the widest gap between
        neighbouring sites within 2% of the contig's sites of its even cut, so that a
        fragment rarely shows sites on both sides (the molecules of a split sample are
        then the whole count's; :func:`merge_fragments`).
    """
    n_regions = min(int(n_regions), sites.n_sites // MIN_SITES_PER_REGION)
    if n_regions <= 1:
        return []
    per_region = sites.n_sites / n_regions
    regions = []
    for cid, contig in enumerate(sites.contigs):
        pos = sites.pos[sites.contig_id == cid]
        if len(pos) == 0:
            continue
        k = max(1, round(len(pos) / per_region))
        cuts = [0]
        window = len(pos) // 50
        for j in range(1, k):
            even = j * len(pos) // k
            lo, hi = max(cuts[-1] + 1, even - window), min(len(pos) - 1, even + window)
            if lo > hi:
                continue
            gaps = pos[lo:hi + 1] - pos[lo - 1:hi]
            c = lo + int(np.argmax(gaps))  # the first widest gap; never 0 unless all are
            while c < len(pos) and pos[c] == pos[c - 1]:
                c += 1
            if cuts[-1] < c < len(pos):
                cuts.append(c)
        cuts.append(len(pos))
        regions += [f"{contig}:{int(pos[a]) + 1}-{int(pos[b - 1]) + 1}" for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return regions


def n_regions_for(spec: SampleSpec, split_bytes: int) -> int:
    """How many region tasks a sample's BAM/CRAM bytes call for (1 = no split)."""
    total = sum(os.stat(b).st_size for b in spec.bams)
    return max(1, math.ceil(total / max(1, split_bytes)))


def merge_fragments(sites, regions, parts):
    """Put per-region :class:`~microchimera.count.fragments.FragmentTable` parts back on the
    whole panel: site indices into ``sites``, fragment ids offset to stay unique per sample.

    A fragment straddling two regions is a fragment of each (the pieces showing two or more
    sites), as with the slices of ``count --threads``.
    """
    from ..count.fragments import FragmentTable
    from ..io.contigs import region_mask

    samples = parts[0].samples
    offset = np.zeros(len(samples), np.int64)
    chunks = []
    for region, part in zip(regions, parts, strict=True):
        if part.samples != samples:
            raise InputError(f"region {region}: fragment samples {part.samples} differ from {samples}")
        idx = np.flatnonzero(region_mask(region, sites))
        if len(idx) != part.sites.n_sites:
            raise InputError(f"region {region}: {part.sites.n_sites} fragment sites, expected {len(idx)}")
        chunks.append((part.sample, part.fragment + offset[part.sample], idx[part.site], part.allele,
                       part.base_qual, part.reverse, part.mates))
        for k in range(len(samples)):
            ids = part.fragment[part.sample == k]
            offset[k] += int(ids.max()) + 1 if len(ids) else 0
    return FragmentTable.from_parts(samples, sites, chunks, source="fragments of " + ", ".join(regions[:3])
                                    + (", ..." if len(regions) > 3 else ""))


def merge_counts(sites, regions, parts):
    """Put per-region :class:`~microchimera.count.AlleleCounts` back on the whole panel.

    ``parts[i]`` (or its ``counts``) holds the sites of ``regions[i]``; the regions partition ``sites``, so each
    site is filled exactly once.  Read statistics are summed per alignment file.

    Raises
    ------
    InputError
        If the parts disagree on the samples or do not match their regions.
    """
    from ..count import AlleleCounts
    from ..io.contigs import region_mask

    parts = [getattr(p, "counts", p) for p in parts]  # a CountResult's counts
    samples = parts[0].samples
    arrays = {name: np.zeros((len(samples), sites.n_sites), dtype=parts[0].ref_fwd.dtype) for name in _COUNT_ARRAYS}
    filled = np.zeros(sites.n_sites, dtype=np.int32)
    stats: dict = {}
    for region, part in zip(regions, parts, strict=True):
        if part.samples != samples:
            raise InputError(f"region {region}: samples {part.samples} differ from {samples}")
        idx = np.flatnonzero(region_mask(region, sites))
        if len(idx) != part.n_sites:
            raise InputError(f"region {region}: {part.n_sites} counted sites, expected {len(idx)}")
        filled[idx] += 1
        for name in _COUNT_ARRAYS:
            arrays[name][:, idx] += getattr(part, name)
        for path, st in part.parameters.get("stats", {}).items():
            acc = stats.setdefault(path, {})
            for key, value in st.items():
                acc[key] = acc.get(key, 0) + value if isinstance(value, int | float) and not isinstance(value, bool) \
                    else value
    if not np.all(filled == 1):
        raise InputError(f"regions cover {int((filled == 0).sum())} site(s) zero times and "
                         f"{int((filled > 1).sum())} more than once")
    parameters = {**parts[0].parameters, "region": None, "regions": list(regions), "stats": stats}
    return AlleleCounts(samples, sites, *(arrays[n] for n in _COUNT_ARRAYS), parameters=parameters)


# ----------------------------------------------------------------------------- tasks
def check_sample(spec: SampleSpec, options: SampleOptions, outdir, force: bool = False) -> dict:
    """First task of every sample: is it already complete for these inputs, and if not, how
    many region tasks should count it?

    Returns a dict with ``state`` ``"complete"`` (with the existing ``record``), ``"todo"``
    (with ``fingerprint`` and ``regions``; no regions = count in one task) or ``"failed"``
    (with the failure record, e.g. a missing input file).
    """
    try:
        fp = fingerprint(spec, options)
        directory = sample_dir(outdir, spec.sample)
        if not force and is_complete(directory, fp):
            return {"state": "complete", "record": read_record(directory)}
        n = n_regions_for(spec, options.split_bytes)
        regions = plan_regions(_sites(spec), n) if n > 1 else []
        return {"state": "todo", "fingerprint": fp, "regions": regions}
    except MicrochimeraError as exc:
        return {"state": "failed", "record": write_failure(outdir, spec, exc, stage="check")}


def count_region(spec: SampleSpec, options: SampleOptions, region: str):
    """Count one region of a sample (a task of a split sample); returns AlleleCounts (a
    CountResult with its fragments unless ``--evidence sites``) or a failure marker dict (data
    errors are not worth retrying)."""
    from ..count import count_alleles

    try:
        return count_alleles(list(spec.bams), _sites(spec), filters=options.filters,
                             reference=spec.reference, threads=options.threads, region=region,
                             fragments=options.quantify.evidence != "sites")
    except MicrochimeraError as exc:
        return {"error": exc, "region": region}


def process_sample(spec: SampleSpec, options: SampleOptions, outdir, fp: dict, regions=(), *parts,
                   command: str | None = None) -> dict:
    """Last task of a sample: quantify (after merging region counts when split; with the chrY
    estimate when the row asks), then the completion record.  Returns the record (or the
    failure record)."""
    directory = sample_dir(outdir, spec.sample)
    started = time.time()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (directory / RECORD_NAME).unlink()
        for part in parts:
            if isinstance(part, dict):
                raise part["error"]
        result = _run(spec, options, directory, regions, parts, command)
        # Whatever `run` wrote (counts, result, MultiQC file, report); dotfiles are temporaries.
        outputs = sorted(f.name for f in directory.iterdir() if f.is_file() and not f.name.startswith(".")
                         and f.name not in (RECORD_NAME, FAILURE_NAME))
        record = {"schema": RECORD_SCHEMA, "sample": spec.sample, "status": "ok", "fingerprint": _normalise(fp),
                  "outputs": _output_entries(directory, outputs), "n_regions": max(1, len(regions)),
                  "ychrom": None if result.ychrom is None else result.ychrom.status, "seconds": round(time.time() - started, 3),
                  "worker": f"{socket.gethostname()}:{os.getpid()}"}
        write_text_atomic(directory / RECORD_NAME, json.dumps(record, indent=2) + "\n")
        with contextlib.suppress(FileNotFoundError):
            (directory / FAILURE_NAME).unlink()
        return record
    except MicrochimeraError as exc:
        return write_failure(outdir, spec, exc, stage="process")


def _run(spec, options, directory, regions, parts, command):
    from ..workflow import SampleInputs, run_pipeline

    inputs = SampleInputs(host=spec.host, donors=_list(spec.donors), genotypes=spec.genotypes,
                          pedigree=spec.pedigree, sites=spec.sites, relationships=_list(spec.relationships),
                          contaminants=_list(spec.contaminants))
    ychrom = YChromOptions(build=spec.ychrom_build, regions=spec.ychrom_regions, min_mapq=options.ychrom_min_mapq)
    # The very function behind `microchimera run`; a split sample hands it the merged counts.
    counts = fragments = None
    if regions:
        sites = _sites(spec)
        counts = merge_counts(sites, regions, parts)
        if all(hasattr(p, "fragments") for p in parts):
            fragments = merge_fragments(sites, regions, [p.fragments for p in parts])
    return run_pipeline(list(spec.bams), outdir=directory, inputs=inputs, filters=options.filters,
                        options=options.quantify, ychrom=ychrom, reference=spec.reference, threads=options.threads,
                        report=options.report, counts=counts, command=command, label=spec.sample,
                        tissue=spec.tissue, fragments=fragments)


def _list(values):
    return None if values is None else list(values)


# ----------------------------------------------------------------------------- failures
def failure_record(spec: SampleSpec, exc: BaseException, stage: str) -> dict:
    """A JSON-ready description of why a sample failed."""
    known = isinstance(exc, MicrochimeraError)
    return {"schema": RECORD_SCHEMA, "sample": spec.sample, "status": "failed", "stage": stage,
            "manifest_line": spec.line, "error_type": type(exc).__name__, "message": str(exc),
            "traceback": None if known else "".join(traceback.format_exception(exc)),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def write_failure(outdir, spec: SampleSpec, exc: BaseException, stage: str) -> dict:
    """Record a failure in ``<sample dir>/cohort_failure.json`` (atomically) and return it."""
    record = failure_record(spec, exc, stage)
    directory = sample_dir(outdir, spec.sample)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(directory / FAILURE_NAME, json.dumps(record, indent=2) + "\n")
    except (OSError, MicrochimeraError) as write_exc:
        # The failure is still returned to the driver, which lists it in the cohort table.
        logger.warning("%s: could not write the failure record: %s", spec.sample, write_exc)
    return record
