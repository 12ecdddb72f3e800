"""workbench.stats against published reference values and brute-force definitions."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import stats as st

from workbench import stats


def test_mann_whitney_scipy_docstring_case() -> None:
    """scipy.stats.mannwhitneyu docstring: males [19,22,16,29,24] vs females [20,11,17,12]."""
    females, males = [20, 11, 17, 12], [19, 22, 16, 29, 24]
    asym = stats.mann_whitney(females, males, method="asymptotic")
    exact = stats.mann_whitney(females, males, method="exact")
    assert asym.statistic == 17
    assert asym.p_value == pytest.approx(0.11134688653314041, rel=1e-12)
    assert exact.p_value == pytest.approx(0.1111111111111111, rel=1e-12)
    assert (asym.n_control, asym.n_treatment) == (4, 5)


def test_hodges_lehmann_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    for n, m in [(4, 5), (37, 52), (200, 151)]:
        c, t = rng.lognormal(3, 0.7, n), rng.lognormal(3.1, 0.7, m)
        diffs = np.sort((t[:, None] - c[None, :]).ravel())
        r = stats.mann_whitney(c, t)
        assert r.estimate == pytest.approx(np.median(diffs), rel=1e-9)
        k = int(math.floor(n * m / 2 - st.norm.ppf(0.975) * math.sqrt(n * m * (n + m + 1) / 12)))
        assert r.ci_low == pytest.approx(diffs[k - 1], rel=1e-9)
        assert r.ci_high == pytest.approx(diffs[n * m - k], rel=1e-9)


def test_mann_whitney_100k_per_arm_without_a_pairwise_matrix() -> None:
    """10^10 pairwise differences would need 80 GB: the Hodges-Lehmann interval must not build them (its
    speed is measured in benchmarks/bench_stats.py, not here)."""
    rng = np.random.default_rng(4)
    c, t = rng.lognormal(3, 0.5, 100_000), rng.lognormal(3, 0.5, 100_000) * 1.05
    r = stats.mann_whitney(c, t)
    assert r.significant and r.ci_low > 0


def test_gbstats_welch_delta_method_case() -> None:
    """GrowthBook gbstats frequentist test: relative lift 0.70732, CI [-0.03526, 1.44989], p 0.06191."""
    r = stats.welch_t_from_stats(0.41, 3.9, 3407, 0.70, 6.2, 3461, relative=True)
    assert r.estimate == pytest.approx(0.70732, abs=5e-6)
    assert r.ci_low == pytest.approx(-0.03526, abs=5e-6)
    assert r.ci_high == pytest.approx(1.44989, abs=5e-6)
    assert r.p_value == pytest.approx(0.06191, abs=5e-6)
    assert not r.significant


def test_welch_t_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    c, t = rng.normal(10, 2, 300), rng.normal(10.5, 3, 400)
    r = stats.welch_t(c, t)
    ref = st.ttest_ind(t, c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert r.estimate == pytest.approx(t.mean() - c.mean())
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_statsmodels_power_figures() -> None:
    assert stats.power(1.0, 20) == pytest.approx(0.8689528, abs=1e-6)
    assert stats.power(stats.mde(20), 20) == pytest.approx(0.8, abs=1e-6)
    assert stats.mde(20, sd=10) == pytest.approx(10 * stats.mde(20))


def test_proportion_diff_newcombe_reference() -> None:
    """Newcombe (1998) Table II example (method 10): 56/70 vs 48/80 -> difference 0.2, CI 0.0524 to 0.3339."""
    r = stats.proportion_diff(48, 80, 56, 70)
    assert r.estimate == pytest.approx(0.2)
    assert r.ci_low == pytest.approx(0.0524, abs=1e-4)
    assert r.ci_high == pytest.approx(0.3339, abs=1e-4)


def test_srm_check() -> None:
    ok = stats.srm_check({"control": 5030, "treatment": 4970})
    bad = stats.srm_check({"control": 5300, "treatment": 4700})
    split25 = stats.srm_check({"control": 7480, "treatment": 2520}, {"control": 75, "treatment": 25})
    assert ok.passed and not bad.passed and split25.passed
    assert bad.p_value < 0.001
    assert ok.p_value == pytest.approx(st.chisquare([5030, 4970]).pvalue)


def test_adjust_holm_and_bh() -> None:
    p = [0.01, 0.04, 0.03, np.nan, 0.005]
    holm = stats.adjust(p, "holm")
    bh = stats.adjust(p, "bh")
    assert np.isnan(holm[3]) and np.isnan(bh[3])
    assert holm[[0, 1, 2, 4]] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert bh[[0, 1, 2, 4]] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    with pytest.raises(ValueError):
        stats.adjust(p, "nope")


def test_quantile_diff_estimate_is_numpy_linear_quantile() -> None:
    rng = np.random.default_rng(6)
    c, t = rng.lognormal(3, 1, 1001), rng.lognormal(3, 1, 777)
    for q in (0.5, 0.9, 0.95, 0.99):
        r = stats.quantile_diff(c, t, q=q)
        assert r.control == pytest.approx(np.quantile(c, q))
        assert r.estimate == pytest.approx(np.quantile(t, q) - np.quantile(c, q))
        rel = stats.quantile_diff(c, t, q=q, relative=True)
        assert rel.estimate == pytest.approx(np.quantile(t, q) / np.quantile(c, q) - 1)
        assert rel.ci_low < rel.estimate < rel.ci_high


def test_quantile_diff_1m_vs_1m_under_1s() -> None:
    rng = np.random.default_rng(7)
    c, t = rng.lognormal(3, 1, 1_000_000), rng.lognormal(3, 1, 1_000_000)
    t0 = time.perf_counter()
    stats.quantile_diff(c, t, q=0.95)
    assert time.perf_counter() - t0 < 1.0


def test_result_object_str_and_dict() -> None:
    r = stats.quantile_diff([1, 2, 3, 4, 5.0] * 20, [2, 3, 4, 5, 6.0] * 20, q=0.5)
    line = str(r)
    assert "\n" not in line and "quantile_diff p50" in line and "CI" in line
    d = r.to_dict()
    for key in ("estimate", "ci_low", "ci_high", "p_value", "significant", "method", "n_control", "n_treatment"):
        assert key in d
    assert d["estimate"] == pytest.approx(1.0)  # signs: treatment minus control


def test_sequential_detects_a_real_shift_early() -> None:
    rng = np.random.default_rng(9)
    c, t = rng.lognormal(3, 0.5, 5000), rng.lognormal(3, 0.5, 5000) * 0.8
    r = stats.sequential_quantile_diff(c, t, q=0.95, looks=20)
    assert r.significant and r.extra["stopped_at_look"] < 19
    assert r.ci_low < r.estimate < r.ci_high < 0
    fixed = stats.quantile_diff(c, t, q=0.95)
    assert (r.ci_high - r.ci_low) > (fixed.ci_high - fixed.ci_low)  # anytime validity costs width


def test_split_runs_dedupes_and_rejects_empty() -> None:
    from workbench.analysis.compare import parse_duration, split_runs
    from workbench.errors import WorkbenchError

    assert split_runs("a, b,a,") == ["a", "b"]
    with pytest.raises(WorkbenchError):
        split_runs(" , ")
    assert parse_duration("1m30s") == 90 and parse_duration("-30s") == -30 and parse_duration("500ms") == 0.5
    with pytest.raises(WorkbenchError):
        parse_duration("5 minutes")


def test_hodges_lehmann_returns_real_pairwise_differences_on_ties() -> None:
    """Rounded data: the estimate and both bounds are differences that occur (no 2e-16 bisection artefacts)."""
    rng = np.random.default_rng(12)
    for _ in range(50):
        c = np.round(rng.lognormal(1, 0.5, rng.integers(5, 300)), 1)
        t = np.round(rng.lognormal(1, 0.5, rng.integers(5, 300)), 1)
        est, lo, hi = stats.hodges_lehmann(c, t)
        d = np.sort((t[:, None] - c[None, :]).ravel())
        assert lo in set(d.tolist()) and hi in set(d.tolist())
        k = d.size
        assert est == (d[(k - 1) // 2] if k % 2 else 0.5 * (d[k // 2 - 1] + d[k // 2]))
    same = np.round(rng.lognormal(1, 0.5, 400), 0)
    assert stats.hodges_lehmann(same, same)[0] == 0.0


def test_sequential_interval_is_the_running_intersection() -> None:
    rng = np.random.default_rng(13)
    for i in range(40):
        c = rng.lognormal(3, 0.5, 2000)
        t = rng.lognormal(3, 0.5, 2000) * (0.92 if i % 2 else 1.0)
        r = stats.sequential_quantile_diff(c, t, q=0.95, looks=10)
        assert (r.ci_low > 0 or r.ci_high < 0) == r.significant


def test_design_mde_falls_with_more_runs() -> None:
    rng = np.random.default_rng(14)
    base = [rng.lognormal(np.log(40) + rng.normal(0, 0.02), 0.5, 6000) for _ in range(3)]
    mde = {r: stats.design_mde(base, runs_per_arm=r, sims=2000) for r in (1, 3, 5)}
    assert mde[5] <= mde[3] <= mde[1] and mde[5] >= 5.0   # never below the 5% tolerance
    assert stats.design_mde(base, runs_per_arm=3, requests_per_run=60_000, sims=2000) <= mde[3]
    with pytest.raises(ValueError):
        stats.design_mde([[1.0, 2.0]])
