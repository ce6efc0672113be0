"""Which evidence quantify's likelihood uses: site counts, or molecules where fragments say so.

``--evidence auto`` (the default) uses molecules when a fragments table is given
(``quantify --fragments``, or ``run``, which counts it), ``molecules`` requires one, and
``sites`` ignores it, so the two models can be compared on the same data.  The molecule
likelihood itself is :mod:`microchimera.model.molecules`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..count.fragments import FragmentTable
from ..errors import InputError, UsageError
from ..result import EvidenceUse
from .likelihood import ModelData
from .molecules import attach_molecules, eligible_sites
from .people import People

EVIDENCE_MODES = ("auto", "sites", "molecules")


def evidence_in_use(requested: str, fragments: FragmentTable | None) -> EvidenceUse:
    """The evidence block before the molecules are counted: ``model`` is ``molecules`` when
    fragments are given and not refused.

    Raises
    ------
    UsageError
        ``molecules`` asked for without a fragments table, or an unknown mode.
    """
    if requested not in EVIDENCE_MODES:
        raise UsageError(f"evidence must be one of {', '.join(EVIDENCE_MODES)}, found {requested!r}")
    if requested == "sites":
        return EvidenceUse(requested, "sites", note="the site model was asked for (--evidence sites)")
    if fragments is None:
        if requested == "molecules":
            raise UsageError("--evidence molecules needs the fragments table of the same count "
                             "(count --fragments FILE, then quantify --fragments FILE; run counts it itself)")
        return EvidenceUse(requested, "sites", note="no fragments table: every read is a site observation")
    return EvidenceUse(requested, "molecules")


def _cis_donors(people: People) -> np.ndarray:
    """bool per component: a parent or a child of the host (its phase at host-homozygous sites is known)."""
    ped = people.pedigree
    host_parents = set(ped.parents(people.host)) if people.host in ped.ids else set()
    out = []
    for c in people.components:
        child = c in ped.ids and people.host in set(ped.parents(c))
        out.append(bool(c in host_parents or child))
    return np.array(out, dtype=bool)


def fragment_sites(fragments: FragmentTable, sites, sample: str) -> tuple:
    """The rows of ``sample`` in ``fragments``: ``(site, fragment, allele)`` with ``site`` an
    index into ``sites`` (the counts' site list).

    Raises
    ------
    InputError
        The table has no rows of ``sample`` (it names its samples), or it was made at
        sites the counts lack or with other alleles (another sites file; it names one).
    """
    path = fragments.source
    if sample not in fragments.samples:
        raise InputError(f"{path}: no fragments of sample {sample!r}, the counts' sample (it holds "
                         f"{', '.join(fragments.samples) or 'none'}): give the fragments table of the same count")
    rows = fragments.sample == fragments.samples.index(sample)
    fsites = fragments.sites
    idx = sites.index_of(fsites)
    used = np.zeros(fsites.n_sites, dtype=bool)
    used[fragments.site[rows]] = True
    bad = used & ((idx < 0) | (sites.ref[np.maximum(idx, 0)] != fsites.ref) | (sites.alt[np.maximum(idx, 0)] != fsites.alt))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: {int(bad.sum())} of its sites are not sites of the counts (e.g. "
                         f"{fsites.contigs[fsites.contig_id[i]]}:{int(fsites.pos[i]) + 1}): it was made with another "
                         "sites file than the counts")
    return idx[fragments.site[rows]], fragments.fragment[rows], fragments.allele[rows]


def with_molecules(data: ModelData, fragments: FragmentTable, sites, people: People, af: np.ndarray,
                   sample: str, evidence: EvidenceUse) -> tuple[ModelData, EvidenceUse]:
    """``data`` with the sample's molecules moved out of its site counts, and the evidence block.

    ``af`` (float64, n_all_sites): the pooled AF the unknown contributor is drawn from.  When
    no fragment has two observations at eligible sites the data stay the site model's and
    the block says why.
    """
    site, frag, allele = fragment_sites(fragments, sites, sample)
    if tuple(data.donors) != tuple(people.components):
        raise AssertionError("model data and people disagree on the components")
    population = np.array([c == people.contaminant for c in people.components], dtype=bool)
    cis = _cis_donors(people)
    eligible = eligible_sites(data, cis, population) if data.n_sites else np.zeros(0, dtype=bool)
    try:
        out = attach_molecules(data, site, frag, allele, eligible, population, af)
    except ValueError as exc:
        raise InputError(f"{fragments.source}, sample {sample!r}: {exc}: it is not from the count these counts "
                         "came from") from None
    m = out.molecules
    n_frag = int(np.count_nonzero(np.diff(frag))) + 1 if len(frag) else 0  # rows sorted by fragment
    block = dataclasses.replace(evidence, fragments=n_frag, molecules=m.total_molecules,
                                observations=m.total_observations,
                                eligible_sites=int(eligible.sum()))
    if m.total_molecules == 0:
        why = ("no site is eligible (the host homozygous and every named person's genotype known there)"
               if not eligible.any() else "no fragment shows two or more eligible sites")
        return data, dataclasses.replace(block, model="sites", note=f"molecules not used: {why}")
    note = "molecules at host-homozygous sites where every named genotype is known (docs/model.md, molecules)"
    return out, dataclasses.replace(block, note=note)
