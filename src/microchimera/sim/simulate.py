"""Run a whole scenario: reference, panel, family genotypes, PED, BAMs, truth.json."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .._atomic import atomic_path, write_bytes_atomic, write_text_atomic
from .._progress import progress_bar
from ..conventions import BASES
from ..errors import InputError
from ..io.pedigree import SEX_FEMALE, SEX_MALE, Pedigree, write_ped
from ..io.sites import SiteTable
from .bam import REGION_CLASSES, person_weights, write_sample_bam
from .family import KIND_AUTOSOME, Family, simulate_family
from .genome import X_CONTIG, Y_CONTIG, SyntheticGenome, build_genome, fasta_bytes
from .scenario import Scenario, load_scenario

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationResult:
    """Paths of everything :func:`simulate` wrote, plus the in-memory truth."""

    outdir: Path
    reference: Path
    sites_vcf: Path
    family_vcf: Path
    ped: Path
    ychrom_regions: Path
    truth_json: Path
    bams: dict = field(default_factory=dict)      # sample -> BAM path
    fastq: dict = field(default_factory=dict)     # sample -> (R1 path, R2 path)
    truth: dict = field(default_factory=dict)
    #: ``PREFIX.bed`` of the VerifyBamID2-format resource, with ``panel.population`` only.
    ancestry_panel: Path | None = None
    #: ``amplicons.bed`` (0-based half-open, one line per amplicon), amplicon panels only.
    amplicons: Path | None = None
    #: ``error_profile.tsv``: the true per-site error rates, with ``[error_profile]`` only.
    error_profile: Path | None = None


def scenario_pedigree(scenario: Scenario) -> Pedigree:
    """The scenario's family as a :class:`Pedigree` (family ID = scenario name)."""
    return Pedigree.from_records(
        [(scenario.name, p.id, p.father, p.mother, SEX_MALE if p.sex == "male" else SEX_FEMALE)
         for p in scenario.people], source="scenario")


def _vcf_header(genome: SyntheticGenome, samples=()) -> list:
    lines = ["##fileformat=VCFv4.2", "##source=microchimera-simulate"]
    lines += [f"##contig=<ID={c},length={int(n)}>" for c, n in zip(genome.contigs, genome.lengths, strict=True)]
    lines.append('##INFO=<ID=AF,Number=A,Type=Float,Description="Population alt allele frequency">')
    if samples:
        lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                            *(["FORMAT", *samples] if samples else [])]))
    return lines


def _gt_strings(family: Family, people_idx) -> np.ndarray:
    """VCF GT text per site and typed person, object (n_sites, n_typed); haploid on X/Y of males."""
    h = family.haplotypes[people_idx]                          # (n_typed, 2, n_sites)
    a0, a1 = h[:, 0].astype(str), h[:, 1].astype(str)
    diploid = np.char.add(np.char.add(a0, "/"), a1)
    only0, only1 = (h[:, 0] >= 0) & (h[:, 1] < 0), (h[:, 1] >= 0) & (h[:, 0] < 0)
    gt = np.where(only0, a0, np.where(only1, a1, diploid))
    gt = np.where((h[:, 0] < 0) & (h[:, 1] < 0), ".", gt)
    return gt.T


def _write_vcf(path: Path, genome: SyntheticGenome, family: Family | None, typed=()) -> None:
    import pysam

    sites = genome.sites
    letters = np.array(list(BASES))
    cols = [sites.chrom.astype(str), (sites.pos + 1).astype(str), np.full(sites.n_sites, "."),
            letters[sites.ref], letters[sites.alt], np.full(sites.n_sites, "."), np.full(sites.n_sites, "PASS"),
            np.char.add("AF=", np.char.mod("%.4f", sites.af))]
    names = []
    if family is not None:
        idx = [family.pedigree.index(p) for p in typed]
        names = list(typed)
        cols.append(np.full(sites.n_sites, "GT"))
        gts = _gt_strings(family, idx)
        cols += [gts[:, j] for j in range(len(idx))]
    body = ["\t".join(row) for row in zip(*cols, strict=True)]
    text = "\n".join(_vcf_header(genome, names) + body) + "\n"
    plain = path.with_suffix("")  # x.vcf.gz -> x.vcf
    write_text_atomic(plain, text)
    pysam.tabix_compress(str(plain), str(path), force=True)
    os.unlink(plain)
    pysam.tabix_index(str(path), preset="vcf", force=True)


def family_sites(genome: SyntheticGenome, scenario) -> SiteTable:
    """The sites with the AF the family is drawn from: ``genome.sites`` itself, or, with
    ``panel.population``, each autosomal site's marker AF at that population's mean
    coordinates (the sites file keeps the pooled AF, so a model given it is mismatched)."""
    if genome.markers is None:
        return genome.sites
    from ..io.panels import load_builtin

    panel = load_builtin(scenario.panel.ancestry_panel)
    pop_af = panel.af_at(panel.coordinates_of(scenario.panel.population))
    auto = genome.markers >= 0
    af = np.where(auto, pop_af[np.maximum(genome.markers, 0)], genome.sites.af)
    return dataclasses.replace(genome.sites, af=af)


def _write_ancestry_panel(prefix: Path, genome: SyntheticGenome, scenario) -> Path:
    """A VerifyBamID2-format resource for the synthetic sites (``PREFIX.bed/.mu/.UD/.V/.pop``),
    so that ``quantify --ancestry-panel PREFIX`` can place the host on the copied markers'
    axes end to end."""
    from ..io.panels import load_builtin

    panel = load_builtin(scenario.panel.ancestry_panel)
    s, m = genome.sites, genome.markers
    auto = np.flatnonzero(m >= 0)
    letters = np.array(list(BASES))
    chrom = s.chrom
    write_text_atomic(Path(f"{prefix}.bed"), "".join(
        f"{chrom[i]}\t{s.pos[i]}\t{s.pos[i] + 1}\t{letters[s.ref[i]]}\t{letters[s.alt[i]]}\n" for i in auto))
    write_text_atomic(Path(f"{prefix}.mu"), "".join(
        f"{chrom[i]}:{s.pos[i] + 1}\t{panel.mu[m[i]]:.6g}\n" for i in auto))
    write_text_atomic(Path(f"{prefix}.UD"), "".join(
        "\t".join(f"{x:.6g}" for x in panel.loadings[m[i]]) + "\n" for i in auto))
    write_text_atomic(Path(f"{prefix}.V"), "".join(
        f"{name}\t" + "\t".join(f"{x:.6g}" for x in v) + "\n"
        for name, v in zip(panel.samples, panel.coordinates, strict=True)))
    write_text_atomic(Path(f"{prefix}.pop"), "sample\tpop\tsuper_pop\n" + "".join(
        f"{a}\t{b}\t{c}\n" for a, b, c in zip(panel.samples, panel.populations, panel.superpopulations,
                                               strict=True)))
    return Path(f"{prefix}.bed")


def _informative(family: Family, sample, site_kind) -> dict:
    """Per donor: sites where the donor carries an allele the host lacks / differs at all."""
    g = family.genotypes
    h = g[family.pedigree.index(sample.host)]
    out = {}
    auto = site_kind == KIND_AUTOSOME
    for d, _ in sample.donors:
        gd = g[family.pedigree.index(d)]
        hom = (h == 0) | (h == 2)
        foreign = auto & hom & (gd != h)
        out[d] = {"host_homozygous_donor_differs": int(foreign.sum()),
                  "genotype_differs": int((auto & (gd != h)).sum())}
    return out


def simulate(scenario, outdir, rng: np.random.Generator, progress: bool = False, *, seed=None,
             threads: int = 2, command: str = "") -> SimulationResult:
    """Simulate ``scenario`` into ``outdir``.

    Writes ``ref.fa`` (+ ``.fai``), ``sites.vcf.gz`` (+ ``.tbi``), ``family.vcf.gz``
    (+ ``.tbi``, typed people), ``family.ped`` (everyone), ``ychrom_regions.bed``,
    ``<sample>.bam`` (+ ``.bai``) per sample, optional ``<sample>_R1/R2.fastq.gz`` and
    ``truth.json``.

    Parameters
    ----------
    scenario : Scenario, dict or path
        Loaded with :func:`load_scenario` when not already a Scenario.
    outdir : path-like
        Created if missing.
    rng : numpy.random.Generator
        Every draw comes from it: the same seed gives byte-identical files.
    progress : bool
        Draw a progress bar per sample on stderr: DNA fragments drawn, of those expected
        (:func:`microchimera._progress.progress_bar`).
    seed : int, optional
        Recorded in ``truth.json`` (the seed ``rng`` was made from, if known).
    threads : int
        BGZF compression threads.

    Raises
    ------
    ScenarioError
        For an invalid scenario.
    InputError
        If ``outdir`` cannot be created.
    """
    import pysam

    scenario = load_scenario(scenario)
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{outdir}: cannot create output directory: {exc.strerror}") from exc
    # independent streams per stage, so e.g. adding a sample does not change the genome
    seeds = rng.integers(0, 2**63 - 1, size=2 + len(scenario.samples))
    genome = build_genome(scenario, np.random.default_rng(seeds[0]))
    pedigree = scenario_pedigree(scenario)
    lengths = {c: int(n) for c, n in zip(genome.contigs, genome.lengths, strict=True)}
    family = simulate_family(pedigree, family_sites(genome, scenario), np.random.default_rng(seeds[1]),
                             morgans=scenario.genome.morgans, contig_lengths=lengths,
                             x_contig=X_CONTIG, y_contig=Y_CONTIG)
    paths = dict(reference=outdir / "ref.fa", sites_vcf=outdir / "sites.vcf.gz",
                 family_vcf=outdir / "family.vcf.gz", ped=outdir / "family.ped",
                 ychrom_regions=outdir / "ychrom_regions.bed", truth_json=outdir / "truth.json")
    write_bytes_atomic(paths["reference"], fasta_bytes(genome))
    pysam.faidx(str(paths["reference"]))
    _write_vcf(paths["sites_vcf"], genome, None)
    typed = [p.id for p in scenario.people if p.typed]
    _write_vcf(paths["family_vcf"], genome, family, typed)
    write_ped(pedigree, paths["ped"])
    write_text_atomic(paths["ychrom_regions"], "".join(
        f"{c}\t{s}\t{e}\tmale_specific\n" for c, s, e in genome.regions["msy"]))
    if genome.markers is not None:
        paths["ancestry_panel"] = _write_ancestry_panel(outdir / "ancestry", genome, scenario)
    if genome.amplicons is not None:
        paths["amplicons"] = outdir / "amplicons.bed"
        write_text_atomic(paths["amplicons"], "".join(
            f"{genome.contigs[c]}\t{s}\t{s + n}\tamplicon_{i + 1}\n" for i, (c, s, n) in enumerate(genome.amplicons)))

    profile = None
    if scenario.error_profile is not None:
        # its own stream (from the genome's seed): other scenarios' draws are unchanged
        from dataclasses import asdict

        from .error_profile import panel_error_profile

        profile = panel_error_profile(genome.sites, np.random.default_rng([int(seeds[0]), 1]),
                                      base_rate=scenario.sequencing.error_rate, **asdict(scenario.error_profile))
        paths["error_profile"] = outdir / "error_profile.tsv"
        write_text_atomic(paths["error_profile"], _profile_tsv(genome, profile))
    bams, fastqs, sample_truth = {}, {}, []
    site_kind = family.site_kind
    for k, sample in enumerate(scenario.samples):
        bam = outdir / f"{sample.name}.bam"
        total = _expected_fragments(genome, family, sample, scenario.sequencing)
        with progress_bar(progress, f"simulate {sample.name}", total=total, unit="DNA fragments") as advance:
            # An interrupted run (Ctrl-C, or SIGTERM through the CLI) leaves no partial BAM.
            with atomic_path(bam, suffix=".bam") as tmp:
                reads = write_sample_bam(tmp, genome, family, sample, scenario.sequencing,
                                         np.random.default_rng(seeds[2 + k]), sample_index=k,
                                         threads=threads, progress=advance, error_profile=profile)
        pysam.index(str(bam))
        bams[sample.name] = bam
        if scenario.sequencing.fastq:
            fastqs[sample.name] = _write_fastq(bam, outdir, sample.name)
        sample_truth.append(_sample_truth(sample, family, reads, site_kind, scenario))
    truth = {
        "tool": "microchimera", "version": __version__, "seed": seed, "command": command,
        "scenario": scenario.to_dict(),
        "genome": {"contigs": lengths, "n_sites": genome.sites.n_sites,
                   "sites_per_contig": {c: int((genome.sites.contig_id == i).sum())
                                        for i, c in enumerate(genome.sites.contigs)},
                   "par1": genome.regions["par1"], "par2": genome.regions["par2"],
                   "xtr": [genome.regions["xtr_x"], genome.regions["xtr_y"]],
                   "ampliconic": genome.regions["ampliconic"],
                   "male_specific_y": genome.regions["msy"],
                   "amplicons": 0 if genome.amplicons is None else len(genome.amplicons),
                   "coordinates": "0-based half-open"},
        "people": [{"id": p.id, "sex": p.sex, "father": p.father, "mother": p.mother, "typed": p.typed,
                    "loss": p.loss, "years_since_birth": p.years_since_birth} for p in scenario.people],
        "samples": sample_truth,
        "files": {k: v.name for k, v in paths.items()} | {
            "bams": {s: b.name for s, b in bams.items()},
            "fastq": {s: [a.name, b.name] for s, (a, b) in fastqs.items()}},
    }
    write_text_atomic(paths["truth_json"], json.dumps(truth, indent=2, default=_json_default) + "\n")
    return SimulationResult(outdir=outdir, bams=bams, fastq=fastqs, truth=truth, **paths)


def _profile_tsv(genome: SyntheticGenome, profile) -> str:
    """The panel's true per-site error rates (per read base), one line per site."""
    from ..conventions import BASES

    sites = genome.sites
    lines = ["#chrom\tpos\tref\talt\tref_alt_fwd\tref_alt_rev\talt_ref_fwd\talt_ref_rev\tother\thot\n"]
    r = profile.rate
    for i in range(sites.n_sites):
        lines.append(f"{sites.contigs[sites.contig_id[i]]}\t{int(sites.pos[i]) + 1}\t{BASES[sites.ref[i]]}\t"
                     f"{BASES[sites.alt[i]]}\t{r[i, 0, 0]:.4g}\t{r[i, 0, 1]:.4g}\t{r[i, 1, 0]:.4g}\t{r[i, 1, 1]:.4g}\t"
                     f"{profile.other_scale[i]:.4g}\t{int(profile.hot[i])}\n")
    return "".join(lines)


def _expected_fragments(genome: SyntheticGenome, family: Family, sample, seq) -> float:
    """DNA fragments :func:`write_sample_bam` is expected to draw for ``sample`` (before
    duplicates): the total of its progress bar.

    Panel mode: ``depth`` per site, times the sample's copies of the site's contig per two
    (fewer on chrX with male DNA).  Whole-genome mode: ``sequencing.depth / fragment_mean``
    fragment starts per bp over the same copies, chrY included (:mod:`.bam`, module notes).
    """
    weights = person_weights(sample, list(family.ids))
    male = family.pedigree.sex == SEX_MALE
    copies = {X_CONTIG: float(weights @ np.where(male, 1.0, 2.0)) / 2}
    if seq.whole_genome:
        copies[Y_CONTIG] = float(weights @ male) / 2
        return seq.depth / seq.fragment_mean * sum(copies.get(c, 1.0) * float(n)
                                                   for c, n in zip(genome.contigs, genome.lengths, strict=True))
    depth = sample.depth if sample.depth is not None else seq.depth
    if genome.amplicons is not None:  # autosomal amplicons, ``depth`` molecules each
        return depth * float(weights.sum()) * len(genome.amplicons)
    per_contig = np.array([copies.get(c, 1.0) for c in genome.sites.contigs])
    return depth * float(per_contig[genome.sites.contig_id].sum())


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(type(o).__name__)


def _sample_truth(sample, family: Family, reads, site_kind, scenario) -> dict:
    ids = list(family.ids)
    auto = reads.fragments[:, REGION_CLASSES.index("autosome")]
    total = int(auto.sum())
    weights = person_weights(sample, ids)
    sources = [i for i in range(len(ids)) if weights[i] > 0 or reads.fragments[i].sum() > 0]
    male_w = sum(weights[i] for i in range(len(ids)) if family.pedigree.sex[i] == SEX_MALE)
    return {
        "name": sample.name, "host": sample.host, "tissue": sample.tissue,
        "depth": sample.depth if sample.depth is not None else scenario.sequencing.depth,
        "fractions": dict(sample.donors),
        "years_since": dict(sample.years),
        "male_fraction": male_w,
        "empirical_fractions": {ids[i]: (int(auto[i]) / total if total else 0.0)
                                for i in sources if ids[i] != sample.host},
        "fragments": {ids[i]: {c: int(reads.fragments[i, j]) for j, c in enumerate(REGION_CLASSES)
                               if reads.fragments[i, j]} for i in sources},
        "n_fragments_autosomal": total,
        "n_reads": int(reads.reads),
        "n_duplicate_pairs": int(reads.duplicates),
        "informative_sites": _informative(family, sample, site_kind),
        "note": "empirical_fractions: unique autosomal fragments per source / all unique autosomal fragments",
    }


def _write_fastq(bam: Path, outdir: Path, name: str):
    """Paired FASTQ (gzip) from the BAM via samtools collate + fastq (bundled in pysam)."""
    import pysam

    r1, r2 = outdir / f"{name}_R1.fastq.gz", outdir / f"{name}_R2.fastq.gz"
    collated = outdir / f".{name}.collated.bam"
    pysam.collate("-f", "-o", str(collated), str(bam), catch_stdout=False)
    try:
        pysam.fastq("-n", "-1", str(r1), "-2", str(r2), "-0", "/dev/null", "-s", "/dev/null",
                    str(collated), catch_stdout=False)
    finally:
        collated.unlink(missing_ok=True)
    return r1, r2
