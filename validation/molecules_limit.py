"""The theoretical limit for the microhaplotype design: the LoD of the optimal test.

With the error rate, every genotype and every haplotype known, the most powerful level-alpha
test of ``f = 0`` against ``f = f1`` is the Neyman-Pearson likelihood-ratio test
(docs/model.md, "The limit of the optimal test").  A molecule of amplicon ``a`` shows a
pattern ``o`` of ref/alt/other bases at the amplicon's ``L`` SNPs with probability
``P_h(a, o)`` from the host (half from each haplotype) or ``P_d(a, o)`` from the child; the
pattern counts are independent Poisson with means ``M ((1 - f) P_h + f P_d)`` (``M``
molecules per amplicon), so the statistic is ``S = sum N(a, o) log(1 - f1 + f1 r(a, o))``
with ``r = P_d / P_h``.  ``S`` is simulated under both hypotheses: patterns with
``r >= TAIL_RATIO`` (those that show the child's alleles, nearly background-free when two
are on one molecule) exactly, as a compound Poisson; the rest, millions of molecules
with ``|log(1 - f1 + f1 r)| <= f1 TAIL_RATIO``, by their normal limit.  The LoD is the
``f1`` whose power reaches 95% at alpha = 0.05 (bisection in ``log f1``).

Run: ``python validation/molecules_limit.py --families 20`` (one line per family and the
median; families drawn as ``validation/molecules.py`` draws its microhap replicates).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from microchimera.sim.molecules import amplicon_panel, child_haplotypes, random_haplotypes

TAIL_RATIO = 20.0
ERROR = 1e-3


def pattern_probabilities(host: np.ndarray, kid: np.ndarray, amplicon: np.ndarray, error: float):
    """``(P_h, P_d, amp)`` over every amplicon's 3^L patterns (L SNPs; 0 ref, 1 alt, 2 other):
    a base is read right with probability ``1 - e``, as the other allele with ``e/3`` and as
    a third base with ``2e/3``."""
    read = np.array([[1 - error, error / 3, 2 * error / 3], [error / 3, 1 - error, 2 * error / 3]])
    ph, pd, amp = [], [], []
    for a in range(int(amplicon.max()) + 1):
        idx = np.flatnonzero(amplicon == a)
        pats = np.array(list(itertools.product(range(3), repeat=len(idx))))
        ph.append(0.5 * _prob(read, host[0], idx, pats) + 0.5 * _prob(read, host[1], idx, pats))
        pd.append(0.5 * _prob(read, kid[0], idx, pats) + 0.5 * _prob(read, kid[1], idx, pats))
        amp.append(np.full(len(pats), a))
    return np.concatenate(ph), np.concatenate(pd), np.concatenate(amp)


def _prob(read, hap, idx, pats):
    """Probability of each pattern (rows of ``pats``) from haplotype ``hap`` at sites ``idx``."""
    return read[hap[idx][None, :], pats].prod(axis=1)


def _statistic(mean0, mean1, w, tail, rng, n_sim):
    """Simulated ``S`` under each hypothesis (means ``mean0`` / ``mean1`` per pattern)."""
    out = []
    for mean in (mean0, mean1):
        bulk = ~tail
        mu = float(mean[bulk] @ w[bulk])
        sd = float(np.sqrt(mean[bulk] @ w[bulk] ** 2))
        s = rng.normal(mu, sd, n_sim)
        lam = mean[tail]
        total = lam.sum()
        k = rng.poisson(total, n_sim)
        picks = rng.choice(len(lam), size=int(k.sum()), p=lam / total)
        sums = np.bincount(np.repeat(np.arange(n_sim), k), weights=w[tail][picks], minlength=n_sim)
        out.append(s + sums)
    return out


def power(f1, ph, pd, molecules, rng, alpha=0.05, n_sim=20_000) -> float:
    """Power of the level-``alpha`` Neyman-Pearson test of 0 against ``f1``."""
    r = pd / ph
    w = np.log1p(f1 * (r - 1.0))
    tail = r >= TAIL_RATIO
    mean0 = molecules * ph
    mean1 = molecules * ((1 - f1) * ph + f1 * pd)
    s0, s1 = _statistic(mean0, mean1, w, tail, rng, n_sim)
    crit = np.quantile(s0, 1 - alpha)
    return float(np.mean(s1 > crit))


def optimal_lod(ph, pd, molecules, seed: int, target: float = 0.95) -> float:
    """The ``f1`` where the optimal test's power reaches ``target`` (bisection on log10 f1)."""
    lo, hi = -8.0, -3.0
    for _ in range(18):
        mid = 0.5 * (lo + hi)
        if power(10**mid, ph, pd, molecules, np.random.default_rng(seed)) >= target:
            hi = mid
        else:
            lo = mid
    return float(10**hi)


def family(seed: int, amplicons: int = 2000, snps: int = 4):
    """The panel and family of ``validation/molecules.py``'s microhap replicate ``seed``."""
    rng = np.random.default_rng(seed)
    panel = amplicon_panel(amplicons, (snps, snps), rng)
    mom = random_haplotypes(panel.sites.af, rng)
    dad = random_haplotypes(panel.sites.af, rng)
    kid = child_haplotypes(mom, dad, panel.amplicon, rng)
    return panel, mom, kid


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", type=int, default=20)
    p.add_argument("--seed0", type=int, default=150000, help="seed of the first family (microhap f = 1e-5 cell)")
    p.add_argument("--molecules", type=int, default=2000)
    p.add_argument("--amplicons", type=int, default=2000)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "molecules_limit.json"))
    a = p.parse_args(argv)
    lods = []
    for i in range(a.families):
        seed = a.seed0 + i
        panel, mom, kid = family(seed, a.amplicons)
        ph, pd, _ = pattern_probabilities(mom, kid, panel.amplicon, ERROR)
        lods.append(optimal_lod(ph, pd, a.molecules, seed))
        print(f"family {seed}: optimal-test LoD {lods[-1]:.3e}", flush=True)
    print(f"median {np.median(lods):.3e} over {len(lods)} families")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"seed0": a.seed0, "molecules": a.molecules, "amplicons": a.amplicons,
                                       "error": ERROR, "lods": lods, "median": float(np.median(lods))}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
