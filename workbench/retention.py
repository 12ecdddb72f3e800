"""Retention: `workbench prune --older-than 30d [--keep daily]` removes old server snapshots.

Only PostgreSQL and Redis snapshots taken before the cutoff are deleted (every row keyed by their
snapshot_id), in one transaction; with `keep="daily"` the last snapshot of each server and UTC day
(a full one when the day has one) stays. A full PostgreSQL snapshot that a kept fast snapshot takes its
slow-changing sets from stays too, and so do the query texts that a kept snapshot still references.
k6 runs, Prometheus series and the ingest log are not touched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from workbench.store import Store, utcnow

# snapshot table -> its server key expression (snapshots of one server share it)
SOURCES = {
    "pg_snapshots": "server_key",
    "redis_snapshots": "address",
}


@dataclass
class PruneResult:
    """What `prune` removed (or would remove, with dry_run)."""

    cutoff: dt.datetime
    keep: str | None
    dry_run: bool
    snapshots: dict[str, int] = field(default_factory=dict)      # snapshot table -> snapshots removed
    rows: dict[str, int] = field(default_factory=dict)           # table -> rows removed
    kept: dict[str, int] = field(default_factory=dict)           # snapshot table -> old snapshots kept

    def to_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "keep": self.keep, "dry_run": self.dry_run,
                "snapshots": self.snapshots, "rows": self.rows, "kept": self.kept}


def _keyed_tables(store: Store, prefix: str) -> list[str]:
    """Base tables whose name starts with PREFIX and that have a snapshot_id column."""
    return [r[0] for r in store.con.execute(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t"
        " ON t.table_name = c.table_name AND t.table_schema = c.table_schema"
        " WHERE c.column_name = 'snapshot_id' AND t.table_type = 'BASE TABLE' AND starts_with(c.table_name, ?)"
        " ORDER BY 1", [prefix]).fetchall()]


def _doomed(store: Store, table: str, cutoff: dt.datetime, keep: str | None) -> tuple[list[int], int]:
    """(snapshot ids to delete, old snapshots kept) of one snapshot table."""
    has_kind = table == "pg_snapshots"
    kind = "coalesce(kind, 'full') = 'full'" if has_kind else "true"
    rows = store.con.execute(
        f"SELECT snapshot_id, {SOURCES[table]} AS server, CAST(taken_at AT TIME ZONE 'UTC' AS DATE) AS day,"
        f" {kind} AS full FROM {table} WHERE taken_at < ? ORDER BY taken_at, snapshot_id", [cutoff]).fetchall()
    keep_ids: set[int] = set()
    if keep == "daily":
        last: dict[tuple, tuple[bool, int]] = {}
        for sid, server, day, full in rows:   # oldest first: a later one of the day (full first) wins
            prev = last.get((server, day))
            if prev is None or full or not prev[0]:
                last[(server, day)] = (bool(full), sid)
        keep_ids = {sid for _, sid in last.values()}
    if has_kind:   # a kept fast snapshot reads its slow sets from the newest full one before it
        from workbench.analysis.postgres import slow_snapshot

        kept_fast = [r[0] for r in store.con.execute(
            "SELECT snapshot_id FROM pg_snapshots WHERE kind = 'fast' AND (taken_at >= ? OR snapshot_id IN"
            " (SELECT unnest(?::BIGINT[])))", [cutoff, sorted(keep_ids)]).fetchall()]
        keep_ids |= {slow_snapshot(store, sid) for sid in kept_fast}
    doomed = [r[0] for r in rows if r[0] not in keep_ids]
    return doomed, len(rows) - len(doomed)


def prune(store: Store, older_than_s: float, keep: str | None = None, dry_run: bool = False,
          now: dt.datetime | None = None) -> PruneResult:
    """Delete PostgreSQL and Redis snapshots older than OLDER_THAN_S (see the module docstring)."""
    cutoff = (now or utcnow()) - dt.timedelta(seconds=older_than_s)
    res = PruneResult(cutoff, keep, dry_run)
    store.con.execute("BEGIN TRANSACTION")
    try:
        for table, prefix in (("pg_snapshots", "pg_"), ("redis_snapshots", "redis_")):
            ids, kept = _doomed(store, table, cutoff, keep)
            res.snapshots[table], res.kept[table] = len(ids), kept
            if not ids:
                continue
            store.con.execute("CREATE OR REPLACE TEMP TABLE _doomed AS SELECT unnest(?::BIGINT[]) AS snapshot_id",
                              [ids])
            for t in _keyed_tables(store, prefix):
                if t == table:
                    continue
                n = store.con.execute(f"DELETE FROM {t} WHERE snapshot_id IN (SELECT snapshot_id FROM _doomed)"
                                      ).fetchone()[0]
                res.rows[t] = res.rows.get(t, 0) + n
            res.rows[table] = store.con.execute(
                f"DELETE FROM {table} WHERE snapshot_id IN (SELECT snapshot_id FROM _doomed)").fetchone()[0]
        res.rows["pg_query_texts"] = store.con.execute(
            "DELETE FROM pg_query_texts q WHERE NOT EXISTS (SELECT 1 FROM pg_statements st JOIN pg_snapshots s"
            " USING (snapshot_id) WHERE st.queryid = q.queryid"
            " AND coalesce(s.system_identifier, s.host || ':' || s.port::VARCHAR) = q.system_identifier)"
        ).fetchone()[0]
        store.con.execute("DROP TABLE IF EXISTS _doomed")
        store.con.execute("ROLLBACK" if dry_run else "COMMIT")
    except BaseException:
        store.con.execute("ROLLBACK")
        raise
    return res
