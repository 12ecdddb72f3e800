"""`workbench prune`: old snapshots go, referenced texts and needed full snapshots stay."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli

from workbench.sources.postgres import collect
from workbench.store import reading, writing

pytestmark = pytest.mark.service


def test_prune_keeps_what_is_still_needed(pg_server, tmp_db, capsys):
    pg_server.createdb("prune")
    dsn = pg_server.dsn_for("prune")
    pg_server.sql("CREATE TABLE k_prune (id int PRIMARY KEY)", dbname="prune")
    pg_server.sql("SELECT count(*) FROM k_prune WHERE id > 4242", dbname="prune")   # its own queryid (table)
    s1, _ = collect(dsn, tmp_db)
    s2, _ = collect(dsn, tmp_db)
    pg_server.sql("SELECT pg_stat_statements_reset()")
    s3, _ = collect(dsn, tmp_db)
    s4, snap = collect(dsn, tmp_db, slow_every_s=3600)
    assert snap.meta["kind"] == "fast"
    with writing(tmp_db) as store:   # plant their ages: a live server cannot take last month's snapshots
        day = "date_trunc('day', now() - INTERVAL 40 DAY)"
        for sid, at in ((s1, f"{day} - INTERVAL 23 HOUR"), (s2, f"{day} + INTERVAL 1 HOUR"),
                        (s3, f"{day} + INTERVAL 2 HOUR")):
            store.con.execute(f"UPDATE pg_snapshots SET taken_at = {at} WHERE snapshot_id = ?", [sid])
        texts = store.query_df("SELECT query FROM pg_query_texts")["query"]
        assert texts.str.contains("FROM k_prune WHERE").any()
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "prune", "--older-than", "30d", "--keep", "daily",
                             "--dry-run", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["snapshots"]["pg_snapshots"] == 1 and doc["kept"]["pg_snapshots"] == 2 and doc["dry_run"]
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "prune", "--older-than", "30d", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    # s1 and s2 go; s3 is old but the fast s4 takes its sizes and definitions from it
    assert doc["snapshots"]["pg_snapshots"] == 2 and doc["kept"]["pg_snapshots"] == 1
    with reading(tmp_db) as store:
        left = [r[0] for r in store.con.execute("SELECT snapshot_id FROM pg_snapshots ORDER BY 1").fetchall()]
        assert left == [s3, s4]
        for t in ("pg_statements", "pg_tables", "pg_indexes", "pg_activity", "pg_settings", "pg_databases"):
            ids = {r[0] for r in store.con.execute(f"SELECT DISTINCT snapshot_id FROM {t}").fetchall()}
            assert ids <= {s3, s4} and s3 in ids, t
        texts = store.query_df("SELECT queryid, query FROM pg_query_texts")
        assert not texts["query"].str.contains("FROM k_prune WHERE").any()   # no kept snapshot has it
        used = {r[0] for r in store.con.execute("SELECT DISTINCT queryid FROM pg_statements"
                                                " WHERE queryid IS NOT NULL").fetchall()}
        assert used and used <= set(texts.queryid)   # every text still referenced stayed


def test_prune_refuses_a_missing_store(tmp_db, capsys):
    code, _, err = run_cli(capsys, "--db", str(tmp_db), "prune", "--older-than", "30d")
    assert code == 2 and "nothing to prune" in err and not tmp_db.exists()
