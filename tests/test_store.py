"""The store: path resolution, migrations, the ingest log's atomicity, and the one-writer rule."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from workbench.errors import WorkbenchError
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


def test_busy_writer_names_the_holder(tmp_db):
    Store.open(tmp_db).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(tmp_db)!r})
        print("ready", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        with pytest.raises(WorkbenchError, match=rf"busy: another process holds it \(PID {holder.pid}"):
            Store.open(tmp_db, wait_s=1.0)
        assert 0.9 < time.monotonic() - t0 < 10
    finally:
        holder.kill()
        holder.wait()
    Store.open(tmp_db, wait_s=5).close()   # free again once the holder is gone
