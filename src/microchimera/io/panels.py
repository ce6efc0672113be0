"""Population panels with ancestry: SNP markers whose allele frequencies follow a person's
place in ancestry space (the model of VerifyBamID2's resource files).

A panel holds, per marker, the 1000 Genomes mean alt dosage ``mu`` (0..2) and the marker's
loadings ``UD`` on the first ``k`` principal axes of the genotype matrix, and, per 1000
Genomes sample, its coordinates ``V`` on those axes and its population.  A person at
coordinates ``v`` (shape ``(k,)``) has the individual alt-allele frequency::

    AF(v) = clip((mu + UD @ v) / 2, AF_FLOOR, 1 - AF_FLOOR)

``v = 0`` gives the pooled 1000 Genomes frequency ``mu / 2``; a population's mean
coordinates give its own frequencies (to the rank ``k`` the panel keeps).

Built-in panels (:data:`BUILTIN`) ship with the package (``io/panels/*.npz``, made by
``scripts/make_builtin_panels.py`` from the VerifyBamID2 resource, MIT; see
``io/panels/README.md``).  :func:`read_vb2_panel` reads a VerifyBamID2 resource a user has
(``PREFIX.bed``, ``.mu``, ``.UD``, ``.V``; population labels optional).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..conventions import BASE_CODE, POS_DTYPE
from ..errors import FormatError, InputError, UsageError
from .sites import SiteTable

PANEL_DIR = Path(__file__).with_name("panels")
#: Built-in panels: name -> genome build.
BUILTIN = {"1000g-10k-GRCh37": "GRCh37", "1000g-10k-GRCh38": "GRCh38",
           "1000g-100k-GRCh37": "GRCh37", "1000g-100k-GRCh38": "GRCh38"}
#: Individual allele frequencies are kept this far from 0 and 1 (a rank-k reconstruction
#: can leave [0, 1]; VerifyBamID2 clips the same way).
AF_FLOOR = 1e-3
#: How a ``--sites builtin:NAME`` argument starts.
BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class AncestryPanel:
    """Markers with ancestry loadings and the reference samples' coordinates.

    Attributes
    ----------
    name, build : str
        E.g. ``1000g-100k-GRCh38``, ``GRCh38`` (``unknown`` for a user's resource).
    sites : SiteTable
        The markers; ``af`` is the pooled frequency ``mu / 2``.
    mu : ndarray, float64, shape (n_markers,)
        Mean alt dosage (0..2) of the reference samples.
    loadings : ndarray, float64, shape (n_markers, k)
        ``UD``: dosage change per unit of each coordinate.
    samples, populations, superpopulations : ndarray of str, shape (n_ref,)
        Reference samples and their labels (``""`` where unknown).
    coordinates : ndarray, float64, shape (n_ref, k)
        ``V``: each reference sample's coordinates.
    source, licence : str
    ids : ndarray of str, shape (n_markers,), optional
        Marker IDs (rsIDs, ``.`` where none).
    """

    name: str
    build: str
    sites: SiteTable
    mu: np.ndarray
    loadings: np.ndarray
    samples: np.ndarray
    populations: np.ndarray
    superpopulations: np.ndarray
    coordinates: np.ndarray
    source: str = ""
    licence: str = ""
    ids: np.ndarray | None = None

    @property
    def n_markers(self) -> int:
        return self.sites.n_sites

    @property
    def n_axes(self) -> int:
        return self.loadings.shape[1]

    def af_at(self, v, index=None) -> np.ndarray:
        """Individual alt-allele frequency at coordinates ``v`` (shape ``(k,)``), float64
        ``(n_markers,)`` or ``(len(index),)``, clipped to ``[AF_FLOOR, 1 - AF_FLOOR]``."""
        v = np.asarray(v, dtype=np.float64)
        mu, ud = (self.mu, self.loadings) if index is None else (self.mu[index], self.loadings[index])
        return np.clip((mu + ud @ v) / 2.0, AF_FLOOR, 1.0 - AF_FLOOR)

    def groups(self) -> dict[str, np.ndarray]:
        """Every population and super-population label -> bool mask over the reference samples."""
        out = {}
        for labels in (self.superpopulations, self.populations):
            for lab in np.unique(labels):
                if lab:
                    out[str(lab)] = labels == lab
        return out

    def coordinates_of(self, group: str) -> np.ndarray:
        """Mean coordinates of a population or super-population (e.g. ``YRI``, ``AFR``).

        Raises
        ------
        UsageError
            Naming the known labels, if ``group`` is none of them.
        """
        groups = self.groups()
        if group not in groups:
            known = ", ".join(sorted(groups, key=lambda g: (len(g) != 3 or g not in self.superpopulations, g)))
            raise UsageError(f"unknown population {group!r} for panel {self.name}; known: {known or 'none'}")
        return self.coordinates[groups[group]].mean(axis=0)

    def nearest(self, v, k: int = 10) -> tuple[str, str, float]:
        """Population and super-population most common among the ``k`` reference samples
        nearest to ``v``, and the distance to the nearest of them (coordinate units)."""
        d = np.sqrt(((self.coordinates - np.asarray(v, dtype=np.float64)) ** 2).sum(axis=1))
        near = np.argsort(d)[:k]

        def vote(labels):
            vals, counts = np.unique(labels[near], return_counts=True)
            return str(vals[np.argmax(counts)])

        return vote(self.populations), vote(self.superpopulations), float(d[near[0]])

    def match(self, sites: SiteTable) -> np.ndarray:
        """Index into the panel's markers of each of ``sites`` (-1 where it is no marker).

        A site is a marker when contig (``chr`` or not), position and REF/ALT agree (ALT and
        REF swapped counts as no match); a site whose alleles are unknown (code 4 and above:
        a GATK pileup-summaries table names none) matches by position.
        """
        return self._match_at(self.sites.index_of(sites), sites)

    def _match_at(self, at: np.ndarray, sites: SiteTable) -> np.ndarray:
        """:meth:`match` from the markers at the sites' positions (``at``, -1: none)."""
        hit = at >= 0
        same = np.zeros(len(at), dtype=bool)
        same[hit] = ((self.sites.ref[at[hit]] == sites.ref[hit]) & (self.sites.alt[at[hit]] == sites.alt[hit])) | (
            sites.ref[hit] >= 4)
        return np.where(same, at, -1)

    def check_fits(self, sites: SiteTable, what: str) -> np.ndarray:
        """:meth:`match`, raising if the sites are on another build than the panel.

        Raises
        ------
        InputError
            No site is a marker, or REF differs at more than 10% of the shared positions
            (with examples).
        """
        at = self.sites.index_of(sites)
        idx = self._match_at(at, sites)
        shared = (at >= 0) & (sites.ref < 4)
        ref_diff = shared & (self.sites.ref[np.maximum(at, 0)] != sites.ref)
        if shared.any() and ref_diff.sum() > 0.1 * shared.sum():
            ex = np.flatnonzero(ref_diff)[:3]
            examples = "; ".join(f"{sites.chrom[i]}:{sites.pos[i] + 1} REF {'ACGT'[sites.ref[i]]} in {what}, "
                                 f"{'ACGT'[self.sites.ref[at[i]]]} in the panel" for i in ex)
            raise InputError(f"panel {self.name} ({self.build}) does not fit {what}: REF differs at "
                             f"{int(ref_diff.sum())} of {int(shared.sum())} shared positions ({examples}); "
                             f"is {what} on another genome build?")
        if not (idx >= 0).any():
            ex = ", ".join(f"{c}:{p + 1}" for c, p in zip(sites.chrom[:2], sites.pos[:2], strict=False))
            pex = ", ".join(f"{c}:{p + 1}" for c, p in zip(self.sites.chrom[:2], self.sites.pos[:2], strict=False))
            raise InputError(f"none of the {sites.n_sites} sites of {what} (e.g. {ex}) is a marker of panel "
                             f"{self.name} ({self.build}, e.g. {pex})")
        return idx


def builtin_names() -> list[str]:
    return list(BUILTIN)


@lru_cache(maxsize=4)
def load_builtin(name: str) -> AncestryPanel:
    """A built-in panel by name (see :data:`BUILTIN`).

    Raises
    ------
    UsageError
        Naming the available panels, if ``name`` is not one.
    """
    if name.startswith(BUILTIN_PREFIX):
        name = name[len(BUILTIN_PREFIX):]
    if name not in BUILTIN:
        raise UsageError(f"unknown built-in panel {name!r}; available: {', '.join(BUILTIN)} "
                         "(see microchimera sites list)")
    path = PANEL_DIR / f"{name}.npz"
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: built-in panel unreadable ({exc}); reinstall microchimera") from exc
    with z:
        meta = json.loads(str(z["meta"]))
        contigs = tuple(str(c) for c in z["contigs"])
        mu = z["mu"].astype(np.float64)
        sites = SiteTable(contigs, z["contig_id"].astype(np.int32), z["pos"].astype(POS_DTYPE), z["ref"],
                          z["alt"], np.clip(mu / 2.0, 0.0, 1.0))
        if ((np.diff(sites.contig_id) == 0) & (np.diff(sites.pos) <= 0)).any():
            raise FormatError(f"{path}: built-in panel markers are not sorted; rebuild it with "
                              "scripts/make_builtin_panels.py")
        return AncestryPanel(name, BUILTIN[name], sites, mu, z["loadings"].astype(np.float64),
                             z["samples"], z["populations"], z["superpopulations"],
                             z["coordinates"].astype(np.float64), meta["source"], meta["licence"], z["id"])


def panel_info(name: str) -> dict:
    """Name, build, number of markers, source and licence of a built-in panel (for ``sites list``)."""
    p = load_builtin(name)
    return {"name": name, "build": p.build, "sites": p.n_markers, "source": p.source, "licence": p.licence}


def read_vb2_panel(prefix, labels=None, name: str | None = None) -> AncestryPanel:
    """A VerifyBamID2 resource: ``PREFIX.bed`` (chrom, start, end, REF, ALT), ``PREFIX.mu``
    (ID, mean alt dosage), ``PREFIX.UD`` (loadings) and ``PREFIX.V`` (sample, coordinates).

    ``labels``: an optional sample -> population file (tab-separated ``sample pop
    [super_pop]``, a header line allowed).  Multi-allelic markers are skipped.

    Raises
    ------
    InputError
        A file is missing.
    FormatError
        The files disagree in length, or a line cannot be parsed (file and line named).
    """
    prefix = str(prefix)
    files = {ext: Path(f"{prefix}.{ext}") for ext in ("bed", "mu", "UD", "V")}
    for ext, path in files.items():
        if not path.exists():
            raise InputError(f"{path}: missing .{ext} file of the ancestry panel {prefix}")
    bed = [line.split("\t") for line in files["bed"].read_text().splitlines() if line.strip()]
    mu_rows = [line.split("\t") for line in files["mu"].read_text().splitlines() if line.strip()]
    try:
        ud = np.loadtxt(files["UD"], dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise FormatError(f"{files['UD']}: not a numeric matrix ({exc})") from None
    if not (len(bed) == len(mu_rows) == len(ud)):
        raise FormatError(f"{prefix}: .bed ({len(bed)} lines), .mu ({len(mu_rows)}) and .UD ({len(ud)}) "
                          "must have one line per marker")
    records, keep = [], []
    for lineno, (b, m) in enumerate(zip(bed, mu_rows, strict=True), 1):
        try:
            ref, alt, dose = b[3].strip().upper(), b[4].strip().upper(), float(m[1])
            start = int(b[1])
        except (IndexError, ValueError):
            raise FormatError(f"{files['bed']}:{lineno} / {files['mu']}:{lineno}: expected "
                              f"'chrom start end ref alt' and 'id mean_dosage', found {b!r} and {m!r}") from None
        ok = ref in BASE_CODE and alt in BASE_CODE and ref != alt
        keep.append(ok)
        if ok:
            records.append((b[0], start, ref, alt, dose / 2.0))
    keep = np.array(keep)
    order = {}
    for r in records:
        order.setdefault(r[0], len(order))
    perm = sorted(range(len(records)), key=lambda i: (order[records[i][0]], records[i][1]))
    sites = SiteTable.from_records([records[i] for i in perm], contigs=list(order))
    mu = 2.0 * np.array([records[i][4] for i in perm])
    loadings = ud[keep][perm]
    vrows = [line.split("\t") for line in files["V"].read_text().splitlines() if line.strip()]
    try:
        coords = np.array([[float(x) for x in r[1:]] for r in vrows], dtype=np.float64)
    except ValueError:
        raise FormatError(f"{files['V']}: expected 'sample coord1 coord2 ...' lines") from None
    if coords.ndim != 2 or coords.shape[1] != loadings.shape[1]:
        raise FormatError(f"{files['V']}: {coords.shape[-1] if coords.ndim == 2 else '?'} coordinates per sample, "
                          f"but {files['UD']} has {loadings.shape[1]} loadings per marker")
    samples = np.array([r[0] for r in vrows])
    pops = {}
    if labels is not None:
        for line in Path(labels).read_text().splitlines():
            f = line.split("\t")
            if len(f) >= 2 and f[0] != "sample":
                pops[f[0]] = (f[1], f[2] if len(f) > 2 else "")
    return AncestryPanel(name or Path(prefix).name, "unknown", sites, mu, loadings, samples,
                         np.array([pops.get(s, ("", ""))[0] for s in samples]),
                         np.array([pops.get(s, ("", ""))[1] for s in samples]), coords,
                         f"VerifyBamID2-format resource {prefix}", "")


def detect_builtin(sites: SiteTable) -> tuple[AncestryPanel | None, np.ndarray, int]:
    """The built-in panel with the most of ``sites`` among its markers (on a tie the larger
    panel: the 10k panels' markers are all markers of the 100k panel of their build).

    Returns ``(panel, index, n_matched)``; ``(None, all -1, 0)`` when no site is a marker
    of any built-in panel.
    """
    best = (None, np.full(sites.n_sites, -1, dtype=np.int64), 0)
    for name in sorted(BUILTIN, key=lambda n: ("100k" not in n, n)):
        panel = load_builtin(name)
        idx = panel.match(sites)
        n = int((idx >= 0).sum())
        if n > best[2]:
            best = (panel, idx, n)
    return best


@lru_cache(maxsize=8)
def _builtin_signature(name: str) -> tuple:
    """``(contigs, contig_id, pos)`` of a built-in panel's markers, read without the rest."""
    with np.load(PANEL_DIR / f"{name}.npz", allow_pickle=False) as z:
        return tuple(str(c) for c in z["contigs"]), z["contig_id"].astype(np.int32), z["pos"].astype(POS_DTYPE)


def builtin_panel_of(sites: SiteTable) -> tuple[str, str] | None:
    """``(name, build)`` of the built-in panel whose markers ``sites`` are (what
    ``read_sites("builtin:NAME")`` returns), else None.  Only built-in panels carry a genome
    build; a table of the same sites read from elsewhere is taken as the panel too."""
    for name, build in BUILTIN.items():
        try:
            contigs, cid, pos = _builtin_signature(name)
        except (OSError, ValueError, KeyError):  # pragma: no cover - a broken install; load_builtin says so
            continue
        if (sites.n_sites == len(pos) and tuple(sites.contigs) == contigs and np.array_equal(sites.pos, pos)
                and np.array_equal(sites.contig_id, cid)):
            return name, build
    return None
