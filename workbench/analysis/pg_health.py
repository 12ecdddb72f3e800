"""`workbench pg health`: pgHero's checks over one stored PostgreSQL snapshot, one finding per row.

Each finding is `{"check", "item", "severity", "value", "threshold", "evidence", "recommendation"}`
(docs/postgres.md). Severity is `info` (worth knowing: connection sources, size growth), `warning`
(crossed a threshold) or `critical` (act now: wraparound or a sequence about to run out). The checks
reuse the database notebook's functions in workbench.analysis.postgres; nothing here reads a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.analysis.postgres import (
    HIT_RATIO_MIN_BLOCKS,
    HIT_RATIO_TARGET,
    UNUSED_MIN_STATS_AGE_S,
    _py,
    bloat,
    connection_sources,
    connections,
    duplicate_indexes,
    hit_ratios,
    latest_snapshot,
    sessions,
    slow_snapshot,
    unused_indexes,
    vacuum_staleness,
)
from workbench.errors import WorkbenchError
from workbench.store import Store

SEVERITIES = ("info", "warning", "critical")
# Largest value a sequence can hand out to a column of this type (the column caps a bigint sequence).
TYPE_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}
XID_WRAP_LIMIT = 2**31 - 3_000_000   # PostgreSQL stops assigning XIDs 3M before wraparound


@dataclass
class Thresholds:
    """Where each check starts reporting (defaults after pgHero's)."""

    sequence_ratio: float = 0.9                 # pgHero: sequences 90% used
    xid_age_ratio: float = 1.0                  # of autovacuum_freeze_max_age (anti-wraparound vacuum is late)
    xid_critical_ratio: float = 0.5             # of the 2^31 limit
    bloat_ratio: float = 0.5
    bloat_min_bytes: int = 10 * 1024 * 1024
    hit_ratio: float = HIT_RATIO_TARGET
    hit_ratio_min_blocks: int = HIT_RATIO_MIN_BLOCKS
    unused_min_stats_age_s: float = UNUSED_MIN_STATS_AGE_S
    connections_ratio: float = 0.8
    long_transaction_s: float = 30.0
    growth_min_bytes: int = 1024 * 1024


@dataclass
class HealthResult:
    """Findings of one snapshot; `.to_dict()` is `pg health --format json`."""

    server: str
    snapshot: int
    findings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "snapshot": self.snapshot, "findings": self.findings}

    def to_frame(self) -> pd.DataFrame:
        cols = ["check", "item", "severity", "value", "threshold", "evidence", "recommendation"]
        return pd.DataFrame(self.findings, columns=cols)

    def worst(self) -> str | None:
        """The highest severity found (None: no finding)."""
        found = {f["severity"] for f in self.findings}
        return next((s for s in reversed(SEVERITIES) if s in found), None)


def _finding(check: str, item: str, severity: str, value: Any, threshold: Any, evidence: dict[str, Any],
             recommendation: str) -> dict[str, Any]:
    return {"check": check, "item": item, "severity": severity, "value": _py(value), "threshold": _py(threshold),
            "evidence": {k: _py(v) for k, v in evidence.items()}, "recommendation": recommendation}


def _setting(store: Store, sid: int, name: str) -> float | None:
    row = store.con.execute("SELECT setting FROM pg_settings WHERE snapshot_id = ? AND name = ?",
                            [sid, name]).fetchone()
    try:
        return float(row[0]) if row else None
    except (TypeError, ValueError):
        return None


def _indexes(store: Store, sid: int, th: Thresholds) -> list[dict]:
    out = []
    for r in duplicate_indexes(store, slow_snapshot(store, sid)).itertuples():
        schema = r.table.split(".", 1)[0]
        out.append(_finding("duplicate_index", f"{schema}.{r.index}", "warning", r.size_bytes, None,
                            {"covered_by": f"{schema}.{r.covered_by}", "table": r.table, "columns": r.columns},
                            f"DROP INDEX CONCURRENTLY {schema}.{r.index}; (after checking it backs no query hint "
                            "or replica-only workload)"))
    unused = unused_indexes(store, sid, th.unused_min_stats_age_s)
    for r in unused[unused.enough_history].itertuples():
        schema = r.table.split(".", 1)[0]
        where = " on this replica; check the primary and other replicas" if r.on_replica else ""
        out.append(_finding("unused_index", f"{schema}.{r.index}", "warning", r.size_bytes,
                            th.unused_min_stats_age_s,
                            {"table": r.table, "idx_scan": r.idx_scan, "stats_age_s": r.stats_age_s,
                             "on_replica": r.on_replica},
                            f"never scanned in {r.stats_age_s / 86400:.1f} days of statistics{where}: consider "
                            f"DROP INDEX CONCURRENTLY {schema}.{r.index}"))
    bad = store.query_df("SELECT schemaname, relname, indexrelname, size_bytes, indexdef FROM pg_indexes"
                         " WHERE snapshot_id = ? AND NOT is_valid ORDER BY 1, 3", [sid])
    for r in bad.itertuples():
        out.append(_finding("invalid_index", f"{r.schemaname}.{r.indexrelname}", "warning", r.size_bytes, None,
                            {"table": f"{r.schemaname}.{r.relname}", "indexdef": r.indexdef},
                            "a failed CREATE INDEX CONCURRENTLY left it behind: it is maintained on every write "
                            f"but never used; DROP INDEX CONCURRENTLY {r.schemaname}.{r.indexrelname} and "
                            "create it again (or REINDEX INDEX CONCURRENTLY)"))
    return out


def _sequences(store: Store, sid: int, th: Thresholds) -> list[dict]:
    seq = store.query_df("SELECT * FROM pg_sequences WHERE snapshot_id = ? AND last_value IS NOT NULL",
                         [slow_snapshot(store, sid)])
    out = []
    for r in seq.itertuples():
        cap = float(r.max_value)
        if r.owner_type in TYPE_MAX:
            cap = min(cap, float(TYPE_MAX[r.owner_type]))
        used = (float(r.last_value) - float(r.min_value)) / (cap - float(r.min_value)) if cap > r.min_value else 0
        if int(r.increment_by) < 0 or used < th.sequence_ratio or r.cycle:
            continue
        col = f"{r.schemaname}.{r.owner_table}.{r.owner_column}" if r.owner_table else None
        out.append(_finding("sequence_danger", f"{r.schemaname}.{r.sequencename}",
                            "critical" if used >= 0.98 else "warning", used, th.sequence_ratio,
                            {"last_value": r.last_value, "max_usable": cap, "column": col,
                             "column_type": r.owner_type, "sequence_type": r.data_type},
                            f"widen {col or 'the column'} to bigint (ALTER TABLE ... ALTER COLUMN ... TYPE bigint) "
                            "before the sequence runs out"))
    return out


def _wraparound(store: Store, sid: int, th: Thresholds) -> list[dict]:
    freeze = _setting(store, sid, "autovacuum_freeze_max_age") or 200_000_000
    db = store.query_df("SELECT datname, xid_age, mxid_age FROM pg_databases WHERE snapshot_id = ?"
                        " AND xid_age IS NOT NULL ORDER BY xid_age DESC", [sid])
    out = []
    for r in db.itertuples():
        if r.xid_age < th.xid_age_ratio * freeze:
            continue
        critical = r.xid_age >= th.xid_critical_ratio * XID_WRAP_LIMIT
        out.append(_finding("xid_wraparound", r.datname, "critical" if critical else "warning", r.xid_age,
                            th.xid_age_ratio * freeze,
                            {"autovacuum_freeze_max_age": freeze, "xids_left": XID_WRAP_LIMIT - r.xid_age,
                             "mxid_age": r.mxid_age},
                            "anti-wraparound autovacuum is behind: find what holds the oldest xmin (long "
                            "transactions, prepared transactions, replication slots) and VACUUM (FREEZE) the "
                            "oldest tables"))
    return out


def _tables(store: Store, sid: int, th: Thresholds) -> list[dict]:
    out = []
    b = bloat(store, slow_snapshot(store, sid))
    b = b[(b.estimate == "estimated") & (b.bloat_ratio >= th.bloat_ratio) & (b.bloat_bytes >= th.bloat_min_bytes)]
    for r in b.itertuples():
        item = r.table if r.kind == "table" else f"{r.table.split('.', 1)[0]}.{r.index}"
        out.append(_finding("bloat", item, "warning", r.bloat_ratio, th.bloat_ratio,
                            {"kind": r.kind, "bloat_bytes": r.bloat_bytes, "real_bytes": r.real_bytes},
                            "an estimate from pg_stats: confirm with pgstattuple, then VACUUM (FULL) / pg_repack "
                            "for tables or REINDEX CONCURRENTLY for indexes"))
    stale = vacuum_staleness(store, sid)
    for r in stale[stale.stale].itertuples():
        out.append(_finding("stale_stats", r.table, "warning", r.dead_tuple_ratio, 0.2,
                            {"n_dead_tup": r.n_dead_tup, "n_mod_since_analyze": r.n_mod_since_analyze,
                             "since_vacuum_s": r.since_vacuum_s, "since_analyze_s": r.since_analyze_s},
                            f"VACUUM (ANALYZE) {r.table}; check its autovacuum settings"))
    hits = hit_ratios(store, sid, min_blocks=th.hit_ratio_min_blocks)["databases"]
    for r in hits[hits.below_99pct].itertuples():
        out.append(_finding("hit_ratio", r.name, "warning", r.hit_ratio, th.hit_ratio,
                            {"blks_hit": r.blks_hit, "blks_read": r.blks_read},
                            "the working set does not fit in shared_buffers / the OS cache: look at the "
                            "statements with the most shared_blks_read (`pg top --by io`)"))
    return out


def _sessions(store: Store, sid: int, th: Thresholds) -> list[dict]:
    out = []
    c = connections(store, sid)
    usage = c.get("usage_ratio")
    if usage is not None and usage == usage and usage >= th.connections_ratio:
        out.append(_finding("connections", f"{c['connections']} of {c['max_connections']}", "warning", usage,
                            th.connections_ratio, {"by_state": c["by_state"]},
                            "use a connection pooler (PgBouncer) or lower the applications' pool sizes"))
    for r in connection_sources(store, sid).itertuples():
        item = f"{r.application_name or '?'} from {r.client_addr or 'local'} as {r.usename or '?'}"
        out.append(_finding("connection_sources", item, "info", r.connections, None,
                            {"active": r.active, "idle_in_transaction": r.idle_in_transaction,
                             "application_name": r.application_name, "client_addr": r.client_addr,
                             "usename": r.usename}, "who holds the connections"))
    ses = sessions(store, sid, th.long_transaction_s)
    for r in ses[ses.is_root_blocker].itertuples():
        out.append(_finding("blocked", f"pid {r.pid} ({r.application_name or '?'}, {r.usename or '?'})", "warning",
                            r.blocking, 0, {"state": r.state, "xact_age_s": r.xact_age_s, "query": r.query},
                            "the root of a lock chain: finish or cancel its transaction "
                            f"(SELECT pg_cancel_backend({r.pid}) / pg_terminate_backend)"))
    long_ = ses[(ses.xact_age_s.fillna(0) >= th.long_transaction_s)]
    for r in long_.itertuples():
        out.append(_finding("long_transaction", f"pid {r.pid} ({r.application_name or '?'}, {r.usename or '?'})",
                            "warning", r.xact_age_s, th.long_transaction_s,
                            {"state": r.state, "query": r.query, "blocking": r.blocking},
                            "long transactions hold back vacuum and locks: set idle_in_transaction_session_timeout"
                            " / fix the application's transaction scope"))
    return out


def _growth(store: Store, sid: int, th: Thresholds) -> list[dict]:
    """Size growth per table since the oldest snapshot of the same server (sizes of full snapshots)."""
    slow = slow_snapshot(store, sid)
    df = store.query_df(
        "WITH me AS (SELECT server_key, taken_at FROM pg_snapshots WHERE snapshot_id = ?),"
        " first AS (SELECT s.snapshot_id, s.taken_at FROM pg_snapshots s, me"
        "           WHERE s.server_key = me.server_key AND s.taken_at < me.taken_at"
        "             AND EXISTS (SELECT 1 FROM pg_tables t WHERE t.snapshot_id = s.snapshot_id"
        "                         AND t.total_bytes IS NOT NULL)"
        "           ORDER BY s.taken_at LIMIT 1)"
        " SELECT a.schemaname || '.' || a.relname AS table, a.total_bytes - b.total_bytes AS growth_bytes,"
        "        a.total_bytes, epoch(me.taken_at) - epoch(first.taken_at) AS span_s"
        " FROM pg_tables a JOIN first ON true JOIN me ON true"
        " JOIN pg_tables b ON b.snapshot_id = first.snapshot_id AND b.relid = a.relid"
        " WHERE a.snapshot_id = ? ORDER BY growth_bytes DESC NULLS LAST", [slow, slow])
    out = []
    for r in df[df.growth_bytes >= th.growth_min_bytes].head(10).itertuples():
        per_day = r.growth_bytes / r.span_s * 86400 if r.span_s > 0 else None
        out.append(_finding("growth", r.table, "info", r.growth_bytes, th.growth_min_bytes,
                            {"total_bytes": r.total_bytes, "span_s": r.span_s, "bytes_per_day": per_day},
                            "plan storage and check that the growth is expected (retention, archiving)"))
    return out


CHECKS = (_indexes, _sequences, _wraparound, _tables, _sessions, _growth)


def pg_health(store: Store, snapshot: int | None = None, thresholds: Thresholds | None = None,
              label: str | None = None) -> HealthResult:
    """Every check over SNAPSHOT (default: the newest, of LABEL when given)."""
    sid = snapshot if snapshot is not None else latest_snapshot(store, label)
    if sid is None:
        raise WorkbenchError("no PostgreSQL snapshots in the store: run `workbench collect postgres` first")
    row = store.con.execute("SELECT host, port, dbname FROM pg_snapshots WHERE snapshot_id = ?", [sid]).fetchone()
    if row is None:
        raise WorkbenchError(f"no PostgreSQL snapshot {sid}: see `workbench ls snapshots`")
    th = thresholds or Thresholds()
    findings = [f for check in CHECKS for f in check(store, sid, th)]
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    findings.sort(key=lambda f: order[f["severity"]])
    return HealthResult(f"{row[0]}:{row[1]}/{row[2]}", int(sid), findings)
