"""The bottleneck scenario on real servers: pgbench plus a shop API (PostgreSQL + a cold Redis cache) under
a short k6 run, snapshots every 10 s; then the recommended index is created and the workload runs again.

Budget: ~90 s (two k6 runs of 30 s and 15 s, a 500k-row table, pgbench in the background)."""

from __future__ import annotations

import threading

import psycopg
import pytest

from workbench.analysis.advisor import advise
from workbench.analysis.bottlenecks import find_bottlenecks, resolve_scope
from workbench.lab import shop
from workbench.lab.common import free_port
from workbench.lab.k6 import run_k6
from workbench.sources import postgres as pgsrc
from workbench.sources import redis as rsrc
from workbench.sources.k6 import ingest_files
from workbench.store import Store, reading

pytestmark = [pytest.mark.service, pytest.mark.slow]
SNAPSHOT_EVERY_S = 10.0


def _run(run: str, db, dsn: str, redis_url: str, base_url: str, lab, tmp_path, duration_s: int) -> None:
    """One k6 run with pgbench in the background and PostgreSQL + Redis snapshots every 10 s around it."""
    stop = threading.Event()

    def snapshot() -> None:
        snap = pgsrc.take_snapshot(dsn)
        with Store.open(db) as store:
            pgsrc.write_snapshot(store, snap, label=run, source=dsn)
            rsrc.collect(store, redis_url, label=run)

    def sampler() -> None:
        while not stop.wait(SNAPSHOT_EVERY_S):
            snapshot()

    snapshot()
    bench = threading.Thread(target=lab.pgbench, args=("-c", "2", "-T", str(duration_s), "-R", "10"),
                             kwargs={"dbname": "shop"}, daemon=True)
    thread = threading.Thread(target=sampler, daemon=True)
    bench.start()
    thread.start()
    files = run_k6(base_url, tmp_path / run, stem=run, script=shop.k6_script(), summary_export=False,
                   env={"DURATION_S": str(duration_s)})
    stop.set()
    thread.join()
    bench.join()
    snapshot()
    with Store.open(db) as store:
        ingest_files(store, [files["json"]], run, label=run)


@pytest.fixture(scope="module")
def scenario(pg_server, tmp_path_factory):
    from workbench.lab.redis import RedisServer

    tmp = tmp_path_factory.mktemp("bneck")
    redis_srv = RedisServer.start(tmp / "redis")
    pg_server.createdb("shop")
    dsn = pg_server.dsn_for("shop")
    pg_server.pgbench("-i", "-s", "1", "-q", dbname="shop")
    shop.setup(dsn)
    pg_server.sql("CREATE EXTENSION hypopg", dbname="shop")   # the DBA's step; the advisor never does it
    app = shop.ShopApp(dsn, redis_srv.url)
    port = free_port()
    app.serve(port)
    db = tmp / "wb.duckdb"
    try:
        _run("before", db, dsn, redis_srv.url, f"http://127.0.0.1:{port}", pg_server, tmp, 30)
        with reading(db) as store:
            before = find_bottlenecks(store, resolve_scope(store, run="before"))
            plan = advise(store, dsn)
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(plan.indexes[0].create_sql().rstrip(";"))   # the user applies the plan's first index
        _run("after", db, dsn, redis_srv.url, f"http://127.0.0.1:{port}", pg_server, tmp, 15)
        with reading(db) as store:
            after = find_bottlenecks(store, resolve_scope(store, run="after"))
        for name, rep in (("before", before), ("after", after)):   # the figures, for the record (-s shows them)
            print(f"\n{name}:", *[f"\n  {f.score:5.1f} {f.component}/{f.check} {f.item[:70]} value={f.value:.4g}"
                                  for f in rep.findings[:6]])
        ix = plan.indexes[0]
        print(f"\nadvisor: {ix.table} {ix.columns} saving {ix.saving:.1%} cost {ix.cost_before:.0f} -> "
              f"{ix.cost_after:.0f}, size {ix.size_bytes / 1e6:.1f} MB")
        yield {"before": before, "after": after, "plan": plan, "dsn": dsn}
    finally:
        app.shutdown()
        redis_srv.stop()


def test_top_database_finding_is_the_unindexed_filter_with_its_index(scenario):
    top = scenario["before"].top("database")
    assert "FROM items WHERE category_id" in top.item, top.to_dict()
    cands = top.evidence["index_candidates"]
    assert {"table": "public.items", "columns": ["category_id"]} in cands
    assert "public.items (category_id)" in top.recommendation


def test_advisor_verifies_the_index_with_hypopg(scenario):
    plan = scenario["plan"]
    assert plan.verified and plan.hypopg_version, plan.unverified_reason
    ix = plan.indexes[0]
    assert (ix.table, ix.columns) == ("public.items", ("category_id",))
    assert ix.saving >= plan.min_savings
    assert ix.size_bytes > 0 and "Seq Scan" in ix.plan_before and "btree_items_category_id" in ix.plan_after
    sql = plan.to_sql()
    assert "CREATE INDEX CONCURRENTLY items_category_id_idx ON public.items (category_id);" in sql


def test_top_cache_finding_is_the_hit_ratio(scenario):
    top = scenario["before"].top("cache")
    assert top.check == "hit_ratio" and "hit ratio" in top.item
    assert top.evidence["hit_ratio"] < 0.8


def test_n_plus_one_is_tied_to_its_endpoint(scenario):
    n1 = [f for f in scenario["before"].findings if f.check == "n_plus_one"]
    assert n1, [f.to_dict() for f in scenario["before"].findings]
    f = n1[0]
    assert "FROM products WHERE id" in f.item and f.evidence["endpoint"] == "orders"
    assert 8 <= f.evidence["calls_per_request"] <= 12
    assert not any("FROM items" in g.item for g in n1)


def test_after_the_index_the_finding_drops_or_halves(scenario):
    before = scenario["before"].top("database")
    again = [f for f in scenario["after"].findings[:5] if f.item == before.item]
    assert not again or again[0].score < before.score / 2, (before.score, again[0].to_dict())
