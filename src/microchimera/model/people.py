"""Who is in the model of one sample: the host, the donors, their pedigree and genotypes.

Family mode takes a PED (and typed genotypes); no-family mode (``--relationship``) builds a
synthetic pedigree in which each donor has the named relationship to the host and everyone
else is untyped (summed out over genotypes from the allele frequencies).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..conventions import GENOTYPE_DTYPE
from ..errors import InputError, UsageError
from ..io.genotypes import GenotypeMatrix
from ..io.pedigree import SEX_UNKNOWN, Pedigree
from ..result import CONTAMINANT_LABEL, KNOWN_CONTAMINANT_LABEL

RELATIONSHIPS = ("child", "parent", "sibling", "grandchild", "unrelated")
#: Name of the unknown unrelated contributor: an untyped founder added to the pedigree, whose
#: genotypes are summed out by Hardy–Weinberg from the AF (names starting with ``_`` are the
#: model's own people, never a PED ID a user can name).
CONTAMINANT = "_contamination"
# Their labels (relationships to the host) are defined with the result: CONTAMINANT_LABEL for
# the unknown contributor, KNOWN_CONTAMINANT_LABEL for a person named with ``contaminants``
# (fitted like a donor, not tested for relatedness).


def unknown_contributor_only(f, donors) -> np.ndarray:
    """``f`` (n_donors,) with every fraction but the unknown contributor's (:data:`CONTAMINANT`)
    at 0: where a panel of normals' rate uncertainty is placed
    (:meth:`~microchimera.model.likelihood.ModelData.with_pon_variance_at`).  A named donor's
    sites keep the panel's own overdispersion, which is right under that donor's null; the
    unknown contributor's reads, spread over every homozygous site, must not make those
    sites look noisy."""
    return np.where(np.array([d == CONTAMINANT for d in donors], dtype=bool), np.asarray(f, np.float64), 0.0)


@dataclass(frozen=True)
class People:
    """The people of one sample's model.

    ``donors`` are the named people whose fractions are estimated (relatives, typed
    non-relatives, known contaminants); ``contaminant`` is :data:`CONTAMINANT` when the
    unknown unrelated contributor is in the model (None otherwise).  ``components`` are the
    donors then the contaminant (the order of the fitted fractions) and ``members`` the host
    followed by them.  ``labels`` maps each component to its relationship to the host;
    ``typed`` maps each typed person to genotype dosages (int8, shape ``(n_sites,)``, -1 missing).
    """

    pedigree: Pedigree
    host: str
    donors: tuple[str, ...]
    labels: dict[str, str]
    typed: dict[str, np.ndarray] = field(default_factory=dict)
    mode: str = "family"
    contaminant: str | None = None
    #: Why the contamination component was not added although asked for (None otherwise).
    no_contaminant_reason: str | None = None

    @property
    def components(self) -> tuple[str, ...]:
        return self.donors + ((self.contaminant,) if self.contaminant else ())

    @property
    def members(self) -> list[str]:
        return [self.host, *self.components]

    def drawn_from_population(self) -> tuple[str, ...]:
        """Untyped donors with a parent who is untyped or not in the PED.

        Part of such a donor's genotype is drawn from the population AF, as an unrelated
        person's is: a no-family child (the father's allele), an early loss whose father was
        not typed, a sibling of untyped parents.  The unknown unrelated contributor is then
        weakly separable from the donor by design, whatever the correlation of the two
        estimates at one sample (see :func:`~microchimera.model.quantify.contamination_estimate`).
        """
        ped, out = self.pedigree, []
        index = {p: i for i, p in enumerate(ped.ids)}
        for d in self.donors:
            if d in self.typed:
                continue
            i = index[d]
            parents = [ped.father[i], ped.mother[i]]
            if any(j < 0 or ped.ids[j] not in self.typed for j in parents):
                out.append(d)
        return tuple(out)

    def with_contamination_component(self) -> People:
        """A copy with the unknown unrelated contributor (:data:`CONTAMINANT`) added as an
        untyped founder of the pedigree and the last component.

        Not added when a donor is itself an untyped unrelated person (``--relationship
        unrelated``, an untyped stranger named with ``--donors``): that donor *is* the same
        model, and two copies of it cannot be told apart; ``no_contaminant_reason`` says so.
        """
        same = [d for d in self.donors if self.labels[d] == "unrelated" and d not in self.typed]
        if same:
            return dataclasses.replace(self, no_contaminant_reason=(
                f"not fitted: donor {same[0]!r} is itself an untyped unrelated person, the same model as the "
                f"unknown contributor"))
        ped = self.pedigree.with_people([("_model", CONTAMINANT, None, None, SEX_UNKNOWN)],
                                        source="pedigree with the contamination component")
        return dataclasses.replace(self, pedigree=ped, labels={**self.labels, CONTAMINANT: CONTAMINANT_LABEL},
                                   contaminant=CONTAMINANT)


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


def _id_list(names, what: str) -> list[str]:
    names = list(names)
    if not names or any(not str(n).strip() for n in names):
        raise UsageError(f"{{{what}}} names nobody (found {names!r}); give person IDs from the PED",
                         params=[what])
    if len(set(names)) != len(names):
        raise UsageError(f"a person is listed twice in {{{what}}}: {', '.join(names)}", params=[what])
    return names


def resolve_people(*, sample: str, host: str | None, donors, pedigree: Pedigree | None,
                   genotypes: GenotypeMatrix | None, relationships, contaminants=None,
                   contamination_component: bool = False) -> People:
    """The host, donors and typed people of one sample, checked against the pedigree.

    Without ``donors``, the donors are the host's relatives (non-zero kinship) and the typed
    people of the PED outside the host's family (a stranger, a lab control, another sample of
    the run: typed, they can be told from the unknown contributor); untyped strangers are left
    to the contamination component.  The host's partner (linked through a child, kinship 0)
    is not a default donor: half of each child's genome is theirs, so fitting them would take
    DNA from an untyped child.  ``contaminants`` are people of the PED known
    to be possible contaminants (fitted like donors, labelled :data:`KNOWN_CONTAMINANT_LABEL`).
    With ``contamination_component`` the unknown unrelated contributor is added
    (:meth:`People.with_contamination_component`), and a sample with no donor at all is
    allowed (a contamination-only check).

    Raises
    ------
    UsageError
        Both or neither of a pedigree and relationships; no host; a donor that is the host
        or is listed twice; ``donors`` or ``contaminants`` that name nobody; a person named
        both as a donor and as a contaminant.
    InputError
        Host or donor absent from the PED; nobody to fit (no donor and no contamination
        component).
    """
    if relationships:
        if pedigree is not None:
            raise UsageError("give either a pedigree ({pedigree}) or {relationships}, not both",
                             params=["pedigree", "relationships"])
        if contaminants:
            raise UsageError("known contaminants ({contaminants}) need a pedigree and genotypes",
                             params=["contaminants"])
        host = host or sample
        ped, names, labels = no_family_pedigree(host, relationships)
        people = People(ped, host, tuple(names), labels, {}, "no_family")
        return people.with_contamination_component() if contamination_component else people
    if pedigree is None:
        raise UsageError("give a pedigree ({pedigree} with {genotypes}) or {relationships} for no-family mode",
                         params=["pedigree", "genotypes", "relationships"])
    if host is None:
        raise UsageError("give the host's ID ({host})", params=["host"])
    pedigree.index(host)
    typed = {}
    if genotypes is not None:
        typed = {p: np.asarray(genotypes.get(p), dtype=GENOTYPE_DTYPE)
                 for p in genotypes.samples if p in pedigree.ids}
    known = [] if contaminants is None else _id_list(contaminants, "contaminants")
    if donors is None:
        relatives, family = set(pedigree.relatives(host)), pedigree.connected(host)
        donors = [p for p in pedigree.ids if p != host and p not in known
                  and (p in relatives or (p in typed and p not in family))]
    else:
        donors = _id_list(donors, "donors")
    both = sorted(set(donors) & set(known))
    if both:
        raise UsageError(f"{', '.join(map(repr, both))} named both as a donor and as a contaminant; "
                         f"name each person once")
    for d in [*donors, *known]:
        if d == host:
            raise UsageError(f"donor {d!r} is the host; a donor must be another person")
        pedigree.index(d)
    if not donors and not known and not contamination_component:
        raise InputError(f"{host!r} has no relatives and no typed people in the pedigree to fit; name the "
                         "donors with {donors}, or keep the contamination component on", params=["donors"])
    labels = {d: relationship_label(pedigree, host, d) for d in donors}
    labels.update(dict.fromkeys(known, KNOWN_CONTAMINANT_LABEL))
    people = People(pedigree, host, tuple(donors + known), labels, typed, "family")
    return people.with_contamination_component() if contamination_component else people
