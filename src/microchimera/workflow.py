"""File-level workflows behind ``quantify``, ``run`` and ``demo``: read inputs, call the
library, write outputs atomically.  No maths here (see :mod:`microchimera.model`)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ._atomic import write_text_atomic
from .conventions import MAX_DEPTH_RATIO
from .errors import UsageError
from .io.allele_counts import read_counts_any
from .provenance import get_provenance

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).parent / "model" / "result.schema.json"


def quantify_files(counts_path, *, host=None, donors=None, genotypes_path=None, pedigree_path=None,
                   sites_path=None, relationships=None, sample=None, alpha=0.05, block_size=5e6,
                   absent_as_ref=False, command=None, counts=None, max_depth_ratio=MAX_DEPTH_RATIO) -> dict:
    """Read the inputs of ``microchimera quantify`` and return the full result document.

    ``counts`` may be given in memory (then ``counts_path`` is only recorded).
    """
    from .io.genotypes import read_genotypes, vcf_samples
    from .io.pedigree import read_ped
    from .io.sites import read_sites
    from .model import quantify

    if counts is None:
        counts = read_counts_any(counts_path, sample)
    if sample is None and counts.n_samples > 1 and host in counts.samples:
        sample = host
    sites = read_sites(sites_path) if sites_path else None
    pedigree = genotypes = None
    if relationships:
        if pedigree_path or genotypes_path:
            raise UsageError("--relationship (no-family mode) cannot be combined with --pedigree/--genotypes")
    else:
        if not pedigree_path:
            raise UsageError("give --pedigree (and --genotypes), or --relationship for no-family mode")
        pedigree = read_ped(pedigree_path)
        if genotypes_path:
            present = set(vcf_samples(genotypes_path))
            for d in [host, *(donors or ())] if host else (donors or ()):
                pedigree.index(d)
            people = [p for p in pedigree.ids if p in present]
            genotypes = read_genotypes(genotypes_path, counts.sites, people, absent_as_ref=absent_as_ref)
            if host and host not in present:
                logger.warning("host %r is not in %s: the host's genotypes are inferred from the sample",
                               host, genotypes_path)
    doc = quantify(counts, sample=sample, host=host, donors=donors, pedigree=pedigree, genotypes=genotypes,
                   sites=sites, relationships=relationships, alpha=alpha, block_size=block_size,
                   max_depth_ratio=max_depth_ratio)
    inputs = [p for p in (counts_path, genotypes_path, pedigree_path, sites_path) if p]
    doc["provenance"] = get_provenance(command=command, inputs=[p for p in inputs if Path(p).exists()],
                                       parameters={"alpha": alpha, "block_size": block_size,
                                                   "max_depth_ratio": max_depth_ratio,
                                                   "relationships": list(relationships or []),
                                                   "absent_genotypes_as_ref": absent_as_ref})
    return doc


def load_schema() -> dict:
    """The JSON Schema of ``result.json``."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def result_tsv(doc: dict) -> str:
    """One line per donor: the headline numbers of a result document."""
    cols = ["sample", "host", "donor", "relationship", "fraction", "ci95_low", "ci95_high", "p_value",
            "detected", "geq_per_100k", "geq_ci95_low", "geq_ci95_high", "lod", "informative_sites",
            "informative_reads"]
    lines = ["\t".join(cols)]
    for d in doc["donors"]:
        ci = d["ci95"] or [None, None]
        gci = d["geq_per_100k_ci95"] or [None, None]
        row = [doc["sample"], doc["host"], d["name"], d["relationship"], d["fraction"], ci[0], ci[1],
               d["p_value"], d["detected"], d["geq_per_100k"], gci[0], gci[1], d["lod"],
               d["informative_sites"], d["informative_reads"]]
        lines.append("\t".join("NA" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v)) for v in row))
    return "\n".join(lines) + "\n"


def write_result(doc: dict, path, tsv: bool = True) -> None:
    """Write ``result.json`` (and ``<stem>.tsv`` beside it) atomically."""
    path = Path(path)
    write_text_atomic(path, json.dumps(doc, indent=2, default=_json_default) + "\n")
    if tsv:
        write_text_atomic(path.with_suffix(".tsv"), result_tsv(doc))


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def run_pipeline(bams, *, outdir, host, donors=None, genotypes_path=None, pedigree_path=None, sites_path=None,
                 relationships=None, sample=None, reference=None, min_mapq=20, min_baseq=20, threads=1,
                 alpha=0.05, absent_as_ref=False, command=None, y_build=None, y_regions=None, y_controls=(),
                 y_min_mapq=30, seed=None, report=True, progress=False, counts=None,
                 max_depth_ratio=MAX_DEPTH_RATIO) -> dict:
    """Count alleles in ``bams`` and quantify: writes ``outdir/counts.parquet`` and ``outdir/result.json``.

    Also writes ``outdir/result.tsv``, the MultiQC custom-content file
    ``outdir/<sample>_microchimera_mqc.json`` and, unless ``report=False``, the self-contained
    ``outdir/report.html`` (rendered from the result document alone).  ``seed`` is recorded in
    the provenance when the BAMs came from a seeded simulation.  ``counts`` (an
    :class:`~microchimera.count.AlleleCounts` already made from ``bams``, e.g. region by region
    on a cluster) skips the counting step; everything after it is the same.

    Sites come from ``sites_path``, else from the genotypes VCF.  With ``y_build`` or ``y_regions``
    (and optional female ``y_controls``) a female host also gets the chrY male-DNA estimate beside
    the SNP estimates (``ychrom`` block, per-donor ``y_comparison``; :mod:`microchimera.ychrom.inrun`).
    """
    from .count import count_alleles, write_counts
    from .io.sites import read_sites

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    site_source = sites_path or genotypes_path
    if not site_source:
        raise UsageError("give --sites (or --genotypes, whose sites are then used)")
    if counts is None:
        counts = count_alleles([Path(b) for b in bams], read_sites(site_source), reference=reference,
                               min_mapq=min_mapq, min_baseq=min_baseq, threads=threads, progress=progress)
    counts_path = outdir / "counts.parquet"
    write_counts(counts, counts_path)
    doc = quantify_files(counts_path, host=host, donors=donors, genotypes_path=genotypes_path,
                         pedigree_path=pedigree_path, sites_path=sites_path, relationships=relationships,
                         sample=sample, alpha=alpha, absent_as_ref=absent_as_ref, command=command, counts=counts,
                         max_depth_ratio=max_depth_ratio)
    if y_build is not None or y_regions is not None:
        from .io.pedigree import read_ped
        from .ychrom.inrun import add_y_estimate

        add_y_estimate(doc, bams, pedigree=read_ped(pedigree_path) if pedigree_path else None, host=host,
                       build=y_build, regions=y_regions, controls=y_controls, min_mapq=y_min_mapq,
                       reference=reference)
    if seed is not None:
        doc["provenance"]["seed"] = seed
    write_result(doc, outdir / "result.json")
    from .report import write_multiqc, write_report

    write_multiqc(doc, outdir)
    if report:
        write_report(doc, outdir / "report.html")
    return doc


def run_demo(outdir, rng: np.random.Generator, *, seed=None, command=None, threads=1, progress=False):
    """Simulate the built-in demo family, count, quantify; returns (result document, truth fractions)."""
    from .sim import builtin_scenario, simulate

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    scenario = builtin_scenario("demo")
    sim = simulate(scenario, outdir / "simulated", rng, progress, seed=seed, command=command)
    sample = scenario.samples[0]
    doc = run_pipeline([sim.bams[sample.name]], outdir=outdir, host=sample.host, donors=list(dict(sample.donors)),
                       genotypes_path=sim.family_vcf, pedigree_path=sim.ped, sites_path=sim.sites_vcf,
                       sample=sample.name, threads=threads, command=command, seed=seed, progress=progress)
    truth = dict(sample.donors)
    return doc, truth


def summary_table(doc: dict, truth: dict | None = None) -> str:
    """A plain-text table: donor, truth, estimate, 95% CI, gEq/100k, detected."""
    head = ["donor", "relationship", "truth", "estimate", "95% CI", "gEq/100k (95% CI)", "p-value", "detected"]
    rows = []
    for d in doc["donors"]:
        t = (truth or {}).get(d["name"])
        if d["fraction"] is None:
            rows.append([d["name"], d["relationship"], "-" if t is None else f"{t:.2g}", "n/a", "", "", "", "no"])
            continue
        rows.append([d["name"], d["relationship"], "-" if t is None else f"{t:.2g}", f"{d['fraction']:.3g}",
                     f"[{d['ci95'][0]:.2g}, {d['ci95'][1]:.2g}]",
                     f"{d['geq_per_100k']:.1f} ({d['geq_per_100k_ci95'][0]:.1f}-{d['geq_per_100k_ci95'][1]:.1f})",
                     f"{d['p_value']:.2g}", "yes" if d["detected"] else "no"])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*r) for r in rows]
    return "\n".join(out)
