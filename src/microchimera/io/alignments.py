"""Opening BAM/CRAM files safely: format, truncation, index, sample name, contigs, reference.

Everything a counter must know about an alignment file before it reads a single record,
checked up front so that bad input fails with a message naming the file:

* :func:`open_alignments` -> :class:`AlignmentInfo` (format, sample, contigs, index);
* :meth:`AlignmentInfo.open` opens the checked file with pysam (the right mode and reference);
* contig names are matched with :func:`microchimera.io.contigs.match_contigs` (``chr`` prefix);
* :func:`check_reference_alleles` compares the sites' REF with a FASTA (wrong build).
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..conventions import BASE_CODE, BASE_UNKNOWN
from ..errors import FormatError, InputError
from .contigs import match_contigs

logger = logging.getLogger(__name__)

#: The 28-byte empty BGZF block that ends every complete BAM (SAM spec 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


@dataclass(frozen=True)
class AlignmentInfo:
    """What is known about one alignment file after the checks.

    Attributes
    ----------
    path : Path
    format : str
        ``"BAM"`` or ``"CRAM"``.
    sample : str
        ``@RG SM`` (or the file stem when the file has no ``@RG`` line).
    contigs : tuple of str
        ``@SQ`` names in header order (their index is the BAM reference id).
    lengths : tuple of int
    index : Path or None
        The ``.bai``/``.csi``/``.crai`` file.
    reference : Path or None
        FASTA used to decode a CRAM.
    """

    path: Path
    format: str
    sample: str
    contigs: tuple
    lengths: tuple
    index: Path | None
    reference: Path | None = None

    @property
    def index_kind(self) -> str | None:
        return None if self.index is None else self.index.suffix.lstrip(".").lower()

    def open(self):
        """A ``pysam.AlignmentFile`` on the file (CRAM decoded with :attr:`reference`); close it."""
        import pysam

        kwargs = {"reference_filename": str(self.reference)} if self.reference else {}
        return pysam.AlignmentFile(str(self.path), "rc" if self.format == "CRAM" else "rb", **kwargs)


#: Name suffix of ``microchimera index``'s fine-grained CSI (not ``.csi``: htslib tools would
#: load it instead of the ``.bai``, and would keep using it after the BAM is re-indexed).
FINE_INDEX_SUFFIX = ".fine.csi"


def _find_index(path: Path, fmt: str) -> Path | None:
    """The file's index: ``.crai`` for CRAM; for BAM the first of ``<bam>.fine.csi``
    (``microchimera index``), ``.csi``, ``.bai`` that is not older than the BAM, else the
    first that exists (``open_alignments`` warns)."""
    exts = (".crai",) if fmt == "CRAM" else (FINE_INDEX_SUFFIX, ".csi", ".bai")
    found = []
    for ext in exts:
        for cand in (Path(str(path) + ext), path.with_suffix(ext)):
            if cand.exists():
                found.append(cand)
                break
    if not found:
        return None
    mtime = path.stat().st_mtime
    return next((c for c in found if c.stat().st_mtime >= mtime), found[0])


def _sniff_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"CRAM":
        return "CRAM"
    if head[:2] == b"\x1f\x8b":
        return "BAM"
    raise FormatError(f"{path}: not a BAM or CRAM file (starts with {head!r}); "
                      "convert SAM with `samtools sort -o x.bam x.sam`")


def _check_bgzf_eof(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size < len(BGZF_EOF):
            raise FormatError(f"{path}: truncated BAM ({size} bytes)")
        fh.seek(size - len(BGZF_EOF))
        tail = fh.read()
    if tail != BGZF_EOF:
        raise FormatError(f"{path}: truncated BAM (no BGZF end-of-file marker); "
                          "the file was cut short during copy or writing")


def _read_bam_header(path: Path) -> tuple | None:
    """``(header dict, contigs, lengths)`` of a BAM read from its first BGZF blocks (SAM spec
    4.2: magic, text, references), without pysam's opening of the index (htslib loads the
    whole index on open: a tenth of a second for a fine-grained CSI); None if anything is
    unexpected, for pysam to read (and report) instead."""
    import gzip
    import zlib

    import pysam

    def take(fh, n: int) -> bytes:
        got = fh.read(n)
        if len(got) != n:
            raise EOFError
        return got

    unpack = struct.unpack_from
    try:
        with gzip.open(path, "rb") as fh:  # BGZF is multi-member gzip; only the header is inflated
            if take(fh, 4) != b"BAM\x01":
                return None
            (l_text,) = unpack("<i", take(fh, 4))
            text = take(fh, l_text).split(b"\0", 1)[0].decode(errors="replace")
            (n_ref,) = unpack("<i", take(fh, 4))
            contigs, lengths = [], []
            for _ in range(n_ref):
                (l_name,) = unpack("<i", take(fh, 4))
                contigs.append(take(fh, l_name)[:-1].decode())
                lengths.append(unpack("<i", take(fh, 4))[0])
        header = pysam.AlignmentHeader.from_text(text).to_dict() if text.strip() else {}
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError, struct.error):
        return None
    return header, tuple(contigs), tuple(lengths)


def sample_from_header(header: dict, path: Path) -> str:
    """The single ``@RG SM`` of a header; the file stem (with a warning) if there is no ``@RG``.

    Raises
    ------
    InputError
        If read groups name several samples, or ``@RG`` lines carry no ``SM``.
    """
    groups = header.get("RG", [])
    if not groups:
        stem = path.name.split(".")[0] or path.stem
        logger.warning("%s: no @RG line; using the file name %r as the sample name", path, stem)
        return stem
    names = sorted({g.get("SM") for g in groups if g.get("SM")})
    if not names:
        raise InputError(f"{path}: @RG lines have no SM (sample) field; add one with "
                         "`samtools addreplacerg -r 'ID:x\\tSM:name'`")
    if len(names) > 1:
        raise InputError(f"{path}: read groups name {len(names)} samples ({', '.join(names)}); "
                         "give one BAM per sample (split with `samtools split`)")
    return names[0]


def open_alignments(path, *, reference=None, build_index: bool = False, require_index: bool = True) -> AlignmentInfo:
    """Check one BAM/CRAM and describe it.

    Parameters
    ----------
    path : str or Path
    reference : str or Path, optional
        FASTA; required for CRAM.
    build_index : bool
        Build a missing ``.bai``/``.crai`` (next to the file) instead of failing.
    require_index : bool
        False: a file without an index is described too (``index`` None), for indexing it.

    Raises
    ------
    InputError
        Missing file or index, CRAM without ``reference``, several samples in one file.
    FormatError
        Not BAM/CRAM, truncated, not coordinate-sorted, unreadable header.
    """
    import pysam

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: alignment file not found")
    fmt = _sniff_format(path)
    ref = Path(reference) if reference is not None else None
    if fmt == "CRAM" and ref is None:
        raise InputError(f"{path}: CRAM needs the reference FASTA it was written against; "
                         "pass it with {reference}", params=["reference"])
    if ref is not None and not ref.exists():
        raise InputError(f"{ref}: reference FASTA not found")
    if fmt == "BAM":
        _check_bgzf_eof(path)
    got = _read_bam_header(path) if fmt == "BAM" else None
    if got is not None:
        header, contigs, lengths = got
    else:
        try:
            kwargs = {"reference_filename": str(ref)} if fmt == "CRAM" else {}
            with pysam.AlignmentFile(str(path), "rc" if fmt == "CRAM" else "rb", check_sq=False, **kwargs) as af:
                header = af.header.to_dict()
                contigs, lengths = tuple(af.references), tuple(af.lengths)
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path}: cannot read {fmt} header: {exc}") from exc
    order = header.get("HD", {}).get("SO")
    if order is not None and order != "coordinate":
        raise FormatError(f"{path}: sorted by {order!r}, expected 'coordinate'; "
                          "run `samtools sort -o sorted.bam` then `samtools index`")
    sample = sample_from_header(header, path)
    index = _find_index(path, fmt)
    if index is None and not require_index and not build_index:
        return AlignmentInfo(path, fmt, sample, contigs, lengths, None, ref)
    if index is None:
        if not build_index:
            raise InputError(f"{path}: no index ({'.crai' if fmt == 'CRAM' else '.bai or .csi'}); "
                             "run `samtools index`, or have one built ({build_index})", params=["build_index"])
        try:
            pysam.index(str(path))
        except pysam.SamtoolsError as exc:
            raise InputError(f"{path}: cannot build an index: {exc}") from exc
        index = _find_index(path, fmt)
        if index is None:
            raise InputError(f"{path}: index build produced no index file")
        logger.info("%s: built index %s", path, index)
    elif index.stat().st_mtime < path.stat().st_mtime:
        logger.warning("%s: index %s is older than the file; rebuild it if the file changed", path, index.name)
    return AlignmentInfo(path, fmt, sample, contigs, lengths, index, ref)


def check_reference_alleles(sites, reference) -> None:
    """Raise if any site's REF differs from the FASTA base at its position.

    N or non-ACGT FASTA bases are not compared.

    Raises
    ------
    InputError
        Naming how many sites disagree and three examples (usually: the wrong genome build).
    """
    import pysam

    reference = Path(reference)
    try:
        fa = pysam.FastaFile(str(reference))
    except (OSError, ValueError) as exc:
        raise InputError(f"{reference}: cannot open FASTA (is it indexed with samtools faidx?): {exc}") from exc
    with fa:
        used = [sites.contigs[i] for i in np.unique(sites.contig_id)]
        mapping = match_contigs(used, fa.references, what="site", where=reference)
        lut = np.full(256, BASE_UNKNOWN, dtype=np.uint8)
        for base, code in BASE_CODE.items():
            lut[ord(base)] = lut[ord(base.lower())] = code
        bad_index, n_checked = [], 0
        for cid in np.unique(sites.contig_id):
            idx = np.flatnonzero(sites.contig_id == cid)
            name = mapping[sites.contigs[cid]]
            length = fa.get_reference_length(name)
            pos = sites.pos[idx]
            inside = pos < length
            if not inside.all():
                raise InputError(f"{reference}: site {sites.contigs[cid]}:{int(pos[~inside][0]) + 1} lies "
                                 f"beyond the end of {name} ({length} bp); wrong genome build?")
            # Fetch in windows so memory stays bounded on whole chromosomes.
            for lo in range(0, len(idx), 100_000):
                chunk = idx[lo:lo + 100_000]
                start, end = int(sites.pos[chunk[0]]), int(sites.pos[chunk[-1]]) + 1
                seq = np.frombuffer(fa.fetch(name, start, end).encode(), dtype=np.uint8)
                got = lut[seq[sites.pos[chunk] - start]]
                n_checked += len(chunk)
                bad = (got != BASE_UNKNOWN) & (got != sites.ref[chunk])
                bad_index.extend(chunk[bad].tolist())
    if bad_index:
        letters = "ACGTN"
        examples = []
        with pysam.FastaFile(str(reference)) as fa:
            for i in bad_index[:3]:
                c = sites.contigs[sites.contig_id[i]]
                base = fa.fetch(mapping[c], int(sites.pos[i]), int(sites.pos[i]) + 1).upper()
                examples.append(f"{c}:{int(sites.pos[i]) + 1} REF={letters[sites.ref[i]]} FASTA={base}")
        raise InputError(f"{reference}: {len(bad_index)} of {n_checked} sites have a REF allele that differs "
                         f"from the FASTA (e.g. {'; '.join(examples)}); are sites and reference the same build?")
    logger.info("%s: REF alleles of %d sites agree with the FASTA", reference, n_checked)
