"""Bottleneck scoring across the database, the cache, the API and the system: one ranked list.

`find_bottlenecks(store, scope, sensitivity, components)` reads what the store holds inside a time
window (a k6 run's span plus a margin, a label, or --from/--to), runs the detectors of
`workbench.analysis.bottleneck_checks` over the frames the other analysis modules compute, and ranks
their findings by score (the formula, the curves and the thresholds are the one table in
`bottleneck_checks.rules`; docs/bottlenecks.md renders it).

What each component reads (so fixes there flow here):
- database: `postgres.snapshots`, `resolve_pair`, `statement_deltas` (window and each 10-s interval),
  `table_stats`, `unused_indexes`, `duplicate_indexes`, `hit_ratios`, `vacuum_staleness`, `bloat`,
  `connections`, `sessions`; index hints from `advisor.index_hints`;
- cache: `redis.cache_period` (its `summary` and `stats`);
- api: `load_test.endpoint_table`, `checks_table`, `thresholds_frame` and per-endpoint time buckets;
- system: `prometheus.series_sets` of kind cpu / memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis import load_test as lt
from workbench.analysis import postgres as pga
from workbench.analysis import prometheus as prom
from workbench.analysis import redis as rs
from workbench.analysis import runs as k6runs
from workbench.analysis.bottleneck_checks import Finding
from workbench.analysis.bottleneck_checks import api as api_checks
from workbench.analysis.bottleneck_checks import cache as cache_checks
from workbench.analysis.bottleneck_checks import database as db_checks
from workbench.analysis.bottleneck_checks.n_plus_one import n_plus_one
from workbench.analysis.bottleneck_checks.rules import COMPONENTS, RULES, SENSITIVITIES, rules_frame
from workbench.analysis.bottleneck_checks.system import host_capacity, saturation
from workbench.errors import WorkbenchError
from workbench.store import Store

RUN_MARGIN_S = 15.0   # a run's window: its span plus this margin on each side (catches the snapshots around it)


@dataclass
class Scope:
    """The time window the findings come from, and what chose it."""

    start: pd.Timestamp
    end: pd.Timestamp
    run: str | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "run": self.run, "label": self.label}


def _ts(x: Any) -> pd.Timestamp:
    t = pd.Timestamp(x)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def resolve_scope(store: Store, run: str | None = None, label: str | None = None, start: Any = None,
                  end: Any = None, margin_s: float = RUN_MARGIN_S) -> Scope:
    """The window of RUN (its span +- MARGIN_S), of LABEL (everything labelled so), or START..END; with none of
    them, everything in the store."""
    if sum(x is not None for x in (run, label)) + (start is not None or end is not None) > 1:
        raise WorkbenchError("give one of --run, --label or --from/--to")
    con = store.con
    margin = pd.Timedelta(seconds=margin_s)
    if run is not None:
        row = k6runs.span(con, run)
        if row is None:
            raise WorkbenchError(f"no k6 run {run!r} with points in the store "
                                 f"(known: {', '.join(k6runs.known(con)) or 'none'})")
        return Scope(_ts(row[0]) - margin, _ts(row[1]) + margin, run=run)
    if label is not None:
        times = con.execute("""
            SELECT min(t0), max(t1) FROM (
              SELECT s.started_at AS t0, s.ended_at AS t1 FROM k6_runs r JOIN k6_run_spans s USING (run) WHERE r.label = ?
              UNION ALL SELECT taken_at, taken_at FROM pg_snapshots WHERE label = ?
              UNION ALL SELECT taken_at, taken_at FROM redis_snapshots WHERE label = ?)""", [label] * 3).fetchone()
        if times[0] is None:
            raise WorkbenchError(f"nothing labelled {label!r} in the store: see `workbench ls runs|snapshots`")
        return Scope(_ts(times[0]) - margin, _ts(times[1]) + margin, label=label)
    if start is not None or end is not None:
        from workbench.sources.prometheus import parse_time_ms

        lo = _ts(pd.Timestamp(parse_time_ms(start), unit="ms")) if start is not None else pd.Timestamp.min.tz_localize("UTC")
        hi = _ts(pd.Timestamp(parse_time_ms(end), unit="ms")) if end is not None else pd.Timestamp.max.tz_localize("UTC")
        if hi <= lo:
            raise WorkbenchError(f"--to {end} is not after --from {start}")
        return Scope(lo, hi)
    times = con.execute("""
        SELECT min(t0), max(t1) FROM (
          SELECT started_at AS t0, ended_at AS t1 FROM k6_run_spans
          UNION ALL SELECT taken_at, taken_at FROM pg_snapshots
          UNION ALL SELECT taken_at, taken_at FROM redis_snapshots
          UNION ALL SELECT min(p.ts), max(p.ts) FROM prom_points p)""").fetchone()
    if times[0] is None:
        raise WorkbenchError("the store is empty: ingest or collect something first (or run `workbench demo`)")
    return Scope(_ts(times[0]), _ts(times[1]))


@dataclass
class BottleneckReport:
    """Ranked findings, the scope, and one note per component that had nothing to read."""

    sensitivity: str
    scope: Scope
    findings: list[Finding]
    notes: dict[str, str] = field(default_factory=dict)
    frames: dict[str, Any] = field(default_factory=dict)   # evidence the notebook plots

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """`workbench bottlenecks --format json`: the contract's shape plus the scope and the notes."""
        found = self.findings if limit is None else self.findings[:limit]
        return {"sensitivity": self.sensitivity, "scope": self.scope.to_dict(),
                "findings": [f.to_dict() for f in found], "notes": self.notes}

    def to_frame(self) -> pd.DataFrame:
        """One row per finding: component, check, item, score, impact, severity, confidence, value, threshold."""
        cols = ["component", "check", "item", "score", "impact", "severity", "confidence", "value", "unit",
                "threshold", "recommendation"]
        return pd.DataFrame([{c: getattr(f, c) for c in cols} for f in self.findings], columns=cols)

    def top(self, component: str) -> Finding | None:
        return next((f for f in self.findings if f.component == component), None)


def find_bottlenecks(store: Store, scope: Scope | None = None, sensitivity: str = "medium",
                     components: list[str] | tuple[str, ...] | None = None, *, cpu_cores: float | None = None,
                     memory_bytes: float | None = None) -> BottleneckReport:
    """Every detector of COMPONENTS (default: all four) over SCOPE (default: the whole store), ranked."""
    if sensitivity not in SENSITIVITIES:
        raise WorkbenchError(f"--sensitivity {sensitivity!r}: use one of {', '.join(SENSITIVITIES)}")
    wanted = list(components or COMPONENTS)
    bad = [c for c in wanted if c not in COMPONENTS]
    if bad:
        raise WorkbenchError(f"--component {bad[0]!r}: use one of {', '.join(COMPONENTS)}")
    scope = scope or resolve_scope(store)
    rep = BottleneckReport(sensitivity, scope, [])
    gather = {"database": _database, "cache": _cache, "api": _api, "system": _system}
    found: list[Finding] = []
    for comp in wanted:
        kwargs = {"cpu_cores": cpu_cores, "memory_bytes": memory_bytes} if comp == "system" else {}
        found += gather[comp](store, scope, sensitivity, rep, **kwargs)
    rep.findings = rank(found)
    return rep


def rank(findings: list[Finding]) -> list[Finding]:
    """Highest score first; one finding per (component, item): the highest-scoring check, with the other
    checks that fired on the same item listed in its evidence (`also`)."""
    best: dict[tuple[str, str], Finding] = {}
    also: dict[tuple[str, str], list[str]] = {}
    for f in sorted(findings, key=lambda f: -f.score):
        key = (f.component, f.item)
        if key in best:
            also[key].append(f.check)
        else:
            best[key], also[key] = f, []
    for key, f in best.items():
        if also[key]:
            f.evidence["also"] = also[key]
    return sorted(best.values(), key=lambda f: (-f.score, f.component, f.item))


# -- database ------------------------------------------------------------------------------------------------
def in_scope(snaps: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """The snapshots (taken_at, label) inside SCOPE. For a run's window, the ones labelled with the run when
    there are such: the margin must not pull in the snapshots of a run just before or after it."""
    if snaps.empty:
        return snaps
    snaps = snaps.assign(taken_at=pd.to_datetime(snaps["taken_at"], utc=True))
    inside = snaps[(snaps.taken_at >= scope.start) & (snaps.taken_at <= scope.end)]
    if scope.run is not None and "label" in inside and (inside["label"] == scope.run).sum() >= 2:
        inside = inside[inside["label"] == scope.run]
    return inside


def _pg_window(store: Store, scope: Scope) -> pd.DataFrame:
    inside = in_scope(pga.snapshots(store), scope)
    if inside.empty:
        return inside
    return inside[inside.server == inside.iloc[-1].server]


def _database(store: Store, scope: Scope, sensitivity: str, rep: BottleneckReport) -> list[Finding]:
    from workbench.analysis.advisor import index_hints

    snaps = _pg_window(store, scope)
    if snaps.empty:
        rep.notes["database"] = "no PostgreSQL snapshot in the window"
        return []
    sid = int(snaps.iloc[-1].snapshot_id)
    fid = int(snaps.iloc[0].snapshot_id) if len(snaps) > 1 else None
    out: list[Finding] = []
    top = None
    if fid is not None:
        res = pga.statement_deltas(store, pga.resolve_pair(store, fid, sid))
        top = res.statements.sort_values("total_exec_time_ms", ascending=False).reset_index(drop=True)
        rep.frames["statements"] = top
        out += db_checks.statements(top, sensitivity, interval_s=res.pair.interval_s, reset=res.reset,
                                     advice=index_hints(store, top, sid))
        out += _n_plus_one(store, scope, snaps, top, sensitivity, rep)
    else:
        rep.notes["database"] = "one PostgreSQL snapshot in the window: no statement deltas (health checks only)"
    tables = pga.table_stats(store, sid, fid)
    rep.frames["tables"] = tables
    out += db_checks.seq_scans(tables, sensitivity)
    slow = pga.slow_snapshot(store, sid)   # sizes, index definitions, bloat: the last full snapshot
    ix_bytes = dict(store.con.execute("SELECT schemaname || '.' || relname, indexes_bytes FROM pg_tables"
                                      " WHERE snapshot_id = ?", [slow]).fetchall())
    meta = store.con.execute("SELECT epoch(taken_at) - epoch(coalesce(db_stats_reset, postmaster_start))"
                             " FROM pg_snapshots WHERE snapshot_id = ?", [sid]).fetchone()
    out += db_checks.indexes(pga.unused_indexes(store, slow), pga.duplicate_indexes(store, slow), ix_bytes,
                             sensitivity, stats_age_s=meta[0] if meta else None)
    hits = pga.hit_ratios(store, sid, fid)
    out += db_checks.hit_ratios(hits, sensitivity)
    out += db_checks.maintenance(pga.vacuum_staleness(store, sid), pga.bloat(store, slow), sensitivity)
    sessions = [pga.sessions(store, int(s), RULES["database:long_transaction"].high) for s in snaps.snapshot_id]
    sessions = [s for s in sessions if not s.empty]
    worst = (pd.concat(sessions).sort_values("xact_age_s", ascending=False, na_position="last")
             .drop_duplicates("pid") if sessions else pd.DataFrame())
    usage = max((pga.connections(store, int(s)) for s in snaps.snapshot_id),
                key=lambda c: c["usage_ratio"] if c["usage_ratio"] == c["usage_ratio"] else -1)
    out += db_checks.server(usage, worst, sensitivity)
    return db_checks.fold_symptoms(out, hits)


def _runs_in(store: Store, scope: Scope) -> list[str]:
    if scope.run is not None:
        return [scope.run]
    return k6runs.overlapping(store.con, scope.start.to_pydatetime(), scope.end.to_pydatetime())


def interval_requests(store: Store, runs: list[str], bounds: list[pd.Timestamp]) -> pd.DataFrame:
    """Requests per endpoint in each interval (bounds[i], bounds[i+1]] of the snapshots."""
    if not runs or len(bounds) < 2:
        return pd.DataFrame()
    marks = ", ".join("?" * len(runs))
    df = store.query_df(f"SELECT endpoint, epoch_us(ts) AS us FROM k6_points"
                        f" WHERE metric = 'http_reqs' AND run IN ({marks}) AND ts > ? AND ts <= ?",
                        [*runs, bounds[0].to_pydatetime(), bounds[-1].to_pydatetime()])
    edges = np.array([b.value // 1000 for b in bounds])
    df["interval"] = np.searchsorted(edges, df["us"].to_numpy(), side="left") - 1
    counts = df.groupby(["interval", "endpoint"]).size().unstack(fill_value=0)
    return counts.reindex(range(len(bounds) - 1), fill_value=0).astype(float)


def _n_plus_one(store: Store, scope: Scope, snaps: pd.DataFrame, top: pd.DataFrame, sensitivity: str,
                rep: BottleneckReport) -> list[Finding]:
    runs = _runs_in(store, scope)
    if not runs or len(snaps) < 4:
        return []
    ids = [int(s) for s in snaps.snapshot_id]
    per = []
    for a, b in zip(ids[:-1], ids[1:], strict=True):
        d = pga.statement_deltas(store, pga.resolve_pair(store, a, b)).statements
        per.append(d.groupby("queryid")["calls"].sum().astype(float))
    calls = pd.DataFrame(per).fillna(0.0).reset_index(drop=True)
    requests = interval_requests(store, runs, list(snaps.taken_at))
    rep.frames["n_plus_one"] = {"calls": calls, "requests": requests, "taken_at": list(snaps.taken_at)}
    return n_plus_one(calls, requests, top, sensitivity)


# -- cache -----------------------------------------------------------------------------------------------------
def _cache(store: Store, scope: Scope, sensitivity: str, rep: BottleneckReport) -> list[Finding]:
    snaps = in_scope(rs.snapshots(store.con), scope)
    if len(snaps) < 2:
        rep.notes["cache"] = "fewer than two Redis snapshots in the window"
        return []
    address = snaps.iloc[-1].address
    snaps = snaps[snaps.address == address]
    if len(snaps) < 2:
        rep.notes["cache"] = f"fewer than two snapshots of Redis {address} in the window"
        return []
    period = rs.cache_period(store.con, address, int(snaps.iloc[0].snapshot_id), int(snaps.iloc[-1].snapshot_id))
    rep.frames["cache"] = period
    return cache_checks.cache(period.summary, period.stats, sensitivity, server=address)


# -- api -------------------------------------------------------------------------------------------------------
def endpoint_buckets(store: Store, run: str, bucket_s: float) -> pd.DataFrame:
    """Per (time bucket, endpoint): requests, p50 ms, error rate; plus total_rps of the bucket."""
    df = store.query_df("""
        SELECT time_bucket(to_microseconds(?::BIGINT), ts) AS t, endpoint,
               count(*) FILTER (WHERE metric = 'http_req_duration') AS requests,
               quantile_cont(value, 0.5) FILTER (WHERE metric = 'http_req_duration') AS p50_ms,
               avg(value) FILTER (WHERE metric = 'http_req_failed') AS error_rate
        FROM k6_points WHERE run = ? AND metric IN ('http_req_duration', 'http_req_failed')
        GROUP BY ALL ORDER BY t""", [int(bucket_s * 1e6), run])
    if df.empty:
        return df
    df["total_rps"] = df.groupby("t")["requests"].transform("sum") / bucket_s
    return df


def _api(store: Store, scope: Scope, sensitivity: str, rep: BottleneckReport) -> list[Finding]:
    runs = _runs_in(store, scope)
    if not runs:
        rep.notes["api"] = "no k6 run in the window"
        return []
    out: list[Finding] = []
    for run in runs:
        eps = lt.endpoint_table(store.con, run)
        _, _, duration = lt.run_window(store.con, run)
        bucket_s = float(min(max(duration / 12, 2.0), 60.0))
        buckets = endpoint_buckets(store, run, bucket_s)
        peaks = pd.DataFrame(columns=["endpoint", "peak_error_rate", "peak_at"])
        if not buckets.empty:
            busy = buckets[buckets["requests"] >= 20].dropna(subset=["error_rate"])
            if not busy.empty:
                idx = busy.groupby("endpoint")["error_rate"].idxmax()
                peaks = busy.loc[idx, ["endpoint", "error_rate", "t"]].rename(
                    columns={"error_rate": "peak_error_rate", "t": "peak_at"})
        rep.frames.setdefault("api", {})[run] = {"endpoints": eps, "buckets": buckets}
        out += api_checks.slo(eps, sensitivity, run)
        out += api_checks.errors(eps, peaks, sensitivity, run)
        out += api_checks.checks(lt.checks_table(store.con, run), lt.thresholds_frame(store.con, run), sensitivity, run)
        out += api_checks.latency_slope(buckets, sensitivity, run)
    return out


# -- system ----------------------------------------------------------------------------------------------------
def _system(store: Store, scope: Scope, sensitivity: str, rep: BottleneckReport, cpu_cores: float | None = None,
            memory_bytes: float | None = None) -> list[Finding]:
    sets = [s for s in prom.series_sets(store.con) if s.kind in ("cpu", "memory")]
    if not sets:
        rep.notes["system"] = "no Prometheus cpu or memory series stored (collect the cpu / memory presets)"
        return []
    cores, mem = host_capacity()
    out: list[Finding] = []
    for s in sets:
        f = s.frame[(s.frame.ts >= scope.start) & (s.frame.ts <= scope.end)]
        if f.empty:
            continue
        rep.frames.setdefault("system", {})[s.name] = f
        given = cpu_cores if s.kind == "cpu" else memory_bytes
        cap = given if given else (cores if s.kind == "cpu" else mem)
        out += saturation(f, s.kind, sensitivity, cap, assumed=not given, set_name=s.name)
    if "system" not in rep.frames:
        rep.notes["system"] = "no cpu or memory points in the window"
    return out


__all__ = ["Scope", "BottleneckReport", "find_bottlenecks", "resolve_scope", "rank", "rules_frame"]


# -- the notebook's bundle ---------------------------------------------------------------------------------
@dataclass
class BottleneckBundle:
    """What notebook 60 shows: the ranked report, the advisor's plan, and why either is missing."""

    report: BottleneckReport | None
    plan: Any = None               # advisor.AdvicePlan
    note: str | None = None
    plan_note: str | None = None
    plans: list[dict[str, Any]] = field(default_factory=list)   # generic plans of the top five statements
    alerts: pd.DataFrame | None = None   # the playbook's alerts firing in the window (alerts.firing_intervals)

    def headline(self) -> tuple[str, bool | None]:
        """The verdict line: how many findings and the top one (True when nothing fired)."""
        if self.report is None:
            return (self.note or "No data.", None)
        f = self.report.findings
        if not f:
            return (f"No bottleneck crossed a {self.report.sensitivity}-sensitivity threshold.", True)
        top = f[0]
        return (f"{len(f)} finding(s) at {self.report.sensitivity} sensitivity; top: {top.component} "
                f"{top.check.replace('_', ' ')} — {top.item[:80]} (score {top.score:g})", None)


def bottleneck_bundle(db: Any, run: str | None = None, label: str | None = None, sensitivity: str = "medium",
                      dsn: str | None = None) -> BottleneckBundle:
    """Open DB read-only, rank the findings of RUN / LABEL (default: everything), and write the advisor's
    plan (verified on DSN when given, else unverified). Errors become notes (the notebook still renders)."""
    from workbench.analysis.advisor import advise
    from workbench.analysis.alerts import firing_intervals
    from workbench.store import reading

    try:
        with reading(db) as store:
            rep = find_bottlenecks(store, resolve_scope(store, run, label), sensitivity)
            out = BottleneckBundle(rep)
            out.alerts = firing_intervals(store.con, rep.scope.start, rep.scope.end)
            try:
                out.plan = advise(store, dsn, verify=dsn is not None)
            except WorkbenchError as e:
                out.plan_note = str(e)
        stmts = rep.frames.get("statements")
        if dsn is not None and stmts is not None and not stmts.empty:
            from workbench.sources.pg_explain import statement_plans

            try:
                out.plans = statement_plans(dsn, stmts, 5)
            except WorkbenchError as e:
                out.plan_note = f"no generic plans: {e}"
    except WorkbenchError as e:
        return BottleneckBundle(None, note=f"No data: {e}")
    return out
