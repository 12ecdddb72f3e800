"""Calibration of workbench.stats by simulation: false-positive rates under A/A, CI coverage of
quantile differences, the sequential option's error rate, and power against a 10% p95 shift.

Latency shapes: a lognormal and a heavy-tailed mixture (90% fast lognormal + 10% slow lognormal
with a Pareto-like tail). Samples are drawn vectorised; the public functions are called per sim.
Rates are estimated from >= 1,000 simulations per (shape, seed), so their standard error is ~0.007.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as st

from workbench import stats

N_SIMS = 1000
SHAPES = ("lognormal", "mixture")


def draw(shape: str, rng: np.random.Generator, size: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """Latencies in ms, multiplied by SCALE (a scale shift moves every quantile by the same ratio)."""
    if shape == "lognormal":
        x = rng.lognormal(np.log(40.0), 0.5, size)
    else:
        slow = rng.random(size) < 0.1
        x = np.where(slow, 200.0 * (1 + rng.pareto(2.5, size)), rng.lognormal(np.log(30.0), 0.3, size))
    return x * scale


def true_quantile(shape: str, q: float) -> float:
    if shape == "lognormal":
        return float(st.lognorm(0.5, scale=40.0).ppf(q))

    def cdf(x: float) -> float:
        pareto = 1 - (x / 200.0) ** -2.5 if x > 200.0 else 0.0
        return 0.9 * st.lognorm(0.3, scale=30.0).cdf(x) + 0.1 * pareto

    return float(optimize.brentq(lambda x: cdf(x) - q, 1e-3, 1e6, xtol=1e-10))


def rate(flags: list[bool] | np.ndarray) -> float:
    return float(np.mean(flags))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [11, 12])
def test_false_positive_rates_aa(shape: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000 if seed == 11 else 5000
    a, b = draw(shape, rng, (N_SIMS, n)), draw(shape, rng, (N_SIMS, n))
    fpr = {
        "welch_t": rate([stats.welch_t(a[i], b[i]).significant for i in range(N_SIMS)]),
        "quantile_diff p50": rate([stats.quantile_diff(a[i], b[i], q=0.5).significant for i in range(N_SIMS)]),
        "quantile_diff p95": rate([stats.quantile_diff(a[i], b[i], q=0.95).significant for i in range(N_SIMS)]),
        "quantile_diff p99": rate([stats.quantile_diff(a[i], b[i], q=0.99).significant for i in range(N_SIMS)]),
        # the U test's p-value (vectorised scipy call: the same test mann_whitney reports)
        "mann_whitney": rate(st.mannwhitneyu(b, a, axis=1).pvalue < 0.05),
    }
    print(f"\nA/A false-positive rates at alpha 0.05 ({shape}, seed {seed}, n={n}/arm, {N_SIMS} sims): {fpr}")
    for name, r in fpr.items():
        assert 0.03 <= r <= 0.07, f"{name}: FPR {r}"


def test_mann_whitney_public_function_fpr() -> None:
    """The public mann_whitney (U test + Hodges-Lehmann CI) on A/A data: FPR and CI/p agreement."""
    rng = np.random.default_rng(21)
    a, b = draw("mixture", rng, (N_SIMS, 2000)), draw("mixture", rng, (N_SIMS, 2000))
    res = [stats.mann_whitney(a[i], b[i]) for i in range(N_SIMS)]
    fpr = rate([r.significant for r in res])
    ci_excl = rate([r.ci_low > 0 or r.ci_high < 0 for r in res])
    print(f"\nmann_whitney A/A FPR {fpr}, HL CI excluding 0: {ci_excl}")
    assert 0.03 <= fpr <= 0.07
    assert 0.03 <= ci_excl <= 0.07


@pytest.mark.parametrize("seed,base", [(31, 0.02), (32, 0.10)])
def test_proportion_diff_fpr(seed: int, base: float) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    xa, xb = rng.binomial(n, base, N_SIMS * 2), rng.binomial(n, base, N_SIMS * 2)
    res = [stats.proportion_diff(int(xa[i]), n, int(xb[i]), n) for i in range(N_SIMS * 2)]
    fpr = rate([r.significant for r in res])
    ci_excl = rate([r.ci_low > 0 or r.ci_high < 0 for r in res])
    print(f"\nproportion_diff A/A FPR (p={base}, n={n}): test {fpr}, Newcombe CI excluding 0: {ci_excl}")
    assert 0.03 <= fpr <= 0.07
    assert 0.03 <= ci_excl <= 0.07


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_quantile_diff_coverage_under_shift(shape: str, q: float) -> None:
    """Treatment is control scaled by 0.9: the true p-quantile difference is -0.1 * Q(q)."""
    rng = np.random.default_rng(41 + int(q * 100))
    n = 4000
    a, b = draw(shape, rng, (N_SIMS, n)), draw(shape, rng, (N_SIMS, n), scale=0.9)
    truth = -0.1 * true_quantile(shape, q)
    res = [stats.quantile_diff(a[i], b[i], q=q) for i in range(N_SIMS)]
    cover = rate([r.ci_low <= truth <= r.ci_high for r in res])
    rel = [stats.quantile_diff(a[i], b[i], q=q, relative=True) for i in range(N_SIMS)]
    cover_rel = rate([r.ci_low <= -0.1 <= r.ci_high for r in rel])
    print(f"\nquantile_diff p{q * 100:g} coverage ({shape}): difference {cover}, relative {cover_rel}")
    assert 0.93 <= cover <= 0.97
    assert 0.93 <= cover_rel <= 0.97


@pytest.mark.parametrize("shape", SHAPES)
def test_sequential_quantile_diff_fpr(shape: str) -> None:
    """Watched at 20 looks, the anytime-valid test keeps FPR <= alpha; naive peeking does not."""
    rng = np.random.default_rng(51)
    n = 3000
    a, b = draw(shape, rng, (N_SIMS, n)), draw(shape, rng, (N_SIMS, n))
    seq = rate([stats.sequential_quantile_diff(a[i], b[i], q=0.95, looks=20).significant for i in range(N_SIMS)])
    looks = np.linspace(0, 1, 21)[1:]
    peek = rate([any(stats.quantile_diff(a[i, :int(f * n)], b[i, :int(f * n)], q=0.95).significant
                     for f in looks) for i in range(200)])
    print(f"\nsequential p95 FPR over 20 looks ({shape}): {seq}; naive peeking at the same looks: {peek}")
    assert seq <= 0.05
    assert peek > 0.10


def test_power_against_10pct_p95_shift() -> None:
    """Reported, not a calibration bound: power of quantile_diff(q=0.95) to detect a 10% p95
    reduction at 2,000 and 5,000 requests per arm (must at least beat alpha clearly)."""
    rng = np.random.default_rng(61)
    out = {}
    for shape in SHAPES:
        for n in (2000, 5000):
            a, b = draw(shape, rng, (N_SIMS, n)), draw(shape, rng, (N_SIMS, n), scale=0.9)
            out[(shape, n)] = rate([stats.quantile_diff(a[i], b[i], q=0.95).significant for i in range(N_SIMS)])
    print(f"\npower against a 10% p95 shift (alpha 0.05): {out}")
    assert all(p > 0.2 for p in out.values())
    assert out[("lognormal", 5000)] > out[("lognormal", 2000)]
