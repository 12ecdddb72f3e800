"""Loading the arms of a comparison: each run's steady-state window and its request rows (from the store
or another engine's scan), the Prometheus CPU/memory per arm, and latency frames for the plots."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from workbench.analysis import runs as k6runs
from workbench.analysis.compare.options import Options, parse_duration, split_runs
from workbench.errors import WorkbenchError


@dataclass
class Arm:
    """The steady-state requests of one arm: latencies (with status) and http_req_failed values."""

    runs: list[str]
    lat: pd.DataFrame                 # run, window, t_s, value, endpoint, status
    fail: pd.DataFrame                # run, window, value, endpoint
    window_s: dict[str, float]        # run -> window length (s)
    windows: int                      # total windows in the arm
    dropped_iterations: float = 0.0
    iterations: float = 0.0
    duration_s: float = 0.0
    open_model: bool = False
    target_rate: float | None = None



def _span(con: duckdb.DuckDBPyConnection, run: str, opts: Options) -> tuple[float, float]:
    row = k6runs.span_s(con, run)
    if row is None:
        raise WorkbenchError(f"k6 run {run!r} has no points (only a summary?): compare needs --out json/csv data")
    return steady_window(run, row[0], row[1], opts)



def steady_window(run: str, start: float, end: float, opts: Options) -> tuple[float, float]:
    """[lo, hi) in epoch seconds of RUN's steady state, from its first and last point and --skip/--until."""
    lo = start + max(opts.skip_s, 0.0)
    hi = end if opts.until_s is None else (start + opts.until_s if opts.until_s >= 0 else end + opts.until_s)
    hi = min(hi, end)
    if hi - lo <= 0:
        raise WorkbenchError(f"k6 run {run!r}: --skip/--until leave nothing ({end - start:.0f}s of points)")
    return lo, hi + 1e-6



def load_arm(con: duckdb.DuckDBPyConnection, runs: list[str], opts: Options,
             variant_tag: str | None = None, variant: str | None = None) -> Arm:
    """Steady-state request rows of RUNS (optionally only tag VARIANT_TAG == VARIANT)."""
    k6runs.check(con, runs)
    frames, bounds = [], {}
    for run in runs:
        lo, hi = bounds[run] = _span(con, run, opts)
        where = "run = ? AND ts >= to_timestamp(?) AND ts < to_timestamp(?)"
        params: list[Any] = [run, lo, hi]
        if opts.scenario:
            where += " AND scenario = ?"
            params.append(opts.scenario)
        if variant_tag is not None:
            where += " AND tags->>? = ?"
            params += [variant_tag, variant]
        frames.append(con.execute(
            f"SELECT run, metric, epoch(ts) - ? AS t_s, value, endpoint, status "
            f"FROM k6_points WHERE metric IN ('http_req_duration', 'http_req_failed', 'dropped_iterations', "
            f"'iterations') AND {where}", [lo, *params]).df())
    arm = arm_from_rows(con, runs, pd.concat(frames, ignore_index=True), bounds, opts)
    if arm.lat.empty:
        what = f" with {variant_tag}={variant}" if variant_tag else ""
        scen = f" in scenario {opts.scenario!r}" if opts.scenario else ""
        raise WorkbenchError(f"no http_req_duration points{what}{scen} in run(s) {', '.join(runs)} "
                             "after --skip/--until: check the run names, the tag and the time window")
    return arm



def arm_from_rows(con: duckdb.DuckDBPyConnection, runs: list[str], rows: pd.DataFrame,
                  bounds: dict[str, tuple[float, float]], opts: Options) -> Arm:
    """An Arm from RUNS' steady-state rows (run, metric, t_s, value, endpoint, status; from the store or from
    another engine's scan) and each run's [lo, hi) window; CON gives the runs' executor metadata."""
    # one order whatever the engine or the scan returned: float sums then give the same digits every call
    rows = rows.sort_values(["run", "metric", "t_s", "value", "endpoint", "status"], kind="stable", ignore_index=True)
    lats, fails, wlen = [], [], {}
    total_windows, dropped, iters, dur = 0, 0.0, 0.0, 0.0
    open_model, target = False, None
    cols = ["t_s", "value", "endpoint", "status"]
    for run in runs:
        lo, hi = bounds[run]
        width = (hi - lo) / opts.windows
        wlen[run] = width
        total_windows += opts.windows
        dur += hi - lo
        mine = rows[rows["run"] == run]
        for metric, sink in (("http_req_duration", lats), ("http_req_failed", fails)):
            df = mine.loc[mine["metric"] == metric, cols].reset_index(drop=True)
            df["run"] = run
            df["window"] = np.minimum((df["t_s"] // width).astype(int), opts.windows - 1)
            sink.append(df)
        counts = mine[mine["metric"].isin(["dropped_iterations", "iterations"])].groupby("metric")["value"].sum()
        dropped += float(counts.get("dropped_iterations", 0.0))
        iters += float(counts.get("iterations", 0.0))
        tags = con.execute("SELECT tags FROM k6_runs WHERE run = ?", [run]).fetchone()[0] or {}
        has_dropped = con.execute("SELECT count(*) FROM k6_metrics WHERE run = ? AND metric = 'dropped_iterations'",
                                  [run]).fetchone()[0]
        if "arrival-rate" in str(tags.get("executor", "")) or has_dropped or counts.get("dropped_iterations"):
            open_model = True
        for key in ("target_rate", "rate", "target_rps"):
            if key in tags:
                try:
                    target = float(tags[key])
                except ValueError:
                    pass
    lat, fail = pd.concat(lats, ignore_index=True), pd.concat(fails, ignore_index=True)
    return Arm(runs, lat, fail, wlen, total_windows, dropped, iters, dur, open_model, target)



def resource_rows(con: duckdb.DuckDBPyConnection, before: list[str], after: list[str],
                  opts: Options) -> list[dict[str, Any]]:
    """CPU/memory per arm from stored Prometheus series (presets cpu, memory) that cover the runs'
    steady state: mean of the series (summed over its label sets) within each arm's runs. Sets of one
    preset and one query (e.g. `lab-pre.cpu` and `lab-post.cpu`, one range per run) are read as one
    series. Reported with the playbook's -20% target; no interval (one series per arm, not a sample)."""
    sets = con.execute("SELECT name, preset, query FROM prom_series_sets WHERE preset IN ('cpu', 'memory') "
                       "ORDER BY name").fetchall()
    if not sets:
        return []
    from workbench.analysis.prometheus import series_frame

    groups: dict[tuple, list[str]] = {}
    for name, preset, query in sets:   # a set without its query stands alone
        groups.setdefault((preset, query if query is not None else ("", name)), []).append(name)
    spans = {arm: [_span(con, r, opts) for r in runs] for arm, runs in (("before", before), ("after", after))}
    out = []
    for (preset, _), names in groups.items():
        df = pd.concat([series_frame(con, n) for n in names]).drop_duplicates(["ts", "labels"])
        total = df.groupby("ts")["value"].sum()
        t = total.index.map(lambda x: x.timestamp()).to_numpy(dtype=float)
        means = {}
        for arm, sp in spans.items():
            m = np.zeros(t.size, dtype=bool)
            for lo, hi in sp:
                m |= (t >= lo) & (t < hi)
            vals = total.to_numpy()[m]
            vals = vals[np.isfinite(vals)]
            means[arm] = float(vals.mean()) if vals.size >= 3 else None
        if means["before"] is None or means["after"] is None:
            continue
        change = (means["after"] / means["before"] - 1) * 100 if means["before"] else None
        out.append({"endpoint": " + ".join(names), "metric": preset, "before": means["before"],
                    "after": means["after"], "change_pct": change})
    return out



def series_overlap(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """How many consecutive points share data: the query's range window over its step (1 if unknown)."""
    row = con.execute("SELECT query, step_s FROM prom_series_sets WHERE name = ?", [name]).fetchone()
    if not row or not row[0] or not row[1]:
        return 1
    windows = [parse_duration(w) for w in re.findall(r"\[(\d+(?:ms|s|m|h))\]", row[0])]
    return max([1] + [math.ceil(w / row[1]) for w in windows if w])



def one_series(df: pd.DataFrame, name: str) -> pd.Series:
    if df.empty:
        raise WorkbenchError(f"Prometheus series set {name!r} has no points")
    if df["labels"].nunique() > 1:
        raise WorkbenchError(f"Prometheus series set {name!r} holds {df['labels'].nunique()} series: "
                             "collect one series per arm (e.g. sum by () or a query_type selector)")
    return df.set_index("ts")["value"]



def runs_present(con: duckdb.DuckDBPyConnection, runs: list[str]) -> bool:
    """True when every run is stored (notebooks say so instead of failing when it is not)."""
    return set(runs) <= set(k6runs.known(con))



def latency_frame(con: duckdb.DuckDBPyConnection, arms: dict[str, dict[str, Any]],
                  opts: Options | None = None) -> pd.DataFrame:
    """Long frame (arm, endpoint, latency_ms) of steady-state request latencies for plotting.

    ARMS maps a label to `load_arm` keyword arguments: {"before": {"runs": ["pre"]}, ...} or
    {"standard": {"runs": ["ab"], "variant_tag": "variant", "variant": "standard"}}.
    """
    opts = opts or Options()
    parts = []
    for label, spec in arms.items():
        arm = load_arm(con, list(spec["runs"]), opts, spec.get("variant_tag"), spec.get("variant"))
        parts.append(pd.DataFrame({"arm": label, "endpoint": arm.lat["endpoint"].to_numpy(),
                                   "latency_ms": arm.lat["value"].to_numpy()}))
    return pd.concat(parts, ignore_index=True)



def before_after_latency(con: duckdb.DuckDBPyConnection, before: str, after: str,
                         opts: Options | None = None) -> pd.DataFrame:
    """`latency_frame` with arms 'before' and 'after' (each one or several comma-separated runs)."""
    return latency_frame(con, {"before": {"runs": split_runs(before)}, "after": {"runs": split_runs(after)}}, opts)



def ab_latency(con: duckdb.DuckDBPyConnection, run: str, variant_tag: str, control: str, treatment: str,
               opts: Options | None = None) -> pd.DataFrame:
    """`latency_frame` with one arm per variant of RUN, named after the variant."""
    return latency_frame(con, {v: {"runs": [run], "variant_tag": variant_tag, "variant": v}
                               for v in (control, treatment)}, opts)
