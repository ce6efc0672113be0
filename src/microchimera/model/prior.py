"""Genotype priors of the people in a mixture, from a pedigree, typed relatives and AF.

The people whose DNA is in the sample (the *members*: host first, then donors) may be
typed (a VCF genotype) or untyped.  Untyped people are summed out: every joint genotype
configuration of the untyped people of the (pruned) pedigree is enumerated as a column
of a ``(n_sites, 3**u)`` array, weighted by Hardy–Weinberg founders and Mendelian
transmission, conditioned on the typed genotypes, and marginalised onto the untyped
*members*.  All of it is vectorised over sites; the only Python loops run over people.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..conventions import GENOTYPE_DTYPE, GENOTYPE_MISSING
from ..errors import InputError, ModelError
from ..io.pedigree import Pedigree

logger = logging.getLogger(__name__)

#: Most untyped people summed out jointly (3**8 = 6561 configurations per site).
MAX_UNTYPED = 8
#: A typed child contradicting Mendel with typed parents at more than this share of
#: sites (and at least MENDEL_MIN_ERRORS sites) means the pedigree is wrong.
MENDEL_MAX_RATE = 0.05
MENDEL_MIN_ERRORS = 10
_CHUNK_CELLS = 1 << 22


def _transmission() -> np.ndarray:
    """``T[g_father, g_mother, g_child]`` = P(child | parents) for alt dosages 0..2."""
    t = np.array([0.0, 0.5, 1.0])
    tf, tm = t[:, None], t[None, :]
    out = np.empty((3, 3, 3))
    out[..., 0] = (1 - tf) * (1 - tm)
    out[..., 1] = tf * (1 - tm) + (1 - tf) * tm
    out[..., 2] = tf * tm
    return out


TRANSMISSION = _transmission()
with np.errstate(divide="ignore"):
    _LOG_T = np.log(TRANSMISSION)


def hwe(af: np.ndarray) -> np.ndarray:
    """Hardy–Weinberg genotype probabilities, float64 (n_sites, 3), from alt frequency ``af`` (n_sites,)."""
    q = np.asarray(af, dtype=np.float64)
    return np.stack([(1 - q) ** 2, 2 * q * (1 - q), q * q], axis=-1)


@dataclass(frozen=True)
class GenotypePrior:
    """P(genotypes of the untyped members | typed relatives, AF), per site.

    Attributes
    ----------
    members : tuple of str
        Host first, then donors.
    typed : ndarray, bool, shape (n_members,)
    config_genotypes : ndarray, int8, shape (n_members, n_configs)
        Genotype of each untyped member in each configuration; -1 for typed members.
    weights : ndarray, float64, shape (n_sites, n_configs)
        Prior probability of each configuration (rows sum to 1 on valid sites).
    valid : ndarray, bool, shape (n_sites,)
        Sites where the prior is defined (typed relatives called, Mendel-consistent, AF known).
    untyped_people : tuple of str
        Everyone summed out (members and non-members).
    dropped : dict
        Sites not valid, by reason.
    """

    members: tuple
    typed: np.ndarray
    config_genotypes: np.ndarray
    weights: np.ndarray
    valid: np.ndarray
    untyped_people: tuple
    dropped: dict = field(default_factory=dict)

    @property
    def n_configs(self) -> int:
        return self.config_genotypes.shape[1]


def relevant_people(pedigree: Pedigree, members, typed) -> list[str]:
    """People whose genotypes matter for the members, in parents-first order.

    Keeps the connected family of the members, then repeatedly drops untyped
    non-members with no children left (they sum to one).
    """
    members, typed = set(members), set(typed)
    idx = {p: i for i, p in enumerate(pedigree.ids)}
    neigh = {p: set() for p in pedigree.ids}
    for i, p in enumerate(pedigree.ids):
        for j in (pedigree.father[i], pedigree.mother[i]):
            if j >= 0:
                neigh[p].add(pedigree.ids[j])
                neigh[pedigree.ids[j]].add(p)
    keep, stack = set(), list(members)
    while stack:
        p = stack.pop()
        if p not in keep:
            keep.add(p)
            stack.extend(neigh[p] - keep)
    changed = True
    while changed:
        changed = False
        for p in list(keep):
            if p in members or p in typed:
                continue
            i = idx[p]
            has_child = any(pedigree.ids[j] in keep for j in range(pedigree.n_people)
                            if pedigree.father[j] == i or pedigree.mother[j] == i)
            if not has_child:
                keep.discard(p)
                changed = True
    return [p for p in pedigree.ids if p in keep]


def mendel_errors(pedigree: Pedigree, genotypes: dict) -> list[dict]:
    """Mendelian inconsistencies of each typed child with its typed parent(s).

    Parameters
    ----------
    genotypes : dict str -> ndarray int8 (n_sites,)
        Dosages of typed people (``-1`` missing).

    Returns
    -------
    list of dict
        ``child``, ``parents``, ``errors``, ``checked`` per typed child with a typed parent.
    """
    out = []
    for i, child in enumerate(pedigree.ids):
        if child not in genotypes:
            continue
        parents = [pedigree.ids[j] for j in (pedigree.father[i], pedigree.mother[i])
                   if j >= 0 and pedigree.ids[j] in genotypes]
        if not parents:
            continue
        gc = genotypes[child]
        ok = gc >= 0
        gps = [genotypes[p] for p in parents]
        for g in gps:
            ok &= g >= 0
        if len(gps) == 2:
            prob = TRANSMISSION[np.where(ok, gps[0], 0), np.where(ok, gps[1], 0), np.where(ok, gc, 0)]
            bad = ok & (prob == 0)
        else:
            bad = ok & (np.abs(gc.astype(np.int16) - gps[0]) == 2)
        out.append({"child": child, "parents": parents, "errors": int(bad.sum()), "checked": int(ok.sum())})
    return out


def check_mendel(pedigree: Pedigree, genotypes: dict) -> list[dict]:
    """Raise if a typed child contradicts Mendel with its parents at many sites.

    Raises
    ------
    InputError
        Naming the child, its parents, and the error count (a wrong pedigree or sample swap).
    """
    report = mendel_errors(pedigree, genotypes)
    for r in report:
        if r["checked"] and r["errors"] >= MENDEL_MIN_ERRORS and r["errors"] > MENDEL_MAX_RATE * r["checked"]:
            raise InputError(
                f"{r['child']!r} contradicts Mendelian inheritance from {' and '.join(map(repr, r['parents']))} "
                f"at {r['errors']} of {r['checked']} sites ({100 * r['errors'] / r['checked']:.1f}%, "
                f"more than {100 * MENDEL_MAX_RATE:.0f}%): the pedigree or the sample names are wrong")
    return report


def _urn_log_terms(q: np.ndarray, theta: float, n_alleles: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative Balding–Nichols (Pólya urn) log factors, float64 ``(n_sites, n_alleles + 1)``.

    ``A[:, k] = sum_{i<k} log(i*theta + (1-theta)*q)`` and ``B`` the same with ``1 - q``: a
    sequence of ``n`` alleles drawn from a population of alt frequency ``q`` drifted by
    ``theta`` holds ``k`` alt alleles with probability
    ``exp(A[k] + B[n-k]) / prod_{m<n} (1 + (m-1)*theta)`` (the denominator is the same for
    every configuration of a site and cancels).  ``theta = 0`` gives ``q**k (1-q)**(n-k)``.
    """
    i = np.arange(n_alleles, dtype=np.float64)[None, :]
    qq = q[:, None]
    with np.errstate(divide="ignore"):
        a = np.log(i * theta + (1.0 - theta) * qq)
        b = np.log(i * theta + (1.0 - theta) * (1.0 - qq))
    zero = np.zeros((len(q), 1))
    return np.concatenate([zero, np.cumsum(a, axis=1)], axis=1), np.concatenate([zero, np.cumsum(b, axis=1)], axis=1)


#: log P(a parent of alt dosage g passes t alt alleles), ``[g, t]`` for t in 0, 1.
with np.errstate(divide="ignore"):
    _LOG_PASS = np.log(np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]))
_LOG_CHOOSE2 = np.log(np.array([1.0, 2.0, 1.0]))


def genotype_prior(pedigree: Pedigree, genotypes: dict, members, af: np.ndarray,
                   n_sites: int | None = None, founder_af=None, theta: float = 0.0) -> GenotypePrior:
    """Prior over the genotypes of the untyped members at every site.

    Parameters
    ----------
    pedigree : Pedigree
        Must contain every member.
    genotypes : dict str -> ndarray int8 (n_sites,)
        Typed people (dosage, ``-1`` missing); anyone else is untyped.
    members : sequence of str
        Host first, then donors.
    af : ndarray, float64, shape (n_sites,)
        Alt-allele frequency for founders (NaN where unknown: such sites are invalid when
        an untyped founder needs it).
    founder_af : mapping str -> ndarray float64 (n_sites,), optional
        Another AF for some untyped founders (the unknown unrelated contributor keeps the
        pooled AF when the family is given the host's ancestry); the others use ``af``.
        These founders are drawn independently (Hardy–Weinberg), outside the family's
        population.
    theta : float, default 0
        Balding–Nichols drift of the family's population from ``af`` (F_ST; the forensic
        θ of NRC II recommendation 4.1).  The founders' alleles, typed or not, and the
        allele a person with one parent in the PED gets from outside are exchangeable
        draws from a population whose own AF scatters around ``af`` with variance
        ``theta * af * (1 - af)``: a typed host homozygous for ref makes her untyped
        partner's alleles ref more often than ``af`` says.  ``0`` is Hardy–Weinberg on
        ``af`` itself.

    Returns
    -------
    GenotypePrior

    Raises
    ------
    ModelError
        If more than ``MAX_UNTYPED`` people would have to be summed out jointly.

    Notes
    -----
    For a configuration ``c`` of the untyped people ``U`` and the alleles ``a_v`` that
    the people ``v`` with one parent in the PED get from the population::

        P(c | typed) ∝ Urn(alleles of every founder and every a_v; AF, theta)
                       * prod_{founders u in U} C(2, g_u)
                       * prod_{non-founders v} P(g_v | g_father, g_mother)

    where ``Urn`` is the Pólya sequence probability (:func:`_urn_log_terms`); the
    ``a_v`` are summed out.  Sites where the typed genotypes have probability 0 (a Mendel
    error) are invalid.
    """
    members = list(members)
    af = np.asarray(af, dtype=np.float64)
    if not 0.0 <= theta < 1.0:
        raise ModelError(f"theta must be in [0, 1), got {theta}")
    n = len(af) if n_sites is None else n_sites
    typed = {p for p in genotypes if p in pedigree.ids}
    people = relevant_people(pedigree, members, typed)
    untyped = [p for p in people if p not in typed]
    u = len(untyped)
    if u > MAX_UNTYPED:
        raise ModelError(f"{u} untyped relatives would have to be summed out jointly ({', '.join(untyped)}); "
                         f"at most {MAX_UNTYPED} are supported: genotype more of them or drop distant relatives")
    pidx = {p: i for i, p in enumerate(pedigree.ids)}
    own_af = {p: a for p, a in (founder_af or {}).items() if p in untyped}
    n_parents = {p: int(pedigree.father[pidx[p]] >= 0) + int(pedigree.mother[pidx[p]] >= 0) for p in people}
    one_parent = [p for p in people if n_parents[p] == 1]
    urn_founders = [p for p in people if n_parents[p] == 0 and p not in own_af]
    needs_af = bool(one_parent) or any(n_parents[p] == 0 for p in untyped)
    if not needs_af:
        urn_founders = []  # every founder allele typed: the urn is a constant per site
    k1 = len(one_parent)
    n_cfg = 3 ** u * 2 ** k1
    cfg = np.arange(n_cfg)
    digits = ((cfg[None, :] // (3 ** np.arange(u))[:, None]) % 3).astype(np.int64)
    hidden = ((cfg[None, :] // (3 ** u * 2 ** np.arange(k1))[:, None]) % 2).astype(np.int64)
    uindex = {p: j for j, p in enumerate(untyped)}
    member_untyped = [p for p in members if p not in typed]
    n_mcfg = 3 ** len(member_untyped)
    mcol = np.zeros(n_cfg, dtype=np.int64)
    for t, p in enumerate(member_untyped):
        mcol += digits[uindex[p]] * 3 ** t
    marg = np.zeros((n_cfg, n_mcfg))
    marg[np.arange(n_cfg), mcol] = 1.0
    mdigits = ((np.arange(n_mcfg)[None, :] // (3 ** np.arange(len(member_untyped)))[:, None]) % 3)
    config_genotypes = np.full((len(members), n_mcfg), GENOTYPE_MISSING, dtype=GENOTYPE_DTYPE)
    for t, p in enumerate(member_untyped):
        config_genotypes[members.index(p)] = mdigits[t]

    valid = np.ones(n, dtype=bool)
    dropped = {}
    missing_gt = np.zeros(n, dtype=bool)
    for p in people:
        if p in typed:
            missing_gt |= genotypes[p] < 0
    if missing_gt.any():
        dropped["genotype_missing"] = int(missing_gt.sum())
    valid &= ~missing_gt
    if needs_af:
        no_af = ~np.isfinite(af) & valid
        if no_af.any():
            dropped["af_missing"] = int(no_af.sum())
        valid &= np.isfinite(af)
    n_urn = 2 * len(urn_founders) + k1
    weights = np.zeros((n, n_mcfg))
    chunk = max(1, _CHUNK_CELLS // (n_cfg * max(1, n_urn)))
    n_mendel = 0
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        nc = sl.stop - sl.start
        rows = np.arange(nc)[:, None]
        geno = {}
        for p in people:
            if p in typed:
                geno[p] = np.maximum(genotypes[p][sl], 0).astype(np.int64)[:, None]
            else:
                geno[p] = digits[uindex[p]][None, :]
        logp = np.zeros((nc, n_cfg))
        urn_alt = np.zeros((nc, n_cfg), dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            for p in people:
                i = pidx[p]
                fa, mo = pedigree.father[i], pedigree.mother[i]
                g = geno[p]
                if n_parents[p] == 2:
                    logp = logp + _LOG_T[geno[pedigree.ids[fa]], geno[pedigree.ids[mo]], g]
                elif n_parents[p] == 1:
                    par = geno[pedigree.ids[fa if fa >= 0 else mo]]
                    a = hidden[one_parent.index(p)][None, :]
                    t = g - a
                    ok_t = (t >= 0) & (t <= 1)
                    logp = logp + np.where(ok_t, _LOG_PASS[par, np.clip(t, 0, 1)], -np.inf)
                    urn_alt = urn_alt + a
                elif p in own_af:
                    a = own_af[p][sl]
                    q_own = np.clip(np.where(np.isfinite(a), a, 0.5), 0.0, 1.0)
                    logp = logp + np.log(hwe(q_own))[rows, g]
                elif p in urn_founders:
                    urn_alt = urn_alt + g
                    if p not in typed:
                        logp = logp + _LOG_CHOOSE2[g]
            if n_urn:
                q = np.clip(np.where(np.isfinite(af[sl]), af[sl], 0.5), 0.0, 1.0)
                cum_a, cum_b = _urn_log_terms(q, theta, n_urn)
                logp = logp + (np.take_along_axis(cum_a, urn_alt, axis=1)
                               + np.take_along_axis(cum_b, n_urn - urn_alt, axis=1))
        top = logp.max(axis=1)
        ok = np.isfinite(top)
        w = np.exp(logp - np.where(ok, top, 0.0)[:, None])
        w /= np.where(ok, w.sum(axis=1), 1.0)[:, None]
        bad = ~ok & valid[sl]
        n_mendel += int(bad.sum())
        valid[sl] &= ok
        weights[sl] = w @ marg
    if n_mendel:
        dropped["mendel_inconsistent"] = n_mendel
    weights[~valid] = 0.0
    return GenotypePrior(tuple(members), np.array([p in typed for p in members]), config_genotypes,
                         weights, valid, tuple(untyped), dropped)


def estimate_af_from_founders(pedigree: Pedigree, genotypes: dict) -> np.ndarray:
    """Alt frequency per site from the typed founders (NaN where none is called).

    Raises
    ------
    InputError
        If no founder of the pedigree is typed.
    """
    founders = [p for i, p in enumerate(pedigree.ids)
                if pedigree.father[i] < 0 and pedigree.mother[i] < 0 and p in genotypes]
    if not founders:
        raise InputError("allele frequencies are missing (no INFO/AF in the sites, counts or genotypes) "
                         "and no founder of the pedigree is genotyped to estimate them from")
    g = np.stack([genotypes[p] for p in founders]).astype(np.float64)
    called = g >= 0
    n_called = called.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        af = np.where(called, g, 0).sum(axis=0) / (2.0 * n_called)
    # Shrink towards 1/2 so that a founder-monomorphic site keeps a non-zero prior.
    return np.where(n_called > 0, (af * 2 * n_called + 0.5) / (2 * n_called + 1), np.nan)
