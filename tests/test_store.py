"""The store: path resolution, migrations, the ingest log's atomicity, and the one-writer rule."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from workbench.errors import WorkbenchError
from workbench.sources.k6 import record_tagsets
from workbench.store import Store, db_path, migrations


def test_db_path_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    assert str(db_path()) == "data/workbench.duckdb"
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "env.duckdb"))
    assert db_path() == tmp_path / "env.duckdb"
    assert db_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"


def test_migrations_apply_once(tmp_db):
    with Store.open(tmp_db) as s:
        versions = [v for v, *_ in migrations()]
        assert s.con.execute("SELECT list(version ORDER BY version) FROM schema_migrations").fetchone()[0] == versions
    with Store.open(tmp_db) as s:
        assert s.migrate() == []


def test_read_only_store_must_exist(tmp_db):
    with pytest.raises(WorkbenchError, match="no store at"):
        Store.open(tmp_db, read_only=True)


def test_failed_ingest_leaves_nothing(tmp_db):
    with Store.open(tmp_db) as s:
        with pytest.raises(RuntimeError), s.ingest("k6-json", "/tmp/f.json", run="r") as ing:
            s.con.execute("INSERT INTO k6_runs VALUES ('r', NULL, MAP(), now())")
            ing.rows = 5
            raise RuntimeError("boom")
        assert s.con.execute("SELECT count(*) FROM ingests").fetchone()[0] == 0
        assert s.con.execute("SELECT count(*) FROM k6_runs").fetchone()[0] == 0


def test_ingest_log_redacts_url_passwords(tmp_db):
    with Store.open(tmp_db) as s:
        with s.ingest("redis", "redis://user:hunter22@127.0.0.1:6390/0") as ing:
            ing.rows = 1
        assert s.con.execute("SELECT source FROM ingests").fetchone()[0] == "redis://user:***@127.0.0.1:6390/0"


@contextlib.contextmanager
def _held(db: Path) -> Iterator[subprocess.Popen]:
    """Another process holding DB open as a writer for the block, then killed."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, time
        con = duckdb.connect({str(db)!r})
        print("ready", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_busy_writer_names_the_holder(tmp_db):
    Store.open(tmp_db).close()
    with _held(tmp_db) as holder:
        t0 = time.monotonic()
        with pytest.raises(WorkbenchError, match=rf"busy: another process holds it \(PID {holder.pid}"):
            Store.open(tmp_db, wait_s=1.0)
        assert 0.9 < time.monotonic() - t0 < 10
    Store.open(tmp_db, wait_s=5).close()   # free again once the holder is gone


# -- workbench vacuum ------------------------------------------------------------------------------
def _wb(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(err: str, *needles: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--debug" not in lines[0], err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _big_store(db: Path, rows: int = 4_000_000) -> None:
    """A store holding ROWS k6 samples (one committed ingest), written straight through SQL."""
    with Store.open(db) as s, s.ingest("k6-json", "synthetic.json", run="big") as ing:
        s.con.execute("INSERT INTO k6_runs VALUES ('big', NULL, MAP(), now())")
        s.con.execute("""INSERT INTO k6_sample_rows (ingest_id, metric, ts, value, tags)
                         SELECT ?, 'http_req_duration', TIMESTAMPTZ '2026-01-01' + i * INTERVAL 1 MILLISECOND,
                                hash(i) % 1000 / 7.0,
                                json_object('a', (i % 13)::VARCHAR, 'name', 'GET /api/' || (i % 97))
                         FROM range(?) t(i)""", [ing.ingest_id, rows])
        record_tagsets(s.con, ing.ingest_id)
        ing.rows = rows


def _counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def test_vacuum_gives_back_pruned_space_and_keeps_every_row(tmp_db):
    _big_store(tmp_db, 1_000_000)
    with Store.open(tmp_db) as s, s.ingest("redis", "info.txt", label="kept") as ing:
        ing.rows = 1
    with Store.open(tmp_db) as s:   # the first ingest goes away (as `--replace` or pruning would do it)
        s.con.execute("DELETE FROM k6_sample_rows")
        s.con.execute("DELETE FROM ingests WHERE run = 'big'")
    before, counts = tmp_db.stat().st_size, _counts(tmp_db)
    r = _wb("--db", tmp_db, "vacuum", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["size_before"] == before and doc["size_after"] == tmp_db.stat().st_size < before / 2
    assert re.search(rf"{re.escape(str(tmp_db))}: {before / 1e6:.1f} MB → {doc['size_after'] / 1e6:.1f} MB",
                     r.stderr), r.stderr
    assert _counts(tmp_db) == counts
    assert not list(tmp_db.parent.glob("*.vacuum-tmp*"))
    with Store.open(tmp_db) as s, s.ingest("redis", "info2.txt") as ing:   # the sequence went along
        ing.rows = 1
    con = duckdb.connect(str(tmp_db), read_only=True)
    assert con.execute("SELECT list(ingest_id ORDER BY ingest_id) FROM ingests").fetchone()[0] == [2, 3]
    con.close()


@pytest.mark.parametrize("kind", ["foreign duckdb", "sqlite", "missing"])
def test_vacuum_refuses_what_is_not_a_store(tmp_path, kind):
    db = tmp_path / "x.db"
    if kind == "foreign duckdb":
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE sales AS SELECT 1 AS id")
        con.close()
    elif kind == "sqlite":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE users (id INTEGER)")
        con.commit()
        con.close()
    before = _sha(db) if db.exists() else None
    r = _wb("--db", db, "vacuum")
    assert r.returncode == 2
    _one_line(r.stderr, str(db), {"foreign duckdb": "not a workbench store", "sqlite": "SQLite",
                                  "missing": "no store at"}[kind])
    assert (_sha(db) if db.exists() else None) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if kind == "missing" else ["x.db"])


def test_vacuum_waits_for_no_writer_and_says_who_is_busy(tmp_db):
    Store.open(tmp_db).close()
    with _held(tmp_db) as holder:
        before = _sha(tmp_db)
        r = _wb("--db", tmp_db, "vacuum")
    assert r.returncode == 2
    _one_line(r.stderr, "busy", f"PID {holder.pid}")
    assert _sha(tmp_db) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_vacuum_interrupted_leaves_the_store_as_it_was(tmp_db, sig):
    """Ctrl-C (exit 130, one line) or a kill while the copy is being written: the original is untouched,
    and the next vacuum replaces what a killed one left."""
    _big_store(tmp_db)
    before, counts = _sha(tmp_db), _counts(tmp_db)
    tmp = tmp_db.with_name(tmp_db.name + ".vacuum-tmp")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "--db", str(tmp_db), "vacuum"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp.exists() and tmp.stat().st_size > 1 << 20) and proc.poll() is None:
        assert time.monotonic() < deadline, "the vacuum never started its copy"
        time.sleep(0.005)
    assert proc.poll() is None, proc.stderr.read()
    t0 = time.monotonic()
    proc.send_signal(sig)
    rc = proc.wait(timeout=30)
    err = proc.stderr.read()
    assert _sha(tmp_db) == before
    if sig == signal.SIGINT:
        assert rc == 130, err
        _one_line(err, "interrupted (Ctrl-C)", "left as it was")
        assert time.monotonic() - t0 < 2
        assert not tmp.exists()
    else:
        assert rc == -signal.SIGKILL and tmp.exists()
    r = _wb("--db", tmp_db, "vacuum")
    assert r.returncode == 0, r.stderr
    assert _counts(tmp_db) == counts and not tmp.exists()


def test_vacuum_removes_only_the_spill_files_of_dead_processes(tmp_db):
    """DuckDB spills to STORE.tmp/duckdb_temp_<pid>_*; a killed ingest's files stay there. Files of a
    live process (a reader spilling now) and anything else in the directory are kept."""
    Store.open(tmp_db).close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    spill = Path(str(tmp_db) + ".tmp")
    spill.mkdir()
    gone = [spill / f"duckdb_temp_{dead.pid}_0_owner", spill / f"duckdb_temp_{dead.pid}_0_storage_DEFAULT-0.tmp"]
    kept = [spill / f"duckdb_temp_{os.getpid()}_0_storage_DEFAULT-0.tmp", spill / "notes.txt"]
    for f in gone + kept:
        f.write_bytes(os.urandom(256 << 10) if "storage" in f.name else b"")
    r = _wb("--db", tmp_db, "vacuum", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["spill_freed"] >= 256 << 10
    assert "of spill files left by killed processes removed" in r.stderr
    assert [f.exists() for f in gone + kept] == [False, False, True, True]
