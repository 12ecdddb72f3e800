"""A PostgreSQL 12 catalog (tests/data/pg12/, derived from the PostgreSQL 12 source) over a real server:
the collector gates columns that 12 lacks on server_version_num, and the snapshot succeeds."""

from __future__ import annotations

import json
from pathlib import Path

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
        sel = ", ".join(f"{c}::text AS {c}" if c in anyarray else c for c in cols)
        stmts.append(f"CREATE VIEW pg12.{view} AS SELECT {sel} FROM pg_catalog.{view}")
        stmts.append(f"GRANT SELECT ON pg12.{view} TO PUBLIC")
    stmts.append(f"""CREATE FUNCTION pg12.current_setting(text) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT CASE $1 WHEN 'server_version_num' THEN '{PG12["server_version_num"]}'
                       WHEN 'server_version' THEN '{PG12["server_version"]}'
                       ELSE pg_catalog.current_setting($1) END $$""")
    lab.sql("; ".join(stmts), dbname=dbname)


def test_fixture_lacks_what_12_lacks():
    assert "n_ins_since_vacuum" not in PG12["views"]["pg_stat_user_tables"]
    for col in PG12["added_later"]:
        view, name = col.split(".")
        assert name not in PG12["views"][view]


def test_collect_against_a_postgresql_12_catalog(pg_server, tmp_db):
    pg_server.createdb("v12")
    pg_server.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');"
                  " GRANT SELECT ON t TO workbench", dbname="v12")
    shadow_schema(pg_server, "v12")
    dsn = pg_server.dsn_for("v12") + "&options=-c%20search_path%3Dpg12%2Cpg_catalog%2Cpublic"
    sid, snap = collect(dsn, tmp_db)
    assert snap.meta["server_version_num"] == PG12["server_version_num"]
    with reading(tmp_db) as store:
        t = store.query_df("SELECT relname, n_ins_since_vacuum, n_live_tup FROM pg_tables WHERE snapshot_id = ?",
                           [sid]).set_index("relname")
        ver = store.con.execute("SELECT server_version FROM pg_snapshots").fetchone()[0]
    assert ver == PG12["server_version"]
    assert "t" in t.index and t["n_ins_since_vacuum"].isna().all()
