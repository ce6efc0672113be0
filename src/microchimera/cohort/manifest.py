"""The cohort manifest: one tab-separated row per tissue sample (columns in ``docs/cohort.md``).

Every row is checked before any work starts and every problem is reported at once, each
with its line number, so a 500-row manifest is fixed in one pass rather than 500.  File
*existence* is deliberately not a manifest error: a missing BAM is a failure of that one
sample (recorded, the others carry on), exactly like a corrupt one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FormatError, InputError

#: Columns, in documentation order: name -> (required, meaning).  ``docs/cohort.md`` mirrors this.
COLUMNS = {
    "sample": (True, "unique sample name (letters, digits, . _ -); names the output directory"),
    "bam": (True, "indexed BAM/CRAM; several files of the same sample separated by commas"),
    "host": (False, "the host's ID in the pedigree/VCF (required unless 'relationship' is given)"),
    "donors": (False, "comma-separated donor IDs from the pedigree (empty: every relative and every typed "
                      "person outside the host's family)"),
    "contaminants": (False, "comma-separated IDs from the pedigree of known possible contaminants (a lab "
                            "control, another sample of the run)"),
    "genotypes": (False, "genotypes VCF of typed family members"),
    "pedigree": (False, "PED file of the family (required unless 'relationship' is given)"),
    "sites": (False, "SNP panel (VCF/BED/TSV; default: the genotypes VCF)"),
    "reference": (False, "reference FASTA (needed for CRAM)"),
    "relationship": (False, "no-family mode: comma-separated relationships of the donors to the host"),
    "tissue": (False, "informational; copied to the cohort table"),
    "ychrom": (False, "male DNA from chrY (as `run` does it): GRCh38, GRCh37, or a BED of male-specific Y regions"),
}
REQUIRED = tuple(c for c, (req, _) in COLUMNS.items() if req)
YCHROM_BUILDS = ("GRCh38", "GRCh37")
_SAMPLE_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_PATH_COLUMNS = ("genotypes", "pedigree", "sites", "reference")


@dataclass(frozen=True)
class SampleSpec:
    """One manifest row, with paths made absolute (relative paths are taken from the manifest's
    directory, so workers on other machines resolve them the same way)."""

    sample: str
    bams: tuple
    host: str | None = None
    donors: tuple | None = None
    contaminants: tuple | None = None
    genotypes: Path | None = None
    pedigree: Path | None = None
    sites: Path | None = None
    reference: Path | None = None
    relationships: tuple | None = None
    tissue: str | None = None
    ychrom: str | None = None
    line: int = 0

    @property
    def site_source(self) -> Path:
        """Where the SNP panel comes from (the genotypes VCF when no ``sites`` is given)."""
        return self.sites or self.genotypes

    @property
    def ychrom_build(self) -> str | None:
        return self.ychrom if self.ychrom in YCHROM_BUILDS else None

    @property
    def ychrom_regions(self) -> Path | None:
        return Path(self.ychrom) if self.ychrom and self.ychrom not in YCHROM_BUILDS else None

    def input_files(self) -> list:
        """``(role, path)`` of every input whose bytes the results depend on."""
        files = [("bam", Path(b)) for b in self.bams]
        for role in _PATH_COLUMNS:
            if getattr(self, role) is not None:
                files.append((role, getattr(self, role)))
        if self.ychrom_regions is not None:
            files.append(("ychrom_regions", self.ychrom_regions))
        return files


@dataclass(frozen=True)
class Manifest:
    path: Path
    samples: tuple = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.samples)


def _split(value: str) -> tuple:
    return tuple(v for v in (s.strip() for s in value.split(",")) if v)


def read_manifest(path) -> Manifest:
    """Read and check a cohort manifest.

    Parameters
    ----------
    path : path-like
        Tab-separated text with a header naming columns from :data:`COLUMNS` (any order).
        Lines starting with ``#`` and blank lines are ignored.  Empty cells are missing values.

    Returns
    -------
    Manifest
        One :class:`SampleSpec` per data row, in file order.

    Raises
    ------
    InputError
        The file does not exist.
    FormatError
        Any problem in the header or rows; the message lists all of them, by line number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: manifest not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read manifest: {exc}") from None
    base = path.resolve().parent
    lines = [(i, ln.rstrip("\r\n")) for i, ln in enumerate(text.splitlines(), start=1)]
    lines = [(i, ln) for i, ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise FormatError(f"{path}: empty manifest (expected a header line with columns "
                          f"{', '.join(REQUIRED)}, ...)")
    header_line, header_text = lines[0]
    header = [h.strip() for h in header_text.split("\t")]
    problems = []
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        problems.append(f"line {header_line}: unknown column(s) {', '.join(map(repr, unknown))} "
                        f"(known: {', '.join(COLUMNS)})")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append(f"line {header_line}: repeated column(s) {', '.join(dupes)}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        problems.append(f"line {header_line}: missing required column(s) {', '.join(missing)}")
    if problems:
        raise FormatError(f"{path}: bad manifest header:\n  " + "\n  ".join(problems))
    if len(lines) == 1:
        raise FormatError(f"{path}: the manifest has a header but no samples")

    samples, first_seen = [], {}
    for lineno, ln in lines[1:]:
        cells = ln.split("\t")
        if len(cells) != len(header):
            problems.append(f"line {lineno}: expected {len(header)} tab-separated fields, found {len(cells)}")
            continue
        row = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        spec, row_problems = _parse_row(row, lineno, base)
        name = row.get("sample", "")
        if name and name in first_seen:
            row_problems.append(f"sample {name!r} already given on line {first_seen[name]}")
        first_seen.setdefault(name, lineno)
        label = f"line {lineno}" + (f" (sample {name})" if name else "")
        problems += [f"{label}: {p}" for p in row_problems]
        if not row_problems:
            samples.append(spec)
    if problems:
        raise FormatError(f"{path}: {len(problems)} problem(s) in the manifest:\n  " + "\n  ".join(problems))
    return Manifest(path=path, samples=tuple(samples))


def _parse_row(row: dict, lineno: int, base: Path):
    problems = []

    def get(col):
        return row.get(col) or None

    def as_path(value):
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    sample = get("sample")
    if sample is None:
        problems.append("empty 'sample'")
    elif not _SAMPLE_RE.match(sample):
        problems.append(f"'sample' must be letters, digits, '.', '_' or '-', found {sample!r}")
    bams = _split(row.get("bam", ""))
    if not bams:
        problems.append("empty 'bam'")
    relationships = _split(row.get("relationship", "")) or None
    donors = _split(row.get("donors", "")) or None
    contaminants = _split(row.get("contaminants", "")) or None
    host = get("host")
    if relationships:
        from ..model import RELATIONSHIPS

        bad = [r for r in relationships if r not in RELATIONSHIPS]
        if bad:
            problems.append(f"'relationship' must be among {', '.join(RELATIONSHIPS)}, found {', '.join(bad)}")
        if get("pedigree") or get("genotypes"):
            problems.append("'relationship' (no-family mode) cannot be combined with 'pedigree'/'genotypes'")
        if donors:
            problems.append("'relationship' (no-family mode) names the donors itself; leave 'donors' empty")
    else:
        if host is None:
            problems.append("empty 'host' (needed unless 'relationship' is given)")
        if get("pedigree") is None:
            problems.append("empty 'pedigree' (needed unless 'relationship' is given)")
    if host and donors and host in donors:
        problems.append(f"the host {host!r} is also listed as a donor")
    if donors and len(set(donors)) != len(donors):
        problems.append(f"repeated donor in {row['donors']!r}")
    both = sorted(set(donors or ()) & set(contaminants or ()))
    if both:
        problems.append(f"{', '.join(map(repr, both))} listed both in 'donors' and in 'contaminants'")
    if not (get("sites") or get("genotypes")):
        problems.append("no SNP panel: give 'sites' or 'genotypes'")
    ychrom = get("ychrom")
    if ychrom is not None and ychrom not in YCHROM_BUILDS and not ychrom.endswith((".bed", ".bed.gz")):
        problems.append(f"'ychrom' must be {' or '.join(YCHROM_BUILDS)} or a .bed file, found {ychrom!r}")
    if problems:
        return None, problems
    paths = {c: as_path(row[c]) if get(c) else None for c in _PATH_COLUMNS}
    spec = SampleSpec(
        sample=sample, bams=tuple(as_path(b) for b in bams), host=host, donors=donors, contaminants=contaminants,
        relationships=relationships, tissue=get("tissue"),
        ychrom=None if ychrom is None else (ychrom if ychrom in YCHROM_BUILDS else str(as_path(ychrom))),
        line=lineno, **paths)
    return spec, problems
