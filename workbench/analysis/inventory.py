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
# Snapshots of every collector in one shape. (A read-only open already refuses a store that lacks a
# migration, so every table here exists.)
_SNAPSHOTS = """
SELECT 'postgres' AS source, snapshot_id AS snapshot, taken_at, label,
       host || ':' || port || '/' || dbname AS server, system_identifier AS identity,
       'PostgreSQL ' || server_version || coalesce(' / pg_stat_statements ' || pgss_version, '') AS version
FROM pg_snapshots
UNION ALL
SELECT 'redis' AS source, snapshot_id AS snapshot, taken_at, label, address AS server,
       run_id AS identity, coalesce(server_name, 'redis') || ' ' || coalesce(server_version, '?') AS version
FROM redis_snapshots
ORDER BY source, snapshot
"""
_SERIES = """
SELECT ss.name, ss.result_type, coalesce(ss.preset, '') AS preset, ss.query, ss.start_ts, ss.end_ts,
       ss.step_s, (SELECT count(*) FROM prom_series s WHERE s.ingest_id = ss.ingest_id) AS series,
       ss.created_at
FROM prom_series_sets ss ORDER BY ss.name
"""
_QUERIES = {"runs": _RUNS, "ingests": _INGESTS, "snapshots": _SNAPSHOTS, "series": _SERIES}


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def list_items(con: duckdb.DuckDBPyConnection, what: str) -> list[dict]:
    """`runs`, `snapshots`, `series` or `ingests` as a list of dicts (JSON-ready apart from timestamps)."""
    return _rows(con, _QUERIES[what])
