"""The molecules' expected likelihood-ratio statistic, for the limit of detection.

The genotype-oracle LoD (:mod:`microchimera.model.fit.detection`) solves
``E[T(f)] = (z_{1-alpha} + z_{power})^2`` with ``E[T(f)] = 2 sum KL(P_f || P_0)`` over the
independent units of the data.  For site counts the unit is a site; for molecules
(:mod:`microchimera.model.molecules`) it is a molecule, whose distribution over its
possible ref/alt patterns is a mixture of the host's and each donor's pattern
probabilities.  :class:`MoleculeOracle` enumerates, for every set of sites that molecules
were seen at, the ``2^L`` patterns of ``L`` observations and their probabilities under the
host, each donor and the unknown contributor, so that ``KL`` at any fraction is a few
vector operations.  A set of more than ``MAX_PATTERN_SITES`` sites is split into runs of
at most that many, taken as independent molecules (which can only lower ``E[T]``: the LoD
then errs on the high side).
"""
from __future__ import annotations

import numpy as np

from .molecules import POPULATION, MoleculeData, groups_by_length

#: Largest number of sites whose 2^L ref/alt patterns are enumerated exactly.
MAX_PATTERN_SITES = 12


def _site_runs(m: MoleculeData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct site sets of the molecules, cut into runs of at most ``MAX_PATTERN_SITES``:
    ``(run_obs, run_len, weight)`` with ``run_obs`` the observation indices (into ``m``'s
    arrays) of a representative molecule's run, concatenated, ``run_len`` each run's length
    and ``weight`` the molecules that showed its site set."""
    obs_parts, len_parts, w_parts = [], [], []
    for ln, which, obs in groups_by_length(m.mol):
        _, first, inverse = np.unique(m.site[obs], axis=0, return_index=True, return_inverse=True)
        w = np.bincount(inverse.ravel(), weights=m.weight[which], minlength=len(first))
        reps = obs[first]  # (n_sets, ln)
        for cut in np.array_split(np.arange(ln), -(-ln // MAX_PATTERN_SITES)):
            obs_parts.append(reps[:, cut].ravel())
            len_parts.append(np.full(len(first), len(cut)))
            w_parts.append(w)
    if not w_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(obs_parts), np.concatenate(len_parts), np.concatenate(w_parts)


class MoleculeOracle:
    """Pattern probabilities of every site set of ``m`` at error rates ``error_rate``.

    ``P`` (float64, (n_components + 1, n_patterns)): row 0 the host, then each component;
    ``weight`` (n_patterns,) the molecules of the pattern's site set.  Only ref/alt reads
    are patterns (a molecule's other-base reads are not observations).
    """

    def __init__(self, m: MoleculeData, error_rate: np.ndarray, swap: np.ndarray):
        run_obs, run_len, run_w = _site_runs(m)
        n_comp = m.dose.shape[0]
        p_parts, w_parts = [], []
        for ln, which, index in groups_by_length(np.repeat(np.arange(len(run_len)), run_len)):
            p = self._patterns(m, run_obs[index], error_rate, swap, n_comp)  # (n_comp + 1, n_runs, 2^ln)
            p_parts.append(p.reshape(n_comp + 1, -1))
            w_parts.append(np.repeat(run_w[which], 2**ln))
        self.P = np.concatenate(p_parts, axis=1) if p_parts else np.zeros((n_comp + 1, 0))
        self.weight = np.concatenate(w_parts) if w_parts else np.zeros(0)

    @staticmethod
    def _patterns(m: MoleculeData, obs: np.ndarray, error_rate, swap, n_comp: int) -> np.ndarray:
        """Probabilities of the 2^L ref/alt patterns of runs ``obs`` (n_runs, L) under the host
        and each component: (n_comp + 1, n_runs, 2^L)."""
        ln = obs.shape[1]
        pat = ((np.arange(2**ln)[:, None] >> np.arange(ln)[None, :]) & 1).astype(bool)[None]  # (1, 2^L, L)
        cls = m.cls[obs][:, None, :]
        e_ra = error_rate[cls]
        e_ar = error_rate[swap[cls]]
        from_ref = np.where(pat, e_ra, 1.0 - e_ra)  # P(pattern read | true ref), (n_runs, 2^L, L)
        from_alt = np.where(pat, 1.0 - e_ar, e_ar)
        host_alt = m.host_alt[obs][:, None, :]
        q_host = np.where(host_alt, from_alt, from_ref)
        q_non = np.where(host_alt, from_ref, from_alt)
        out = [q_host.prod(axis=2)]
        for k in range(n_comp):
            dose = m.dose[k][obs][:, None, :]
            if (dose == POPULATION).all():
                af = m.af[obs][:, None, :]
                out.append((af * from_alt + (1 - af) * from_ref).prod(axis=2))
                continue
            h1 = np.where(dose == 2, q_non, q_host).prod(axis=2)
            h2 = np.where(dose >= 1, q_non, q_host).prod(axis=2)
            out.append(0.5 * h1 + 0.5 * h2)
        return np.array(out)

    def decisive(self, f: float, donor: int) -> float:
        """Expected *decisive* molecules of ``donor`` at fraction ``f``: those showing a pattern
        the donor's share of the molecules makes likelier than the host does (``f P_d >= P_h``).
        Their background is below one count per count of theirs, so where a handful of them
        carry the evidence it is a Poisson count, not a normal statistic."""
        p_d, p_h = self.P[donor + 1], self.P[0]
        return float(f * np.sum(self.weight * p_d * (f * p_d >= p_h)))

    def expected_lrt(self, f_alt, donor: int) -> float:
        """``2 sum_molecules KL(P(f_alt) || P(f_alt with f_donor = 0))``."""
        f1 = np.asarray(f_alt, dtype=np.float64)
        f0 = f1.copy()
        f0[donor] = 0.0
        host, comps = self.P[0], self.P[1:]
        p1 = (1.0 - f1.sum()) * host + f1 @ comps
        p0 = (1.0 - f0.sum()) * host + f0 @ comps
        ok = p1 > 0
        return float(2.0 * np.sum(self.weight[ok] * p1[ok] * np.log(p1[ok] / np.maximum(p0[ok], 1e-300))))
