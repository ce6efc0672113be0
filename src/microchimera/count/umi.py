"""Counting molecules, not reads: UMI families and their consensus (``count --umi``).

Reads of one original molecule share its alignment (the pair's two starts and, single-strand,
the strand of read 1) and its unique molecular identifier.  The counting kernel reads each
read's UMI (:data:`._kernels.UMI_TAG`: a tag of bases such as ``RX``; ``UMI_NAME``: the read
name's suffix after its last ``_`` or ``:``; ``UMI_MI``: a molecule id tag such as fgbio's
``MI`` or UMI-tools' ``UG``, families already made) and hands out every fragment with its
family coordinates; :class:`UmiFamilies` groups them and calls one base per molecule and site.

* **Families** (:func:`._umi.directional`): at one position, UMIs one base apart merge when
  the larger family has at least ``2 n - 1`` reads for the smaller one's ``n`` (UMI-tools'
  *directional* method): a UMI sequencing error makes a small satellite of a big family.
  Molecule-id tags are taken as they are.
* **Consensus** (:func:`._umi.consensus`): per family and site, the base of highest likelihood
  from the member reads' bases and qualities; its error probability is the posterior of the
  other bases, plus :data:`PRE_UMI_ERROR` for what no consensus can remove (damage of the
  molecule and errors of the first PCR cycle, copied to the whole family), as fgbio does.
* **Duplex** (``duplex=True``): the two strands of a molecule carry the two halves of a
  duplex UMI in opposite order (``AAA-CCC`` on strand A, read 1 forward; ``CCC-AAA`` on
  strand B, read 1 reverse) or fgbio's ``/A`` ``/B`` suffixes.  A molecule counts at a site
  only when both strands' consensus agree; its error is the chance both are wrong the same way.
* ``min_family_size``: reads each strand family must have (single-strand: the family).

Reads flagged duplicate (0x400) are kept: they are the family.  A family's size counts the
read pairs showing a base at one of the sites (after the read and base filters).  Output
rows are molecules: the allele counts (a duplex molecule on the forward rows), and the
fragment table of molecules showing two or more sites.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from . import _kernels as K
from . import _umi

#: Error probability a single-strand consensus cannot go below (Phred 45, fgbio's default
#: pre-UMI error rate): damage to the molecule before amplification, and errors of the first
#: PCR cycles, are in every read of the family.
PRE_UMI_ERROR = 10 ** -4.5
#: Consensus qualities are capped here (Phred; what a BAM quality can say).
MAX_CONSENSUS_QUAL = 93
#: Molecule-id tags: a family is closed this many bp after its last read pair's position
#: (their reads may start a few bases apart: fgbio groups by unclipped ends).
MI_SLACK = 1000
#: Family sizes above this are pooled in the histogram's last bin.
HIST_MAX = 1000


@dataclass(frozen=True)
class UmiOptions:
    """How ``count --umi`` finds and uses UMIs.

    tag : str
        Two-character tag of the UMI bases (``RX``, the SAM convention), or ``"name"`` for the
        read name's suffix after its last ``_`` or ``:``.
    molecule_tag : str or None
        A tag holding molecule ids instead (fgbio ``MI``, with ``/A`` ``/B`` for duplex
        strands; UMI-tools ``UG``): families as the tag says, no UMI grouping here.
    duplex : bool
        Count a molecule only where both of its strands agree.
    min_family_size : int
        Reads (read pairs) a strand family needs to be used.
    """

    tag: str = "RX"
    molecule_tag: str | None = None
    duplex: bool = False
    min_family_size: int = 1

    def __post_init__(self):
        for name in ("tag", "molecule_tag"):
            v = getattr(self, name)
            if v is None or (name == "tag" and v == "name"):
                continue
            if not (isinstance(v, str) and len(v) == 2 and v[0].isalpha() and v.isalnum() and v.isascii()):
                raise UsageError(f"--{name.replace('_', '-')}: a SAM tag is two characters (a letter, then a "
                                 f"letter or digit), found {v!r}")
        if isinstance(self.min_family_size, bool) or not isinstance(self.min_family_size, int) \
                or self.min_family_size < 1:
            raise UsageError(f"--min-family-size: expected an integer >= 1, found {self.min_family_size!r}")

    @property
    def looked_for(self) -> str:
        """Where the UMIs are read from, for messages."""
        if self.molecule_tag:
            return f"the {self.molecule_tag} tag (molecule ids)"
        return "a read-name suffix after '_' or ':'" if self.tag == "name" else f"the {self.tag} tag"

    def kernel_params(self) -> tuple:
        """``(P_UMI, P_UMI_TAG, P_DUPLEX)`` of the counting kernel."""
        if self.molecule_tag:
            mode, tag = K.UMI_MI, self.molecule_tag
        elif self.tag == "name":
            mode, tag = K.UMI_NAME, "  "
        else:
            mode, tag = K.UMI_TAG, self.tag
        return int(mode), ord(tag[0]) | ord(tag[1]) << 8, int(self.duplex)

    def to_json(self) -> dict:
        return {"umi_tag": self.tag, "molecule_tag": self.molecule_tag, "duplex": self.duplex,
                "min_family_size": self.min_family_size, "pre_umi_error": PRE_UMI_ERROR}


@dataclass
class UmiStats:
    """What the families looked like (summed over the sample's files).

    ``family_sizes[k]``: strand families of ``k`` reads (last bin: ``HIST_MAX`` or more);
    ``molecules``: molecules counted (at one site or more); ``duplex_candidates``: molecules
    seen on at least one strand (duplex mode), of which ``molecules`` had both; ``dropped_small``:
    strand families under ``min_family_size``; ``disagreements``: duplex molecule-sites whose
    strands called different bases (not counted).
    """

    family_sizes: np.ndarray = field(default_factory=lambda: np.zeros(HIST_MAX + 1, np.int64))
    reads: int = 0
    molecules: int = 0
    duplex_candidates: int = 0
    dropped_small: int = 0
    disagreements: int = 0
    calls: int = 0

    def to_json(self, duplex: bool) -> dict:
        sizes = self.family_sizes
        last = int(np.flatnonzero(sizes)[-1]) if sizes.any() else 0
        n_fam = int(sizes.sum())
        out = {"reads": self.reads, "molecules": self.molecules, "strand_families": n_fam,
               "family_size_histogram": {str(k): int(sizes[k]) for k in range(1, last + 1) if sizes[k]},
               "mean_family_size": float((sizes * np.arange(len(sizes))).sum() / n_fam) if n_fam else None,
               "reads_per_molecule": self.reads / self.molecules if self.molecules else None,
               "families_below_min_size": self.dropped_small, "molecule_site_calls": self.calls}
        if duplex:
            out["duplex_yield"] = self.molecules / self.duplex_candidates if self.duplex_candidates else None
            out["duplex_disagreements"] = self.disagreements
        return out


def _pair_ids(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense ids 0, 1, ... of the distinct ``(a, b)`` pairs, int64 (n,), in sorted order."""
    order = np.lexsort((b, a))
    new = np.ones(len(a), bool)
    new[1:] = (a[order][1:] != a[order][:-1]) | (b[order][1:] != b[order][:-1])
    ids = np.empty(len(a), np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


class UmiFamilies:
    """Fragment rows of one kernel (UMI mode) in, molecule counts out, family by family.

    Rows are held until their family is complete (the kernel is past its last read pair:
    :meth:`close_before`), so memory holds the families open around the current position,
    not the file.
    """

    def __init__(self, options: UmiOptions, site_ref: np.ndarray, site_alt: np.ndarray, min_baseq: int):
        self.options = options
        self.site_ref = site_ref
        self.site_alt = site_alt
        self.min_baseq = min_baseq
        self.pending: list = []
        self.next_molecule = 0
        self.stats = UmiStats()

    def add(self, fid, site, base, qual, lkey, rkey, umi, mates) -> None:
        """Take a drained chunk of the kernel's rows (copied)."""
        self.pending.append(tuple(np.array(a) for a in (fid, site, base, qual, lkey, rkey, umi, mates)))

    def close_before(self, tid, pos, counts: np.ndarray, frag_chunks: list) -> None:
        """Call every family whose reads all lie before ``(tid, pos)`` (None: all of them):
        tally its molecules into ``counts`` (6, n_sites) and append the rows of molecules
        showing two or more sites to ``frag_chunks`` (``(id, site, allele, qual, reverse,
        mates)``, as the kernel's)."""
        if not self.pending:
            return
        rows = [np.concatenate(cols) for cols in zip(*self.pending, strict=True)]
        fid, site, base, qual, lkey, rkey, umi, mates = rows
        if tid is None:
            done = np.ones(len(fid), bool)
        else:
            if tid < 0:
                return
            row_tid = lkey >> 32
            if self.options.molecule_tag:
                # a tagged family closes as a whole, MI_SLACK past its furthest read pair yet
                inv = _pair_ids(row_tid, umi)
                last = np.full(int(inv.max()) + 1, -1, np.int64)
                np.maximum.at(last, inv, rkey >> 2)
                done = (row_tid < tid) | ((row_tid == tid) & (last[inv] + MI_SLACK < pos))
            else:
                done = (row_tid < tid) | ((row_tid == tid) & ((rkey >> 2) < pos))
        # a fragment's rows are contiguous: all done or none (same keys)
        self.pending = [tuple(c[~done] for c in rows)] if not done.all() else []
        if done.any():
            self._call(*(c[done] for c in rows), counts=counts, frag_chunks=frag_chunks)

    # -------------------------------------------------------------------------------------
    def _molecules(self, f_lkey, f_rkey, f_umi):
        """Molecule id and strand (0/1) of each fragment."""
        strand = (f_rkey & 1).astype(np.int64)
        if self.options.molecule_tag:
            # families as tagged: per contig and id
            mol = _pair_ids(f_lkey >> 32, f_umi) + self.next_molecule
            self.next_molecule = int(mol.max()) + 1 if len(mol) else self.next_molecule
            return mol, strand
        group_r = f_rkey >> 1 if self.options.duplex else f_rkey
        order = np.lexsort((f_umi, group_r, f_lkey))
        lk, gr, um = f_lkey[order], group_r[order], f_umi[order]
        new_umi = np.ones(len(order), bool)
        new_umi[1:] = (lk[1:] != lk[:-1]) | (gr[1:] != gr[:-1]) | (um[1:] != um[:-1])
        u_start = np.flatnonzero(new_umi)
        u_count = np.diff(np.append(u_start, len(order))).astype(np.int64)
        new_group = np.ones(len(u_start), bool)
        new_group[1:] = (lk[u_start[1:]] != lk[u_start[:-1]]) | (gr[u_start[1:]] != gr[u_start[:-1]])
        u_group = np.cumsum(new_group) - 1
        # within a group: count descending, ties by UMI sequence (UMI-tools: by first appearance;
        # this way the molecules do not depend on the order reads were written or met)
        proc = np.lexsort((um[u_start], -u_count, u_group))
        g_start = np.append(np.flatnonzero(new_group), len(u_start)).astype(np.int64)
        cluster = np.empty(len(u_start), np.int64)
        self.next_molecule = _umi.directional(g_start, np.ascontiguousarray(um[u_start][proc]),
                                              np.ascontiguousarray(u_count[proc]), cluster, self.next_molecule)
        u_cluster = np.empty(len(u_start), np.int64)
        u_cluster[proc] = cluster
        mol = np.empty(len(order), np.int64)
        mol[order] = np.repeat(u_cluster, u_count)
        return mol, strand

    def _call(self, fid, site, base, qual, lkey, rkey, umi, mates, *, counts, frag_chunks):
        opts, st = self.options, self.stats
        f_start = np.flatnonzero(np.r_[True, fid[1:] != fid[:-1]])
        f_rows = np.diff(np.append(f_start, len(fid)))
        mol, strand = self._molecules(lkey[f_start], rkey[f_start], umi[f_start])
        # strand families: (molecule, strand)
        fam = mol * 2 + strand
        fam_u, fam_inv, fam_size = np.unique(fam, return_inverse=True, return_counts=True)
        st.family_sizes += np.bincount(np.minimum(fam_size, HIST_MAX), minlength=HIST_MAX + 1)
        ok_fam = fam_size >= opts.min_family_size
        st.dropped_small += int((~ok_fam).sum())
        keep_frag = ok_fam[fam_inv]
        if opts.duplex:
            mol_u, mol_inv = np.unique(fam_u >> 1, return_inverse=True)
            strands = np.bincount(mol_inv, weights=ok_fam, minlength=len(mol_u))
            st.duplex_candidates += int((strands > 0).sum())
            keep_frag &= (strands == 2)[mol_inv[fam_inv]]
        st.reads += int(keep_frag.sum())
        row_keep = np.repeat(keep_frag, f_rows)
        r_fam = np.repeat(fam, f_rows)[row_keep]
        r_site, r_base, r_qual = site[row_keep], base[row_keep].astype(np.uint8), qual[row_keep]
        order = np.lexsort((r_site, r_fam))
        r_fam, r_site, r_base, r_qual = r_fam[order], r_site[order], r_base[order], r_qual[order]
        n = len(r_fam)
        o_key, o_site = np.empty(n, np.int64), np.empty(n, np.int64)
        o_base, o_err, o_reads = np.empty(n, np.uint8), np.empty(n, np.float64), np.empty(n, np.int32)
        m = _umi.consensus(np.ascontiguousarray(r_fam), np.ascontiguousarray(r_site), np.ascontiguousarray(r_base),
                           np.ascontiguousarray(r_qual), o_key, o_site, o_base, o_err, o_reads)
        o_key, o_site, o_base, o_err = o_key[:m], o_site[:m], o_base[:m], o_err[:m] + PRE_UMI_ERROR
        c_mol = o_key >> 1
        c_rev = (o_key & 1).astype(np.int64)
        if opts.duplex:
            # pairs of strand calls at one (molecule, site): rows sorted by (molecule, strand, site)
            o2 = np.lexsort((o_key & 1, o_site, c_mol))
            c_mol, s2, b2, e2 = c_mol[o2], o_site[o2], o_base[o2], o_err[o2]
            pair = np.flatnonzero((c_mol[1:] == c_mol[:-1]) & (s2[1:] == s2[:-1]))
            agree = b2[pair] == b2[pair + 1]
            st.disagreements += int((~agree).sum())
            pair = pair[agree]
            c_mol, o_site, o_base = c_mol[pair], s2[pair], b2[pair]
            # both strands wrong, the same way
            o_err = e2[pair] * e2[pair + 1] / 3.0
            c_rev = np.zeros(len(pair), np.int64)
        q = np.minimum(np.rint(-10 * np.log10(np.maximum(o_err, 1e-300))), MAX_CONSENSUS_QUAL).astype(np.uint8)
        use = q >= self.min_baseq
        c_mol, o_site, o_base, q, c_rev = c_mol[use], o_site[use], o_base[use], q[use], c_rev[use]
        allele = np.where(o_base == self.site_ref[o_site], 0, np.where(o_base == self.site_alt[o_site], 1, 2))
        np.add.at(counts, (2 * allele + c_rev, o_site), 1)
        st.calls += len(c_mol)
        st.molecules += len(np.unique(c_mol))
        # molecules showing two or more sites: the fragment table's rows (sorted by molecule, site)
        if len(c_mol):
            o3 = np.lexsort((o_site, c_mol))
            c_mol, o_site, allele, q, c_rev = c_mol[o3], o_site[o3], allele[o3], q[o3], c_rev[o3]
            start = np.flatnonzero(np.r_[True, c_mol[1:] != c_mol[:-1]])
            size = np.diff(np.append(start, len(c_mol)))
            multi = np.repeat(size >= 2, size)
            if multi.any():
                frag_chunks.append((c_mol[multi], o_site[multi], allele[multi].astype(np.int8), q[multi],
                                    c_rev[multi].astype(bool), np.ones(int(multi.sum()), np.uint8)))
