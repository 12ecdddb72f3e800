"""PostgreSQL findings that must hold on real servers: another role's hidden statements, nested
statements under track = all, planted index pairs, a root blocker, a locked table, a failing snapshot
in a loop, the collector's own statements, statistics age, read volume and missing pg_stats.

Tests taking `pg_any` run on PostgreSQL 15, 17 and 18 (pg_stat_statements 1.10, 1.11, 1.12)."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from cli_runner import run_cli

from workbench.analysis import postgres as A
from workbench.sources.pg_columns import HIDDEN_QUERY
from workbench.sources.pg_sql import OWN_MARKER
from workbench.sources.postgres import collect
from workbench.store import reading

pytestmark = pytest.mark.service


def role_dsn(lab, role: str, password: str, dbname: str) -> str:
    return lab.dsn_for(dbname, password=password).replace(lab.user + ":", role + ":", 1)


def test_unprivileged_collector_sums_hidden_statements_exactly(pg_any, tmp_db):
    lab = pg_any
    lab.sql("CREATE ROLE wb_other LOGIN PASSWORD 'other-pw-1'; CREATE ROLE wb_nopriv LOGIN PASSWORD 'nopriv-pw-1'",
            dbname="postgres")
    lab.createdb("hiddendb")
    other = role_dsn(lab, "wb_other", "other-pw-1", "hiddendb")
    held = [psycopg.connect(other, autocommit=True) for _ in range(3)]
    try:
        def workload() -> None:   # three different statements, ten calls each, by another role
            for _ in range(10):
                for q in ("SELECT 1", "SELECT 1, 2", "SELECT 1, 2, 3"):
                    held[0].execute(q)

        workload()
        dsn = role_dsn(lab, "wb_nopriv", "nopriv-pw-1", "hiddendb")
        s1, snap = collect(dsn, tmp_db)
        assert any("GRANT pg_read_all_stats TO wb_nopriv" in w for w in snap.warnings)
        workload()
        s2, _ = collect(dsn, tmp_db)
        other_oid = lab.sql("SELECT oid FROM pg_roles WHERE rolname = 'wb_other'")[0][0]
        dbid = lab.sql("SELECT oid FROM pg_database WHERE datname = 'hiddendb'")[0][0]
        with reading(tmp_db) as store:
            # one stored row per (dbid, userid, toplevel) for the hidden statements
            dup = store.con.execute("SELECT count(*) FROM (SELECT snapshot_id, dbid, userid, toplevel, queryid"
                                    " FROM pg_statements GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
            assert dup == 0
            res = A.pg_top(store, s1, s2)
            conns = A.connections(store, s2)
        rows = [r for r in res.to_dict()["statements"] if r["userid"] == other_oid and r["dbid"] == dbid]
        assert len(rows) == 1, rows
        assert rows[0]["query"] == HIDDEN_QUERY and rows[0]["queryid"] is None
        assert rows[0]["calls"] == 30 and res.reset is False, res.reset_reasons
        keys = [(r["queryid"], r["dbid"], r["userid"], r["toplevel"]) for r in res.to_dict()["statements"]]
        assert len(keys) == len(set(keys))
        assert conns["connections"] >= len(held) + 1   # another role's backends count too
    finally:
        for c in held:
            c.close()
        lab.sql("DROP DATABASE hiddendb", dbname="postgres")
        lab.sql("DROP ROLE wb_other; DROP ROLE wb_nopriv", dbname="postgres")


def test_track_all_time_shares_count_top_level_time_once(pg_any, tmp_db):
    lab = pg_any
    lab.createdb("nested")
    lab.sql("""
        CREATE FUNCTION busy(n int) RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE s bigint := 0; BEGIN
          FOR i IN 1..n LOOP
            SELECT s + count(*) INTO s FROM generate_series(1, 20000);
          END LOOP;
          RETURN s;
        END $$""", dbname="nested")
    dsn = lab.dsn_for("nested")
    s1, _ = collect(dsn, tmp_db)
    with psycopg.connect(**lab.superuser_kwargs("nested"), autocommit=True) as con:
        con.execute("SET pg_stat_statements.track = 'all'")
        for _ in range(5):
            con.execute("SELECT busy(10)")
    s2, _ = collect(dsn, tmp_db)
    with reading(tmp_db) as store:
        st = A.pg_top(store, s1, s2).statements
    nested = st[st.toplevel.astype("object") == False]  # noqa: E712 - a nullable boolean column
    assert len(nested) >= 1 and nested.time_share.isna().all()
    top = st[st.toplevel.astype("object") != False]  # noqa: E712
    assert abs(top.time_share.sum() - 1.0) < 1e-9
    call = st[st["query"].fillna("").str.startswith("SELECT busy(")]
    assert len(call) == 1 and int(call.calls.iloc[0]) == 5
    # the function's time includes its nested statements': its share is the bulk of top-level time
    assert call.time_share.iloc[0] > 0.5


PLANTED = """
CREATE TABLE t (id int PRIMARY KEY, x int, y int, z text);
INSERT INTO t SELECT g, g % 100, g % 7, md5(g::text) FROM generate_series(1, 2000) g;
CREATE UNIQUE INDEX t_id_u ON t (id);                  -- identical to the primary key: redundant
CREATE UNIQUE INDEX t_id_u2 ON t (id);                 -- and this one too
CREATE INDEX t_x_y ON t (x, y);
CREATE INDEX t_x ON t (x);                             -- prefix of t_x_y: redundant
CREATE INDEX t_x_y_again ON t (x, y);                  -- identical to the older t_x_y: redundant
CREATE INDEX t_x_inc ON t (x) INCLUDE (z);             -- carries z: not covered by t_x_y
CREATE INDEX t_z ON t (z);                             -- same keys as the unique t_z_u: redundant
CREATE UNIQUE INDEX t_z_u ON t (z);
CREATE INDEX t_z_pattern ON t (z text_pattern_ops);    -- another operator class: not a duplicate
CREATE INDEX t_z_c ON t (z COLLATE "C");               -- another collation: not a duplicate
CREATE INDEX t_y_x ON t (y, x);
CREATE INDEX t_y_desc ON t (y DESC);                   -- other sort order than t_y_x: not a duplicate
CREATE INDEX t_y_part ON t (y) WHERE x > 50;           -- partial: not a duplicate
CREATE INDEX t_x_hash ON t USING hash (x);             -- other access method
CREATE INDEX t_x_hash2 ON t USING hash (x);            -- identical hash index: redundant
CREATE TABLE never_analyzed (a int, b text) WITH (autovacuum_enabled = off);
INSERT INTO never_analyzed SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
ANALYZE t;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO workbench;  -- pg_stats shows only readable columns
"""


def test_planted_index_pairs_give_exactly_the_duplicates(pg_any, tmp_db):
    pg_any.createdb("planted")
    pg_any.sql(PLANTED, dbname="planted")
    sid, _ = collect(pg_any.dsn_for("planted"), tmp_db)
    with reading(tmp_db) as store:
        dup = A.duplicate_indexes(store, sid)
        pairs = dict(zip(dup["index"], dup["covered_by"], strict=True))
        assert set(pairs) == {"t_id_u", "t_id_u2", "t_x", "t_x_y_again", "t_z", "t_x_hash2"}
        assert pairs["t_id_u"] == pairs["t_id_u2"] == "t_pkey"
        assert pairs["t_x_y_again"] == "t_x_y" and pairs["t_z"] == "t_z_u" and pairs["t_x_hash2"] == "t_x_hash"
        # a fresh server: "never scanned" covers seconds of statistics, not a finding yet
        unused = A.unused_indexes(store, sid)
        assert "t_y_desc" in set(unused["index"]) and not unused.enough_history.any()
        assert (unused.stats_age_s < 3600).all() and not unused.on_replica.any()
        # never analysed: no pg_stats, so bloat is unknown rather than a made-up ~90%
        b = A.bloat(store, sid)
        na = b[b.table == "public.never_analyzed"]
        assert len(na) == 1 and na.estimate.iloc[0] == "unknown" and na.bloat_ratio.isna().all()
        assert (b[b.table == "public.t"].estimate == "estimated").any()
        # a handful of block reads: no hit-ratio verdict
        hits = A.hit_ratios(store, sid)["tables"]
        small = hits[hits.name == "never_analyzed"]
        assert not small.enough_reads.any() and not small.below_99pct.any()


def test_idle_in_transaction_root_blocker_heads_the_chain(pg_any, tmp_db):
    pg_any.createdb("chain")
    pg_any.sql("CREATE TABLE acct (id int PRIMARY KEY, v int); INSERT INTO acct VALUES (1, 0);"
                  " GRANT ALL ON acct TO workbench", dbname="chain")
    holder = psycopg.connect(pg_any.dsn_for("chain"))
    holder.execute("UPDATE acct SET v = v + 1 WHERE id = 1")      # then idle in transaction, holding the row
    holder_pid = holder.info.backend_pid
    waiter = psycopg.connect(pg_any.dsn_for("chain"), autocommit=True)
    waiter_pid = waiter.info.backend_pid
    t = threading.Thread(target=lambda: waiter.execute("UPDATE acct SET v = v + 10 WHERE id = 1"), daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while not pg_any.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                                (waiter_pid,), dbname="postgres"):
            assert time.monotonic() < deadline, "the waiter never blocked"
            time.sleep(0.05)
        sid, _ = collect(pg_any.dsn_for("chain"), tmp_db)
    finally:
        holder.rollback()
        t.join(10)
        holder.close()
        waiter.close()
    with reading(tmp_db) as store:
        ses = A.sessions(store, sid)
        act = store.query_df("SELECT pid, blocked_by FROM pg_activity WHERE snapshot_id = ?", [sid])
    root = ses.iloc[0]
    assert int(root.pid) == holder_pid and root.is_root_blocker and root.state == "idle in transaction"
    assert int(root.blocking) == 1 and not root.blocked
    w = ses[ses.pid == waiter_pid].iloc[0]
    assert w.blocked and int(w.root_of) == holder_pid
    # pg_blocking_pids() ran only for the session waiting on a lock
    called = act[act.blocked_by.notna()]
    assert list(called.pid) == [waiter_pid]


def test_access_exclusive_table_is_skipped_and_named(pg_any, tmp_db):
    pg_any.createdb("locked")
    pg_any.sql("CREATE TABLE busy (id int PRIMARY KEY); CREATE TABLE calm (id int)", dbname="locked")
    holder = psycopg.connect(**pg_any.superuser_kwargs("locked"))
    try:
        holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        sid, snap = collect(pg_any.dsn_for("locked"), tmp_db, lock_timeout_ms=300)
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert elapsed < 10
    assert any("public.busy" in n and "ACCESS EXCLUSIVE" in n for n in snap.meta["notes"])
    with reading(tmp_db) as store:
        notes = store.con.execute("SELECT notes FROM pg_snapshots WHERE snapshot_id = ?", [sid]).fetchone()[0]
        sizes = dict(store.con.execute("SELECT relname, total_bytes FROM pg_tables WHERE snapshot_id = ?",
                                       [sid]).fetchall())
    assert any("public.busy" in n for n in notes)
    assert sizes["busy"] is None and sizes["calm"] is not None


def test_failed_snapshot_in_a_loop_is_logged_and_the_loop_goes_on(pg_server, tmp_db, capsys):
    lab = pg_server
    lab.sql("CREATE ROLE wb_flaky LOGIN PASSWORD 'flaky-pw-1'; GRANT pg_monitor TO wb_flaky", dbname="postgres")
    dsn = role_dsn(lab, "wb_flaky", "flaky-pw-1", lab.dbname)
    seen = threading.Event()

    def flip() -> None:   # after the first snapshot's session ends, refuse logins for the second one
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not seen.is_set():
            if lab.sql("SELECT 1 FROM pg_stat_activity WHERE usename = 'wb_flaky'", dbname="postgres"):
                seen.set()
            time.sleep(0.02)
        while lab.sql("SELECT 1 FROM pg_stat_activity WHERE usename = 'wb_flaky'", dbname="postgres"):
            time.sleep(0.02)
        lab.sql("ALTER ROLE wb_flaky NOLOGIN", dbname="postgres")
        time.sleep(2.4)
        lab.sql("ALTER ROLE wb_flaky LOGIN", dbname="postgres")

    t = threading.Thread(target=flip, daemon=True)
    t.start()
    try:
        code, _, err = run_cli(capsys, "--db", str(tmp_db), "collect", "postgres", "--dsn", dsn,
                               "--every", "2s", "--count", "3")
    finally:
        t.join(10)
        lab.sql("DROP OWNED BY wb_flaky; DROP ROLE wb_flaky", dbname="postgres")
    assert code == 1, err
    assert "snapshot 2 of 3 failed" in err and "1 of 3 snapshots failed" in err
    assert "flaky-pw-1" not in err
    with reading(tmp_db) as store:
        assert store.con.execute("SELECT count(*) FROM pg_snapshots").fetchone()[0] == 2


def test_collector_statements_are_left_out_and_shown_apart(pg_any, tmp_db, capsys):
    pg_any.createdb("own")
    pg_any.sql("CREATE TABLE items (id int PRIMARY KEY, n int); INSERT INTO items SELECT g, 0 FROM"
               " generate_series(1, 100) g; GRANT ALL ON items TO workbench", dbname="own")
    dsn = pg_any.dsn_for("own")
    collect(dsn, tmp_db)
    with psycopg.connect(dsn, autocommit=True) as app:
        for i in range(20):
            app.execute("UPDATE items SET n = n + 1 WHERE id = %s", (i + 1,))
    collect(dsn, tmp_db)
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "pg", "top", "--limit", "500", "--format", "json")
    assert code == 0, err
    statements = json.loads(out)["statements"]
    assert statements and not any(OWN_MARKER in (s["query"] or "") for s in statements)
    upd = [s for s in statements if (s["query"] or "").startswith("UPDATE items")]
    assert len(upd) == 1 and upd[0]["calls"] == 20
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "pg", "top", "--limit", "500", "--include-own",
                             "--format", "json")
    own = [s for s in json.loads(out)["statements"] if OWN_MARKER in (s["query"] or "")]
    assert len(own) >= 5
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "pg", "top")
    assert code == 0 and "left out: the collector's own" in err


def test_every_collector_statement_carries_the_marker():
    from workbench.sources import pg_sql

    texts = [v for k, v in vars(pg_sql).items() if k.isupper() and isinstance(v, str) and "SELECT" in v]
    texts += [pg_sql.tables(120000), pg_sql.tables(180000)]
    assert len(texts) >= 15
    for t in texts:
        assert t.lstrip().startswith("SELECT " + OWN_MARKER), t[:80]
    assert "n_ins_since_vacuum" not in pg_sql.tables(120000).replace("AS n_ins_since_vacuum", "")
