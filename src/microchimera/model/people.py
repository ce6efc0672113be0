"""Who is in the model of one sample: the host, the donors, their pedigree and genotypes.

Family mode takes a PED (and typed genotypes); no-family mode (``--relationship``) builds a
synthetic pedigree in which each donor has the named relationship to the host and everyone
else is untyped (summed out over genotypes from the allele frequencies).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..conventions import GENOTYPE_DTYPE
from ..errors import InputError, UsageError
from ..io.genotypes import GenotypeMatrix
from ..io.pedigree import SEX_UNKNOWN, Pedigree

RELATIONSHIPS = ("child", "parent", "sibling", "grandchild", "unrelated")


@dataclass(frozen=True)
class People:
    """The people of one sample's model.

    ``members`` is the host followed by the donors (the order of the fitted fractions);
    ``labels`` maps each donor to its relationship to the host; ``typed`` maps each typed
    person to genotype dosages (int8, shape ``(n_sites,)``, -1 missing).
    """

    pedigree: Pedigree
    host: str
    donors: tuple[str, ...]
    labels: dict[str, str]
    typed: dict[str, np.ndarray] = field(default_factory=dict)
    mode: str = "family"

    @property
    def members(self) -> list[str]:
        return [self.host, *self.donors]


def no_family_pedigree(host: str, relationships) -> tuple[Pedigree, list[str], dict]:
    """Synthetic pedigree for ``--relationship`` donors; returns (pedigree, donors, labels).

    A relationship named once gives a donor of that name (``child``); named twice,
    ``child_1``, ``child_2``.  Helper people (partners, the host's parents) have names
    starting with ``_``.

    Raises
    ------
    UsageError
        An unknown relationship, or more than two parents.
    """
    relationships = list(relationships)
    records = {}

    def add(pid, father=None, mother=None):
        if pid not in records:
            records[pid] = ["fam", pid, father, mother, SEX_UNKNOWN]
        return records[pid]

    add(host)
    donors, labels, seen = [], {}, {}
    for rel in relationships:
        if rel not in RELATIONSHIPS:
            raise UsageError(f"relationship must be one of {', '.join(RELATIONSHIPS)}, found {rel!r}")
        seen[rel] = seen.get(rel, 0) + 1
        name = rel if relationships.count(rel) == 1 else f"{rel}_{seen[rel]}"
        donors.append(name)
        labels[name] = rel
        if rel == "child":
            add("_partner")
            add(name, "_partner", host)
        elif rel == "parent":
            rec = records[host]
            if rec[2] is None:
                add(name)
                rec[2] = name
            elif rec[3] is None or rec[3] == "_parent_2":
                add(name)
                rec[3] = name
            else:
                raise UsageError("a host has at most two parents")
        elif rel == "sibling":
            rec = records[host]
            if rec[2] is None:
                add("_parent_1")
                rec[2] = "_parent_1"
            if rec[3] is None:
                add("_parent_2")
                rec[3] = "_parent_2"
            add(name, rec[2], rec[3])
        elif rel == "grandchild":
            add("_partner")
            add("_child", "_partner", host)
            add("_child_partner")
            add(name, "_child_partner", "_child")
        else:
            add(name)
    order = list(records.values())
    return Pedigree.from_records([tuple(r) for r in order], source="relationships"), donors, labels


def relationship_label(ped: Pedigree, host: str, donor: str) -> str:
    """``child``/``parent``/``sibling``/``grandchild``/``unrelated`` or ``relative (kinship k)``."""
    if ped.parents(donor).count(host):
        return "child"
    if host in [c for c in ped.children(donor)]:
        return "parent"
    hp = {p for p in ped.parents(host) if p}
    if hp & {p for p in ped.parents(donor) if p}:
        return "sibling"
    for c in ped.children(host):
        if donor in ped.children(c):
            return "grandchild"
    phi = ped.kinship()[ped.index(host), ped.index(donor)]
    return "unrelated" if phi == 0 else f"relative (kinship {phi:g})"


def resolve_people(*, sample: str, host: str | None, donors, pedigree: Pedigree | None,
                   genotypes: GenotypeMatrix | None, relationships) -> People:
    """The host, donors and typed people of one sample, checked against the pedigree.

    Raises
    ------
    UsageError
        Both or neither of a pedigree and relationships; no host; a donor that is the host
        or is listed twice.
    InputError
        Host or donor absent from the PED; a host with no relatives and no ``donors``.
    """
    if relationships:
        if pedigree is not None:
            raise UsageError("give either a pedigree (--pedigree) or --relationship, not both")
        host = host or sample
        ped, names, labels = no_family_pedigree(host, relationships)
        return People(ped, host, tuple(names), labels, {}, "no_family")
    if pedigree is None:
        raise UsageError("give a pedigree (--pedigree with --genotypes) or --relationship for no-family mode")
    if host is None:
        raise UsageError("give the host's ID (--host)")
    pedigree.index(host)
    if donors is None:
        donors = pedigree.relatives(host)
        if not donors:
            raise InputError(f"{host!r} has no relatives in the pedigree; name the donors with --donors")
    donors = list(donors)
    for d in donors:
        if d == host:
            raise UsageError(f"donor {d!r} is the host; a donor must be another person")
        pedigree.index(d)
    if len(set(donors)) != len(donors):
        raise UsageError(f"a donor is listed twice: {', '.join(donors)}")
    typed = {}
    if genotypes is not None:
        typed = {p: np.asarray(genotypes.get(p), dtype=GENOTYPE_DTYPE)
                 for p in genotypes.samples if p in pedigree.ids}
    labels = {d: relationship_label(pedigree, host, d) for d in donors}
    return People(pedigree, host, tuple(donors), labels, typed, "family")
