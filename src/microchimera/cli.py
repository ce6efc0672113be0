"""Command line interface: parse arguments, call the library, print results.

No maths here.  Each subcommand has ``add_<cmd>_subcommand(subparsers)`` which registers
its options and ``set_defaults(runner=run_<cmd>)``; ``run_<cmd>(args) -> int`` calls the
library.  Library errors (:class:`~microchimera.errors.MicrochimeraError`) become
``microchimera: error: ...`` on stderr and their exit code; anything else keeps its
traceback (it is a bug).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from . import __version__
from .errors import MicrochimeraError

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- helpers
def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, found {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, found {value}")
    return value


def probability(text: str) -> float:
    """argparse type: a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], found {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], found {value}")
    return value


def test_level(text: str) -> float:
    """argparse type: a test level alpha in the open interval (0, 0.5) (CIs are 1 - alpha)."""
    from .options import ALPHA_RANGE

    lo, hi = ALPHA_RANGE
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in ({lo:g}, {hi:g}), found {text!r}") from None
    if not lo < value < hi:
        raise argparse.ArgumentTypeError(f"expected a number in ({lo:g}, {hi:g}), found {value}")
    return value


def comma_list(text: str) -> list[str]:
    """argparse type: ``a,b,c`` -> ``['a', 'b', 'c']`` (empty items dropped)."""
    return [item for item in (s.strip() for s in text.split(",")) if item]


class _LowerLevelFormatter(logging.Formatter):
    """``microchimera: warning: ...``, spelled like the warnings the CLI prints itself."""

    def format(self, record):
        record = logging.makeLogRecord(record.__dict__)
        record.levelname = record.levelname.lower()
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record, so that while a progress
    bar is drawn (rich swaps in its own stderr) log lines are printed above the bar, not through it."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging(verbosity: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    handler = _StderrHandler()
    handler.setFormatter(_LowerLevelFormatter("microchimera: %(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger().setLevel(level)


def progress_enabled(args) -> bool:
    """Whether to draw progress bars: only on a terminal and not with ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


# ----------------------------------------------------------------------------- option groups
# One adder per options object (microchimera.options), each taking its defaults from the
# object, and one builder that turns the parsed arguments back into it.
def add_count_filter_arguments(group) -> None:
    """``--min-mapq``, ``--min-baseq``, ``--proper-pairs``: :class:`~microchimera.options.CountFilters`."""
    from .options import CountFilters

    d = CountFilters()
    group.add_argument("--min-mapq", type=non_negative_int, default=d.min_mapq,
                       help=f"minimum mapping quality (default {d.min_mapq})")
    group.add_argument("--min-baseq", type=non_negative_int, default=d.min_baseq,
                       help=f"minimum base quality (default {d.min_baseq})")
    group.add_argument("--proper-pairs", action="store_true", help="count only reads flagged as proper pairs "
                       "(default: orphans and improper pairs count too)")


def count_filters(args):
    from .options import CountFilters

    return CountFilters(min_mapq=args.min_mapq, min_baseq=args.min_baseq, require_proper_pairs=args.proper_pairs)


def add_quantify_arguments(group) -> None:
    """``--alpha``, ``--max-depth-ratio``, ``--absent-genotypes-as-ref``,
    ``--no-contamination-component``, ``--ancestry``, ``--ancestry-panel``, ``--pon``, ``--no-lod``:
    :class:`~microchimera.options.QuantifyOptions`."""
    from .options import QuantifyOptions

    d = QuantifyOptions()
    group.add_argument("--alpha", type=test_level, default=d.alpha,
                       help=f"level of the detection test, in (0, 0.5); CIs are 1 - alpha (default {d.alpha:g})")
    group.add_argument("--max-depth-ratio", type=_depth_ratio, default=d.max_depth_ratio, metavar="R",
                       help="drop sites deeper than R x the median depth (collapsed duplications, CNV gains); "
                            f"0 keeps every site (default {d.max_depth_ratio:g})")
    group.add_argument("--absent-genotypes-as-ref", action="store_true",
                       help="sites absent from the genotypes VCF are hom-ref for everyone in it (variant-only VCFs)")
    group.add_argument("--no-contamination-component", dest="contamination", action="store_false",
                       help="do not fit the unknown unrelated contributor (by default DNA of nobody in the PED is "
                            "estimated as 'contamination' beside the donors, so a relative cannot absorb it)")
    group.add_argument("--ancestry", default=d.ancestry, metavar="A",
                       help="whose allele frequencies the host's untyped relatives get: auto (the host's ancestry "
                            "estimated from its reads at a built-in panel's markers), pooled (the sites' AF as "
                            "given), a 1000 Genomes population or super-population (YRI, EUR, ...) or "
                            f"coordinates v1,v2,v3,v4 (default {d.ancestry})")
    group.add_argument("--ancestry-panel", metavar="PANEL",
                       help="panel of the ancestry axes: a built-in name (microchimera sites list) or the prefix "
                            "of a VerifyBamID2 resource (PREFIX.bed/.mu/.UD/.V); default: the built-in panel "
                            "holding most of the sites")
    group.add_argument("--pon", metavar="PON",
                       help="panel of normals (microchimera pon build): drop its flagged sites and use its per-site "
                            "error rates where it has them (docs/pon.md)")
    group.add_argument("--theta", type=_theta, default=d.theta, metavar="T",
                       help="drift of the family's population from the allele frequencies its untyped people are "
                            "drawn from (Balding-Nichols F_ST, the forensic theta): 0.01 for most populations, 0.03 "
                            f"for small isolated ones, 0 for Hardy-Weinberg on the AF (default {d.theta:g}; "
                            "docs/model.md, drift)")
    group.add_argument("--no-lod", dest="lod", action="store_false",
                       help="skip the per-donor limit of detection (the slowest step at high depth)")
    group.add_argument("--evidence", choices=("auto", "sites", "molecules"), default=d.evidence,
                       help="auto: molecules when a fragments table is at hand (quantify --fragments; run and "
                            "cohort count it, fragments.parquet, in the same pass); molecules: require it; sites: "
                            "every read a site observation (run counts no fragments) "
                            f"(default {d.evidence}; docs/model.md, molecules)")


def quantify_options(args):
    from .options import QuantifyOptions

    return QuantifyOptions(alpha=args.alpha, max_depth_ratio=args.max_depth_ratio,
                           absent_as_ref=args.absent_genotypes_as_ref, contamination=args.contamination,
                           ancestry=args.ancestry, ancestry_panel=args.ancestry_panel, lod=args.lod,
                           pon=args.pon, evidence=args.evidence, theta=args.theta)


def add_y_min_mapq_argument(group, *old_names: str) -> None:
    """``--y-min-mapq`` (the chrY MAPQ threshold; ``old_names`` are hidden aliases kept for one release)."""
    from .options import YChromOptions

    default = YChromOptions().min_mapq
    group.add_argument("--y-min-mapq", type=non_negative_int, default=default, dest="y_min_mapq",
                       help=f"minimum mapping quality of chrY and autosomal reads in the chrY estimate "
                            f"(default {default})")
    for name in old_names:
        group.add_argument(name, type=non_negative_int, dest="y_min_mapq", help=argparse.SUPPRESS)


def add_ychrom_arguments(parser) -> None:
    """The chrY channel of ``run``: :class:`~microchimera.options.YChromOptions`."""
    y = parser.add_argument_group("male DNA on chrY (female host; docs/ychrom.md)")
    yw = y.add_mutually_exclusive_group()
    yw.add_argument("--y-build", choices=("GRCh38", "GRCh37"), help="add the chrY estimate using the packaged "
                    "male-specific regions of this build")
    yw.add_argument("--y-regions", metavar="BED", help="add the chrY estimate using these male-specific regions")
    y.add_argument("--y-controls", nargs="+", default=[], metavar="BAM", help="female control BAMs for the chrY "
                   "background")
    add_y_min_mapq_argument(y)


def ychrom_options(args):
    from .options import YChromOptions

    return YChromOptions(build=args.y_build, regions=args.y_regions, controls=tuple(args.y_controls),
                         min_mapq=args.y_min_mapq)


# ----------------------------------------------------------------------------- subcommands
# Each subcommand section below holds add_<cmd>_subcommand and run_<cmd>.

# ychrom ---------------------------------------------------------------------------------
def add_ychrom_subcommand(sub, common) -> None:
    """``microchimera ychrom``: male DNA in female hosts from male-specific chrY reads."""
    p = sub.add_parser(
        "ychrom", parents=[common], help="male DNA fraction from chrY reads (female hosts)",
        description="Estimate the fraction of male DNA in female samples from reads in male-specific "
        "chrY regions (PARs, X-transposed and ampliconic sequence excluded), against autosomal reads, "
        "with female controls as background. Writes ychrom.json (schema in docs/ychrom.md).")
    p.add_argument("bams", nargs="+", metavar="BAM", help="indexed BAM/CRAM of female hosts")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--build", choices=["GRCh38", "GRCh37"], help="use the packaged Y regions of this build "
                       "(contig lengths are checked)")
    where.add_argument("--regions", metavar="BED", help="male-specific Y regions (BED) instead of --build")
    p.add_argument("--controls", nargs="+", default=[], metavar="FEMALE_BAM",
                   help="female samples without male DNA, for the background (default: a documented "
                   "placeholder background, see docs/ychrom.md)")
    add_y_min_mapq_argument(p, "--min-mapq")
    p.add_argument("--reference", metavar="FASTA", help="reference FASTA (CRAM; N bases left out of region sizes)")
    p.add_argument("--out", required=True, metavar="JSON", help="output file, e.g. ychrom.json")
    p.set_defaults(runner=run_ychrom)


def run_ychrom(args) -> int:
    from .provenance import get_provenance
    from .ychrom import analyse_ychrom, write_ychrom_json

    result = analyse_ychrom(args.bams, build=args.build, regions=args.regions, controls=args.controls,
                            min_mapq=args.y_min_mapq, reference=args.reference)
    inputs = [*args.bams, *args.controls, *([args.regions] if args.regions else [])]
    prov = get_provenance(command=args.command_line, inputs=inputs,
                          parameters={"build": args.build, "regions": args.regions, "min_mapq": args.y_min_mapq,
                                      "controls": args.controls})
    write_ychrom_json(result, args.out, prov)
    for s in result.samples:
        e = s.estimate
        print(f"{s.sample}\tmale_fraction={e.male_fraction:.3g}\tci95={e.ci95[0]:.3g}-{e.ci95[1]:.3g}\t"
              f"geq_per_100k={e.geq_per_100k:.3g}\tp={e.p_value:.3g}\tlod={e.lod:.3g}")
    return 0

# simulate -------------------------------------------------------------------------------
def add_simulate_subcommand(sub, common) -> None:
    """``microchimera simulate``: a scenario file -> reference, VCFs, PED, BAMs, truth.json."""
    p = sub.add_parser(
        "simulate", parents=[common], help="simulate a family and microchimeric samples with known truth",
        description="Simulate the family and tissue samples of a scenario (TOML; keys in docs/simulate.md): "
        "writes ref.fa, sites.vcf.gz, family.vcf.gz, family.ped, ychrom_regions.bed, one indexed BAM per "
        "sample (optionally FASTQ pairs) and truth.json into --outdir.")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file, or builtin:NAME (e.g. builtin:demo)")
    p.add_argument("--outdir", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="random seed (default: drawn at random and recorded in truth.json)")
    p.add_argument("--threads", type=positive_int, default=2, help="BGZF compression threads (default 2)")
    p.set_defaults(runner=run_simulate)


def run_simulate(args) -> int:
    import numpy as np

    from .sim import builtin_scenario, load_scenario, simulate

    if args.scenario.startswith("builtin:"):
        scenario = builtin_scenario(args.scenario.split(":", 1)[1])
    else:
        scenario = load_scenario(args.scenario)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
    logger.info("simulating scenario %r with seed %d into %s", scenario.name, seed, args.outdir)
    result = simulate(scenario, args.outdir, np.random.default_rng(seed), progress=progress_enabled(args),
                      seed=seed, threads=args.threads, command=args.command_line)
    if not args.quiet:
        for s in result.truth["samples"]:
            frac = ", ".join(f"{d}={f:.3g}" for d, f in s["empirical_fractions"].items()) or "no donors"
            print(f"{s['name']}\t{result.bams[s['name']]}\treads={s['n_reads']}\t{frac}")
        print(f"truth\t{result.truth_json}\tseed={seed}")
    return 0


# count ----------------------------------------------------------------------------------
def add_count_subcommand(sub, common) -> None:
    """``microchimera count``: fragment-aware ref/alt/other counts at SNP sites."""
    p = sub.add_parser(
        "count", parents=[common], help="count ref/alt/other fragments at SNP sites (BAM/CRAM)",
        description="Count, per sample and site, the fragments showing the ref, alt or another base "
        "(a read pair counts once; rules in docs/count.md). Writes one row per (sample, site).")
    p.add_argument("alignments", nargs="+", metavar="BAM", help="coordinate-sorted, indexed BAM/CRAM, "
                   "one sample each (@RG SM, else the file name)")
    p.add_argument("--sites", required=True, metavar="SITES", help="biallelic SNPs: VCF/BCF, or BED/TSV with ref and alt")
    p.add_argument("--out", required=True, metavar="COUNTS", help="output file, e.g. counts.parquet")
    p.add_argument("--tsv", action="store_true", help="write --out as tab-separated text instead of Parquet")
    p.add_argument("--fragments", metavar="FRAG", help="also write fragments showing >= 2 sites (Parquet)")
    p.add_argument("--reference", metavar="FASTA", help="reference FASTA: needed for CRAM; when given, "
                   "sites' REF alleles are checked against it")
    filters = p.add_argument_group("filters")
    add_count_filter_arguments(filters)
    filters.add_argument("--region", metavar="REGION", help="only sites in chrom[:start-end] (1-based, inclusive)")
    add_umi_arguments(p.add_argument_group("molecules (UMIs; docs/count.md)"))
    p.add_argument("--threads", type=positive_int, default=1, help="decompression threads (default 1)")
    p.add_argument("--index", action="store_true", help="build missing BAM/CRAM indexes instead of failing")
    p.set_defaults(runner=run_count)


def add_index_subcommand(sub, common) -> None:
    """``microchimera index``: a fine-grained CSI for counting at sparse sites."""
    p = sub.add_parser(
        "index", parents=[common], help="write a fine-grained CSI index of a BAM (fast counting at sparse sites)",
        description="Write a CSI index of each coordinate-sorted BAM with an offset every 2^MIN_SHIFT bp and no "
        "bin merged (samtools merges small bins, leaving offsets 8-16 kb apart). count and run use it when it "
        "is not older than the BAM: at a genome-wide panel's sparse sites they then inflate little more than the "
        "blocks holding the reads over each site (docs/count.md). Written as BAM.fine.csi so that htslib tools, "
        "which prefer a .csi to a .bai, do not load it unless told (samtools view 'BAM##idx##BAM.fine.csi' REGION).")
    p.add_argument("bams", nargs="+", metavar="BAM", help="coordinate-sorted BAM files")
    p.add_argument("--min-shift", type=positive_int, default=None, metavar="N",
                   help="log2 of the index window in bp, 8-20 (default 9: 512 bp)")
    p.add_argument("--out", metavar="CSI", help="output path (one BAM only; default BAM.fine.csi)")
    p.add_argument("--threads", type=positive_int, default=1, help="decompression threads (default 1)")
    p.set_defaults(runner=run_index)


def run_index(args) -> int:
    from .count.bam_index import FINE_SHIFT, build_csi
    from .errors import UsageError

    if args.out is not None and len(args.bams) > 1:
        raise UsageError("--out names one index: give one BAM, or leave --out out")
    for bam in args.bams:
        out = build_csi(bam, args.out, min_shift=args.min_shift or FINE_SHIFT, threads=args.threads)
        if not args.quiet:
            print(f"index\t{out}")
    return 0


def add_umi_arguments(umi) -> None:
    """``--umi``, ``--umi-tag``, ``--molecule-tag``, ``--duplex``, ``--min-family-size``
    (:func:`umi_options`)."""
    umi.add_argument("--umi", action="store_true", help="count molecules: reads grouped into families by "
                     "alignment and UMI (UMI-tools' directional method), one consensus base per family and site")
    umi.add_argument("--umi-tag", default="RX", metavar="TAG", help="tag holding the UMI bases (default RX), or "
                     "'name' for a read-name suffix after '_' or ':'")
    umi.add_argument("--molecule-tag", metavar="TAG", help="take families from a molecule-id tag instead (fgbio "
                     "MI, with /A /B for duplex strands; UMI-tools UG); implies --umi")
    umi.add_argument("--duplex", action="store_true", help="count a molecule only where both of its strands agree "
                     "(duplex UMIs 'AAAA-CCCC', or MI /A /B); implies --umi")
    umi.add_argument("--min-family-size", type=positive_int, default=1, metavar="N",
                     help="reads a (strand) family needs to count (default 1)")


def umi_options(args):
    """The :class:`~microchimera.count.umi.UmiOptions` of the UMI arguments of ``count`` and
    ``run`` (:func:`add_umi_arguments`; None: count reads)."""
    from .count.umi import UmiOptions
    from .errors import UsageError

    if not (args.umi or args.molecule_tag or args.duplex):
        if args.min_family_size != 1 or args.umi_tag != "RX":
            raise UsageError("--umi-tag and --min-family-size count molecules: add --umi")
        return None
    return UmiOptions(tag=args.umi_tag, molecule_tag=args.molecule_tag, duplex=args.duplex,
                      min_family_size=args.min_family_size)


def run_count(args) -> int:
    from .count import count_alleles, write_counts, write_counts_tsv, write_fragments
    from .count.counting import depth_summary
    from .io.sites import read_sites

    sites = read_sites(args.sites)
    result = count_alleles(args.alignments, sites, filters=count_filters(args), reference=args.reference,
                           threads=args.threads, region=args.region, fragments=bool(args.fragments),
                           build_index=args.index, progress=progress_enabled(args), umi=umi_options(args))
    counts = result.counts if args.fragments else result
    counts.parameters.update(sites=str(args.sites), command=args.command_line)
    (write_counts_tsv if args.tsv else write_counts)(counts, args.out)
    if args.fragments:
        write_fragments(result.fragments, args.fragments, counts.parameters)
    if not args.quiet:
        depth = counts.depth  # a property: summed once, not per sample
        for i, name in enumerate(counts.samples):
            covered, mean, mean_covered = depth_summary(depth[i])
            print(f"{name}\tsites={counts.n_sites}\tcovered={covered}\tmean_depth={mean:.1f}\t"
                  f"mean_depth_covered={mean_covered:.1f}\talt={int(counts.alt_count[i].sum())}")
        for path, st in counts.parameters["stats"].items():
            if "umi" in st:
                u = st["umi"]
                line = (f"{path}\tmolecules={u['molecules']}\treads_per_molecule="
                        f"{u['reads_per_molecule'] or 0:.2f}\tmean_family_size={u['mean_family_size'] or 0:.2f}")
                if "duplex_yield" in u:
                    line += f"\tduplex_yield={u['duplex_yield'] or 0:.3f}"
                print(line)
        print(f"counts\t{args.out}" + (f"\nfragments\t{args.fragments}" if args.fragments else ""))
    return 0


# cohort ---------------------------------------------------------------------------------
def byte_size(text: str) -> int:
    """argparse type: a size in bytes, with an optional K/M/G/T suffix (powers of 1024)."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    s = text.strip().upper().removesuffix("B").removesuffix("I")
    num, unit = (s[:-1], s[-1]) if s and s[-1] in units else (s, "")
    try:
        value = int(float(num) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 500M or 2G, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, found {text!r}")
    return value


def add_cohort_subcommand(sub, common) -> None:
    """``microchimera cohort``: every sample of a manifest on a Dask cluster, resumable."""
    p = sub.add_parser(
        "cohort", parents=[common], help="run many samples (a manifest) on a Dask cluster, resumably",
        description="Run count -> quantify (-> ychrom when the manifest asks) for every sample of a manifest "
        "(columns in docs/cohort.md) as Dask tasks. Writes DIR/samples/<sample>/ as `run` does, plus "
        "DIR/cohort.parquet, DIR/cohort.tsv and DIR/cohort.json. Re-running skips samples whose outputs "
        "match their inputs (checksums). Exit status 3 when some samples failed (each recorded).")
    p.add_argument("manifest", metavar="MANIFEST", help="tab-separated manifest, one row per sample")
    p.add_argument("--outdir", required=True, metavar="DIR", help="output directory (created if missing)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="attach to a running Dask scheduler, e.g. "
                       "tcp://10.0.0.5:8786 (default: start a local cluster)")
    where.add_argument("--workers", type=positive_int, metavar="N",
                       help="worker processes of the local cluster (default: one per CPU)")
    p.add_argument("--split-size", type=byte_size, default="2G", metavar="BYTES",
                   help="count a sample whose BAM/CRAM is larger than this in region tasks of about this "
                   "size each (default 2G)")
    p.add_argument("--retries", type=non_negative_int, default=2,
                   help="retries of a task that raised an unexpected error (default 2)")
    p.add_argument("--force", action="store_true", help="recompute samples whose outputs are complete")
    p.add_argument("--no-report", action="store_true", help="no HTML at all: neither DIR/cohort.html nor "
                   "the per-sample report.html")
    p.add_argument("--no-sample-reports", action="store_true", help="no per-sample report.html (seconds per "
                   "sample); DIR/cohort.html is still written")
    per = p.add_argument_group("per-sample options (as for run)")
    add_count_filter_arguments(per)
    add_quantify_arguments(per)
    add_y_min_mapq_argument(per, "--ychrom-min-mapq")
    per.add_argument("--threads", type=positive_int, default=1, help="decompression threads per task (default 1)")
    p.set_defaults(runner=run_cohort)


def run_cohort(args) -> int:
    import distributed  # noqa: F401  (importing it sets its log levels; ours must come after)

    from .cohort import SampleOptions
    from .cohort import run_cohort as run_cohort_library
    from .errors import PartialFailure

    if args.verbose < 2:  # Dask's own INFO lines (workers joining, comms) only with -vv
        logging.getLogger("distributed").setLevel(logging.WARNING)
    options = SampleOptions(filters=count_filters(args), quantify=quantify_options(args),
                            ychrom_min_mapq=args.y_min_mapq, report=not (args.no_report or args.no_sample_reports),
                            threads=args.threads, split_bytes=args.split_size)
    result = run_cohort_library(args.manifest, args.outdir, scheduler=args.scheduler, n_workers=args.workers,
                                options=options, retries=args.retries, force=args.force, report=not args.no_report,
                                command=args.command_line, progress=progress_enabled(args))
    failed, n = result.failed, len(result.outcomes)
    if not args.quiet:
        for o in failed:
            print(f"{o.sample}\tfailed\t{o.record.get('error_type')}: {o.record.get('message')}")
        print(f"cohort\t{result.table_tsv}\tsamples={n}\tdone={len(result.done)}\tskipped={len(result.skipped)}"
              f"\tfailed={len(failed)}")
        if result.report:
            print(f"report\t{result.report}")
    if failed and len(failed) == n:
        raise MicrochimeraError(f"all {n} samples failed (errors in {result.table_tsv})")
    if failed:
        raise PartialFailure(f"{len(failed)} of {n} samples failed (errors in {result.table_tsv}; "
                             f"re-run the same command to retry them)")
    return 0


# ----------------------------------------------------------------------------- quantify / run / demo
def _relationship(text: str) -> str:
    """argparse type: a no-family relationship."""
    from .model import RELATIONSHIPS

    if text not in RELATIONSHIPS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(RELATIONSHIPS)}, found {text!r}")
    return text


def _add_family_options(p) -> None:
    g = p.add_argument_group("family (pedigree mode)")
    g.add_argument("--genotypes", metavar="VCF", help="genotypes of typed relatives (VCF/BCF)")
    g.add_argument("--pedigree", metavar="PED", help="PLINK PED of the family")
    g.add_argument("--host", metavar="ID", help="host ID in the PED (no-family mode: a label)")
    g.add_argument("--donors", metavar="ID,ID", type=comma_list,
                   help="donor IDs (default: every relative of the host and every typed person of the PED)")
    g.add_argument("--contaminants", metavar="ID,ID", type=comma_list,
                   help="people of the PED known to be possible contaminants (a lab control, another sample of the "
                        "run): fitted beside the donors, not tested for relatedness")
    n = p.add_argument_group("no family genotypes")
    n.add_argument("--relationship", metavar="REL", type=_relationship, action="append",
                   help="an unknown donor related to the host as child|parent|sibling|grandchild|unrelated "
                        "(repeat for several donors); AF comes from --sites or the counts")
    m = p.add_argument_group("model")
    m.add_argument("--sites", metavar="VCF", help="site list the counts were made from (checked; INFO/AF used)")
    m.add_argument("--sample", help="sample in the counts (default: the only one)")
    add_quantify_arguments(m)


def sample_inputs(args):
    from .workflow import SampleInputs

    return SampleInputs(host=args.host, donors=args.donors, genotypes=args.genotypes, pedigree=args.pedigree,
                        sites=args.sites, relationships=args.relationship, sample=args.sample,
                        contaminants=args.contaminants, fragments=getattr(args, "fragments", None))


def _depth_ratio(text: str):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 1 (or 0 for no cap), found {text!r}") from None
    if value == 0:
        return None
    if not value > 1:
        raise argparse.ArgumentTypeError(f"expected a number > 1 (or 0 for no cap), found {text!r}")
    return value


def _theta(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 0.5), found {text!r}") from None
    if not 0.0 <= value < 0.5:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 0.5), found {text!r}")
    return value


def add_sites_subcommand(sub, common) -> None:
    """``microchimera sites list|make``: the built-in panels, and site panels with AF."""
    p = sub.add_parser("sites", parents=[common], help="built-in site panels; make a sites VCF with AF",
                       description="List the built-in SNP panels (use them as --sites builtin:NAME), or make a "
                                   "sites VCF with INFO/AF: a 1000 Genomes population's AF from a built-in panel, "
                                   "or a panel from your own population VCF(s).")
    ss = p.add_subparsers(title="actions", dest="action", metavar="ACTION")
    ls = ss.add_parser("list", parents=[common], help="the built-in panels: name, build, sites, source, licence")
    ls.set_defaults(runner=run_sites_list)
    mk = ss.add_parser("make", parents=[common], help="write a bgzipped, indexed sites VCF with INFO/AF",
                       description="From a built-in panel (--panel, with --population for a population's AF) or "
                                   "from population VCF(s) (AF from INFO/AF or counted from GT).")
    mk.add_argument("vcfs", nargs="*", metavar="VCF", help="population VCF/BCF(s) (not with --panel)")
    mk.add_argument("--panel", metavar="NAME", help="a built-in panel (microchimera sites list)")
    mk.add_argument("--population", metavar="POP", default="pooled",
                    help="with --panel: a 1000 Genomes population or super-population (YRI, EUR, ...) whose AF "
                         "to write, or pooled (default)")
    mk.add_argument("--min-af", type=float, default=0.01, metavar="F",
                    help="from VCFs: drop SNPs with AF below F or above 1 - F (default 0.01)")
    mk.add_argument("--thin", type=positive_int, metavar="BP", help="from VCFs: keep SNPs at least BP apart")
    mk.add_argument("--exclude", metavar="BED", help="from VCFs: drop SNPs inside these intervals")
    mk.add_argument("--out", required=True, metavar="VCF_GZ", help="output sites file (.vcf.gz; .tbi written beside)")
    mk.set_defaults(runner=run_sites_make)
    p.set_defaults(runner=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_sites_list(args) -> int:
    from .io.panels import builtin_names, panel_info

    print("name\tbuild\tsites\tlicence\tsource")
    for name in builtin_names():
        i = panel_info(name)
        print(f"{i['name']}\t{i['build']}\t{i['sites']}\t{i['licence']}\t{i['source']}")
    return 0


def run_sites_make(args) -> int:
    from .errors import UsageError
    from .io.panels import load_builtin
    from .io.site_panels import population_sites, sites_from_vcfs, write_sites_vcf

    if bool(args.panel) == bool(args.vcfs):
        raise UsageError("give either --panel (a built-in panel) or population VCF(s), not both or neither")
    if args.panel:
        panel = load_builtin(args.panel)
        table = population_sites(panel, args.population)
        write_sites_vcf(table, args.out, ids=panel.ids,
                        source=f"microchimera sites make --panel {panel.name} --population {args.population}")
        what = f"{table.n_sites} sites of {panel.name} with {args.population} AF"
    else:
        if args.population != "pooled":
            raise UsageError("--population needs --panel (population VCFs carry their own AF)")
        table, dropped = sites_from_vcfs(args.vcfs, min_af=args.min_af, thin=args.thin, exclude=args.exclude)
        write_sites_vcf(table, args.out, source=f"microchimera sites make from {len(args.vcfs)} VCF(s)")
        what = f"{table.n_sites} sites" + (f" (dropped: {', '.join(f'{v} {k}' for k, v in sorted(dropped.items()))})"
                                           if dropped else "")
    if not args.quiet:
        print(f"wrote {args.out}: {what}", file=sys.stderr)
    return 0


def add_pon_subcommand(sub, common) -> None:
    """``microchimera pon build|qc``: a panel of normals (per-site error) and its QC."""
    p = sub.add_parser("pon", parents=[common], help="panel of normals: per-site error from donor-free samples",
                       description="Build a panel of normals from samples known to carry no donor DNA at the sites "
                                   "(the host's own earlier sample, unrelated controls, blanks), or summarise one.")
    ss = p.add_subparsers(title="actions", dest="action", metavar="ACTION")
    b = ss.add_parser("build", parents=[common], help="per-site, per-strand error rates from normals",
                      description="Per site, direction (REF>ALT at hom-ref normals, ALT>REF at hom-alt ones) and "
                                  "strand: error reads, posterior Beta of the rate (shrunk to its substitution "
                                  "class), flags for noisy and strand-biased sites; normals with donor DNA are "
                                  "flagged and left out (docs/pon.md).")
    b.add_argument("normals", nargs="+", metavar="NORMAL",
                   help="counts files (Parquet/TSV from count; every sample is a normal) or BAM/CRAM files")
    b.add_argument("--sites", metavar="SITES", help="sites file (needed to count BAM/CRAM normals; checked otherwise)")
    b.add_argument("--out", required=True, metavar="PON", help="output panel of normals (Parquet)")
    b.add_argument("--reference", metavar="FASTA", help="reference FASTA (CRAM normals)")
    b.add_argument("--threads", type=positive_int, default=1, help="counting threads (default 1)")
    add_count_filter_arguments(b)
    b.set_defaults(runner=run_pon_build)
    q = ss.add_parser("qc", parents=[common], help="summary of a panel of normals: error spread, worst sites",
                      description="Per-site error distribution by direction, the worst sites, strand asymmetry, the "
                                  "normals used and excluded; optionally a figure.")
    q.add_argument("pon", metavar="PON", help="panel of normals (Parquet from pon build)")
    q.add_argument("--top", type=positive_int, default=10, help="worst sites to list (default 10)")
    q.add_argument("--plot", metavar="SVG", help="write the per-site error distribution figure (SVG or PNG)")
    q.set_defaults(runner=run_pon_qc)
    p.set_defaults(runner=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_pon_build(args) -> int:
    from .workflow import build_pon_files

    pon = build_pon_files(args.normals, sites=args.sites, out=args.out, filters=count_filters(args),
                          reference=args.reference, threads=args.threads, progress=progress_enabled(args),
                          command=args.command_line)
    if not args.quiet:
        from .model.pon import FLAGS

        flags = ", ".join(f"{int((pon.flag == f).sum())} {f}" for f in FLAGS)
        print(f"wrote {args.out}: {pon.sites.n_sites} sites ({flags}) from {len(pon.normals)} normals", file=sys.stderr)
        for name, why in pon.excluded.items():
            print(f"microchimera: warning: normal {name!r} left out: {why}", file=sys.stderr)
    return 0


def run_pon_qc(args) -> int:
    from .model.pon_file import read_pon
    from .model.pon_qc import pon_summary

    pon, meta = read_pon(args.pon)
    print(pon_summary(pon, meta, top=args.top))
    if args.plot:
        from .report.figures import pon_figure, save_figure

        save_figure(pon_figure(pon), args.plot)
    return 0


def add_quantify_subcommand(sub, common) -> None:
    p = sub.add_parser("quantify", parents=[common], help="estimate donor fractions from allele counts",
                       description="Estimate each donor's DNA fraction (MLE, profile CI, test, LoD) from allele "
                                   "counts (Parquet or TSV from `count`, or a GATK GetPileupSummaries table).")
    p.add_argument("counts", metavar="COUNTS", help="counts.parquet, counts.tsv or a GATK pileup-summaries table")
    p.add_argument("--fragments", metavar="FRAG", help="the fragments table of the same count (count --fragments): "
                   "fragments showing several sites enter as molecules (see --evidence)")
    _add_family_options(p)
    p.add_argument("--out", metavar="JSON", required=True, help="result.json (a .tsv summary is written beside it)")
    p.set_defaults(runner=run_quantify)


def run_quantify(args) -> int:
    from .workflow import quantify_files, write_result

    result = quantify_files(args.counts, sample_inputs(args), quantify_options(args), command=args.command_line)
    write_result(result, args.out)
    _print_result(result, quiet=args.quiet)
    return 0


def _print_result(result, truth=None, quiet: bool = False) -> None:
    """The result table on stdout (with ``--quiet`` too: it is the result) and, unless
    ``quiet``, the result's warnings on stderr."""
    from .workflow import summary_table

    doc = result.to_json()
    print(f"sample {doc['sample']}  host {doc['host']}  ({doc['sites']['informative']} informative sites)")
    print(summary_table(doc, truth))
    y = doc.get("ychrom")
    if y and y.get("status") == "estimated":
        mf = y["male_fraction"]
        print(f"chrY male DNA: {mf['estimate']:.3g} [{mf['ci95'][0]:.2g}, {mf['ci95'][1]:.2g}]  "
              f"({y['comparison']['status']}: {y['comparison']['message']})")
    elif y:
        print(f"chrY male DNA: {y['status']} ({y.get('reason', '')})")
    for w in () if quiet else doc["warnings"]:
        print(f"microchimera: warning: {w}", file=sys.stderr)


def add_run_subcommand(sub, common) -> None:
    p = sub.add_parser("run", parents=[common], help="count alleles in BAM/CRAM and quantify in one go",
                       description="Count alleles at the sites and quantify donors: writes DIR/counts.parquet, "
                                   "DIR/fragments.parquet (the fragments showing two or more sites, used as "
                                   "molecules; not with --evidence sites), DIR/result.json and DIR/result.tsv.")
    p.add_argument("bams", metavar="BAM", nargs="+", help="coordinate-sorted, indexed BAM/CRAM of the sample")
    _add_family_options(p)
    c = p.add_argument_group("counting")
    c.add_argument("--reference", metavar="FASTA", help="reference FASTA (needed for CRAM)")
    add_count_filter_arguments(c)
    c.add_argument("--threads", type=positive_int, default=1, help="decompression threads (default 1)")
    add_umi_arguments(p.add_argument_group("molecules (UMIs; docs/count.md)"))
    add_ychrom_arguments(p)
    p.add_argument("--no-report", action="store_true", help="do not write DIR/report.html")
    p.add_argument("--outdir", metavar="DIR", required=True, help="output directory")
    p.set_defaults(runner=run_run)


def run_run(args) -> int:
    from .workflow import run_pipeline

    result = run_pipeline(args.bams, outdir=args.outdir, inputs=sample_inputs(args), filters=count_filters(args),
                          options=quantify_options(args), ychrom=ychrom_options(args), reference=args.reference,
                          threads=args.threads, report=not args.no_report, progress=progress_enabled(args),
                          command=args.command_line, umi=umi_options(args))
    _print_result(result, quiet=args.quiet)
    return 0


def add_demo_subcommand(sub, common) -> None:
    p = sub.add_parser("demo", parents=[common], help="simulate a family and run the whole pipeline",
                       description="Simulate the built-in family (mother; son, daughter, untyped early loss; "
                                   "father typed) and a brain sample carrying all three, then count and quantify.")
    p.add_argument("--outdir", metavar="DIR", default="microchimera-demo", help="output directory "
                   "(default ./microchimera-demo)")
    p.add_argument("--seed", type=non_negative_int, help="random seed (default: drawn and recorded)")
    p.add_argument("--threads", type=positive_int, default=1, help="threads (default 1)")
    p.set_defaults(runner=run_demo)


def run_demo(args) -> int:
    import numpy as np

    from .workflow import run_demo as demo

    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % (2**31))
    result, truth = demo(args.outdir, np.random.default_rng(seed), seed=seed, command=args.command_line,
                         threads=args.threads, progress=progress_enabled(args))
    _print_result(result, truth, quiet=args.quiet)
    print(f"seed {seed}; outputs in {args.outdir}/ (report.html, result.json, result.tsv, counts.parquet, "
          "fragments.parquet, simulated/)")
    return 0


# report ---------------------------------------------------------------------------------
def add_report_subcommand(sub, common) -> None:
    """``microchimera report``: self-contained HTML (and MultiQC file) from result JSON files."""
    p = sub.add_parser(
        "report", parents=[common], help="self-contained HTML report from result.json file(s)",
        description="Render one self-contained HTML page (inline SVG figures; works offline) from result.json "
        "files only: verdict per donor, forest plot with LoD, observed vs expected non-host alleles, likelihood "
        "profiles, per-chromosome estimates, error rates, relatedness test, chrY beside SNP, provenance. With "
        "several files, a cohort view of gEq/100k per donor per sample comes first (docs/report.md).")
    p.add_argument("results", nargs="+", metavar="JSON", help="result.json of quantify/run (a ychrom.json given "
                   "here is used as --ychrom)")
    p.add_argument("--ychrom", nargs="+", default=[], metavar="YJSON", help="ychrom.json file(s); samples are "
                   "matched to results by name")
    p.add_argument("--out", required=True, metavar="HTML", help="output file, e.g. report.html")
    p.add_argument("--title", help="page title (default: the sample name)")
    p.add_argument("--summary-only", action="store_true", help="cohort table and figure only, no per-sample "
                   "sections (for hundreds of samples)")
    p.add_argument("--multiqc", metavar="DIR", help="also write one <sample>_microchimera_mqc.json per result "
                   "into DIR (MultiQC custom content)")
    p.set_defaults(runner=run_report)


def run_report(args) -> int:
    from .report import write_multiqc, write_report
    from .report.html import is_ychrom_document, load_json

    out = write_report(args.results, args.out, args.ychrom or None, title=args.title,
                       details=not args.summary_only)
    written = [f"report\t{out}"]
    if args.multiqc:
        from pathlib import Path

        from .errors import InputError

        mdir = Path(args.multiqc)
        try:
            mdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{mdir}: cannot create the MultiQC directory: {exc.strerror}") from exc
        for path in args.results:
            doc = load_json(path)
            if not is_ychrom_document(doc):
                written.append(f"multiqc\t{write_multiqc(doc, mdir)}")
    if not args.quiet:
        print("\n".join(written))
    return 0


# power ----------------------------------------------------------------------------------
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, found {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, found {value}")
    return value


def _af_range(text: str) -> tuple:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH such as 0.05,0.95, found {text!r}") from None
    if not 0 < lo <= hi < 1:
        raise argparse.ArgumentTypeError(f"expected 0 < LOW <= HIGH < 1, found {text!r}")
    return (lo, hi)


def add_power_subcommand(sub, common) -> None:
    """``microchimera power``: limit of detection of a design, or what a target fraction needs."""
    p = sub.add_parser(
        "power", parents=[common], help="limit of detection of a design, or sites/depth for a target fraction",
        description="Detection power of the boundary likelihood-ratio test for one donor, from the design alone "
        "(non-central chi-square; maths in docs/power.md; validated against simulation in validation/README.md). "
        "Prints the LoD (fraction detected with --power probability); with --fraction also the power there and "
        "the sites (at this depth) or depth (at these sites) needed.")
    p.add_argument("--sites", type=positive_int, required=True, metavar="N", help="SNP sites in the panel")
    p.add_argument("--depth", "--molecules", dest="depth", type=_positive_float, required=True, metavar="D",
                   help="mean fragments per site; UMI data (count --umi): unique molecules per site")
    p.add_argument("--error", "--molecule-error", dest="error", type=probability, default=1e-3, metavar="E",
                   help="per-base substitution error, all classes (default 0.001); UMI data: the error after "
                   "consensus (result.json umi.consensus_error; duplex ~1e-6 and below)")
    p.add_argument("--relationship", default="child", choices=["child", "parent", "sibling", "grandchild", "unrelated"],
                   help="donor's relationship to the host (default child)")
    p.add_argument("--typed", action="store_true", help="host and donor genotyped (family mode); default: "
                   "genotypes summed out as in --relationship mode")
    p.add_argument("--fraction", type=_positive_float, metavar="F", help="target donor fraction")
    p.add_argument("--power", type=probability, default=0.95, help="power that defines the LoD (default 0.95)")
    p.add_argument("--alpha", type=test_level, default=0.05, help="test level, in (0, 0.5) (default 0.05)")
    p.add_argument("--af-range", type=_af_range, default=(0.05, 0.95), metavar="LOW,HIGH",
                   help="site allele frequencies, uniform on this range (default 0.05,0.95)")
    p.add_argument("--overdispersion", type=probability, default=0.0, metavar="RHO",
                   help="beta-binomial overdispersion (default 0)")
    p.add_argument("--snps-per-molecule", type=positive_int, default=1, metavar="L",
                   help="amplicon or microhaplotype panel: every molecule shows L SNPs (--sites / L amplicons, "
                        "--depth molecules each); also prints the molecule likelihood's LoD (--typed child or "
                        "parent; default 1)")
    p.add_argument("--out", metavar="JSON", help="write the result (curve included) as JSON")
    p.add_argument("--plot", metavar="FILE", help="power-vs-fraction plot (.svg or .png)")
    p.set_defaults(runner=run_power)


def run_power(args) -> int:
    import json
    from pathlib import Path

    from .errors import UsageError
    from .model.power import Design, power_analysis

    design = Design(n_sites=args.sites, depth=args.depth, error=args.error, relationship=args.relationship,
                    typed=args.typed, af_range=args.af_range, alpha=args.alpha, rho=args.overdispersion,
                    snps_per_molecule=args.snps_per_molecule)
    if args.plot and Path(args.plot).suffix.lower() not in (".svg", ".png"):
        raise UsageError(f"--plot {args.plot}: the file name must end in .svg or .png")
    res = power_analysis(design, fraction=args.fraction, power=args.power)
    doc = res.to_dict()
    if args.out:
        from ._atomic import write_text_atomic
        from .provenance import get_provenance

        params = {k: v for k, v in vars(args).items() if k != "command_line"}
        doc["provenance"] = get_provenance(command=args.command_line,
                                           parameters=params | {"runner": None, "af_range": list(args.af_range)})
        write_text_atomic(args.out, json.dumps(doc, indent=2) + "\n")
    if args.plot:
        from .report.power_plot import write_power_plot

        write_power_plot(res, args.plot)
    # The LoD is the result: printed with --quiet too, as quantify's table is.
    lod = "not reached below 0.5" if res.lod is None else f"{res.lod:.3g} ({doc['lod_geq_per_100k']:.3g} gEq/100k)"
    print(f"design\tsites={args.sites}\tdepth={args.depth:g}\terror={args.error:g}\t{args.relationship}"
          f"\t{'typed' if args.typed else 'untyped'}")
    print(f"lod\t{lod}\tpower={args.power:g}\talpha={args.alpha:g}")
    if args.snps_per_molecule > 1:
        mol = "not reached below 0.5" if res.lod_molecules is None else f"{res.lod_molecules:.3g}"
        print(f"lod_molecules\t{mol}\t{args.snps_per_molecule} SNPs per molecule")
    if res.fraction is not None:
        t = doc["target"]
        depth = "not reached" if t["depth_needed"] is None else f"{t['depth_needed']:,.0f}"
        print(f"fraction\t{res.fraction:.3g}\tpower={t['power']:.3f}\tsites_needed={t['sites_needed']}"
              f"\tdepth_needed={depth}")
    if not args.quiet:
        for note in res.notes:
            print(f"microchimera: note: {note}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- parser
_SUBCOMMANDS: list = []
_SUBCOMMANDS.append(add_simulate_subcommand)
_SUBCOMMANDS.append(add_ychrom_subcommand)
_SUBCOMMANDS.append(add_count_subcommand)
_SUBCOMMANDS.append(add_index_subcommand)
_SUBCOMMANDS.append(add_cohort_subcommand)
_SUBCOMMANDS.append(add_quantify_subcommand)
_SUBCOMMANDS.append(add_run_subcommand)
_SUBCOMMANDS.append(add_demo_subcommand)
_SUBCOMMANDS.append(add_report_subcommand)
_SUBCOMMANDS.append(add_power_subcommand)
_SUBCOMMANDS.append(add_sites_subcommand)
_SUBCOMMANDS.append(add_pon_subcommand)


def get_parser() -> argparse.ArgumentParser:
    """Build the ``microchimera`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="microchimera",
        description="Detect and quantify microchimerism (DNA of a related person inside a host) "
        "from BAM/CRAM/VCF, and simulate it with known truth.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging: -v the steps and, where BAM/CRAM files are counted (count, run, demo), "
                             "each file's read statistics; -vv debug")
    common.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars, warnings or lists of written files: errors on stderr, and on stdout "
                             "only the results (quantify/run/demo tables, power's LoD)")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub, common)
    return parser


def command_line(argv: list[str]) -> str:
    """The command recorded in provenance: ``microchimera`` and the arguments ``main`` was given."""
    import shlex

    return shlex.join(["microchimera", *argv])


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that open atomic outputs are removed on the way out
    (the default action ends the process where it stands, leaving hidden temporary files)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def _terminate_cleanly():
    """Turn SIGTERM into :class:`Terminated`; returns the previous handler (None when not in the
    main thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``microchimera`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = get_parser()
    args = parser.parse_args(argv)
    args.command_line = command_line(argv)
    if getattr(args, "runner", None) is None:
        parser.print_help(sys.stderr)
        return 2
    _setup_logging(args.verbose, args.quiet)
    previous = _terminate_cleanly()
    try:
        return int(args.runner(args) or 0)
    except MicrochimeraError as exc:
        # The library names parameters as Python spells them (host=); here, as this command's flags.
        print(f"microchimera: error: {exc.cli_message(args.command)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("microchimera: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`microchimera sites list | head`): stop quietly, as
        # Unix tools do, and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Terminated:
        print("microchimera: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
