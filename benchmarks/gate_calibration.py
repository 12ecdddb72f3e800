"""Heavier calibration sweeps of the CI gate than the suite runs (docs/statistics.md quotes the output).

    .venv/bin/python benchmarks/gate_calibration.py [--sims 400] [--cells million,power,aa] [--seed K]

Through the same functions as `workbench compare` (workbench.gate: run_quantiles -> combine -> gate with
compare's default options). Cells:
- 1,000,000 requests per arm with a true 0.3% change (3 runs x 333,334, no run-level shift; and one run per
  arm with the assumed run sd set to 0, as `--run-sd 0` would): share of p95 rows `no_change`;
- a 10% p95 regression with 3 runs per arm and run sd 2%: share `regressed`, both shapes, two seeds;
- A/A with run sd 2% at 1, 2, 3, 5 runs per arm: gate failure rate, both shapes, two more seeds.
Simulations are drawn in chunks so that a million requests per run stay within memory. --seed K shifts every
cell's seed by 1,000,000 * K (as GATE_CALIBRATION_SEED does for tests/test_gate_calibration.py).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from workbench import gate
from workbench import simulate as sim
from workbench.analysis import compare as cmp

OPTS = cmp.Options()
G = OPTS.windows
QS = (0.5, 0.95, 0.99)
METRICS = ("p50_ms", "p95_ms", "p99_ms")


def verdicts(rng: np.random.Generator, s: int, runs: int, n: int, factor: float, run_sd_sim: float, run_sd: float,
             shape: str, chunk: int) -> np.ndarray:
    out = []
    for start in range(0, s, chunk):
        k = min(chunk, s - start)
        arms = []
        for f in (1.0, factor):
            arms.append([gate.run_quantiles(*sim.runs(rng, k, n, windows=G, shape=shape, run_sd=run_sd_sim,
                                                      factor=f)[:2], G, QS, 300 / G) for _ in range(runs)])
        diffs = [gate.combine(gate.stack([r[i] for r in arms[0]]), gate.stack([r[i] for r in arms[1]]), OPTS.alpha,
                              run_sd) for i in range(3)]
        bounds = [cmp.DEFAULT_TOLERANCE[m].bounds(m, None) for m in METRICS]
        _, v, _ = gate.gate(diffs, [b[0] for b in bounds], [b[1] for b in bounds], [False] * 3, OPTS.alpha,
                            OPTS.adjust)
        out.append(v)
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("--shapes", default=",".join(sim.SHAPES), help="comma-separated: lognormal,mixture")
    ap.add_argument("--cells", default="million,power,aa", help="comma-separated: million,power,aa")
    ap.add_argument("--seed", type=int, default=0, help="shift every cell's seed by 1,000,000 * SEED")
    args = ap.parse_args()
    off = 1_000_000 * args.seed
    shapes, cells = args.shapes.split(","), args.cells.split(",")
    s = args.sims
    t0 = time.time()
    print(f"gate calibration, {s} simulations per cell, seed offset {args.seed} (numbers from a shared 2-core "
          "machine's CPU, not production evidence)")
    for shape in shapes if "million" in cells else []:
        rng = np.random.default_rng(off + 91 + sim.SHAPES.index(shape))
        v = verdicts(rng, s, 3, 333_334, 1.003, 0.0, OPTS.run_sd, shape, 20)
        print(f"1,000,000 req/arm as 3 runs, +0.3%, {shape}: p95 no_change {np.mean(v[:, 1] == 'no_change'):.3f} "
              f"[{time.time() - t0:.0f}s]", flush=True)
        v = verdicts(rng, s, 1, 1_000_000, 1.003, 0.0, 0.0, shape, 20)
        print(f"1,000,000 req/arm as 1 run (--run-sd 0), +0.3%, {shape}: p95 no_change "
              f"{np.mean(v[:, 1] == 'no_change'):.3f} [{time.time() - t0:.0f}s]", flush=True)
        v = verdicts(rng, s, 1, 1_000_000, 1.003, 0.0, OPTS.run_sd, shape, 20)
        print(f"1,000,000 req/arm as 1 run (default --run-sd 2), +0.3%, {shape}: p95 no_change "
              f"{np.mean(v[:, 1] == 'no_change'):.3f}, inconclusive {np.mean(v[:, 1] == 'inconclusive'):.3f} "
              f"[{time.time() - t0:.0f}s]", flush=True)
    for shape in shapes if "power" in cells else []:
        for seed in (101, 102):
            rng = np.random.default_rng(off + seed + 10 * sim.SHAPES.index(shape))
            v = verdicts(rng, s, 3, 6000, 1.10, 0.02, OPTS.run_sd, shape, s)
            print(f"10% regression, 3 runs/arm, run sd 2%, {shape}, seed {seed}: p95 regressed "
                  f"{np.mean(v[:, 1] == 'regressed'):.3f} (Holm over p50/p95/p99) [{time.time() - t0:.0f}s]", flush=True)
    for shape in shapes if "aa" in cells else []:
        for seed in (201, 202):
            rates = {}
            for runs in (1, 2, 3, 5):
                rng = np.random.default_rng(off + seed + 10 * runs + 1000 * sim.SHAPES.index(shape))
                v = verdicts(rng, s, runs, 6000, 1.0, 0.02, OPTS.run_sd, shape, s)
                rates[runs] = round(float(np.mean((v == "regressed").any(axis=1))), 4)
            print(f"A/A run sd 2%, {shape}, seed {seed}: gate failure rate by runs per arm {rates} "
                  f"[{time.time() - t0:.0f}s]", flush=True)


if __name__ == "__main__":
    main()
