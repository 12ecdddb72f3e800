"""The gate: per endpoint and metric, the drift-aware difference between two arms (`workbench.gate`),
its verdict against the tolerance, the targets, and the pass/fail of `compare` and `abtest`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from workbench import gate, stats
from workbench.analysis import runs as k6runs
from workbench.analysis.compare.loading import Arm, load_arm, one_series, resource_rows, series_overlap
from workbench.analysis.compare.options import (
    AUTO_TOLERANCE_FLOOR_PCT,
    AUTO_TOLERANCE_K,
    DEFAULT_TOLERANCE,
    HIGHER_IS_BETTER,
    METRICS,
    MIN_ACTIVE_WINDOWS,
    MIN_REQUESTS,
    PROPORTIONS,
    QUANTILES,
    Options,
    Tolerance,
    load_targets,
    split_arms,
)
from workbench.errors import WorkbenchError


@dataclass
class ArmMetric:
    """One arm's per-run estimates of one endpoint x metric (`workbench.gate`), pooled value and counts."""

    runs: list[gate.RunEst]
    value: float | None               # over all the arm's requests (k6's definition), None when empty
    n: int
    active: int                       # (run, window) pairs holding requests
    windows: np.ndarray | None = None  # per-request window index (one run: for pairing A/B arms)



def _finite(df: pd.DataFrame) -> pd.DataFrame:
    return df[np.isfinite(df["value"].to_numpy(dtype=float))]



def arm_metric(arm: Arm, endpoint: str, metric: str, opts: Options) -> ArmMetric:
    """Per-run estimates of ENDPOINT ('all' = every request) x METRIC for one arm (NaN values dropped)."""
    lat = _finite(arm.lat if endpoint == "all" else arm.lat[arm.lat["endpoint"] == endpoint])
    src = lat
    if metric == "error_rate":
        src = _finite(arm.fail if endpoint == "all" else arm.fail[arm.fail["endpoint"] == endpoint])
    g = opts.windows
    runs, wins = [], []
    for run, width in arm.window_s.items():
        part = src[src["run"] == run]
        w = part["window"].to_numpy(dtype=np.int64)
        if metric == "rps":
            runs.append(gate.run_rate(np.bincount(w, minlength=g)[None, :g], np.full((1, g), width)))
            continue
        if len(part) < 2:
            continue
        x = part["value"].to_numpy(dtype=float)
        if metric in QUANTILES:
            runs.append(gate.run_quantile(x[None, :], w[None, :], g, QUANTILES[metric], width))
        else:
            if metric == "rate_5xx":
                x = part["status"].fillna("").astype(str).str.startswith("5").to_numpy(dtype=float)
            runs.append(gate.run_mean(x[None, :], w[None, :], g, width))
        wins.append(w)
    n = len(src)
    if metric in QUANTILES:
        value = float(np.quantile(src["value"].to_numpy(dtype=float), QUANTILES[metric])) if n else None
    elif metric == "rps":
        value = n / sum(width * g for width in arm.window_s.values())
    elif metric == "rate_5xx":
        value = float(src["status"].fillna("").astype(str).str.startswith("5").mean()) if n else None
    else:
        value = float(src["value"].mean()) if n else None
    active = int(src.groupby(["run", "window"]).ngroups) if n else 0
    return ArmMetric(runs, value, n, active, wins[0] if len(wins) == 1 else None)



def _tolerance(opts: Options, endpoint: str, metric: str) -> Tolerance:
    return (opts.auto_tolerance or {}).get((endpoint, metric)) or opts.tolerance.get(metric) \
        or DEFAULT_TOLERANCE[metric]



def _diff(a: ArmMetric, b: ArmMetric, metric: str, opts: Options, paired: bool) -> gate.Diff:
    if paired and a.windows is not None and b.windows is not None and metric != "rps":
        return gate.paired(a.runs[0], a.windows, b.runs[0], b.windows, opts.windows, opts.alpha)
    run_sd = opts.run_sd if metric not in PROPORTIONS else 0.0
    return gate.combine(gate.stack(a.runs), gate.stack(b.runs), opts.alpha, run_sd)



def _pct(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None



def _row(endpoint: str, metric: str, a: ArmMetric, b: ArmMetric, opts: Options, paired: bool,
         same: bool) -> tuple[dict[str, Any], gate.Diff | None, bool, Tolerance]:
    """A result row and the statistics behind it: (row, diff or None, no p-value, tolerance)."""
    prop = metric in PROPORTIONS
    tol = _tolerance(opts, endpoint, metric)
    row: dict[str, Any] = {"endpoint": endpoint, "metric": metric, "before": a.value, "after": b.value,
                           "change_pct": None, "ci_low_pct": None, "ci_high_pct": None, "p_value": None,
                           "n_before": a.n, "n_after": b.n, "runs_before": len(a.runs), "runs_after": len(b.runs),
                           "windows_before": a.active, "windows_after": b.active, "tolerance": tol.text(metric)}
    if a.value is None or b.value is None:
        return row, None, True, tol
    if a.value > 0:
        row["change_pct"] = (b.value / a.value - 1) * 100
    elif b.value == a.value:
        row["change_pct"] = 0.0
    reason = None
    if min(a.n, b.n) < MIN_REQUESTS or not a.runs or not b.runs:
        reason = f"fewer than {MIN_REQUESTS} requests in an arm"
    elif metric in QUANTILES and min(a.n, b.n) * (1 - QUANTILES[metric]) < opts.min_tail:
        reason = (f"fewer than {opts.min_tail} requests above {metric[:-3]} in an arm "
                  f"(n*(1-q) = {min(a.n, b.n) * (1 - QUANTILES[metric]):.1f}): no p-value for this tail")
    elif min(a.active, b.active) < MIN_ACTIVE_WINDOWS:
        reason = f"requests fall into fewer than {MIN_ACTIVE_WINDOWS} time windows (a burst): no honest interval"
    if reason is not None and not same:
        row["reason"] = reason
        if prop:
            row["change_pp"] = (b.value - a.value) * 100
        est = (b.value - a.value) if prop else (math.log(b.value / a.value) if a.value > 0 and b.value > 0 else 0.0)
        nan = np.array([math.nan])
        return row, gate.Diff(np.array([est]), nan, nan, nan, nan, nan, nan, np.array([False])), True, tol
    if same:
        z = np.zeros(1)
        d = gate.Diff(z, z, np.full(1, np.inf), np.ones(1), z, z, z, np.array([False]), "same runs")
    else:
        d = _diff(a, b, metric, opts, paired)
    est, lo, hi = float(d.est[0]), float(d.lo[0]), float(d.hi[0])
    if prop:
        row.update(change_pp=est * 100, ci_low_pp=_pct(lo * 100), ci_high_pp=_pct(hi * 100))
        if a.value > 0:
            row.update(ci_low_pct=_pct(lo / a.value * 100), ci_high_pct=_pct(hi / a.value * 100))
    else:
        row.update(change_pct=math.expm1(est) * 100, ci_low_pct=_pct(math.expm1(lo) * 100),
                   ci_high_pct=_pct(math.expm1(hi) * 100))
    row["p_value"] = _pct(float(d.p[0]))
    row["df"] = _pct(float(d.df[0]))
    row["method"] = d.method
    if len(a.runs) + len(b.runs) > 2 and not paired:
        row["between_run_sd_pct" if not prop else "between_run_sd_pp"] = float(d.tau[0]) * 100
    if bool(d.refused[0]):
        mem = max(float(np.max(r.memory_s)) for r in a.runs + b.runs)
        row["reason"] = (f"run too short for its drift: the latency level wanders with a memory of ~{mem:.0f} s, "
                         "too slow to tell from a real change within one run; run longer or pass several runs "
                         "per arm (RUN,RUN,...)")
        row.update(p_value=None, ci_low_pct=None, ci_high_pct=None)
        return row, d, True, tol
    return row, d, False, tol



def window_quantiles(arm: Arm, endpoint: str, q: float, min_requests: int = 10) -> np.ndarray:
    """The Q-quantile of ENDPOINT's latency in each (run, window) holding at least MIN_REQUESTS requests."""
    lat = _finite(arm.lat if endpoint == "all" else arm.lat[arm.lat["endpoint"] == endpoint])
    groups = lat.groupby(["run", "window"])["value"]
    sizes = groups.size()
    return groups.quantile(q)[sizes >= min_requests].to_numpy(dtype=float)



def separated(a: Arm, b: Arm, row: dict[str, Any], opts: Options, min_windows: int = 5) -> str | None:
    """For a latency quantile whose runs are too short for their drift: `improved` or `regressed` when the
    arms do not overlap at all (every window of one arm beyond every window of the other, at least
    MIN_WINDOWS each) and the change passes the tolerance; None otherwise. Drift moves a run's level
    about, but it cannot put two runs of one system wholly apart window by window."""
    q = QUANTILES.get(row["metric"])
    if q is None or row.get("before") is None or row.get("after") is None:
        return None
    wa, wb = window_quantiles(a, row["endpoint"], q), window_quantiles(b, row["endpoint"], q)
    if len(wa) < min_windows or len(wb) < min_windows:
        return None
    lo, hi = _tolerance(opts, row["endpoint"], row["metric"]).bounds(row["metric"], row["before"])
    change = math.log(row["after"] / row["before"]) if row["before"] and row["after"] else math.nan
    if wb.max() < wa.min() and change < lo:
        row["note"] = "the runs are too short for their drift, but every window of after is below every window of before"
        return "improved"
    if wb.min() > wa.max() and change > hi:
        row["note"] = "the runs are too short for their drift, but every window of after is above every window of before"
        return "regressed"
    return None



def _endpoints(a: Arm, b: Arm) -> tuple[list[str], list[str]]:
    """(endpoints compared, endpoints in one arm only); 'all' first unless there is only one endpoint."""
    na, nb = set(a.lat["endpoint"].unique()), set(b.lat["endpoint"].unique())
    common = sorted(na & nb)
    one = sorted(na ^ nb)
    eps = common if len(common) == 1 and not one and len(na) == 1 else ["all"] + common
    return eps, one



def compare_arms(a: Arm, b: Arm, opts: Options, metrics: tuple[str, ...] = METRICS,
                 paired: bool = False) -> list[dict[str, Any]]:
    """Result rows (the contract's compare shape, plus n, runs, windows, tolerance, pp columns) for every
    endpoint x metric; endpoints in one arm only are `missing` rows. PAIRED: the arms share one run's
    time windows (abtest), so their difference is taken window by window."""
    rows, diffs, no_p, tols = [], [], [], []
    same = sorted(a.runs) == sorted(b.runs) and len(a.lat) == len(b.lat) and \
        sorted(a.window_s.items()) == sorted(b.window_s.items()) and not paired
    eps, one_side = _endpoints(a, b)
    for ep in eps:
        for m in metrics:
            if m == "rps" and (a.open_model or b.open_model):
                continue
            row, d, skip, tol = _row(ep, m, arm_metric(a, ep, m, opts), arm_metric(b, ep, m, opts), opts, paired,
                                     same)
            if d is None and row["before"] is None and row["after"] is None:
                continue              # neither arm has this metric (e.g. no http_req_failed samples)
            if d is None:
                row["verdict"] = "missing"
                row["reason"] = f"no {m} data in the {'before' if row['before'] is None else 'after'} arm"
                row["p_adjusted"] = None
                rows.append(row)
                continue
            rows.append(row)
            diffs.append(d)
            no_p.append(np.array([skip]))
            tols.append(tol.bounds(m, row["before"]))
    scored = [r for r in rows if "verdict" not in r]
    if diffs:
        p_adj, verdict, negligible = gate.gate(diffs, [t[0] for t in tols], [t[1] for t in tols],
                                               [r["metric"] in HIGHER_IS_BETTER for r in scored], opts.alpha,
                                               opts.adjust, no_p)
        for i, r in enumerate(scored):
            r["p_adjusted"] = _pct(float(p_adj[0, i]))
            r["verdict"] = str(verdict[0, i])
            if "run too short" in r.get("reason", ""):
                r["verdict"] = separated(a, b, r, opts) or "inconclusive"
            if negligible[0, i]:
                r["note"] = (f"significant but within the {r['tolerance']} tolerance: a real but negligible change")
    for ep in one_side:
        for m in metrics:
            if m == "rps" and (a.open_model or b.open_model):
                continue
            ma, mb = arm_metric(a, ep, m, opts), arm_metric(b, ep, m, opts)
            rows.append({"endpoint": ep, "metric": m, "before": ma.value, "after": mb.value, "change_pct": None,
                         "ci_low_pct": None, "ci_high_pct": None, "p_value": None, "p_adjusted": None,
                         "verdict": "missing", "n_before": ma.n, "n_after": mb.n,
                         "reason": f"endpoint only in the {'before' if ma.n else 'after'} arm"})
    return rows



def evaluate_targets(targets: list[dict], rows: list[dict]) -> list[dict[str, Any]]:
    """met: after <= before*(1+change) for a reduction target, >= for an increase (zeros handled)."""
    by = {(r["endpoint"], r["metric"]): r for r in rows}
    out = []
    for t in targets:
        r = by.get((t["endpoint"], t["metric"]))
        res = {**t, "target_change_pct": t["change_pct"], "before": None, "after": None, "met": None}
        res.pop("change_pct")
        res["change_pct"] = None
        if r is not None:
            bound = r["before"] * (1 + t["change_pct"] / 100)
            met = r["after"] <= bound if t["change_pct"] < 0 else r["after"] >= bound
            res.update(before=r["before"], after=r["after"], change_pct=r["change_pct"], met=bool(met))
        out.append(res)
    return out



def compare_runs(con: duckdb.DuckDBPyConnection, before: str | list[str], after: str | list[str],
                 opts: Options | None = None, targets: list[dict] | None = None,
                 power: bool = False) -> dict[str, Any]:
    """`workbench compare`: the contract's JSON shape (+ notes, arrival_rate, options; `power` with POWER).

    Each result row carries endpoint, metric, before, after, change_pct, ci_low_pct, ci_high_pct,
    p_value, p_adjusted, verdict (the stable fields other modules read), plus n/runs/windows,
    tolerance, df, between_run_sd_pct, reason and note where they apply."""
    opts = opts or Options()
    rb, ra = split_arms(before, after)
    a, b = load_arm(con, rb, opts), load_arm(con, ra, opts)
    if opts.auto_tolerance == {}:
        opts.auto_tolerance = learn_tolerance(a, opts)
    rows = compare_arms(a, b, opts)
    arrival = {"before": arrival_rate(a), "after": arrival_rate(b)} if a.open_model or b.open_model else None
    out = compare_result(con, rb, ra, rows, opts, targets, arrival)
    if power:
        out["power"] = power_rows(a, opts)
    return out



def compare_result(con: duckdb.DuckDBPyConnection, rb: list[str], ra: list[str], rows: list[dict[str, Any]],
                   opts: Options, targets: list[dict] | None, arrival: dict[str, Any] | None) -> dict[str, Any]:
    """The `compare` result from its endpoint x metric ROWS (from the store, or another engine's per-window
    inputs): resources, targets, the gate, notes."""
    resources = resource_rows(con, rb, ra, opts)
    if targets is None:
        targets = load_targets(None) + [{"endpoint": r["endpoint"], "metric": r["metric"], "change_pct": -20.0,
                                         "required": False} for r in resources]
    tg = evaluate_targets(targets, rows + resources)
    missed = any(t["required"] and not t["met"] for t in tg)
    notes = run_notes(len(rb), len(ra), opts, same=set(rb) == set(ra))
    out: dict[str, Any] = {"before": ",".join(rb), "after": ",".join(ra), "passed": gate_passed(rows, opts) and not missed,
                           "results": rows, "targets": tg, "resources": resources, "notes": notes,
                           "options": options_dict(opts)}
    if arrival is not None:
        out["arrival_rate"] = arrival
        out["notes"].append("arrival-rate executor: rps is set by the test, so achieved vs target rate and "
                            "dropped_iterations are reported instead of an rps comparison")
    return out



def gate_passed(rows: list[dict[str, Any]], opts: Options) -> bool:
    """The gate: fails on a regressed row, on a missing endpoint (unless allow_missing) and, when
    strict, on an inconclusive row."""
    bad = {"regressed"} | ({"inconclusive"} if opts.strict else set()) | (set() if opts.allow_missing else {"missing"})
    return not any(r["verdict"] in bad for r in rows)



def run_notes(n_before: int, n_after: int, opts: Options, same: bool = False) -> list[str]:
    """What the number of runs per arm lets the intervals say about run-to-run variation (SAME: both arms
    are the same runs)."""
    if same:
        return ["the same runs on both sides: every run effect and every request cancels, so each difference "
                "is exactly 0 (a check of the gate, not a measurement)"]
    if n_before == 1 and n_after == 1:
        return [f"one run per arm: run-to-run variation cannot be estimated; intervals add an assumed run-level "
                f"sd of {100 * opts.run_sd:g}% (--run-sd) and verdicts rely on the tolerance; pass several runs "
                "per arm (RUN,RUN,...) to measure it"]
    if n_before == 1 or n_after == 1:
        many = "after" if n_before == 1 else "before"
        return [f"run-to-run variation estimated from the {many} arm's runs only (the other arm has one run)"]
    return [f"runs as the unit: {n_before} vs {n_after} runs, random-effects intervals with "
            f"{n_before + n_after - 2} degrees of freedom"]



POWER_RUNS = (1, 2, 3, 5)



def power_rows(base: Arm, opts: Options) -> list[dict[str, Any]]:
    """--power: per endpoint, the smallest p95 increase that 1, 2, 3 and 5 runs per arm of the baseline's
    length would call regressed with 80% power (`gate.design_mde`, simulated from the baseline runs)."""
    out = []
    for ep in ["all"] + sorted(set(base.lat["endpoint"].unique())):
        am = arm_metric(base, ep, "p95_ms", opts)
        if len(am.runs) == 0 or am.n < MIN_REQUESTS:
            continue
        per_run = am.n / len(am.runs)
        tol = _tolerance(opts, ep, "p95_ms").rel_pct
        for r in POWER_RUNS:
            mde = gate.design_mde(gate.stack(am.runs), r, per_run, tol, opts.alpha, 0.8, opts.run_sd)
            out.append({"endpoint": ep, "metric": "p95_ms", "runs_per_arm": r, "requests_per_run": round(per_run),
                        "mde_pct": mde if math.isfinite(mde) else None,
                        "between_run_sd_pct": float(gate.between_sd(gate.stack(am.runs))[0]) * 100
                        if len(am.runs) > 1 else None})
    return out



def learn_tolerance(base: Arm, opts: Options) -> dict[tuple[str, str], Tolerance]:
    """--tolerance auto: per endpoint x metric, AUTO_TOLERANCE_K x the baseline runs' between-run sd
    (DerSimonian-Laird over the baseline arm alone; at least AUTO_TOLERANCE_FLOOR_PCT)."""
    if len(base.runs) < 3:
        raise WorkbenchError(f"--tolerance auto learns the run-to-run sd from the baseline's runs: give at least 3 "
                             f"(--before a,b,c), not {len(base.runs)}")
    out = {}
    lat_names = sorted(set(base.lat["endpoint"].unique()))
    for ep in ["all"] + lat_names:
        for m in METRICS:
            am = arm_metric(base, ep, m, opts)
            if len(am.runs) < 3:
                continue
            tau = float(gate.between_sd(gate.stack(am.runs))[0])
            if m in PROPORTIONS:
                out[(ep, m)] = Tolerance(0.0, max(AUTO_TOLERANCE_K * tau * 100, 0.01))
            else:
                out[(ep, m)] = Tolerance(max(AUTO_TOLERANCE_K * tau * 100, AUTO_TOLERANCE_FLOOR_PCT))
    return out



def arrival_rate(arm: Arm) -> dict[str, Any]:
    return {"achieved_iterations_per_s": arm.iterations / arm.duration_s if arm.duration_s else None,
            "achieved_rps": len(arm.lat) / arm.duration_s if arm.duration_s else None,
            "target_rate": arm.target_rate, "dropped_iterations": arm.dropped_iterations}



def options_dict(opts: Options) -> dict[str, Any]:
    return {"skip_s": opts.skip_s, "until_s": opts.until_s, "scenario": opts.scenario, "alpha": opts.alpha,
            "adjust": opts.adjust, "windows_per_run": opts.windows, "run_sd": opts.run_sd, "min_tail": opts.min_tail,
            "strict": opts.strict, "allow_missing": opts.allow_missing,
            "tolerance": {m: t.text(m) for m, t in {**DEFAULT_TOLERANCE, **opts.tolerance}.items()},
            "tolerance_auto": opts.auto_tolerance is not None}



def abtest_run(con: duckdb.DuckDBPyConnection, run: str, variant_tag: str, control: str, treatment: str,
               opts: Options | None = None, split: float | None = None,
               targets: list[dict] | None = None) -> dict[str, Any]:
    """`workbench abtest`: variants within one run, SRM check first (SPLIT = treatment's % share)."""
    opts = opts or Options()
    k6runs.check(con, [run])
    counts = dict(con.execute(
        "SELECT tags->>? AS v, count(*) FROM k6_points WHERE run = ? AND metric = 'http_req_duration' "
        "AND tags->>? IN (?, ?) GROUP BY v", [variant_tag, run, variant_tag, control, treatment]).fetchall())
    counts = {control: int(counts.get(control, 0)), treatment: int(counts.get(treatment, 0))}
    if not all(counts.values()):
        seen = [r[0] for r in con.execute(
            "SELECT DISTINCT tags->>? FROM k6_points WHERE run = ? AND tags->>? IS NOT NULL",
            [variant_tag, run, variant_tag]).fetchall()]
        raise WorkbenchError(f"run {run!r}: no requests with {variant_tag}={control if not counts[control] else treatment}"
                             f" (values of {variant_tag!r} in this run: {', '.join(map(str, seen)) or 'none'})")
    a = load_arm(con, [run], opts, variant_tag, control)
    b = load_arm(con, [run], opts, variant_tag, treatment)
    counts = {control: len(a.lat), treatment: len(b.lat)}     # within --skip/--until/--scenario
    share = 50.0 if split is None else float(split)
    srm = stats.srm_check(counts, {control: 100 - share, treatment: share})
    rows = compare_arms(a, b, opts, metrics=tuple(m for m in METRICS if m != "rps"), paired=True)
    tg = evaluate_targets(targets, rows) if targets else []
    missed = any(t["required"] and not t["met"] for t in tg)
    notes = ["variants share one run: both are served in the same seconds, so they are paired by time window "
             "and drift they share cancels"]
    if not srm.passed:
        notes.insert(0, f"SAMPLE RATIO MISMATCH: counts {counts} vs expected split {100 - share:g}/{share:g} "
                        f"(p={srm.p_value:.2g} < {srm.threshold}); the assignment is broken, do not trust the results")
    return {"control": control, "treatment": treatment, "run": run, "variant_tag": variant_tag,
            "passed": bool(srm.passed and gate_passed(rows, opts) and not missed),
            "srm": {"counts": counts, "expected_split_pct": {control: 100 - share, treatment: share},
                    "p_value": srm.p_value, "passed": srm.passed},
            "results": rows, "targets": tg, "notes": notes, "options": options_dict(opts)}



def abtest_prometheus(con: duckdb.DuckDBPyConnection, control: str, treatment: str, alpha: float = 0.05,
                      higher_is_better: bool = False) -> dict[str, Any]:
    """Two stored Prometheus series (e.g. p95 over time per query_type), paired by timestamp.

    The per-timestamp log ratio's mean is tested with an autocorrelation-robust (EWC) standard error
    (`stats.paired_series_test`), so overlapping rate() windows do not make the series look more certain.
    """
    from workbench.analysis.prometheus import series_frame

    c, t = one_series(series_frame(con, control), control), one_series(series_frame(con, treatment), treatment)
    pair = pd.concat([c.rename("c"), t.rename("t")], axis=1, join="inner").dropna()
    pair = pair[(pair["c"] > 0) & (pair["t"] > 0) & np.isfinite(pair["c"]) & np.isfinite(pair["t"])]
    if len(pair) < 5:
        raise WorkbenchError(f"Prometheus series {control!r} and {treatment!r} share only {len(pair)} usable "
                             "timestamps: collect both over the same range with the same step")
    overlap = max(series_overlap(con, control), series_overlap(con, treatment))
    res = stats.paired_series_test(np.log(pair["c"].to_numpy()), np.log(pair["t"].to_numpy()), alpha, overlap)
    row = {"endpoint": "all", "metric": "series_mean", "before": float(pair["c"].mean()),
           "after": float(pair["t"].mean()), "change_pct": math.expm1(res.estimate) * 100,
           "ci_low_pct": math.expm1(res.ci_low) * 100, "ci_high_pct": math.expm1(res.ci_high) * 100,
           "p_value": res.p_value, "p_adjusted": res.p_value, "verdict": "no_change",
           "n_before": len(pair), "n_after": len(pair), "method": res.method}
    if res.p_value < alpha:
        better = (res.estimate > 0) == higher_is_better
        row["verdict"] = "improved" if better else "regressed"
    return {"control": control, "treatment": treatment, "passed": row["verdict"] != "regressed",
            "srm": None, "results": [row], "targets": [],
            "notes": [f"{len(pair)} paired timestamps; geometric-mean ratio; interval allows for autocorrelation "
                      f"({res.extra['cosines']} cosines = degrees of freedom, point overlap {overlap})"]}
