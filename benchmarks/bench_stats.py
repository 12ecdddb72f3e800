"""Speed of workbench.stats on large arms, printed as times and ratios against baselines run here.

    .venv/bin/python benchmarks/bench_stats.py [--n 1000000]

Baselines (measured in the same run, same data):
- naive percentile bootstrap of the p95 difference with 1,000 full resamples, timed on a 20,000-per-arm
  subsample and extrapolated linearly to N per arm (each resample is O(n): draw + select);
- Hodges-Lehmann via the full n x m matrix of pairwise differences, timed at 3,000 per arm and
  extrapolated quadratically to 100,000 per arm.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

from workbench import stats


def naive_bootstrap(c: np.ndarray, t: np.ndarray, q: float, reps: int, rng: np.random.Generator) -> tuple[float, float]:
    d = np.empty(reps)
    for i in range(reps):
        d[i] = np.quantile(rng.choice(t, t.size), q) - np.quantile(rng.choice(c, c.size), q)
    return tuple(np.quantile(d, [0.025, 0.975]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="samples per arm for quantile_diff")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    c, t = rng.lognormal(3, 0.6, args.n), rng.lognormal(3, 0.6, args.n) * 1.01

    qd = best_of(lambda: stats.quantile_diff(c, t, q=0.95))
    res = stats.quantile_diff(c, t, q=0.95)
    sub = 20_000
    boot_sub = best_of(lambda: naive_bootstrap(c[:sub], t[:sub], 0.95, 1000, rng), repeat=1)
    boot_full = boot_sub * args.n / sub
    print(f"quantile_diff p95, {args.n:,} vs {args.n:,}: {qd:.3f} s  ({res})")
    print(f"  baseline naive bootstrap (1,000 resamples): {boot_sub:.2f} s at {sub:,}/arm -> "
          f"~{boot_full:.0f} s extrapolated to {args.n:,}/arm; speed-up x{boot_full / qd:,.0f}")
    print(f"  under 1 s: {'yes' if qd < 1 else 'NO'}")

    n_mw = 100_000
    mc, mt = c[:n_mw], t[:n_mw]
    mw = best_of(lambda: stats.mann_whitney(mc, mt), repeat=1)
    small = 3000
    mat = best_of(lambda: np.median((mt[:small, None] - mc[None, :small]).ravel()), repeat=1)
    mat_full = mat * (n_mw / small) ** 2
    print(f"mann_whitney + Hodges-Lehmann CI, {n_mw:,} vs {n_mw:,}: {mw:.3f} s")
    print(f"  baseline n x m matrix: {mat:.3f} s at {small:,}/arm -> ~{mat_full:.0f} s (and "
          f"{n_mw ** 2 * 8 / 1e9:.0f} GB) at {n_mw:,}/arm; speed-up x{mat_full / mw:,.0f}")
    print(f"  under 2 s: {'yes' if mw < 2 else 'NO'}")


if __name__ == "__main__":
    main()
