"""The load-test report's numbers for one k6 run: per endpoint, over time, where the time goes, checks,
and a baseline comparison. Pure functions of a read-only DuckDB connection; pandas DataFrames out."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from workbench.analysis import plain
from workbench.analysis import runs as k6runs
from workbench.analysis.k6_summary import k6_summary, thresholds_table
from workbench.analysis.verdict import Verdict

TIMING_METRICS = ["http_req_blocked", "http_req_connecting", "http_req_tls_handshaking", "http_req_sending",
                  "http_req_waiting", "http_req_receiving"]


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pd.DataFrame:
    return con.execute(sql, params).df()


def run_window(con: duckdb.DuckDBPyConnection, run: str) -> tuple[pd.Timestamp, pd.Timestamp, float]:
    """(first sample, last sample, duration in seconds) of RUN's points (None, None, 0.0 without)."""
    lo, hi = k6runs.span(con, run) or (None, None)
    return lo, hi, k6runs.duration_s(con, run)


def endpoint_table(con: duckdb.DuckDBPyConnection, run: str) -> pd.DataFrame:
    """Per endpoint (`name` tag; 'all' last): requests, rps, p50/p95/p99 ms, error rate, 5xx rate."""
    _, _, duration = run_window(con, run)
    sql = """
    WITH d AS (SELECT endpoint, value, status
               FROM k6_points WHERE run = ? AND metric = 'http_req_duration'),
         f AS (SELECT endpoint, avg(value) AS error_rate
               FROM k6_points WHERE run = ? AND metric = 'http_req_failed' GROUP BY ALL
               UNION ALL
               SELECT 'all', avg(value) FROM k6_points WHERE run = ? AND metric = 'http_req_failed'),
         s AS (SELECT endpoint, count(*) AS requests,
                      quantile_cont(value, 0.5) AS p50_ms, quantile_cont(value, 0.95) AS p95_ms,
                      quantile_cont(value, 0.99) AS p99_ms, favg(value) AS avg_ms,   -- favg: the same digits every run
                      avg(CASE WHEN try_cast(status AS INTEGER) >= 500 THEN 1.0 ELSE 0.0 END) AS rate_5xx
               FROM (SELECT * FROM d UNION ALL SELECT 'all', value, status FROM d) GROUP BY endpoint)
    SELECT s.endpoint, s.requests, s.requests / ? AS rps, s.p50_ms, s.p95_ms, s.p99_ms, s.avg_ms,
           f.error_rate, s.rate_5xx
    FROM s LEFT JOIN f USING (endpoint)
    ORDER BY s.endpoint = 'all', s.requests DESC, s.endpoint
    """
    return _df(con, sql, [run, run, run, max(duration, 1e-9)])


def timeseries(con: duckdb.DuckDBPyConnection, run: str, bucket_s: int = 10) -> pd.DataFrame:
    """Per time bucket: p50/p95/p99 latency, rps, error rate, VUs, bytes received/sent per second."""
    sql = f"""
    WITH p AS (SELECT time_bucket(INTERVAL '{int(bucket_s)} seconds', ts) AS t, metric, value
               FROM k6_points WHERE run = ?)
    SELECT t,
      quantile_cont(value, 0.5) FILTER (WHERE metric = 'http_req_duration') AS p50_ms,
      quantile_cont(value, 0.95) FILTER (WHERE metric = 'http_req_duration') AS p95_ms,
      quantile_cont(value, 0.99) FILTER (WHERE metric = 'http_req_duration') AS p99_ms,
      count(*) FILTER (WHERE metric = 'http_reqs') / {int(bucket_s)} AS rps,
      avg(value) FILTER (WHERE metric = 'http_req_failed') AS error_rate,
      max(value) FILTER (WHERE metric = 'vus') AS vus,
      coalesce(sum(value) FILTER (WHERE metric = 'data_received'), 0) / {int(bucket_s)} AS received_bytes_per_s,
      coalesce(sum(value) FILTER (WHERE metric = 'data_sent'), 0) / {int(bucket_s)} AS sent_bytes_per_s,
      count(*) FILTER (WHERE metric = 'iterations') / {int(bucket_s)} AS iterations_per_s,
      quantile_cont(value, 0.95) FILTER (WHERE metric = 'iteration_duration') AS iteration_p95_ms
    FROM p GROUP BY t ORDER BY t
    """
    df = _df(con, sql, [run])
    if not df.empty:
        df["elapsed_s"] = (df["t"] - df["t"].iloc[0]).dt.total_seconds()
    return df


def latency_samples(con: duckdb.DuckDBPyConnection, runs: list[str], limit_per_run: int = 50_000) -> pd.DataFrame:
    """http_req_duration samples (run, endpoint, ms), a reproducible sample of at most LIMIT_PER_RUN per run."""
    frames = []
    for run in runs:
        frames.append(_df(con, f"""
            SELECT * FROM (SELECT run, endpoint, value AS ms
                           FROM k6_points WHERE run = ? AND metric = 'http_req_duration')
            USING SAMPLE reservoir({int(limit_per_run)} ROWS) REPEATABLE (42)""", [run]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "endpoint", "ms"])


def phase_timeseries(con: duckdb.DuckDBPyConnection, run: str, bucket_s: int = 10) -> pd.DataFrame:
    """p95 ms of each request phase (blocked ... receiving) per time bucket: k6 dashboard's Timings tab."""
    metrics = ", ".join(f"'{m}'" for m in TIMING_METRICS)
    df = _df(con, f"""
        SELECT time_bucket(INTERVAL '{int(bucket_s)} seconds', ts) AS t, metric, quantile_cont(value, 0.95) AS p95_ms
        FROM k6_points WHERE run = ? AND metric IN ({metrics}) GROUP BY ALL ORDER BY t""", [run])
    if df.empty:
        return pd.DataFrame(columns=["t", "elapsed_s"] + [m.removeprefix("http_req_") for m in TIMING_METRICS])
    wide = df.pivot(index="t", columns="metric", values="p95_ms").reindex(columns=TIMING_METRICS)
    wide.columns = [c.removeprefix("http_req_") for c in wide.columns]
    wide = wide.reset_index()
    wide.insert(1, "elapsed_s", (wide["t"] - wide["t"].iloc[0]).dt.total_seconds())
    return wide


def summary_frame(con: duckdb.DuckDBPyConnection, run: str, trend_stats: str | None = None) -> pd.DataFrame:
    """Every metric and submetric of k6's end-of-test summary as rows (k6's keys as columns)."""
    return _summary_rows(k6_summary(con, run, trend_stats))


def _summary_rows(summary: dict) -> pd.DataFrame:
    return pd.DataFrame([{"metric": name, **{k: v for k, v in entry.items() if k != "thresholds"}}
                         for name, entry in summary["metrics"].items()])


def timing_breakdown(con: duckdb.DuckDBPyConnection, run: str) -> pd.DataFrame:
    """Mean ms per request phase (blocked, connecting, TLS, sending, waiting, receiving) per endpoint."""
    metrics = ", ".join(f"'{m}'" for m in TIMING_METRICS)
    df = _df(con, f"""
        SELECT endpoint, metric, favg(value) AS mean_ms
        FROM k6_points WHERE run = ? AND metric IN ({metrics}) GROUP BY ALL""", [run])
    if df.empty:
        return pd.DataFrame(columns=["endpoint"] + [m.removeprefix("http_req_") for m in TIMING_METRICS])
    wide = df.pivot(index="endpoint", columns="metric", values="mean_ms").reindex(columns=TIMING_METRICS)
    wide.columns = [c.removeprefix("http_req_") for c in wide.columns]
    return wide.fillna(0.0).reset_index()


def checks_table(con: duckdb.DuckDBPyConnection, run: str) -> pd.DataFrame:
    """Per check: passes, fails, pass rate."""
    return _df(con, """
        SELECT coalesce(check_name, '(unnamed)') AS "check", count(*) FILTER (WHERE value <> 0) AS passes,
               count(*) FILTER (WHERE value = 0) AS fails, avg(CASE WHEN value <> 0 THEN 1.0 ELSE 0 END) AS pass_rate
        FROM k6_points WHERE run = ? AND metric = 'checks' GROUP BY ALL ORDER BY pass_rate, "check" """, [run])


def thresholds_frame(con: duckdb.DuckDBPyConnection, run: str) -> pd.DataFrame:
    """Every threshold of the run with whether it passed (k6's verdicts where a summary is ingested)."""
    return _threshold_rows(k6_summary(con, run))


def _threshold_rows(summary: dict) -> pd.DataFrame:
    return pd.DataFrame(thresholds_table(summary), columns=["metric", "threshold", "ok"])


def baseline_comparison(con: duckdb.DuckDBPyConnection, run: str, baseline: str) -> pd.DataFrame:
    """Per endpoint: baseline and run p50/p95/p99/error rate with the change in % (descriptive only;
    `workbench compare` gives intervals and significance)."""
    return _compare_endpoints(endpoint_table(con, run), endpoint_table(con, baseline))


def _compare_endpoints(run_eps: pd.DataFrame, base_eps: pd.DataFrame) -> pd.DataFrame:
    cur, base = run_eps.set_index("endpoint"), base_eps.set_index("endpoint")
    rows = []
    for ep in cur.index.intersection(base.index):
        row = {"endpoint": ep}
        for m in ("p50_ms", "p95_ms", "p99_ms", "rps", "error_rate"):
            b, a = base.at[ep, m], cur.at[ep, m]
            row[f"{m}_baseline"], row[f"{m}_run"] = b, a
            row[f"{m}_change_pct"] = (a - b) / b * 100 if b else None
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values("endpoint", key=lambda s: s == "all") if not out.empty else out


def load_test_verdict(con: duckdb.DuckDBPyConnection, run: str, baseline: str | None = None) -> Verdict:
    """The report's verdict: thresholds, overall p95 and error rate, and the p95 change against BASELINE,
    in plain words and in one technical sentence."""
    return load_test_report(con, run, baseline).verdict


def _technical(run: str, endpoints: pd.DataFrame, thr: pd.DataFrame, baseline: str | None,
               base_endpoints: pd.DataFrame | None) -> tuple[str, bool]:
    ep = endpoints.set_index("endpoint")
    failed = thr[~thr["ok"]] if not thr.empty else thr
    allrow = ep.loc["all"]
    parts = [f"{int(allrow['requests']):,} requests, p95 {allrow['p95_ms']:.1f} ms, "
             f"errors {100 * (allrow['error_rate'] or 0):.2f}%"]
    ok = True
    if thr.empty:
        parts.append("no thresholds declared")
    elif failed.empty:
        parts.append(f"all {len(thr)} thresholds passed")
    else:
        ok = False
        names = ", ".join(f"{r.metric} {r.threshold}" for r in failed.itertuples())
        parts.append(f"{len(failed)} of {len(thr)} thresholds FAILED ({names})")
    if baseline:
        b = base_endpoints.set_index("endpoint").loc["all"]
        change = (allrow["p95_ms"] - b["p95_ms"]) / b["p95_ms"] * 100
        parts.append(f"p95 {change:+.1f}% vs {baseline}")
    return f"{'PASS' if ok else 'FAIL'} — run {run}: " + "; ".join(parts), ok


@dataclass
class LoadTestReport:
    """Everything the load-test notebook shows that comes from whole-run scans, each computed once."""

    run: str
    baseline: str | None
    endpoints: pd.DataFrame
    summary: pd.DataFrame          # every metric, k6's keys
    thresholds: pd.DataFrame
    comparison: pd.DataFrame | None
    verdict: Verdict | None = None     # set by `load_test_report` from the parts above


def load_test_report(con: duckdb.DuckDBPyConnection, run: str, baseline: str | None = None,
                     trend_stats: str = "avg,min,med,max,p(90),p(95),p(99),count") -> LoadTestReport:
    """The run's endpoint table, k6 summary, thresholds, baseline comparison and verdict, in one pass."""
    endpoints = endpoint_table(con, run)
    summary = k6_summary(con, run, trend_stats)
    thresholds = _threshold_rows(summary)
    base = endpoint_table(con, baseline) if baseline else None
    report = LoadTestReport(run, baseline, endpoints, _summary_rows(summary), thresholds,
                            _compare_endpoints(endpoints, base) if base is not None else None)
    technical, ok = _technical(run, endpoints, thresholds, baseline, base)
    report.verdict = Verdict.judged(ok, plain.load_test_headline(report), technical)
    return report


@dataclass
class LoadTestPage:
    """Everything notebook 10 shows for one run: the report, the run over time, where the time goes, the
    checks, and (with a baseline) latency samples of both runs."""

    report: LoadTestReport
    timeseries: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    duration_s: float
    breakdown: pd.DataFrame
    phases: pd.DataFrame
    checks: pd.DataFrame
    samples: pd.DataFrame | None


def load_test_page(con: duckdb.DuckDBPyConnection, run: str | None = None, baseline: str | None = None,
                   bucket_s: int = 1) -> LoadTestPage | None:
    """Notebook 10's data for RUN (default: the latest run), BUCKET_S-second buckets; None without runs."""
    run = run or k6runs.latest(con)
    if run is None:
        return None
    start, end, duration = run_window(con, run)
    return LoadTestPage(load_test_report(con, run, baseline), timeseries(con, run, bucket_s), start, end, duration,
                        timing_breakdown(con, run), phase_timeseries(con, run, max(bucket_s, 5)),
                        checks_table(con, run), latency_samples(con, [baseline, run]) if baseline else None)
