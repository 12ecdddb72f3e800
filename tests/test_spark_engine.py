"""`--engine spark`: Spark local mode over the Parquet layout gives the numbers DuckDB gives over the store
(trend statistics to 1e-9 relative, counts exactly), on the bundled runs and on a 10-million-point run
from four instances; Spark reads only the asked-for runs' partitions."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from fixtures.parquet import assert_same

from workbench.analysis import compare as cmp
from workbench.analysis import postgres as pg
from workbench.analysis.k6_summary import k6_summary
from workbench.cli.groups import main as cli
from workbench.dataset import open_dataset
from workbench.engines import spark as sp
from workbench.store import Store

STATS = "avg,min,med,max,p(90),p(95),p(99),p(99.9),count"


def _without_engine(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "engine"}


def test_summary_and_compare_on_the_bundled_runs(samples_store, samples_dataset, spark):
    con = open_dataset(str(samples_dataset))     # what --parquet DEST reads
    points = sp.SparkPoints(str(samples_dataset), spark)
    with Store.open(samples_store, read_only=True) as store:
        for run in ("lab-pre", "lab-post"):
            ours = k6_summary(con, run, STATS, points)
            requests = store.con.execute("SELECT count(*) FROM k6_samples WHERE run = ? AND metric = "
                                         "'http_req_duration'", [run]).fetchone()[0]
            assert ours["metrics"]["http_req_duration"]["count"] == requests > 1000
            assert_same(ours, k6_summary(store.con, run, STATS))
        theirs = cmp.compare_runs(store.con, "lab-pre", "lab-post")
    ours = sp.compare_runs(str(samples_dataset), con, "lab-pre", "lab-post", spark=spark)
    assert ours["engine"] == "spark" and ours["results"]
    assert_same(_without_engine(ours), theirs)


def test_cli_engine_spark_reads_the_attached_dataset(samples_store, samples_dataset, spark, tmp_path):
    fleet = tmp_path / "fleet.duckdb"
    assert CliRunner().invoke(cli, ["--db", str(fleet), "attach", str(samples_dataset)]).exit_code == 0
    res = CliRunner().invoke(cli, ["--db", str(fleet), "k6", "summary", "--run", "lab-post", "--engine", "spark",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    direct = CliRunner().invoke(cli, ["--db", str(samples_store), "k6", "summary", "--run", "lab-post", "--format",
                                      "json"])
    assert_same(json.loads(res.output), json.loads(direct.output))


@pytest.mark.slow
@pytest.mark.timeout(1800)   # ~10 min on a loaded 2-core machine (building and exporting 10M points included)
def test_ten_million_points_from_four_instances(big_store, big_dataset, spark):
    con = open_dataset(str(big_dataset))
    with Store.open(big_store, read_only=True) as store:
        n, instances = store.con.execute("SELECT count(*), count(DISTINCT ingest_id) FROM k6_samples "
                                         "WHERE run = 'big'").fetchone()
        assert n >= 10_000_000 and instances == 4
        ours = k6_summary(con, "big", STATS, sp.SparkPoints(str(big_dataset), spark))
        assert_same(ours, k6_summary(store.con, "big", STATS))
        assert ours["metrics"]["http_reqs"]["count"] == store.con.execute(
            "SELECT count(*) FROM k6_samples WHERE run = 'big' AND metric = 'http_reqs'").fetchone()[0]
        theirs = cmp.compare_runs(store.con, "lab-post", "big")
    assert_same(_without_engine(sp.compare_runs(str(big_dataset), con, "lab-post", "big", spark=spark)), theirs)


def test_spark_reads_only_the_asked_for_runs(samples_dataset, spark):
    df = sp.read_table(spark, str(samples_dataset), "k6_samples")
    q = df.where(df.run == "lab-pre").groupBy("metric").count()
    plan = q._jdf.queryExecution().executedPlan().toString()
    filters = re.search(r"PartitionFilters: \[([^\]]*)\]", plan)
    assert filters and "lab-pre" in filters.group(1), plan
    q.collect()
    scans = []

    def walk(node) -> None:   # the executed plan's file scans and their metrics (through AQE's wrappers)
        name = node.nodeName()
        if name.startswith("Scan parquet"):
            scans.append({k: node.metrics().apply(k).value() for k in ("numFiles", "numPartitions")})
        if name.startswith("AdaptiveSparkPlan"):
            walk(node.executedPlan())
        if "QueryStage" in name:
            walk(node.plan())
        children = node.children()
        for i in range(children.size()):
            walk(children.apply(i))

    walk(q._jdf.queryExecution().executedPlan())
    all_partitions = {p.parent for p in samples_dataset.glob("k6_samples/run=*/metric=*/*.parquet")}
    before_partitions = {p for p in all_partitions if p.parent.name == "run=lab-pre"}
    assert scans and scans[0]["numPartitions"] == len(before_partitions) < len(all_partitions)


def test_statement_deltas_match_pg_top(samples_store, samples_dataset, spark):
    with Store.open(samples_store, read_only=True) as store:
        top = pg.pg_top(store)
    theirs = top.statements
    ours = sp.statement_deltas(str(samples_dataset), top.pair.from_id, top.pair.to_id, spark)
    assert len(ours) == len(theirs) > 0
    by_key = {(r["queryid"], r["dbid"], r["userid"]): r for r in ours}
    for _, row in theirs.iterrows():
        mine = by_key[(row["queryid"], row["dbid"], row["userid"])]
        assert mine["calls"] == row["calls"]
        assert mine["total_exec_time_ms"] == pytest.approx(row["total_exec_time_ms"], rel=1e-9)
