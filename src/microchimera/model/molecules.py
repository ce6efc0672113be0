"""Molecules, not sites: the likelihood of fragments that show alleles at several sites.

A fragment (read pair) covering several informative sites is one molecule: it came from
the host or from one donor, and from one of that person's two haplotypes.  The site model
counts its alleles as independent reads, which pseudo-replicates it (a 140-bp amplicon
read at 30 sites is counted 30 times) and throws away the strongest evidence there is:
a donor allele at two sites of one molecule is about ``e^2`` as sequencing error, not ``e``.

Which observations are molecules
    A site is *eligible* when the host is homozygous and every named person's genotype is
    certain there (one configuration, up to the unknown contributor's genotype), and every
    donor that is not a parent or child of the host is homozygous there.  A fragment's
    observations (ref or alt; other bases are dropped) at eligible sites form a molecule;
    they leave the site counts, and everything else stays in the site model.  At a host-
    homozygous site the phase of a parent or child donor is known: the allele the host
    lacks sits on the donor's haplotype the host did not share (for any other donor the
    phase is unknown, hence the homozygous-only rule).

Likelihood of molecule ``j`` with observations ``o_i`` at sites ``i`` (host allele ``H_i``)::

    L_j = (1 - sum f) P(o | host) + sum_k f_k P(o | donor k)
    P(o | host)    = prod_i q_i(H_i)
    P(o | donor k) = 1/2 prod_i q_i(h1_ki) + 1/2 prod_i q_i(h2_ki)
                     h1: the allele the host lacks where the donor is homozygous for it;
                     h2: the allele the host lacks wherever the donor carries it
    P(o | unknown contributor) = prod_i (p_i q_i(alt) + (1 - p_i) q_i(ref))
    q_i(ref) = P(o_i | true ref) = e_ra or 1 - e_ra;  q_i(alt) = 1 - e_ar or e_ar

with the site's class error rates ``e_ra`` (ref read as alt) and ``e_ar``, and ``p_i`` the
population allele frequency: the unknown contributor's molecules are modelled as drawn
from the population each on its own (its genotype is not shared between its molecules, as
it is in the site model; it is a nuisance component).  No overdispersion and no reference
bias enter a molecule (``rho`` and the het share are properties of site counts).  A
molecule with one observation is exactly a binomial read of the site model at ``rho = 0``
and het share 1/2 (tested).

Computed as ``log L_j = log P(o | host) + log(1 - sum f + sum_k f_k R_jk)`` with the
likelihood ratios ``R_jk = P(o | k) / P(o | host)`` on a log scale (``log R`` capped at
``LOG_RATIO_CAP``), and exact first and second derivatives in ``f`` and in ``log kappa``
(a common multiplier of the error rates, taken at 1).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

#: Cap on a molecule's log likelihood ratio donor/host: e^300 is beyond any evidence that
#: matters (about 40 donor alleles at error 1e-3) and keeps the Hessian's squares finite.
LOG_RATIO_CAP = 300.0
#: Marker in :attr:`MoleculeData.dose` of a component drawn from the population AF.
POPULATION = -1


@dataclass(frozen=True)
class MoleculeData:
    """Observations of multi-site molecules at eligible sites, sorted by molecule.

    Attributes
    ----------
    mol : ndarray, int64, shape (n_obs,)
        Molecule of each observation (0..n_molecules-1, non-decreasing).
    site : ndarray, int64, shape (n_obs,)
        Site (index into the :class:`~.likelihood.ModelData`'s sites).
    alt : ndarray, bool, shape (n_obs,)
        The base read is the alt allele (else ref).
    host_alt : ndarray, bool, shape (n_obs,)
        The host is homozygous alt there (else homozygous ref).
    cls : ndarray, int64, shape (n_obs,)
        The site's error class (``REF>ALT``; the likelihood's ``combo_class``).
    dose : ndarray, int8, shape (n_components, n_obs)
        Copies of the allele the host lacks in each component (0, 1, 2), or ``POPULATION``.
    af : ndarray, float64, shape (n_obs,)
        Population alt allele frequency at the site (for ``POPULATION`` components).
    weight : ndarray, float64, shape (n_molecules,)
        How many molecules showed this pattern (identical molecules are kept once:
        :func:`collapse_molecules`; their terms are multiplied by it).
    """

    mol: np.ndarray
    site: np.ndarray
    alt: np.ndarray
    host_alt: np.ndarray
    cls: np.ndarray
    dose: np.ndarray
    af: np.ndarray
    weight: np.ndarray

    @property
    def n_obs(self) -> int:
        """Observations of the distinct molecule patterns."""
        return len(self.mol)

    @property
    def total_molecules(self) -> int:
        return int(self.weight.sum())

    @property
    def total_observations(self) -> int:
        return int(self.weight[self.mol].sum())

    @property
    def n_molecules(self) -> int:
        return int(self.mol[-1]) + 1 if len(self.mol) else 0

    @property
    def first_site(self) -> np.ndarray:
        """int64 (n_molecules,): site of each molecule's first observation (its score goes there,
        so the block jackknife keeps a molecule whole)."""
        starts = np.flatnonzero(np.r_[True, np.diff(self.mol) != 0]) if len(self.mol) else np.zeros(0, np.int64)
        return self.site[starts]

    def subset(self, site_mask: np.ndarray) -> MoleculeData:
        """The observations at the sites kept by ``site_mask`` (bool over the old sites), sites
        renumbered as :meth:`ModelData.subset` does; molecules left with no observation go,
        a molecule left with one is a single read (exact)."""
        keep = site_mask[self.site]
        new_site = np.cumsum(site_mask) - 1
        kept, mol = np.unique(self.mol[keep], return_inverse=True)
        return MoleculeData(mol.astype(np.int64), new_site[self.site[keep]], self.alt[keep], self.host_alt[keep],
                            self.cls[keep], self.dose[:, keep], self.af[keep], self.weight[kept])

    def site_counts(self, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
        """ref+alt and alt observations per site (every molecule), float64 (n_sites,) each."""
        w = self.weight[self.mol]
        n = np.bincount(self.site, weights=w, minlength=n_sites)
        x = np.bincount(self.site, weights=w * self.alt, minlength=n_sites)
        return n, x


@dataclass(frozen=True)
class MoleculeTerms:
    """The molecules' part of the log-likelihood at one point.

    ``grad`` (D,), ``hess`` (D, D) and ``score`` (n_molecules, D) are over ``f`` (and last
    ``log kappa`` when asked); None at order 0.  ``loglik`` (n_molecules,) per molecule.
    """

    total: float
    loglik: np.ndarray
    grad: np.ndarray | None = None
    hess: np.ndarray | None = None
    score: np.ndarray | None = None


def _observation_terms(m: MoleculeData, error_rate: np.ndarray, swap: np.ndarray):
    """Per observation: P(o | true ref), P(o | true alt) and their log-kappa derivatives
    (which are also their second derivatives: q = kappa e or 1 - kappa e)."""
    e_ra = error_rate[m.cls]
    e_ar = error_rate[swap[m.cls]]
    qr = np.where(m.alt, e_ra, 1.0 - e_ra)
    qa = np.where(m.alt, 1.0 - e_ar, e_ar)
    dqr = np.where(m.alt, e_ra, -e_ra)
    dqa = np.where(m.alt, -e_ar, e_ar)
    return np.clip(qr, 1e-300, None), np.clip(qa, 1e-300, None), dqr, dqa


def _log_terms(q, dq):
    """log q and its first and second log-kappa derivatives (q'' = q')."""
    d1 = dq / q
    return np.log(q), d1, d1 - d1 * d1


def molecule_terms(m: MoleculeData, error_rate: np.ndarray, swap: np.ndarray, f, order: int = 0,
                   kappa: bool = False) -> MoleculeTerms:
    """Log-likelihood of the molecules at fractions ``f`` (n_components,), with the gradient,
    Hessian and per-molecule scores at ``order`` >= 1 (the Hessian at 2), in ``f`` and, with
    ``kappa``, in ``log kappa`` as the last parameter (see the module notes).  Per-molecule
    values are per distinct pattern, already multiplied by its :attr:`~MoleculeData.weight`."""
    f = np.asarray(f, dtype=np.float64)
    n_mol = m.n_molecules
    n_comp = len(f)
    qr, qa, dqr, dqa = _observation_terms(m, error_rate, swap)
    qh = np.where(m.host_alt, qa, qr)
    dqh = np.where(m.host_alt, dqa, dqr)
    qn = np.where(m.host_alt, qr, qa)
    dqn = np.where(m.host_alt, dqr, dqa)
    lh, lh1, lh2 = _log_terms(qh, dqh)
    ln, ln1, ln2 = _log_terms(qn, dqn)

    def per_mol(w):
        return np.bincount(m.mol, weights=w, minlength=n_mol)

    log_host = per_mol(lh)
    # Per component: patterns (prior weight, A, A', A'') of log P(o | pattern) / P(o | host).
    patterns = []
    for k in range(n_comp):
        dose = m.dose[k]
        if (dose == POPULATION).all():
            num = m.af * qa + (1.0 - m.af) * qr
            dnum = m.af * dqa + (1.0 - m.af) * dqr
            lnum, lnum1, lnum2 = _log_terms(num, dnum)
            patterns.append([(1.0, per_mol(lnum - lh), per_mol(lnum1 - lh1), per_mol(lnum2 - lh2))])
            continue
        comp = []
        for carried in (dose == 2, dose >= 1):
            comp.append((0.5, per_mol(carried * (ln - lh)), per_mol(carried * (ln1 - lh1)),
                         per_mol(carried * (ln2 - lh2))))
        patterns.append(comp)
    top = np.zeros(n_mol)
    for comp in patterns:
        for _, a, _, _ in comp:
            np.minimum(a, LOG_RATIO_CAP, out=a)
            np.maximum(top, a, out=top)
    es = np.exp(-top)
    rt = np.empty((n_mol, n_comp))
    rt1 = np.empty((n_mol, n_comp))
    rt2 = np.empty((n_mol, n_comp))
    for k, comp in enumerate(patterns):
        rt[:, k] = sum(w * np.exp(a - top) for w, a, _, _ in comp)
        if order > 0 and kappa:
            rt1[:, k] = sum(w * np.exp(a - top) * a1 for w, a, a1, _ in comp)
            rt2[:, k] = sum(w * np.exp(a - top) * (a2 + a1 * a1) for w, a, a1, a2 in comp)
    # The host's share 1 - sum f, held at 0 where a profile that fixes one fraction asks for
    # more than the others leave (sum f > 1; the site model clips its read probabilities there).
    host = 1.0 - float(f.sum())
    if host < 0.0:
        host, es = 0.0, np.zeros_like(es)
    mt = host * es + rt @ f
    w = m.weight
    ll = w * (log_host + top + np.log(mt))
    total = float(ll.sum())
    if order == 0:
        return MoleculeTerms(total, ll)
    gf = (rt - es[:, None]) / mt[:, None]
    score = gf * w[:, None]
    if kappa:
        fr1 = (rt1 @ f) / mt
        gk = per_mol(lh1) + fr1
        score = np.column_stack([score, w * gk])
    grad = score.sum(axis=0)
    if order == 1:
        return MoleculeTerms(total, ll, grad, None, score)
    hess = -(gf.T @ (gf * w[:, None]))
    if kappa:
        cross = w @ (rt1 / mt[:, None] - gf * fr1[:, None])
        kk = float(w @ (per_mol(lh2) + (rt2 @ f) / mt - fr1 * fr1))
        hess = np.block([[hess, cross[:, None]], [cross[None, :], np.array([[kk]])]])
    return MoleculeTerms(total, ll, grad, hess, score)


def groups_by_length(group: np.ndarray):
    """The records of ``group`` (int64, non-decreasing ids 0..n-1 per element, e.g. each
    observation's molecule) by their number of elements: yields ``(length, which, index)``
    with ``which`` the ids of that length and ``index`` (int, (len(which), length)) their
    elements' positions, so a length's records form one dense matrix (``values[index]``)."""
    size = np.bincount(group) if len(group) else np.zeros(0, np.int64)
    start = np.cumsum(size) - size
    for ln in np.unique(size):
        if ln == 0:
            continue
        which = np.flatnonzero(size == ln)
        yield int(ln), which, start[which][:, None] + np.arange(ln)[None, :]


def collapse_molecules(mol: np.ndarray, site: np.ndarray, alt: np.ndarray) -> tuple:
    """Identical molecules (the same observations: sites and alleles) kept once.

    ``mol`` (int64, sorted, 0..n-1), ``site``, ``alt`` per observation, sorted by site within
    a molecule.  Returns ``(mol, site, alt, weight)`` of the distinct patterns (sorted by
    molecule, then site) and how many molecules showed each.  Molecules are grouped by their
    number of observations (:func:`groups_by_length`) and made unique row-wise, so memory
    stays that of the input.
    """
    code = site.astype(np.int64) * 2 + alt
    out_site, out_alt, out_w, out_len = [], [], [], []
    for ln, _, index in groups_by_length(mol):
        uniq, counts = np.unique(code[index], axis=0, return_counts=True)
        out_site.append((uniq // 2).ravel())
        out_alt.append((uniq % 2).astype(bool).ravel())
        out_w.append(counts.astype(np.float64))
        out_len.append(np.full(len(uniq), ln, np.int64))
    if not out_w:
        return mol, site, alt, np.zeros(0)
    lengths = np.concatenate(out_len)
    new_mol = np.repeat(np.arange(len(lengths)), lengths)
    return new_mol.astype(np.int64), np.concatenate(out_site), np.concatenate(out_alt), np.concatenate(out_w)


def eligible_sites(data, cis: np.ndarray, population: np.ndarray) -> np.ndarray:
    """bool (n_sites,) over ``data``'s sites: where molecules are modelled (module notes).

    ``cis`` (bool, n_components): the donor is a parent or child of the host (phase known);
    ``population`` (bool, n_components): the component is drawn from the population (its
    genotype does not enter eligibility).
    """
    named = ~np.asarray(population, dtype=bool)
    gh = data.combo_gh[data.entry_combo]
    dose = np.abs(data.combo_delta[named][:, data.entry_combo]).astype(np.int64)
    pattern = gh.astype(np.int64)
    for row in dose:
        pattern = pattern * 3 + row
    starts = data.starts
    same = np.minimum.reduceat(pattern, starts) == np.maximum.reduceat(pattern, starts)
    first = starts
    ok = same & np.isin(data.combo_gh[data.entry_combo[first]], (0.0, 2.0))
    for row, is_cis in zip(dose, np.asarray(cis, dtype=bool)[named], strict=True):
        if not is_cis:
            ok &= row[first] != 1
    return ok


def attach_molecules(data, sample_site: np.ndarray, fragment: np.ndarray, allele: np.ndarray,
                     eligible: np.ndarray, population, af: np.ndarray):
    """``data`` (a :class:`~.likelihood.ModelData` over the sample's full site counts) with the
    molecules of a fragments table moved out of its site counts into :attr:`molecules`.

    ``sample_site`` (int64, n_rows): each fragment row's site in the *original* site table
    (-1: not a site of the table); ``fragment`` (int64) the fragment ids; ``allele`` (int8:
    0 ref, 1 alt, 2 other); ``eligible`` (bool, over ``data``'s sites) the sites of
    :func:`eligible_sites`; ``population`` (bool, n_components) the components drawn from
    the population; ``af`` (float64, n_all_sites) the population AF.  Rows at sites not in
    ``data``, at ineligible sites or showing another base are left out; a fragment with
    fewer than two observations left stays in the site counts.

    Raises ``ValueError`` when the fragments show more reads at a site than the counts (they
    are from another sample or another count).
    """
    pos_in_data = np.full(int(max(data.site_index.max(initial=-1), sample_site.max(initial=-1))) + 2, -1,
                          dtype=np.int64)
    pos_in_data[data.site_index] = np.arange(data.n_sites)
    site = np.where(sample_site >= 0, pos_in_data[np.maximum(sample_site, 0)], -1)
    use = (site >= 0) & (allele <= 1)
    use[use] = eligible[site[use]]
    frag = fragment[use]
    site = site[use]
    alt = allele[use] == 1
    order = np.lexsort((site, frag))
    frag, site, alt = frag[order], site[order], alt[order]
    _, mol, per = np.unique(frag, return_inverse=True, return_counts=True)
    multi = per[mol] >= 2
    frag, site, alt = frag[multi], site[multi], alt[multi]
    _, mol = np.unique(frag, return_inverse=True)
    mol, site, alt, weight = collapse_molecules(mol.astype(np.int64), site, alt)
    first = data.starts[site]
    combo = data.entry_combo[first]
    comp_pop = np.asarray(population, dtype=bool)
    dose = np.abs(data.combo_delta[:, combo]).astype(np.int8)
    dose[comp_pop] = POPULATION
    m = MoleculeData(mol.astype(np.int64), site.astype(np.int64), alt, data.combo_gh[combo] == 2.0,
                     data.combo_class[combo].astype(np.int64), dose,
                     np.asarray(af, dtype=np.float64)[data.site_index[site]], weight)
    mn, mx = m.site_counts(data.n_sites)
    n, x = data.n - mn, data.x - mx
    if (n < 0).any() or (x < 0).any() or (x > n).any():
        bad = int(np.flatnonzero((n < 0) | (x < 0) | (x > n))[0])
        raise ValueError(f"site {int(data.site_index[bad])}: the fragments show {int(mn[bad])} ref/alt reads "
                         f"({int(mx[bad])} alt) where the counts have {int(data.n[bad])} ({int(data.x[bad])} alt)")
    return dataclasses.replace(data, n=n, x=x, molecules=m)._with_keys()
