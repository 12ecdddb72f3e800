"""`workbench pg health`: pgHero's checks on a real server with planted problems."""

from __future__ import annotations

import json

import psycopg
import pytest
from cli_runner import run_cli

from workbench.analysis.pg_health import Thresholds, pg_health
from workbench.sources.postgres import collect
from workbench.store import reading

pytestmark = pytest.mark.service

PLANTED = """
CREATE TABLE orders (id serial PRIMARY KEY, code int, note text);
INSERT INTO orders (code, note) SELECT g % 10, md5(g::text) FROM generate_series(1, 1000) g;
CREATE INDEX orders_code ON orders (code);
CREATE INDEX orders_code_id ON orders (code, id);          -- makes orders_code redundant
SELECT setval('orders_id_seq', 2147000000);                 -- an int4 serial 99.97% used
CREATE TABLE big (id bigserial PRIMARY KEY, v text);        -- a bigint sequence: far from its maximum
GRANT SELECT ON ALL TABLES IN SCHEMA public TO workbench;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO workbench;
ANALYZE;
"""


def test_health_checks_on_planted_problems(pg_server, tmp_db, capsys):
    pg_server.createdb("health")
    pg_server.sql(PLANTED, dbname="health")
    with pytest.raises(psycopg.errors.UniqueViolation):   # a unique index that cannot be built concurrently stays INVALID
        pg_server.sql("CREATE UNIQUE INDEX CONCURRENTLY orders_code_u ON orders (code)", dbname="health")
    dsn = pg_server.dsn_for("health")
    first, _ = collect(dsn, tmp_db)
    pg_server.sql("INSERT INTO big (v) SELECT repeat(md5(g::text), 20) FROM generate_series(1, 5000) g",
                  dbname="health")
    with psycopg.connect(dsn, application_name="billing"):   # a client the sources check names
        sid, _ = collect(dsn, tmp_db)
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "pg", "health", "--format", "json")
    assert code == 1, err   # a critical finding: the sequence
    doc = json.loads(out)
    assert set(doc) == {"server", "snapshot", "findings"} and doc["snapshot"] == sid
    assert doc["server"] == f"127.0.0.1:{pg_server.port}/health"
    for f in doc["findings"]:
        assert set(f) == {"check", "item", "severity", "value", "threshold", "evidence", "recommendation"}
    by = {}
    for f in doc["findings"]:
        by.setdefault(f["check"], []).append(f)
    dup = by["duplicate_index"]
    assert [(f["item"], f["evidence"]["covered_by"]) for f in dup] == [("public.orders_code", "public.orders_code_id")]
    assert [f["item"] for f in by["invalid_index"]] == ["public.orders_code_u"]
    seq = by["sequence_danger"]
    assert [f["item"] for f in seq] == ["public.orders_id_seq"] and seq[0]["severity"] == "critical"
    assert seq[0]["evidence"]["column_type"] == "integer" and seq[0]["value"] > 0.999
    assert doc["findings"][0]["severity"] == "critical"
    growth = {f["item"]: f for f in by.get("growth", [])}
    assert "public.big" in growth and growth["public.big"]["value"] > 1_000_000
    assert "xid_wraparound" not in by and "unused_index" not in by   # young server, default thresholds
    src = [f for f in by["connection_sources"] if f["evidence"]["application_name"] == "billing"]
    assert len(src) == 1 and src[0]["value"] == 1 and src[0]["item"] == "billing from 127.0.0.1 as workbench"
    with reading(tmp_db) as store:
        # real ages against a threshold they cross: the check reads pg_database.datfrozenxid
        low = pg_health(store, sid, Thresholds(xid_age_ratio=1e-9))
        ages = store.query_df("SELECT datname, xid_age FROM pg_databases WHERE snapshot_id = ?", [sid])
    wrap = {f["item"]: f for f in low.findings if f["check"] == "xid_wraparound"}
    assert set(wrap) == set(ages[ages.xid_age > 0].datname)
    assert all(f["evidence"]["autovacuum_freeze_max_age"] == 200_000_000 for f in wrap.values())
    code, out, err = run_cli(capsys, "--db", str(tmp_db), "pg", "health", "--snapshot", str(first),
                             "--fail-on", "never")
    assert code == 0 and f"snapshot {first}:" in out and "finding(s)" in out
