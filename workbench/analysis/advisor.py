"""The index advisor: candidates from the top statements' WHERE / JOIN / ORDER BY columns, verified with
hypothetical indexes (hypopg) where the server has them, ranked by workload benefit, written as a
reviewable plan that is never executed.

Candidates: for each table a statement uses, every single column and every ordered pair with an
equality (or join) column first and a range, sort or other equality column second; candidates whose
columns are the leading columns of an existing btree index are skipped. Verification compares the
statement's generic-plan cost with and without each hypothetical index; the best candidate per statement
is kept when it saves at least MIN_SAVINGS of the cost. Benefit = calls x mean time x saving (the
statement time the index would save over the snapshot interval). Without hypopg the plan is still
written, every index marked unverified, with why, and the candidate chosen by a rule: the pair that
covers an equality and a range/sort column, else an equality column, else the first column.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from workbench.analysis import postgres as pga
from workbench.analysis.bottleneck_checks.rules import RULES
from workbench.errors import WorkbenchError
from workbench.sources.pg_predicates import TableUse, column_uses
from workbench.store import Store

DEFAULT_MIN_SAVINGS = 0.5
TOP_STATEMENTS = 10
WRITE_HEAVY_RATIO = 1.0     # rows written per scan: above this a new index costs more than it reads


@dataclass
class IndexAdvice:
    """One proposed index with its evidence."""

    table: str
    columns: tuple[str, ...]
    queryids: list[int]
    statements: list[str]
    calls: int
    total_exec_time_ms: float
    verified: bool
    cost_before: float | None = None
    cost_after: float | None = None
    saving: float | None = None
    benefit_ms: float | None = None
    size_bytes: float | None = None
    plan_before: str | None = None
    plan_after: str | None = None
    write_heavy: bool = False
    writes_per_scan: float | None = None
    reason: str = ""

    @property
    def name(self) -> str:
        return "_".join([self.table.split(".")[-1], *self.columns, "idx"])[:63]

    def create_sql(self) -> str:
        return (f"CREATE INDEX CONCURRENTLY {quote_ident(self.name)} ON {quote_qualified(self.table)} "
                f"({', '.join(quote_ident(c) for c in self.columns)});")


@dataclass
class AdvicePlan:
    """The advisor's plan: indexes to create, indexes to drop, tables to vacuum, pool settings."""

    server: str
    from_snap: int | None
    to_snap: int | None
    min_savings: float
    verified: bool
    unverified_reason: str | None
    hypopg_version: str | None = None
    indexes: list[IndexAdvice] = field(default_factory=list)
    rejected: list[IndexAdvice] = field(default_factory=list)
    drops: list[dict[str, Any]] = field(default_factory=list)
    vacuums: list[dict[str, Any]] = field(default_factory=list)
    pool: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "from": self.from_snap, "to": self.to_snap, "min_savings": self.min_savings,
                "verified": self.verified, "unverified_reason": self.unverified_reason,
                "hypopg_version": self.hypopg_version,
                "indexes": [dict(asdict(i), name=i.name, sql=i.create_sql(), columns=list(i.columns))
                            for i in self.indexes],
                "rejected": [dict(asdict(i), columns=list(i.columns)) for i in self.rejected],
                "drops": self.drops, "vacuums": self.vacuums, "pool": self.pool, "skipped": self.skipped}

    def to_sql(self) -> str:
        """The plan as a SQL script: every statement commented with its evidence; nothing is executed."""
        out = ["-- workbench advise: a plan to review. Nothing here has been executed.",
               f"-- server {self.server}, snapshots {self.from_snap} -> {self.to_snap}",
               "-- CONCURRENTLY statements cannot run inside a transaction block: run them one by one."]
        if self.verified:
            out.append(f"-- verified with hypopg {self.hypopg_version}: generic-plan cost with and without each "
                       f"hypothetical index; kept when it saves >= {self.min_savings:.0%}")
        else:
            out.append(f"-- UNVERIFIED: {self.unverified_reason}")
            out.append("-- the indexes below are chosen from the statements' predicates only; check them with EXPLAIN")
        out.append("")
        out.append("-- 1. Indexes to create, by workload benefit")
        if not self.indexes:
            out.append("-- (none)")
        for n, ix in enumerate(self.indexes, 1):
            out.append(f"-- 1.{n} {ix.table} ({', '.join(ix.columns)}): {ix.calls} calls, "
                       f"{ix.total_exec_time_ms:.1f} ms total in the interval")
            if ix.verified:
                out.append(f"--   generic-plan cost {ix.cost_before:.1f} -> {ix.cost_after:.1f} "
                           f"(saves {ix.saving:.0%}); benefit ~{ix.benefit_ms:.1f} ms of statement time; "
                           f"estimated size {(ix.size_bytes or 0) / 1e6:.1f} MB")
            else:
                out.append(f"--   unverified: {ix.reason or self.unverified_reason}")
            if ix.write_heavy:
                out.append(f"--   WARNING: write-heavy table ({ix.writes_per_scan:.1f} rows written per scan): "
                           "every write pays for this index")
            for q, text in zip(ix.queryids, ix.statements, strict=False):
                out.append(f"--   statement {q}: {_one_line(text, 150)}")
            for title, plan in (("plan before", ix.plan_before), ("plan after", ix.plan_after)):
                if plan:
                    out.append(f"--   {title}:")
                    out += [f"--     {line}" for line in plan.splitlines()]
            out.append(ix.create_sql())
            out.append("")
        out.append("-- 2. Indexes to drop (unused or covered by another index)")
        if not self.drops:
            out.append("-- (none)")
        for d in self.drops:
            out.append(f"-- {d['why']}; {d['size_bytes'] / 1e6:.2f} MB; {d.get('indexdef') or ''}".rstrip())
            out.append(f"DROP INDEX CONCURRENTLY {quote_qualified(d['index'])};")
        out.append("")
        out.append("-- 3. Tables to vacuum and analyze")
        if not self.vacuums:
            out.append("-- (none)")
        for v in self.vacuums:
            out.append(f"-- {v['why']}")
            out.append(f"VACUUM (ANALYZE) {quote_qualified(v['table'])};")
        out.append("")
        out.append("-- 4. Connection pool (PgBouncer, pgbouncer.ini), from the connection evidence")
        p = self.pool
        out.append(f"-- evidence: {p.get('evidence')}")
        out += [f"-- {line}" for line in pool_ini(p).splitlines()]
        return "\n".join(out) + "\n"


def quote_ident(name: str) -> str:
    """An SQL identifier, double-quoted when it is not a plain lower-case name (the plan's one quoting helper)."""
    import re

    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(name: str) -> str:
    schema, _, rel = name.rpartition(".")
    return f"{quote_ident(schema)}.{quote_ident(rel)}" if schema else quote_ident(rel)


def _one_line(text: str | None, width: int) -> str:
    one = " ".join((text or "").split())
    return one if len(one) <= width else one[: width - 1] + "…"


# -- candidates ---------------------------------------------------------------------------------------------
def table_columns(store: Store, sid: int) -> dict[str, set[str]]:
    """table -> column names known from the snapshot's pg_stats rows and index definitions."""
    out: dict[str, set[str]] = {}
    for t, a in store.con.execute("SELECT schemaname || '.' || relname, attname FROM pg_column_stats"
                                  " WHERE snapshot_id = ?", [sid]).fetchall():
        out.setdefault(t, set()).add(a)
    for (t,) in store.con.execute("SELECT schemaname || '.' || relname FROM pg_tables WHERE snapshot_id = ?",
                                  [sid]).fetchall():
        out.setdefault(t, set())
    return out


def btree_prefixes(store: Store, sid: int) -> dict[str, list[tuple[str, ...]]]:
    """table -> the key columns of its valid, non-partial btree indexes."""
    out: dict[str, list[tuple[str, ...]]] = {}
    rows = store.con.execute("SELECT schemaname || '.' || relname, key_columns FROM pg_indexes WHERE snapshot_id = ?"
                             " AND amname = 'btree' AND is_valid AND predicate IS NULL", [sid]).fetchall()
    for t, keys in rows:
        out.setdefault(t, []).append(tuple(keys or ()))
    return out


def covered(columns: tuple[str, ...], existing: list[tuple[str, ...]]) -> bool:
    """Whether an existing index starts with COLUMNS (so it serves the same lookups)."""
    return any(ix[: len(columns)] == columns for ix in existing)


def candidates(use: TableUse, existing: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Singles and ordered pairs (equality/join first, then range, sort or another equality column),
    best-first by the rule used when nothing verifies them; those an existing btree covers are left out."""
    firsts = use.eq + [c for c in use.join if c not in use.eq]
    seconds = [c for c in use.range + use.sort if c not in firsts]
    pairs = [(a, b) for a in firsts for b in seconds] + [(a, b) for a in firsts for b in firsts if a != b]
    singles = [(c,) for c in firsts + seconds]
    seen, out = set(), []
    for cand in pairs + singles:
        if cand not in seen and not covered(cand, existing):
            seen.add(cand)
            out.append(cand)
    return out


def statement_candidates(store: Store, top: pd.DataFrame, sid: int,
                         limit: int = TOP_STATEMENTS) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """For the LIMIT statements with the most time: [{queryid, query, calls, total_exec_time_ms,
    mean_exec_time_ms, table, candidates}], and the statements skipped with why."""
    slow = pga.slow_snapshot(store, sid)   # a fast snapshot holds no definitions: read the last full one
    cols = table_columns(store, slow)
    existing = btree_prefixes(store, slow)
    dbname = store.con.execute("SELECT dbname FROM pg_snapshots WHERE snapshot_id = ?", [sid]).fetchone()[0]
    if "datname" in top.columns:   # the snapshot's tables are those of the database it connected to
        top = top[top["datname"].isna() | (top["datname"] == dbname)]
    out, skipped = [], []
    for r in top.head(limit).to_dict("records"):
        text = r.get("query")
        if not isinstance(text, str) or not text.strip():
            skipped.append({"queryid": r.get("queryid"), "why": "no statement text (privileges)"})
            continue
        try:
            parsed = column_uses(text, cols)
        except WorkbenchError as e:
            skipped.append({"queryid": r.get("queryid"), "why": str(e)})
            continue
        if parsed.kind not in ("select", "update", "delete"):
            skipped.append({"queryid": r.get("queryid"), "why": f"a {parsed.kind} statement"})
            continue
        for table, use in parsed.uses.items():
            if table not in cols:   # catalogs and tables the snapshot does not know: not ours to index
                continue
            cands = candidates(use, existing.get(table, []))
            if cands:
                out.append({"queryid": r.get("queryid"), "query": text, "calls": int(r.get("calls") or 0),
                            "total_exec_time_ms": float(r.get("total_exec_time_ms") or 0.0),
                            "mean_exec_time_ms": float(r.get("mean_exec_time_ms") or 0.0),
                            "table": table, "candidates": cands})
    return out, skipped


def index_hints(store: Store, top: pd.DataFrame, sid: int, limit: int = TOP_STATEMENTS) -> dict[int, list[dict]]:
    """queryid -> [{table, columns}], the first candidate per table by the unverified rule (the hint the
    bottleneck findings carry; `workbench advise` verifies it)."""
    out: dict[int, list[dict]] = {}
    for c in statement_candidates(store, top, sid, limit)[0]:
        out.setdefault(c["queryid"], []).append({"table": c["table"], "columns": list(c["candidates"][0])})
    return out


# -- the plan ---------------------------------------------------------------------------------------------
def writes_per_scan(tables: pd.DataFrame) -> dict[str, float]:
    """table -> rows written (inserted, updated, deleted) per scan in the interval: above WRITE_HEAVY_RATIO a
    new index costs every write more than it saves reads."""
    t = tables.set_index("table")
    scans = (t["seq_scan"].fillna(0) + t["idx_scan"].fillna(0)).clip(lower=1)
    return (t.get("writes", pd.Series(0.0, index=t.index)) / scans).to_dict()


def pool_settings(connections: dict[str, Any], server: dict[str, Any], peak_active: int) -> dict[str, Any]:
    """Pool sizes in the playbook's PgBouncer format, derived from max_connections and the busiest snapshot."""
    mx = int(connections.get("max_connections") or 100)
    pool = max(5, min(25, 2 * max(peak_active, 1)))
    return {"database": server.get("dbname", "app"), "host": server.get("host", "localhost"),
            "port": int(server.get("port") or 5432), "pool_mode": "transaction", "max_client_conn": max(200, mx * 2),
            "default_pool_size": pool, "min_pool_size": max(1, pool // 5), "reserve_pool_size": max(1, pool // 5),
            "max_db_connections": max(pool, int(mx * 0.8) - 5), "server_reset_query": "DISCARD ALL",
            "evidence": {"max_connections": mx, "connections": connections.get("connections"),
                         "peak_active_backends": peak_active, "by_state": connections.get("by_state")}}


def pool_ini(p: dict[str, Any]) -> str:
    return "\n".join([
        "[databases]", f"{p['database']} = host={p['host']} port={p['port']} dbname={p['database']}", "",
        "[pgbouncer]", f"pool_mode = {p['pool_mode']}", f"max_client_conn = {p['max_client_conn']}",
        f"default_pool_size = {p['default_pool_size']}", f"min_pool_size = {p['min_pool_size']}",
        f"reserve_pool_size = {p['reserve_pool_size']}", f"max_db_connections = {p['max_db_connections']}",
        f"server_reset_query = {p['server_reset_query']}"])


def advise(store: Store, dsn: str | None = None, *, min_savings: float = DEFAULT_MIN_SAVINGS,
           limit: int = TOP_STATEMENTS, verify: bool = True, label: str | None = None, **timeouts: int) -> AdvicePlan:
    """The plan for the last two snapshots of one server (of LABEL), verified against DSN with hypopg when
    VERIFY and the server has it (otherwise marked unverified, with why)."""
    if not 0 < min_savings < 1:
        raise WorkbenchError(f"--min-savings {min_savings:.0%}: use a share between 0% and 100%, e.g. 50%")
    rep = pga.database_report(store, label=label)
    if rep.to_snap is None or rep.top is None:
        raise WorkbenchError(rep.note or "no PostgreSQL snapshots: run `workbench collect postgres` twice")
    sid = rep.to_snap
    s = rep.server
    plan = AdvicePlan(f"{s.get('host')}:{s.get('port')}/{s.get('dbname')}", rep.from_snap, sid, min_savings,
                      False, None)
    top = rep.top.statements
    found, plan.skipped = statement_candidates(store, top, sid, limit)
    tables = _tables_with_writes(store, sid, rep.from_snap)
    writes = writes_per_scan(tables) if not tables.empty else {}

    explainer = None
    if not verify:
        plan.unverified_reason = "verification not requested (`--no-verify`, or no server given to the report)"
    else:
        from workbench.sources.pg_explain import Explainer

        try:
            explainer = Explainer(dsn, **timeouts)
            plan.hypopg_version = explainer.hypopg_version()
            if plan.hypopg_version is None:
                plan.unverified_reason = explainer.hypopg_missing_reason()
                explainer.close()
                explainer = None
        except WorkbenchError as e:
            plan.unverified_reason = f"no verification: {e}"
    plan.verified = explainer is not None
    chosen: dict[tuple[str, tuple[str, ...]], IndexAdvice] = {}
    try:
        for c in found:
            best = _verify(explainer, c, min_savings, plan) if explainer else IndexAdvice(
                c["table"], c["candidates"][0], [c["queryid"]], [c["query"]], c["calls"], c["total_exec_time_ms"],
                False, reason=plan.unverified_reason or "")
            if best is None:
                continue
            key = (best.table, best.columns)
            if key in chosen:   # one index helping several statements: add up their evidence
                ix = chosen[key]
                ix.queryids += best.queryids
                ix.statements += best.statements
                ix.calls += best.calls
                ix.total_exec_time_ms += best.total_exec_time_ms
                if best.benefit_ms is not None:
                    ix.benefit_ms = (ix.benefit_ms or 0) + best.benefit_ms
            else:
                chosen[key] = best
    finally:
        if explainer is not None:
            explainer.close()
    for ix in chosen.values():
        w = writes.get(ix.table)
        ix.writes_per_scan = w
        ix.write_heavy = bool(w is not None and w > WRITE_HEAVY_RATIO)
    plan.indexes = sorted(chosen.values(), key=lambda i: -(i.benefit_ms if i.benefit_ms is not None
                                                            else i.total_exec_time_ms))
    plan.drops = _drops(rep)
    plan.vacuums = _vacuums(rep)
    peak = int(store.con.execute(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM pg_activity WHERE snapshot_id IN (?, ?)"
        " AND backend_type = 'client backend' AND state = 'active' GROUP BY snapshot_id)",
        [rep.from_snap or sid, sid]).fetchone()[0]) + 1
    plan.pool = pool_settings(rep.connections, s, peak)
    return plan


def _verify(ex, c: dict[str, Any], min_savings: float, plan: AdvicePlan) -> IndexAdvice | None:
    try:
        before = ex.generic_plan(c["query"])
    except WorkbenchError as e:
        plan.skipped.append({"queryid": c["queryid"], "why": str(e)})
        return None
    best = None
    for cols in c["candidates"]:
        try:
            after, size = ex.with_index(c["query"], c["table"], cols)
        except WorkbenchError as e:
            plan.skipped.append({"queryid": c["queryid"], "why": str(e)})
            continue
        saving = 1 - after.cost / before.cost if before.cost > 0 else 0.0
        ix = IndexAdvice(c["table"], cols, [c["queryid"]], [c["query"]], c["calls"], c["total_exec_time_ms"], True,
                         before.cost, after.cost, saving, c["total_exec_time_ms"] * max(saving, 0.0), size,
                         before.text, after.text)
        # the cheapest plan wins; on a tie the smaller index
        if best is None or (after.cost, size) < (best.cost_after, best.size_bytes):
            best = ix
    if best is None:
        return None
    if best.saving is None or best.saving < min_savings or math.isnan(best.saving):
        best.reason = f"best candidate saves {best.saving:.0%} < {min_savings:.0%}"
        plan.rejected.append(best)
        return None
    return best


def _tables_with_writes(store: Store, sid: int, fid: int | None) -> pd.DataFrame:
    t = pga.table_stats(store, sid, fid)
    w = store.query_df("SELECT schemaname || '.' || relname AS table, relid,"
                       " coalesce(n_tup_ins, 0) + coalesce(n_tup_upd, 0) + coalesce(n_tup_del, 0) AS writes"
                       " FROM pg_tables WHERE snapshot_id = ?", [sid])
    if fid is not None:
        f = store.query_df("SELECT relid, coalesce(n_tup_ins, 0) + coalesce(n_tup_upd, 0) + coalesce(n_tup_del, 0)"
                           " AS w0 FROM pg_tables WHERE snapshot_id = ?", [fid])
        w = w.merge(f, on="relid", how="left")
        w["writes"] = (w["writes"] - w["w0"].fillna(0)).clip(lower=0)
    return t.merge(w[["table", "writes"]], on="table", how="left")


def _drops(rep: pga.DatabaseReport) -> list[dict[str, Any]]:
    out = []
    for r in (rep.duplicates.to_dict("records") if rep.duplicates is not None else []):
        out.append({"index": f"{r['table'].split('.')[0]}.{r['index']}", "table": r["table"],
                    "size_bytes": float(r.get("size_bytes") or 0),
                    "why": f"duplicate: {r['index']} ({r['columns']}) is covered by {r['covered_by']}"})
    dup = {d["index"] for d in out}
    for r in (rep.unused.to_dict("records") if rep.unused is not None else []):
        name = f"{r['table'].split('.')[0]}.{r['index']}"
        if name not in dup:
            out.append({"index": name, "table": r["table"], "size_bytes": float(r.get("size_bytes") or 0),
                        "indexdef": r.get("indexdef"),
                        "why": "unused: never scanned since the statistics were reset (check replicas first)"})
    return out


def _vacuums(rep: pga.DatabaseReport) -> list[dict[str, Any]]:
    out = []
    stale = RULES["database:stale_stats"].medium
    if rep.vacuum is None:
        return out
    for r in rep.vacuum.to_dict("records"):
        live, mods = float(r.get("n_live_tup") or 0), float(r.get("n_mod_since_analyze") or 0)
        dead = float(r.get("dead_tuple_ratio") or 0) if r.get("dead_tuple_ratio") == r.get("dead_tuple_ratio") else 0
        if (live >= 1000 or mods >= 1000) and (mods / max(live, 1) >= stale or dead > 0.2):
            out.append({"table": r["table"], "why": f"{r['table']}: {mods:.0f} rows changed since analyze of "
                        f"{live:.0f} live, dead-tuple ratio {dead:.0%}"})
    return out
