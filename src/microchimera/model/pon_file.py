"""The panel-of-normals file (``pon.parquet``, schema version 1): :func:`write_pon`, :func:`read_pon`.

One row per site:

======================  =======  ==========================================================
column                  type     meaning
======================  =======  ==========================================================
chrom, pos              str/int  contig, **1-based** position
ref, alt                str      the site's alleles
flag                    str      ``pass``, ``noisy``, ``strand_bias`` or ``no_normals``
D_normals               int32    homozygous normals informing direction ``D`` (``ref_alt``:
                                 hom-ref normals, whose alt reads are errors; ``alt_ref``)
D_errors_fwd/_rev       int64    error reads of those normals, by strand
D_depth_fwd/_rev        int64    their reads, by strand
D_alpha, D_beta         float64  posterior Beta of the per-base error rate
D_rate                  float64  its mean ``alpha / (alpha + beta)``
======================  =======  ==========================================================

The Parquet metadata (``microchimera.pon``, JSON) holds the schema version, the tool
version, the normals used and those excluded (with why), each normal's background rate,
the per-class priors, the contigs, a checksum of the site list (contig, position, REF,
ALT) and the build parameters.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .. import __version__
from .._atomic import atomic_path
from ..conventions import BASE_CODE, BASES
from ..errors import FormatError, InputError
from ..io.sites import SiteTable
from .pon import DIRECTIONS, FLAGS, PanelOfNormals
from .seqerror import CLASS_NAMES

PON_SCHEMA_VERSION = "1"
_META_KEY = b"microchimera.pon"


def sites_checksum(sites: SiteTable) -> str:
    """md5 of the site list (contig, 1-based position, REF, ALT), to tie a PoN to its sites."""
    h = hashlib.md5()
    letters = np.array(list(BASES + "N"))
    for c, p, r, a in zip(sites.chrom, sites.pos, sites.ref, sites.alt, strict=True):
        h.update(f"{c}:{p + 1}:{letters[min(r, 4)]}:{letters[min(a, 4)]};".encode())
    return h.hexdigest()


def write_pon(pon: PanelOfNormals, path, parameters: dict | None = None) -> None:
    """Write ``pon`` atomically as Parquet (``path``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    s = pon.sites
    letters = np.array(list(BASES + "N"))
    cols = {"chrom": pa.array(s.chrom.astype(str)), "pos": pa.array(s.pos + 1, pa.int64()),
            "ref": pa.array(letters[np.minimum(s.ref, 4)]), "alt": pa.array(letters[np.minimum(s.alt, 4)]),
            "flag": pa.array(pon.flag.astype(str))}
    rate = pon.rate
    for d, name in enumerate(DIRECTIONS):
        cols[f"{name}_normals"] = pa.array(pon.n_normals[:, d], pa.int32())
        for k, strand in enumerate(("fwd", "rev")):
            cols[f"{name}_errors_{strand}"] = pa.array(pon.errors[:, d, k], pa.int64())
            cols[f"{name}_depth_{strand}"] = pa.array(pon.depth[:, d, k], pa.int64())
        cols[f"{name}_alpha"] = pa.array(pon.alpha[:, d], pa.float64())
        cols[f"{name}_beta"] = pa.array(pon.beta[:, d], pa.float64())
        cols[f"{name}_rate"] = pa.array(rate[:, d], pa.float64())
    meta = {"schema_version": PON_SCHEMA_VERSION, "version": __version__, "normals": list(pon.normals),
            "excluded": pon.excluded, "normal_background": pon.normal_background, "contigs": list(s.contigs),
            "sites": s.n_sites, "sites_md5": sites_checksum(s), "parameters": parameters or {},
            "class_prior": {CLASS_NAMES[c]: {d: {"rate": float(pon.class_rate[c, k]),
                                                 "strength": float(pon.class_strength[c, k]),
                                                 "overdispersion": float(pon.class_overdispersion[c, k])}
                                             for k, d in enumerate(DIRECTIONS)}
                            for c in range(len(CLASS_NAMES))}}
    table = pa.table(cols).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def read_pon(path) -> tuple[PanelOfNormals, dict]:
    """Read a PoN file; returns the panel and its metadata.

    Raises
    ------
    InputError
        Missing file.
    FormatError
        Not a readable Parquet file, not a microchimera PoN, another schema version, or
        columns missing (the message names the file).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: panel of normals not found")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise FormatError(f"{path}: not a readable Parquet file ({exc}); rebuild it with microchimera pon build") \
            from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise FormatError(f"{path}: not a microchimera panel of normals (no {_META_KEY.decode()} metadata)")
    meta = json.loads(raw)
    if meta.get("schema_version") != PON_SCHEMA_VERSION:
        raise FormatError(f"{path}: PoN schema version {meta.get('schema_version')!r}, this microchimera reads "
                          f"{PON_SCHEMA_VERSION!r}; rebuild it")
    need = ["chrom", "pos", "ref", "alt", "flag"] + [f"{d}_{k}" for d in DIRECTIONS for k in (
        "normals", "errors_fwd", "errors_rev", "depth_fwd", "depth_rev", "alpha", "beta")]
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise FormatError(f"{path}: PoN columns missing: {', '.join(missing)}")
    col = {c: table.column(c).to_numpy(zero_copy_only=False) for c in need}
    bad = sorted(set(col["flag"].tolist()) - set(FLAGS))
    if bad:
        raise FormatError(f"{path}: unknown PoN flag(s) {bad}")
    contigs = meta.get("contigs") or list(dict.fromkeys(col["chrom"].tolist()))
    index = {c: i for i, c in enumerate(contigs)}
    sites = SiteTable(tuple(contigs), np.array([index[c] for c in col["chrom"]], dtype=np.int32),
                      col["pos"].astype(np.int64) - 1,
                      np.array([BASE_CODE.get(b, 4) for b in col["ref"]], dtype=np.uint8),
                      np.array([BASE_CODE.get(b, 4) for b in col["alt"]], dtype=np.uint8),
                      np.full(len(col["pos"]), np.nan))
    errors = np.stack([np.stack([col[f"{d}_errors_fwd"], col[f"{d}_errors_rev"]], axis=1) for d in DIRECTIONS],
                      axis=1).astype(np.int64)
    depth = np.stack([np.stack([col[f"{d}_depth_fwd"], col[f"{d}_depth_rev"]], axis=1) for d in DIRECTIONS],
                     axis=1).astype(np.int64)
    prior = meta.get("class_prior", {})

    def prior_array(key):
        return np.array([[prior.get(c, {}).get(d, {}).get(key, np.nan) for d in DIRECTIONS] for c in CLASS_NAMES])

    pon = PanelOfNormals(sites, tuple(meta.get("normals", [])), errors, depth,
                         np.stack([col[f"{d}_normals"] for d in DIRECTIONS], axis=1).astype(np.int32),
                         np.stack([col[f"{d}_alpha"] for d in DIRECTIONS], axis=1).astype(np.float64),
                         np.stack([col[f"{d}_beta"] for d in DIRECTIONS], axis=1).astype(np.float64),
                         prior_array("rate"), prior_array("strength"), prior_array("overdispersion"),
                         col["flag"].astype(object), meta.get("normal_background", {}), meta.get("excluded", {}))
    return pon, meta
