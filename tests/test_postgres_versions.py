"""A PostgreSQL 12 catalog (tests/data/pg12/, derived from the PostgreSQL 12.5 source by
tests/data/pg12/derive.py) over a real server, with the real pg_stat_statements 1.7: the collector gates
columns that 12 lacks on server_version_num, maps 1.7's columns, and the snapshot succeeds."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from workbench.sources.postgres import collect
from workbench.store import reading

pytestmark = pytest.mark.service
PG12 = json.loads((Path(__file__).parent / "data" / "pg12" / "catalog.json").read_text())


def shadow_schema(lab, dbname: str) -> None:
    """Schema pg12: each catalog view with only PostgreSQL 12's columns, and a current_setting() that
    reports version 12 (everything else delegates to pg_catalog)."""
    stmts = ["CREATE SCHEMA pg12", "GRANT USAGE ON SCHEMA pg12 TO PUBLIC"]
    anyarray = {"most_common_vals", "histogram_bounds", "most_common_elems"}   # a view cannot hold anyarray
    for view, cols in PG12["views"].items():
        if view == "pg_stat_statements":   # the real extension at 1.7 (see pgss_1_7)
            continue
        sel = ", ".join(f"{c}::text AS {c}" if c in anyarray else c for c in cols)
        stmts.append(f"CREATE VIEW pg12.{view} AS SELECT {sel} FROM pg_catalog.{view}")
        stmts.append(f"GRANT SELECT ON pg12.{view} TO PUBLIC")
    stmts.append(f"""CREATE FUNCTION pg12.current_setting(text) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT CASE $1 WHEN 'server_version_num' THEN '{PG12["server_version_num"]}'
                       WHEN 'server_version' THEN '{PG12["server_version"]}'
                       ELSE pg_catalog.current_setting($1) END $$""")
    lab.sql("; ".join(stmts), dbname=dbname)


def pgss_1_7(lab, dbname: str) -> None:
    """pg_stat_statements at PostgreSQL 12's default version, from the scripts PostgreSQL 15 still ships."""
    lab.sql(f"DROP EXTENSION IF EXISTS pg_stat_statements; CREATE EXTENSION pg_stat_statements VERSION "
            f"'{PG12['pgss_version']}'", dbname=dbname)


def test_fixture_lacks_what_12_lacks():
    assert "n_ins_since_vacuum" not in PG12["views"]["pg_stat_user_tables"]
    for col in PG12["added_later"]:
        view, name = col.split(".")
        assert name not in PG12["views"][view]


def test_pgss_columns_agree_with_the_extension_fixture():
    """12's default pg_stat_statements (1.7), from the 12.5 tree, is the v1.7 fixture the normaliser's
    unit tests use (derived from the scripts Debian's PostgreSQL 15 ships)."""
    v17 = json.loads((Path(__file__).parent / "data" / "pgss" / "v1.7.json").read_text())
    assert PG12["pgss_version"] == v17["extversion"] == "1.7"
    assert PG12["views"]["pg_stat_statements"] == [name for name, _ in v17["columns"]]


def test_collect_against_a_postgresql_12_catalog(pg_server, tmp_db):
    pg_server.createdb("v12")
    pg_server.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');"
                  " GRANT SELECT ON t TO workbench", dbname="v12")
    shadow_schema(pg_server, "v12")
    pgss_1_7(pg_server, "v12")
    dsn = pg_server.dsn_for("v12") + "&options=-c%20search_path%3Dpg12%2Cpg_catalog%2Cpublic"
    with psycopg.connect(pg_server.dsn_for("v12"), autocommit=True) as con:
        for _ in range(3):
            con.execute("SELECT v FROM t WHERE id = 1")
    sid, snap = collect(dsn, tmp_db)
    assert snap.meta["server_version_num"] == PG12["server_version_num"]
    assert snap.meta["pgss_version"] == PG12["pgss_version"]
    assert [c for c in snap.meta["pgss_columns"] if c != "query"] == \
        [c for c in PG12["views"]["pg_stat_statements"] if c != "query"]
    assert not any("not kept" in w for w in snap.warnings)   # every 1.7 column is mapped
    with reading(tmp_db) as store:
        t = store.query_df("SELECT relname, n_ins_since_vacuum, n_live_tup FROM pg_tables WHERE snapshot_id = ?",
                           [sid]).set_index("relname")
        ver = store.con.execute("SELECT server_version, pgss_dealloc FROM pg_snapshots").fetchone()
        st = store.query_df("SELECT s.calls, s.total_exec_time_ms, s.shared_blk_read_time_ms, s.toplevel,"
                            " s.wal_bytes FROM pg_statements s JOIN pg_query_texts q USING (queryid)"
                            " WHERE s.snapshot_id = ? AND q.query LIKE 'SELECT v FROM t WHERE id = $1'", [sid])
    assert ver == (PG12["server_version"], None)   # 1.7 has no pg_stat_statements_info
    assert "t" in t.index and t["n_ins_since_vacuum"].isna().all()
    assert len(st) == 1 and st.calls[0] == 3 and st.total_exec_time_ms[0] > 0   # total_time, renamed
    assert st.shared_blk_read_time_ms.notna().all() and st.toplevel.isna().all() and st.wal_bytes.isna().all()
