"""Count-level simulation of a mixed sample (no reads), and error-rate helpers.

:func:`simulate_counts` draws ref/alt/other fragment counts at every site directly from
the mixture model of DESIGN.md, fast enough for hundreds of replicates.
"""
from __future__ import annotations

import numpy as np

from ..conventions import BASES, COUNT_DTYPE, GENOTYPE_MISSING, SUBSTITUTION_CLASSES
from ..io.allele_counts import AlleleCounts
from ..io.sites import SiteTable

#: Default total substitution error per base (split evenly over the three classes).
DEFAULT_ERROR_RATE = 1e-3


def error_matrix(error_rates=None) -> np.ndarray:
    """Substitution error probabilities as a float64 (4, 4) matrix ``E[true, read]``.

    Parameters
    ----------
    error_rates : float, dict or array_like, optional
        A float: total per-base error, split evenly over the three wrong bases.
        A dict ``{"A>C": 1e-4, ...}``: per-class rates; missing classes get
        ``DEFAULT_ERROR_RATE / 3`` unless the dict has a ``"default"`` entry (a per-class
        rate).  A (4, 4) array: used as given (the diagonal is ignored).

    Returns
    -------
    ndarray, float64, shape (4, 4)
        Off-diagonal error probabilities; the diagonal is 0.

    Raises
    ------
    ValueError
        For an unknown class name, a negative rate, or a base whose total error is >= 1.
    """
    if error_rates is None:
        error_rates = DEFAULT_ERROR_RATE
    if isinstance(error_rates, dict):
        per_class = float(error_rates.get("default", DEFAULT_ERROR_RATE / 3))
        m = np.full((4, 4), per_class)
        for key, value in error_rates.items():
            if key == "default":
                continue
            if key not in SUBSTITUTION_CLASSES:
                raise ValueError(f"error class {key!r}: expected one of {', '.join(SUBSTITUTION_CLASSES)}")
            m[BASES.index(key[0]), BASES.index(key[2])] = float(value)
    elif np.ndim(error_rates) == 0:
        m = np.full((4, 4), float(error_rates) / 3.0)
    else:
        m = np.array(error_rates, dtype=np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"error_rates: expected a (4, 4) matrix, found shape {m.shape}")
    np.fill_diagonal(m, 0.0)
    if (m < 0).any() or not np.isfinite(m).all():
        raise ValueError("error_rates: rates must be finite and >= 0")
    if (m.sum(axis=1) >= 1).any():
        raise ValueError(f"error_rates: total error per base must be < 1, found {m.sum(axis=1).tolist()}")
    return m


def mixture_alt_share(host_genotype, donor_genotypes, fractions) -> np.ndarray:
    """Expected alt share of DNA ``mu`` per site, float64 (n_sites,).

    ``mu = (1 - sum f) g_h / 2 + sum_k f_k g_k / 2`` with dosages ``g`` in {0, 1, 2}.
    """
    g_h = np.asarray(host_genotype, dtype=np.float64)
    g_d = np.atleast_2d(np.asarray(donor_genotypes, dtype=np.float64))
    f = np.atleast_1d(np.asarray(fractions, dtype=np.float64))
    return (1.0 - f.sum()) * g_h / 2.0 + (f[:, None] * g_d / 2.0).sum(axis=0)


def site_error_spread(n_sites: int, rng: np.random.Generator, *, sigma: float = 1.0,
                      hot_share: float = 0.01, hot_rate: float = 2e-2,
                      base_rate: float = DEFAULT_ERROR_RATE) -> np.ndarray:
    """Per-site error multipliers like a real panel's, float64 (n_sites,), for ``site_error_scale``.

    Log-normal spread with log-sd ``sigma`` and mean 1 (context-dependent error: ultra-deep
    amplicon data show a >100-fold range within one substitution class), and a share
    ``hot_share`` of *hot* sites whose total error per base is ``hot_rate`` (about
    ``hot_rate / base_rate`` times the panel's ``base_rate``).  Draw it once per panel and
    pass the same array to every sample of the panel: real hot sites are hot in every sample.
    """
    if sigma < 0 or not 0 <= hot_share <= 1 or hot_rate < 0 or base_rate <= 0:
        raise ValueError("site_error_spread: expected sigma >= 0, hot_share in [0, 1], hot_rate >= 0, base_rate > 0")
    scale = np.exp(rng.normal(-0.5 * sigma * sigma, sigma, n_sites))
    hot = rng.random(n_sites) < hot_share
    scale[hot] = hot_rate / base_rate
    return scale


def simulate_counts(sites: SiteTable, host_genotype, donor_genotypes, fractions, *, depth,
                    rng: np.random.Generator, depth_model: str = "poisson", error_rates=None,
                    overdispersion: float = 0.0, sample: str = "sample",
                    n_replicates: int | None = None, site_error_scale=None,
                    error_profile=None) -> AlleleCounts:
    """Simulate fragment counts of a host sample carrying donor DNA.

    Per site *i*: depth ``n_i`` (Poisson(depth) or fixed); the fragment-level alt share
    ``mu_i`` from the mixture; with overdispersion ``rho > 0`` the site's true share is
    ``Beta(mu (1-rho)/rho, (1-mu)(1-rho)/rho)`` (beta-binomial counts, intra-class
    correlation ``rho``); true alt fragments ~ Binomial(n_i, share); each fragment is then
    read as ref, alt or a third base through the substitution error matrix.  Strands are
    split by a fair coin.

    Parameters
    ----------
    sites : SiteTable
        n_sites sites; ``ref``/``alt`` bases select the error classes.
    host_genotype : array_like, int8, shape (n_sites,)
        Host alt dosage 0/1/2.
    donor_genotypes : array_like, int8, shape (n_donors, n_sites)
        Donor alt dosages (``n_donors`` may be 0).
    fractions : array_like, float64, shape (n_donors,)
        Donor shares of genome equivalents; their sum must be < 1.
    depth : float or array_like (n_sites,)
        Mean (``"poisson"``) or exact (``"fixed"``) fragments per site.
    rng : numpy.random.Generator
    depth_model : {"poisson", "fixed"}
    error_rates : float, dict or (4, 4) array, optional
        See :func:`error_matrix`; default 1e-3 per base.
    overdispersion : float
        ``rho`` in [0, 1); 0 gives binomial counts.
    sample : str
        Sample name (or prefix ``<sample>_<r>`` when ``n_replicates`` is given).
    n_replicates : int, optional
        Draw this many independent replicate samples (rows) at once.
    site_error_scale : array_like, float64, shape (n_sites,), optional
        Per-site multiplier of every error rate (real panels: context-dependent spread and
        hot sites shared by every sample of the panel; see :func:`site_error_spread`).
    error_profile : ErrorProfile, optional
        Per-site, per-direction, per-strand REF<->ALT error rates of the panel
        (:func:`microchimera.sim.error_profile.panel_error_profile`: spread, hot sites, strand
        bias, CpG, FFPE and oxidative damage), applied to each read strand; third-base errors
        are the class rates times its ``other_scale``.  Not with ``site_error_scale``.

    Returns
    -------
    AlleleCounts
        One sample (or ``n_replicates``), counts uint32 (n_samples, n_sites).

    Raises
    ------
    ValueError
        On misaligned shapes, missing genotypes, fractions outside [0, 1) or summing to
        >= 1, negative depth, an unknown depth model or overdispersion outside [0, 1).

    Notes
    -----
    ``p_i = mu_i (1 - e_{alt->ref} - e_{alt->other}) + (1 - mu_i) e_{ref->alt}`` is the
    expected alt read share, as in the quantification model.
    """
    n = sites.n_sites
    g_h = np.asarray(host_genotype)
    g_d = np.asarray(donor_genotypes).reshape(-1, n) if np.size(donor_genotypes) else np.zeros((0, n), np.int8)
    f = np.atleast_1d(np.asarray(fractions, dtype=np.float64))
    if g_h.shape != (n,):
        raise ValueError(f"host_genotype: expected shape ({n},), found {g_h.shape}")
    if g_d.shape[0] != f.shape[0]:
        raise ValueError(f"donor_genotypes has {g_d.shape[0]} rows but fractions has {f.shape[0]} values")
    if (g_h == GENOTYPE_MISSING).any() or (g_d == GENOTYPE_MISSING).any():
        raise ValueError("simulate_counts: genotypes must be complete (found -1)")
    if ((f < 0) | (f >= 1)).any() or f.sum() >= 1:
        raise ValueError(f"fractions: expected values in [0, 1) summing to < 1, found {f.tolist()}")
    if depth_model not in ("poisson", "fixed"):
        raise ValueError(f"depth_model: expected 'poisson' or 'fixed', found {depth_model!r}")
    depth = np.broadcast_to(np.asarray(depth, dtype=np.float64), (n,))
    if (depth < 0).any() or not np.isfinite(depth).all():
        raise ValueError("depth: expected finite values >= 0")
    if not 0.0 <= overdispersion < 1.0:
        raise ValueError(f"overdispersion: expected a number in [0, 1), found {overdispersion}")
    e = error_matrix(error_rates)
    scale = np.ones(n) if site_error_scale is None else np.asarray(site_error_scale, dtype=np.float64)
    if scale.shape != (n,) or (scale < 0).any() or not np.isfinite(scale).all():
        raise ValueError(f"site_error_scale: expected {n} finite values >= 0")
    reps = 1 if n_replicates is None else int(n_replicates)
    shape = (reps, n)

    mu = np.clip(mixture_alt_share(g_h, g_d, f), 0.0, 1.0)
    if depth_model == "poisson":
        n_frag = rng.poisson(depth, size=shape)
    else:
        n_frag = np.broadcast_to(np.rint(depth).astype(np.int64), shape).copy()
    share = np.broadcast_to(mu, shape).copy()
    if overdispersion > 0:
        inner = (share > 0) & (share < 1)
        tau = (1.0 - overdispersion) / overdispersion  # not `scale`: that is the site error multiplier
        share[inner] = rng.beta(share[inner] * tau, (1.0 - share[inner]) * tau)
    true_alt = rng.binomial(n_frag, share)
    true_ref = n_frag - true_alt

    ref_b, alt_b = sites.ref.astype(np.intp), sites.alt.astype(np.intp)
    names = (sample,) if n_replicates is None else tuple(f"{sample}_{r}" for r in range(reps))
    params = {"simulated": True, "fractions": f.tolist(), "depth_model": depth_model,
              "overdispersion": overdispersion}
    if error_profile is not None:
        if site_error_scale is not None:
            raise ValueError("give site_error_scale or error_profile, not both")
        if error_profile.rate.shape != (n, 2, 2):
            raise ValueError(f"error_profile: expected rates of shape ({n}, 2, 2), found {error_profile.rate.shape}")
        cols = _profiled_errors(true_ref, true_alt, e, ref_b, alt_b, error_profile, rng)
        return AlleleCounts(names, sites, *cols, parameters={**params, "error_profile": True})
    # Per-site rates: the class rate times the site's multiplier, each base's total kept < 1.
    cap_r = np.minimum(scale, 0.5 / np.maximum(e[ref_b].sum(axis=1), 1e-300))
    cap_a = np.minimum(scale, 0.5 / np.maximum(e[alt_b].sum(axis=1), 1e-300))
    e_ra = e[ref_b, alt_b] * cap_r                  # ref read as alt
    e_ro = e[ref_b].sum(axis=1) * cap_r - e_ra      # ref read as a third base
    e_ar = e[alt_b, ref_b] * cap_a
    e_ao = e[alt_b].sum(axis=1) * cap_a - e_ar
    ref, alt, other = _misread(true_ref, true_alt, e_ra, e_ro, e_ar, e_ao, rng)
    cols = []
    for total in (ref, alt, other):
        fwd = rng.binomial(total, 0.5)
        cols += [fwd.astype(COUNT_DTYPE), (total - fwd).astype(COUNT_DTYPE)]
    return AlleleCounts(names, sites, *cols, parameters=params)


def _misread(true_ref, true_alt, e_ra, e_ro, e_ar, e_ao, rng):
    """Observed ``(ref, alt, other)`` fragments from the true ones: each true ref fragment
    is read as alt with probability ``e_ra``, as a third base with ``e_ro`` (and ALT likewise
    with ``e_ar``, ``e_ao``); the multinomial is drawn as sequential binomials."""
    r_to_a = rng.binomial(true_ref, e_ra)
    r_to_o = rng.binomial(true_ref - r_to_a, np.clip(e_ro / np.maximum(1 - e_ra, 1e-300), 0, 1))
    a_to_r = rng.binomial(true_alt, e_ar)
    a_to_o = rng.binomial(true_alt - a_to_r, np.clip(e_ao / np.maximum(1 - e_ar, 1e-300), 0, 1))
    return true_ref - r_to_a - r_to_o + a_to_r, true_alt - a_to_r - a_to_o + r_to_a, r_to_o + a_to_o


def _profiled_errors(true_ref, true_alt, e, ref_b, alt_b, profile, rng) -> list:
    """Strand-split counts (ref_fwd, ref_rev, alt_fwd, alt_rev, other_fwd, other_rev) with the
    profile's per-site, per-strand REF<->ALT rates; fragments split by a fair coin first."""
    out = {k: [] for k in ("ref", "alt", "other")}
    ref_f = rng.binomial(true_ref, 0.5)
    alt_f = rng.binomial(true_alt, 0.5)
    scale = profile.other_scale
    e_ro = np.minimum((e[ref_b].sum(axis=1) - e[ref_b, alt_b]) * scale, 0.45)
    e_ao = np.minimum((e[alt_b].sum(axis=1) - e[alt_b, ref_b]) * scale, 0.45)
    for k, (r, a) in enumerate(((ref_f, alt_f), (true_ref - ref_f, true_alt - alt_f))):
        seen = _misread(r, a, profile.rate[:, 0, k], e_ro, profile.rate[:, 1, k], e_ao, rng)
        for key, x in zip(("ref", "alt", "other"), seen, strict=True):
            out[key].append(x)
    return [x.astype(COUNT_DTYPE) for k in ("ref", "alt", "other") for x in out[k]]


def simulate_normals(sites: SiteTable, rng: np.random.Generator, *, n_normals: int, depth,
                     donor_fractions=None, **kwargs) -> AlleleCounts:
    """Counts of ``n_normals`` samples ``N0``, ``N1``, ... for a panel of normals.

    Each normal is a person drawn from ``sites.af`` (Hardy–Weinberg) carrying an unrelated
    person's DNA at ``donor_fractions.get(j, 0)`` (a dict by normal index; that person is
    drawn for every normal, so the draws do not depend on who carries DNA), counted by
    :func:`simulate_counts` at ``depth`` with ``kwargs`` (``site_error_scale``,
    ``error_profile``, ...), and combined into one table.
    """
    donor_fractions = donor_fractions or {}
    normals = []
    for j in range(n_normals):
        g = rng.binomial(2, sites.af).astype(np.int8)
        donor = rng.binomial(2, sites.af).astype(np.int8)[None]
        normals.append(simulate_counts(sites, g, donor, [donor_fractions.get(j, 0.0)], depth=depth, rng=rng,
                                       sample=f"N{j}", **kwargs))
    return AlleleCounts.combine(normals)
