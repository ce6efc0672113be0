"""File-level workflows behind ``quantify``, ``run`` and ``demo``: read inputs, call the
library, write outputs atomically.  No maths here (see :mod:`microchimera.model`)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._atomic import output_directory, write_text_atomic
from .errors import UsageError
from .options import CountFilters, QuantifyOptions, YChromOptions
from .provenance import get_provenance
from .result import QuantifyResult, donor_rows, rows_tsv

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).parent / "model" / "result.schema.json"


@dataclass(frozen=True)
class SampleInputs:
    """What one sample is quantified against: the family files (or no-family relationships)
    and who is host and donor.

    Family mode: ``pedigree`` (PED) and usually ``genotypes`` (VCF/BCF), ``host`` an ID in
    the PED, ``donors`` IDs in it (default: every relative of the host and every typed
    person), ``contaminants`` IDs of known possible contaminants in it.  No-family mode:
    ``relationships`` (one donor each, ``child``/``parent``/...), ``host`` only a label.
    ``sites`` is the site list the counts were made from (checked; its INFO/AF used);
    ``sample`` picks one sample of multi-sample counts; ``fragments`` is the fragments
    table of the same count (``count --fragments``).
    """

    host: str | None = None
    donors: tuple[str, ...] | None = None
    genotypes: str | Path | None = None
    pedigree: str | Path | None = None
    sites: str | Path | None = None
    relationships: tuple[str, ...] | None = None
    sample: str | None = None
    contaminants: tuple[str, ...] | None = None
    fragments: str | Path | None = None

    def __post_init__(self):
        for name in ("donors", "relationships", "contaminants"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, tuple(v))
        if self.relationships and (self.pedigree or self.genotypes):
            raise UsageError("{relationships} (no-family mode) cannot be combined with {pedigree}/{genotypes}",
                             params=["relationships", "pedigree", "genotypes"])
        if not self.relationships and not self.pedigree:
            raise UsageError("give {pedigree} (and {genotypes}), or {relationships} for no-family mode",
                             params=["pedigree", "genotypes", "relationships"])

    def files(self) -> list:
        """The input files that exist on disk (for provenance)."""
        return [p for p in (self.genotypes, self.pedigree, self.sites, self.fragments) if p]


def quantify_files(counts_path, inputs: SampleInputs, options: QuantifyOptions | None = None, *,
                   counts=None, command: str | None = None, seed=None, fragments=None) -> QuantifyResult:
    """Read the inputs of ``microchimera quantify`` and return the result with its provenance.

    ``counts`` may be given in memory (then ``counts_path`` is only recorded), and so may
    ``fragments`` (a :class:`~microchimera.count.fragments.FragmentTable`; else it is read
    from ``inputs.fragments`` when given).  ``command`` is the command line recorded in
    the provenance.
    """
    from .io.allele_counts import read_counts_any
    from .io.genotypes import read_genotypes, vcf_samples
    from .io.pedigree import read_ped
    from .io.sites import read_sites
    from .model import quantify

    options = options or QuantifyOptions()
    if counts is None:
        counts = read_counts_any(counts_path, inputs.sample)
    host, donors, sample = inputs.host, inputs.donors, inputs.sample
    if sample is None and counts.n_samples > 1 and host in counts.samples:
        sample = host
    sites = read_sites(inputs.sites) if inputs.sites else None
    if fragments is None and inputs.fragments and options.evidence != "sites":
        from .count.fragments import read_fragment_table

        fragments = read_fragment_table(inputs.fragments, counts.sites, against=f"the counts ({counts_path})")
    pedigree = genotypes = None
    notes = []
    if not inputs.relationships:
        pedigree = read_ped(inputs.pedigree)
        if inputs.genotypes:
            present = set(vcf_samples(inputs.genotypes))
            for d in [*([host] if host else []), *(donors or ()), *(inputs.contaminants or ())]:
                pedigree.index(d)
            people = [p for p in pedigree.ids if p in present]
            genotypes = read_genotypes(inputs.genotypes, counts.sites, people, absent_as_ref=options.absent_as_ref)
            if host and host not in present:
                notes.append(f"host {host!r} is not in {inputs.genotypes}: the host's genotypes are inferred "
                             f"from the sample")
    result = quantify(counts, sample=sample, host=host, donors=donors, pedigree=pedigree, genotypes=genotypes,
                      sites=sites, relationships=inputs.relationships, contaminants=inputs.contaminants,
                      options=options, fragments=fragments)
    result = result.with_warnings([*notes, *sparse_sites_warning(result.sites)])
    files = [p for p in (counts_path, *inputs.files()) if p]
    return result.with_provenance(get_provenance(
        command=command, inputs=[p for p in files if Path(p).exists()], seed=seed,
        parameters=options.provenance_parameters(inputs.relationships)))


#: Warn when fewer than this share of the sites have reads (:func:`sparse_sites_warning`).
MIN_SITES_WITH_READS = 0.01


def sparse_sites_warning(sites) -> list:
    """A warning (a list of one, or none) when the reads reach under :data:`MIN_SITES_WITH_READS`
    of the sites (``sites``: the result's :class:`~microchimera.result.SiteSummary`): a
    targeted or sliced BAM against a genome-wide panel, whose estimates rest on a handful of
    sites and say almost nothing, although the fit itself succeeds."""
    if sites.in_counts == 0 or sites.used >= MIN_SITES_WITH_READS * sites.in_counts:
        return []
    return [f"only {sites.used:,} of the {sites.in_counts:,} sites ({100 * sites.used / sites.in_counts:.2g}%) "
            f"have usable reads: the alignments cover little of the site list (a targeted or region-sliced "
            f"BAM against a genome-wide panel?), so the estimates rest on {sites.informative:,} informative "
            f"site(s) and say next to nothing"]


def load_schema() -> dict:
    """The JSON Schema of ``result.json``."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def result_tsv(result: QuantifyResult | dict) -> str:
    """``result.tsv``: one line per donor, the headline columns of :func:`~microchimera.result.donor_rows`."""
    doc = result.to_json() if isinstance(result, QuantifyResult) else result
    return rows_tsv(donor_rows(doc))


def write_result(result: QuantifyResult, path, tsv: bool = True) -> dict:
    """Write ``result.json`` (and ``<stem>.tsv`` beside it) atomically; returns the document."""
    path = Path(path)
    doc = result.to_json()
    write_text_atomic(path, json.dumps(doc, indent=2, default=_json_default) + "\n")
    if tsv:
        write_text_atomic(path.with_suffix(".tsv"), result_tsv(doc))
    return doc


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


def run_pipeline(bams, *, outdir, inputs: SampleInputs, filters: CountFilters | None = None,
                 options: QuantifyOptions | None = None, ychrom: YChromOptions | None = None,
                 reference=None, threads: int = 1, seed=None, report: bool = True, progress: bool = False,
                 counts=None, command: str | None = None, label: str | None = None,
                 tissue: str | None = None, fragments=None, umi=None) -> QuantifyResult:
    """Count alleles in ``bams`` and quantify: writes ``outdir/counts.parquet`` and ``outdir/result.json``.

    Also writes ``outdir/result.tsv``, the MultiQC custom-content file
    ``outdir/<sample>_microchimera_mqc.json`` and, unless ``report=False``, the self-contained
    ``outdir/report.html`` (rendered from the result document alone).  ``seed`` is recorded in
    the provenance when the BAMs came from a seeded simulation.  ``counts`` (an
    :class:`~microchimera.count.AlleleCounts` already made from ``bams``, e.g. region by region
    on a cluster) skips the counting step; everything after it is the same (``fragments``: the
    :class:`~microchimera.count.fragments.FragmentTable` of those counts, if any).  ``label`` and
    ``tissue`` (a cohort manifest's ``sample`` and ``tissue``) name the result, its rows and its
    MultiQC file instead of the BAM's sample name (:meth:`QuantifyResult.with_label`).

    Unless ``options.evidence == "sites"``, the multi-site fragments are counted too, in the
    same pass (``outdir/fragments.parquet``), and enter quantify as molecules
    (``docs/model.md``, "Molecules").  ``--evidence sites`` counts reads as site observations
    only.  ``umi`` (:class:`~microchimera.count.umi.UmiOptions`) counts molecules: UMI
    families, one consensus base each (``docs/count.md``, "Molecules").

    Sites come from ``inputs.sites``, else from the genotypes VCF.  With ``ychrom`` enabled
    (a Y build or regions, optional female controls) a female host also gets the chrY
    male-DNA estimate beside the SNP estimates (``ychrom`` block, per-donor
    ``y_comparison``; :mod:`microchimera.ychrom.inrun`).
    """
    from .count import count_alleles, write_counts
    from .io.sites import read_sites

    filters = filters or CountFilters()
    ychrom = ychrom or YChromOptions()
    # A failed run removes the output directory again if it made it and it is still empty.
    with output_directory(outdir) as outdir:
        site_source = inputs.sites or inputs.genotypes
        if not site_source:
            raise UsageError("give {sites} (or {genotypes}, whose sites are then used)", params=["sites", "genotypes"])
        if ychrom.enabled:
            from .io.alignments import open_alignments

            # The chrY controls are checked before counting, not after minutes of it.
            for control in ychrom.controls:
                open_alignments(control, reference=reference)
        if counts is None:
            # The fragments table comes from the same pass over the reads (docs/model.md, molecules).
            with_fragments = options is None or options.evidence != "sites"
            counted = count_alleles([Path(b) for b in bams], read_sites(site_source), filters=filters,
                                    reference=reference, threads=threads, progress=progress, fragments=with_fragments,
                                    umi=umi)
            counts, fragments = (counted.counts, counted.fragments) if with_fragments else (counted, None)
        counts_path = outdir / "counts.parquet"
        write_counts(counts, counts_path)
        if fragments is not None:
            from .count import write_fragments

            write_fragments(fragments, outdir / "fragments.parquet", counts.parameters)
        result = quantify_files(counts_path, inputs, options, counts=counts, command=command, seed=seed,
                                fragments=fragments)
        if label is not None or tissue is not None:
            result = result.with_label(label, tissue)
        if ychrom.enabled:
            from .io.pedigree import read_ped
            from .ychrom.inrun import add_y_estimate

            result = add_y_estimate(result, bams, pedigree=read_ped(inputs.pedigree) if inputs.pedigree else None,
                                    options=ychrom, reference=reference)
        doc = write_result(result, outdir / "result.json")
        from .report import write_multiqc, write_report

        write_multiqc(doc, outdir)
        if report:
            write_report(doc, outdir / "report.html")
        return result


def run_demo(outdir, rng: np.random.Generator, *, seed=None, command=None, threads=1,
             progress=False) -> tuple[QuantifyResult, dict]:
    """Simulate the built-in demo family, count, quantify; returns (result, truth fractions)."""
    from .sim import builtin_scenario, simulate

    with output_directory(outdir) as outdir:
        scenario = builtin_scenario("demo")
        sim = simulate(scenario, outdir / "simulated", rng, progress, seed=seed, command=command)
        sample = scenario.samples[0]
        inputs = SampleInputs(host=sample.host, donors=tuple(dict(sample.donors)), genotypes=sim.family_vcf,
                              pedigree=sim.ped, sites=sim.sites_vcf, sample=sample.name)
        result = run_pipeline([sim.bams[sample.name]], outdir=outdir, inputs=inputs, threads=threads,
                              command=command, seed=seed, progress=progress)
    return result, dict(sample.donors)


def summary_table(result: QuantifyResult | dict, truth: dict | None = None) -> str:
    """A plain-text table of :func:`~microchimera.result.donor_rows`: donor, relationship,
    (truth, with ``truth`` only: the demo), estimate, 95% CI, gEq/100k, LoD, p-value and
    verdict (the contamination component is the last row), then two lines that define the
    units and the verdict with the document's alpha."""
    doc = result.to_json() if isinstance(result, QuantifyResult) else result
    with_truth = truth is not None
    head = ["donor", "relationship", *(["truth"] if with_truth else []), "estimate", "95% CI",
            "gEq/100k (95% CI)", "LoD", "p-value", "verdict"]
    rows = []

    def g(v, spec):
        return "NA" if v is None else format(v, spec)

    for r in donor_rows(doc):
        t = truth.get(r.donor) if with_truth else None
        t = ["-" if t is None else f"{t:.2g}"] if with_truth else []
        if r.fraction is None:
            rows.append([r.donor, r.relationship, *t, "n/a", "", "", "", "", r.verdict])
            continue
        rows.append([r.donor, r.relationship, *t, g(r.fraction, ".3g"),
                     f"[{g(r.ci95_low, '.2g')}, {g(r.ci95_high, '.2g')}]",
                     f"{g(r.geq_per_100k, '.1f')} ({g(r.geq_ci95_low, '.1f')}-{g(r.geq_ci95_high, '.1f')})",
                     g(r.lod, ".2g"), g(r.p_value, ".2g"), r.verdict])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*r).rstrip() for r in rows]
    alpha = doc.get("alpha")
    out += ["estimate, CI, LoD: share of the sample's genome equivalents; gEq/100k: donor genome "
            "equivalents per 100,000 host genomes",
            f"detected: p-value < alpha = {alpha:g} (test of no donor DNA); LoD: the fraction detected with 95% "
            f"power in this sample" if alpha is not None else "detected: p-value < alpha"]
    return "\n".join(out)


def build_pon_files(normals, *, sites=None, out, filters: CountFilters | None = None, reference=None,
                    threads: int = 1, progress: bool = False, command: str | None = None):
    """``microchimera pon build``: a panel of normals from counts tables or BAM/CRAM files.

    ``normals`` are counts files (Parquet/TSV from ``count``) or alignment files (counted
    here at ``sites``, which they then need); every sample of every counts file is a normal.
    Writes ``out`` (:mod:`microchimera.model.pon_file`) and returns the panel.

    Raises
    ------
    UsageError
        BAM/CRAM normals without ``sites``.
    InputError
        Tables over different sites, duplicate normals, a normal with donor DNA among too few
        others to tell, ... (see :func:`~microchimera.model.pon.build_pon`).
    """
    from .count import count_alleles
    from .io.allele_counts import AlleleCounts, read_counts_any
    from .io.sites import read_sites
    from .model.pon import build_pon
    from .model.pon_file import write_pon

    normals = [Path(n) for n in normals]
    aligned = [n for n in normals if n.suffix.lower() in (".bam", ".cram")]
    tables = [n for n in normals if n not in aligned]
    site_table = read_sites(sites) if sites else None
    if aligned and site_table is None:
        raise UsageError("BAM/CRAM normals are counted at {sites}: give it", params=["sites"])
    parts, names = [], []
    if aligned:
        parts.append(count_alleles(aligned, site_table, filters=filters or CountFilters(), reference=reference,
                                   threads=threads, progress=progress))
        names.append(", ".join(map(str, aligned)))
    for t in tables:
        parts.append(read_counts_any(t))
        names.append(str(t))
    counts = AlleleCounts.combine(parts, names)
    pon = build_pon(counts, site_table)
    write_pon(pon, out, parameters={"command": command, "normals": [str(n) for n in normals],
                                    "sites": str(sites) if sites else None})
    return pon
