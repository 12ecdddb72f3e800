"""The DuckDB store: where the file is, migrations, the ingest log and the one-writer rule.

Readers open read-only and briefly; writers hold the file for one ingest or snapshot. A writer that
finds the file locked retries for a few seconds, then names the process that holds it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from workbench import __version__
from workbench.errors import StoreMissing, WorkbenchError
from workbench.redact import redact_url

if TYPE_CHECKING:   # pandas is only needed by callers that ask for DataFrames
    import pandas as pd

DEFAULT_DB = Path("data/workbench.duckdb")
DEMO_DB = Path("data/demo.duckdb")
_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<cmd>.*?) \(PID (?P<pid>\d+)\)")


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """The store path: --db, else $WORKBENCH_DB, else data/workbench.duckdb."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("WORKBENCH_DB")
    return Path(env) if env else DEFAULT_DB


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every workbench/schema/NNN_name.sql, in order."""
    out = []
    for entry in resources.files("workbench.schema").iterdir():
        m = re.fullmatch(r"(\d{3})_(\w+)\.sql", entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text()))
    return sorted(out)


@dataclass
class Ingest:
    """An ingest in progress: its id, and warnings/details to record when it finishes."""

    ingest_id: int
    rows: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class Store:
    """One open DuckDB store. Use as a context manager; `Store.open(...)` handles locks and migrations."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool):
        self.con = con
        self.path = path
        self.read_only = read_only

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, read_only: bool = False,
             wait_s: float = 5.0) -> Store:
        """Open the store (creating and migrating it when writable); retry a held lock for WAIT_S."""
        p = db_path(path)
        if read_only and not p.exists() and not p.is_absolute() and (Path("..") / p).exists():
            p = Path("..") / p   # a notebook runs with notebooks/ as its working directory
        if read_only and not p.exists():
            raise StoreMissing(f"no store at {p}: ingest or collect something first, or pass --db PATH")
        if not read_only:
            p.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                con = duckdb.connect(str(p), read_only=read_only)
                break
            except duckdb.IOException as e:
                m = _LOCK_RE.search(str(e))
                if not m:
                    raise WorkbenchError(f"cannot open store {p}: {str(e).splitlines()[0]}") from e
                if time.monotonic() >= deadline:
                    raise WorkbenchError(
                        f"store {p} is busy: another process holds it (PID {m.group('pid')}, "
                        f"{m.group('cmd')}); wait for it to finish or use another --db"
                    ) from e
                time.sleep(0.2)
        con.execute("SET TimeZone = 'UTC'")
        try:
            con.execute("SET enable_progress_bar = false")
        except duckdb.Error:   # inside Jupyter DuckDB refuses to touch the setting without ipywidgets
            pass
        store = cls(con, p, read_only)
        if not read_only:
            # writers hold the file for one ingest: a bounded buffer pool keeps a 1 GB ingest's RSS flat
            con.execute(f"SET memory_limit = '{os.environ.get('WORKBENCH_WRITER_MEMORY', '512MB')}'")
            store.migrate()
        else:
            store._check_schema()
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # -- schema --------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply the migrations this store has not seen yet; return their versions."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR,"
            " applied_at TIMESTAMPTZ)"
        )
        done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for version, name, sql in migrations():
            if version in done:
                continue
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utcnow()])
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            applied.append(version)
        return applied

    def _check_schema(self) -> None:
        try:
            done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        except duckdb.CatalogException as e:
            raise WorkbenchError(f"{self.path} is not a workbench store (no schema_migrations table)") from e
        missing = [v for v, _, _ in migrations() if v not in done]
        if missing:
            raise WorkbenchError(
                f"store {self.path} predates this workbench (migrations {missing} missing): "
                "run any ingest or `workbench ls runs` once writable to upgrade it"
            )

    # -- ingest log ----------------------------------------------------------------------------
    def find_ingest(self, kind_prefix: str, sha256: str, run: str | None) -> int | None:
        """The id of a finished ingest of the same bytes for the same run, if any."""
        row = self.con.execute(
            "SELECT ingest_id FROM ingests WHERE kind LIKE ? AND sha256 = ? AND run IS NOT DISTINCT FROM ?"
            " AND finished_at IS NOT NULL ORDER BY ingest_id LIMIT 1",
            [kind_prefix + "%", sha256, run],
        ).fetchone()
        return row[0] if row else None

    @contextmanager
    def ingest(self, kind: str, source: str, *, sha256: str | None = None, run: str | None = None,
               label: str | None = None) -> Iterator[Ingest]:
        """One transaction: an `ingests` row plus whatever the body writes; all or nothing."""
        if self.read_only:
            raise WorkbenchError(f"store {self.path} is open read-only")
        self.con.execute("BEGIN TRANSACTION")
        try:
            ingest_id = self.con.execute(
                "INSERT INTO ingests (kind, source, sha256, run, label, started_at, workbench_version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ingest_id",
                [kind, redact_url(str(source)), sha256, run, label, utcnow(), __version__],
            ).fetchone()[0]
            ing = Ingest(ingest_id)
            yield ing
            details = dict(ing.details)
            if ing.warnings:
                details["warnings"] = ing.warnings
            self.con.execute(
                "UPDATE ingests SET rows = ?, finished_at = ?, details = ? WHERE ingest_id = ?",
                [ing.rows, utcnow(), json.dumps(details, default=str), ingest_id],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def query_df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run SQL and return a pandas DataFrame."""
        return self.con.execute(sql, params or []).df()


def open_if_exists(path: str | os.PathLike | None = None) -> Store | None:
    """The store read-only (found from notebooks/ too), or None when there is no store file: notebooks
    say "no data" then. A busy or outdated store still raises its own error."""
    try:
        return Store.open(path, read_only=True)
    except StoreMissing:
        return None


@contextmanager
def reading(path: str | os.PathLike | None = None) -> Iterator[Store]:
    """Open the store read-only for the duration of a with-block (the analysis/notebook pattern)."""
    store = Store.open(path, read_only=True)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def writing(path: str | os.PathLike | None = None) -> Iterator[Store]:
    """Open the store for one write (ingest or snapshot), migrating it first."""
    store = Store.open(path)
    try:
        yield store
    finally:
        store.close()
