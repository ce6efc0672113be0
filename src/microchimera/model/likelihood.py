"""The mixture likelihood of DESIGN.md, vectorised over sites.

A site's likelihood sums over the genotype configurations of the untyped members (the
prior of :mod:`microchimera.model.prior`).  The data are stored as *entries*: one per
(site, configuration) with non-zero prior weight, sorted by site.  The beta-binomial
terms depend on a site only through ``(n, x)`` and on a configuration only through the
members' genotypes and the substitution class (a *combo*), so they are evaluated once
per distinct ``(n, x, combo)`` *key* and gathered; a million sites cost a few hundred
thousand special-function calls per evaluation.

Notes
-----
At site ``i`` with ``n_i`` ref+alt reads of which ``x_i`` alt, configuration ``c``
(host dosage ``g_h``, donor dosages ``g_k``), fractions ``f`` and overdispersion ``rho``::

    mu_ic = A(g_h) + sum_k f_k (A(g_k) - A(g_h))      (= (1 - sum f) A(g_h) + sum f_k A(g_k))
    A(g)  = 0, beta, 1 for g = 0, 1, 2                (beta = 1/2 unless reference bias)
    p_ic  = e_ra + (1 - e_ra - e_ar) mu_ic            (= mu(1 - e_ar) + (1 - mu) e_ra)
    P(x | n, p, rho) = B(x + a, n - x + b) / B(a, b),  a = p tau, b = (1 - p) tau, tau = 1/rho - 1
    L_i   = sum_c w_ic P(x_i | n_i, p_ic, rho)

The binomial coefficient is dropped (a constant).  ``rho = 0`` is the binomial.

For repeated evaluation (every fit) the entries are also regrouped once per data
(:class:`EntryLayout`, :attr:`ModelData.layout`); :func:`microchimera.model.fit.evaluation.evaluate`
uses it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ._betabinom import bb_terms
from .molecule_lod import MoleculeOracle
from .molecules import MoleculeData, molecule_terms
from .seqerror import CLASS_NAMES, UNKNOWN_CLASS

_P_EPS = 1e-12


#: Error strata of a panel of normals (:mod:`microchimera.model.pon_rates`): a site with PoN
#: rates gets class ``PON_CLASS0 + b_ra * PON_BINS + b_ar`` from the log-spaced bins of its
#: REF>ALT and ALT>REF rates, so the likelihood's class machinery (one rate per class, the
#: opposite direction by :data:`SWAP_CLASS`) carries per-site rates to within a bin's width.
PON_BINS = 32
PON_CLASS0 = len(CLASS_NAMES)
#: Classes of every kind: the 13 substitution classes, then the PoN strata.
N_CLASSES = PON_CLASS0 + PON_BINS * PON_BINS


def _swap_classes() -> np.ndarray:
    out = np.arange(N_CLASSES)
    for i, name in enumerate(CLASS_NAMES[:UNKNOWN_CLASS]):
        out[i] = CLASS_NAMES.index(f"{name[2]}>{name[0]}")
    b_ra, b_ar = np.divmod(np.arange(PON_BINS * PON_BINS), PON_BINS)
    out[PON_CLASS0:] = PON_CLASS0 + b_ar * PON_BINS + b_ra
    return out


#: Class index of ``Y>X`` for class ``X>Y`` (and of the mirrored stratum of a PoN class).
SWAP_CLASS = _swap_classes()


def bb_logpmf_terms(x, n, p, rho, order: int = 0):
    """Beta-binomial log-pmf (without the binomial coefficient) and its p-derivatives.

    Parameters
    ----------
    x, n : ndarray, float64, shape (m,)
    p : ndarray, float64, shape (m,)
    rho : float, or ndarray float64 (m,)
        Overdispersion in [0, 1); 0 is the binomial.  An array gives each term its own
        (:meth:`ModelData.key_rho`: a panel of normals' uncertain site rates).
    order : int
        0: log-pmf; 1: also d/dp; 2: also d2/dp2.

    Returns
    -------
    tuple of ndarray, shape (m,)
    """
    p = np.clip(p, _P_EPS, 1 - _P_EPS)
    if np.ndim(rho):
        rho = np.asarray(rho, dtype=np.float64)
        zero = rho <= 0
        if zero.all():
            return _binomial_terms(x, n, p, order)
        bb = _bb_terms(x, n, p, np.where(zero, 0.5, rho), order)
        if not zero.any():
            return bb
        return tuple(np.where(zero, b0, b1) for b0, b1 in zip(_binomial_terms(x, n, p, order), bb, strict=True))
    if rho <= 0:
        return _binomial_terms(x, n, p, order)
    return _bb_terms(x, n, p, rho, order)


def _bb_terms(x, n, p, rho, order):
    """The compiled kernel (:func:`._betabinom.bb_terms`) on float64 arrays; ``rho`` a scalar or (m,)."""
    x, n, p = (np.ascontiguousarray(v, dtype=np.float64).ravel() for v in np.broadcast_arrays(x, n, p))
    rho = np.full(1, rho, dtype=np.float64) if np.ndim(rho) == 0 else np.ascontiguousarray(rho, dtype=np.float64)
    return bb_terms(x, n, p, rho, order)


def _binomial_terms(x, n, p, order):
    logp = x * np.log(p) + (n - x) * np.log1p(-p)
    if order == 0:
        return (logp,)
    s1 = x / p - (n - x) / (1 - p)
    if order == 1:
        return logp, s1
    return logp, s1, -x / p**2 - (n - x) / (1 - p) ** 2


@dataclass(frozen=True)
class Evaluation:
    """Log-likelihood at one parameter point.

    Attributes
    ----------
    loglik : float
    site_loglik : ndarray, float64, shape (n_sites,)
    grad : ndarray, float64, shape (n_donors,) or None
    hess : ndarray, float64, shape (n_donors, n_donors) or None
    site_score : ndarray, float64, shape (n_sites, n_donors) or None
        Per-site scores of the site terms (the molecules' are in ``unit_opg``).
    unit_opg : ndarray, float64, shape (n_donors, n_donors) or None
        Sum over the molecules (independent units outside the sites' blocks) of the outer
        products of their scores; None without molecules.
    """

    loglik: float
    site_loglik: np.ndarray
    grad: np.ndarray | None = None
    hess: np.ndarray | None = None
    site_score: np.ndarray | None = None
    unit_opg: np.ndarray | None = None


class EntryLayout:
    """A :class:`ModelData`'s entries regrouped for repeated evaluation.

    Sites with one configuration (posterior weight 1) collapse to a count per key; sites
    with ``c > 1`` configurations form ``(c, m)`` matrices of keys and log weights, so the
    per-site log-sum-exp is a handful of elementwise operations instead of ``reduceat``.
    Depends only on the entries (``entry_site``, ``entry_key``, ``entry_logw``) and the
    numbers of sites and keys, so it is valid for any ``f``, ``rho``, error rates and het
    share, which enter only through the per-key terms.  Get it from :attr:`ModelData.layout`.
    """

    def __init__(self, data: ModelData):
        counts = np.bincount(data.entry_site, minlength=data.n_sites)
        starts = np.cumsum(counts) - counts
        self.n_keys = len(data.key_n)
        one = np.flatnonzero(counts == 1)
        self.single_site = one
        self.single_key = data.entry_key[starts[one]].astype(np.intp)
        self.single_logw = data.entry_logw[starts[one]]
        self.single_logw_sum = float(self.single_logw.sum())
        self.single_count = np.bincount(self.single_key, minlength=self.n_keys).astype(np.float64)
        self.groups = []
        for c in np.unique(counts[counts > 1]):
            site = np.flatnonzero(counts == c)
            idx = starts[site][None, :] + np.arange(c)[:, None]
            self.groups.append((site, data.entry_key[idx].astype(np.intp), data.entry_logw[idx]))


class _LayoutCell:
    """Holder of the :class:`EntryLayout` of one set of entries, built on first use.

    ``sources`` are the arrays the layout is built from; every :class:`ModelData` made with
    these same array objects (``dataclasses.replace`` with other error rates, het share,
    ...) holds the same cell, so the layout is built once for all of them.
    """

    __slots__ = ("sources", "layout")

    def __init__(self, sources: tuple):
        self.sources = sources
        self.layout: EntryLayout | None = None


@dataclass(frozen=True)
class ModelData:
    """Everything the likelihood needs, over the sites kept for the model.

    Attributes
    ----------
    donors : tuple of str, length n_donors
    site_index : ndarray, int64, shape (n_sites,)
        Index of each kept site in the original site table.
    n, x : ndarray, float64, shape (n_sites,)
        ref+alt reads and alt reads.
    block : ndarray, int64, shape (n_sites,)
        Genome block of each site (for the block jackknife).
    entry_site : ndarray, int64, shape (n_entries,)
        Site (0..n_sites-1) of each entry; sorted.
    entry_logw : ndarray, float64, shape (n_entries,)
        Log prior weight of the entry's configuration.
    entry_combo, entry_key : ndarray, int64, shape (n_entries,)
    combo_gh : ndarray, float64, shape (n_combos,)
        Host dosage of each combo.
    combo_delta : ndarray, float64, shape (n_donors, n_combos)
        ``g_k - g_h``.
    combo_class : ndarray, int64, shape (n_combos,)
        Substitution class ``REF>ALT``.
    key_n, key_x : ndarray, float64, shape (n_keys,)
    key_combo : ndarray, int64, shape (n_keys,)
    error_rate : ndarray, float64, shape (13,), or (N_CLASSES,) with a panel of normals
    het_share : float
        Alt share of the reads of a heterozygous person (0.5 without reference bias).
    molecules : MoleculeData or None
        Multi-site molecules (:mod:`microchimera.model.molecules`); their observations are
        not in ``n``/``x``, which then hold the rest of each site's reads
        (:meth:`as_sites` puts them back).
    combo_rho : ndarray, float64, shape (n_combos,), or None
        Extra overdispersion of each combo's reads, added to the fitted ``rho``: the
        uncertainty of a panel of normals' site rates (:func:`~microchimera.model.pon_rates.with_rate_uncertainty`),
        as :meth:`with_pon_variance_at` places it.
    combo_rho_pon : ndarray, float64, shape (n_combos,), or None
        That uncertainty as the panel gives it: the overdispersion of a combo's reads when
        they hold no donor DNA (the error reads alone).

    Copies made with ``dataclasses.replace`` that keep the entry arrays share one
    :attr:`layout`; a copy with other entries (:meth:`subset`) gets its own.
    """

    donors: tuple
    site_index: np.ndarray
    n: np.ndarray
    x: np.ndarray
    block: np.ndarray
    entry_site: np.ndarray
    entry_logw: np.ndarray
    entry_combo: np.ndarray
    entry_key: np.ndarray
    combo_gh: np.ndarray
    combo_delta: np.ndarray
    combo_class: np.ndarray
    key_n: np.ndarray
    key_x: np.ndarray
    key_combo: np.ndarray
    error_rate: np.ndarray
    het_share: float = 0.5
    molecules: MoleculeData | None = None
    combo_rho: np.ndarray | None = None
    combo_rho_pon: np.ndarray | None = None
    _layout: _LayoutCell | None = field(default=None, repr=False, compare=False)
    _sites_view: ModelData | None = field(default=None, init=False, repr=False, compare=False)
    _oracle: MoleculeOracle | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        sources = (self.entry_site, self.entry_key, self.entry_logw, self.n, self.key_n)
        cell = self._layout
        if cell is None or any(a is not b for a, b in zip(cell.sources, sources, strict=True)):
            object.__setattr__(self, "_layout", _LayoutCell(sources))

    @property
    def layout(self) -> EntryLayout:
        """The entries regrouped for repeated evaluation, built on first use (see :class:`EntryLayout`)."""
        cell = self._layout
        if cell.layout is None:
            cell.layout = EntryLayout(self)
        return cell.layout

    @property
    def n_sites(self) -> int:
        return len(self.n)

    def as_sites(self) -> ModelData:
        """The same data for the site model: the molecules' observations back in ``n``/``x``
        (itself when there are none).  The expected-statistic code (LoD, Fisher information,
        outliers, diagnostics) works on site counts and uses this view."""
        if self.molecules is None:
            return self
        if self._sites_view is None:
            mn, mx = self.molecules.site_counts(self.n_sites)
            view = dataclasses.replace(self, n=self.n + mn, x=self.x + mx, molecules=None)._with_keys()
            object.__setattr__(self, "_sites_view", view)
        return self._sites_view

    def molecule_oracle(self) -> MoleculeOracle | None:
        """The molecules' pattern probabilities at this data's error rates (built on first use
        and kept: a copy with other rates or sites gets its own), None without molecules.
        The LoD's expected statistic and the CI's Poisson floor read it."""
        if self.molecules is None or self.molecules.n_obs == 0:
            return None
        if self._oracle is None:
            object.__setattr__(self, "_oracle", MoleculeOracle(self.molecules, self.error_rate, SWAP_CLASS))
        return self._oracle

    def combo_rho_total(self, rho: float):
        """``rho`` plus :attr:`combo_rho` per combo (float, or ndarray (n_combos,); at most 0.5)."""
        return rho if self.combo_rho is None else np.minimum(rho + self.combo_rho, 0.5)

    def with_pon_variance_at(self, f) -> ModelData:
        """The panel's rate uncertainty as the variance of each combo's *error* reads, at
        fractions ``f`` (n_donors,): ``combo_rho = combo_rho_pon * p0 (1 - p0) / (p (1 - p))``
        (at most ``combo_rho_pon``), with ``p0`` the combo's alt share without donor DNA and
        ``p`` at ``f``, so that ``rho p (1 - p)``, the beta-binomial's variance of the share,
        stays the error rate's ``rho_pon p0 (1 - p0)`` whatever the contributors at ``f`` add.

        A fixed ``rho`` scales that variance with a contributor's own reads: a contaminant's
        homozygous sites then look noisy, the contaminant is under-estimated, and what it
        leaves is taken by a named donor (an absent son "detected" in 10 of 40 samples with a
        1e-3 contaminant and a panel, validation/README.md).  quantify places it at the
        unknown contributor's estimate only
        (:func:`~microchimera.model.people.unknown_contributor_only`) and keeps it for all later
        evaluations, so the likelihood ratio tests compare one likelihood.  Itself without a panel.
        """
        if self.combo_rho_pon is None:
            return self
        p0, _ = self.combo_p(np.zeros(self.n_donors))
        p, _ = self.combo_p(f)
        v0 = np.clip(p0 * (1.0 - p0), 1e-300, None)
        v = np.clip(p * (1.0 - p), 1e-300, None)
        return dataclasses.replace(self, combo_rho=self.combo_rho_pon * np.minimum(1.0, v0 / v))

    def key_rho(self, rho: float):
        """The overdispersion of every key's terms: :meth:`combo_rho_total` at each key's combo
        (float, or ndarray float64 (n_keys,))."""
        total = self.combo_rho_total(rho)
        return total if self.combo_rho is None else total[self.key_combo]

    @property
    def n_donors(self) -> int:
        return len(self.donors)

    @property
    def starts(self) -> np.ndarray:
        return np.flatnonzero(np.r_[True, np.diff(self.entry_site) != 0])

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, donors, prior_weights, config_genotypes, typed_dosage, n, x, site_class,
              error_rate, block, site_mask=None) -> ModelData:
        """Assemble model data.

        Parameters
        ----------
        donors : sequence of str
        prior_weights : ndarray, float64, shape (n_all, n_configs)
        config_genotypes : ndarray, int8, shape (n_members, n_configs)
            Untyped members' genotype per configuration (-1 for typed members).
        typed_dosage : dict int -> ndarray int8 (n_all,)
            Member index -> dosage, for typed members.
        n, x : ndarray, shape (n_all,)
        site_class : ndarray, int64, shape (n_all,)
            ``REF>ALT`` class index.
        error_rate : ndarray, float64, shape (13,)
        block : ndarray, int64, shape (n_all,)
        site_mask : ndarray, bool, shape (n_all,), optional
            Sites to keep (also dropped: zero prior weight or no reads).
        """
        n = np.asarray(n, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        keep = (n > 0) & (prior_weights.sum(axis=1) > 0)
        if site_mask is not None:
            keep &= site_mask
        site_index = np.flatnonzero(keep)
        w = prior_weights[site_index]
        es, ec = np.nonzero(w > 0)
        n_members = config_genotypes.shape[0]
        geno = np.empty((n_members, len(es)), dtype=np.int64)
        for m in range(n_members):
            if m in typed_dosage:
                geno[m] = typed_dosage[m][site_index[es]]
            else:
                geno[m] = config_genotypes[m, ec]
        pattern = np.zeros(len(es), dtype=np.int64)
        for m in range(n_members):
            pattern += geno[m] * 3**m
        n_classes = N_CLASSES
        combo_key = pattern * n_classes + np.asarray(site_class)[site_index[es]]
        ukeys, entry_combo = np.unique(combo_key, return_inverse=True)
        combo_class = ukeys % n_classes
        upat = ukeys // n_classes
        ugeno = (upat[None, :] // (3 ** np.arange(n_members))[:, None]) % 3
        combo_gh = ugeno[0].astype(np.float64)
        combo_delta = (ugeno[1:] - ugeno[0]).astype(np.float64)
        data = cls(tuple(donors), site_index, n[site_index], x[site_index], np.asarray(block)[site_index],
                   es.astype(np.int64), np.log(w[es, ec]), entry_combo.astype(np.int64),
                   np.zeros(0, dtype=np.int64), combo_gh, combo_delta, combo_class.astype(np.int64),
                   np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), np.asarray(error_rate, dtype=np.float64))
        return data._with_keys()

    def _with_keys(self) -> ModelData:
        n_combo = len(self.combo_gh)
        n_e = self.n[self.entry_site].astype(np.int64)
        x_e = self.x[self.entry_site].astype(np.int64)
        big = int(self.n.max()) + 1 if self.n_sites else 1
        key = (n_e * big + x_e) * n_combo + self.entry_combo
        ukey, entry_key = np.unique(key, return_inverse=True)
        key_combo = ukey % n_combo
        nx = ukey // n_combo
        return dataclasses.replace(self, entry_key=entry_key.astype(np.int64), key_combo=key_combo,
                                   key_n=(nx // big).astype(np.float64), key_x=(nx % big).astype(np.float64))

    def subset(self, site_mask) -> ModelData:
        """The same model over the sites where ``site_mask`` (bool, (n_sites,)) is true."""
        site_mask = np.asarray(site_mask, dtype=bool)
        new_id = np.cumsum(site_mask) - 1
        e_keep = site_mask[self.entry_site]
        mol = self.molecules.subset(site_mask) if self.molecules is not None else None
        return dataclasses.replace(self, site_index=self.site_index[site_mask], n=self.n[site_mask],
                                   x=self.x[site_mask], block=self.block[site_mask],
                                   entry_site=new_id[self.entry_site[e_keep]], entry_logw=self.entry_logw[e_keep],
                                   entry_combo=self.entry_combo[e_keep], molecules=mol)._with_keys()

    def informative(self, donor: int | None = None) -> np.ndarray:
        """bool (n_sites,): sites where some configuration gives the donor(s) a genotype other than the host's."""
        d = self.combo_delta if donor is None else self.combo_delta[donor:donor + 1]
        e_inf = (d[:, self.entry_combo] != 0).any(axis=0)
        return np.bincount(self.entry_site, weights=e_inf, minlength=self.n_sites) > 0

    # ------------------------------------------------------------------ evaluation
    def combo_p(self, f) -> tuple[np.ndarray, np.ndarray]:
        """Alt-read probability per combo and its derivative factor ``1 - e_ra - e_ar``."""
        f = np.asarray(f, dtype=np.float64)
        e_ra = self.error_rate[self.combo_class]
        e_ar = self.error_rate[SWAP_CLASS[self.combo_class]]
        scale = 1.0 - e_ra - e_ar
        ah, ad = self.allele_shares()
        mu = ah + f @ ad
        return e_ra + scale * mu, scale

    def allele_shares(self) -> tuple[np.ndarray, np.ndarray]:
        """Host alt share ``A(g_h)`` (n_combos,) and ``A(g_k) - A(g_h)`` (n_donors, n_combos).

        ``A(0) = 0``, ``A(1) = het_share``, ``A(2) = 1``: the read-level alt share of a
        person's DNA, allowing for reference bias at heterozygous sites.
        """
        table = np.array([0.0, self.het_share, 1.0])
        gh = self.combo_gh.astype(np.int64)
        ah = table[gh]
        return ah, table[gh[None, :] + self.combo_delta.astype(np.int64)] - ah[None, :]

    def evaluate(self, f, rho: float, order: int = 0) -> Evaluation:
        """Log-likelihood (order 0), with gradient and per-site scores (1), and Hessian (2).

        Parameters
        ----------
        f : ndarray, float64, shape (n_donors,)
        rho : float
        order : int
        """
        if self.n_sites == 0:
            k = self.n_donors
            return Evaluation(0.0, np.zeros(0), np.zeros(k), np.zeros((k, k)), np.zeros((0, k)))
        ev = self._evaluate_sites(f, rho, order)
        return add_molecule_terms(self, ev, f, order)

    def _evaluate_sites(self, f, rho: float, order: int) -> Evaluation:
        p_combo, scale = self.combo_p(f)
        terms = bb_logpmf_terms(self.key_x, self.key_n, p_combo[self.key_combo], self.key_rho(rho), order)
        lp = self.entry_logw + terms[0][self.entry_key]
        starts = self.starts
        top = np.maximum.reduceat(lp, starts)
        rel = np.exp(lp - top[self.entry_site])
        site_ll = top + np.log(np.add.reduceat(rel, starts))
        total = float(site_ll.sum())
        if order == 0:
            return Evaluation(total, site_ll)
        r = np.exp(lp - site_ll[self.entry_site])  # posterior weight of each configuration
        s1 = terms[1][self.entry_key]
        dpdf = scale[None, :] * self.allele_shares()[1]  # (K, n_combos)
        dpdf_e = dpdf[:, self.entry_combo]
        k = self.n_donors
        rs = r * s1
        score = np.empty((self.n_sites, k))
        for j in range(k):
            score[:, j] = np.bincount(self.entry_site, weights=rs * dpdf_e[j], minlength=self.n_sites)
        grad = score.sum(axis=0)
        if order == 1:
            return Evaluation(total, site_ll, grad, None, score)
        s2 = terms[2][self.entry_key]
        rq = r * (s2 + s1 * s1)
        hess = np.empty((k, k))
        for a in range(k):
            for b in range(a, k):
                v = float(np.dot(rq, dpdf_e[a] * dpdf_e[b])) - float(np.dot(score[:, a], score[:, b]))
                hess[a, b] = hess[b, a] = v
        return Evaluation(total, site_ll, grad, hess, score)

    def outliers(self, f, min_weight: float = 1e-3, p_value: float = 1e-6) -> np.ndarray:
        """bool (n_sites,): sites whose counts (every read, :meth:`as_sites`) no plausible
        configuration explains.

        A site is an outlier when, for every configuration of prior weight >= ``min_weight``,
        the binomial probability of a count at least as extreme as ``x`` (either tail) is
        below ``p_value`` (mapping artefacts, paralogous sites).
        """
        from scipy.stats import binom

        if self.molecules is not None:
            return self.as_sites().outliers(f, min_weight, p_value)
        p_combo, _ = self.combo_p(f)
        pe = np.clip(p_combo[self.entry_combo], 1e-12, 1 - 1e-12)
        n = self.n[self.entry_site]
        x = self.x[self.entry_site]
        tail = np.minimum(binom.cdf(x, n, pe), binom.sf(x - 1, n, pe))
        ok = (tail >= p_value) & (np.exp(self.entry_logw) >= min_weight)
        return np.bincount(self.entry_site, weights=ok, minlength=self.n_sites) == 0

    def expected_alt_share(self, f) -> np.ndarray:
        """Prior-expected alt-read probability per site, float64 (n_sites,)."""
        p_combo, _ = self.combo_p(np.asarray(f, dtype=np.float64))
        w = np.exp(self.entry_logw)
        return np.bincount(self.entry_site, weights=w * p_combo[self.entry_combo], minlength=self.n_sites)


def add_molecule_terms(data: ModelData, ev: Evaluation, f, order: int, kappa: bool = False) -> Evaluation:
    """``ev`` (the site terms of ``data``) plus its molecules' terms.

    Each molecule's log-likelihood goes to the site of its first observation in
    ``site_loglik``; its score does not go into ``site_score`` (whose block sums the CI's
    sandwich uses for linked sites) but into ``unit_opg``, each molecule being its own
    independent unit: one amplicon's molecules all start at one site, and lumping them into
    that site's block made the sandwich see one giant block (inflation 25 at f = 0)."""
    if data.molecules is None or data.molecules.n_obs == 0:
        return ev
    m = data.molecules
    t = molecule_terms(m, data.error_rate, SWAP_CLASS, f, order, kappa)
    site_ll = ev.site_loglik
    if site_ll is not None:
        site_ll = site_ll + np.bincount(m.first_site, weights=t.loglik, minlength=data.n_sites)
    if order == 0:
        return Evaluation(ev.loglik + t.total, site_ll)
    opg = t.score.T @ (t.score / m.weight[:, None])  # sum_j w_j s_j s_j' (t.score holds w_j s_j)
    hess = ev.hess + t.hess if order >= 2 else None
    return Evaluation(ev.loglik + t.total, site_ll, ev.grad + t.grad, hess, ev.site_score, opg)
