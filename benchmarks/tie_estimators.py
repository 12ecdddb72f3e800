"""Which quantile interval survives latencies rounded to 1 ms? (docs/statistics.md, "Tails and ties")

    .venv/bin/python benchmarks/tie_estimators.py

A/A, lognormal, 4,000 requests per arm, 400 simulations, median 4 ms and 40 ms, rounded to 1 ms:
false-positive rate of the unsmoothed linear quantile with the order-statistic-spacing SE, the same with
a floor on the SE at the data's resolution (1 ms / 2z), and the share of A/A differences that are exactly
zero. The smoothed quantile compare uses is calibrated by tests/test_gate_calibration.py.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as st

from workbench import simulate as sim
from workbench import stats


def main() -> None:
    for med in (4.0, 40.0):
        rng = np.random.default_rng(11)
        a = np.maximum(np.round(sim.latencies("lognormal", rng, (400, 4000), med)), 1)
        b = np.maximum(np.round(sim.latencies("lognormal", rng, (400, 4000), med)), 1)
        for q in (0.5, 0.95, 0.99):
            hits = {"spacing": 0, "floor": 0}
            zero = 0
            for i in range(400):
                qa, sa = stats.quantile_se(a[i], q)
                qb, sb = stats.quantile_se(b[i], q)
                d = qb - qa
                zero += d == 0
                for k, f in (("spacing", 0.0), ("floor", 1.0 / (2 * 1.96))):
                    se = math.hypot(max(sa, f), max(sb, f))
                    p = 1.0 if se == 0 and d == 0 else (0.0 if se == 0 else 2 * st.norm.sf(abs(d) / se))
                    hits[k] += p < 0.05
            print(f"median {med:g} ms, q={q}: FPR spacing {hits['spacing'] / 400:.3f}, floor {hits['floor'] / 400:.3f}; "
                  f"exactly-zero A/A differences {zero / 400:.3f}")


if __name__ == "__main__":
    main()
