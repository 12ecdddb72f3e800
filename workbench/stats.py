"""Two-sample statistics for latency, error and throughput comparisons (pure numpy/scipy/statsmodels).

Every test returns a `TestResult` read like scipy's result objects: `estimate`, `ci_low`, `ci_high`,
`p_value`, `significant`, `method`, the sample sizes, a one-line `str()` and `to_dict()`. Signs are
always treatment minus control (after minus before); `relative=True` gives treatment/control - 1.
See docs/statistics.md for the methods and their calibration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as _st

__all__ = [
    "TestResult", "SRMResult", "welch_t", "welch_t_from_stats", "mann_whitney", "hodges_lehmann", "quantile_diff",
    "quantile_se", "proportion_diff", "srm_check", "adjust", "power", "mde", "sequential_quantile_diff",
    "wilson_interval", "paired_series_test", "design_mde",
]


@dataclass
class TestResult:
    """One comparison: treatment minus control (or treatment/control - 1 when `relative`)."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    method: str
    n_control: int
    n_treatment: int
    alpha: float = 0.05
    control: float = math.nan      # the statistic in each arm (mean, quantile, rate)
    treatment: float = math.nan
    relative: bool = False
    statistic: float = math.nan    # the test statistic (t, z, U ...)
    extra: dict[str, Any] = field(default_factory=dict)

    __test__ = False  # not a pytest class

    def __str__(self) -> str:
        unit = " (relative)" if self.relative else ""
        sig = "significant" if self.significant else "not significant"
        return (f"{self.method}: estimate {self.estimate:.5g}{unit}, {100 * (1 - self.alpha):g}% CI "
                f"[{self.ci_low:.5g}, {self.ci_high:.5g}], p={self.p_value:.4g} ({sig}; "
                f"n={self.n_control} vs {self.n_treatment})")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("extra"))
        return d


@dataclass
class SRMResult:
    """Sample-ratio mismatch check: `passed` is False when p < threshold."""

    counts: dict[str, int]
    expected: dict[str, float]
    p_value: float
    passed: bool
    threshold: float
    statistic: float

    def __str__(self) -> str:
        state = "ok" if self.passed else "SAMPLE RATIO MISMATCH"
        return f"SRM check: {state} (chi2={self.statistic:.4g}, p={self.p_value:.4g}, counts={self.counts})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _arr(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    a = a[np.isfinite(a)]
    if a.size < 2:
        raise ValueError("need at least 2 finite values per arm")
    return a


def _two_sided_t(stat: float, df: float) -> float:
    return float(2 * _st.t.sf(abs(stat), df)) if np.isfinite(stat) else math.nan


def _result(est: float, se: float, alpha: float, method: str, n_c: int, n_t: int, *,
            df: float = math.inf, **kw: Any) -> TestResult:
    """Normal/t interval and two-sided p-value from an estimate and its standard error."""
    crit = _st.t.ppf(1 - alpha / 2, df) if np.isfinite(df) else _st.norm.ppf(1 - alpha / 2)
    if not np.isfinite(se):
        stat = p = math.nan
    elif se > 0:
        stat = est / se
        p = _two_sided_t(stat, df) if np.isfinite(df) else float(2 * _st.norm.sf(abs(stat)))
    else:
        stat, p = (0.0, 1.0) if est == 0 else (math.copysign(math.inf, est), 0.0)
    return TestResult(estimate=float(est), ci_low=float(est - crit * se), ci_high=float(est + crit * se),
                      p_value=p, significant=bool(p < alpha), method=method, n_control=int(n_c),
                      n_treatment=int(n_t), alpha=alpha, statistic=float(stat), **kw)


# -- means ---------------------------------------------------------------------------------------------
def welch_t_from_stats(mean_c: float, sd_c: float, n_c: int, mean_t: float, sd_t: float, n_t: int,
                       alpha: float = 0.05, relative: bool = False) -> TestResult:
    """Welch's t from summary statistics; `relative` uses the delta method as gbstats does."""
    vc, vt = sd_c ** 2 / n_c, sd_t ** 2 / n_t
    df = (vc + vt) ** 2 / (vc ** 2 / (n_c - 1) + vt ** 2 / (n_t - 1)) if vc + vt > 0 else math.inf
    if relative:
        if mean_c == 0:
            raise ValueError("relative lift needs a non-zero control mean")
        est = mean_t / mean_c - 1
        se = math.sqrt(vt / mean_c ** 2 + vc * mean_t ** 2 / mean_c ** 4)
        method = "welch_t (relative, delta method)"
    else:
        est, se, method = mean_t - mean_c, math.sqrt(vc + vt), "welch_t"
    return _result(est, se, alpha, method, n_c, n_t, df=df, control=mean_c, treatment=mean_t,
                   relative=relative, extra={"df": df})


def welch_t(control: Sequence[float], treatment: Sequence[float], alpha: float = 0.05,
            relative: bool = False) -> TestResult:
    """Difference in means with Welch's t (or the relative lift with the delta method)."""
    c, t = _arr(control), _arr(treatment)
    return welch_t_from_stats(c.mean(), c.std(ddof=1), c.size, t.mean(), t.std(ddof=1), t.size,
                              alpha=alpha, relative=relative)


# -- ranks ---------------------------------------------------------------------------------------------
def _count_le(c: np.ndarray, t: np.ndarray, d: float) -> int:
    """#pairs with t_j - c_i <= d, for sorted c and t, in O((n+m) log n) without the n x m matrix."""
    return int(c.size * t.size - np.searchsorted(c, t - d, side="left").sum())


def _kth_pairwise_diff(c: np.ndarray, t: np.ndarray, k: int) -> float:
    """The k-th smallest (1-based) of all t_j - c_i: bisection on the value until few pairs remain
    in the bracket, then those pairs are listed and the exact order statistic is selected."""
    n, m = c.size, t.size
    k = min(max(k, 1), n * m)
    lo, hi = t[0] - c[-1], t[-1] - c[0]
    clo, chi = _count_le(c, t, lo), n * m
    if clo >= k:
        return float(lo)
    cap = 8 * (n + m)
    if chi - clo > cap:  # narrow the bracket around a guess from a random sample of pairs
        rng = np.random.default_rng(k)
        sample = t[rng.integers(0, m, 4000)] - c[rng.integers(0, n, 4000)]
        p = k / (n * m)
        half = 5 * math.sqrt(p * (1 - p) / sample.size) + 1 / sample.size
        g_lo, g_hi = np.quantile(sample, [max(p - half, 0.0), min(p + half, 1.0)])
        if lo < g_lo:
            cg = _count_le(c, t, g_lo)
            if cg < k:
                lo, clo = g_lo, cg
        if g_hi < hi:
            cg = _count_le(c, t, g_hi)
            if cg >= k:
                hi, chi = g_hi, cg
    for _ in range(200):
        if chi - clo <= cap:
            a = np.searchsorted(c, t - hi, side="left")
            b = np.searchsorted(c, t - lo, side="left")
            lens = b - a
            j = np.repeat(np.arange(m), lens)
            i = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens) + np.repeat(a, lens)
            vals = t[j] - c[i]
            r = k - clo - 1
            if 0 <= r < vals.size:
                return float(np.partition(vals, r)[r])
            return _real_diff_at_or_above(c, t, hi if r >= vals.size else lo)
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        cm = _count_le(c, t, mid)
        if cm >= k:
            hi, chi = mid, cm
        else:
            lo, clo = mid, cm
    return _real_diff_at_or_above(c, t, hi)


def _real_diff_at_or_above(c: np.ndarray, t: np.ndarray, v: float) -> float:
    """The smallest pairwise difference t_j - c_i >= V (the largest one when none is): bisection bounds
    are not data, and a bound must be a difference that occurs (no 2e-16 artefacts on tied data)."""
    i = np.searchsorted(c, t - v, side="right") - 1          # largest c_i <= t_j - v
    ok = i >= 0
    cand = t[ok] - c[i[ok]]
    cand = cand[cand >= v]
    return float(cand.min()) if cand.size else float(t[-1] - c[0])


def hodges_lehmann(control: Sequence[float], treatment: Sequence[float], alpha: float = 0.05
                   ) -> tuple[float, float, float]:
    """Hodges-Lehmann shift (median of t - c) and Moses' distribution-free CI, without an n x m matrix."""
    c, t = np.sort(_arr(control)), np.sort(_arr(treatment))
    n, m = c.size, t.size
    nm = n * m
    if nm % 2:
        est = _kth_pairwise_diff(c, t, (nm + 1) // 2)
    else:
        est = 0.5 * (_kth_pairwise_diff(c, t, nm // 2) + _kth_pairwise_diff(c, t, nm // 2 + 1))
    z = _st.norm.ppf(1 - alpha / 2)
    k = int(math.floor(nm / 2 - z * math.sqrt(nm * (n + m + 1) / 12)))
    k = max(k, 1)
    return est, _kth_pairwise_diff(c, t, k), _kth_pairwise_diff(c, t, nm + 1 - k)


def mann_whitney(control: Sequence[float], treatment: Sequence[float], alpha: float = 0.05,
                 method: str = "auto") -> TestResult:
    """Mann-Whitney U test; estimate = Hodges-Lehmann shift (treatment - control) with Moses' CI.

    `statistic` is U of the treatment (pairs where treatment > control, ties count 1/2); `method`
    is scipy's ("auto", "asymptotic" with continuity correction, "exact").
    """
    c, t = _arr(control), _arr(treatment)
    res = _st.mannwhitneyu(t, c, alternative="two-sided", method=method)
    est, lo, hi = hodges_lehmann(c, t, alpha)
    p = float(res.pvalue)
    return TestResult(estimate=est, ci_low=lo, ci_high=hi, p_value=p, significant=bool(p < alpha),
                      method="mann_whitney (Hodges-Lehmann shift)", n_control=c.size, n_treatment=t.size,
                      alpha=alpha, control=float(np.median(c)), treatment=float(np.median(t)),
                      statistic=float(res.statistic),
                      extra={"common_language_effect": float(res.statistic) / (c.size * t.size)})


# -- quantiles -----------------------------------------------------------------------------------------
def _order_stats(x: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """x sorted at the given 0-based ranks (np.partition: O(n), no full sort)."""
    ranks = np.clip(ranks, 0, x.size - 1)
    uniq = np.unique(ranks)
    part = np.partition(x, uniq)
    return part[ranks]


def quantile_se(x: Any, q: float, alpha: float = 0.05) -> tuple[float, float]:
    """(linear-interpolated quantile, its standard error) for iid samples.

    The SE comes from the distribution-free binomial order-statistic interval: the ranks
    n*q -/+ z*sqrt(n*q*(1-q)) bracket the quantile with ~1-alpha confidence, so their spacing
    divided by 2z estimates the quantile's standard error (q(1-q)/n)^0.5 / f(Q) without a density.
    """
    a = np.asarray(x, dtype=float).ravel()
    a = a[np.isfinite(a)]
    n = a.size
    if n < 2:
        raise ValueError("need at least 2 finite values")
    z = _st.norm.ppf(1 - alpha / 2)
    pos = q * (n - 1)
    half = z * math.sqrt(n * q * (1 - q))
    lo_r, hi_r = int(math.floor(pos - half)), int(math.ceil(pos + half))
    fl = int(math.floor(pos))
    ranks = np.array([fl, min(fl + 1, n - 1), max(lo_r, 0), min(hi_r, n - 1)])
    v = _order_stats(a, ranks)
    est = v[0] + (pos - fl) * (v[1] - v[0])
    width_ranks = ranks[3] - ranks[2]
    se = (v[3] - v[2]) / (2 * z) * (2 * half / width_ranks) if width_ranks > 0 else 0.0
    return float(est), float(se)


def quantile_diff(control: Sequence[float], treatment: Sequence[float], q: float = 0.95,
                  alpha: float = 0.05, relative: bool = False) -> TestResult:
    """Difference (or ratio - 1) of the q-quantiles with an order-statistic (binomial) based CI.

    Each arm's quantile SE is taken from its distribution-free order-statistic interval (no
    density estimate, valid for heavy tails); the difference is then normal, the ratio normal
    on the log scale. O(n) per arm via np.partition: 1M vs 1M well under a second.
    """
    qc, sc = quantile_se(control, q, alpha)
    qt, st = quantile_se(treatment, q, alpha)
    n_c, n_t = int(np.size(control)), int(np.size(treatment))
    name = f"quantile_diff p{100 * q:g}"
    if relative:
        if qc <= 0 or qt <= 0:
            raise ValueError("relative quantile difference needs positive quantiles")
        lr, se = math.log(qt / qc), math.hypot(sc / qc, st / qt)
        r = _result(lr, se, alpha, name + " (relative)", n_c, n_t, control=qc, treatment=qt, relative=True)
        r.estimate, r.ci_low, r.ci_high = qt / qc - 1, math.expm1(r.ci_low), math.expm1(r.ci_high)
        return r
    return _result(qt - qc, math.hypot(sc, st), alpha, name, n_c, n_t, control=qc, treatment=qt,
                   extra={"q": q})


# -- proportions ---------------------------------------------------------------------------------------
def wilson_interval(x: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a proportion x/n."""
    if n <= 0:
        return math.nan, math.nan
    z = _st.norm.ppf(1 - alpha / 2)
    p = x / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def proportion_diff(x_control: int, n_control: int, x_treatment: int, n_treatment: int,
                    alpha: float = 0.05) -> TestResult:
    """Difference of proportions (treatment - control): Newcombe's hybrid Wilson score interval and
    the pooled two-proportion z-test."""
    pc, pt = x_control / n_control, x_treatment / n_treatment
    lc, uc = wilson_interval(x_control, n_control, alpha)
    lt, ut = wilson_interval(x_treatment, n_treatment, alpha)
    d = pt - pc
    lo = d - math.sqrt((pt - lt) ** 2 + (uc - pc) ** 2)
    hi = d + math.sqrt((ut - pt) ** 2 + (pc - lc) ** 2)
    pool = (x_control + x_treatment) / (n_control + n_treatment)
    se0 = math.sqrt(pool * (1 - pool) * (1 / n_control + 1 / n_treatment))
    if se0 > 0:
        z = d / se0
        p = float(2 * _st.norm.sf(abs(z)))
    else:
        z, p = 0.0, 1.0
    return TestResult(estimate=d, ci_low=lo, ci_high=hi, p_value=p, significant=bool(p < alpha),
                      method="proportion_diff (Newcombe/Wilson, pooled z)", n_control=int(n_control),
                      n_treatment=int(n_treatment), alpha=alpha, control=pc, treatment=pt, statistic=z)


# -- experiment hygiene --------------------------------------------------------------------------------
def srm_check(counts: dict[str, int] | Sequence[int], weights: dict[str, float] | Sequence[float] | None = None,
              threshold: float = 0.001) -> SRMResult:
    """Sample-ratio mismatch: chi-square of observed COUNTS against the expected split WEIGHTS."""
    if not isinstance(counts, dict):
        counts = {str(i): int(c) for i, c in enumerate(counts)}
    keys = list(counts)
    obs = np.array([counts[k] for k in keys], dtype=float)
    if weights is None:
        w = np.ones(len(keys))
    elif isinstance(weights, dict):
        w = np.array([weights[k] for k in keys], dtype=float)
    else:
        w = np.asarray(weights, dtype=float)
    exp = obs.sum() * w / w.sum()
    if obs.sum() == 0:
        stat, p = 0.0, 1.0
    else:
        stat, p = _st.chisquare(obs, exp)
    return SRMResult(counts={k: int(v) for k, v in zip(keys, obs, strict=True)},
                     expected={k: float(v) for k, v in zip(keys, exp, strict=True)},
                     p_value=float(p), passed=bool(p >= threshold), threshold=threshold, statistic=float(stat))


def adjust(p_values: Sequence[float], method: str = "holm") -> np.ndarray:
    """Holm (family-wise) or Benjamini-Hochberg ("bh", false discovery rate) adjusted p-values.

    NaN p-values are left NaN and not counted in the family."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        sm = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh", "bonferroni": "bonferroni"}.get(method)
        if sm is None:
            raise ValueError(f"unknown adjustment {method!r}: use holm or bh")
        out[ok] = multipletests(p[ok], method=sm)[1]
    return out


def power(effect_size: float, n_per_arm: float, alpha: float = 0.05, ratio: float = 1.0) -> float:
    """Power of a two-sided two-sample t-test for standardized EFFECT_SIZE (Cohen's d) (statsmodels)."""
    from statsmodels.stats.power import TTestIndPower

    return float(TTestIndPower().power(effect_size=effect_size, nobs1=n_per_arm, alpha=alpha, ratio=ratio))


def mde(n_per_arm: float, sd: float = 1.0, alpha: float = 0.05, power: float = 0.8,
        ratio: float = 1.0) -> float:
    """Minimum detectable difference in means (in units of SD; sd=1 gives Cohen's d)."""
    from statsmodels.stats.power import TTestIndPower

    d = TTestIndPower().solve_power(effect_size=None, nobs1=n_per_arm, alpha=alpha, power=power, ratio=ratio)
    return float(d) * sd


# -- anytime-valid -------------------------------------------------------------------------------------
def sequential_quantile_diff(control: Sequence[float], treatment: Sequence[float], q: float = 0.95,
                             alpha: float = 0.05, looks: int | Sequence[float] = 20,
                             tau: float | None = None) -> TestResult:
    """Quantile difference watched at several looks without inflating false positives (mSPRT).

    The arrays are in arrival order; at each look (fractions of the data, or LOOKS equally
    spaced ones) the quantile difference and its SE are computed, and the normal-mixture
    sequential probability ratio (Johari et al., "always valid p-values") with mixing scale TAU
    (default: 10% of the control quantile at the first look) gives an always-valid p-value (the
    running minimum of 1/Lambda) and a confidence sequence; the interval reported is the running
    intersection of the looks' intervals, so it excludes 0 exactly when the p-value is below ALPHA.
    """
    c, t = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    fr = np.linspace(0, 1, looks + 1)[1:] if isinstance(looks, int) else np.asarray(looks, dtype=float)
    p_run, stop_at, last = 1.0, None, None
    lo_run, hi_run = -math.inf, math.inf
    for i, f in enumerate(fr):
        nc, nt = max(int(round(f * c.size)), 2), max(int(round(f * t.size)), 2)
        qc, sc = quantile_se(c[:nc], q, alpha)
        qt, st = quantile_se(t[:nt], q, alpha)
        if tau is None:
            tau = 0.1 * abs(qc) if qc else 1.0
        d, v = qt - qc, sc * sc + st * st
        if v <= 0:
            continue
        t2 = tau * tau
        log_lam = 0.5 * math.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))
        p_run = min(p_run, math.exp(-log_lam) if log_lam > 0 else 1.0)
        if p_run < alpha and stop_at is None:
            stop_at = i
        half = math.sqrt(v * (v + t2) / t2 * (math.log((v + t2) / v) - 2 * math.log(alpha)))
        lo_run, hi_run = max(lo_run, d - half), min(hi_run, d + half)
        last = (d, v, qc, qt, nc, nt)
    if last is None:
        raise ValueError("no look had a usable variance")
    d, v, qc, qt, nc, nt = last
    if lo_run > hi_run:   # the looks' intervals do not overlap: keep the last look's (still excludes 0)
        t2 = tau * tau
        half = math.sqrt(v * (v + t2) / t2 * (math.log((v + t2) / v) - 2 * math.log(alpha)))
        lo_run, hi_run = d - half, d + half
    return TestResult(estimate=d, ci_low=lo_run, ci_high=hi_run, p_value=p_run,
                      significant=bool(p_run < alpha), method=f"sequential_quantile_diff p{100 * q:g} (mSPRT)",
                      n_control=nc, n_treatment=nt, alpha=alpha, control=qc, treatment=qt,
                      extra={"looks": len(fr), "stopped_at_look": stop_at, "tau": tau})


# -- autocorrelated series -------------------------------------------------------------------------------
def _ewc_se(series: np.ndarray, denom: float, b: int) -> tuple[float, float]:
    """(SE, degrees of freedom) of a total from a series of residuals in time order.

    Equal-weighted cosine (EWC) long-run variance (Lazarus, Lewis, Stock & Watson 2018): the series is
    projected on the B lowest cosines, whose squared projections estimate the variance of one term
    including its correlation with neighbouring terms; the t statistic then has B degrees of freedom
    (fixed-b, no bandwidth to tune). compare's per-run version, which adapts B to the drift, is
    `workbench.gate.ewc`.
    """
    g = series.size
    bb = max(0, min(b, g - 1))
    if bb < 1 or denom <= 0:
        return math.nan, math.nan
    j = np.arange(1, bb + 1)[:, None]
    lam = math.sqrt(2 / g) * (np.cos(np.pi * j * (np.arange(g)[None, :] + 0.5) / g) @ series)
    return math.sqrt(g * float(np.sum(lam ** 2)) / bb) / denom, float(bb)


def paired_series_test(control: Any, treatment: Any, alpha: float = 0.05, overlap: int = 1) -> TestResult:
    """Mean of treatment - control over paired time points, allowing for autocorrelation.

    The long-run variance is the equal-weighted cosine estimate (as for compare's windows) with
    B = ceil(0.4 n^(2/3)) cosines (Lazarus et al. 2018), capped so that the shortest period used
    is at least twice the OVERLAP of consecutive points (a rate()[5m] series at a 1m step shares
    most of its data between neighbours: overlap 5); the t statistic has B degrees of freedom.
    """
    c, t = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    d = t - c
    n = d.size
    b = max(2, min(math.ceil(0.4 * n ** (2 / 3)), n // (2 * max(overlap, 1)), n - 1))
    est = float(d.mean())
    se, df = _ewc_se(d - est, float(n), b)
    return _result(est, se, alpha, "paired mean (EWC long-run variance)", n, n, df=df,
                   control=float(c.mean()), treatment=float(t.mean()),
                   extra={"cosines": b, "df": df, "overlap": overlap})


def design_mde(baseline_runs: Sequence[Any], runs_per_arm: int = 3, requests_per_run: float | None = None,
               q: float = 0.95, tolerance_pct: float = 5.0, alpha: float = 0.05, power: float = 0.8,
               windows: int = 40, run_sd: float = 0.02, sims: int = 4000, seed: int = 0) -> float:
    """The smallest quantile increase (%) the CI gate would call regressed with POWER, for RUNS_PER_ARM
    runs of REQUESTS_PER_RUN requests (default: the baseline's), simulated from the baseline runs
    themselves: their between-run sd and within-run variance (each run: latencies in arrival order,
    cut into WINDOWS equal-count windows). See `workbench.gate.design_mde`."""
    from workbench import gate

    ests = []
    for run in baseline_runs:
        x = np.asarray(run, dtype=float)
        x = x[np.isfinite(x)]
        if x.size < 20:
            raise ValueError("each baseline run needs at least 20 finite latencies")
        w = np.minimum(np.arange(x.size) * windows // x.size, windows - 1)
        ests.append(gate.run_quantile(x[None, :], w[None, :], windows, q))
    return gate.design_mde(gate.stack(ests), runs_per_arm, requests_per_run, tolerance_pct, alpha, power, run_sd,
                           sims, seed)
