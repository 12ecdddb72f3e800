"""`workbench vacuum`: give back the space a store holds but does not use.

DuckDB reuses the free blocks inside its file, and a checkpoint cuts free blocks off the file's end
(every writer checkpoints when it opens a store, which is where a killed ingest's blocks are), but it
never moves used blocks down to close the holes that deleted, replaced or pruned data leave in the
middle. Vacuum copies the store into a new file beside it, checks the copy, and renames it over the
original; until that rename the original is never written to, so a failure or Ctrl-C leaves it as it was.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from workbench.errors import Interrupted, StoreMissing, WorkbenchError
from workbench.store import (
    _LOCK_RE,
    Store,
    _first_line,
    _InterruptGuard,
    db_path,
    quote_ident,
    quote_literal,
    writer_memory,
)

_SPILL_RE = re.compile(r"duckdb_temp_(\d+)_")


@dataclass
class VacuumResult:
    """Sizes in bytes: the file before and after, and the blocks the store used before."""

    path: Path
    size_before: int
    size_after: int
    used_before: int
    rows: dict[str, int] = field(default_factory=dict)
    spill_freed: int = 0
    replaced: bool = True   # False: the copy was no smaller, the store was kept as it was

    def summary(self) -> str:
        """`data/workbench.duckdb: 31.7 MB → 17.6 MB (...)`."""
        extra = f"; {_mb(self.spill_freed)} of spill files left by killed processes removed" if self.spill_freed else ""
        kept = "" if self.replaced else ", already compact: kept as it was"
        return (f"{self.path}: {_mb(self.size_before)} → {_mb(self.size_after)} "
                f"({len(self.rows)} tables, {sum(self.rows.values()):,} rows checked{kept}{extra})")

    def to_dict(self) -> dict:
        return {"db": str(self.path), "size_before": self.size_before, "size_after": self.size_after,
                "used_before": self.used_before, "spill_freed": self.spill_freed, "replaced": self.replaced, "rows": self.rows}


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def vacuum(path: str | os.PathLike | None = None,
           progress: Callable[[str, int, int], None] | None = None) -> VacuumResult:
    """Rewrite the workbench store at PATH compactly. PROGRESS(table, done, total) after each table.

    Foreign files are refused untouched (as by every command). Writers are held off from the copy to
    the rename (DuckDB's shared lock on the original); readers may go on reading the old file.
    """
    p = db_path(path)
    if not p.exists():
        raise StoreMissing(f"no store at {p}: nothing to vacuum (pass --db PATH)")
    if p.is_symlink():   # the copy goes beside, and over, the file the link points to
        p = p.resolve()
    with _one_vacuum_per_directory(p):
        return _vacuum(p, progress)


@contextmanager
def _one_vacuum_per_directory(p: Path) -> Iterator[None]:
    """Two vacuums of one store would each rename a copy over it, the second over a writer's work."""
    fd = os.open(p.parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkbenchError(f"another `workbench vacuum` is running in {p.parent}: wait for it to finish") from None
        yield
    finally:
        os.close(fd)   # releases the lock


def _vacuum(p: Path, progress: Callable[[str, int, int], None] | None) -> VacuumResult:
    size_before = p.stat().st_size
    # A reader's checks: a workbench store, all migrations applied (else one line says how to upgrade)
    Store.open(p, read_only=True).close()
    # A writer's open checkpoints: the WAL goes into the file, and free blocks at its end are cut off
    Store.open(p).close()
    tmp = p.with_name(p.name + ".vacuum-tmp")
    side = [Path(str(tmp) + s) for s in ("", ".wal", ".wal.checkpoint")]
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = {quote_literal(writer_memory())}")
        # One thread writes row groups in order, each once: parallel inserts write partial row groups the
        # final checkpoint merges and frees, leaving ~20% of the new file as holes.
        con.execute("SET threads = 1")
        allowed = [str(x.resolve()) for x in [p, Path(str(p) + ".wal"), *side]]
        con.execute(f"SET allowed_paths = [{', '.join(quote_literal(a) for a in allowed)}]")
        spill = str(p.resolve()) + ".tmp"   # where a writer of this store spills too (not the working dir)
        con.execute(f"SET temp_directory = {quote_literal(spill)}")
        con.execute(f"SET allowed_directories = [{quote_literal(spill + os.sep)}]")
        con.execute("SET enable_external_access = false")
        con.execute(f"ATTACH {quote_literal(str(p.resolve()))} AS src (READ_ONLY)")
        if Path(str(p) + ".wal").exists():   # cannot be: we checkpointed, and writers are held off now
            raise WorkbenchError(f"{p} has a .wal again (another writer?): run `workbench vacuum` again")
        return _rewrite(con, p, tmp, side, size_before, progress)
    except KeyboardInterrupt:   # a Ctrl-C that arrived between DuckDB statements
        raise Interrupted(_STOPPED) from None
    except duckdb.IOException as e:
        m = _LOCK_RE.search(str(e))
        if m:
            raise WorkbenchError(f"store {p} is busy: another process holds it (PID {m.group('pid')}, "
                                 f"{m.group('cmd')}); run `workbench vacuum` when it has finished") from e
        raise WorkbenchError(f"cannot vacuum {p}: {_first_line(e)}; the store was left as it was") from e
    finally:
        con.close()
        for s in side:
            s.unlink(missing_ok=True)


_STOPPED = "interrupted (Ctrl-C): vacuum stopped, the store was left as it was"


def _rewrite(con: duckdb.DuckDBPyConnection, p: Path, tmp: Path, side: list[Path], size_before: int,
             progress: Callable[[str, int, int], None] | None) -> VacuumResult:
    used_before = con.execute("SELECT used_blocks * block_size FROM pragma_database_size()"
                              " WHERE database_name = 'src'").fetchone()[0]
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'src'"
                                        " ORDER BY estimated_size DESC, table_name").fetchall()]
    for s in side:   # what a killed vacuum left (this command's own names)
        s.unlink(missing_ok=True)
    guard = _InterruptGuard(con)
    guard.start()
    try:
        con.execute(f"ATTACH {quote_literal(str(tmp.resolve()))} AS vac")
        con.execute("COPY FROM DATABASE src TO vac (SCHEMA)")   # tables, views, sequences at their values
        rows: dict[str, int] = {}
        for i, table in enumerate(tables):
            t = quote_ident(table)
            con.execute(f"INSERT INTO vac.{t} SELECT * FROM src.{t}")
            rows[table] = _verify_table(con, table)
            if progress:
                progress(table, i + 1, len(tables))
        _verify_schema(con)
        con.execute("DETACH vac")   # checkpoints the copy: everything is in the file, no .wal
        guard.check()
    except BaseException as e:
        guard.disarm()
        try:
            con.execute("DETACH vac")
        except duckdb.Error:
            pass
        if guard.fired or isinstance(e, KeyboardInterrupt | duckdb.InterruptException):
            raise Interrupted(_STOPPED) from None
        raise
    finally:
        guard.stop()
    if Path(str(tmp) + ".wal").exists():
        raise WorkbenchError(f"cannot vacuum {p}: the copy was not checkpointed; the store was left as it was")
    if tmp.stat().st_size >= p.stat().st_size:   # nothing to give back: keep the original as it is
        return VacuumResult(p, size_before, p.stat().st_size, used_before, rows, _remove_stale_spill(p), False)
    _fsync(tmp)
    st = p.stat()
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    if os.geteuid() == 0:
        os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, p)   # atomic; the shared lock on the old file is held until after this
    _fsync(p.parent)
    return VacuumResult(p, size_before, p.stat().st_size, used_before, rows, _remove_stale_spill(p))


def _verify_table(con: duckdb.DuckDBPyConnection, table: str) -> int:
    t = quote_ident(table)
    n_src, n_vac = con.execute(f"SELECT (SELECT count(*) FROM src.{t}), (SELECT count(*) FROM vac.{t})").fetchone()
    if n_src != n_vac:
        raise WorkbenchError(f"vacuum copy of table {table} has {n_vac} rows, the store {n_src}: "
                             "the store was left as it was")
    return n_src


def _verify_schema(con: duckdb.DuckDBPyConnection) -> None:
    """The copy has the same tables, views, sequence positions and migrations as the original."""
    checks = {
        "tables": "SELECT list(table_name ORDER BY table_name) FROM duckdb_tables() WHERE database_name = ?",
        "views": "SELECT list(view_name ORDER BY view_name) FROM duckdb_views() WHERE database_name = ?"
                 " AND NOT internal",
        "sequences": "SELECT list((sequence_name, last_value) ORDER BY sequence_name) FROM duckdb_sequences()"
                     " WHERE database_name = ?",
    }
    for what, sql in checks.items():
        a, b = (con.execute(sql, [db]).fetchone()[0] for db in ("src", "vac"))
        if a != b:
            raise WorkbenchError(f"vacuum copy differs from the store in its {what}: the store was left as it was")
    a, b = (con.execute(f"SELECT list(version ORDER BY version) FROM {db}.schema_migrations").fetchone()[0]
            for db in ("src", "vac"))
    if a != b:
        raise WorkbenchError("vacuum copy differs from the store in its migrations: the store was left as it was")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_spill(p: Path) -> int:
    """Remove the spill files (`<store>.tmp/duckdb_temp_<pid>_*`) of processes that are gone: DuckDB
    leaves them when an ingest that spilled is killed. Returns the bytes freed."""
    d = Path(str(p) + ".tmp")
    freed = 0
    if not d.is_dir():
        return 0
    for f in d.iterdir():
        m = _SPILL_RE.match(f.name)
        if not m or not f.is_file() or _alive(int(m.group(1))):
            continue
        try:
            size = f.stat().st_blocks * 512
            f.unlink()
            freed += size
        except OSError:
            pass
    return freed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
