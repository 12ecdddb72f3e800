"""Before/after and A/B comparison of k6 runs (and of two Prometheus series), block-aware.

Requests within one run are not independent: load, caches and GC drift together. Every interval here
treats time windows as clusters (`workbench.stats.block_*`): the run's steady state (after `skip_s`,
before `until_s`) is cut into `windows` equal windows per run, and the statistic's linearised
influence is summed per window. With one run per arm the run-to-run variance is not captured (a note
says so); several runs per arm pool their windows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from workbench import stats
from workbench.durations import parse_duration_s
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    pass

METRICS = ("p50_ms", "p95_ms", "p99_ms", "rps", "error_rate", "rate_5xx")
QUANTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}
HIGHER_IS_BETTER = {"rps"}
PROPORTIONS = {"error_rate", "rate_5xx"}
# The playbook's success metrics (reported, not enforced, unless a targets file says required)
PLAYBOOK_TARGETS = [
    {"endpoint": "all", "metric": "p95_ms", "change_pct": -20.0, "required": False},
    {"endpoint": "all", "metric": "rps", "change_pct": 30.0, "required": False},
    {"endpoint": "all", "metric": "rate_5xx", "change_pct": -50.0, "required": False},
]
RESOURCE_METRICS = ("cpu", "memory")   # Prometheus presets whose series compare reports per arm
MIN_REQUESTS = 20
MIN_ACTIVE_WINDOWS = 10   # fewer busy windows than this: no drift-aware interval (requests in a burst)


@dataclass
class Options:
    """What is compared: steady-state window, scenario, significance level, adjustment."""

    skip_s: float = 0.0
    until_s: float | None = None      # offset from the run's start; negative = from its end
    scenario: str | None = None
    alpha: float = 0.05
    adjust: str = "holm"              # holm | bh | none
    windows: int = 40                 # time windows per run (drift-aware SEs work on window sums)


@dataclass
class Arm:
    """The steady-state requests of one arm: latencies (with status) and http_req_failed values."""

    runs: list[str]
    lat: pd.DataFrame                 # run, window, t_s, value, name, status
    fail: pd.DataFrame                # run, window, value, name
    window_s: dict[str, float]        # run -> window length (s)
    windows: int                      # total windows in the arm
    dropped_iterations: float = 0.0
    iterations: float = 0.0
    duration_s: float = 0.0
    open_model: bool = False
    target_rate: float | None = None


def parse_duration(text: str | float | None) -> float | None:
    """'30s', '2m', '1m30s', '500ms', '-30s' or a number of seconds -> seconds (None when not given)."""
    if text is None or text == "":
        return None
    return parse_duration_s(text, signed=True, example="30s, 2m, 1m30s or 500ms")


def split_runs(spec: str | list[str]) -> list[str]:
    runs = list(dict.fromkeys(r.strip() for r in (spec.split(",") if isinstance(spec, str) else spec) if r.strip()))
    if not runs:
        raise WorkbenchError("no run given: pass RUN or RUN,RUN,...")
    return runs


# -- loading ------------------------------------------------------------------------------------------
def _check_runs(con: duckdb.DuckDBPyConnection, runs: list[str]) -> None:
    known = {r[0] for r in con.execute("SELECT DISTINCT run FROM k6_runs").fetchall()}
    missing = [r for r in runs if r not in known]
    if missing:
        hint = ", ".join(sorted(known)) or "none: `workbench ingest k6 FILE --run RUN` first"
        raise WorkbenchError(f"unknown k6 run(s) {', '.join(missing)} (stored runs: {hint})")


def _span(con: duckdb.DuckDBPyConnection, run: str, opts: Options) -> tuple[float, float]:
    row = con.execute("SELECT epoch(min(ts)), epoch(max(ts)) FROM k6_points WHERE run = ?", [run]).fetchone()
    if row is None or row[0] is None:
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
    _check_runs(con, runs)
    lats, fails, wlen = [], [], {}
    total_windows, dropped, iters, dur = 0, 0.0, 0.0, 0.0
    open_model, target = False, None
    for run in runs:
        lo, hi = _span(con, run, opts)
        width = (hi - lo) / opts.windows
        wlen[run] = width
        total_windows += opts.windows
        dur += hi - lo
        where = "run = ? AND ts >= to_timestamp(?) AND ts < to_timestamp(?)"
        params: list[Any] = [run, lo, hi]
        if opts.scenario:
            where += " AND scenario = ?"
            params.append(opts.scenario)
        if variant_tag is not None:
            where += " AND tags->>? = ?"
            params += [variant_tag, variant]
        q = (f"SELECT epoch(ts) - ? AS t_s, value, coalesce(name, url, '') AS name, status FROM k6_points "
             f"WHERE metric = ? AND {where}")
        for metric, sink in (("http_req_duration", lats), ("http_req_failed", fails)):
            df = con.execute(q, [lo, metric, *params]).df()
            df["run"] = run
            df["window"] = np.minimum((df["t_s"] // width).astype(int), opts.windows - 1)
            sink.append(df)
        counts = dict(con.execute(
            f"SELECT metric, sum(value) FROM k6_points WHERE metric IN ('dropped_iterations', 'iterations') "
            f"AND {where} GROUP BY metric", params).fetchall())
        dropped += counts.get("dropped_iterations") or 0.0
        iters += counts.get("iterations") or 0.0
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
    if lat.empty:
        what = f" with {variant_tag}={variant}" if variant_tag else ""
        scen = f" in scenario {opts.scenario!r}" if opts.scenario else ""
        raise WorkbenchError(f"no http_req_duration points{what}{scen} in run(s) {', '.join(runs)} "
                             "after --skip/--until: check the run names, the tag and the time window")
    return Arm(runs, lat, fail, wlen, total_windows, dropped, iters, dur, open_model, target)


# -- per-endpoint statistics --------------------------------------------------------------------------
def _window_counts(arm: Arm, mask: pd.Series | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Requests per window in time order (zeros included), window lengths (s) and the run of each."""
    lat = arm.lat if mask is None else arm.lat[mask]
    per_run = int(round(arm.windows / len(arm.window_s)))
    counts, lengths, runs = [], [], []
    for run, width in arm.window_s.items():
        w = lat.loc[lat["run"] == run, "window"].to_numpy(dtype=np.int64)
        counts.append(np.bincount(w, minlength=per_run)[:per_run])
        lengths.append(np.full(per_run, width))
        runs += [run] * per_run
    return np.concatenate(counts).astype(float), np.concatenate(lengths), np.asarray(runs)


def arm_stat(arm: Arm, endpoint: str, metric: str) -> stats.BlockStat | None:
    """One arm's drift-aware statistic for ENDPOINT ('all' = every request) and METRIC, or None."""
    sel = arm.lat if endpoint == "all" else arm.lat[arm.lat["name"] == endpoint]
    if len(sel) < MIN_REQUESTS:
        return None
    multi = len(arm.runs) > 1
    runs = sel["run"].to_numpy() if multi else None
    if metric in QUANTILES:
        return stats.block_quantile(sel["value"].to_numpy(), sel["window"].to_numpy(), QUANTILES[metric], runs)
    if metric == "rps":
        counts, lengths, run_of = _window_counts(arm, None if endpoint == "all" else arm.lat["name"] == endpoint)
        return stats.block_rate(counts, lengths, run_of if multi else None)
    if metric == "rate_5xx":
        st = sel["status"].fillna("").astype(str)
        return stats.block_mean(st.str.startswith("5").to_numpy(dtype=float), sel["window"].to_numpy(), runs)
    if metric == "error_rate":
        f = arm.fail if endpoint == "all" else arm.fail[arm.fail["name"] == endpoint]
        if len(f) < MIN_REQUESTS:
            return None
        return stats.block_mean(f["value"].to_numpy(), f["window"].to_numpy(), f["run"].to_numpy() if multi else None)
    raise ValueError(metric)


def _row(endpoint: str, metric: str, a: stats.BlockStat, b: stats.BlockStat, alpha: float) -> dict[str, Any]:
    prop = metric in PROPORTIONS
    row: dict[str, Any] = {"endpoint": endpoint, "metric": metric, "before": a.value, "after": b.value}
    rel = stats.block_diff(a, b, alpha, log_scale=True, label=metric)
    change = (b.value / a.value - 1) * 100 if a.value > 0 else (0.0 if b.value == a.value else None)
    row["change_pct"] = change
    row["ci_low_pct"] = rel.ci_low * 100 if math.isfinite(rel.ci_low) else None
    row["ci_high_pct"] = rel.ci_high * 100 if math.isfinite(rel.ci_high) else None
    test = rel
    if prop:
        diff = stats.block_diff(a, b, alpha, log_scale=False, label=metric)
        row.update(change_pp=diff.estimate * 100, ci_low_pp=diff.ci_low * 100, ci_high_pp=diff.ci_high * 100)
        test = diff
    if a.se == 0 and b.se == 0 and a.value == b.value:
        p = 1.0
    elif min(a.active, b.active) < MIN_ACTIVE_WINDOWS:
        p = None  # e.g. a login burst inside one window: no honest interval
        for k in ("ci_low_pct", "ci_high_pct", "ci_low_pp", "ci_high_pp"):
            if k in row:
                row[k] = None
    else:
        p = test.p_value
    row["p_value"] = p if p is not None and math.isfinite(p) else None
    row.update(n_before=a.n, n_after=b.n, windows_before=a.windows, windows_after=b.windows)
    return row


def _verdicts(rows: list[dict], alpha: float, method: str) -> None:
    p = [r["p_value"] if r["p_value"] is not None else math.nan for r in rows]
    adj = np.asarray(p, dtype=float) if method == "none" else stats.adjust(p, method)
    for r, pa in zip(rows, adj, strict=True):
        r["p_adjusted"] = float(pa) if math.isfinite(pa) else None
        r["verdict"] = "no_change"
        if r["p_adjusted"] is not None and r["p_adjusted"] < alpha:
            up = (r["after"] > r["before"])
            better = up if r["metric"] in HIGHER_IS_BETTER else not up
            r["verdict"] = "improved" if better else "regressed"


def _endpoints(a: Arm, b: Arm) -> list[str]:
    common = [e for e in sorted(set(a.lat["name"].unique()) & set(b.lat["name"].unique())) if e]
    return common if len(common) == 1 and len(a.lat["name"].unique()) == 1 else ["all"] + common


def compare_arms(a: Arm, b: Arm, opts: Options, metrics: tuple[str, ...] = METRICS) -> list[dict[str, Any]]:
    """Result rows (DESIGN.md compare shape, plus n/windows and pp columns) for every endpoint x metric."""
    rows = []
    for ep in _endpoints(a, b):
        for m in metrics:
            if m == "rps" and (a.open_model or b.open_model):
                continue
            sa, sb = arm_stat(a, ep, m), arm_stat(b, ep, m)
            if sa is not None and sb is not None:
                rows.append(_row(ep, m, sa, sb, opts.alpha))
    _verdicts(rows, opts.alpha, opts.adjust)
    return rows


# -- targets ------------------------------------------------------------------------------------------
def load_targets(path: str | None) -> list[dict[str, Any]]:
    """A YAML list of {metric, change_pct, endpoint: all, required: true}; None -> the playbook's,
    reported but not required."""
    if path is None:
        return [dict(t) for t in PLAYBOOK_TARGETS]
    import yaml

    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise WorkbenchError(f"cannot read targets file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise WorkbenchError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e
    except UnicodeDecodeError as e:
        raise WorkbenchError(f"{path}: not a YAML text file (byte {e.start} is not UTF-8)") from None
    if isinstance(data, dict) and "targets" in data:
        data = data["targets"]
    if not isinstance(data, list):
        raise WorkbenchError(f"{path}: expected a YAML list of targets (- metric: p95_ms, change_pct: -20)")
    out = []
    for i, t in enumerate(data, 1):
        if not isinstance(t, dict) or t.get("metric") not in METRICS + RESOURCE_METRICS or "change_pct" not in t:
            raise WorkbenchError(f"{path}: target {i} needs metric (one of {', '.join(METRICS + RESOURCE_METRICS)}) "
                                 "and change_pct")
        out.append({"endpoint": str(t.get("endpoint", "all")), "metric": t["metric"],
                    "change_pct": float(t["change_pct"]), "required": bool(t.get("required", True))})
    return out


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


# -- entry points -------------------------------------------------------------------------------------
def compare_runs(con: duckdb.DuckDBPyConnection, before: str | list[str], after: str | list[str],
                 opts: Options | None = None, targets: list[dict] | None = None) -> dict[str, Any]:
    """`workbench compare`: the DESIGN.md JSON shape (+ notes, arrival_rate, options)."""
    opts = opts or Options()
    rb, ra = split_runs(before), split_runs(after)
    a, b = load_arm(con, rb, opts), load_arm(con, ra, opts)
    rows = compare_arms(a, b, opts)
    arrival = {"before": _arrival(a), "after": _arrival(b)} if a.open_model or b.open_model else None
    return compare_result(con, rb, ra, rows, opts, targets, arrival)


def compare_result(con: duckdb.DuckDBPyConnection, rb: list[str], ra: list[str], rows: list[dict[str, Any]],
                   opts: Options, targets: list[dict] | None, arrival: dict[str, Any] | None) -> dict[str, Any]:
    """The `compare` result from its endpoint x metric ROWS (from the store, or another engine's per-window
    inputs): resources, targets, the gate, notes."""
    resources = resource_rows(con, rb, ra, opts)
    if targets is None:
        targets = load_targets(None) + [{"endpoint": r["endpoint"], "metric": r["metric"], "change_pct": -20.0,
                                         "required": False} for r in resources]
    tg = evaluate_targets(targets, rows + resources)
    regressed = any(r["verdict"] == "regressed" for r in rows)
    missed = any(t["required"] and not t["met"] for t in tg)
    notes = []
    if len(rb) == 1 or len(ra) == 1:
        notes = ["one run per arm: intervals cover variation within each run (time windows as clusters), "
                 "not run-to-run variance; pass several runs per arm (RUN,RUN,...) to bring it in"]
    out: dict[str, Any] = {"before": ",".join(rb), "after": ",".join(ra), "passed": not (regressed or missed),
                           "results": rows, "targets": tg, "resources": resources, "notes": notes,
                           "options": _opts_dict(opts)}
    if arrival is not None:
        out["arrival_rate"] = arrival
        out["notes"].append("arrival-rate executor: rps is set by the test, so achieved vs target rate and "
                            "dropped_iterations are reported instead of an rps comparison")
    return out


def resource_rows(con: duckdb.DuckDBPyConnection, before: list[str], after: list[str],
                  opts: Options) -> list[dict[str, Any]]:
    """CPU/memory per arm from stored Prometheus series (presets cpu, memory) that cover the runs'
    steady state: mean of the series (summed over its label sets) within each arm's runs. Reported
    with the playbook's -20% target; no interval (one series per arm, not a sample)."""
    sets = con.execute("SELECT name, preset FROM prom_series_sets WHERE preset IN ('cpu', 'memory') "
                       "ORDER BY name").fetchall()
    if not sets:
        return []
    from workbench.analysis.prometheus import series_frame

    spans = {arm: [_span(con, r, opts) for r in runs] for arm, runs in (("before", before), ("after", after))}
    out = []
    for name, preset in sets:
        df = series_frame(con, name)
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
        out.append({"endpoint": name, "metric": preset, "before": means["before"], "after": means["after"],
                    "change_pct": change})
    return out


def _arrival(arm: Arm) -> dict[str, Any]:
    return {"achieved_iterations_per_s": arm.iterations / arm.duration_s if arm.duration_s else None,
            "achieved_rps": len(arm.lat) / arm.duration_s if arm.duration_s else None,
            "target_rate": arm.target_rate, "dropped_iterations": arm.dropped_iterations}


def _opts_dict(opts: Options) -> dict[str, Any]:
    return {"skip_s": opts.skip_s, "until_s": opts.until_s, "scenario": opts.scenario, "alpha": opts.alpha,
            "adjust": opts.adjust, "windows_per_run": opts.windows}


def abtest_run(con: duckdb.DuckDBPyConnection, run: str, variant_tag: str, control: str, treatment: str,
               opts: Options | None = None, split: float | None = None,
               targets: list[dict] | None = None) -> dict[str, Any]:
    """`workbench abtest`: variants within one run, SRM check first (SPLIT = treatment's % share)."""
    opts = opts or Options()
    _check_runs(con, [run])
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
    share = 50.0 if split is None else float(split)
    srm = stats.srm_check(counts, {control: 100 - share, treatment: share})
    a = load_arm(con, [run], opts, variant_tag, control)
    b = load_arm(con, [run], opts, variant_tag, treatment)
    rows = compare_arms(a, b, opts, metrics=tuple(m for m in METRICS if m != "rps"))
    tg = evaluate_targets(targets, rows) if targets else []
    regressed = any(r["verdict"] == "regressed" for r in rows)
    missed = any(t["required"] and not t["met"] for t in tg)
    notes = ["variants share one run: both see the same load and drift; time windows are the clusters"]
    if not srm.passed:
        notes.insert(0, f"SAMPLE RATIO MISMATCH: counts {counts} vs expected split {100 - share:g}/{share:g} "
                        f"(p={srm.p_value:.2g} < {srm.threshold}); the assignment is broken, do not trust the results")
    return {"control": control, "treatment": treatment, "run": run, "variant_tag": variant_tag,
            "passed": bool(srm.passed and not regressed and not missed),
            "srm": {"counts": counts, "expected_split_pct": {control: 100 - share, treatment: share},
                    "p_value": srm.p_value, "passed": srm.passed},
            "results": rows, "targets": tg, "notes": notes, "options": _opts_dict(opts)}


def abtest_prometheus(con: duckdb.DuckDBPyConnection, control: str, treatment: str, alpha: float = 0.05,
                      higher_is_better: bool = False) -> dict[str, Any]:
    """Two stored Prometheus series (e.g. p95 over time per query_type), paired by timestamp.

    The per-timestamp log ratio's mean is tested with an autocorrelation-robust (EWC) standard error
    (`stats.paired_series_test`), so overlapping rate() windows do not make the series look more certain.
    """
    from workbench.analysis.prometheus import series_frame

    c, t = _one_series(series_frame(con, control), control), _one_series(series_frame(con, treatment), treatment)
    pair = pd.concat([c.rename("c"), t.rename("t")], axis=1, join="inner").dropna()
    pair = pair[(pair["c"] > 0) & (pair["t"] > 0) & np.isfinite(pair["c"]) & np.isfinite(pair["t"])]
    if len(pair) < 5:
        raise WorkbenchError(f"Prometheus series {control!r} and {treatment!r} share only {len(pair)} usable "
                             "timestamps: collect both over the same range with the same step")
    overlap = max(_overlap(con, control), _overlap(con, treatment))
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


def _overlap(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """How many consecutive points share data: the query's range window over its step (1 if unknown)."""
    row = con.execute("SELECT query, step_s FROM prom_series_sets WHERE name = ?", [name]).fetchone()
    if not row or not row[0] or not row[1]:
        return 1
    windows = [parse_duration(w) for w in re.findall(r"\[(\d+(?:ms|s|m|h))\]", row[0])]
    return max([1] + [math.ceil(w / row[1]) for w in windows if w])


def _one_series(df: pd.DataFrame, name: str) -> pd.Series:
    if df.empty:
        raise WorkbenchError(f"Prometheus series set {name!r} has no points")
    if df["labels"].nunique() > 1:
        raise WorkbenchError(f"Prometheus series set {name!r} holds {df['labels'].nunique()} series: "
                             "collect one series per arm (e.g. sum by () or a query_type selector)")
    return df.set_index("ts")["value"]


# -- renderings for CI systems (strings; the CLI writes the files) --------------------------------------
def _fmt(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:+.{nd}f}" if isinstance(v, float) else str(v)


def _arms(result: dict) -> tuple[str, str]:
    return (result.get("before", result.get("control")), result.get("after", result.get("treatment")))


def to_junit(result: dict[str, Any], suite: str = "workbench compare") -> str:
    """JUnit XML: one test case per endpoint x metric (a failure per significant regression) and per
    target (a failure when a required target is missed)."""
    import xml.etree.ElementTree as ET

    a, b = _arms(result)
    cases = []
    for r in result["results"]:
        case = ET.Element("testcase", classname=f"{suite}.{r['endpoint']}", name=r["metric"])
        msg = (f"{r['metric']} {r['endpoint']}: {a} {r['before']:.6g} -> {b} {r['after']:.6g} "
               f"({_fmt(r['change_pct'])}%, CI {_fmt(r.get('ci_low_pct'))}..{_fmt(r.get('ci_high_pct'))}%, "
               f"p_adj={_fmt(r.get('p_adjusted'), 4)})")
        if r["verdict"] == "regressed":
            ET.SubElement(case, "failure", message="regressed: " + msg, type="regression").text = msg
        else:
            ET.SubElement(case, "system-out").text = f"{r['verdict']}: {msg}"
        cases.append(case)
    for t in result.get("targets", []):
        case = ET.Element("testcase", classname=f"{suite}.targets", name=f"{t['endpoint']} {t['metric']} "
                          f"{t['target_change_pct']:+g}%")
        if t["required"] and not t["met"]:
            ET.SubElement(case, "failure", type="target", message=f"target missed: change {_fmt(t['change_pct'])}%"
                          f" vs required {t['target_change_pct']:+g}%")
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0")
    ts.extend(cases)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def to_markdown(result: dict[str, Any]) -> str:
    """A Markdown summary for a pull-request comment: verdict line, table, targets, notes."""
    a, b = _arms(result)
    reg = [r for r in result["results"] if r["verdict"] == "regressed"]
    imp = [r for r in result["results"] if r["verdict"] == "improved"]
    head = "✅ passed" if result["passed"] else "❌ failed"
    lines = [f"### Performance comparison: {a} → {b} — {head}", ""]
    lines.append(f"{len(imp)} improved, {len(reg)} regressed, "
                 f"{len(result['results']) - len(imp) - len(reg)} no change (significance after multiple-testing "
                 "adjustment).")
    if result.get("srm"):
        srm = result["srm"]
        lines.append(f"SRM check: {'ok' if srm['passed'] else '**SAMPLE RATIO MISMATCH**'} "
                     f"(counts {srm['counts']}, p={srm['p_value']:.3g}).")
    lines += ["", f"| endpoint | metric | {a} | {b} | change % | CI % | p adj. | verdict |",
              "|---|---|---:|---:|---:|---|---:|---|"]
    icon = {"improved": "🟢 improved", "regressed": "🔴 regressed", "no_change": "no change"}
    for r in result["results"]:
        lines.append(f"| {r['endpoint']} | {r['metric']} | {r['before']:.4g} | {r['after']:.4g} | "
                     f"{_fmt(r['change_pct'])} | {_fmt(r.get('ci_low_pct'))} .. {_fmt(r.get('ci_high_pct'))} | "
                     f"{_fmt(r.get('p_adjusted'), 4).lstrip('+')} | {icon[r['verdict']]} |")
    if result.get("targets"):
        lines += ["", "| target | required | change % | met |", "|---|---|---:|---|"]
        for t in result["targets"]:
            met = "n/a" if t["met"] is None else ("yes" if t["met"] else "no")
            lines.append(f"| {t['endpoint']} {t['metric']} {t['target_change_pct']:+g}% | "
                         f"{'yes' if t['required'] else 'reported'} | {_fmt(t['change_pct'])} | {met} |")
    for n in result.get("notes", []):
        lines += ["", f"> {n}"]
    return "\n".join(lines) + "\n"


# -- for the notebooks --------------------------------------------------------------------------------
def runs_present(con: duckdb.DuckDBPyConnection, runs: list[str]) -> bool:
    """True when every run is stored (notebooks say so instead of failing when it is not)."""
    known = {r[0] for r in con.execute("SELECT run FROM k6_runs").fetchall()}
    return all(r in known for r in runs)


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
        parts.append(pd.DataFrame({"arm": label, "endpoint": arm.lat["name"].to_numpy(),
                                   "latency_ms": arm.lat["value"].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def results_frame(result: dict[str, Any]) -> pd.DataFrame:
    """The result rows as a DataFrame (for tables and the forest plot)."""
    return pd.DataFrame(result["results"])


def verdict_text(result: dict[str, Any]) -> tuple[str, bool]:
    """One paragraph written from the numbers: what improved or regressed, targets, the gate."""
    a, b = _arms(result)

    def say(r: dict) -> str:
        ci = ""
        if r.get("ci_low_pct") is not None and r.get("ci_high_pct") is not None:
            ci = f" (95% CI {r['ci_low_pct']:+.1f}% to {r['ci_high_pct']:+.1f}%)"
        return f"{r['endpoint']} {r['metric']} {r['change_pct']:+.1f}%{ci}"

    def group(verdict: str) -> list[str]:
        """One phrase per endpoint: its p95 when that moved, else its first moved metric, + how many more."""
        by_ep: dict[str, list[dict]] = {}
        for r in result["results"]:
            if r["verdict"] == verdict and r["change_pct"] is not None:
                by_ep.setdefault(r["endpoint"], []).append(r)
        out = []
        for rows in by_ep.values():
            lead = next((r for r in rows if r["metric"] == "p95_ms"), rows[0])
            more = len(rows) - 1
            out.append(say(lead) + (f" (+{more} more metric{'s' if more > 1 else ''})" if more else ""))
        return out

    imp, reg = group("improved"), group("regressed")
    parts = []
    srm = result.get("srm")
    if srm and not srm["passed"]:
        parts.append(f"Sample ratio mismatch (counts {srm['counts']}, p={srm['p_value']:.2g}): the assignment is "
                     "broken, so the comparison below cannot be trusted.")
    parts.append(f"{b} vs {a}: " + (f"improved {'; '.join(imp)}." if imp else "no significant improvement."))
    parts.append(f"Regressed: {'; '.join(reg)}." if reg else "No metric regressed significantly.")
    for t in result.get("targets", []):
        if t["met"] is None:
            continue
        word = "met" if t["met"] else "missed"
        kind = "required" if t["required"] else "playbook target, reported"
        chg = "n/a" if t["change_pct"] is None else f"{t['change_pct']:+.1f}%"
        parts.append(f"Target {t['endpoint']} {t['metric']} {t['target_change_pct']:+g}% {word} ({chg}; {kind}).")
    parts.append("Gate: passed." if result["passed"] else "Gate: FAILED.")
    return " ".join(parts), bool(result["passed"])


@dataclass
class Outcome:
    """What notebooks 40 and 50 show first: the compare/abtest result (None without data) and the verdict."""

    result: dict[str, Any] | None
    verdict: str
    ok: bool | None
    hint: str = ""                    # Markdown telling how to get data, when there is none

    @property
    def have(self) -> bool:
        return self.result is not None


def notebook_options(skip: str | float | None = "0s", until: str | float | None = "",
                     scenario: str | None = "") -> Options:
    """Options from the notebooks' string parameters ('' = not given)."""
    return Options(skip_s=parse_duration(skip) or 0.0, until_s=parse_duration(until), scenario=scenario or None)


def before_after_outcome(con: duckdb.DuckDBPyConnection | None, before: str, after: str,
                         opts: Options | None = None, targets: str = "", db: str = "") -> Outcome:
    """`compare_runs` and its verdict for notebook 40, or why there is nothing to compare (CON None: no store)."""
    if con is None or not runs_present(con, split_runs(before) + split_runs(after)):
        return Outcome(None, f"No data: runs {before!r} / {after!r} are not in {db}.", None,
                       f"The store has no k6 runs named `{before}` and `{after}`. Ingest them with "
                       "`workbench ingest k6 FILE --run RUN` and run this notebook with `-p before RUN -p after RUN`.")
    result = compare_runs(con, before, after, opts, load_targets(targets or None))
    return Outcome(result, *verdict_text(result))


def abtest_outcome(con: duckdb.DuckDBPyConnection | None, run: str, variant_tag: str, control: str,
                   treatment: str, opts: Options | None = None, split: float | None = None,
                   db: str = "") -> Outcome:
    """`abtest_run` and its verdict for notebook 50, or why there is nothing to compare (CON None: no store)."""
    why = f"run {run!r} is not in {db}"
    if con is not None and runs_present(con, [run]):
        try:
            result = abtest_run(con, run, variant_tag, control, treatment, opts, split)
        except WorkbenchError as e:
            why = str(e)
        else:
            return Outcome(result, *verdict_text(result))
    return Outcome(None, f"No data: {why}.", None,
                   "Ingest a k6 run whose requests carry the variant tag, then run this notebook with "
                   "`-p run RUN -p variant_tag TAG -p control A -p treatment B`.")


def before_after_latency(con: duckdb.DuckDBPyConnection, before: str, after: str,
                         opts: Options | None = None) -> pd.DataFrame:
    """`latency_frame` with arms 'before' and 'after' (each one or several comma-separated runs)."""
    return latency_frame(con, {"before": {"runs": split_runs(before)}, "after": {"runs": split_runs(after)}}, opts)


def ab_latency(con: duckdb.DuckDBPyConnection, run: str, variant_tag: str, control: str, treatment: str,
               opts: Options | None = None) -> pd.DataFrame:
    """`latency_frame` with one arm per variant of RUN, named after the variant."""
    return latency_frame(con, {v: {"runs": [run], "variant_tag": variant_tag, "variant": v}
                               for v in (control, treatment)}, opts)


TABLE_COLUMNS = ("endpoint", "metric", "before", "after", "change_pct", "ci_low_pct", "ci_high_pct", "change_pp",
                 "p_value", "p_adjusted", "verdict")


def results_table(result: dict[str, Any], p_value: bool = True) -> pd.DataFrame:
    """The result rows for the 'all metrics' table: the columns present, in order (raw p-value optional);
    an A/B result's before/after columns are named after its control and treatment."""
    res = results_frame(result)
    cols = [c for c in TABLE_COLUMNS if c in res and (p_value or c != "p_value")]
    if "control" in result:
        return res[cols].rename(columns={"before": result["control"], "after": result["treatment"]})
    return res[cols]


def targets_frame(result: dict[str, Any]) -> pd.DataFrame:
    """The evaluated targets as a table (empty frame when there are none)."""
    return pd.DataFrame(result.get("targets") or [])


def notes_markdown(result: dict[str, Any]) -> list[str]:
    """The result's notes as Markdown quotes, then the arrival-rate figures when the runs were open-model."""
    out = [f"> {note}" for note in result.get("notes", [])]
    if "arrival_rate" in result:
        out.append(f"Arrival-rate executor: `{result['arrival_rate']}`")
    return out


def srm_markdown(result: dict[str, Any]) -> str:
    """One Markdown line on the sample-ratio check: counts, observed and planned shares, p-value."""
    srm = result["srm"]
    total = sum(srm["counts"].values())
    state = "passed" if srm["passed"] else "**FAILED — sample ratio mismatch**"
    shares = ", ".join(f"{k} {v:,} ({100 * v / total:.1f}%, planned {srm['expected_split_pct'][k]:g}%)"
                       for k, v in srm["counts"].items())
    return f"SRM check {state}: {shares}; p = {srm['p_value']:.3g}."
