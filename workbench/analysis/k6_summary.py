"""k6's end-of-test summary, recomputed from the raw points in the store, with k6's own keys.

Percentiles follow k6 (linear interpolation between closest ranks = DuckDB `quantile_cont`). A run that
holds only a summary file reports that file's numbers. Thresholds come from the ingested summary when
there is one; otherwise the thresholds k6 declared in its JSON output are evaluated here.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Any

import duckdb

from workbench.analysis import runs as k6runs
from workbench.errors import WorkbenchError
from workbench.sources.k6 import COMMON_TAGS

DEFAULT_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)"]
_STAT_RE = re.compile(r"^(avg|min|med|max|count|p\((\d+(?:\.\d+)?)\))$")
_THRESHOLD_RE = re.compile(r"^\s*(\w+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|==|!=|<|>|===)\s*(-?[\d.eE+-]+)\s*$")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "===": operator.eq, "!=": operator.ne}


def parse_trend_stats(spec: str | list[str] | None) -> list[str]:
    """k6's `--summary-trend-stats` syntax (`avg,min,med,max,p(90),p(99.9),count`) -> validated list."""
    if spec is None:
        return list(DEFAULT_TREND_STATS)
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    for s in items:
        m = _STAT_RE.match(s)
        if not m or (m.group(2) is not None and not 0 <= float(m.group(2)) <= 100):
            raise WorkbenchError(f"unknown trend stat {s!r}: use avg, min, med, max, count or p(N) with 0<=N<=100")
    return items


def split_submetric(name: str) -> tuple[str, dict[str, str]]:
    """`http_req_duration{name:events,status:200}` -> ('http_req_duration', {'name': 'events', ...})."""
    if "{" not in name:
        return name, {}
    base, rest = name.split("{", 1)
    tags = {}
    for part in rest.rstrip("}").split(","):
        if part.strip():
            k, _, v = part.partition(":")
            tags[k.strip()] = v.strip()
    return base, tags


def _tag_filter(tags: dict[str, str]) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for k, v in tags.items():
        col = COMMON_TAGS.get(k)
        clauses.append(f"coalesce({col}, '') = ?" if col else "coalesce(tags->>?, '') = ?")
        params.extend([v] if col else [k, v])
    return (" AND " + " AND ".join(clauses)) if clauses else "", params


def _trend_values(con: duckdb.DuckDBPyConnection, run: str, metric: str, tags: dict[str, str],
                  stats: list[str]) -> dict[str, float] | None:
    quants = sorted({_quantile(s) for s in stats if _quantile(s) is not None})
    where, params = _tag_filter(tags)
    row = con.execute(
        # fsum (compensated) rather than avg/sum: DuckDB's parallel float sums vary in the last digits from
        # one call to the next, and the same command should print the same summary
        f"SELECT count(*), fsum(value) / count(*), min(value), max(value), quantile_cont(value, ?::DOUBLE[])"
        f" FROM k6_points WHERE run = ? AND metric = ?{where}", [quants or [0.5], run, metric, *params]
    ).fetchone()
    if not row[0]:
        return None
    qv = dict(zip(quants, row[4] or [], strict=False))
    out = {}
    for s in stats:
        q = _quantile(s)
        out[s] = {"count": row[0], "avg": row[1], "min": row[2], "max": row[3]}.get(s, qv.get(q))
    return out


def _quantile(stat: str) -> float | None:
    if stat == "med":
        return 0.5
    m = _STAT_RE.match(stat)
    return float(m.group(2)) / 100 if m and m.group(2) else None


def _values(con: duckdb.DuckDBPyConnection, run: str, metric: str, mtype: str, tags: dict[str, str],
            stats: list[str], duration_s: float | None) -> dict[str, float] | None:
    if mtype == "trend":
        return _trend_values(con, run, metric, tags, stats)
    where, params = _tag_filter(tags)
    base = f"FROM k6_points WHERE run = ? AND metric = ?{where}"
    args = [run, metric, *params]
    if mtype == "counter":
        n, total = con.execute(f"SELECT count(*), fsum(value) {base}", args).fetchone()
        if not n:
            return None
        return {"count": total, "rate": total / duration_s if duration_s else None}
    if mtype == "rate":
        n, passes = con.execute(f"SELECT count(*), count(*) FILTER (WHERE value <> 0) {base}", args).fetchone()
        if not n:
            return None
        return {"value": passes / n, "passes": passes, "fails": n - passes}
    if mtype == "gauge":
        n, last, lo, hi = con.execute(f"SELECT count(*), arg_max(value, ts), min(value), max(value) {base}",
                                      args).fetchone()
        return None if not n else {"value": last, "min": lo, "max": hi}
    raise WorkbenchError(f"metric {metric!r} has unknown type {mtype!r}")


def evaluate_threshold(expr: str, mtype: str, values: dict[str, float], extra: dict[str, float]) -> bool | None:
    """Evaluate a k6 threshold like `p(95)<500` or `rate<0.05` against computed VALUES (None if unknown)."""
    m = _THRESHOLD_RE.match(expr)
    if not m:
        return None
    agg, op, num = m.group(1), m.group(2), float(m.group(3))
    if mtype == "rate" and agg == "rate":
        agg = "value"
    actual = values.get(agg, extra.get(agg))
    return None if actual is None else bool(_OPS[op](actual, num))


class DuckDBPoints:
    """The k6 points engine over the store's own tables and views (the default; `--engine duckdb`).
    `workbench.engines.spark.SparkPoints` answers the same three questions over Parquet with Spark SQL."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def has_points(self, run: str) -> bool:
        return bool(self.con.execute("SELECT count(*) > 0 FROM k6_samples WHERE run = ?", [run]).fetchone()[0])

    def span_ms(self, run: str) -> float | None:
        """Milliseconds from the run's first to its last point."""
        span = k6runs.duration_s(self.con, run)
        return span * 1000.0 if span else None

    def values(self, run: str, requests: list[tuple[str, str, str, dict[str, str], list[str]]],
               duration_s: float | None) -> dict[str, dict | None]:
        """NAME -> k6's values for each (name, metric, type, tags, trend stats) request (None: no points)."""
        return {name: _values(self.con, run, base, mtype, tags, stats, duration_s)
                for name, base, mtype, tags, stats in requests}


def stored_trend_stats(con: duckdb.DuckDBPyConnection, run: str) -> list[str] | None:
    """The `summaryTrendStats` of RUN's ingested handleSummary() file (None: none stored, use k6's default)."""
    row = con.execute("SELECT i.details->'summary_trend_stats' FROM k6_summaries s JOIN ingests i USING (ingest_id)"
                      " WHERE s.run = ?", [run]).fetchone()
    stats = json.loads(row[0]) if row and row[0] else None
    try:
        return parse_trend_stats(stats) if stats else None
    except WorkbenchError:
        return None     # a stat this workbench cannot compute: fall back to k6's default list


def run_duration(con: duckdb.DuckDBPyConnection, run: str, points: DuckDBPoints | None = None
                 ) -> tuple[float | None, str]:
    """(test duration in ms, source): the summary's when known, else the first-to-last point span."""
    row = con.execute("SELECT test_run_duration_ms, format FROM k6_summaries WHERE run = ?", [run]).fetchone()
    if row and row[0]:
        return row[0], "summary"
    return (points or DuckDBPoints(con)).span_ms(run), "points (approximate: first-to-last sample)"


def k6_summary(con: duckdb.DuckDBPyConnection, run: str, trend_stats: str | list[str] | None = None,
               points: DuckDBPoints | None = None) -> dict:
    """The run's summary in k6's shape: {"run", "metrics": {NAME: {stat: value, "thresholds"?}}, ...}.

    CON holds the run's metadata (k6_runs, k6_metrics, k6_summaries); POINTS computes the aggregations
    over its points (default: DuckDB over the same store; Spark: `workbench.engines.spark`)."""
    stats = parse_trend_stats(trend_stats if trend_stats is not None else stored_trend_stats(con, run))
    points = points or DuckDBPoints(con)
    if con.execute("SELECT count(*) FROM k6_runs WHERE run = ?", [run]).fetchone()[0] == 0:
        known = [r[0] for r in con.execute("SELECT run FROM k6_runs ORDER BY run").fetchall()]
        raise WorkbenchError(f"no run {run!r} in the store; runs: {', '.join(known) or 'none (ingest one)'}")
    summary_row = con.execute("SELECT metrics FROM k6_summaries WHERE run = ?", [run]).fetchone()
    summary = json.loads(summary_row[0]) if summary_row else {}
    has_points = points.has_points(run)
    duration_ms, source = run_duration(con, run, points)
    notes: list[str] = []
    if not has_points:
        if not summary:
            raise WorkbenchError(f"run {run!r} holds no points and no summary")
        metrics = {name: _summary_only(m, stats) for name, m in summary.items()}
        return {"run": run, "metrics": metrics, "test_run_duration_ms": duration_ms, "duration_source": source,
                "source": "summary file (no raw points)", "notes": notes}

    duration_s = duration_ms / 1000.0 if duration_ms else None
    if source != "summary":
        notes.append("counter rates use the first-to-last sample span as the test duration (approximate); "
                     "ingest the run's handleSummary()/--summary-export file for k6's exact duration")
    defs = con.execute("SELECT metric, type, type_source, thresholds, submetrics FROM k6_metrics WHERE run = ?"
                       " ORDER BY metric", [run]).fetchall()
    plan: list[tuple[str, str, str, dict[str, str], list[str], list[str]]] = []
    for metric, mtype, type_source, thresholds, submetrics in defs:
        if type_source == "inferred":
            summary_type = (summary.get(metric) or {}).get("type")
            if summary_type:
                mtype = summary_type
            else:
                notes.append(f"{metric}: type {mtype!r} inferred from the values (CSV carries no types; "
                             "ingest the run's summary to know it)")
        names = [metric] + sorted(set(submetrics or []) | {s for s in summary if s.startswith(metric + "{")})
        if metric == "http_req_duration":
            names.append("http_req_duration{expected_response:true}")
        for name in dict.fromkeys(names):
            base, tags = split_submetric(name)
            declared = list(thresholds or []) if name == metric else []
            plan.append((name, base, mtype, tags, _with_threshold_stats(name, mtype, stats, summary, declared),
                         declared))
    computed = points.values(run, [(n, b, t, tg, st) for n, b, t, tg, st, _ in plan], duration_s)
    metrics: dict[str, dict] = {}
    for name, _base, mtype, _tags, _st, declared in plan:
        values = computed.get(name)
        if values is None:
            continue
        shown = {k: v for k, v in values.items() if mtype != "trend" or k in stats}
        entry: dict[str, Any] = dict(shown)
        verdicts = _thresholds(name, mtype, shown, summary, declared, values)
        if verdicts:
            entry["thresholds"] = verdicts
        metrics[name] = entry
    return {"run": run, "metrics": metrics, "test_run_duration_ms": duration_ms, "duration_source": source,
            "source": "raw points", "notes": notes}


def _with_threshold_stats(name: str, mtype: str, stats: list[str], summary: dict, declared: list[str]) -> list[str]:
    """STATS plus the trend aggregations that declared thresholds ask for (e.g. p(99) for `p(99)<800`)."""
    if mtype != "trend" or (summary.get(name) or {}).get("thresholds"):
        return stats
    extra = []
    for expr in declared:
        m = _THRESHOLD_RE.match(expr)
        if m and m.group(1) not in stats and _STAT_RE.match(m.group(1)):
            extra.append(m.group(1))
    return stats + list(dict.fromkeys(extra))


def _thresholds(name: str, mtype: str, values: dict, summary: dict, declared: list[str],
                computed: dict) -> dict:
    from_summary = (summary.get(name) or {}).get("thresholds") or {}
    if from_summary:
        return {expr: {"ok": bool(v["ok"])} for expr, v in from_summary.items()}
    out = {}
    for expr in declared:
        ok = evaluate_threshold(expr, mtype, values, computed)
        if ok is not None:
            out[expr] = {"ok": ok}
    return out


def _summary_only(m: dict, stats: list[str]) -> dict:
    values = dict(m.get("values") or {})
    if m.get("type") == "trend":
        values = {k: v for k, v in values.items() if k in stats} or values
    entry: dict[str, Any] = values
    if m.get("thresholds"):
        entry["thresholds"] = m["thresholds"]
    return entry


def thresholds_table(summary: dict) -> list[dict]:
    """Flatten a k6_summary() result's thresholds: [{metric, threshold, ok}]."""
    rows = []
    for name, entry in summary["metrics"].items():
        for expr, v in (entry.get("thresholds") or {}).items():
            rows.append({"metric": name, "threshold": expr, "ok": v["ok"]})
    return rows
