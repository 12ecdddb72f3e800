"""Before/after and A/B comparison of k6 runs (and of two Prometheus series), block-aware.

Requests within one run are not independent: load, caches and GC drift together. Every interval here
treats time windows as clusters (`workbench.gate`): the run's steady state (after `skip_s`, before
`until_s`) is cut into `windows` equal windows per run, and the statistic's linearised influence is
summed per window. Several runs per arm are the unit of a random-effects model; with one run per arm
the run-to-run variance cannot be estimated (a note says so and an assumed run sd is added).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from workbench import gate, stats
from workbench.analysis import runs as k6runs
from workbench.analysis.rounding import change_vs_target
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
    tolerance: dict[str, Tolerance] = field(default_factory=dict)   # metric -> tolerance (else the defaults)
    auto_tolerance: dict[tuple[str, str], Tolerance] | None = None  # learned from baseline runs
    run_sd: float = 0.02              # assumed run-to-run sd (log scale) when each arm has one run
    min_tail: int = gate.MIN_TAIL     # requests above a quantile in each arm before it gets a p-value
    strict: bool = False              # the gate also fails on inconclusive rows
    allow_missing: bool = False       # endpoints in one arm only do not fail the gate


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


def split_arms(before: str | list[str], after: str | list[str]) -> tuple[list[str], list[str]]:
    """(before runs, after runs); the same set on both sides is allowed (every difference is then 0),
    a run in both of two different sets is not: its run effect would sit on both sides of the difference,
    which the random-effects model takes for independent runs."""
    rb, ra = split_runs(before), split_runs(after)
    shared = [r for r in rb if r in ra]
    if shared and set(rb) != set(ra):
        raise WorkbenchError(f"run(s) {', '.join(shared)} in both --before and --after: give each arm its own runs "
                             "(or the very same runs on both sides, which compares a set with itself)")
    return rb, ra


# -- loading ------------------------------------------------------------------------------------------
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


# -- per-endpoint statistics --------------------------------------------------------------------------
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


@dataclass
class Tolerance:
    """A metric's practical-change tolerance: REL_PCT of the baseline, plus ABS_PP percentage points
    for proportions (error_rate, rate_5xx)."""

    rel_pct: float
    abs_pp: float = 0.0

    def text(self, metric: str) -> str:
        if metric in PROPORTIONS:
            return f"±({self.abs_pp:g}pp + {self.rel_pct:g}%)"
        return f"±{self.rel_pct:g}%"

    def bounds(self, metric: str, before: float | None) -> tuple[float, float]:
        """(low, high) on the test scale: log ratio for latency and rps, difference for proportions."""
        if metric in PROPORTIONS:
            t = self.abs_pp / 100 + self.rel_pct / 100 * (before or 0.0)
            return -t, t
        return math.log1p(-min(self.rel_pct, 99.0) / 100), math.log1p(self.rel_pct / 100)


DEFAULT_TOLERANCE = {"p50_ms": Tolerance(5.0), "p95_ms": Tolerance(5.0), "p99_ms": Tolerance(5.0),
                     "rps": Tolerance(5.0), "error_rate": Tolerance(10.0, 0.1), "rate_5xx": Tolerance(10.0, 0.1)}
AUTO_TOLERANCE_K = 3.0      # --tolerance auto: this many baseline run-to-run sds
AUTO_TOLERANCE_FLOOR_PCT = 1.0


def parse_tolerances(specs: list[str] | tuple[str, ...] | dict | None) -> dict[str, Tolerance]:
    """'p95_ms=5%', 'error_rate=0.2pp+10%', 'rps=8' (percent) -> {metric: Tolerance}; a dict (targets
    file) maps metric -> the same strings. 'auto' is handled by the caller."""
    out: dict[str, Tolerance] = {}
    items = specs.items() if isinstance(specs, dict) else [str(s).split("=", 1) for s in specs or []]
    for item in items:
        if len(item) != 2 or item[0].strip() not in METRICS:
            raise WorkbenchError(f"--tolerance {'='.join(map(str, item))}: use METRIC=5% or METRIC=0.2pp+10% "
                                 f"with METRIC one of {', '.join(METRICS)}")
        metric, text = item[0].strip(), str(item[1]).replace(" ", "")
        m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)pp)?\+?(?:(\d+(?:\.\d+)?)%?)?", text)
        if not text or m is None or (m.group(1) is None and m.group(2) is None):
            raise WorkbenchError(f"--tolerance {metric}={text}: use a percentage (5%) or, for rates, "
                                 "points plus a percentage (0.2pp+10%)")
        out[metric] = Tolerance(float(m.group(2) or 0.0), float(m.group(1) or 0.0))
    return out


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


# -- targets ------------------------------------------------------------------------------------------
def _read_yaml(path: str) -> Any:
    import yaml

    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except OSError as e:
        raise WorkbenchError(f"cannot read targets file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise WorkbenchError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e
    except UnicodeDecodeError as e:
        raise WorkbenchError(f"{path}: not a YAML text file (byte {e.start} is not UTF-8)") from None


def load_targets(path: str | None) -> list[dict[str, Any]]:
    """A YAML list of {metric, change_pct, endpoint: all, required: true} (or a mapping whose `targets:`
    holds it); None -> the playbook's, reported but not required."""
    if path is None:
        return [dict(t) for t in PLAYBOOK_TARGETS]
    data = _read_yaml(path)
    if isinstance(data, dict):
        data = data.get("targets", [] if "tolerance" in data else None)
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


def load_tolerances(path: str | None) -> dict[str, Tolerance]:
    """The `tolerance:` mapping of a targets file ({p95_ms: 5%, error_rate: 0.2pp+10%}); {} without one."""
    if path is None:
        return {}
    data = _read_yaml(path)
    if not isinstance(data, dict) or "tolerance" not in data:
        return {}
    if not isinstance(data["tolerance"], dict):
        raise WorkbenchError(f"{path}: tolerance must be a mapping, e.g. tolerance: {{p95_ms: 5%}}")
    try:
        return parse_tolerances(data["tolerance"])
    except WorkbenchError as e:
        raise WorkbenchError(f"{path}: {e}") from e


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
    arrival = {"before": _arrival(a), "after": _arrival(b)} if a.open_model or b.open_model else None
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
                           "options": _opts_dict(opts)}
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


def _arrival(arm: Arm) -> dict[str, Any]:
    return {"achieved_iterations_per_s": arm.iterations / arm.duration_s if arm.duration_s else None,
            "achieved_rps": len(arm.lat) / arm.duration_s if arm.duration_s else None,
            "target_rate": arm.target_rate, "dropped_iterations": arm.dropped_iterations}


def _opts_dict(opts: Options) -> dict[str, Any]:
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


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.6g}"


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
        msg = (f"{r['metric']} {r['endpoint']}: {a} {_num(r['before'])} -> {b} {_num(r['after'])} "
               f"({_fmt(r['change_pct'])}%, CI {_fmt(r.get('ci_low_pct'))}..{_fmt(r.get('ci_high_pct'))}%, "
               f"p_adj={_fmt(r.get('p_adjusted'), 4)})")
        if r["verdict"] in ("regressed", "missing"):
            ET.SubElement(case, "failure", message=f"{r['verdict']}: " + msg, type=r["verdict"]).text = msg
        else:
            ET.SubElement(case, "system-out").text = f"{r['verdict']}: {msg}"
        cases.append(case)
    for t in result.get("targets", []):
        case = ET.Element("testcase", classname=f"{suite}.targets", name=f"{t['endpoint']} {t['metric']} "
                          f"{t['target_change_pct']:+g}%")
        if t["required"] and not t["met"]:
            ET.SubElement(case, "failure", type="target", message=f"target missed: change {change_vs_target(t['change_pct'], t['target_change_pct'])}"
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
    head = "✅ passed" if result["passed"] else "❌ failed"
    lines = [f"### Performance comparison: {a} → {b} — {head}", ""]
    count = {v: sum(r["verdict"] == v for r in result["results"]) for v in gate.VERDICTS}
    lines.append(f"{count['improved']} improved, {count['regressed']} regressed, {count['no_change']} no change, "
                 f"{count['inconclusive']} inconclusive, {count['missing']} missing (significant after multiple-testing "
                 "adjustment and beyond the metric's tolerance).")
    if result.get("srm"):
        srm = result["srm"]
        lines.append(f"SRM check: {'ok' if srm['passed'] else '**SAMPLE RATIO MISMATCH**'} "
                     f"(counts {srm['counts']}, p={srm['p_value']:.3g}).")
    lines += ["", f"| endpoint | metric | {a} | {b} | change % | CI % | p adj. | verdict |",
              "|---|---|---:|---:|---:|---|---:|---|"]
    icon = {"improved": "🟢 improved", "regressed": "🔴 regressed", "no_change": "no change",
            "inconclusive": "❔ inconclusive", "missing": "⚠️ missing"}
    for r in result["results"]:
        lines.append(f"| {r['endpoint']} | {r['metric']} | {_num(r['before'])} | {_num(r['after'])} | "
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
        parts.append(pd.DataFrame({"arm": label, "endpoint": arm.lat["endpoint"].to_numpy(),
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
    unsure = sum(r["verdict"] == "inconclusive" for r in result["results"])
    missing = sorted({r["endpoint"] for r in result["results"] if r["verdict"] == "missing"})
    if unsure:
        parts.append(f"{unsure} metric{'s' if unsure > 1 else ''} inconclusive (the interval reaches past the "
                     "tolerance: more runs or requests would settle it).")
    if missing:
        parts.append(f"In one arm only: {', '.join(missing)}.")
    for t in result.get("targets", []):
        if t["met"] is None:
            continue
        word = "met" if t["met"] else "missed"
        kind = "required" if t["required"] else "playbook target, reported"
        chg = change_vs_target(t["change_pct"], t["target_change_pct"])
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
