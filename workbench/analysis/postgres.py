"""PostgreSQL analysis over stored snapshots: statement deltas that survive resets, and health checks.

Pure functions of an open Store (read-only is enough); they return DataFrames or small result objects.
Deltas are only taken between two snapshots of one server (system identifier + host/port/database).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.sources.pg_columns import COUNTERS, HIDDEN_QUERY
from workbench.sources.pg_sql import OWN_MARKER
from workbench.store import Store

KEY = ["queryid", "dbid", "userid", "toplevel"]
ORDER_BY = {
    "total_time": ["total_exec_time_ms"],
    "mean_time": ["mean_exec_time_ms"],
    "calls": ["calls"],
    "io": ["shared_blks_read", "shared_blk_read_time_ms"],
}



def ratio(num: Any, den: Any) -> Any:
    """num/den elementwise; NaN (not an error) where den is 0 or missing."""
    num = pd.to_numeric(num, errors="coerce")
    den = pd.to_numeric(den, errors="coerce")
    if isinstance(den, pd.Series):
        return num / den.where(den > 0)
    return float(num) / float(den) if den and den > 0 and not pd.isna(den) else float("nan")


# -- snapshots ----------------------------------------------------------------------------------------
def snapshots(store: Store, label: str | None = None) -> pd.DataFrame:
    """All PostgreSQL snapshots (oldest first) with a `server` key; optionally only LABEL's."""
    sql = ("SELECT snapshot_id, taken_at, label, system_identifier, host, port, dbname, server_version,"
           " pgss_version, pgss_stats_reset, server_key AS server FROM pg_snapshots")
    params: list = []
    if label is not None:
        sql += " WHERE label = ?"
        params.append(label)
    return store.query_df(sql + " ORDER BY taken_at, snapshot_id", params)


@dataclass
class SnapshotPair:
    """Two snapshots of one server, oldest first."""

    from_id: int
    to_id: int
    from_at: pd.Timestamp
    to_at: pd.Timestamp
    server: str

    @property
    def interval_s(self) -> float:
        return (self.to_at - self.from_at).total_seconds()


def resolve_pair(store: Store, from_snap: int | str | None = None, to_snap: int | str | None = None,
                 label: str | None = None) -> SnapshotPair:
    """The snapshots to compare: defaults to the last two of one server (of LABEL when given). FROM_SNAP and
    TO_SNAP are snapshot ids or labels (a label means its latest snapshot), as for `redis stats`."""
    snaps = snapshots(store, label)
    every = snapshots(store) if label is not None else snaps
    if snaps.empty:
        what = f" labelled {label!r}" if label else ""
        raise WorkbenchError(f"no PostgreSQL snapshots{what} in the store: run `workbench collect postgres` twice")

    def row(ref: int | str) -> pd.Series:
        hit = every[every.snapshot_id == int(ref)] if str(ref).isdigit() else every.iloc[0:0]
        if hit.empty:
            hit = every[every.label == str(ref)]
        if hit.empty:
            raise WorkbenchError(f"no PostgreSQL snapshot {ref} (neither an id nor a label): see `workbench ls snapshots`")
        return hit.iloc[-1]

    to = row(to_snap) if to_snap is not None else snaps.iloc[-1]
    if from_snap is not None:
        fr = row(from_snap)
    else:
        earlier = snaps[(snaps.server == to.server) & (snaps.snapshot_id != to.snapshot_id)
                        & (snaps.taken_at <= to.taken_at)]
        if earlier.empty:
            raise WorkbenchError(f"only one snapshot ({to.snapshot_id}) of server {to.host}:{to.port}/{to.dbname}:"
                                 " take another with `workbench collect postgres` (deltas need two)")
        fr = earlier.iloc[-1]
    if fr.server != to.server:
        raise WorkbenchError(f"snapshots {fr.snapshot_id} ({fr.host}:{fr.port}/{fr.dbname}) and {to.snapshot_id} "
                             f"({to.host}:{to.port}/{to.dbname}) come from different servers: deltas refused;"
                             " pick two snapshots of one server (`workbench ls snapshots`)")
    if fr.taken_at > to.taken_at:
        fr, to = to, fr
    return SnapshotPair(int(fr.snapshot_id), int(to.snapshot_id), fr.taken_at, to.taken_at, to.server)


# -- statement deltas ---------------------------------------------------------------------------------
@dataclass
class TopResult:
    """`workbench pg top`: per-statement deltas between two snapshots."""

    pair: SnapshotPair
    reset: bool
    reset_reasons: list[str]
    statements: pd.DataFrame
    gone: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)     # caveats that are not resets (evictions)
    own: pd.DataFrame | None = None                     # the collector's own statements (its overhead)

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        cols = ["queryid", "dbid", "datname", "userid", "toplevel", "query", "calls", "total_exec_time_ms",
                "mean_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read", "hit_ratio", "time_share"]
        df = self.statements if limit is None else self.statements.head(limit)
        rows = [{c: _py(r[c]) for c in cols} for r in df.to_dict("records")]
        return {"from": self.pair.from_id, "to": self.pair.to_id, "interval_s": self.pair.interval_s,
                "reset": self.reset, "statements": rows}


def _py(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


HIDDEN_KEY = -(2**63)   # merge key of the summed hidden row (a queryid is never the minimum int64 in practice)


def _per_key(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (queryid, dbid, userid, toplevel): rows sharing a key (another role's statements with a
    NULL queryid, as stores written before they were summed at collection hold them) are summed."""
    df = df.copy()
    df["toplevel_key"] = df["toplevel"].astype("Int8").fillna(-1)          # NULL before 1.9
    df["queryid_key"] = df["queryid"].astype("Int64").fillna(HIDDEN_KEY)    # hidden: NULL queryid
    key = ["queryid_key", "dbid", "userid", "toplevel_key"]
    if not df.duplicated(key).any():
        return df
    agg = {c: "sum" for c in COUNTERS} | {"stats_since": "min", "queryid": "first", "toplevel": "first"}
    return df.groupby(key, dropna=False, as_index=False).agg(agg)


def _server_changes(meta: pd.DataFrame, pair: SnapshotPair) -> tuple[list[str], list[str], bool]:
    """(reset reasons, notes, whether every counter counts from zero) from the two snapshots' metadata:
    pg_stat_statements_info.stats_reset, the postmaster start, recovery state and dealloc growth."""
    a, b = meta.loc[pair.from_id], meta.loc[pair.to_id]
    reasons, notes = [], []
    r_from, r_to = a["pgss_stats_reset"], b["pgss_stats_reset"]
    whole = bool(pd.notna(r_to) and (pd.isna(r_from) or r_to != r_from) and r_to > pair.from_at)
    if whole:
        reasons.append(f"pg_stat_statements_info.stats_reset moved to {r_to.isoformat()}")
    elif pd.notna(r_from) and pd.notna(r_to) and r_to != r_from:
        # only a reset moves stats_reset, and only forward past the first snapshot: any other change means
        # these are another server's statistics (a failover, a restored backup) behind the same name
        reasons.append(f"pg_stat_statements_info.stats_reset changed from {r_from.isoformat()} to "
                       f"{r_to.isoformat()} without a reset: another server's statistics (failover?) are not "
                       "diffed against this name's earlier ones; counts are the new server's own")
        whole = True
    t_from, t_to = a.get("timeline_id"), b.get("timeline_id")
    if pd.notna(t_from) and pd.notna(t_to) and t_from != t_to:
        reasons.append(f"the server behind this name moved from WAL timeline {int(t_from)} to {int(t_to)} (a "
                       "promoted replica took over: failover): its statistics are not diffed against the former "
                       "primary's; counts are its own")
        whole = True
    if pd.notna(a["postmaster_start"]) and pd.notna(b["postmaster_start"]) \
            and a["postmaster_start"] != b["postmaster_start"]:
        reasons.append(f"the server (re)started at {b['postmaster_start'].isoformat()}: counters that went on "
                       "are compared, the others count from the start")
    if pd.notna(a["in_recovery"]) and pd.notna(b["in_recovery"]) and bool(a["in_recovery"]) != bool(b["in_recovery"]):
        state = "a primary (promoted?)" if not b["in_recovery"] else "a replica"
        reasons.append(f"the server behind this name is now {state}: statistics of another server are not "
                       "diffed against it; counts are its own since its start")
        whole = True
    d_from, d_to = a["pgss_dealloc"], b["pgss_dealloc"]
    if pd.notna(d_from) and pd.notna(d_to) and d_to > d_from and not whole:
        notes.append(f"evictions: pg_stat_statements deallocated entries {int(d_to - d_from)} time(s) between "
                     "the snapshots (pg_stat_statements.max too small): counts are lower bounds")
    return reasons, notes, whole


def statement_deltas(store: Store, pair: SnapshotPair, include_own: bool = False) -> TopResult:
    """Per statement (queryid, dbid, userid, toplevel) counter deltas; never negative.

    A statement whose counters went down, whose stats_since moved (1.11+), or any
    statement after a pg_stat_statements reset (stats_reset moved) or a change of server role (promoted
    replica) counts from zero: its delta is its whole counter in the second snapshot. New statements count
    in full; vanished ones are dropped. Time shares are of top-level time (with
    pg_stat_statements.track = all, nested statements' time is already inside their callers'; their
    share is NaN). The collector's own statements are set apart in `own` unless INCLUDE_OWN.
    """
    cols = ", ".join(KEY + COUNTERS + ["stats_since"])
    f = _per_key(store.query_df(f"SELECT {cols} FROM pg_statements WHERE snapshot_id = ?", [pair.from_id]))
    t = _per_key(store.query_df(f"SELECT {cols} FROM pg_statements WHERE snapshot_id = ?", [pair.to_id]))
    meta = store.query_df("SELECT snapshot_id, pgss_stats_reset, pgss_dealloc, postmaster_start, in_recovery,"
                          " timeline_id FROM pg_snapshots WHERE snapshot_id IN (?, ?)",
                          [pair.from_id, pair.to_id]).set_index("snapshot_id")
    reasons, notes, global_reset = _server_changes(meta, pair)
    key = ["queryid_key", "dbid", "userid", "toplevel_key"]
    m = t.merge(f.drop(columns=["toplevel", "queryid"]), on=key, how="left", suffixes=("", "_from"),
                indicator=True, validate="one_to_one")
    is_new = (m["_merge"] == "left_only").to_numpy()
    cur = m[COUNTERS].astype("float64").to_numpy()
    prev = m[[c + "_from" for c in COUNTERS]].astype("float64").to_numpy()
    went_down = pd.Series(np.any(cur < prev - 1e-6, axis=1), index=m.index)   # NaN compares False
    # an entry evicted and created again (or reset alone) has a later stats_since than the one diffed against
    since_moved = (m["stats_since"].notna() & m["stats_since_from"].notna()
                   & (m["stats_since"] > m["stats_since_from"]) & ~is_new)
    whole = since_moved | went_down | is_new | global_reset
    if went_down.any():
        reasons.append(f"{int(went_down.sum())} statements' counters went down")
    if since_moved.any():
        reasons.append(f"{int(since_moved.sum())} statements' stats_since moved")
    delta = np.where(whole.to_numpy()[:, None], cur, cur - np.nan_to_num(prev)).clip(min=0)
    out = pd.concat([m[KEY].reset_index(drop=True), pd.DataFrame(delta, columns=COUNTERS)], axis=1)
    out["is_new"] = is_new
    out = out[out["calls"].fillna(0) > 0].copy()
    out["mean_exec_time_ms"] = ratio(out["total_exec_time_ms"], out["calls"])
    out["hit_ratio"] = ratio(out["shared_blks_hit"], out["shared_blks_hit"] + out["shared_blks_read"])
    for c in ("calls", "rows", "shared_blks_hit", "shared_blks_read", "plans", "wal_records"):
        out[c] = out[c].round().astype("Int64")
    names = store.query_df("SELECT datid AS dbid, datname FROM pg_databases WHERE snapshot_id = ?", [pair.to_id])
    texts = store.query_df("SELECT queryid, query FROM pg_query_texts q JOIN pg_snapshots s"
                           " ON q.system_identifier = coalesce(s.system_identifier, s.host || ':' || s.port::VARCHAR)"
                           " WHERE s.snapshot_id = ?", [pair.to_id])
    out = (out.merge(names.drop_duplicates("dbid"), on="dbid", how="left", validate="many_to_one")
              .merge(texts, on="queryid", how="left", validate="many_to_one"))
    out.loc[out["queryid"].isna(), "query"] = HIDDEN_QUERY
    own = out["query"].fillna("").str.contains(OWN_MARKER, regex=False)
    own_rows = out[own].reset_index(drop=True)
    if not include_own:
        out = out[~own]
    top_level = out["toplevel"].astype("object").ne(False)   # NULL (before 1.9): every statement is top-level
    total = out.loc[top_level, "total_exec_time_ms"].sum()
    out["time_share"] = (out["total_exec_time_ms"] / total).where(top_level) if total > 0 else np.nan
    gone = int(len(f) - (m["_merge"] == "both").sum())
    return TopResult(pair, bool(reasons), reasons, out.reset_index(drop=True), gone, notes=notes, own=own_rows)


def pg_top(store: Store, from_snap: int | str | None = None, to_snap: int | str | None = None, by: str = "total_time",
           label: str | None = None, include_own: bool = False) -> TopResult:
    """Statements ranked BY (total_time | mean_time | calls | io) between two snapshots of one server;
    the collector's own statements are left out (in `.own`) unless INCLUDE_OWN."""
    if by not in ORDER_BY:
        raise WorkbenchError(f"--by {by!r}: use one of {', '.join(ORDER_BY)}")
    res = statement_deltas(store, resolve_pair(store, from_snap, to_snap, label), include_own)
    res.statements = res.statements.sort_values(ORDER_BY[by], ascending=False, na_position="last",
                                                kind="stable").reset_index(drop=True)
    res.statements["cum_time_share"] = res.statements["time_share"].cumsum() if by == "total_time" else np.nan
    return res


def mean_time_outliers(top: pd.DataFrame, factor: float = 5.0, min_calls: int = 1) -> pd.DataFrame:
    """Statements whose mean time is FACTOR x the median statement's mean or more."""
    df = top[top["calls"] >= min_calls]
    if df.empty:
        return df
    med = df["mean_exec_time_ms"].median()
    return df[df["mean_exec_time_ms"] >= factor * med].sort_values("mean_exec_time_ms", ascending=False)


def calls_heavy(top: pd.DataFrame, max_mean_ms: float = 1.0, min_calls_share: float = 0.05) -> pd.DataFrame:
    """N+1 suspects: cheap statements (mean < MAX_MEAN_MS) making up a large share of all calls."""
    if top.empty:
        return top
    share = top["calls"].astype("float64") / float(top["calls"].sum())
    df = top.assign(calls_share=share)
    return df[(df.calls_share >= min_calls_share) & (df.mean_exec_time_ms < max_mean_ms)].sort_values(
        "calls", ascending=False)


# -- health (one snapshot; deltas against FROM where given) -------------------------------------------
def latest_snapshot(store: Store, label: str | None = None) -> int | None:
    """The newest snapshot id (of LABEL when given), or None when there is none."""
    snaps = snapshots(store, label)
    return None if snaps.empty else int(snaps.iloc[-1].snapshot_id)


def slow_snapshot(store: Store, sid: int) -> int:
    """The snapshot holding SID's slow-changing sets (sizes, index definitions, bloat, column statistics,
    sequences): SID itself when it is full, else the newest full snapshot of the same server taken
    before it (SID when there is none)."""
    row = store.con.execute(
        "WITH me AS (SELECT server_key, taken_at, coalesce(kind, 'full') AS kind FROM pg_snapshots"
        "            WHERE snapshot_id = ?)"
        " SELECT s.snapshot_id FROM pg_snapshots s, me WHERE me.kind = 'fast'"
        " AND coalesce(s.kind, 'full') = 'full' AND s.server_key = me.server_key"
        " AND s.taken_at <= me.taken_at ORDER BY s.taken_at DESC, s.snapshot_id DESC LIMIT 1", [sid]).fetchone()
    return int(row[0]) if row else sid


def _snap(store: Store, table: str, sid: int) -> pd.DataFrame:
    return store.query_df(f"SELECT * FROM {table} WHERE snapshot_id = ?", [sid])


def _counter_delta(cur: pd.Series, prev: pd.Series) -> pd.Series:
    """A cumulative counter's increase since PREV; where it went down (stats reset) the current value,
    which counts since the reset. Never negative; NULL counters count as 0."""
    cur, prev = cur.fillna(0), prev.fillna(0)
    return (cur - prev).where(cur >= prev, cur).clip(lower=0)


def table_stats(store: Store, to_snap: int, from_snap: int | None = None) -> pd.DataFrame:
    """Per table: seq vs index scans (deltas when FROM is given), seq-scan ratio, size, dead tuples."""
    t = _snap(store, "pg_tables", to_snap)
    if from_snap is not None and not t.empty:
        f = _snap(store, "pg_tables", from_snap)[["relid", "seq_scan", "idx_scan", "seq_tup_read"]]
        t = t.merge(f, on="relid", how="left", suffixes=("", "_from"))
        for c in ("seq_scan", "idx_scan", "seq_tup_read"):
            t[c] = _counter_delta(t[c], t[c + "_from"])
    t["seq_scan_ratio"] = ratio(t["seq_scan"], t["seq_scan"].fillna(0) + t["idx_scan"].fillna(0))
    t["dead_tuple_ratio"] = ratio(t["n_dead_tup"], t["n_live_tup"].fillna(0) + t["n_dead_tup"].fillna(0))
    t["table"] = t["schemaname"] + "." + t["relname"]
    cols = ["table", "seq_scan", "idx_scan", "seq_tup_read", "seq_scan_ratio", "n_live_tup", "n_dead_tup",
            "dead_tuple_ratio", "table_bytes", "indexes_bytes", "total_bytes"]
    return t[cols].sort_values(["seq_tup_read", "total_bytes"], ascending=False).reset_index(drop=True)


def index_candidates(store: Store, to_snap: int, from_snap: int | None = None, top_tables: int = 3) -> pd.DataFrame:
    """Columns of the tables with the most rows read by sequential scans, with pg_stats' n_distinct and
    correlation (the playbook's index-usage check): selective columns (many distinct values) that no
    index starts with are the candidates to look at first."""
    tables = table_stats(store, to_snap, from_snap)
    tables = tables[tables["seq_tup_read"].fillna(0) > 0].head(top_tables)
    if tables.empty:
        return pd.DataFrame(columns=["table", "attname", "n_distinct", "correlation", "null_frac", "leads_an_index"])
    slow = slow_snapshot(store, to_snap)   # column statistics and index definitions: the last full snapshot
    cols = store.query_df("SELECT schemaname || '.' || relname AS table, attname, n_distinct, correlation, null_frac"
                          " FROM pg_column_stats WHERE snapshot_id = ?", [slow])
    cols = cols[cols["table"].isin(tables["table"])].copy()
    ix = _snap(store, "pg_indexes", slow)
    leading = {(f"{r.schemaname}.{r.relname}", _list(r.key_columns)[0]) for r in ix.itertuples()
               if _list(r.key_columns)}
    cols["leads_an_index"] = [(t, a) in leading for t, a in zip(cols["table"], cols["attname"], strict=True)]
    # n_distinct < 0 is a fraction of the rows: -1 means unique
    cols["distinct_rank"] = cols["n_distinct"].where(cols["n_distinct"] >= 0, -cols["n_distinct"] * 1e12)
    order = {t: i for i, t in enumerate(tables["table"])}
    cols["table_rank"] = cols["table"].map(order)
    cols = cols.sort_values(["table_rank", "leads_an_index", "distinct_rank"], ascending=[True, True, False])
    return cols.drop(columns=["distinct_rank", "table_rank"]).reset_index(drop=True)


UNUSED_MIN_STATS_AGE_S = 7 * 86400.0   # idx_scan = 0 means little over a shorter window
HIT_RATIO_MIN_BLOCKS = 10_000           # fewer block accesses say nothing about the cache


def stats_age_s(store: Store, sid: int) -> float | None:
    """How long the connected database's statistics have been counting at snapshot SID: since
    pg_stat_database.stats_reset or the postmaster's start, whichever is later (a lower bound: PostgreSQL
    15+ keeps statistics across clean restarts)."""
    row = store.con.execute(
        "SELECT epoch(taken_at) - epoch(greatest(coalesce(db_stats_reset, postmaster_start),"
        " coalesce(postmaster_start, db_stats_reset))) FROM pg_snapshots WHERE snapshot_id = ?", [sid]).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def unused_indexes(store: Store, sid: int, min_stats_age_s: float = UNUSED_MIN_STATS_AGE_S) -> pd.DataFrame:
    """Valid indexes never scanned since stats reset that back no constraint (not unique, not PK).

    `stats_age_s` says how long "never" is; `enough_history` is false when that is under MIN_STATS_AGE_S
    (an index unused since a reset five minutes ago is not unused). `on_replica`: the counts are this
    replica's own; the primary and other replicas may use the index.
    """
    df = store.query_df(
        "SELECT i.schemaname || '.' || i.relname AS table, i.indexrelname AS index, i.size_bytes, i.idx_scan,"
        " i.indexdef, coalesce(s.in_recovery, false) AS on_replica"
        " FROM pg_indexes i JOIN pg_snapshots s USING (snapshot_id)"
        " WHERE i.snapshot_id = ? AND coalesce(i.idx_scan, 0) = 0 AND i.is_valid"
        " AND NOT i.is_unique AND NOT i.is_primary AND i.constraint_type IS NULL"
        " ORDER BY i.size_bytes DESC NULLS LAST", [sid])
    age = stats_age_s(store, sid)
    df["stats_age_s"] = age
    df["enough_history"] = age is not None and age >= min_stats_age_s
    return df


def _list(v: Any) -> list:
    """A stored array as a list ([] for NULL / NA)."""
    return list(v) if isinstance(v, list | tuple | np.ndarray) else []


def _index_keys(r: dict) -> list[tuple]:
    """An index's key columns with what orders and compares them: (column or expression, operator class,
    collation, sort options). Stores written before these were collected compare the columns only."""
    cols = _list(r["key_columns"])
    n = len(cols)

    def part(name: str) -> list:
        v = r.get(name)
        return list(v)[:n] if v is not None else [None] * n

    return list(zip(cols, part("opclasses"), part("collations"), part("key_options"), strict=False))


def _covers(a: dict, b: dict) -> bool:
    """Whether index B makes index A redundant (same table, access method, predicate; A's keys a prefix
    of B's with the same operator classes, collations and sort options (identical when not btree); A's
    INCLUDE columns inside B's columns; A unique only when B is unique on exactly the same keys)."""
    if a["amname"] != b["amname"] or (a["predicate"] or None) != (b["predicate"] or None) or not b["is_valid"]:
        return False
    ka, kb = _index_keys(a), _index_keys(b)
    same = ka == kb
    if not same and (a["amname"] != "btree" or len(ka) > len(kb) or kb[:len(ka)] != ka):
        return False
    inc_a, inc_b = set(_list(a.get("include_columns"))), set(_list(b.get("include_columns")))
    if not inc_a <= inc_b | {k[0] for k in kb}:
        return False
    if a["is_unique"] or a["constraint_type"] is not None:
        return same and bool(b["is_unique"])
    return True


def _keeps(a: dict, b: dict) -> bool:
    """Of two indexes that cover each other, whether A is the one to keep: the one backing a constraint
    (primary key first), else the unique one, else the older (smaller oid)."""
    rank = {"p": 0, "u": 1, "x": 2}

    def order(r: dict) -> tuple:
        return (rank.get(r["constraint_type"], 3), 0 if r["is_unique"] else 1, r["indexrelid"])

    return order(a) < order(b)


def duplicate_indexes(store: Store, sid: int) -> pd.DataFrame:
    """Indexes made redundant by another valid index of the same table: same access method, predicate,
    operator classes, collations and sort options, key columns a prefix (btree) or identical, INCLUDE
    columns covered. A unique index is redundant only next to a unique index on the same keys; of two
    identical indexes the one backing a constraint (else the unique, else the older) is kept."""
    ix = _snap(store, "pg_indexes", sid).astype("object")
    ix = ix.where(ix.notna(), None)
    out = []
    for _, grp in ix.groupby("relid"):
        recs = [r for r in grp.to_dict("records") if r["is_valid"] and r["key_columns"] is not None]
        for a in recs:
            others = [b for b in recs if b["indexrelid"] != a["indexrelid"] and _covers(a, b)]
            # A mutual cover (identical indexes) leaves A redundant only if B is the one to keep.
            others = [b for b in others if not _covers(b, a) or _keeps(b, a)]
            if not others:
                continue
            b = min(others, key=lambda r: (_index_keys(r) != _index_keys(a), not _keeps(r, a), r["indexrelid"]))
            out.append({"table": f"{a['schemaname']}.{a['relname']}", "index": a["indexrelname"],
                        "covered_by": b["indexrelname"], "columns": ", ".join(a["key_columns"]),
                        "size_bytes": a["size_bytes"], "idx_scan": a["idx_scan"]})
    return pd.DataFrame(out, columns=["table", "index", "covered_by", "columns", "size_bytes", "idx_scan"])


def bloat(store: Store, sid: int) -> pd.DataFrame:
    """Estimated table and btree-index bloat (an estimate from pg_stats). Where pg_stats lacks a column
    (never analysed, no privilege) the estimate is meaningless: bloat is NULL and `estimate` says "unknown"."""
    df = store.query_df(
        "SELECT kind, schemaname || '.' || relname AS table, indexrelname AS index, real_bytes,"
        " CASE WHEN is_na THEN NULL ELSE bloat_bytes END AS bloat_bytes,"
        " CASE WHEN is_na THEN NULL ELSE bloat_ratio END AS bloat_ratio, is_na"
        " FROM pg_bloat WHERE snapshot_id = ? ORDER BY bloat_bytes DESC NULLS LAST", [sid])
    df["estimate"] = np.where(df["is_na"].fillna(True).astype(bool), "unknown", "estimated")
    return df


def hit_ratios(store: Store, to_snap: int, from_snap: int | None = None,
               min_blocks: int = HIT_RATIO_MIN_BLOCKS) -> dict[str, pd.DataFrame]:
    """Buffer cache hit ratios for databases, tables and indexes; NaN (no division by zero) without reads.
    `below_99pct` only where at least MIN_BLOCKS blocks were accessed (`enough_reads`): a ratio over a
    handful of reads is noise.

    Over the interval when FROM is given (counter deltas), else since the statistics were reset.
    """
    specs = {"databases": ("pg_databases", "datid", "datname", "blks_hit", "blks_read"),
             "tables": ("pg_tables", "relid", "relname", "heap_blks_hit", "heap_blks_read"),
             "indexes": ("pg_indexes", "indexrelid", "indexrelname", "idx_blks_hit", "idx_blks_read")}
    out = {}
    for name, (table, key, label, hit, read) in specs.items():
        t = _snap(store, table, to_snap)[[key, label, hit, read]]
        if from_snap is not None:
            f = _snap(store, table, from_snap)[[key, hit, read]]
            t = t.merge(f, on=key, how="left", suffixes=("", "_from"))
            for c in (hit, read):
                t[c] = _counter_delta(t[c], t[c + "_from"])
            t = t.drop(columns=[hit + "_from", read + "_from"])
        t = t.rename(columns={label: "name", hit: "blks_hit", read: "blks_read"})
        volume = t["blks_hit"].fillna(0) + t["blks_read"].fillna(0)
        t["hit_ratio"] = ratio(t["blks_hit"], volume)
        t["enough_reads"] = volume >= min_blocks
        t["below_99pct"] = (t["hit_ratio"] < 0.99) & t["enough_reads"]
        out[name] = t.drop(columns=[key]).sort_values("blks_read", ascending=False).reset_index(drop=True)
    return out


def vacuum_staleness(store: Store, sid: int, stale_after_s: float = 86400.0) -> pd.DataFrame:
    """Per table: time since the last (auto)vacuum/analyze at snapshot time, dead tuples, changes since
    analyze; `stale` when never vacuumed/analyzed or older than STALE_AFTER_S with dead tuples."""
    df = store.query_df(
        "SELECT t.schemaname || '.' || t.relname AS table, t.n_live_tup, t.n_dead_tup, t.n_mod_since_analyze,"
        " epoch(s.taken_at) - epoch(greatest(t.last_vacuum, t.last_autovacuum)) AS since_vacuum_s,"
        " epoch(s.taken_at) - epoch(greatest(t.last_analyze, t.last_autoanalyze)) AS since_analyze_s"
        " FROM pg_tables t JOIN pg_snapshots s USING (snapshot_id) WHERE snapshot_id = ?", [sid])
    df["dead_tuple_ratio"] = ratio(df["n_dead_tup"], df["n_live_tup"].fillna(0) + df["n_dead_tup"].fillna(0))
    df["mod_since_analyze_ratio"] = ratio(df["n_mod_since_analyze"], df["n_live_tup"])
    never = df["since_vacuum_s"].isna() | df["since_analyze_s"].isna()
    old = (df["since_vacuum_s"] > stale_after_s) & (df["n_dead_tup"] > 0)
    df["stale"] = never | old | (df["dead_tuple_ratio"] > 0.2)
    return df.sort_values(["stale", "n_dead_tup"], ascending=False).reset_index(drop=True)


def connections(store: Store, sid: int) -> dict[str, Any]:
    """Connections vs max_connections and client backends by state. The count is the larger of
    pg_stat_database.numbackends (every backend, whatever the collector's privileges) and the client
    backends pg_stat_activity showed (+ the collector's own session)."""
    snap = store.con.execute("SELECT max_connections FROM pg_snapshots WHERE snapshot_id = ?", [sid]).fetchone()
    act = _snap(store, "pg_activity", sid)
    client = act[act["backend_type"] == "client backend"]
    numbackends = store.con.execute("SELECT sum(numbackends) FROM pg_databases WHERE snapshot_id = ?",
                                    [sid]).fetchone()[0]
    used = max(int(numbackends or 0), int(len(client)) + 1)
    mx = snap[0] if snap else None
    by_state = client["state"].fillna("unknown").value_counts().to_dict()
    return {"connections": used, "max_connections": mx, "usage_ratio": ratio(used, mx), "by_state": by_state}


def connection_sources(store: Store, sid: int) -> pd.DataFrame:
    """Client connections grouped by application, client address and role (pgHero's connection sources),
    most first; fields the collector may not see (another role's, without pg_read_all_stats) are NULL."""
    return store.query_df(
        "SELECT application_name, client_addr, usename, count(*) AS connections,"
        " count(*) FILTER (WHERE state = 'active') AS active,"
        " count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction"
        " FROM pg_activity WHERE snapshot_id = ? AND coalesce(backend_type, 'client backend') = 'client backend'"
        " GROUP BY ALL ORDER BY connections DESC, application_name NULLS LAST", [sid])


def _waits(blocked_by: Any) -> bool:
    """Whether a pg_activity.blocked_by value lists a blocker (NULL: not waiting on a lock)."""
    return isinstance(blocked_by, list | tuple | np.ndarray) and len(blocked_by) > 0


def _blocking(act: pd.DataFrame) -> tuple[dict[int, int], dict[int, int]]:
    """(root blocker of each blocked pid, number of sessions each pid blocks directly or through others),
    following blocked_by to a session that waits on no lock (the root)."""
    waits = {int(r.pid): [int(p) for p in r.blocked_by] for r in act.itertuples() if _waits(r.blocked_by)}
    root: dict[int, int] = {}
    behind: dict[int, int] = {}
    for pid in waits:
        seen, frontier = set(), list(waits[pid])
        while frontier:
            p = frontier.pop()
            if p in seen or p == pid:
                continue
            seen.add(p)
            if p in waits:
                frontier.extend(waits[p])
            else:
                root.setdefault(pid, p)
        for p in seen:
            behind[p] = behind.get(p, 0) + 1
    return root, behind


def sessions(store: Store, sid: int, min_age_s: float = 60.0) -> pd.DataFrame:
    """Long-running transactions/queries (older than MIN_AGE_S), blocked sessions and every session that
    blocks another (whatever its age or state: an idle-in-transaction session holding a lock is the root
    of the chain), roots first, then oldest first. `root_of` names the root blocker of a blocked session;
    `blocking` counts the sessions waiting behind a session."""
    act = _snap(store, "pg_activity", sid)
    if act.empty:
        return act
    root, behind = _blocking(act)
    blocked = act["blocked_by"].apply(_waits).astype(bool)
    act["blocking"] = act["pid"].map(behind).fillna(0).astype(int)
    act["root_of"] = act["pid"].map(root).astype("Int64")
    act["is_root_blocker"] = (act["blocking"] > 0) & ~blocked
    long_ = (act["xact_age_s"].fillna(0) > min_age_s) | (
        (act["state"] == "active") & (act["query_age_s"].fillna(0) > min_age_s))
    df = act[blocked | long_ | (act["blocking"] > 0)].copy()
    df["blocked"] = blocked[df.index]
    cols = ["pid", "datname", "usename", "application_name", "state", "wait_event_type", "wait_event",
            "xact_age_s", "query_age_s", "blocked", "blocked_by", "is_root_blocker", "blocking", "root_of", "query"]
    return df[cols].sort_values(["is_root_blocker", "xact_age_s"], ascending=False,
                                na_position="last").reset_index(drop=True)


# -- the database notebook's bundle -------------------------------------------------------------------
HIT_RATIO_TARGET = 0.99  # the rule of thumb: a cache hit ratio under 99% deserves a look
NOTHING_FOUND = "No database finding crossed a threshold."


@dataclass
class DatabaseReport:
    """Everything notebook 20 shows, for one snapshot pair (or one snapshot when there is only one)."""

    to_snap: int | None
    from_snap: int | None = None
    note: str | None = None           # why something is missing
    top: TopResult | None = None
    tables: pd.DataFrame | None = None
    unused: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None
    duplicates: pd.DataFrame | None = None
    bloat: pd.DataFrame | None = None
    hits: dict[str, pd.DataFrame] = field(default_factory=dict)
    vacuum: pd.DataFrame | None = None
    connections: dict[str, Any] = field(default_factory=dict)
    sessions: pd.DataFrame | None = None
    settings: pd.DataFrame | None = None
    server: dict[str, Any] = field(default_factory=dict)
    health: Any = None                 # pg_health.HealthResult: pgHero's checks, one finding per row

    def headline(self) -> tuple[str, bool | None]:
        """The one-line verdict and its state: True when nothing crossed a threshold, else None
        (findings to look at, not a failed gate); (note, None) without data."""
        if self.to_snap is None:
            return (self.note or "No PostgreSQL snapshots in this store.", None)
        lines = self.verdict()
        if lines == [NOTHING_FOUND]:
            return (NOTHING_FOUND, True)
        findings = len(lines) - (1 if self.top is not None and not self.top.statements.empty else 0)
        if self.top is not None and not self.top.statements.empty:
            st = self.top.statements.iloc[0]
            lead = f"top statement takes {st.time_share:.0%} of execution time: {(st.query or '?')[:60]}"
        else:
            lead = lines[0]
        return (f"{findings} database finding(s); {lead}", None)

    def summary_markdown(self) -> str:
        """Markdown under the verdict: server, PostgreSQL and pg_stat_statements versions, snapshots, one bullet
        per finding (and the note); without data, why there is none."""
        if self.to_snap is None:
            return f"**No PostgreSQL data:** {self.note}"
        s = self.server
        pair = f"snapshots {self.from_snap} → {self.to_snap}" if self.from_snap else f"snapshot {self.to_snap}"
        return (f"{s['host']}:{s['port']}/{s['dbname']}, PostgreSQL {s['server_version']}, "
                f"pg_stat_statements {s['pgss_version']}, {pair}:\n\n"
                + "\n".join(f"- {line}" for line in self.verdict())
                + (f"\n\n_{self.note}_" if self.note else ""))

    def verdict(self) -> list[str]:
        """One line per finding, most important first (empty list: nothing to report)."""
        if self.to_snap is None:
            return []
        out = []
        if self.top is not None and not self.top.statements.empty:
            st = self.top.statements.iloc[0]
            out.append(f"Top statement takes {st.time_share:.0%} of execution time over "
                       f"{self.top.pair.interval_s:.0f} s ({int(st.calls)} calls, mean {st.mean_exec_time_ms:.2f} ms): "
                       f"`{(st.query or '?')[:100]}`")
            if self.top.reset:
                out.append("Statistics were reset between the snapshots; deltas count from the reset.")
            out.extend(self.top.notes)
        db = self.hits.get("databases")
        if db is not None and not db.empty:
            low = db[db.below_99pct]
            if not low.empty:
                out.append("Cache hit ratio under 99%: " + ", ".join(
                    f"{r.name} {r.hit_ratio:.2%}" for r in low.itertuples()))
        if self.tables is not None:
            seq = self.tables[self.tables.seq_tup_read > 100_000].sort_values("seq_tup_read", ascending=False)
            if not seq.empty:
                out.append("Rows read by sequential scans (missing index?): " + ", ".join(
                    f"{r.table} {r.seq_tup_read / 1e6:.1f}M rows in {int(r.seq_scan)} scans"
                    for r in seq.head(3).itertuples()))
        unused = self.unused[self.unused.enough_history] if self.unused is not None else None
        if unused is not None and not unused.empty:
            where = " (on a replica: check the primary's and other replicas' usage)" if unused.on_replica.any() else ""
            out.append(f"{len(unused)} unused index(es), {unused.size_bytes.sum() / 1e6:.1f} MB{where}: "
                       + ", ".join(unused["index"].head(5)))
        young = self.unused[~self.unused.enough_history] if self.unused is not None else None
        if young is not None and not young.empty:
            age = young.stats_age_s.iloc[0]
            span = f"{age / 60:.0f} min" if age == age and age is not None else "an unknown time"
            out.append(f"{len(young)} index(es) not scanned yet, but the statistics cover only {span}: too early "
                       "to call them unused: " + ", ".join(young["index"].head(5)))
        if self.duplicates is not None and not self.duplicates.empty:
            out.append("Duplicate index(es): " + ", ".join(
                f"{r.index} (covered by {r.covered_by})" for r in self.duplicates.head(5).itertuples()))
        if self.sessions is not None and not self.sessions.empty:
            blocked = int(self.sessions.blocked.sum())
            roots = self.sessions[self.sessions.is_root_blocker]
            root = "".join(f"; root blocker pid {int(r.pid)} ({r.state or '?'}, transaction open "
                           f"{(r.xact_age_s or 0):.0f} s) blocks {int(r.blocking)}" for r in roots.head(3).itertuples())
            out.append(f"{len(self.sessions)} long-running, blocking or blocked session(s), {blocked} blocked{root}.")
        if self.vacuum is not None and self.vacuum.stale.any():
            out.append(f"{int(self.vacuum.stale.sum())} table(s) need vacuum/analyze attention.")
        c = self.connections
        if c.get("usage_ratio") is not None and c["usage_ratio"] == c["usage_ratio"] and c["usage_ratio"] > 0.8:
            out.append(f"Connections at {c['usage_ratio']:.0%} of max_connections.")
        return out or [NOTHING_FOUND]


def database_report(store: Store, from_snap: int | None = None, to_snap: int | None = None,
                    label: str | None = None, min_session_age_s: float = 60.0) -> DatabaseReport:
    """Collect the notebook's tables for FROM..TO (defaults: the last two snapshots of one server)."""
    if not store.con.execute("SELECT count(*) FROM pg_snapshots").fetchone()[0]:
        return DatabaseReport(None, note="No PostgreSQL snapshots in this store.")
    rep = DatabaseReport(None)
    try:
        rep.top = pg_top(store, from_snap, to_snap, "total_time", label)
        rep.from_snap, rep.to_snap = rep.top.pair.from_id, rep.top.pair.to_id
    except WorkbenchError as e:
        rep.note = str(e)
        rep.to_snap = to_snap if to_snap is not None else latest_snapshot(store, label)
        if rep.to_snap is None:
            return rep
    sid, fid = rep.to_snap, rep.from_snap
    slow = slow_snapshot(store, sid)   # sizes, definitions, bloat: the last full snapshot
    rep.tables = table_stats(store, sid, fid)
    rep.unused = unused_indexes(store, sid)
    rep.candidates = index_candidates(store, sid, fid)
    rep.duplicates = duplicate_indexes(store, slow)
    rep.bloat = bloat(store, slow)
    rep.hits = hit_ratios(store, sid, fid)
    rep.vacuum = vacuum_staleness(store, sid)
    rep.connections = connections(store, sid)
    rep.sessions = sessions(store, sid, min_session_age_s)
    rep.settings = store.query_df("SELECT name, setting, unit FROM pg_settings WHERE snapshot_id = ? ORDER BY name",
                                  [sid])
    from workbench.analysis.pg_health import pg_health  # it builds on this module's checks

    rep.health = pg_health(store, sid)
    srv = store.query_df("SELECT snapshot_id, taken_at, label, host, port, dbname, server_version, pgss_version"
                         " FROM pg_snapshots WHERE snapshot_id = ?", [sid])
    rep.server = srv.iloc[0].to_dict() if not srv.empty else {}
    return rep
