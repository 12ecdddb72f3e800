"""Hostile and broken input, tried as a new user and as an attacker would.

Every case checks the exit code, the one-line message, and (through SQL) what the store holds
afterwards. The stores and files are real; the CLI runs in-process unless a real process is needed
(environment of its own, Ctrl-C).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from workbench import cli
from workbench.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
REDIS_INFO = SAMPLES / "redis" / "info_01.txt"
K6_SAMPLE = SAMPLES / "k6" / "lab-pre.json.gz"
SUMMARY = SAMPLES / "k6" / "lab-pre.summary.json"
OTHER_SUMMARY = SAMPLES / "k6" / "lab-post.summary.json"


# -- helpers -------------------------------------------------------------------------------------------
def wb(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in-process; (exit code, stderr)."""
    capsys.readouterr()
    try:
        cli.main([str(a) for a in args])
        rc = 0
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 0
    return rc, capsys.readouterr().err


def wb_proc(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def one_error(err: str, *needles: str) -> str:
    """ERR is exactly one line `error: ...` holding every NEEDLE, and no traceback."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "(unexpected;" not in lines[0] and "--debug" not in lines[0], err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count(db: Path, sql: str, params: list | None = None) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()[0]
    finally:
        con.close()


def sample_lines(n: int | None = None) -> list[bytes]:
    """Real k6 JSON lines (the bundled capture)."""
    with gzip.open(K6_SAMPLE, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    return lines if n is None else lines[:n]


@pytest.fixture
def user_store(tmp_path) -> Path:
    """A user's store holding one ingest (a Redis INFO file)."""
    db = tmp_path / "user" / "perf.duckdb"
    with Store.open(db) as store:
        from workbench.sources.redis import ingest_file
        ingest_file(store, REDIS_INFO, label="mine")
    return db


@pytest.fixture
def foreign_duckdb(tmp_path) -> Path:
    db = tmp_path / "sales.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE sales (id INTEGER, amount DOUBLE)")
    con.execute("INSERT INTO sales VALUES (1, 9.5), (2, 3.25)")
    con.close()
    return db


# -- 1. the demo never deletes a store it did not create ---------------------------------------------
@pytest.fixture
def demo_dir(tmp_path, monkeypatch) -> Path:
    """A working directory with only Redis samples and no notebooks: the demo builds a store fast."""
    d = tmp_path / "demo"
    (d / "samples" / "redis").mkdir(parents=True)
    for name in ("info_01.txt", "info_02.txt", "meta.json"):
        shutil.copy(SAMPLES / "redis" / name, d / "samples" / "redis" / name)
    monkeypatch.chdir(d)
    return d


def test_demo_ignores_workbench_db(capsys, demo_dir, user_store, monkeypatch):
    before = sha(user_store)
    monkeypatch.setenv("WORKBENCH_DB", str(user_store))
    rc, err = wb(capsys, "demo", "--samples", "samples", "--out", "reports")
    assert user_store.exists() and sha(user_store) == before, err   # first: the store, whatever the exit
    assert rc == 0, err
    own = demo_dir / "data" / "demo.duckdb"
    assert count(own, "SELECT count(*) FROM store_meta WHERE key = 'made_by' AND value = 'workbench demo'") == 1
    assert count(own, "SELECT count(*) FROM redis_snapshots") > 0
    rc, err = wb(capsys, "demo", "--samples", "samples", "--out", "reports")   # its own store: rebuilt
    assert rc == 0, err


def test_demo_refuses_a_user_store_given_as_db(capsys, demo_dir, user_store):
    before = sha(user_store)
    rc, err = wb(capsys, "--db", user_store, "demo", "--samples", "samples")
    assert user_store.exists() and sha(user_store) == before, err
    assert rc == 2
    one_error(err, str(user_store), "not made by `workbench demo`", "untouched")
    assert count(user_store, "SELECT count(*) FROM redis_snapshots WHERE label = 'mine'") == 1


def test_demo_refuses_a_foreign_duckdb_file(capsys, demo_dir, foreign_duckdb):
    before = sha(foreign_duckdb)
    rc, err = wb(capsys, "--db", foreign_duckdb, "demo", "--samples", "samples")
    assert foreign_duckdb.exists() and sha(foreign_duckdb) == before, err
    assert rc == 2
    one_error(err, str(foreign_duckdb), "untouched")


def test_demo_db_new_path_is_built_and_marked(capsys, demo_dir, tmp_path):
    target = tmp_path / "new" / "mydemo.duckdb"
    rc, err = wb(capsys, "--db", target, "demo", "--samples", "samples")
    assert count(target, "SELECT count(*) FROM store_meta WHERE value = 'workbench demo'") == 1, err
    assert rc == 0, err
    rc, err = wb(capsys, "--db", target, "demo", "--samples", "samples")   # the demo's own: rebuilt
    assert rc == 0, err
    assert count(target, "SELECT count(*) FROM ingests") == count(target, "SELECT count(DISTINCT source) FROM ingests")


def test_demo_rebuilds_an_unmarked_store_made_only_of_its_samples(capsys, demo_dir):
    """Demo stores built before the mark: every ingest is one of the bundled samples."""
    old = demo_dir / "data" / "demo.duckdb"
    with Store.open(old) as store:
        from workbench.sources.redis import load_samples
        load_samples(store, demo_dir / "samples" / "redis")
    rc, err = wb(capsys, "demo", "--samples", "samples")
    assert rc == 0, err
    assert count(old, "SELECT count(*) FROM store_meta WHERE value = 'workbench demo'") == 1


# -- 2. a store is only ever a workbench store -----------------------------------------------------------
def test_writer_refuses_a_foreign_duckdb_file(capsys, foreign_duckdb):
    before = sha(foreign_duckdb)
    rc, err = wb(capsys, "--db", foreign_duckdb, "ingest", "redis", REDIS_INFO)
    assert rc == 2
    one_error(err, str(foreign_duckdb), "not a workbench store", "sales")
    assert sha(foreign_duckdb) == before
    assert count(foreign_duckdb, "SELECT count(*) FROM duckdb_tables()") == 1


def test_writer_refuses_a_sqlite_file(capsys, tmp_path):
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    before = sha(db)
    rc, err = wb(capsys, "--db", db, "ingest", "redis", REDIS_INFO)
    assert rc == 2
    one_error(err, "SQLite", "not a workbench store")
    assert sha(db) == before
    rc, err = wb(capsys, "--db", db, "ls", "runs")
    assert rc == 2
    one_error(err, "SQLite")


def test_db_whose_parent_is_a_file(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    rc, err = wb(capsys, "--db", tmp_path / "afile" / "wb.duckdb", "ingest", "redis", REDIS_INFO)
    assert rc == 2
    one_error(err, "is a file, not a directory")


def test_store_in_a_read_only_directory(capsys, tmp_path):
    """The store file is writable, its directory is not (DuckDB needs it for the .wal). Root may write
    anywhere, so as root the directory is made immutable (chattr +i), else read-only (chmod 555)."""
    d = tmp_path / "ro"
    d.mkdir()
    db = d / "wb.duckdb"
    Store.open(db).close()
    before = sha(db)
    lock = (["chattr", "+i", str(d)], ["chattr", "-i", str(d)]) if os.getuid() == 0 else (
        ["chmod", "555", str(d)], ["chmod", "755", str(d)])
    subprocess.run(lock[0], check=True)
    try:
        rc, err = wb(capsys, "--db", db, "ingest", "redis", REDIS_INFO)
    finally:
        subprocess.run(lock[1], check=True)
    assert rc == 2
    one_error(err, str(db), f"the directory {d} is read-only", "nothing was stored")
    assert sha(db) == before
    assert count(db, "SELECT count(*) FROM ingests") == 0


# -- 3. no text from a file or the environment becomes SQL --------------------------------------------------
HOSTILE_NAMES = [
    "it's", 'say "hi"', "a;b", "$$dollar$$", "with space", "naïve_名前",
    "a\" || (SELECT content FROM read_text('{secret_file}')) || \"",
    "x' || (SELECT content FROM read_text('/proc/self/environ')) || '",
    "\"); DROP TABLE ingests; --",
]


def test_csv_header_names_are_only_tag_names(k6_run, tmp_path):
    secret = "PLANTED-8f3a1c-SECRET"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    names = [n.format(secret_file=secret_file) for n in HOSTILE_NAMES]
    rows = list(csv.reader(io.StringIO(k6_run.csv.read_text())))
    header, body = rows[0], rows[1:]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header + names)
    for i, row in enumerate(body):
        w.writerow(row + [f"v{i % 3}-{j}" for j in range(len(names))])
    crafted = tmp_path / "crafted.csv"
    crafted.write_text(out.getvalue())
    db = tmp_path / "wb.duckdb"

    r = wb_proc("--db", db, "ingest", "k6", crafted, "--run", "x", env={"WB_PLANTED": secret})
    assert r.returncode == 0, r.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM k6_samples").fetchone()[0] == len(body)
        keys = {k for (k,) in con.execute("SELECT DISTINCT unnest(json_keys(tags)) FROM k6_samples").fetchall()}
        assert set(names) <= keys
        value = con.execute("SELECT tags->>? FROM k6_samples LIMIT 1", [names[-1]]).fetchone()[0]
        assert value.startswith("v") and value.endswith(f"-{len(names) - 1}")
        hits = []
        for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns()"
                                          " WHERE NOT internal").fetchall():
            n = con.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                            [f"%{secret}%"]).fetchone()[0]
            if n:
                hits.append((table, column))
        assert hits == []
        assert con.execute("SELECT count(*) FROM ingests").fetchone()[0] == 1
    finally:
        con.close()


def test_writer_memory_setting_is_not_sql(capsys, tmp_path, monkeypatch):
    db = tmp_path / "wb.duckdb"
    monkeypatch.setenv("WORKBENCH_WRITER_MEMORY", "1GB'; CREATE TABLE pwned AS SELECT 1; --")
    rc, err = wb(capsys, "--db", db, "ingest", "redis", REDIS_INFO)
    assert rc == 2
    one_error(err, "WORKBENCH_WRITER_MEMORY", "is not a size")
    assert not db.exists()


def test_a_writer_out_of_memory_says_which_setting_to_raise(capsys, tmp_path, monkeypatch):
    """DuckDB's own out-of-memory error (a real one: 32MB cannot hold the ingest's buffers) is one line naming
    the setting and its value; the ingest rolled back."""
    db = tmp_path / "wb.duckdb"
    monkeypatch.setenv("WORKBENCH_WRITER_MEMORY", "32MB")
    rc, err = wb(capsys, "--db", db, "ingest", "k6", K6_SAMPLE, "--run", "r")
    assert rc == 2
    line = one_error(err, "ran out of memory", "nothing was committed", "WORKBENCH_WRITER_MEMORY (now 32MB")
    assert "--debug" not in line
    monkeypatch.delenv("WORKBENCH_WRITER_MEMORY")
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM ingests").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM k6_samples").fetchone()[0] == 0
    finally:
        con.close()


def test_file_access_is_limited_to_the_inputs(tmp_path):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("nope")
    allowed = tmp_path / "in.txt"
    allowed.write_text("fine")
    with Store.open(tmp_path / "wb.duckdb", files=[allowed]) as store:
        assert store.con.execute("SELECT content FROM read_text(?)", [str(allowed)]).fetchone()[0] == "fine"
        with pytest.raises(duckdb.PermissionException):
            store.con.execute("SELECT content FROM read_text(?)", [str(secret_file)])
    with Store.open(tmp_path / "wb.duckdb", read_only=True, files=()) as store:
        with pytest.raises(duckdb.PermissionException):
            store.con.execute("SELECT content FROM read_text(?)", [str(secret_file)])


# -- 4. ingest does what it says ---------------------------------------------------------------------------
def test_same_summary_again_is_a_no_op_and_replace_swaps_it(capsys, tmp_path):
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "k6", SUMMARY, "--run", "r")
    assert rc == 0, err
    first = count(db, "SELECT ingest_id FROM k6_summaries")
    rc, err = wb(capsys, "--db", db, "ingest", "k6", SUMMARY, "--run", "r")
    assert rc == 0 and "already ingested" in err
    assert count(db, "SELECT count(*) FROM k6_summaries") == 1
    assert count(db, "SELECT count(*) FROM ingests") == 1
    rc, err = wb(capsys, "--db", db, "ingest", "k6", SUMMARY, "--run", "r", "--replace")
    assert rc == 0, err
    assert count(db, "SELECT count(*) FROM k6_summaries") == 1
    assert count(db, "SELECT ingest_id FROM k6_summaries") != first
    assert count(db, "SELECT count(*) FROM ingests") == 1
    rc, err = wb(capsys, "--db", db, "ingest", "k6", OTHER_SUMMARY, "--run", "r")
    assert rc == 2
    one_error(err, "already has another summary", "--replace")
    rc, err = wb(capsys, "--db", db, "ingest", "k6", OTHER_SUMMARY, "--run", "r", "--replace")
    assert rc == 0, err
    assert count(db, "SELECT count(*) FROM k6_summaries") == 1
    assert count(db, "SELECT count(*) FROM ingests WHERE source = ?", [str(OTHER_SUMMARY)]) == 1


def test_several_files_message_names_what_was_stored(capsys, tmp_path):
    good = tmp_path / "good.json"
    good.write_bytes(b"".join(sample_lines(300)))
    bad = tmp_path / "bad.json"
    lines = sample_lines(300)
    bad.write_bytes(b"".join(lines[:10] + [b"{not json\n"] + lines[10:]))
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "k6", good, bad, "--run", "r")
    assert rc == 2
    one_error(err, f"{bad}:11", f"stored before it, and kept, in run 'r': {good}", f"not stored: {bad}")
    assert count(db, "SELECT count(*) FROM ingests") == 1
    assert count(db, "SELECT count(DISTINCT ingest_id) FROM k6_samples") == 1


@pytest.mark.parametrize("what", ["random", "k6", "utf16"])
def test_redis_ingest_accepts_only_info_text(capsys, tmp_path, what):
    f = tmp_path / f"{what}.txt"
    if what == "random":
        f.write_bytes(bytes(range(256)) * 8)
    elif what == "k6":
        f.write_bytes(b"".join(sample_lines(50)))
    else:
        f.write_bytes(REDIS_INFO.read_text().encode("utf-16"))
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "redis", f)
    assert rc == 2
    one_error(err, str(f), "not a Redis INFO text", "redis-cli INFO ALL")
    assert count(db, "SELECT count(*) FROM ingests") == 0
    assert count(db, "SELECT count(*) FROM redis_snapshots") == 0


def _proc_io(pid: int, what: str = "rchar") -> int:
    """How many bytes process PID has read (`rchar`) or written (`wchar`) so far (Linux's /proc/PID/io)."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return 0
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith(what + ":")))


def test_ctrl_c_rolls_back_and_exits_130(tmp_path):
    big = tmp_path / "big.json"
    lines = sample_lines()
    with open(big, "wb") as f:
        for _ in range(math.ceil(320e6 / sum(map(len, lines)))):   # ~320 MB of real k6 lines: a second
            f.writelines(lines)                                    # or more of ingest even on an idle machine
    db = tmp_path / "wb.duckdb"
    Store.open(db).close()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "--db", str(db), "ingest", "k6", str(big),
                             "--run", "r"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _proc_io(proc.pid) < 80e6 and proc.poll() is None:   # imported, opened, reading the file
        assert time.monotonic() < deadline, "the ingest never started reading"
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read()
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=10)
    finally:
        proc.kill()
    took = time.monotonic() - t0
    err = proc.stderr.read()
    assert rc == 130, err
    one_error(err, "interrupted (Ctrl-C)", "rolled back")
    assert took < 1.5, took
    assert count(db, "SELECT count(*) FROM k6_samples") == 0
    assert count(db, "SELECT count(*) FROM ingests") == 0


def _store_space(db: Path) -> tuple[int, int]:
    """(file size, bytes in used blocks) of a closed store."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        used = con.execute("SELECT used_blocks * block_size FROM pragma_database_size()").fetchone()[0]
    finally:
        con.close()
    return db.stat().st_size, used


def test_space_left_by_killed_ingests_is_given_back(tmp_path):
    """Five k6 ingests of two files each, SIGKILLed while DuckDB writes their row groups into the store
    (before they commit): a store file grows past what it holds. A writer's open cuts the killed blocks
    off the file's end; `workbench vacuum` gives back the rest; every committed row stays."""
    lines = b"".join(sample_lines()) * 16
    files = []
    for name in ("a", "b"):   # two different files (a Metric line of their own), ~67 MB each
        f = tmp_path / f"{name}.json"
        f.write_bytes(lines + json.dumps({"type": "Metric", "metric": f"only_{name}", "data": {
            "name": f"only_{name}", "type": "counter", "contains": "default", "thresholds": [],
            "submetrics": None}}).encode() + b"\n")
        files.append(f)
    db = tmp_path / "wb.duckdb"
    assert wb_proc("--db", db, "ingest", "k6", K6_SAMPLE, "--run", "base").returncode == 0
    # MB the ingest has written when it is killed: each file's row groups take ~2.6 MB of the store (a:
    # 0.3-2.6, b: 2.9-5.3, then the checkpoint on close), so the kill lands in a's or b's uncommitted rows
    for i, written in enumerate([1.3, 4.0, 1.3, 4.0, 1.3]):
        proc = subprocess.Popen([sys.executable, "-m", "workbench", "--db", str(db), "ingest", "k6",
                                 *map(str, files), "--run", f"killed{i}"], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while _proc_io(proc.pid, "wchar") < written * 1e6 and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.0005)
        assert proc.poll() is None, proc.stderr.read()
        proc.kill()
        proc.wait()
    size, used = _store_space(db)
    assert size > used + 1e6, (size, used)   # the last kill's uncommitted blocks, at least
    con = duckdb.connect(str(db), read_only=True)
    committed = con.execute("SELECT sum(rows) FROM ingests").fetchone()[0]
    assert con.execute("SELECT count(*) FROM k6_samples").fetchone()[0] == committed   # nothing half-written
    con.close()

    r = wb_proc("--db", db, "ingest", "redis", REDIS_INFO)   # the next writer checkpoints as it opens
    assert r.returncode == 0, r.stderr
    opened, used_opened = _store_space(db)   # the Redis ingest's own tables take blocks too (~1 MB)
    assert opened <= size   # it cuts what the kills left at the file's end (nothing, when they left none)
    r = wb_proc("--db", db, "vacuum")
    assert r.returncode == 0, r.stderr
    after, used_after = _store_space(db)
    assert f"{opened / 1e6:.1f} MB → {after / 1e6:.1f} MB" in r.stderr
    assert after <= used_opened + 1e6 and after - used_after <= 1e6, (after, used, used_opened, used_after)
    assert count(db, "SELECT count(*) FROM k6_samples") == committed
    assert count(db, "SELECT count(*) FROM ingests") == count(db, "SELECT count(*) FROM ingests WHERE "
                                                              "finished_at IS NOT NULL") >= 2


def _truncated_gz(tmp_path) -> tuple[Path, int]:
    data = b"".join(sample_lines(4000))
    z = gzip.compress(data)
    path = tmp_path / "cut.json.gz"
    path.write_bytes(z[: len(z) * 2 // 3])
    complete = 0
    try:
        with gzip.open(path, "rb") as f:
            for line in f:
                complete += 1 if line.endswith(b"\n") and b'"Point"' in line else 0
    except EOFError:
        pass
    return path, complete


def test_truncated_gz_says_where_it_ends_or_keeps_complete_lines(capsys, tmp_path):
    path, complete = _truncated_gz(tmp_path)
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "k6", path, "--run", "r")
    assert rc == 2
    one_error(err, f"{path}:", "compressed stream ends there", "--skip-bad-lines")
    assert count(db, "SELECT count(*) FROM ingests") == 0
    rc, err = wb(capsys, "--db", db, "ingest", "k6", path, "--run", "r", "--skip-bad-lines")
    assert rc == 0, err
    assert count(db, "SELECT count(*) FROM k6_samples") == complete > 0


@pytest.mark.parametrize("case", ["50MB line", "duplicate keys", "bad timestamp", "month 13"])
def test_line_duckdb_rejects_is_named(capsys, tmp_path, case):
    lines = sample_lines(200)
    point = next(ln for ln in lines if b'"Point"' in ln)
    time_text = json.loads(point)["data"]["time"].encode()
    bad = {
        "50MB line": point.replace(b'"proto":"HTTP/1.1"', b'"proto":"' + b"x" * (50 << 20) + b'"'),
        "duplicate keys": point.replace(b'"value":', b'"value":"x","value":', 1),
        "bad timestamp": point.replace(time_text, b"yesterday at noon"),
        "month 13": point.replace(time_text, b"2026-13-45T10:00:00Z"),
    }[case]
    assert bad != point
    f = tmp_path / "pts.json"
    f.write_bytes(b"".join(lines[:60] + [bad] + lines[60:]))
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "k6", f, "--run", "r")
    assert rc == 2
    one_error(err, f"{f}:61:", "corrupt line", "--skip-bad-lines")
    assert count(db, "SELECT count(*) FROM k6_samples") == 0


# -- 5. every failure is one clear line with exit 2 -------------------------------------------------------------
def test_wrong_shape_summary(capsys, tmp_path):
    f = tmp_path / "summary.json"
    f.write_text(json.dumps({"metrics": {"http_reqs": 5, "iterations": [1, 2]}}))
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "k6", f, "--run", "r")
    assert rc == 2
    one_error(err, str(f), "unexpected shape")
    assert count(db, "SELECT count(*) FROM ingests") == 0


def test_wrong_shape_slowlog(capsys, tmp_path):
    slow = tmp_path / "slowlog.json"
    slow.write_text(json.dumps([{"id": 1, "start_time": 1, "duration": 5}, {"nothing": True}]))
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "redis", REDIS_INFO, "--slowlog", slow)
    assert rc == 2
    one_error(err, str(slow), "unexpected shape")
    assert count(db, "SELECT count(*) FROM redis_snapshots") == 0


def test_fifty_mb_of_brackets(capsys, tmp_path):
    f = tmp_path / "brackets.json"
    f.write_bytes(b"[" * (10 << 20))   # 10 MB of `[`: as deep as 50 MB for every JSON parser here
    db = tmp_path / "wb.duckdb"
    for args in (["ingest", "prometheus", f, "--name", "x"], ["ingest", "k6", f, "--run", "r"],
                 ["ingest", "redis", f]):
        rc, err = wb(capsys, "--db", db, *args)
        assert rc == 2, args
        one_error(err, str(f))
    assert count(db, "SELECT count(*) FROM ingests") == 0


def test_out_of_range_server_time(capsys, tmp_path):
    f = tmp_path / "info.txt"
    f.write_text(re.sub(r"server_time_usec:\d+", "server_time_usec:999999999999999999999", REDIS_INFO.read_text()))
    assert "server_time_usec:999999999999999999999" in f.read_text()
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "redis", f)
    assert rc == 2
    one_error(err, "server_time_usec", "is not a time")
    assert count(db, "SELECT count(*) FROM redis_snapshots") == 0


def _prom_sample() -> dict:
    return json.loads((SAMPLES / "prometheus" / "lab-pre.cpu.json").read_text())


def test_prometheus_infinity_timestamp(capsys, tmp_path):
    doc = _prom_sample()
    doc["data"]["result"][0]["values"][0][0] = float("inf")
    f = tmp_path / "inf.json"
    f.write_text(json.dumps(doc))
    assert "Infinity" in f.read_text()
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "prometheus", f, "--name", "cpu")
    assert rc == 2
    one_error(err, str(f), "is not a time")
    assert count(db, "SELECT count(*) FROM prom_series_sets") == 0


def test_truncated_prometheus_gz(capsys, tmp_path):
    z = gzip.compress((SAMPLES / "prometheus" / "lab-pre.cpu.json").read_bytes())
    f = tmp_path / "cpu.json.gz"
    f.write_bytes(z[: len(z) // 2])
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, "ingest", "prometheus", f, "--name", "cpu")
    assert rc == 2
    one_error(err, str(f), "truncated")
    assert count(db, "SELECT count(*) FROM prom_series_sets") == 0


@pytest.mark.parametrize("args,needles", [
    (["collect", "prometheus", "--url", "http://127.0.0.1:99999", "--query", "up", "--start", "now-1h",
      "--step", "15s", "--name", "up"], ["bad Prometheus URL", "out of range", "use http(s)://host:port"]),
    (["collect", "redis", "--url", "redis://127.0.0.1:99999"], ["bad Redis URL", "out of range", "use redis"]),
    (["collect", "redis", "--url", "redis://app:Hotel-77@127.0.0.1:99999/0"],
     ["bad Redis URL", "app:***@", "out of range", "use redis"]),
    (["collect", "postgres", "--dsn", "postgresql://u@127.0.0.1:99999/db"],
     ["cannot connect to PostgreSQL at", "invalid port number", "1-65535", "--dsn"]),
], ids=["prometheus", "redis", "redis-password", "postgres"])
def test_port_99999(capsys, tmp_path, args, needles):
    """The port is refused as a port, naming the server and the fix, before any connection is tried
    (httpx would connect to 99999 mod 65536) and before the store is opened: no store file appears."""
    db = tmp_path / "wb.duckdb"
    rc, err = wb(capsys, "--db", db, *args)
    assert rc == 2
    assert "Hotel" not in one_error(err, "127.0.0.1:99999", *needles)
    assert not db.exists()


def test_prometheus_point_limit_checked_first(capsys, tmp_path):
    t0 = time.monotonic()
    rc, err = wb(capsys, "--db", tmp_path / "wb.duckdb", "collect", "prometheus", "--url", "http://127.0.0.1:9",
                 "--query", "up", "--start", "now-100000d", "--step", "1ms", "--name", "x")
    assert rc == 2 and time.monotonic() - t0 < 5
    one_error(err, "steps per series", "larger --step")


def test_binary_targets_file(capsys, tmp_path):
    f = tmp_path / "targets.yml"
    f.write_bytes(bytes(range(128, 256)) * 4)
    rc, err = wb(capsys, "--db", tmp_path / "wb.duckdb", "compare", "--before", "a", "--after", "b", "--targets", f)
    assert rc == 2
    one_error(err, str(f), "not a YAML text file")


def test_report_refuses_a_non_notebook(capsys, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("just text")
    out = tmp_path / "reports"
    rc, err = wb(capsys, "--db", tmp_path / "wb.duckdb", "report", f, "--out", out)
    assert rc == 2
    one_error(err, str(f), "not a Jupyter notebook")
    assert not (out / "index.json").exists()


def test_report_on_a_busy_store_exits_2_without_an_index_entry(tmp_path):
    db = tmp_path / "wb.duckdb"
    Store.open(db).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, time
        con = duckdb.connect({str(db)!r})
        print("ready", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    out = tmp_path / "reports"
    try:
        assert holder.stdout.readline().strip() == "ready"
        r = wb_proc("--db", db, "report", ROOT / "notebooks" / "10_load_test.ipynb", "--out", out)
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 2, r.stderr
    one_error(r.stderr, "busy", f"PID {holder.pid}")
    assert not (out / "index.json").exists()


# -- 6. secrets masked whatever their name ------------------------------------------------------------------
PARAM_SECRETS = {"pg_pass": "pw-Alpha-7781", "private_key": "pk-Bravo-6612", "passphrase": "pp-Charlie-5543",
                 "auth_header": "ah-Delta-4420", "dsn": "postgresql://app:p@ss-Echo-33@127.0.0.1:5999/db"}


def test_secret_parameters_masked_in_notebook_index_and_html(tmp_path):
    import nbformat

    from workbench.reports import execute_notebook, update_index

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("\n".join(f'{k} = ""' for k in PARAM_SECRETS))
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Secrets"), params, nbformat.v4.new_code_cell("print('done')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "01_secrets.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "reports"
    rep = execute_notebook(path, dict(PARAM_SECRETS), out)
    assert rep.error is None, rep.error
    update_index(out, [rep])
    files = sorted(out.iterdir())
    assert {f.name for f in files} >= {"index.json", "index.html", "01_secrets.ipynb", "01_secrets.html"}
    for f in files:
        text = f.read_text()
        for value in [*PARAM_SECRETS.values(), "p@ss-Echo-33", "ss-Echo-33"]:
            if value.startswith("postgresql://"):
                continue
            assert value not in text, (f.name, value)
    assert "postgresql://app:***@127.0.0.1:5999/db" in (out / "index.json").read_text()


def test_dsn_with_at_in_password_is_masked_whole(capsys, tmp_path):
    from workbench.redact import redact_text, redact_url

    dsn = "postgresql://app:p@ss-Echo-33@127.0.0.1:9/db"
    for masked in (redact_text(dsn), redact_url(dsn)):
        assert "ss-Echo" not in masked and masked == "postgresql://app:***@127.0.0.1:9/db"
    rc, err = wb(capsys, "--db", tmp_path / "wb.duckdb", "collect", "postgres", "--dsn", dsn)
    assert rc == 2
    assert "Echo" not in one_error(err, "%40")


def test_connection_errors_never_echo_a_url_password(capsys, tmp_path):
    rc, err = wb(capsys, "--db", tmp_path / "wb.duckdb", "collect", "redis", "--url",
                 "redis://app:Foxtrot-99@127.0.0.1:9/0")
    assert rc == 2
    assert "Foxtrot" not in one_error(err, "127.0.0.1:9")


def test_prometheus_warnings_and_errors_scrubbed_of_credentials(monkeypatch):
    """A real Prometheus does not echo credentials; a proxy in front of one may: MockTransport stands in."""
    import httpx

    from workbench.errors import WorkbenchError
    from workbench.sources.prometheus import PromClient

    token = "tok-Golf-123456"

    def handler(request):
        if request.url.params.get("query") == "bad":
            return httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                             "error": f"parse error near Bearer-less {token}"})
        return httpx.Response(200, json={"status": "success", "warnings": [f"proxy saw token {token}"],
                                         "data": {"resultType": "matrix", "result": []}})

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler), env={"PROMETHEUS_TOKEN": token}) as c:
        result = c.query_range("up", 0, 60_000, 15_000)
        assert result.warnings and not any(token in w for w in result.warnings)
        with pytest.raises(WorkbenchError) as e:
            c.query("bad")
        assert token not in str(e.value)
