"""PostgreSQL snapshots: pg_stat_statements (normalised across extension versions) and health views.

`take_snapshot(dsn)` connects the way psql would (DSN, else libpq's PG* variables, service files,
~/.pgpass) in a read-only session with statement and lock timeouts, reads the statistics views in one
transaction and returns a `PgSnapshot`; `write_snapshot(store, snap)` stores it as one ingest. Nothing
here changes server state: no writes, no `pg_stat_statements_reset()`. Passwords never leave this
module: the DSN is stored redacted and passwords in utility statements' texts are masked.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
import operator
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import errors as pgerrors
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from workbench.errors import WorkbenchError
from workbench.redact import at_in_password, redact_text, redact_url
from workbench.sources import pg_sql
from workbench.sources.pg_columns import NORMALISED_COLUMNS, aggregate_hidden, normalise_rows, unknown_columns
from workbench.store import Store, open_if_exists

STATEMENT_TIMEOUT_MS = 10_000
NUMERIC_OID = 1700   # pg_type oid of numeric (pg_stat_statements' wal_bytes)
LOCK_TIMEOUT_MS = 2_000
# PASSWORD 'literal' / E'...' / $$...$$ in CREATE/ALTER ROLE/USER (SQL allows only a string or NULL there)
_PASSWORD_LITERAL = re.compile(r"(?i)(\bpassword\s+)(E?'(?:[^']|'')*'|\$(\w*)\$.*?\$\3\$)", re.S)

TABLE_COLUMNS: dict[str, list[str]] = {
    "pg_databases": ["datid", "datname", "numbackends", "xact_commit", "xact_rollback", "blks_read", "blks_hit",
                     "tup_returned", "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "conflicts",
                     "temp_files", "temp_bytes", "deadlocks", "blk_read_time_ms", "blk_write_time_ms",
                     "stats_reset", "size_bytes", "xid_age", "mxid_age"],
    "pg_tables": ["relid", "schemaname", "relname", "seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch",
                  "n_tup_ins", "n_tup_upd", "n_tup_del", "n_tup_hot_upd", "n_live_tup", "n_dead_tup",
                  "n_mod_since_analyze", "n_ins_since_vacuum", "last_vacuum", "last_autovacuum",
                  "last_analyze", "last_autoanalyze", "vacuum_count", "autovacuum_count", "analyze_count",
                  "autoanalyze_count", "heap_blks_read", "heap_blks_hit", "idx_blks_read", "idx_blks_hit",
                  "toast_blks_read", "toast_blks_hit", "table_bytes", "indexes_bytes", "total_bytes",
                  "reltuples"],
    "pg_indexes": ["relid", "indexrelid", "schemaname", "relname", "indexrelname", "idx_scan", "idx_tup_read",
                   "idx_tup_fetch", "idx_blks_read", "idx_blks_hit", "size_bytes", "is_unique", "is_primary",
                   "is_valid", "constraint_type", "amname", "key_columns", "n_key_columns", "predicate",
                   "indexdef", "opclasses", "collations", "key_options", "include_columns"],
    "pg_bloat": ["kind", "schemaname", "relname", "indexrelname", "real_bytes", "extra_bytes", "extra_ratio",
                 "fillfactor", "bloat_bytes", "bloat_ratio", "is_na"],
    "pg_activity": ["pid", "datname", "usename", "application_name", "client_addr", "backend_type", "state",
                    "wait_event_type", "wait_event", "xact_age_s", "query_age_s", "state_age_s",
                    "backend_xmin_age", "blocked_by", "query"],
    "pg_settings": ["name", "setting", "unit", "source"],
    "pg_column_stats": ["schemaname", "relname", "attname", "null_frac", "avg_width", "n_distinct", "correlation"],
    "pg_sequences": ["schemaname", "sequencename", "data_type", "last_value", "min_value", "max_value",
                     "increment_by", "cycle", "owner_table", "owner_column", "owner_type"],
    "pg_statements": NORMALISED_COLUMNS + ["text_visible"],
}
SNAPSHOT_COLUMNS = ["taken_at", "system_identifier", "host", "port", "dbname", "username", "server_version",
                    "server_version_num", "pgss_version", "pgss_columns", "pgss_dealloc", "pgss_stats_reset",
                    "db_stats_reset", "postmaster_start", "in_recovery", "max_connections", "track_io_timing",
                    "notes", "kind", "timeline_id", "server_key"]
TIMESTAMP_KEYS = {"taken_at", "pgss_stats_reset", "db_stats_reset", "postmaster_start", "stats_reset",
                  "last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze", "stats_since",
                  "minmax_stats_since"}


def mask_query(text: str | None) -> str | None:
    """A statement text with password literals (`PASSWORD '...'`, `password=...`) masked."""
    if text is None:
        return None
    return redact_text(_PASSWORD_LITERAL.sub(lambda m: m.group(1) + "'***'", text))


@dataclass
class PgSnapshot:
    """One snapshot as read from the server (plain rows), before it is written to the store."""

    meta: dict[str, Any]
    statements: list[dict[str, Any]] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """A JSON document (the sample format under data/samples/postgres/)."""
        doc = asdict(self)
        doc["texts"] = {str(k): v for k, v in self.texts.items()}
        return json.dumps(doc, default=_json_default, indent=None, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PgSnapshot:
        doc = json.loads(text)
        fix = _parse_timestamps
        return cls(meta=fix(doc["meta"]), statements=[fix(r) for r in doc["statements"]],
                   texts={int(k): v for k, v in doc["texts"].items()},
                   tables={t: [fix(r) for r in rows] for t, rows in doc["tables"].items()},
                   warnings=doc.get("warnings", []))


def _json_default(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    raise TypeError(type(v).__name__)


def _parse_timestamps(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (dt.datetime.fromisoformat(v) if k in TIMESTAMP_KEYS and isinstance(v, str) else v)
            for k, v in row.items()}


# -- connecting ---------------------------------------------------------------------------------------
def endpoint(dsn: str | None) -> str:
    """`user@host:port/dbname` for messages, from the DSN and libpq's environment (never the password)."""
    if dsn and at_in_password(dsn):
        return redact_text(dsn)
    try:
        d = conninfo_to_dict(dsn or "")
    except psycopg.Error:
        return "the given --dsn (unparseable)"
    if d.get("service") and not d.get("host"):
        return f"service {d['service']}"
    host = d.get("host") or os.environ.get("PGHOST") or "local socket"
    port = d.get("port") or os.environ.get("PGPORT") or "5432"
    user = d.get("user") or os.environ.get("PGUSER") or ""
    db = d.get("dbname") or os.environ.get("PGDATABASE") or user
    return f"{user + '@' if user else ''}{host}:{port}/{db}"


def connect(dsn: str | None = None, *, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
            lock_timeout_ms: int = LOCK_TIMEOUT_MS, connect_timeout_s: int = 10) -> psycopg.Connection:
    """A read-only session with timeouts; libpq env vars, service files and ~/.pgpass apply as for psql."""
    kwargs: dict[str, Any] = {
        "application_name": "workbench",
        "options": (f"-c default_transaction_read_only=on -c statement_timeout={int(statement_timeout_ms)}"
                    f" -c lock_timeout={int(lock_timeout_ms)} -c idle_in_transaction_session_timeout=60000"),
    }
    if dsn and at_in_password(dsn):
        raise WorkbenchError(f"invalid PostgreSQL DSN {redact_text(dsn)}: its password holds '@': write each '@' in "
                             "the password as %40, or use PGPASSWORD / ~/.pgpass")
    try:
        given = conninfo_to_dict(dsn or "")
    except psycopg.Error as e:
        raise WorkbenchError(f"invalid PostgreSQL DSN: {redact_text(str(e))}; use a libpq URL or key=value string") from e
    theirs = given.get("options") or os.environ.get("PGOPTIONS")
    if theirs:  # keep the user's options; ours come last so they win
        kwargs["options"] = f"{theirs} {kwargs['options']}"
    if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
        kwargs["connect_timeout"] = connect_timeout_s
    try:
        return psycopg.connect(dsn or "", **kwargs)
    except psycopg.OperationalError as e:
        raise WorkbenchError(f"cannot connect to PostgreSQL at {endpoint(dsn)}: {_pg_reason(e, dsn)}") from e


def _pg_reason(e: Exception, dsn: str | None) -> str:
    msg = " ".join(ln.strip() for ln in str(e).splitlines() if ln.strip()) or type(e).__name__
    msg = re.sub(r"^connection failed:\s*", "", msg)
    msg = re.sub(r"^connection to server (at|on) .*? failed:\s*", "", msg)
    msg = re.sub(r"^(FATAL|ERROR):\s*", "", msg)
    secrets: list[str] = []
    try:
        pw = conninfo_to_dict(dsn or "").get("password")
        if pw:
            secrets.append(pw)
    except psycopg.Error:
        pass
    if os.environ.get("PGPASSWORD"):
        secrets.append(os.environ["PGPASSWORD"])
    hint = ""
    low = msg.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        hint = " (check the user and password: --dsn, PGPASSWORD or ~/.pgpass)"
    elif "refused" in low:
        hint = " (is PostgreSQL running and listening on that host and port?)"
    elif "invalid port number" in low:
        hint = " (a port is 1-65535: fix it in --dsn or PGPORT)"
    elif "timeout" in low or "timed out" in low:
        hint = " (host unreachable or firewalled; check host, port and network)"
    return redact_text(msg, secrets) + hint


# -- reading ------------------------------------------------------------------------------------------
def _rows(cur: psycopg.Cursor, query: str | pgsql.Composable, params: Any = None) -> list[dict[str, Any]]:
    cur.execute(query, params)
    return [dict(r) for r in cur.fetchall()]


def _optional(con: psycopg.Connection, cur: psycopg.Cursor, query: Any, what: str,
              warnings: list[str]) -> list[dict[str, Any]]:
    """Run QUERY in a savepoint; on a permission or timeout error warn and return []."""
    try:
        with con.transaction():
            return _rows(cur, query)
    except (pgerrors.InsufficientPrivilege, pgerrors.QueryCanceled, pgerrors.LockNotAvailable) as e:
        warnings.append(f"{what} not collected: {str(e).splitlines()[0]}")
        return []


def _preloaded(con: psycopg.Connection, cur: psycopg.Cursor) -> bool:
    """Whether shared_preload_libraries lists pg_stat_statements (False when the setting is not readable)."""
    try:
        with con.transaction():
            return bool(_rows(cur, pg_sql.PRELOADED)[0]["?column?"])
    except psycopg.Error:
        return False


@dataclass
class _Locks:
    """Relations held (or awaited) in ACCESS EXCLUSIVE by other sessions: their sizes are skipped."""

    con: psycopg.Connection
    cur: psycopg.Cursor
    sizes: bool = True
    skip: list[int] = field(default_factory=list)
    named: dict[int, str] = field(default_factory=dict)

    def refresh(self) -> None:
        rows = _rows(self.cur, pg_sql.LOCKED)
        self.skip = sorted({r["relid"] for r in rows} | {r["owner"] for r in rows} | set(self.skip))
        for r in rows:
            self.named.setdefault(r["relid"], f"{r['schemaname']}.{r['relname']}")

    def read(self, query: str, what: str, warnings: list[str], optional: bool = False) -> list[dict[str, Any]]:
        """QUERY with %(skip)s bound to the locked relations; when a lock appears meanwhile (lock_timeout),
        look again and retry once. OPTIONAL: a permission error or second timeout warns and gives []."""
        for attempt in (1, 2):
            try:
                with self.con.transaction():
                    return _rows(self.cur, query, {"skip": self.skip, "sizes": self.sizes})
            except pgerrors.LockNotAvailable as e:
                if attempt == 1:
                    with self.con.transaction():
                        self.refresh()
                    continue
                if not optional:
                    raise
                warnings.append(f"{what} not collected: {str(e).splitlines()[0]}")
            except (pgerrors.InsufficientPrivilege, pgerrors.QueryCanceled) as e:
                if not optional:
                    raise
                warnings.append(f"{what} not collected: {str(e).splitlines()[0]}")
                return []
        return []

    def notes(self) -> list[str]:
        return [f"{name}: held in ACCESS EXCLUSIVE mode by another session; its sizes were skipped"
                for _, name in sorted(self.named.items(), key=lambda kv: kv[1])]


def read_snapshot(con: psycopg.Connection, known_queryids: Callable[[str], set[int]] | None = None,
                  full: bool | Callable[[dict[str, Any]], bool] = True) -> PgSnapshot:
    """Read every statistics view of one snapshot from an open connection (one read-only transaction).

    FULL (or FULL(meta), asked once the server is known) false takes a **fast** snapshot: statements,
    activity, settings and the counters of databases, tables and indexes, without the slow-changing sets
    (sizes, index definitions, bloat, column statistics, sequences), which analysis takes from the last
    full snapshot of the server.

    KNOWN_QUERYIDS(server) gives the queryids whose texts the store already has for that server (the key
    `texts_key` builds); only the others' texts are fetched. Relations another session holds in ACCESS
    EXCLUSIVE mode are skipped (their sizes are NULL) and named in `meta["notes"]`.
    """
    where = f"{con.info.host}:{con.info.port}/{con.info.dbname}"
    warnings: list[str] = []
    with con.transaction(), con.cursor(row_factory=dict_row) as cur:
        meta = _rows(cur, pg_sql.SERVER)[0]
        meta.update(host=con.info.host, port=int(con.info.port), kind="full")
        sysid = _optional(con, cur, pg_sql.SYSTEM_IDENTIFIER, "pg_control_system()", warnings)
        meta["system_identifier"] = sysid[0]["system_identifier"] if sysid else None
        if not sysid:
            warnings[-1] += f"; server identity falls back to {where} (GRANT pg_monitor TO {meta['username']})"
        known = known_queryids(texts_key(meta)) if known_queryids else set()
        slow = full(meta) if callable(full) else bool(full)
        ext = _rows(cur, pg_sql.EXTENSION)
        if not ext and _preloaded(con, cur):
            raise WorkbenchError(
                f"pg_stat_statements is preloaded but not created in database {con.info.dbname} on "
                f"{con.info.host}:{con.info.port}: run CREATE EXTENSION pg_stat_statements; in that database"
            )
        if not ext:
            raise WorkbenchError(
                f"pg_stat_statements is not installed in database {con.info.dbname} on "
                f"{con.info.host}:{con.info.port}: set shared_preload_libraries = 'pg_stat_statements' in "
                "postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in this database"
            )
        meta["pgss_version"], schema = ext[0]["extversion"], ext[0]["nspname"]
        ident = pgsql.Identifier(schema)
        try:
            # tuples (10,000 rows x 50 columns, mapped once), in binary: no number is parsed from text
            with con.transaction(), con.cursor(binary=True) as tcur:
                tcur.execute(pgsql.SQL(pg_sql.PGSS).format(schema=ident))
                columns = [d.name for d in tcur.description]
                numeric = {d.name for d in tcur.description if d.type_code == NUMERIC_OID}
                raw = tcur.fetchall()
        except pgerrors.ObjectNotInPrerequisiteState as e:
            raise WorkbenchError(
                f"pg_stat_statements is installed but not preloaded on {con.info.host}:{con.info.port}: set "
                "shared_preload_libraries = 'pg_stat_statements' in postgresql.conf and restart PostgreSQL"
            ) from e
        meta["pgss_columns"] = columns
        extra = unknown_columns(columns)
        if extra:
            warnings.append(f"pg_stat_statements {meta['pgss_version']} has columns not kept: {', '.join(extra)}")
        statements = normalise_rows(columns, raw, numeric)
        for row in statements:
            row["text_visible"] = row["queryid"] is not None  # NULL queryid: another role's, hidden from us
        hidden = sum(not r["text_visible"] for r in statements)
        statements = aggregate_hidden(statements)
        if hidden and not _rows(cur, pg_sql.CAN_READ_ALL_STATS)[0]["pg_has_role"]:
            warnings.append(f"{hidden} statements of other roles are hidden (summed per database and role): "
                            f"GRANT pg_read_all_stats TO {meta['username']}")
        wanted = sorted({r["queryid"] for r in statements if r["queryid"] is not None} - known)
        texts: dict[int, str] = {}
        if wanted:
            for t in _rows(cur, pgsql.SQL(pg_sql.PGSS_TEXTS).format(schema=ident), [wanted]):
                if t["query"] is not None:
                    texts[t["queryid"]] = mask_query(t["query"])
        info = []
        if "toplevel" in columns:  # 1.9+ has pg_stat_statements_info
            info = _optional(con, cur, pgsql.SQL(pg_sql.PGSS_INFO).format(schema=ident),
                             "pg_stat_statements_info", warnings)
        meta["pgss_dealloc"] = info[0]["dealloc"] if info else None
        meta["pgss_stats_reset"] = info[0]["stats_reset"] if info else None
        meta["kind"] = "full" if slow else "fast"
        locks = _Locks(con, cur, sizes=slow)
        if slow:
            with con.transaction():
                locks.refresh()
        version = int(meta.get("server_version_num") or 0)
        tables = {
            "pg_databases": _rows(cur, pg_sql.DATABASES, {"sizes": slow}),
            "pg_tables": locks.read(pg_sql.tables(version), "table statistics", warnings),
            "pg_indexes": locks.read(pg_sql.INDEXES, "index statistics", warnings),
            "pg_activity": _rows(cur, pg_sql.ACTIVITY),
            "pg_settings": _rows(cur, pg_sql.SETTINGS, [list(pg_sql.SETTINGS_NAMES)]),
        }
        if slow:
            tables.update({
                "pg_bloat": ([dict(r, kind="table") for r in _optional(con, cur, pg_sql.TABLE_BLOAT, "table bloat", warnings)]
                             + [dict(r, kind="index") for r in _optional(con, cur, pg_sql.INDEX_BLOAT, "index bloat", warnings)]),
                "pg_column_stats": _optional(con, cur, pg_sql.COLUMN_STATS, "pg_stats columns", warnings),
                "pg_sequences": locks.read(pg_sql.SEQUENCES, "sequences", warnings, optional=True),
            })
        for a in tables["pg_activity"]:
            a["query"] = mask_query(a["query"])
        meta["notes"] = locks.notes()
        warnings.extend(meta["notes"])
    return PgSnapshot(meta=meta, statements=statements, texts=texts, tables=tables, warnings=warnings)


def server_key(meta: dict[str, Any]) -> str:
    """The snapshot's `server_key` (stored with it): which node and database it describes. The same text as
    `workbench.schema.SERVER_KEY_SQL` gives for stores from before the column."""
    return f"{meta.get('system_identifier') or '?'}|{meta['host']}:{meta['port']}/{meta['dbname']}"


def texts_key(meta: dict[str, Any]) -> str:
    """The key query texts are stored under: the system identifier (a primary and its replicas share the
    texts of a queryid), else host:port."""
    return meta.get("system_identifier") or f"{meta['host']}:{meta['port']}"


def take_snapshot(dsn: str | None = None, known_queryids: Callable[[str], set[int]] | None = None,
                  full: bool | Callable[[dict[str, Any]], bool] = True, **timeouts: int) -> PgSnapshot:
    """Connect (read-only, with timeouts), read one snapshot (FULL: see read_snapshot), disconnect."""
    with connect(dsn, **timeouts) as con:
        try:
            return read_snapshot(con, known_queryids, full)
        except (pgerrors.QueryCanceled, pgerrors.LockNotAvailable) as e:
            raise WorkbenchError(f"PostgreSQL at {endpoint(dsn)} timed out a statistics query "
                                 f"({str(e).splitlines()[0]}); nothing was stored: retry when the server is less "
                                 "busy or raise --statement-timeout") from e
        except psycopg.OperationalError as e:
            raise WorkbenchError(f"lost the connection to PostgreSQL at {endpoint(dsn)}: {_pg_reason(e, dsn)}") from e


# -- writing ------------------------------------------------------------------------------------------
_NOT_NONE = functools.partial(operator.is_not, None)


def _columns(rows: list[dict[str, Any]], columns: list[str]) -> list[tuple]:
    """ROWS transposed into one tuple per column of COLUMNS (absent keys give None), in C loops: at 10,000
    statements x 50 columns a per-value Python loop was a third of a fast snapshot's time."""
    try:
        get = operator.itemgetter(*columns)
        return list(zip(*map(get, rows), strict=True)) if len(columns) > 1 else [tuple(map(get, rows))]
    except KeyError:   # rows that lack a column (e.g. samples written by an older version)
        return [tuple(r.get(c) for r in rows) for c in columns]


def _insert(store: Store, table: str, columns: list[str], rows: list[dict[str, Any]], snapshot_id: int) -> int:
    if not rows:
        return 0
    data: dict[str, Any] = {"snapshot_id": [snapshot_id] * len(rows)}
    for c, values in zip(columns, _columns(rows, columns), strict=True):
        first = next(filter(_NOT_NONE, values), None)   # a column holds one type
        if isinstance(first, Decimal | dt.datetime):
            values = [_plain(v) for v in values]
        data[c] = values
    arrow = pa.table(data)
    cols = ", ".join(['"snapshot_id"'] + [f'"{c}"' for c in columns])
    store.con.register("_pg_rows", arrow)
    try:
        store.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _pg_rows")
    finally:
        store.con.unregister("_pg_rows")
    return len(rows)


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dt.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=dt.UTC)
    return v


def write_snapshot(store: Store, snap: PgSnapshot, *, label: str | None = None, source: str = "") -> int:
    """Store SNAP as one ingest (all or nothing); return its snapshot_id."""
    m = {**snap.meta, "server_key": server_key(snap.meta)}
    src = redact_url(source) if source else "libpq environment"
    with store.ingest("postgres", src, label=label) as ing:
        sid = store.con.execute(
            "INSERT INTO pg_snapshots (ingest_id, label, source, " + ", ".join(SNAPSHOT_COLUMNS) + ")"
            " VALUES (?, ?, ?, " + ", ".join("?" * len(SNAPSHOT_COLUMNS)) + ") RETURNING snapshot_id",
            [ing.ingest_id, label, src] + [_plain(m.get(c)) for c in SNAPSHOT_COLUMNS],
        ).fetchone()[0]
        server = texts_key(m)
        n = _insert(store, "pg_statements", TABLE_COLUMNS["pg_statements"], snap.statements, sid)
        for table, rows in snap.tables.items():
            n += _insert(store, table, TABLE_COLUMNS[table], rows, sid)
        new = _insert_texts(store, server, snap.texts, sid)
        ing.rows = n
        ing.details.update(snapshot_id=sid, statements=len(snap.statements), new_texts=new,
                           pgss_version=m.get("pgss_version"), server=f"{m['host']}:{m['port']}/{m['dbname']}")
        for w in snap.warnings:
            ing.warn(w)
    return sid


def _insert_texts(store: Store, server: str, texts: dict[int, str], sid: int) -> int:
    """Insert the texts of queryids the store does not have for SERVER, in one statement; return how many."""
    rows = [(q, t) for q, t in texts.items() if t is not None]
    if not rows:
        return 0
    data = pa.table({"queryid": pa.array([q for q, _ in rows], pa.int64()),
                     "query": pa.array([t for _, t in rows], pa.string())})
    store.con.register("_pg_texts", data)
    try:
        return store.con.execute(
            "INSERT INTO pg_query_texts SELECT ?, n.queryid, n.query, ? FROM _pg_texts n"
            " WHERE n.queryid NOT IN (SELECT queryid FROM pg_query_texts WHERE system_identifier = ?)"
            " RETURNING queryid", [server, sid, server]).fetchall().__len__()
    finally:
        store.con.unregister("_pg_texts")


class StoreHints:
    """What the store already knows about a server, read in one brief read-only open before a snapshot
    is written: the queryids whose texts it has, and when the server's last full snapshot was taken.
    An absent, busy or outdated store knows nothing (every text is fetched, the snapshot is full)."""

    def __init__(self, store_path: str | os.PathLike | None, slow_every_s: float | None = None):
        self.path, self.slow_every_s = store_path, slow_every_s
        self._store: Store | None = None
        self._opened = False

    def _get(self) -> Store | None:
        if not self._opened:
            self._opened = True
            try:
                self._store = open_if_exists(self.path)
            except WorkbenchError:
                self._store = None
        return self._store

    def known_queryids(self, server: str) -> set[int]:
        store = self._get()
        if store is None:
            return set()
        return {r[0] for r in store.con.execute(
            "SELECT queryid FROM pg_query_texts WHERE system_identifier = ?", [server]).fetchall()}

    def full_due(self, meta: dict[str, Any]) -> bool:
        """Whether this snapshot must be full (then the store is closed: nothing more is asked)."""
        try:
            store = self._get() if self.slow_every_s is not None else None
            if store is None:
                return True
            row = store.con.execute(
                "SELECT epoch(?::TIMESTAMPTZ) - epoch(max(taken_at)) FROM pg_snapshots"
                " WHERE coalesce(kind, 'full') = 'full' AND server_key = ?",
                [_plain(meta["taken_at"]), server_key(meta)]).fetchone()
            return row is None or row[0] is None or row[0] >= self.slow_every_s
        finally:
            self.close()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def collect(dsn: str | None, store_path: str | os.PathLike | None = None, *, label: str | None = None,
            slow_every_s: float | None = None, **timeouts: int) -> tuple[int, PgSnapshot]:
    """Take one snapshot and store it (the store is opened for writing only after the server was read;
    before, it is read briefly for the queryids whose texts it already has and, with SLOW_EVERY_S, for
    the time of the server's last full snapshot: younger than SLOW_EVERY_S gives a fast snapshot)."""
    hints = StoreHints(store_path, slow_every_s)
    try:
        snap = take_snapshot(dsn, hints.known_queryids, hints.full_due, **timeouts)
    finally:
        hints.close()
    with Store.open(store_path) as store:
        sid = write_snapshot(store, snap, label=label, source=dsn or "")
    return sid, snap


# -- samples ------------------------------------------------------------------------------------------
def save_sample(snap: PgSnapshot, path: Path) -> None:
    """Write SNAP as gzipped JSON (the data/samples/postgres/ format)."""
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(snap.to_json())


def load_samples(store: Store, sample_dir: Path) -> str:
    """Ingest data/samples/postgres/snapshot_*.json.gz (captured by scripts/capture/lab.py), in order, each
    labelled from meta.json (`labels`: file name -> label) or else from its own meta.

    SAMPLE_DIR may be data/samples/ (as `workbench demo` passes it) or data/samples/postgres/ itself.
    """
    d = Path(sample_dir)
    if (d / "postgres").is_dir():
        d = d / "postgres"
    meta = json.loads((d / "meta.json").read_text()) if (d / "meta.json").exists() else {}
    labels = meta.get("labels", {})
    files = sorted(d.glob("snapshot_*.json.gz"))
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            snap = PgSnapshot.from_json(fh.read())
        write_snapshot(store, snap, label=labels.get(f.name, snap.meta.get("label")), source=f"sample:{f.name}")
    return f"{len(files)} PostgreSQL snapshots"
