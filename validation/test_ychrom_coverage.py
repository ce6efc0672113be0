"""Calibration of the chrY male-fraction CI: coverage of the truth at 1e-2, 1e-3, 1e-4 (and 0).

Count-level simulation: per replicate, draw the counts the estimator sees,

    autosomal fragments a ~ Poisson(density * L_a),
    Y fragments         y ~ Poisson(density * L_y * (f / 2 + b)),
    control Y fragments Y_c ~ Poisson(sum over controls of density_c * L_y * b),

and run :func:`microchimera.ychrom.estimate_male_fraction`.  Why counts and not BAMs: the
estimator only ever sees these sums, and the BAM-level tests (``tests/test_ychrom_aligned.py``)
check with a real aligner that simulated reads turn into exactly such counts (1e-2/1e-3 spikes
within CI, female background 0 in the mask); thousands of BAM-level replicates would take hours
for no extra information about the statistics.

Run ``python validation/test_ychrom_coverage.py`` for the table in ``validation/README.md``.
"""
from __future__ import annotations

import numpy as np
import pytest

from microchimera.ychrom import Background, YCounts, estimate_male_fraction

#: 30x WGS, 2x150: ~0.1 fragments per base; 7.12 Mb of Y regions (the packaged GRCh38 set is now
#: 8.26 Mb: more Y bases only narrow the CI; the recorded table keeps 7.12); 30 Mb autosomal windows.
SETTINGS = {
    "30x": dict(density=0.1, y_bases=7.12e6, a_bases=30e6),
    "1x": dict(density=1 / 300, y_bases=7.12e6, a_bases=30e6),
}
BACKGROUND = 2.5e-5  # rate per unit E (male-fraction equivalent 5e-5)
N_CONTROLS = 3


def coverage(f, n_reps, rng, *, density, y_bases, a_bases, b=BACKGROUND, n_controls=N_CONTROLS):
    """Share of replicates whose 95% CI covers ``f``, the rejection rate, and the mean estimate."""
    covered = rejected = 0
    est_sum = 0.0
    for _ in range(n_reps):
        a = rng.poisson(density * a_bases)
        y = rng.poisson(density * y_bases * (f / 2 + b))
        e_c = 0.0
        y_c = 0
        for _ in range(n_controls):
            a_c = rng.poisson(density * a_bases)
            e_c += a_c / a_bases * y_bases
            y_c += rng.poisson(density * y_bases * b)
        counts = YCounts(int(y), y_bases, int(a), a_bases, 300, 300)
        est = estimate_male_fraction(counts, Background(float(y_c), e_c, "controls"), phi=1.0)
        covered += est.ci95[0] <= f <= est.ci95[1]
        rejected += est.detected
        est_sum += est.male_fraction
    return covered / n_reps, rejected / n_reps, est_sum / n_reps


@pytest.mark.parametrize("f", [1e-2, 1e-3, 1e-4])
def test_coverage_small(f):
    """CI-sized version: 400 replicates at 30x; coverage within binomial noise of >= 93%."""
    cov, _, _ = coverage(f, 400, np.random.default_rng(int(f * 1e6)), **SETTINGS["30x"])
    assert cov >= 0.90  # 400 reps: sd of a 95% coverage is 1.1%


def test_false_positive_rate_small():
    _, rej, _ = coverage(0.0, 400, np.random.default_rng(11), **SETTINGS["30x"])
    assert rej <= 0.08


@pytest.mark.slow
@pytest.mark.parametrize("depth", ["30x", "1x"])
@pytest.mark.parametrize("f", [1e-2, 1e-3, 1e-4])
def test_coverage_full(f, depth):
    cov, _, _ = coverage(f, 2000, np.random.default_rng(int(f * 1e6) + len(depth)), **SETTINGS[depth])
    assert cov >= 0.93


def main():
    rng = np.random.default_rng(2024)
    print("| depth | f | reps | CI coverage | detected | mean estimate |")
    print("|---|---|---|---|---|---|")
    for depth, kw in SETTINGS.items():
        for f in (0.0, 1e-4, 1e-3, 1e-2):
            cov, rej, mean = coverage(f, 2000, rng, **kw)
            print(f"| {depth} | {f:g} | 2000 | {cov:.3f} | {rej:.3f} | {mean:.3g} |")


if __name__ == "__main__":
    main()
