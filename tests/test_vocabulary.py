"""One vocabulary: a k6 sample's `endpoint`, a PostgreSQL snapshot's `server_key`, a Prometheus series'
label text and a run's span are each defined once and read the same everywhere."""

from __future__ import annotations

import pandas as pd

from workbench.analysis import compare, load_test, runs
from workbench.schema import ENDPOINT_SQL, SERVER_KEY_SQL
from workbench.sources.postgres import server_key
from workbench.sources.prometheus import labels_text
from workbench.store import Store, migrations


def test_the_migration_uses_the_expressions_the_code_uses():
    sql = {name: text for v, name, text in migrations() if v == 90}["vocabulary"]
    assert f"{ENDPOINT_SQL} AS endpoint" in sql
    assert f"SET server_key = {SERVER_KEY_SQL}" in sql


def test_a_store_from_before_gains_endpoint_and_server_key(tmp_db, store_before):
    con = store_before(90)
    metas = [{"system_identifier": "7301", "host": "db1", "port": 5432, "dbname": "shop"},
             {"system_identifier": None, "host": "/run/postgresql", "port": 5433, "dbname": "app"}]
    for m in metas:
        con.execute("INSERT INTO pg_snapshots (ingest_id, taken_at, system_identifier, host, port, dbname)"
                    " VALUES (1, now(), ?, ?, ?, ?)", [m["system_identifier"], m["host"], m["port"], m["dbname"]])
    for name, url in (("GET /a", "http://x/a?id=1"), (None, "http://x/b"), (None, None)):
        con.execute("INSERT INTO k6_samples (run, ingest_id, metric, ts, value, name, url)"
                    " VALUES ('r', 1, 'http_req_duration', now(), 1.0, ?, ?)", [name, url])
    con.close()
    with Store.open(tmp_db) as s:
        keys = [r[0] for r in s.con.execute("SELECT server_key FROM pg_snapshots ORDER BY snapshot_id").fetchall()]
        assert keys == [server_key(m) for m in metas] == ["7301|db1:5432/shop", "?|/run/postgresql:5433/app"]
        eps = [r[0] for r in s.con.execute("SELECT endpoint FROM k6_points ORDER BY endpoint").fetchall()]
        assert eps == ["(unnamed)", "GET /a", "http://x/b"]


def test_reports_and_compare_group_requests_alike(samples_store):
    """The load-test report and compare see the same endpoints, unnamed requests included."""
    with Store.open(samples_store, read_only=True) as s:
        run = runs.latest(s.con)
        table = set(load_test.endpoint_table(s.con, run)["endpoint"]) - {"all"}
        arm = compare.load_arm(s.con, [run], compare.Options())
        assert set(arm.lat["endpoint"]) == table
        first, last = runs.span(s.con, run)
        assert runs.duration_s(s.con, run) == (last - first).total_seconds() > 0
        assert runs.overlapping(s.con, first, first) == [r for r in runs.known(s.con)
                                                         if runs.span(s.con, r)[0] <= first <= runs.span(s.con, r)[1]]


def test_one_label_text_for_series_and_csv(samples_store):
    from workbench.analysis import prometheus as prom

    with Store.open(samples_store, read_only=True) as s:
        name, stored, keys, values = s.con.execute(
            "SELECT name, labels_text, map_keys(labels), map_values(labels) FROM prom_series LIMIT 1").fetchone()
        assert labels_text(dict(zip(keys, values, strict=True))) == stored
        csv = pd.DataFrame(prom.series_csv_rows(s.con, name))
        assert stored in set(csv["labels"])
