"""Synthetic load-test runs for calibrating the gate (tests, benchmarks/gate_calibration.py).

Every function draws S simulated runs at once as rows of 2-D arrays (vectorised numpy), in the form
`workbench.gate`'s per-run estimators take: latencies (ms), failures (0/1) and time-window indices.
"""

from __future__ import annotations

import numpy as np

SHAPES = ("lognormal", "mixture")


def latencies(shape: str, rng: np.random.Generator, size: tuple[int, ...], median_ms: float = 40.0) -> np.ndarray:
    """Lognormal (sigma 0.5) or a heavy-tailed mixture (90% lognormal, 10% Pareto tail, shape 2.5) scaled
    so that the lognormal part's median is MEDIAN_MS."""
    if shape == "lognormal":
        return rng.lognormal(np.log(median_ms), 0.5, size)
    slow = rng.random(size) < 0.1
    k = median_ms / 30.0
    return np.where(slow, 200.0 * k * (1 + rng.pareto(2.5, size)), rng.lognormal(np.log(30.0 * k), 0.3, size))


def ar1(rng: np.random.Generator, s: int, steps: int, memory_s: float, sd: float) -> np.ndarray:
    """(S, steps) stationary AR(1) paths per second with e-folding MEMORY_S and marginal SD."""
    if sd == 0 or memory_s <= 0:
        return np.zeros((s, steps))
    phi = float(np.exp(-1.0 / memory_s))
    out = np.empty((s, steps))
    out[:, 0] = rng.normal(0, sd, s)
    eps = rng.normal(0, sd * np.sqrt(1 - phi ** 2), (s, steps))
    for i in range(1, steps):
        out[:, i] = phi * out[:, i - 1] + eps[:, i]
    return out


def runs(rng: np.random.Generator, s: int, n: int, *, shape: str = "lognormal", duration_s: float = 300.0,
         windows: int = 40, run_sd: float = 0.0, factor: float = 1.0, memory_s: float = 0.0, drift_sd: float = 0.0,
         round_ms: float = 0.0, median_ms: float = 40.0, level: np.ndarray | None = None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S runs of N requests: (latency ms, window index, per-second drift level used).

    Each run gets a log-scale shift N(0, RUN_SD); latency is multiplied by FACTOR (a true change) and by
    exp(AR(1) drift) of the second the request arrives in (or the given LEVEL paths, to share drift
    between arms); ROUND_MS rounds as a coarse timer would.
    """
    t = np.sort(rng.uniform(0, duration_s, (s, n)), axis=1)
    steps = int(np.ceil(duration_s))
    if level is None:
        level = ar1(rng, s, steps, memory_s, drift_sd)
    lv = np.take_along_axis(level, np.minimum(t.astype(int), steps - 1), axis=1)
    shift = rng.normal(0, run_sd, (s, 1)) if run_sd else 0.0
    x = latencies(shape, rng, (s, n), median_ms) * np.exp(lv + shift) * factor
    if round_ms:
        x = np.maximum(np.round(x / round_ms), 1) * round_ms
    win = np.minimum((t // (duration_s / windows)).astype(int), windows - 1)
    return x, win, level
