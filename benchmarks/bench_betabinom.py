"""Benchmark of the beta-binomial terms: the compiled kernel against the NumPy/scipy formula
it replaced, on the keys a no-family fit evaluates, and the whole no-family quantify.

1. **Kernel**: a no-family sample (the issue-18 design: 10,000 markers of
   ``1000g-10k-GRCh38``, depth 200, a child at 1e-2 drawn from YRI frequencies) is
   quantified once while every call of the beta-binomial terms is recorded; the recorded
   ``(x, n, p, rho, order)`` are then timed through :func:`._betabinom.bb_terms` and through
   the previous formula (six ``gammaln``, four ``digamma`` and four trigamma arrays,
   reproduced below with its NumPy trigamma as the baseline).  Both see the same calls in the same order.
2. **Whole quantify**: CPU time of the same ``quantify`` (``--ancestry auto``, no LoD, no
   relatedness test: the validation's call) in this process, median of ``--repeats``; run
   it once more with ``PYTHONPATH`` at a checkout before the kernel to compare.

Run: ``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_betabinom.py`` (times are
process CPU seconds, so a loaded machine inflates both sides alike).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import digamma, gammaln

from microchimera.io.panels import load_builtin
from microchimera.model import likelihood, quantify
from microchimera.options import QuantifyOptions
from microchimera.sim import simulate_counts


def trigamma(x):
    """The vectorised trigamma used before the kernel (``likelihood.trigamma``, removed): a
    ten-term recurrence below 10, the asymptotic series above."""
    x = np.asarray(x, dtype=np.float64)
    small = x < 10.0
    xs = x[small]
    acc = np.zeros_like(xs)
    for k in range(10):
        t = xs + k
        acc += 1.0 / (t * t)
    y = x.copy()
    y[small] = xs + 10.0
    inv = 1.0 / y
    inv2 = inv * inv
    out = inv + inv2 * (0.5 + inv * (1 / 6 - inv2 * (1 / 30 - inv2 * (1 / 42 - inv2 * (1 / 30 - inv2 * (5 / 66))))))
    out[small] += acc
    return out


def numpy_terms(x, n, p, rho, order):
    """The formula before the kernel (``likelihood._bb_terms`` up to 2026-12-07)."""
    tau = 1.0 / rho - 1.0
    a = p * tau
    b = (1 - p) * tau
    logp = gammaln(x + a) - gammaln(a) + gammaln(n - x + b) - gammaln(b) + gammaln(tau) - gammaln(n + tau)
    if order == 0:
        return (logp,)
    s1 = tau * (digamma(x + a) - digamma(a) - digamma(n - x + b) + digamma(b))
    if order == 1:
        return logp, s1
    s2 = tau * tau * (trigamma(x + a) - trigamma(a) + trigamma(n - x + b) - trigamma(b))
    return logp, s1, s2


def sample(seed: int = 1):
    panel = load_builtin("1000g-10k-GRCh38")
    rng = np.random.default_rng(seed)
    af = np.clip(panel.af_at(panel.coordinates_of("YRI")), 1e-4, 1 - 1e-4)
    mom = rng.binomial(2, af).astype(np.int8)
    kid = (rng.binomial(1, mom / 2) + rng.binomial(1, af)).astype(np.int8)
    counts = simulate_counts(panel.sites, mom, kid[None], [1e-2], depth=200, rng=rng, sample="s")
    return counts, panel.sites


def run_quantify(counts, sites):
    return quantify(counts, relationships=["child"], sites=sites,
                    options=QuantifyOptions(relatedness=False, lod=False, ancestry="auto"))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    counts, sites = sample()
    calls = []
    kernel = likelihood._bb_terms

    def record(x, n, p_, rho, order):
        calls.append((np.array(x, float), np.array(n, float), np.array(p_, float), rho, order))
        return kernel(x, n, p_, rho, order)

    likelihood._bb_terms = record
    try:
        run_quantify(counts, sites)
    finally:
        likelihood._bb_terms = kernel
    elements = sum(len(c[0]) for c in calls)
    print(f"{len(calls)} calls of the beta-binomial terms, {elements:,} elements "
          f"(order 2: {sum(c[4] == 2 for c in calls)} calls)")
    for name, fn in (("kernel", kernel), ("numpy/scipy", numpy_terms)):
        times = []
        for _ in range(a.repeats):
            t = time.process_time()
            for x, n, p_, rho, order in calls:
                fn(x, n, p_, rho, order)
            times.append(time.process_time() - t)
        print(f"  {name:12s} {np.median(times):6.3f} s CPU (median of {a.repeats}; "
              f"{1e9 * np.median(times) / elements:5.1f} ns per element)")
    worst = 0.0
    for x, n, p_, rho, order in calls[:50]:
        want = numpy_terms(x, n, p_, rho, order)[0]
        worst = max(worst, float(np.max(np.abs(kernel(x, n, p_, rho, order)[0] - want))))
    print(f"  log P, kernel vs formula, first 50 calls: largest absolute difference {worst:.2e}")
    times = []
    for _ in range(a.repeats):
        t = time.process_time()
        r = run_quantify(counts, sites)
        times.append(time.process_time() - t)
    d = r.donors[0]
    print(f"whole no-family quantify: {np.median(times):.2f} s CPU (median of {a.repeats}); "
          f"child {d.fraction:.6g} [{d.ci95[0]:.6g}, {d.ci95[1]:.6g}]")


if __name__ == "__main__":
    main()
