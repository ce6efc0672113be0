"""Simulation scenarios: a TOML file (or dict) -> validated, frozen :class:`Scenario`.

Every key, its type, default and unit is documented in ``docs/simulate.md``.  Errors raise
:class:`~microchimera.errors.ScenarioError` (exit code 2) whose message starts with the
key's path, e.g. ``family.people[3].mother: unknown person 'X'``.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import sys
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from ..conventions import SUBSTITUTION_CLASSES
from ..errors import ScenarioError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Person:
    id: str
    sex: str                      # "male" | "female"
    father: str | None = None
    mother: str | None = None
    typed: bool = True            # appears in family.vcf.gz
    loss: bool = False            # an early pregnancy loss (informational; usually untyped)
    years_since_birth: float | None = None  # years between this pregnancy and sampling


@dataclass(frozen=True)
class Genome:
    n_autosomes: int = 2
    autosome_length: int | None = None   # bp; default: fitted to the panel
    chrx_length: int = 200_000
    chry_length: int = 100_000
    par1_length: int = 10_000
    par2_length: int = 5_000
    xtr_length: int = 20_000
    xtr_identity: float = 0.99
    ampliconic_length: int = 0           # bp per arm of one palindrome (two identical inverted arms) on chrY
    morgans: float = 1.5                 # genetic length per contig (Morgans)
    gc: float = 0.41


@dataclass(frozen=True)
class Panel:
    n_sites: int = 20_000                # autosomal SNP sites
    n_sites_x: int = 0                   # extra sites on chrX (outside PAR/XTR)
    spacing: float = 1000.0              # mean bp between neighbouring sites
    spacing_model: str = "exponential"   # "exponential" | "fixed"
    af_distribution: str = "uniform"     # "uniform" | "beta"
    af_min: float = 0.05
    af_max: float = 0.95
    af_beta_a: float = 0.5
    af_beta_b: float = 0.5
    population: str | None = None        # draw the family from this 1000G population's AF
    ancestry_panel: str = "1000g-10k-GRCh38"   # built-in panel whose markers the sites copy
    snps_per_amplicon: int = 0           # > 0: an amplicon panel (sites in amplicons of this many SNPs)
    amplicon_min: int = 120              # amplicon lengths, uniform in [amplicon_min, amplicon_max] bp
    amplicon_max: int = 200


@dataclass(frozen=True)
class PanelErrors:
    """A per-site error profile shared by every sample of the scenario (``[error_profile]``):
    the arguments of :func:`microchimera.sim.panel_error_profile` (its ``base_rate`` is
    ``sequencing.error_rate``)."""

    sigma: float = 1.0                   # log-sd of the per-site spread
    hot_share: float = 0.01              # share of hot sites ...
    hot_rate: float = 2e-2               # ... and their total error per base
    strand_bias_share: float = 0.0       # sites whose errors sit on one strand ...
    strand_bias_fold: float = 8.0        # ... this many times the other's
    cpg_fold: float = 1.0                # C>T/G>A multiplier at CpG-context sites
    ffpe: float = 0.0                    # C>T/G>A added per base (deamination)
    oxidation: float = 0.0               # G>T on forward reads, C>A on reverse (8-oxoG)


@dataclass(frozen=True)
class Persistence:
    model: str = "exponential"
    initial_fraction: float = 1e-3       # fraction right after the pregnancy
    half_life_years: float = 10.0
    floor: float = 0.0                   # long-term persisting fraction added on top

    def fraction(self, years: float) -> float:
        """``floor + initial_fraction * 2 ** (-years / half_life_years)``."""
        return self.floor + self.initial_fraction * 2.0 ** (-years / self.half_life_years)


@dataclass(frozen=True)
class Sample:
    name: str
    host: str
    donors: tuple = ()                   # ((person, fraction), ...) after persistence
    tissue: str = "blood"
    depth: float | None = None           # overrides sequencing.depth
    years: tuple = ()                    # ((person, years), ...) when a persistence model was used


@dataclass(frozen=True)
class Sequencing:
    depth: float = 100.0                 # fragments per site (panel) / fragment coverage (whole genome)
    depth_model: str = "poisson"         # "poisson" | "fixed" (panel mode)
    read_length: int = 150
    fragment_mean: float = 250.0
    fragment_sd: float = 60.0
    fragment_min: int = 60
    fragment_max: int = 600
    error_rate: float = 1e-3             # total substitution error per base
    error_classes: tuple = ()            # (("A>C", rate), ...) overrides per class
    quality_values: tuple = (2, 12, 25, 37)
    quality_weights: tuple = (0.02, 0.05, 0.08, 0.85)
    duplicate_rate: float = 0.0
    umi_length: int = 0                  # bases (each half, duplex)
    umi_family_mean: float = 0.0         # > 0: a UMI library, reads per strand family (negative binomial)
    umi_family_shape: float = 2.0        # its shape (smaller: more spread); families of 0 reads are unseen
    umi_duplex: bool = False             # both strands of each molecule, UMIs X-Y / Y-X
    umi_error_rate: float = 0.0          # per UMI base, per read
    umi_mi: bool = False                 # also write fgbio-style MI tags (molecule id, /A /B)
    pcr_error_rate: float = 1e-6         # polymerase error per base and doubling (UMI library)
    pcr_cycles: int = 12
    damage_rate: float = 0.0             # per base, one strand, before amplification (UMI library)
    indel_rate: float = 0.0              # per read
    soft_clip_rate: float = 0.0          # per read
    mapq: int = 60
    mapq_par: int = 0
    mapq_xtr: int = 20
    mapq_ampliconic: int = 0
    xtr_mismap_rate: float = 0.01
    whole_genome: bool = False
    fastq: bool = False

    def error_rates(self) -> dict:
        """Per-class rates for :func:`~microchimera.sim.reads.error_matrix`."""
        return {"default": self.error_rate / 3.0, **dict(self.error_classes)}


@dataclass(frozen=True)
class Scenario:
    name: str
    people: tuple
    samples: tuple
    description: str = ""
    genome: Genome = field(default_factory=Genome)
    panel: Panel = field(default_factory=Panel)
    sequencing: Sequencing = field(default_factory=Sequencing)
    persistence: Persistence | None = None
    error_profile: PanelErrors | None = None

    def person(self, pid: str) -> Person:
        for p in self.people:
            if p.id == pid:
                return p
        raise KeyError(pid)

    def to_dict(self) -> dict:
        """Plain JSON-able form (tuples of pairs become dicts)."""
        d = asdict(self)
        for s in d["samples"]:
            s["donors"] = dict(s["donors"])
            s["years"] = dict(s["years"])
        d["sequencing"]["error_classes"] = dict(d["sequencing"]["error_classes"])
        return d


# ----------------------------------------------------------------------------- validation
def _unknown_keys(table: dict, allowed, path: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(allowed)}"
            raise ScenarioError(f"{_join(path, key)}: unknown key{hint}")


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _table(value, path: str) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError(f"{path}: expected a table, found {type(value).__name__} {value!r}")
    return value


def _number(table, key, path, default, *, kind=float, low=None, high=None, low_open=False,
            high_open=False, optional=False):
    p = _join(path, key)
    if key not in table:
        return default
    v = table[key]
    if v is None and optional:
        return None
    ok_type = isinstance(v, int) if kind is int else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok_type:
        want = "an integer" if kind is int else "a number"
        raise ScenarioError(f"{p}: expected {want}, found {v!r}")
    v = kind(v)
    if not math.isfinite(v):
        raise ScenarioError(f"{p}: expected a finite number, found {v!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ScenarioError(f"{p}: must be {'>' if low_open else '>='} {low}, found {v}")
    if high is not None and (v >= high if high_open else v > high):
        raise ScenarioError(f"{p}: must be {'<' if high_open else '<='} {high}, found {v}")
    return v


def _string(table, key, path, default, choices=None):
    if key not in table:
        return default
    v = table[key]
    if not isinstance(v, str) or not v:
        raise ScenarioError(f"{_join(path, key)}: expected a non-empty string, found {v!r}")
    if choices is not None and v not in choices:
        raise ScenarioError(f"{_join(path, key)}: expected one of {', '.join(map(repr, choices))}, found {v!r}")
    return v


def _bool(table, key, path, default):
    if key not in table:
        return default
    v = table[key]
    if not isinstance(v, bool):
        raise ScenarioError(f"{_join(path, key)}: expected true or false, found {v!r}")
    return v


_GENOME_KEYS = ("n_autosomes", "autosome_length", "chrx_length", "chry_length", "par1_length",
                "par2_length", "xtr_length", "xtr_identity", "ampliconic_length", "morgans", "gc")


def _parse_genome(t) -> Genome:
    t = _table(t, "genome")
    _unknown_keys(t, _GENOME_KEYS, "genome")
    d = Genome()
    g = Genome(
        n_autosomes=_number(t, "n_autosomes", "genome", d.n_autosomes, kind=int, low=1, high=22),
        autosome_length=_number(t, "autosome_length", "genome", None, kind=int, low=10_000, optional=True),
        chrx_length=_number(t, "chrx_length", "genome", d.chrx_length, kind=int, low=10_000),
        chry_length=_number(t, "chry_length", "genome", d.chry_length, kind=int, low=10_000),
        par1_length=_number(t, "par1_length", "genome", d.par1_length, kind=int, low=0),
        par2_length=_number(t, "par2_length", "genome", d.par2_length, kind=int, low=0),
        xtr_length=_number(t, "xtr_length", "genome", d.xtr_length, kind=int, low=0),
        xtr_identity=_number(t, "xtr_identity", "genome", d.xtr_identity, low=0.5, high=1.0),
        ampliconic_length=_number(t, "ampliconic_length", "genome", d.ampliconic_length, kind=int, low=0),
        morgans=_number(t, "morgans", "genome", d.morgans, low=0),
        gc=_number(t, "gc", "genome", d.gc, low=0.05, high=0.95),
    )
    y_specific = g.chry_length - g.par1_length - g.par2_length - g.xtr_length - 2 * g.ampliconic_length
    if y_specific < 10_000:
        raise ScenarioError(f"genome.chry_length: {g.chry_length} bp leaves {y_specific} bp of male-specific "
                            "chrY after PAR1, PAR2, XTR and the ampliconic palindrome; need >= 10000")
    if g.chrx_length < g.par1_length + g.par2_length + g.xtr_length + 10_000:
        raise ScenarioError(f"genome.chrx_length: {g.chrx_length} bp is too short for PAR1 + PAR2 + XTR + 10 kb")
    return g


_PANEL_KEYS = ("n_sites", "n_sites_x", "spacing", "spacing_model", "af_distribution", "af_min",
               "af_max", "af_beta_a", "af_beta_b", "population", "ancestry_panel", "snps_per_amplicon",
               "amplicon_min", "amplicon_max")


def _parse_panel(t) -> Panel:
    t = _table(t, "panel")
    _unknown_keys(t, _PANEL_KEYS, "panel")
    d = Panel()
    p = Panel(
        n_sites=_number(t, "n_sites", "panel", d.n_sites, kind=int, low=1),
        n_sites_x=_number(t, "n_sites_x", "panel", d.n_sites_x, kind=int, low=0),
        spacing=_number(t, "spacing", "panel", d.spacing, low=2),
        spacing_model=_string(t, "spacing_model", "panel", d.spacing_model, ("exponential", "fixed")),
        af_distribution=_string(t, "af_distribution", "panel", d.af_distribution, ("uniform", "beta")),
        af_min=_number(t, "af_min", "panel", d.af_min, low=0, high=1, low_open=True, high_open=True),
        af_max=_number(t, "af_max", "panel", d.af_max, low=0, high=1, low_open=True, high_open=True),
        af_beta_a=_number(t, "af_beta_a", "panel", d.af_beta_a, low=0, low_open=True),
        af_beta_b=_number(t, "af_beta_b", "panel", d.af_beta_b, low=0, low_open=True),
        snps_per_amplicon=_number(t, "snps_per_amplicon", "panel", d.snps_per_amplicon, kind=int, low=0),
        amplicon_min=_number(t, "amplicon_min", "panel", d.amplicon_min, kind=int, low=40),
        amplicon_max=_number(t, "amplicon_max", "panel", d.amplicon_max, kind=int, low=40),
    )
    if p.amplicon_min > p.amplicon_max:
        raise ScenarioError(f"panel.amplicon_min: {p.amplicon_min} is greater than panel.amplicon_max "
                            f"{p.amplicon_max}")
    if p.snps_per_amplicon and p.snps_per_amplicon > p.amplicon_min - 20:
        raise ScenarioError(f"panel.snps_per_amplicon: {p.snps_per_amplicon} SNPs do not fit in an amplicon of "
                            f"{p.amplicon_min} bp (10 bp primer margins at each end)")
    if p.snps_per_amplicon and p.n_sites_x:
        raise ScenarioError("panel.n_sites_x: chrX sites are not simulated on an amplicon panel "
                            "(panel.snps_per_amplicon)")
    if p.af_min > p.af_max:
        raise ScenarioError(f"panel.af_min: {p.af_min} is greater than panel.af_max {p.af_max}")
    if "population" in t or "ancestry_panel" in t:
        from ..errors import UsageError
        from ..io.panels import BUILTIN, load_builtin

        name = _string(t, "ancestry_panel", "panel", d.ancestry_panel, tuple(BUILTIN))
        pop = t.get("population")
        if not isinstance(pop, str):
            raise ScenarioError(f"panel.population: expected a 1000 Genomes population or super-population "
                                f"(e.g. YRI, EUR), found {pop!r}")
        panel = load_builtin(name)
        try:
            panel.coordinates_of(pop)
        except UsageError as exc:
            raise ScenarioError(f"panel.population: {exc}") from None
        if p.n_sites > panel.n_markers:
            raise ScenarioError(f"panel.n_sites: {p.n_sites} sites, but {name} has {panel.n_markers} markers")
        p = dataclasses.replace(p, population=pop, ancestry_panel=name)
    return p


_SEQ_KEYS = tuple(f for f in Sequencing.__dataclass_fields__)


def _parse_sequencing(t) -> Sequencing:
    t = _table(t, "sequencing")
    _unknown_keys(t, _SEQ_KEYS, "sequencing")
    d, P = Sequencing(), "sequencing"
    classes = _table(t.get("error_classes", {}), "sequencing.error_classes")
    _unknown_keys(classes, SUBSTITUTION_CLASSES, "sequencing.error_classes")
    error_classes = tuple((k, _number(classes, k, "sequencing.error_classes", 0.0, low=0, high=0.3))
                          for k in classes)
    qv = t.get("quality_values", list(d.quality_values))
    qw = t.get("quality_weights", list(d.quality_weights))
    if (not isinstance(qv, list) or not qv or not all(isinstance(q, int) and not isinstance(q, bool)
                                                       and 0 <= q <= 93 for q in qv)):
        raise ScenarioError(f"sequencing.quality_values: expected a list of integers 0..93, found {qv!r}")
    if (not isinstance(qw, list) or len(qw) != len(qv)
            or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in qw)
            or sum(qw) <= 0):
        raise ScenarioError(f"sequencing.quality_weights: expected {len(qv)} non-negative numbers "
                            f"(one per quality value) with a positive sum, found {qw!r}")
    s = Sequencing(
        depth=_number(t, "depth", P, d.depth, low=0, low_open=True),
        depth_model=_string(t, "depth_model", P, d.depth_model, ("poisson", "fixed")),
        read_length=_number(t, "read_length", P, d.read_length, kind=int, low=30, high=1000),
        fragment_mean=_number(t, "fragment_mean", P, d.fragment_mean, low=30),
        fragment_sd=_number(t, "fragment_sd", P, d.fragment_sd, low=0),
        fragment_min=_number(t, "fragment_min", P, d.fragment_min, kind=int, low=30),
        fragment_max=_number(t, "fragment_max", P, d.fragment_max, kind=int, low=30, high=5000),
        error_rate=_number(t, "error_rate", P, d.error_rate, low=0, high=0.3),
        error_classes=error_classes,
        quality_values=tuple(qv),
        quality_weights=tuple(float(w) for w in qw),
        duplicate_rate=_number(t, "duplicate_rate", P, d.duplicate_rate, low=0, high=0.9),
        umi_length=_number(t, "umi_length", P, d.umi_length, kind=int, low=0, high=28),
        umi_family_mean=_number(t, "umi_family_mean", P, d.umi_family_mean, low=0, high=1000),
        umi_family_shape=_number(t, "umi_family_shape", P, d.umi_family_shape, low=0, low_open=True),
        umi_duplex=_bool(t, "umi_duplex", P, d.umi_duplex),
        umi_error_rate=_number(t, "umi_error_rate", P, d.umi_error_rate, low=0, high=0.5),
        umi_mi=_bool(t, "umi_mi", P, d.umi_mi),
        pcr_error_rate=_number(t, "pcr_error_rate", P, d.pcr_error_rate, low=0, high=0.1),
        pcr_cycles=_number(t, "pcr_cycles", P, d.pcr_cycles, kind=int, low=1, high=40),
        damage_rate=_number(t, "damage_rate", P, d.damage_rate, low=0, high=0.1),
        indel_rate=_number(t, "indel_rate", P, d.indel_rate, low=0, high=1),
        soft_clip_rate=_number(t, "soft_clip_rate", P, d.soft_clip_rate, low=0, high=1),
        mapq=_number(t, "mapq", P, d.mapq, kind=int, low=0, high=254),
        mapq_par=_number(t, "mapq_par", P, d.mapq_par, kind=int, low=0, high=254),
        mapq_xtr=_number(t, "mapq_xtr", P, d.mapq_xtr, kind=int, low=0, high=254),
        mapq_ampliconic=_number(t, "mapq_ampliconic", P, d.mapq_ampliconic, kind=int, low=0, high=254),
        xtr_mismap_rate=_number(t, "xtr_mismap_rate", P, d.xtr_mismap_rate, low=0, high=0.5),
        whole_genome=_bool(t, "whole_genome", P, d.whole_genome),
        fastq=_bool(t, "fastq", P, d.fastq),
    )
    if s.umi_family_mean > 0:
        if s.umi_length < 1:
            raise ScenarioError("sequencing.umi_family_mean: a UMI library needs sequencing.umi_length >= 1")
        if s.duplicate_rate > 0:
            raise ScenarioError("sequencing.duplicate_rate: a UMI library (umi_family_mean > 0) makes its "
                                "duplicates as families; set duplicate_rate = 0")
        if s.umi_duplex and 2 * s.umi_length > 28:
            raise ScenarioError(f"sequencing.umi_length: a duplex UMI has two halves of {s.umi_length} bases; "
                                "at most 14 each")
    elif s.umi_duplex or s.umi_mi:
        raise ScenarioError("sequencing.umi_duplex / umi_mi need a UMI library (sequencing.umi_family_mean > 0)")
    if s.fragment_min > s.fragment_max:
        raise ScenarioError(f"sequencing.fragment_min: {s.fragment_min} is greater than "
                            f"sequencing.fragment_max {s.fragment_max}")
    if not s.fragment_min <= s.fragment_mean <= s.fragment_max:
        raise ScenarioError(f"sequencing.fragment_mean: {s.fragment_mean} is outside "
                            f"[fragment_min, fragment_max] = [{s.fragment_min}, {s.fragment_max}]")
    return s


_PERSIST_KEYS = ("model", "initial_fraction", "half_life_years", "floor")


def _parse_persistence(t, path: str, base: Persistence | None = None) -> Persistence:
    t = _table(t, path)
    _unknown_keys(t, _PERSIST_KEYS, path)
    d = base or Persistence()
    p = Persistence(
        model=_string(t, "model", path, d.model, ("exponential",)),
        initial_fraction=_number(t, "initial_fraction", path, d.initial_fraction, low=0, high=1, high_open=True),
        half_life_years=_number(t, "half_life_years", path, d.half_life_years, low=0, low_open=True),
        floor=_number(t, "floor", path, d.floor, low=0, high=1, high_open=True),
    )
    return p


_PERSON_KEYS = ("id", "sex", "father", "mother", "typed", "loss", "years_since_birth")


def _parse_people(t) -> tuple:
    t = _table(t, "family")
    _unknown_keys(t, ("people",), "family")
    people_raw = t.get("people")
    if not isinstance(people_raw, list) or not people_raw:
        raise ScenarioError("family.people: expected a non-empty list of people ([[family.people]] tables)")
    people, seen = [], {}
    for i, raw in enumerate(people_raw):
        path = f"family.people[{i}]"
        raw = _table(raw, path)
        _unknown_keys(raw, _PERSON_KEYS, path)
        if "id" not in raw:
            raise ScenarioError(f"{path}.id: missing (every person needs an id)")
        pid = _string(raw, "id", path, None)
        if any(c.isspace() for c in pid) or pid == "0":
            raise ScenarioError(f"{path}.id: {pid!r} must not contain whitespace or be '0'")
        if pid in seen:
            raise ScenarioError(f"{path}.id: {pid!r} already used by family.people[{seen[pid]}]")
        seen[pid] = i
        if "sex" not in raw:
            raise ScenarioError(f"{path}.sex: missing (expected 'male' or 'female')")
        people.append(Person(
            id=pid,
            sex=_string(raw, "sex", path, None, ("male", "female")),
            father=_string(raw, "father", path, None),
            mother=_string(raw, "mother", path, None),
            typed=_bool(raw, "typed", path, not raw.get("loss", False)),
            loss=_bool(raw, "loss", path, False),
            years_since_birth=_number(raw, "years_since_birth", path, None, low=0),
        ))
    by_id = {p.id: p for p in people}
    for i, p in enumerate(people):
        for role, want in (("father", "male"), ("mother", "female")):
            parent = getattr(p, role)
            if parent is None:
                continue
            if parent not in by_id:
                close = difflib.get_close_matches(parent, list(by_id), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ScenarioError(f"family.people[{i}].{role}: unknown person {parent!r}{hint}")
            if by_id[parent].sex != want:
                raise ScenarioError(f"family.people[{i}].{role}: {parent!r} is {by_id[parent].sex}, "
                                    f"a {role} must be {want}")
    # cycle check (a person who is their own ancestor)
    state: dict = {}

    def visit(pid, trail):
        if state.get(pid) == 2:
            return
        if state.get(pid) == 1:
            cyc = " -> ".join([*trail[trail.index(pid):], pid])
            raise ScenarioError(f"family.people: cycle in the family: {cyc}")
        state[pid] = 1
        for parent in (by_id[pid].father, by_id[pid].mother):
            if parent is not None:
                visit(parent, [*trail, pid])
        state[pid] = 2

    for p in people:
        visit(p.id, [])
    return tuple(people)


_SAMPLE_KEYS = ("name", "host", "donors", "tissue", "depth", "persistence", "years")


def _parse_samples(raw_list, people, persistence) -> tuple:
    if not isinstance(raw_list, list) or not raw_list:
        raise ScenarioError("samples: expected a non-empty list of samples ([[samples]] tables)")
    by_id = {p.id: p for p in people}
    out, names = [], {}
    for i, raw in enumerate(raw_list):
        path = f"samples[{i}]"
        raw = _table(raw, path)
        _unknown_keys(raw, _SAMPLE_KEYS, path)
        for key in ("name", "host"):
            if key not in raw:
                raise ScenarioError(f"{path}.{key}: missing")
        name = _string(raw, "name", path, None)
        if not all(c.isalnum() or c in "._-" for c in name):
            raise ScenarioError(f"{path}.name: {name!r} may hold only letters, digits, '.', '_' and '-'")
        if name in names:
            raise ScenarioError(f"{path}.name: {name!r} already used by samples[{names[name]}]")
        names[name] = i
        host = _string(raw, "host", path, None)
        if host not in by_id:
            raise ScenarioError(f"{path}.host: unknown person {host!r}")
        donors_raw = raw.get("donors", {})
        pers = persistence
        if "persistence" in raw:
            pers = _parse_persistence(raw["persistence"], f"{path}.persistence", persistence)
        years_raw = _table(raw.get("years", {}), f"{path}.years")
        years = []
        if isinstance(donors_raw, list):   # fractions from the persistence model
            if pers is None:
                raise ScenarioError(f"{path}.donors: a list of donors needs a persistence model "
                                    "([persistence] or samples[].persistence); or give fractions as a table")
            donors = []
            for d in donors_raw:
                if not isinstance(d, str):
                    raise ScenarioError(f"{path}.donors: expected person ids, found {d!r}")
                _check_donor(d, host, by_id, f"{path}.donors")
                if d in years_raw:
                    y = _number(years_raw, d, f"{path}.years", None, low=0)
                elif by_id[d].years_since_birth is not None:
                    y = by_id[d].years_since_birth
                else:
                    raise ScenarioError(f"{path}.years.{d}: missing (needed by the persistence model; "
                                        f"or set family.people years_since_birth of {d!r})")
                years.append((d, float(y)))
                donors.append((d, pers.fraction(y)))
            for k in years_raw:
                if k not in donors_raw:
                    raise ScenarioError(f"{path}.years.{k}: {k!r} is not one of this sample's donors")
        else:
            donors_raw = _table(donors_raw, f"{path}.donors")
            if years_raw:
                raise ScenarioError(f"{path}.years: only used with a list of donors and a persistence model")
            donors = []
            for d in donors_raw:
                _check_donor(d, host, by_id, f"{path}.donors")
                donors.append((d, _number(donors_raw, d, f"{path}.donors", None, low=0, high=1,
                                          low_open=True, high_open=True)))
        total = sum(f for _, f in donors)
        if total >= 1:
            raise ScenarioError(f"{path}.donors: fractions sum to {total:g}; they must sum to < 1 "
                                "(the host's own share is 1 - sum)")
        out.append(Sample(name=name, host=host, donors=tuple(donors),
                          tissue=_string(raw, "tissue", path, "blood"),
                          depth=_number(raw, "depth", path, None, low=0, low_open=True),
                          years=tuple(years)))
    return tuple(out)


def _check_donor(d, host, by_id, path):
    if d not in by_id:
        close = difflib.get_close_matches(d, list(by_id), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ScenarioError(f"{path}.{d}: unknown person {d!r}{hint}")
    if d == host:
        raise ScenarioError(f"{path}.{d}: the host cannot also be a donor")


_TOP_KEYS = ("name", "description", "genome", "panel", "family", "samples", "sequencing", "persistence",
             "error_profile")


def _parse_error_profile(t) -> PanelErrors:
    t = _table(t, "error_profile")
    _unknown_keys(t, tuple(PanelErrors.__dataclass_fields__), "error_profile")
    d, P = PanelErrors(), "error_profile"
    return PanelErrors(
        sigma=_number(t, "sigma", P, d.sigma, low=0, high=5),
        hot_share=_number(t, "hot_share", P, d.hot_share, low=0, high=1),
        hot_rate=_number(t, "hot_rate", P, d.hot_rate, low=0, high=0.5),
        strand_bias_share=_number(t, "strand_bias_share", P, d.strand_bias_share, low=0, high=1),
        strand_bias_fold=_number(t, "strand_bias_fold", P, d.strand_bias_fold, low=1),
        cpg_fold=_number(t, "cpg_fold", P, d.cpg_fold, low=0),
        ffpe=_number(t, "ffpe", P, d.ffpe, low=0, high=0.5),
        oxidation=_number(t, "oxidation", P, d.oxidation, low=0, high=0.5),
    )


def load_scenario(source) -> Scenario:
    """Load and validate a scenario from a TOML file path, TOML text path-like, or a dict.

    Parameters
    ----------
    source : str, os.PathLike, dict or Scenario
        A path to a ``.toml`` file, or the already-parsed table.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        For a missing/unreadable file, invalid TOML, an unknown key (with a "did you
        mean" suggestion), a value of the wrong type or range, an unknown parent or donor,
        a family cycle, fractions summing to >= 1.  The message starts with the key path.
    """
    if isinstance(source, Scenario):
        return source
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(f"{path}: scenario file not found") from None
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    _unknown_keys(data, _TOP_KEYS, "")
    for key in ("family", "samples"):
        if key not in data:
            raise ScenarioError(f"{key}: missing (a scenario needs a family and at least one sample)")
    people = _parse_people(data["family"])
    persistence = _parse_persistence(data["persistence"], "persistence") if "persistence" in data else None
    seq = _parse_sequencing(data.get("sequencing", {}))
    panel = _parse_panel(data.get("panel", {}))
    if panel.snps_per_amplicon and seq.whole_genome:
        raise ScenarioError("panel.snps_per_amplicon: an amplicon panel is a panel-mode design; "
                            "it cannot be combined with sequencing.whole_genome")
    if panel.snps_per_amplicon and panel.amplicon_max > seq.fragment_max:
        raise ScenarioError(f"panel.amplicon_max: {panel.amplicon_max} bp is longer than sequencing.fragment_max "
                            f"{seq.fragment_max}")
    return Scenario(
        name=_string(data, "name", "", "scenario"),
        description=_string(data, "description", "", ""),
        people=people,
        samples=_parse_samples(data["samples"], people, persistence),
        genome=_parse_genome(data.get("genome", {})),
        panel=panel,
        sequencing=seq,
        persistence=persistence,
        error_profile=_parse_error_profile(data["error_profile"]) if "error_profile" in data else None,
    )


def builtin_scenario(name: str = "demo") -> Scenario:
    """Load a scenario shipped with the package (``microchimera/sim/scenarios/<name>.toml``).

    Raises
    ------
    ScenarioError
        If there is no such built-in scenario.
    """
    pkg = resources.files("microchimera.sim") / "scenarios"
    available = sorted(p.name[:-5] for p in pkg.iterdir() if p.name.endswith(".toml"))
    if name not in available:
        raise ScenarioError(f"no built-in scenario {name!r} (available: {', '.join(available)})")
    with resources.as_file(pkg / f"{name}.toml") as path:
        return load_scenario(path)
