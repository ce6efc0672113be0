"""The settings of each step, each with its defaults written once.

* :class:`CountFilters` — which reads and bases ``count`` (and ``run``, ``cohort``) counts;
* :class:`QuantifyOptions` — the model settings of ``quantify`` (and ``run``, ``cohort``);
* :class:`YChromOptions` — the chrY male-DNA channel of ``run`` and ``cohort``.

The CLI builds them from its option groups (``cli.add_*_arguments``), the cohort composes
them into its per-sample options, and the Python API takes them as ``filters=`` /
``options=`` / ``ychrom=`` arguments.  Each validates its values on construction and raises
:class:`~microchimera.errors.UsageError` with what was expected and what was found.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .conventions import DEFAULT_THETA, MAX_DEPTH_RATIO
from .errors import UsageError

#: Level of the detection test: open interval (CIs are ``1 - alpha``).
ALPHA_RANGE = (0.0, 0.5)
Y_BUILDS = ("GRCh38", "GRCh37")


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in the open interval :data:`ALPHA_RANGE`, else UsageError."""
    lo, hi = ALPHA_RANGE
    if not lo < alpha < hi:
        raise UsageError(f"alpha must be in ({lo:g}, {hi:g}), found {alpha}")
    return float(alpha)


@dataclass(frozen=True)
class CountFilters:
    """Read and base filters of allele counting (``docs/count.md``).

    ``min_mapq`` and ``min_baseq`` are Phred-scaled minimum mapping and base qualities;
    ``require_proper_pairs`` drops reads not flagged as a proper pair (orphans, single-end).
    """

    min_mapq: int = 20
    min_baseq: int = 20
    require_proper_pairs: bool = False

    def __post_init__(self):
        for name in ("min_mapq", "min_baseq"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255:
                raise UsageError(f"{name} must be an integer in [0, 255], found {v!r}")

    def to_json(self) -> dict:
        return {"min_mapq": self.min_mapq, "min_baseq": self.min_baseq}


@dataclass(frozen=True)
class QuantifyOptions:
    """Model settings of one quantification.

    alpha : float
        Level of the detection test, in (0, 0.5); CIs are ``1 - alpha``.
    block_size : float
        Genome block length (bp) of the block-sandwich CI inflation for linked sites.
    max_depth_ratio : float or None
        Drop sites deeper than this many times the median ref + alt depth
        (:func:`microchimera.model.quantify.depth_cap`); None keeps every site.
    relatedness : bool
        Run the "named relative vs unrelated person" test.
    absent_as_ref : bool
        Sites absent from the genotypes VCF are hom-ref for everyone in it (variant-only VCFs).
    contamination : bool
        Fit an unknown unrelated contributor (genotypes from HWE at the AF) beside the named
        donors, so that DNA of nobody in the PED is not absorbed by a relative and is
        reported as ``contamination`` (``--no-contamination-component`` switches it off).
    ancestry : str
        Whose AF the host's untyped relatives get (``docs/model.md``, "Ancestry"): ``auto``
        (the host's ancestry estimated from its reads at a built-in panel's markers; the
        sites' AF where they are no panel's markers), ``pooled`` (the sites' AF as given), a
        1000 Genomes population or super-population (``YRI``, ``AFR``) or coordinates
        ``v1,v2,v3,v4``.
    ancestry_panel : str or None
        Built-in panel of the ancestry axes (default: the one holding most of the sites).
    lod : bool
        Compute each donor's limit of detection (the slowest step at high depth; off, the
        result's ``lod`` is null and nothing else changes).
    pon : str or Path or None
        A panel of normals (``microchimera pon build``): its flagged sites are dropped and
        the sites it holds get its per-site error rates (``docs/pon.md``).
    evidence : str
        ``auto`` (molecules when a fragments table is given), ``molecules`` (requires one) or
        ``sites`` (every read a site observation); see :mod:`microchimera.model.evidence`.
    theta : float
        Balding–Nichols drift of the family's population from the AF its untyped people
        are drawn from, in [0, 0.5) (the forensic θ; default 0.01, NRC II recommendation
        4.1; 0 is Hardy–Weinberg on the AF); see :mod:`microchimera.model.drift`.
    """

    alpha: float = 0.05
    block_size: float = 5e6
    max_depth_ratio: float | None = MAX_DEPTH_RATIO
    relatedness: bool = True
    absent_as_ref: bool = False
    contamination: bool = True
    ancestry: str = "auto"
    ancestry_panel: str | None = None
    lod: bool = True
    pon: str | Path | None = None
    evidence: str = "auto"
    theta: float = DEFAULT_THETA

    def __post_init__(self):
        check_alpha(self.alpha)
        if not (isinstance(self.theta, int | float) and 0.0 <= self.theta < 0.5):
            raise UsageError(f"theta must be in [0, 0.5), found {self.theta!r}")
        if self.evidence not in ("auto", "sites", "molecules"):
            raise UsageError(f"evidence must be auto, sites or molecules, found {self.evidence!r}")
        if not isinstance(self.ancestry, str) or not self.ancestry.strip():
            raise UsageError(f"ancestry must be auto, pooled, a population label or coordinates, found {self.ancestry!r}")
        if not self.block_size > 0:
            raise UsageError(f"block_size must be > 0 bp, found {self.block_size}")
        if self.max_depth_ratio is not None and not self.max_depth_ratio > 1:
            raise UsageError(f"max_depth_ratio must be > 1 (or None for no cap), found {self.max_depth_ratio}")

    def provenance_parameters(self, relationships=()) -> dict:
        """The parameters recorded in a result's provenance."""
        return {"alpha": self.alpha, "block_size": self.block_size, "max_depth_ratio": self.max_depth_ratio,
                "relationships": list(relationships or []), "absent_genotypes_as_ref": self.absent_as_ref,
                "contamination_component": self.contamination, "ancestry": self.ancestry,
                "ancestry_panel": self.ancestry_panel, "lod": self.lod,
                "pon": None if self.pon is None else str(self.pon), "evidence": self.evidence,
                "theta": self.theta}


@dataclass(frozen=True)
class YChromOptions:
    """The chrY male-DNA channel beside the SNP estimate (``docs/ychrom.md``).

    Exactly one of ``build`` (packaged male-specific regions of GRCh38/GRCh37) and
    ``regions`` (a BED) switches it on; neither: the channel is skipped.  ``controls`` are
    female BAMs for the background; ``min_mapq`` the minimum mapping quality of chrY and
    autosomal reads.
    """

    build: str | None = None
    regions: str | Path | None = None
    controls: tuple = field(default=())
    min_mapq: int = 30

    def __post_init__(self):
        if self.build is not None and self.regions is not None:
            raise UsageError("give either a Y build or a Y regions BED, not both")
        if self.build is not None and self.build not in Y_BUILDS:
            raise UsageError(f"Y build must be one of {', '.join(Y_BUILDS)}, found {self.build!r}")
        if isinstance(self.min_mapq, bool) or not isinstance(self.min_mapq, int) or self.min_mapq < 0:
            raise UsageError(f"chrY min_mapq must be an integer >= 0, found {self.min_mapq!r}")
        object.__setattr__(self, "controls", tuple(self.controls))

    @property
    def enabled(self) -> bool:
        return self.build is not None or self.regions is not None
