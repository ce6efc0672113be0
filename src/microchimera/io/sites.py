"""SNP site lists: the :class:`SiteTable` and its readers (VCF/BCF; BED/TSV with ref/alt).

Positions are 0-based internally (see :mod:`microchimera.conventions`); VCF ``POS`` is
converted on reading.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..conventions import BASE_CODE, BASES, POS_DTYPE
from ..errors import FormatError, InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteTable:
    """Biallelic SNP sites, sorted by (contig order, position).

    Attributes
    ----------
    contigs : tuple of str
        Contig names, in the order their ids refer to.
    contig_id : ndarray, int32, shape (n_sites,)
        Index into ``contigs``.
    pos : ndarray, int64, shape (n_sites,)
        0-based position.
    ref, alt : ndarray, uint8, shape (n_sites,)
        Base codes 0..3 for A, C, G, T.
    af : ndarray, float64, shape (n_sites,)
        Population alt-allele frequency (INFO/AF); NaN where unknown.
    skipped : dict
        Records not kept, by reason (e.g. ``{"indel": 3, "multiallelic": 1}``).
    """

    contigs: tuple
    contig_id: np.ndarray
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    af: np.ndarray
    skipped: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.pos)
        for name, dtype in (("contig_id", np.int32), ("pos", POS_DTYPE), ("ref", np.uint8),
                            ("alt", np.uint8), ("af", np.float64)):
            arr = getattr(self, name)
            if arr.shape != (n,) or arr.dtype != dtype:
                raise ValueError(f"SiteTable.{name}: expected {dtype} shape ({n},), found {arr.dtype} {arr.shape}")

    @property
    def n_sites(self) -> int:
        return len(self.pos)

    @property
    def chrom(self) -> np.ndarray:
        """Contig name per site, object array of shape (n_sites,)."""
        return np.asarray(self.contigs, dtype=object)[self.contig_id]

    def ref_letters(self) -> np.ndarray:
        return np.frombuffer(BASES.encode(), dtype="S1")[self.ref]

    def alt_letters(self) -> np.ndarray:
        return np.frombuffer(BASES.encode(), dtype="S1")[self.alt]

    def key(self) -> np.ndarray:
        """A sortable structured key ``(contig name, pos)`` for matching tables by site."""
        return np.rec.fromarrays([self.chrom.astype(str), self.pos], names="chrom,pos")

    def index_of(self, sites: SiteTable) -> np.ndarray:
        """Index into this table of each of ``sites``, int64 (sites.n_sites,), -1 where absent.

        Sites are the same when their contigs are (with or without ``chr``: :func:`contig_key`)
        and their positions are; alleles are not compared.
        """
        from .contigs import contig_key

        if self.n_sites == 0:
            return np.full(sites.n_sites, -1, dtype=np.int64)
        keys = {contig_key(c): i for i, c in enumerate(self.contigs)}
        mine = self.contig_id.astype(np.int64) << 32 | self.pos
        order = np.argsort(mine, kind="stable")
        cid = np.array([keys.get(contig_key(c), -1) for c in sites.contigs], dtype=np.int64)[sites.contig_id]
        theirs = cid << 32 | sites.pos
        at = np.minimum(np.searchsorted(mine, theirs, sorter=order), len(mine) - 1)
        hit = (cid >= 0) & (mine[order[at]] == theirs)
        return np.where(hit, order[at], -1)

    def take(self, index) -> SiteTable:
        """Return the sites at ``index`` (an index or boolean mask), keeping contig names."""
        return SiteTable(self.contigs, self.contig_id[index], self.pos[index], self.ref[index],
                         self.alt[index], self.af[index], dict(self.skipped))

    def has_af(self) -> bool:
        return bool(np.isfinite(self.af).any())

    @classmethod
    def from_records(cls, records, contigs=None, skipped=None) -> SiteTable:
        """Build from ``(chrom, pos0, ref_letter, alt_letter, af)`` tuples, sorting them.

        ``contigs`` fixes the contig order (e.g. from a VCF or BAM header); otherwise the
        order of first appearance is used.
        """
        records = list(records)
        order = list(contigs) if contigs is not None else []
        seen = set(order)
        for r in records:
            if r[0] not in seen:
                seen.add(r[0])
                order.append(r[0])
        index = {c: i for i, c in enumerate(order)}
        cid = np.array([index[r[0]] for r in records], dtype=np.int32)
        pos = np.array([r[1] for r in records], dtype=POS_DTYPE)
        ref = np.array([BASE_CODE[r[2]] for r in records], dtype=np.uint8)
        alt = np.array([BASE_CODE[r[3]] for r in records], dtype=np.uint8)
        af = np.array([np.nan if r[4] is None else r[4] for r in records], dtype=np.float64)
        perm = np.lexsort((pos, cid))
        table = cls(tuple(order), cid[perm], pos[perm], ref[perm], alt[perm], af[perm], dict(skipped or {}))
        dup = (np.diff(table.contig_id) == 0) & (np.diff(table.pos) == 0)
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise FormatError(f"duplicate site {table.contigs[table.contig_id[i]]}:{table.pos[i] + 1} "
                              f"({int(dup.sum())} duplicated positions); give each SNP once")
        return table


def _is_vcf(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf"))


def read_sites(path) -> SiteTable:
    """Read biallelic SNP sites from a VCF/BCF, or a BED/TSV with ref and alt columns.

    VCF/BCF: records with one ALT, REF and ALT single bases from ``ACGT`` are kept; the
    rest are skipped and counted by reason in ``SiteTable.skipped`` (and logged).  AF comes
    from ``INFO/AF`` when present.

    BED/TSV: tab-separated ``chrom start end ref alt [af]`` (BED, 0-based start; ``end``
    must be ``start + 1``) or ``chrom pos ref alt [af]`` (TSV, 1-based pos).  Lines
    starting with ``#`` or ``track``/``browser`` are ignored; a header line whose second
    field is not a number is ignored.

    ``builtin:NAME`` reads a built-in panel (``microchimera sites list``; its AF is the
    pooled 1000 Genomes frequency).

    Raises
    ------
    InputError
        If the file does not exist or holds no usable SNP.
    FormatError
        If a record cannot be parsed (the message names file and line).
    UsageError
        An unknown built-in panel name (the available ones listed).
    """
    if str(path).startswith("builtin:"):  # panels.BUILTIN_PREFIX (panels imports this module)
        from .panels import load_builtin

        return load_builtin(str(path)).sites
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: sites file not found")
    table = _read_vcf_sites(path) if _is_vcf(path) else _read_text_sites(path)
    if table.skipped:
        logger.warning("%s: kept %d SNPs; skipped %s", path, table.n_sites,
                    ", ".join(f"{v} {k}" for k, v in sorted(table.skipped.items())))
    if table.n_sites == 0:
        detail = f" (skipped: {dict(table.skipped)})" if table.skipped else ""
        raise InputError(f"{path}: no usable biallelic SNP sites{detail}")
    bad_af = np.isfinite(table.af) & ((table.af < 0) | (table.af > 1))
    if bad_af.any():
        i = int(np.flatnonzero(bad_af)[0])
        raise FormatError(f"{path}: AF out of range [0, 1] at {table.contigs[table.contig_id[i]]}:"
                          f"{table.pos[i] + 1} (AF={table.af[i]}); {int(bad_af.sum())} such sites")
    return table


def _not_a_snp(ref: str, alt: str) -> str | None:
    """Why upper-case alleles ``ref``/``alt`` are not a biallelic ACGT SNP (a skip reason), else None."""
    if len(ref) != 1 or len(alt) != 1:
        return "indel_or_mnp"
    if ref not in BASE_CODE or alt not in BASE_CODE or ref == alt:
        return "non_acgt"
    return None


def open_vcf(path):
    """``pysam.VariantFile`` of ``path``, read from start to end (no index needed), without
    htslib's ``[E::idx_find_and_load]`` complaint about a missing index on stderr.

    Raises
    ------
    FormatError
        If it cannot be opened as VCF/BCF.
    """
    import pysam

    previous = pysam.set_verbosity(0)
    try:
        return pysam.VariantFile(str(path))
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot open as VCF/BCF: {exc}") from exc
    finally:
        pysam.set_verbosity(previous)


def _read_vcf_sites(path: Path) -> SiteTable:
    skipped: Counter = Counter()
    records = []
    vf = open_vcf(path)
    with vf:
        contigs = list(vf.header.contigs)
        has_af = "AF" in vf.header.info
        try:
            for rec in vf:
                alts = rec.alts or ()
                if len(alts) != 1:
                    skipped["multiallelic" if len(alts) > 1 else "no_alt"] += 1
                    continue
                ref, alt = rec.ref.upper(), alts[0].upper()
                reason = _not_a_snp(ref, alt)
                if reason:
                    skipped[reason] += 1
                    continue
                af = None
                if has_af and "AF" in rec.info:
                    value = rec.info["AF"]
                    af = float(value[0] if isinstance(value, tuple) else value)
                records.append((rec.chrom, rec.pos - 1, ref, alt, af))
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path}: unreadable VCF record after {len(records)} sites: {exc}") from exc
    return SiteTable.from_records(records, contigs=contigs, skipped=dict(skipped))


def _read_text_sites(path: Path) -> SiteTable:
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    is_bed = path.name.lower().endswith((".bed", ".bed.gz"))
    skipped: Counter = Counter()
    records = []
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\n\r").split("\t")
            if lineno == 1 and len(f) > 1 and not f[1].isdigit():
                continue  # header line
            try:
                if is_bed:
                    chrom, start, end, ref, alt = f[0], int(f[1]), int(f[2]), f[3], f[4]
                    if end != start + 1:
                        skipped["not_single_base"] += 1
                        continue
                    rest = f[5:]
                else:
                    chrom, start, ref, alt = f[0], int(f[1]) - 1, f[2], f[3]
                    rest = f[4:]
                af = float(rest[0]) if rest and rest[0] not in ("", ".", "NA") else None
            except (IndexError, ValueError):
                want = "chrom start end ref alt [af]" if is_bed else "chrom pos ref alt [af]"
                raise FormatError(f"{path}:{lineno}: expected tab-separated {want}, found {line.strip()!r}") from None
            ref, alt = ref.upper(), alt.upper()
            reason = _not_a_snp(ref, alt)
            if reason:
                skipped[reason] += 1
                continue
            records.append((chrom, start, ref, alt, af))
    return SiteTable.from_records(records, skipped=dict(skipped))
