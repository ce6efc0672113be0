"""PLINK/peddy PED files: the :class:`Pedigree` and :func:`read_ped` / :func:`write_ped`.

A PED line is ``FID IID PAT MAT SEX PHENOTYPE`` (whitespace-separated; ``0`` = unknown
parent; sex ``1`` male, ``2`` female, ``0`` unknown).  Extra columns are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import write_text_atomic
from ..errors import FormatError, InputError

SEX_UNKNOWN, SEX_MALE, SEX_FEMALE = 0, 1, 2


@dataclass(frozen=True)
class Pedigree:
    """People and their parents.

    Attributes
    ----------
    ids : tuple of str, length n_people
        Individual IDs, in an order where parents come before their children.
    father, mother : ndarray, int32, shape (n_people,)
        Index of each parent in ``ids``; -1 if unknown.
    sex : ndarray, int8, shape (n_people,)
        ``SEX_MALE`` (1), ``SEX_FEMALE`` (2) or ``SEX_UNKNOWN`` (0).
    family : tuple of str
        Family ID per person.
    """

    ids: tuple
    father: np.ndarray
    mother: np.ndarray
    sex: np.ndarray
    family: tuple

    @property
    def n_people(self) -> int:
        return len(self.ids)

    def index(self, person: str) -> int:
        try:
            return self.ids.index(person)
        except ValueError:
            raise InputError(f"{person!r} is not in the pedigree (people: {', '.join(self.ids)})") from None

    def parents(self, person: str) -> tuple:
        i = self.index(person)
        return tuple(self.ids[j] if j >= 0 else None for j in (self.father[i], self.mother[i]))

    def children(self, person: str) -> list[str]:
        i = self.index(person)
        return [self.ids[j] for j in range(self.n_people) if self.father[j] == i or self.mother[j] == i]

    def is_founder(self, person: str) -> bool:
        i = self.index(person)
        return self.father[i] < 0 and self.mother[i] < 0

    def kinship(self) -> np.ndarray:
        """Kinship coefficients, float64 (n_people, n_people); ``phi[i, i] = 1/2`` (no inbreeding loops assumed beyond the PED)."""
        n = self.n_people
        phi = np.zeros((n, n))
        for i in range(n):  # parents precede children
            f, m = self.father[i], self.mother[i]
            phi[i, i] = 0.5 * (1.0 + (phi[f, m] if f >= 0 and m >= 0 else 0.0))
            for j in range(i):
                v = 0.5 * ((phi[j, f] if f >= 0 else 0.0) + (phi[j, m] if m >= 0 else 0.0))
                phi[i, j] = phi[j, i] = v
        return phi

    def relatives(self, person: str) -> list[str]:
        """Everyone with non-zero kinship to ``person``, except ``person``."""
        i = self.index(person)
        phi = self.kinship()
        return [self.ids[j] for j in range(self.n_people) if j != i and phi[i, j] > 0]

    def connected(self, person: str) -> set[str]:
        """Everyone linked to ``person`` through parent-child links (``person`` included): the
        family a PED line belongs to, partners who share a child included."""
        i = self.index(person)
        seen, stack = {i}, [i]
        while stack:
            j = stack.pop()
            linked = [int(k) for k in (self.father[j], self.mother[j]) if k >= 0]
            linked += [k for k in range(self.n_people) if self.father[k] == j or self.mother[k] == j]
            for k in linked:
                if k not in seen:
                    seen.add(k)
                    stack.append(k)
        return {self.ids[j] for j in seen}

    def records(self) -> list[tuple]:
        """``(family, id, father_or_None, mother_or_None, sex)`` per person (as :meth:`from_records` takes)."""
        return [(self.family[i], p, self.ids[self.father[i]] if self.father[i] >= 0 else None,
                 self.ids[self.mother[i]] if self.mother[i] >= 0 else None, int(self.sex[i]))
                for i, p in enumerate(self.ids)]

    def with_people(self, records, source: str = "pedigree") -> Pedigree:
        """A copy with the people of ``records`` (tuples as :meth:`from_records` takes) added."""
        return Pedigree.from_records([*self.records(), *records], source=source)

    @classmethod
    def from_records(cls, records, source: str = "pedigree") -> Pedigree:
        """Build from ``(family, id, father_or_None, mother_or_None, sex)`` tuples.

        Raises
        ------
        FormatError
            For a duplicate ID, a parent who is not listed, a parent of the wrong sex,
            a person who is their own ancestor (a cycle), naming ``source``.
        """
        records = list(records)
        by_id = {}
        for r in records:
            if r[1] in by_id:
                raise FormatError(f"{source}: individual {r[1]!r} listed twice")
            by_id[r[1]] = r
        for _fam, pid, pat, mat, _sex in records:
            for role, parent in (("father", pat), ("mother", mat)):
                if parent is None:
                    continue
                if parent not in by_id:
                    raise FormatError(f"{source}: {role} {parent!r} of {pid!r} is not listed as an individual")
                psex = by_id[parent][4]
                want = SEX_MALE if role == "father" else SEX_FEMALE
                if psex not in (SEX_UNKNOWN, want):
                    raise FormatError(f"{source}: {parent!r} is the {role} of {pid!r} but has sex code {psex}")
        order, state = [], {}

        def visit(pid, path):
            if state.get(pid) == 2:
                return
            if state.get(pid) == 1:
                cycle = " -> ".join([*path[path.index(pid):], pid])
                raise FormatError(f"{source}: pedigree cycle: {cycle}")
            state[pid] = 1
            for parent in by_id[pid][2:4]:
                if parent is not None:
                    visit(parent, [*path, pid])
            state[pid] = 2
            order.append(pid)

        for r in records:
            visit(r[1], [])
        index = {pid: i for i, pid in enumerate(order)}
        father = np.array([index.get(by_id[p][2], -1) if by_id[p][2] else -1 for p in order], dtype=np.int32)
        mother = np.array([index.get(by_id[p][3], -1) if by_id[p][3] else -1 for p in order], dtype=np.int32)
        sex = np.array([by_id[p][4] for p in order], dtype=np.int8)
        return cls(tuple(order), father, mother, sex, tuple(by_id[p][0] for p in order))


def read_ped(path) -> Pedigree:
    """Read a PLINK PED file (see module docstring).

    Raises
    ------
    InputError
        If the file does not exist.
    FormatError
        If a line has fewer than 5 fields, a bad sex code, or the family is inconsistent;
        the message names the file and line.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: pedigree file not found")
    records, first_line = [], {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            f = line.split()
            if len(f) < 5:
                raise FormatError(f"{path}:{lineno}: expected at least 5 fields "
                                  f"(FID IID PAT MAT SEX [PHENOTYPE]), found {len(f)}: {line.strip()!r}")
            if f[4] not in ("0", "1", "2", "-9"):
                raise FormatError(f"{path}:{lineno}: sex must be 1 (male), 2 (female) or 0 (unknown), found {f[4]!r}")
            if f[1] in (f[2], f[3]):
                raise FormatError(f"{path}:{lineno}: {f[1]!r} is listed as their own parent")
            if f[1] in first_line:
                raise FormatError(f"{path}:{lineno}: individual {f[1]!r} listed twice (first on line "
                                  f"{first_line[f[1]]})")
            first_line[f[1]] = lineno
            records.append((f[0], f[1], None if f[2] == "0" else f[2], None if f[3] == "0" else f[3],
                            0 if f[4] == "-9" else int(f[4])))
    if not records:
        raise FormatError(f"{path}: no individuals in pedigree file")
    return Pedigree.from_records(records, source=str(path))


def write_ped(pedigree: Pedigree, path, phenotype: int = 0) -> None:
    """Write a PLINK PED file atomically (phenotype column set to ``phenotype``)."""
    lines = []
    for i, pid in enumerate(pedigree.ids):
        f, m = pedigree.father[i], pedigree.mother[i]
        lines.append("\t".join([pedigree.family[i], pid, pedigree.ids[f] if f >= 0 else "0",
                                pedigree.ids[m] if m >= 0 else "0", str(int(pedigree.sex[i])), str(phenotype)]))
    write_text_atomic(path, "\n".join(lines) + "\n")
