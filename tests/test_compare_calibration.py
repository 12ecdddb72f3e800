"""Calibration of compare's drift-aware intervals on simulated autocorrelated runs.

Each simulated run lasts 300 s at ~10 requests/s; the latency level (and the error probability)
follows an AR(1) drift per second (phi 0.8, i.e. ~5 s memory; sd 0.2 on the log scale), as load,
caches and GC make neighbouring requests alike. A/A: both arms are independent runs of the same
process. The naive per-request tests (`quantile_diff`, `proportion_diff`, which assume independent
requests) then reject far too often; compare's intervals (time windows + EWC long-run variance, the
exact functions `workbench.analysis.compare` calls) keep the false-positive rate near alpha.
"""

from __future__ import annotations

import numpy as np
import pytest

from workbench import stats
from workbench.analysis.compare import Options

N_SIMS = 1000
DUR_S, RPS = 300, 10


def simulate_runs(rng: np.random.Generator, phi: float, sd: float, shift: float = 1.0):
    """N_SIMS runs: (latency ms, failed 0/1, window index) arrays of shape (N_SIMS, n)."""
    n = DUR_S * RPS
    level = np.empty((N_SIMS, DUR_S))
    level[:, 0] = rng.normal(0, sd, N_SIMS)
    eps = rng.normal(0, sd * np.sqrt(1 - phi ** 2), (N_SIMS, DUR_S))
    for s in range(1, DUR_S):
        level[:, s] = phi * level[:, s - 1] + eps[:, s]
    t = np.sort(rng.uniform(0, DUR_S, (N_SIMS, n)), axis=1)
    sec = t.astype(int)
    lv = np.take_along_axis(level, sec, axis=1)
    lat = rng.lognormal(np.log(40), 0.5, (N_SIMS, n)) * np.exp(lv) * shift
    failed = (rng.random((N_SIMS, n)) < 0.02 * np.exp(3 * lv)).astype(float)
    windows = Options().windows
    win = np.minimum((t // (DUR_S / windows)).astype(int), windows - 1)
    return lat, failed, win


@pytest.mark.parametrize("seed", [71, 72])
def test_block_aware_fpr_vs_naive_on_ar1_drift(seed: int) -> None:
    rng = np.random.default_rng(seed)
    la, fa, wa = simulate_runs(rng, 0.8, 0.2)
    lb, fb, wb = simulate_runs(rng, 0.8, 0.2)
    block: dict[str, list[bool]] = {}
    naive: dict[str, list[bool]] = {}
    for i in range(N_SIMS):
        for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            r = stats.block_diff(stats.block_quantile(la[i], wa[i], q), stats.block_quantile(lb[i], wb[i], q))
            block.setdefault(name, []).append(r.p_value < 0.05)
            naive.setdefault(name, []).append(stats.quantile_diff(la[i], lb[i], q=q).significant)
        r = stats.block_diff(stats.block_mean(fa[i], wa[i]), stats.block_mean(fb[i], wb[i]), log_scale=False)
        block.setdefault("error_rate", []).append(r.p_value < 0.05)
        naive.setdefault("error_rate", []).append(
            stats.proportion_diff(int(fa[i].sum()), fa[i].size, int(fb[i].sum()), fb[i].size).significant)
    fpr_block = {k: float(np.mean(v)) for k, v in block.items()}
    fpr_naive = {k: float(np.mean(v)) for k, v in naive.items()}
    print(f"\nAR(1) drift A/A, seed {seed}: block-aware FPR {fpr_block}; naive per-request FPR {fpr_naive}")
    for k in fpr_block:
        assert 0.03 <= fpr_block[k] <= 0.07, (k, fpr_block[k])
        assert fpr_naive[k] > 0.12, (k, fpr_naive[k])


def test_block_aware_power_against_10pct_p95_shift_with_drift() -> None:
    """Reported: how often compare's p95 interval detects a real 10% reduction under the same drift."""
    rng = np.random.default_rng(73)
    la, _, wa = simulate_runs(rng, 0.8, 0.2)
    lb, _, wb = simulate_runs(rng, 0.8, 0.2, shift=0.9)
    hits = [stats.block_diff(stats.block_quantile(la[i], wa[i], 0.95),
                             stats.block_quantile(lb[i], wb[i], 0.95)) for i in range(N_SIMS)]
    pw = float(np.mean([h.p_value < 0.05 and h.estimate < 0 for h in hits]))
    cover = float(np.mean([h.ci_low <= -0.1 <= h.ci_high for h in hits]))
    print(f"\nblock-aware p95 power against a 10% shift under AR(1) drift: {pw}; CI coverage of -10%: {cover}")
    assert pw > 0.15
    assert 0.92 <= cover <= 0.98
