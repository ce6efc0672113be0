"""Making site panels: a population's AF from a built-in panel, or a panel from a user's
population VCF, written as a bgzipped, indexed sites VCF with ``INFO/AF``
(``microchimera sites make``).
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import FormatError, InputError, UsageError
from .contigs import contig_key
from .panels import AncestryPanel
from .sites import SiteTable, _not_a_snp, open_vcf

logger = logging.getLogger(__name__)


def population_sites(panel: AncestryPanel, group: str) -> SiteTable:
    """The panel's markers with the AF of a population or super-population (``YRI``,
    ``AFR``): the individual AF at the group's mean coordinates (rank-``k`` model, clipped
    to ``[AF_FLOOR, 1 - AF_FLOOR]``).  ``group`` ``pooled`` gives the pooled AF."""
    if group == "pooled":
        return panel.sites
    af = panel.af_at(panel.coordinates_of(group))
    s = panel.sites
    return SiteTable(s.contigs, s.contig_id, s.pos, s.ref, s.alt, af)


def _read_bed_intervals(path) -> dict:
    """BED intervals by contig key: sorted (starts, ends) int64 arrays, 0-based half-open."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: exclusion BED not found")
    spans: dict = {}
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.split("\t")
            try:
                start, end = int(f[1]), int(f[2])
            except (IndexError, ValueError):
                raise FormatError(f"{path}:{lineno}: expected 'chrom start end', found {line.strip()!r}") from None
            spans.setdefault(contig_key(f[0]), []).append((start, end))
    return {k: (np.array(sorted(v))[:, 0], np.array(sorted(v))[:, 1]) for k, v in spans.items()}


def _in_intervals(table: SiteTable, spans: dict) -> np.ndarray:
    inside = np.zeros(table.n_sites, dtype=bool)
    for cid, contig in enumerate(table.contigs):
        if contig_key(contig) not in spans:
            continue
        starts, ends = spans[contig_key(contig)]
        m = table.contig_id == cid
        pos = table.pos[m]
        i = np.searchsorted(starts, pos, side="right") - 1
        # intervals may overlap: compare with the furthest end reached so far
        reach = np.maximum.accumulate(ends)
        inside[m] = (i >= 0) & (pos < reach[np.maximum(i, 0)])
    return inside


def thin_sites(table: SiteTable, min_distance: int) -> np.ndarray:
    """bool mask keeping sites at least ``min_distance`` bp after the last kept one, per contig."""
    keep = np.zeros(table.n_sites, dtype=bool)
    last_c, last_p = -1, -(1 << 62)
    for i, (c, p) in enumerate(zip(table.contig_id, table.pos, strict=True)):
        if c != last_c or p - last_p >= min_distance:
            keep[i] = True
            last_c, last_p = c, p
    return keep


def sites_from_vcfs(paths, *, min_af: float = 0.01, thin: int | None = None,
                    exclude=None) -> tuple[SiteTable, dict]:
    """A site panel from population VCF(s): biallelic ACGT SNPs with AF.

    AF is ``INFO/AF`` where the header defines it, else counted from the genotypes (``GT``;
    missing calls skipped; haploid calls count once).  Sites with AF below ``min_af`` or
    above ``1 - min_af``, with no called genotype, or inside an ``exclude`` BED interval are
    dropped; ``thin`` keeps sites at least that many bp apart.  Returns the table and the
    counts of what was dropped, by reason.

    Raises
    ------
    UsageError
        ``min_af`` outside [0, 0.5) or ``thin`` < 1.
    InputError
        No VCF given, a file missing, or nothing left.
    FormatError
        A VCF that cannot be read (file and record named).
    """
    if not 0 <= min_af < 0.5:
        raise UsageError(f"min_af must be in [0, 0.5), found {min_af}")
    if thin is not None and thin < 1:
        raise UsageError(f"thin must be >= 1 bp, found {thin}")
    if not paths:
        raise InputError("no population VCF given")
    records, contigs, dropped = [], [], Counter()
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(f"{path}: population VCF not found")
        vf = open_vcf(path)
        with vf:
            for c in vf.header.contigs:
                if c not in contigs:
                    contigs.append(c)
            has_af = "AF" in vf.header.info
            has_gt = "GT" in vf.header.formats and len(vf.header.samples) > 0
            if not has_af and not has_gt:
                raise InputError(f"{path}: neither INFO/AF nor GT genotypes: cannot compute allele frequencies")
            n = 0
            try:
                for rec in vf:
                    n += 1
                    alts = rec.alts or ()
                    if len(alts) != 1:
                        dropped["multiallelic" if len(alts) > 1 else "no_alt"] += 1
                        continue
                    ref, alt = rec.ref.upper(), alts[0].upper()
                    if _not_a_snp(ref, alt):
                        dropped["not_a_snp"] += 1
                        continue
                    af = _record_af(rec, has_af)
                    if af is None:
                        dropped["no_af"] += 1
                        continue
                    if not min_af <= af <= 1 - min_af:
                        dropped["below_min_af"] += 1
                        continue
                    records.append((rec.chrom, rec.pos - 1, ref, alt, af))
            except (OSError, ValueError) as exc:
                raise FormatError(f"{path}: unreadable VCF record after record {n}: {exc}") from exc
    if not records:
        raise InputError(f"no biallelic SNP with AF in [{min_af}, {1 - min_af}] in {', '.join(map(str, paths))} "
                         f"(dropped: {dict(dropped)})")
    seen, unique = set(), []
    for r in records:  # the same SNP in two files: keep the first
        if (r[0], r[1]) in seen:
            dropped["duplicate"] += 1
            continue
        seen.add((r[0], r[1]))
        unique.append(r)
    table = SiteTable.from_records(unique, contigs=contigs)
    keep = np.ones(table.n_sites, dtype=bool)
    if exclude is not None:
        inside = _in_intervals(table, _read_bed_intervals(exclude))
        dropped["excluded"] += int(inside.sum())
        keep &= ~inside
    table = table.take(keep)
    if thin:
        k = thin_sites(table, thin)
        dropped["thinned"] += int((~k).sum())
        table = table.take(k)
    if table.n_sites == 0:
        raise InputError(f"no site left after exclusion and thinning (dropped: {dict(dropped)})")
    return table, {k: v for k, v in dropped.items() if v}


def _record_af(rec, has_af: bool) -> float | None:
    if has_af and "AF" in rec.info:
        v = rec.info["AF"]
        v = v[0] if isinstance(v, tuple) else v
        return None if v is None else float(v)
    alt = total = 0
    for s in rec.samples.values():
        gt = s.get("GT")
        if not gt:
            continue
        for a in gt:
            if a is None:
                continue
            total += 1
            alt += a == 1
    return alt / total if total else None


def write_sites_vcf(table: SiteTable, path, *, ids=None, source: str = "microchimera sites make") -> None:
    """Write ``table`` as a bgzipped sites VCF with ``INFO/AF`` and a tabix index, atomically.

    ``path`` must end in ``.vcf.gz``; ``ids`` (one per site, ``.`` for none) fill the ID column.
    """
    import pysam

    path = Path(path)
    if not path.name.endswith(".vcf.gz"):
        raise UsageError(f"{path}: the sites file must end in .vcf.gz (bgzipped, indexed)")
    letters_ref, letters_alt = table.ref_letters(), table.alt_letters()
    lines = ["##fileformat=VCFv4.2", f"##source={source}"]
    lines += [f"##contig=<ID={c}>" for c in table.contigs]
    lines += ['##INFO=<ID=AF,Number=A,Type=Float,Description="Alt allele frequency">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    chrom = table.chrom
    for i in range(table.n_sites):
        af = table.af[i]
        info = f"AF={af:.6g}" if np.isfinite(af) else "."
        ident = ids[i] if ids is not None else "."
        lines.append(f"{chrom[i]}\t{table.pos[i] + 1}\t{ident}\t{letters_ref[i].decode()}\t"
                     f"{letters_alt[i].decode()}\t.\t.\t{info}")
    text = "\n".join(lines) + "\n"
    with atomic_path(path, suffix=".vcf") as tmp:
        tmp.write_text(text)
        pysam.tabix_compress(str(tmp), str(tmp) + ".gz", force=True)
        Path(str(tmp) + ".gz").replace(tmp)
    pysam.tabix_index(str(path), preset="vcf", force=True)
