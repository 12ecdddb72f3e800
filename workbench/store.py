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
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from workbench import __version__, interrupts
from workbench.errors import Interrupted, StoreMissing, WorkbenchError
from workbench.redact import redact_url

if TYPE_CHECKING:   # pandas is only needed by callers that ask for DataFrames
    import pandas as pd

DEFAULT_DB = Path("data/workbench.duckdb")
DEMO_DB = Path("data/demo.duckdb")
_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<cmd>.*?) \(PID (?P<pid>\d+)\)")
_DUCKDB_MAGIC = b"DUCK"   # bytes 8..12 of every DuckDB database file
_MEMORY_RE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.I)
MEMORY_ENV = "WORKBENCH_WRITER_MEMORY"


def quote_ident(name: str) -> str:
    """NAME as a SQL identifier: the one quoting helper for names that come from outside (file headers,
    tags). Everything else is a bound parameter."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """TEXT as a SQL string literal, for the few places DuckDB takes no parameter (table-function
    arguments, struct keys, SET values)."""
    return "'" + str(text).replace("'", "''") + "'"


def foreign_file_kind(p: Path) -> str | None:
    """None for a DuckDB file or a missing/empty one; else what the file looks like (for the refusal)."""
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return "a directory"
    except OSError as e:
        raise WorkbenchError(f"cannot read store {p}: {e.strerror}") from e
    if not head or head[8:12] == _DUCKDB_MAGIC:
        return None
    if head.startswith(b"SQLite format 3"):
        return "a SQLite database"
    return "another kind of file (not DuckDB)"


def writer_memory(env: str = MEMORY_ENV, default: str = "512MB") -> str:
    """$ENV (default $WORKBENCH_WRITER_MEMORY, 512MB), checked to be a size such as 512MB or 2GB."""
    value = os.environ.get(env, default).strip()
    if not _MEMORY_RE.fullmatch(value):
        raise WorkbenchError(f"{env}={value[:40]!r} is not a size: use e.g. 512MB or 2GB")
    return value


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
        self.scratch: Path | None = None   # a private temp dir DuckDB may read (see open(files=...))
        self.origin: str | None = None     # recorded on every ingest: 'sample', 'lab', None (the user's own)

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, read_only: bool = False,
             wait_s: float = 5.0, files: Sequence[str | os.PathLike] | None = None,
             origin: str | None = None) -> Store:
        """Open the store (creating and migrating it when writable); retry a held lock for WAIT_S.

        Only a workbench store is opened: a SQLite or other file, or a DuckDB database with other
        tables and no workbench schema, is refused untouched. With FILES (files or directories, possibly
        none), DuckDB's own file access (read_csv, read_text, COPY ...) is limited to them and, for a
        writer, to a private scratch directory (`store.scratch`) removed on close. ORIGIN ('sample' for
        the bundled samples, 'lab' for lab runs) is recorded on every ingest made through this store.
        """
        p = db_path(path)
        if read_only and not p.exists() and not p.is_absolute() and (Path("..") / p).exists():
            p = Path("..") / p   # a notebook runs with notebooks/ as its working directory
        if read_only and not p.exists():
            raise StoreMissing(f"no store at {p}: ingest or collect something first, or pass --db PATH")
        _check_parent(p)
        kind = foreign_file_kind(p)
        if kind:
            raise WorkbenchError(f"{p} is {kind}, not a workbench store: left it untouched; pass --db with "
                                 "a new path or a workbench store")
        existed = p.exists() and p.stat().st_size > 0
        if not read_only:
            memory = writer_memory()
            _prepare_parent(p)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                con = duckdb.connect(str(p), read_only=read_only)
                break
            except duckdb.IOException as e:
                m = _LOCK_RE.search(str(e))
                if not m:
                    raise WorkbenchError(f"cannot open store {p}: {_first_line(e)}") from e
                if time.monotonic() >= deadline:
                    raise WorkbenchError(
                        f"store {p} is busy: another process holds it (PID {m.group('pid')}, "
                        f"{m.group('cmd')}); wait for it to finish or use another --db"
                    ) from e
                time.sleep(0.2)
            except duckdb.Error as e:   # a damaged or newer-format file
                raise WorkbenchError(f"cannot open store {p}: {_first_line(e)}") from e
        store = cls(con, p, read_only)
        store.origin = origin
        try:
            if files is not None:
                store._restrict_files(files)
            con.execute("SET TimeZone = 'UTC'")
            try:
                con.execute("SET enable_progress_bar = false")
            except duckdb.Error:   # inside Jupyter DuckDB refuses to touch the setting without ipywidgets
                pass
            if existed:
                store._check_workbench()
            if not read_only:
                # writers hold the file for one ingest: a bounded buffer pool keeps a 1 GB ingest's RSS flat
                con.execute(f"SET memory_limit = {quote_literal(memory)}")
                store.migrate()
                if existed:
                    con.execute("CHECKPOINT")   # reclaims what killed ingests left in the file
            else:
                store._check_schema()
        except duckdb.Error as e:
            store.close()
            raise WorkbenchError(f"cannot use store {p}: {_first_line(e)}") from e
        except BaseException:
            store.close()
            raise
        return store

    def _restrict_files(self, files: Sequence[str | os.PathLike]) -> None:
        """Disable DuckDB's file system access for this database, except FILES and the scratch dir."""
        resolved = [Path(x).resolve() for x in files] + self._attached_datasets()
        if not self.read_only:
            self.scratch = Path(tempfile.mkdtemp(prefix="wb-scratch-"))
            resolved.append(self.scratch)
        paths = [quote_literal(str(x)) for x in resolved if not x.is_dir()]
        dirs = [quote_literal(str(x) + os.sep) for x in resolved if x.is_dir()]
        if paths:
            self.con.execute(f"SET allowed_paths = [{', '.join(paths)}]")
        if dirs:
            self.con.execute(f"SET allowed_directories = [{', '.join(dirs)}]")
        self.con.execute("SET enable_external_access = false")

    def _attached_datasets(self) -> list[Path]:
        """The Parquet directories `workbench attach` pointed this store's views at (readers need them)."""
        try:
            rows = self.con.execute("SELECT dest FROM dataset_attachments").fetchall()
        except duckdb.Error:   # a new store, or one from before attach existed
            return []
        return [Path(r[0]) for r in rows if r[0] and "://" not in r[0]]

    def _check_workbench(self) -> None:
        """Refuse an existing DuckDB database that holds tables but no workbench schema."""
        tables = [r[0] for r in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            " ORDER BY table_name").fetchall()]
        if tables and "schema_migrations" not in tables:
            shown = ", ".join(tables[:3]) + (" ..." if len(tables) > 3 else "")
            raise WorkbenchError(f"{self.path} is a DuckDB database but not a workbench store (it holds {shown}): "
                                 "left it untouched; pass --db with a new path or a workbench store")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    # -- marks ---------------------------------------------------------------------------------
    def mark(self, key: str, value: str) -> None:
        """Record KEY = VALUE in store_meta (e.g. made_by = workbench demo)."""
        self.con.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?, ?)", [key, value, utcnow()])

    def meta(self, key: str) -> str | None:
        """The store_meta value of KEY, or None."""
        try:
            row = self.con.execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchone()
        except duckdb.CatalogException:   # a store from before store_meta
            return None
        return row[0] if row else None

    # -- schema --------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply the migrations this store has not seen yet; return their versions."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR,"
            " applied_at TIMESTAMPTZ)"
        )
        done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        todo = [m for m in migrations() if m[0] not in done]
        if not todo:
            return []
        # one transaction for all of them: a store is never left half-upgraded (and a new one is made in
        # one commit, not one per migration)
        self.con.execute("BEGIN TRANSACTION")
        try:
            for version, name, sql in todo:
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utcnow()])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return [v for v, _, _ in todo]

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
    def find_ingest(self, kind_prefix: str, run: str | None, digests: dict[str, str | None]) -> int | None:
        """The id of a finished ingest of the same bytes for the same run, if any: DIGESTS maps "blake3" and
        "sha256" to the file's hex digests (None: not computed); either one matching is enough."""
        blake3, sha256 = digests.get("blake3"), digests.get("sha256")
        row = self.con.execute(
            "SELECT ingest_id FROM ingests WHERE kind LIKE ? AND run IS NOT DISTINCT FROM ? AND finished_at IS NOT "
            "NULL AND (blake3 = ? OR sha256 = ?) ORDER BY ingest_id LIMIT 1",
            [kind_prefix + "%", run, blake3, sha256],
        ).fetchone()
        return row[0] if row else None

    @contextmanager
    def ingest(self, kind: str, source: str, *, sha256: str | None = None, run: str | None = None,
               label: str | None = None) -> Iterator[Ingest]:
        """One transaction: an `ingests` row plus whatever the body writes; all or nothing."""
        if self.read_only:
            raise WorkbenchError(f"store {self.path} is open read-only")
        self.con.execute("BEGIN TRANSACTION")
        guard = _InterruptGuard(self.con)
        try:
            guard.start()
            ingest_id = self.con.execute(
                "INSERT INTO ingests (kind, source, sha256, run, label, started_at, workbench_version, origin)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ingest_id",
                [kind, redact_url(str(source)), sha256, run, label, utcnow(), __version__, self.origin],
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
            guard.check()
            self.con.execute("COMMIT")
        except BaseException as e:
            guard.disarm()
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:
                pass   # the connection closes without committing: nothing of this ingest stays
            if isinstance(e, GeneratorExit):
                raise
            if guard.fired or isinstance(e, KeyboardInterrupt | duckdb.InterruptException):
                raise Interrupted("interrupted (Ctrl-C): rolled back, nothing of this ingest was stored") from None
            if isinstance(e, duckdb.IOException) and ("ermission" in str(e) or "read-only" in str(e)):
                raise WorkbenchError(f"cannot write store {self.path}: {_first_line(e)} (is the file or its "
                                     "directory read-only?); nothing was stored") from e
            raise
        finally:
            guard.stop()

    def query_df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run SQL and return a pandas DataFrame."""
        return self.con.execute(sql, params or []).df()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _check_parent(p: Path) -> None:
    """One line when a parent of the store's path is a file."""
    for parent in [p.parent, *p.parent.parents]:
        if parent.exists() and not parent.is_dir():
            raise WorkbenchError(f"cannot use store {p}: {parent} is a file, not a directory; "
                                 "pass --db with a path in a directory")


def _prepare_parent(p: Path) -> None:
    """Create the store's directory; say in one line why not (no permission, read-only)."""
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkbenchError(f"cannot create store {p}: {e.strerror} ({p.parent})") from e
    # DuckDB writes a .wal file beside the store: the directory must be writable, not only the file
    for where in (p.parent, p):
        if where.exists() and not os.access(where, os.W_OK):
            what = "directory" if where.is_dir() else "file"
            raise WorkbenchError(f"cannot write store {p}: the {what} {where} is read-only; nothing was "
                                 "stored (make it writable, or pass --db with a writable path)")


class _InterruptGuard:
    """Ctrl-C during a DuckDB statement: Python runs its signal handler only once the statement returns,
    so a thread woken through signal.set_wakeup_fd interrupts DuckDB at once, and the ingest rolls back.
    Active only in the main thread (the only one that receives signals)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.fired = False
        self._active = False
        self._armed = True

    def start(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        try:
            self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        except ValueError:
            os.close(self._r)
            os.close(self._w)
            return
        self._old_handler = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._on_signal)
        self._active = True
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        if interrupts.seen:   # a Ctrl-C before the guard, which DuckDB may have swallowed: stop now
            self.fired = True
            raise KeyboardInterrupt

    def _watch(self) -> None:
        try:
            data = os.read(self._r, 64)
        except OSError:
            return
        if data and signal.SIGINT in data and self._active:
            self.fired = True
            self.con.interrupt()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.fired = True
        self.con.interrupt()
        if self._armed:   # stop Python work too; once rolling back, only record it
            raise KeyboardInterrupt

    def disarm(self) -> None:
        self._armed = False

    def check(self) -> None:
        if self.fired:
            raise KeyboardInterrupt

    def stop(self) -> None:
        if not self._active:
            return
        self._active = False
        signal.signal(signal.SIGINT, self._old_handler)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._w)   # wakes the watcher (EOF)
        self._thread.join(1.0)
        os.close(self._r)


def open_if_exists(path: str | os.PathLike | None = None) -> Store | None:
    """The store read-only (found from notebooks/ too), or None when there is no store file: notebooks
    say "no data" then. A busy or outdated store still raises its own error."""
    try:
        return Store.open(path, read_only=True)
    except StoreMissing:
        return None


@contextmanager
def reading(path: str | os.PathLike | None = None,
            files: Sequence[str | os.PathLike] | None = ()) -> Iterator[Store]:
    """Open the store read-only for the duration of a with-block (the analysis/notebook pattern).
    DuckDB may read no file but the store (FILES=None lifts that, e.g. for an export)."""
    store = Store.open(path, read_only=True, files=files)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def reading_if_exists(path: str | os.PathLike | None = None) -> Iterator[Store | None]:
    """`reading`, or None when there is no store file (notebooks then say "no data")."""
    store = open_if_exists(path)
    try:
        yield store
    finally:
        if store is not None:
            store.close()


@contextmanager
def writing(path: str | os.PathLike | None = None, files: Sequence[str | os.PathLike] | None = (),
            origin: str | None = None) -> Iterator[Store]:
    """Open the store for one write (ingest or snapshot), migrating it first. DuckDB may read only
    FILES (the inputs an ingest hands to DuckDB's readers) and the store's scratch directory; ORIGIN
    marks the ingests ('lab' for lab runs)."""
    store = Store.open(path, files=files, origin=origin)
    try:
        yield store
    finally:
        store.close()
