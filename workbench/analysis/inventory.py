"""What the store holds: runs, snapshots, series sets and the ingest log, as lists of dicts."""

from __future__ import annotations

import duckdb

# Queries per listing; a source whose tables are absent (older store) is left out.
_RUNS = """
SELECT r.run, r.label, s.started_at, s.ended_at, s.requests, s.points,
       (SELECT format FROM k6_summaries m WHERE m.run = r.run) AS summary, r.tags
FROM k6_runs r LEFT JOIN k6_run_spans s USING (run) ORDER BY coalesce(s.started_at, r.created_at), r.run
"""
_INGESTS = """
SELECT ingest_id, kind, source, run, label, rows, started_at, finished_at, workbench_version
FROM ingests ORDER BY ingest_id
"""
# (table that must exist, query): snapshots of every collector in one shape, then the series sets.
SNAPSHOT_QUERIES: list[tuple[str, str]] = [
    ("pg_snapshots", """
     SELECT 'postgres' AS source, snapshot_id AS snapshot, taken_at, label,
            host || ':' || port || '/' || dbname AS server, system_identifier AS identity,
            'PostgreSQL ' || server_version || coalesce(' / pg_stat_statements ' || pgss_version, '') AS version
     FROM pg_snapshots ORDER BY snapshot_id"""),
    ("redis_snapshots", """
     SELECT 'redis' AS source, snapshot_id AS snapshot, taken_at, label, address AS server,
            run_id AS identity, coalesce(server_name, 'redis') || ' ' || coalesce(server_version, '?') AS version
     FROM redis_snapshots ORDER BY snapshot_id"""),
]
SERIES_QUERIES: list[tuple[str, str]] = [
    ("prom_series_sets", """
     SELECT ss.name, ss.result_type, coalesce(ss.preset, '') AS preset, ss.query, ss.start_ts, ss.end_ts,
            ss.step_s, (SELECT count(*) FROM prom_series s WHERE s.ingest_id = ss.ingest_id) AS series,
            ss.created_at
     FROM prom_series_sets ss ORDER BY ss.name"""),
]


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def list_items(con: duckdb.DuckDBPyConnection, what: str) -> list[dict]:
    """`runs`, `snapshots`, `series` or `ingests` as a list of dicts (JSON-ready apart from timestamps)."""
    if what == "runs":
        return _rows(con, _RUNS)
    if what == "ingests":
        return _rows(con, _INGESTS)
    tables = _tables(con)
    queries = SNAPSHOT_QUERIES if what == "snapshots" else SERIES_QUERIES
    out: list[dict] = []
    for table, sql in queries:
        if table in tables:
            out.extend(_rows(con, sql))
    return out
