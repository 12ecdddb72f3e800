"""The PostgreSQL collector against a real PostgreSQL 15 with pg_stat_statements preloaded."""

from __future__ import annotations

import json

import psycopg
import pytest
from cli_runner import run_cli

from workbench.analysis.postgres import pg_top
from workbench.errors import WorkbenchError
from workbench.lab.common import free_port
from workbench.sources.postgres import collect, connect, take_snapshot
from workbench.store import reading

pytestmark = pytest.mark.service
UPDATE_ACCOUNTS = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"


@pytest.fixture(scope="module")
def calls_db(pg_server):
    pg_server.createdb("calls")
    pg_server.pgbench("-i", "-s", "1", "-q", dbname="calls")
    return pg_server.dsn_for("calls")


def test_pgbench_calls_delta_is_exact(pg_server, calls_db, tmp_db, capsys):
    n, c = 40, 3
    code, _, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres", "--dsn", calls_db, "--label", "a")
    assert code == 0, err
    pg_server.pgbench("-t", str(n), "-c", str(c), dbname="calls")
    code, _, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres", "--dsn", calls_db, "--label", "b")
    assert code == 0, err
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "pg", "top", "--limit", "100", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"from", "to", "interval_s", "reset", "statements"}
    assert doc["reset"] is False and doc["interval_s"] > 0
    calls_dbid = pg_server.sql("SELECT oid FROM pg_database WHERE datname = 'calls'", dbname="postgres")[0][0]
    upd = [s for s in doc["statements"] if s["query"] == UPDATE_ACCOUNTS and s["dbid"] == calls_dbid]
    assert len(upd) == 1
    assert upd[0]["calls"] == n * c
    assert upd[0]["datname"] == "calls" and upd[0]["toplevel"] is True
    assert set(upd[0]) == {"queryid", "dbid", "datname", "userid", "toplevel", "query", "calls",
                           "total_exec_time_ms", "mean_exec_time_ms", "rows", "shared_blks_hit",
                           "shared_blks_read", "hit_ratio", "time_share"}
    assert upd[0]["rows"] == n * c
    assert 0 < upd[0]["time_share"] <= 1
    assert abs(upd[0]["mean_exec_time_ms"] * upd[0]["calls"] - upd[0]["total_exec_time_ms"]) < 1e-6
    # --by calls puts the pgbench statements (n*c calls each) first, before the collector's own queries
    code, out, _ = run_cli(capsys, "--db", str(tmp_db), "pg", "top", "--by", "calls", "--limit", "3",
                           "--format", "json")
    top = json.loads(out)["statements"]
    assert len(top) == 3 and top[0]["calls"] >= n * c
    with reading(tmp_db) as store:
        snaps = store.query_df("SELECT * FROM pg_snapshots ORDER BY snapshot_id")
        assert list(snaps.label) == ["a", "b"]
        assert snaps.system_identifier.notna().all() and (snaps.port == pg_server.port).all()
        assert (snaps.pgss_version == "1.10").all() and (snaps.dbname == "calls").all()
        # texts are fetched only for queryids the store has not seen (showtext := false, then one bulk fetch)
        fetched = [json.loads(d)["new_texts"] for (d,) in store.con.execute(
            "SELECT details FROM ingests ORDER BY ingest_id").fetchall()]
        assert fetched[0] > 10 and fetched[1] < fetched[0]
        # query texts are stored once per queryid, not per snapshot
        dup = store.con.execute("SELECT count(*) - count(DISTINCT queryid) FROM pg_query_texts").fetchone()[0]
        assert dup == 0
        # --slow-every 1h (the default): the second snapshot a moment later is fast, without the slow sets
        assert list(snaps.kind) == ["full", "fast"]
        for t in ("pg_databases", "pg_tables", "pg_indexes", "pg_bloat", "pg_activity", "pg_settings",
                  "pg_column_stats"):
            assert store.con.execute(f"SELECT count(*) FROM {t} WHERE snapshot_id = 1").fetchone()[0] > 0, t
        for t in ("pg_databases", "pg_tables", "pg_indexes", "pg_activity", "pg_settings"):
            assert store.con.execute(f"SELECT count(*) FROM {t} WHERE snapshot_id = 2").fetchone()[0] > 0, t
        for t in ("pg_bloat", "pg_column_stats", "pg_sequences"):
            assert store.con.execute(f"SELECT count(*) FROM {t} WHERE snapshot_id = 2").fetchone()[0] == 0, t
        tables = store.query_df("SELECT relname, n_live_tup, total_bytes FROM pg_tables WHERE snapshot_id = 2")
        assert "pgbench_accounts" in set(tables.relname) and tables.total_bytes.isna().all()
        from workbench.analysis.postgres import database_report, slow_snapshot

        assert slow_snapshot(store, 2) == 1 and slow_snapshot(store, 1) == 1
        rep = database_report(store)
        assert rep.to_snap == 2 and set(rep.bloat["table"]) >= {"public.pgbench_accounts"}


def test_reset_between_snapshots(pg_server, tmp_db):
    pg_server.createdb("resetdb")
    pg_server.pgbench("-i", "-s", "1", "-q", dbname="resetdb")
    dsn = pg_server.dsn_for("resetdb")
    pg_server.pgbench("-t", "30", "-c", "2", dbname="resetdb")
    collect(dsn, tmp_db)
    pg_server.sql("SELECT pg_stat_statements_reset()")  # a separate superuser session, not the collector
    pg_server.pgbench("-t", "5", "-c", "2", dbname="resetdb")
    collect(dsn, tmp_db)
    with reading(tmp_db) as store:
        res = pg_top(store)
    doc = res.to_dict()
    assert doc["reset"] is True
    assert any("stats_reset" in r for r in res.reset_reasons)
    numeric = ("calls", "total_exec_time_ms", "mean_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read")
    for s in doc["statements"]:
        assert all(s[k] is None or s[k] >= 0 for k in numeric), s
    upd = [s for s in doc["statements"] if s["query"] == UPDATE_ACCOUNTS and s["datname"] == "resetdb"]
    assert upd and upd[0]["calls"] == 10  # counted from the reset, not 10 - 60


def test_collector_session_is_read_only(pg_server):
    with connect(pg_server.dsn) as con:
        assert con.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert con.execute("SHOW statement_timeout").fetchone()[0] == "10s"
        assert con.execute("SHOW lock_timeout").fetchone()[0] == "2s"
        assert con.execute("SHOW application_name").fetchone()[0] == "workbench"
        for stmt in ("CREATE TABLE wb_should_fail (x int)",
                     "UPDATE pgbench_accounts SET abalance = 0 WHERE aid = 1",
                     "SELECT pg_stat_statements_reset()"):
            with pytest.raises((psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)):
                con.execute(stmt)
            con.rollback()


def test_collector_leaves_other_statements_alone(pg_server):
    pg_server.sql("CREATE ROLE wb_collector LOGIN PASSWORD 'collector-pw-1'; GRANT pg_monitor TO wb_collector",
                  dbname="postgres")
    try:
        dsn = pg_server.dsn_for(pg_server.dbname, password="collector-pw-1").replace(
            pg_server.user + ":", "wb_collector:", 1)
        role_oid = pg_server.sql("SELECT oid FROM pg_roles WHERE rolname = 'wb_collector'")[0][0]
        probe = ("SELECT /* wb-probe */ userid, queryid, dbid, toplevel, calls, total_exec_time, rows,"
                 " shared_blks_hit, shared_blks_read FROM pg_stat_statements"
                 " WHERE userid <> %s AND query NOT LIKE '%%wb-probe%%' ORDER BY 1, 2, 3, 4")
        pg_server.pgbench("-t", "5", "-c", "1")
        before = pg_server.sql(probe, (role_oid,))
        take_snapshot(dsn)
        take_snapshot(dsn)
        after = pg_server.sql(probe, (role_oid,))
        assert before == after and len(before) > 5
        mine = pg_server.sql("SELECT count(*) FROM pg_stat_statements WHERE userid = %s", (role_oid,))[0][0]
        assert mine > 5  # the collector's own queries are the only change
    finally:
        pg_server.sql("DROP OWNED BY wb_collector; DROP ROLE wb_collector", dbname="postgres")


def test_hidden_texts_warn_and_still_snapshot(pg_server, tmp_db):
    pg_server.sql("CREATE ROLE wb_plain LOGIN PASSWORD 'plain-pass-123'", dbname="postgres")
    try:
        dsn = pg_server.dsn_for(pg_server.dbname, password="plain-pass-123").replace(pg_server.user + ":", "wb_plain:", 1)
        sid, snap = collect(dsn, tmp_db)
        assert any("GRANT pg_read_all_stats TO wb_plain" in w for w in snap.warnings)
        assert sum(not s["text_visible"] for s in snap.statements) > 0
        with reading(tmp_db) as store:
            assert store.con.execute("SELECT count(*) FROM pg_statements WHERE snapshot_id = ?", [sid]).fetchone()[0] > 0
            details = store.con.execute("SELECT details FROM ingests").fetchone()[0]
            assert "pg_read_all_stats" in details
    finally:
        pg_server.sql("DROP ROLE wb_plain", dbname="postgres")


def test_extension_missing_is_one_actionable_line(pg_server_no_preload, tmp_db, capsys):
    lab = pg_server_no_preload
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres", "--dsn", lab.dsn)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: pg_stat_statements is not installed")
    assert "shared_preload_libraries = 'pg_stat_statements'" in err and "CREATE EXTENSION pg_stat_statements" in err
    assert f"127.0.0.1:{lab.port}" in err and lab.password not in err


def test_extension_not_preloaded(pg_server_no_preload, tmp_db):
    lab = pg_server_no_preload
    lab.createdb("withext")
    lab.sql("CREATE EXTENSION pg_stat_statements", dbname="withext")
    with pytest.raises(WorkbenchError, match="not preloaded.*shared_preload_libraries = 'pg_stat_statements'"):
        collect(lab.dsn_for("withext"), tmp_db)
    assert not tmp_db.exists()  # nothing was written


def test_bad_password(pg_server, tmp_db, capsys):
    dsn = pg_server.dsn_for(pg_server.dbname, password="Wrong-Planted-Pw")
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres", "--dsn", dsn)
    assert code == 2
    assert err.startswith(f"error: cannot connect to PostgreSQL at {pg_server.user}@127.0.0.1:{pg_server.port}/")
    assert "password authentication failed" in err and err.count("\n") == 1
    assert "Wrong-Planted-Pw" not in err + out


def test_refused_port(tmp_db, capsys):
    port = free_port()
    code, _, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres",
                           "--dsn", f"postgresql://x:Sekrit-9@127.0.0.1:{port}/db")
    assert code == 2 and f"127.0.0.1:{port}" in err and "refused" in err and "Sekrit-9" not in err
    assert err.count("\n") == 1


def test_libpq_environment_is_honoured(pg_server, tmp_db, monkeypatch):
    for k, v in {"PGHOST": pg_server.host, "PGPORT": str(pg_server.port), "PGUSER": pg_server.user,
                 "PGDATABASE": pg_server.dbname, "PGPASSWORD": pg_server.password}.items():
        monkeypatch.setenv(k, v)
    sid, snap = collect(None, tmp_db, label="env")
    assert snap.meta["dbname"] == pg_server.dbname and snap.meta["port"] == pg_server.port
    with reading(tmp_db) as store:
        assert store.con.execute("SELECT source FROM pg_snapshots").fetchone()[0] == "libpq environment"


def test_every_count_takes_several_snapshots(pg_server, tmp_db, capsys):
    code, _, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres", "--dsn", pg_server.dsn,
                           "--every", "0.2s", "--count", "3")
    assert code == 0, err
    with reading(tmp_db) as store:
        assert store.con.execute("SELECT count(*) FROM pg_snapshots").fetchone()[0] == 3
    code, _, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres", "--count", "2")
    assert code == 2 and "--every" in err


def test_index_findings_on_real_definitions(pg_server, tmp_db):
    from workbench.analysis import postgres as A

    pg_server.createdb("idx")
    pg_server.sql("""
        CREATE TABLE t (id int PRIMARY KEY, x int, y int, z text);
        INSERT INTO t SELECT g, g % 100, g % 7, md5(g::text) FROM generate_series(1, 2000) g;
        CREATE INDEX t_x ON t (x);                      -- prefix of t_x_y: duplicate
        CREATE INDEX t_x_y ON t (x, y);
        CREATE INDEX t_x_y_again ON t (x, y);           -- identical to t_x_y: one of the two reported
        CREATE UNIQUE INDEX t_z_u ON t (z);             -- unique: never a duplicate of t_z_id
        CREATE INDEX t_z_id ON t (z, id);
        CREATE INDEX t_y_part ON t (y) WHERE x > 50;    -- partial: other predicate than t_y_x
        CREATE INDEX t_y_x ON t (y, x);
        CREATE INDEX t_lower ON t (lower(z));           -- expression, prefix of t_lower_x
        CREATE INDEX t_lower_x ON t (lower(z), x);
        CREATE INDEX t_x_hash ON t USING hash (x);      -- other access method than t_x_y
        ANALYZE t;
    """, dbname="idx")
    pg_server.sql("SELECT count(*) FROM t WHERE x = 3 AND y = 3", dbname="idx")
    sid, _ = collect(pg_server.dsn_for("idx"), tmp_db)
    with reading(tmp_db) as store:
        dup = A.duplicate_indexes(store, sid)
        pairs = {(r.index, r.covered_by) for r in dup.itertuples()}
        assert ("t_x", "t_x_y") in pairs or ("t_x", "t_x_y_again") in pairs
        assert ("t_lower", "t_lower_x") in pairs
        assert len({"t_x_y", "t_x_y_again"} & set(dup["index"])) == 1
        assert not {"t_z_u", "t_y_part", "t_x_hash", "t_pkey"} & set(dup["index"])
        unused = set(A.unused_indexes(store, sid)["index"])
        assert "t_x_hash" in unused and "t_pkey" not in unused and "t_z_u" not in unused
        assert A.bloat(store, sid).query("table == 'public.t'").shape[0] >= 1
        hits = A.hit_ratios(store, sid)
        assert set(hits) == {"databases", "tables", "indexes"}
        assert (hits["databases"]["hit_ratio"].dropna().between(0, 1)).all()


def test_pg_top_by_io_and_mean(pg_server, calls_db, tmp_db, capsys):
    collect(calls_db, tmp_db)
    pg_server.pgbench("-t", "20", "-c", "2", dbname="calls")
    collect(calls_db, tmp_db)
    for by, key in (("io", "shared_blks_read"), ("mean_time", "mean_exec_time_ms"), ("calls", "calls")):
        code, out, err = run_cli(capsys, "--db", str(tmp_db), "pg", "top", "--by", by, "--limit", "50",
                                 "--format", "json")
        assert code == 0, err
        vals = [s[key] for s in json.loads(out)["statements"]]
        assert vals == sorted(vals, reverse=True) and len(vals) > 3
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "pg", "top", "--limit", "5")
    assert code == 0 and "snapshots 1 -> 2" in out and "calls" in out
    code, _, err = run_cli(capsys, "--db", str(tmp_db), "pg", "top", "--from", "1", "--to", "99")
    assert code == 2 and "no PostgreSQL snapshot 99" in err


def test_connect_timeout_is_one_line(tmp_db, capsys):
    import socket

    with socket.socket() as silent:  # accepts TCP connections (backlog) but never speaks the protocol
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        code, _, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres", "--dsn",
                               f"postgresql://u:Sekrit-7@127.0.0.1:{port}/db?connect_timeout=1")
    assert code == 2 and err.count("\n") == 1
    assert f"127.0.0.1:{port}" in err and "timeout" in err and "Sekrit-7" not in err


def test_ls_snapshots_lists_postgres(pg_server, tmp_db, capsys):
    collect(pg_server.dsn, tmp_db, label="listed")
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "ls", "snapshots", "--format", "json")
    assert code == 0, err
    rows = [r for r in json.loads(out) if r["source"] == "postgres"]
    assert len(rows) == 1 and rows[0]["label"] == "listed"
    assert f"127.0.0.1:{pg_server.port}/{pg_server.dbname}" in rows[0]["server"]


def test_preloaded_but_not_created(pg_server, tmp_db):
    pg_server.createdb("noext")
    pg_server.sql("DROP EXTENSION pg_stat_statements", dbname="noext")
    with pytest.raises(WorkbenchError, match="preloaded but not created in database noext.*CREATE EXTENSION"):
        collect(pg_server.dsn_for("noext"), tmp_db)


def test_user_options_kept_but_read_only_wins(pg_server):
    opts = "options=-c%20search_path%3Dwbx%20-c%20default_transaction_read_only%3Doff"
    with connect(pg_server.dsn + "&" + opts) as con:
        assert con.execute("SHOW search_path").fetchone()[0] == "wbx"
        assert con.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            con.execute("CREATE TABLE public.wb_nope (x int)")
