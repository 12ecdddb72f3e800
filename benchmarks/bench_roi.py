"""Speed of the ROI Monte Carlo (workbench.roi.simulate), printed against a baseline run here.

    .venv/bin/python benchmarks/bench_roi.py [--draws 100000] [--baseline-draws 10000]

The model: the docs/roi.md example with five uncertain inputs (one-time cost, infrastructure after,
p95 after, revenue per 100 ms, discount rate) over 12 months.

Baseline (same run, same model): a per-draw Python loop, the way a spreadsheet or a hand-written script
does it: each draw samples its inputs one by one, computes the monthly benefit and discounts the months
one by one. It is timed on --baseline-draws draws and extrapolated linearly to --draws (each draw costs
the same). Timings on this shared 2-core machine show the ratio and the scaling, not any other machine's
speed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from timing import best_of

from workbench import roi

CONFIG = {"horizon_months": 12, "discount_rate_annual": "uniform(0.05, 0.15)", "one_time_cost": "pert(15000, 20000, 40000)",
          "infrastructure_monthly_before": 10000, "infrastructure_monthly_after": "triangular(7500, 8000, 9500)",
          "monthly_revenue": 500000, "elasticity": "published", "p95_before_ms": 800,
          "p95_after_ms": "lognormal(600, 0.05)"}




def per_draw_loop(model: roi.Model, draws: int, seed: int = 0) -> np.ndarray:
    """The baseline: one draw at a time, month by month."""
    rng = np.random.default_rng(seed)
    ins = model.inputs
    npv = np.empty(draws)
    for i in range(draws):
        v = {k: float(d.sample(rng, 1)[0]) for k, d in ins.items()}
        benefit = (v["infrastructure_monthly_before"] - v["infrastructure_monthly_after"]
                   + v["monthly_revenue"] * v["revenue_uplift_per_100ms"] * (v["p95_before_ms"] - v["p95_after_ms"]) / 100
                   - v["monthly_operational_cost_change"])
        r = (1 + v["discount_rate_annual"]) ** (1 / 12) - 1
        total = -v["one_time_cost"]
        for t in range(1, model.horizon_months + 1):
            total += benefit / (1 + r) ** t
        npv[i] = total
    return npv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=100_000)
    ap.add_argument("--baseline-draws", type=int, default=10_000)
    args = ap.parse_args()
    model = roi.build_model(CONFIG)
    roi.simulate(model, draws=1000)   # warm-up (imports, first calls)
    vec = best_of(lambda: roi.simulate(model, draws=args.draws))
    npv = roi.simulate(model, draws=args.draws)["npv"]
    loop_sub = best_of(lambda: per_draw_loop(model, args.baseline_draws), repeat=1)
    loop_full = loop_sub * args.draws / args.baseline_draws
    base = per_draw_loop(model, args.baseline_draws)
    p_vec, p_loop = np.percentile(npv, [10, 50, 90]), np.percentile(base, [10, 50, 90])
    print(f"roi.simulate, {args.draws:,} draws, 5 uncertain inputs, 12 months: {vec:.3f} s "
          f"(NPV P10/P50/P90 {p_vec[0]:,.0f} / {p_vec[1]:,.0f} / {p_vec[2]:,.0f})")
    print(f"  baseline per-draw Python loop: {loop_sub:.2f} s for {args.baseline_draws:,} draws -> "
          f"~{loop_full:.1f} s extrapolated to {args.draws:,}; speed-up x{loop_full / vec:,.0f} "
          f"(its NPV P10/P50/P90 {p_loop[0]:,.0f} / {p_loop[1]:,.0f} / {p_loop[2]:,.0f})")
    print(f"  well under 1 s: {'yes' if vec < 0.5 else 'NO'}")
    t0 = time.perf_counter()
    roi.run(roi.build_model(CONFIG))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = roi.run(roi.build_model(CONFIG))
    print(f"roi.run (point at medians, {model.draws:,}-draw Monte Carlo, tornado, success checks): "
          f"{time.perf_counter() - t0:.3f} s warm, {first:.2f} s first call (imports scipy and compare); "
          f"P(NPV > 0) = {res.to_dict()['prob_npv_positive']:.3f}")


if __name__ == "__main__":
    main()
