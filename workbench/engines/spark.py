"""Spark as the distributed engine: the heavy aggregations over the Parquet layout with Spark SQL.

- `SparkPoints`: k6 summary per metric and submetric (one conditional-aggregation pass per run; Spark's
  exact `percentile` interpolates linearly between closest ranks, as k6 and DuckDB's `quantile_cont`).
- `compare_runs`: Spark scans the dataset (partition pruning to the asked-for runs), cuts each run to its
  steady state and hands the request rows over as Arrow; the per-run estimates, random-effects model,
  verdicts and gate are the ones `workbench compare` uses (`workbench.gate`, `workbench.analysis.compare`).
- `statement_deltas`: pg_stat_statements deltas between two snapshots.

Small metadata (runs, metric types, summaries, targets) is read through DuckDB views over the same
dataset. pyspark is the optional extra `perf-workbench[spark]`; Spark runs in local mode unless
`WORKBENCH_SPARK_MASTER` (or an active session) says otherwise.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from workbench.analysis import runs as k6runs
from workbench.errors import WorkbenchError
from workbench.schema import ENDPOINT_SQL
from workbench.sources.k6 import COMMON_TAGS

if TYPE_CHECKING:
    import duckdb
    from pyspark.sql import DataFrame, SparkSession

_SESSION: SparkSession | None = None
_STAT_Q = re.compile(r"^p\((\d+(?:\.\d+)?)\)$")


def session() -> SparkSession:
    """The Spark session (created once per process: local[*] unless WORKBENCH_SPARK_MASTER is set)."""
    global _SESSION
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise WorkbenchError("--engine spark needs pyspark: pip install 'perf-workbench[spark]' (and Java 17)") from e
    if _SESSION is not None and _SESSION.sparkContext._jsc is not None:
        return _SESSION
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")   # local mode: the driver listens on loopback only
    active = SparkSession.getActiveSession()
    if active is not None:
        _SESSION = active
    else:
        _SESSION = (SparkSession.builder.appName("workbench")
                    .master(os.environ.get("WORKBENCH_SPARK_MASTER", "local[2]"))
                    .config("spark.sql.session.timeZone", "UTC")
                    .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
                    .config("spark.sql.shuffle.partitions", os.environ.get("WORKBENCH_SPARK_PARTITIONS", "4"))
                    .config("spark.ui.enabled", "false")
                    .config("spark.ui.showConsoleProgress", "false")
                    .config("spark.driver.memory", os.environ.get("WORKBENCH_SPARK_DRIVER_MEMORY", "2g"))
                    .getOrCreate())
        _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


def read_table(spark: SparkSession, dest: str, table: str) -> DataFrame:
    """TABLE of the dataset at DEST as a Spark DataFrame (partition columns discovered, kept as strings)."""
    path = dest.rstrip("/") + "/" + table
    if path.startswith("s3://"):
        path = "s3a://" + path[5:]
    return spark.read.option("basePath", path).parquet(path)


class SparkPoints:
    """k6 points of the dataset at DEST, aggregated by Spark (the `k6_summary` points engine)."""

    def __init__(self, dest: str, spark: SparkSession | None = None):
        self.dest = dest
        self.spark = spark or session()
        self.samples = read_table(self.spark, dest, "k6_samples")

    def _run(self, run: str) -> DataFrame:
        from pyspark.sql import functions as F

        return self.samples.where(F.col("run") == F.lit(run))

    def has_points(self, run: str) -> bool:
        return bool(self._run(run).limit(1).count())

    def span_ms(self, run: str) -> float | None:
        from pyspark.sql import functions as F

        # microseconds, as DuckDB's span: both engines then divide the same integer
        row = self._run(run).agg(((F.unix_micros(F.max("ts")) - F.unix_micros(F.min("ts"))) / 1000.0).alias("s")).first()
        return float(row["s"]) if row and row["s"] else None

    def values(self, run: str, requests: list[tuple[str, str, str, dict[str, str], list[str]]],
               duration_s: float | None) -> dict[str, dict | None]:
        """All requested metrics and submetrics of RUN in one Spark pass (conditional aggregation)."""
        from pyspark.sql import functions as F

        aggs, layout = [], []
        for i, (name, base, mtype, tags, want) in enumerate(requests):
            cond = F.col("metric") == F.lit(base)
            for k, v in tags.items():
                col = COMMON_TAGS.get(k)
                tag = F.col(col) if col else F.get_json_object(F.col("tags"), "$['" + k.replace("'", "") + "']")
                cond = cond & (F.coalesce(tag, F.lit("")) == F.lit(v))
            val = F.when(cond, F.col("value"))
            aggs.append(F.count(val).alias(f"n{i}"))
            if mtype == "trend":
                quants = sorted({q for q in (_quantile(s) for s in want) if q is not None})
                aggs += [F.avg(val).alias(f"a{i}"), F.min(val).alias(f"lo{i}"), F.max(val).alias(f"hi{i}"),
                         F.percentile(val, F.array(*[F.lit(q) for q in (quants or [0.5])])).alias(f"q{i}")]
                layout.append((name, mtype, want, quants))
            elif mtype == "counter":
                aggs.append(F.sum(val).alias(f"s{i}"))
                layout.append((name, mtype, want, None))
            elif mtype == "rate":
                aggs.append(F.count(F.when(cond & (F.col("value") != 0), F.lit(1))).alias(f"p{i}"))
                layout.append((name, mtype, want, None))
            elif mtype == "gauge":
                aggs += [F.max_by(val, F.when(cond, F.col("ts"))).alias(f"l{i}"), F.min(val).alias(f"lo{i}"),
                         F.max(val).alias(f"hi{i}")]
                layout.append((name, mtype, want, None))
            else:
                raise WorkbenchError(f"metric {base!r} has unknown type {mtype!r}")
        if not aggs:
            return {}
        metrics = sorted({r[1] for r in requests})
        row = self._run(run).where(F.col("metric").isin(metrics)).agg(*aggs).first().asDict()
        out: dict[str, dict | None] = {}
        for i, (name, mtype, want, quants) in enumerate(layout):
            n = row[f"n{i}"]
            if not n:
                out[name] = None
            elif mtype == "trend":
                qv = dict(zip(quants, row[f"q{i}"] or [], strict=False))
                base = {"count": n, "avg": row[f"a{i}"], "min": row[f"lo{i}"], "max": row[f"hi{i}"]}
                out[name] = {s: base.get(s, qv.get(_quantile(s))) for s in want}
            elif mtype == "counter":
                total = row[f"s{i}"]
                out[name] = {"count": total, "rate": total / duration_s if duration_s else None}
            elif mtype == "rate":
                p = row[f"p{i}"]
                out[name] = {"value": p / n, "passes": p, "fails": n - p}
            else:
                out[name] = {"value": row[f"l{i}"], "min": row[f"lo{i}"], "max": row[f"hi{i}"]}
        return out


def _quantile(stat: str) -> float | None:
    if stat == "med":
        return 0.5
    m = _STAT_Q.match(stat)
    return float(m.group(1)) / 100 if m else None


# -- compare -----------------------------------------------------------------------------------------
_METRICS = ("http_req_duration", "http_req_failed", "dropped_iterations", "iterations")


def load_arms(dest: str, con: duckdb.DuckDBPyConnection, arms: dict[str, list[str]], opts: Any,
              spark: SparkSession | None = None) -> dict[str, Any]:
    """arm -> `compare.Arm`: Spark scans the dataset (only the asked-for runs' partitions), cuts each run
    to its steady state and hands the request rows over as Arrow; CON (DuckDB views over the same
    dataset) supplies the small run metadata. The rows are the ones `compare.load_arm` reads."""
    from pyspark.sql import functions as F

    from workbench.analysis import compare as cmp

    spark = spark or session()
    samples = read_table(spark, dest, "k6_samples")
    runs = sorted({r for rs in arms.values() for r in rs})
    t = F.unix_micros(F.col("ts")) / F.lit(1e6)
    span = {r["run"]: (r["lo"], r["hi"]) for r in samples.where(F.col("run").isin(runs))
            .groupBy("run").agg(F.min(t).alias("lo"), F.max(t).alias("hi")).collect()}
    bounds = {}
    for run in runs:
        if run not in span or span[run][0] is None:
            raise WorkbenchError(f"k6 run {run!r} has no points in the dataset: compare needs --out json data")
        bounds[run] = cmp.steady_window(run, span[run][0], span[run][1], opts)
    btab = spark.createDataFrame([(r, *bounds[r]) for r in runs], "run string, lo double, hi double")
    rows = (samples.where(F.col("run").isin(runs) & F.col("metric").isin(*_METRICS))
            .join(F.broadcast(btab), "run").where((t >= F.col("lo")) & (t < F.col("hi"))))
    if opts.scenario:
        rows = rows.where(F.col("scenario") == F.lit(opts.scenario))
    rows = rows.select("run", "metric", (t - F.col("lo")).alias("t_s"), "value",
                       F.expr(ENDPOINT_SQL).alias("endpoint"), "status")
    frame = rows.toPandas()
    out = {}
    for arm, rs in arms.items():
        out[arm] = cmp.arm_from_rows(con, rs, frame[frame["run"].isin(rs)], bounds, opts)
    return out


def compare_runs(dest: str, con: duckdb.DuckDBPyConnection, before: str | list[str], after: str | list[str],
                 opts: Any = None, targets: list[dict] | None = None,
                 spark: SparkSession | None = None) -> dict[str, Any]:
    """`workbench compare --engine spark`: the same result as `compare.compare_runs`, with the scan of the
    dataset at DEST done by Spark and the statistics and gate compare's own."""
    from workbench.analysis import compare as cmp

    opts = opts or cmp.Options()
    rb, ra = cmp.split_arms(before, after)
    k6runs.check(con, rb + ra)
    got = load_arms(dest, con, {"before": rb, "after": ra}, opts, spark)
    a, b = got["before"], got["after"]
    rows = cmp.compare_arms(a, b, opts)
    arrival = {"before": cmp.arrival_rate(a), "after": cmp.arrival_rate(b)} if a.open_model or b.open_model else None
    out = cmp.compare_result(con, rb, ra, rows, opts, targets, arrival)
    out["engine"] = "spark"
    return out


# -- PostgreSQL statement deltas ---------------------------------------------------------------------
def statement_deltas(dest: str, from_snapshot: int, to_snapshot: int,
                     spark: SparkSession | None = None, include_own: bool = False) -> list[dict[str, Any]]:
    """pg_stat_statements deltas between two snapshots of one server, per (queryid, dbid, userid,
    toplevel), by the rules of `workbench.analysis.postgres.statement_deltas`: a statement that is new,
    whose counters went down, whose stats_since moved past the first snapshot, or any statement after a
    pg_stat_statements reset counts in full; statements without calls in between are dropped, and so are
    the collector's own statements unless INCLUDE_OWN."""
    from pyspark.sql import functions as F

    from workbench.analysis.postgres import COUNTERS, KEY
    from workbench.sources.pg_sql import OWN_MARKER

    spark = spark or session()
    snaps = {r["snapshot_id"]: r for r in read_table(spark, dest, "pg_snapshots")
             .where(F.col("snapshot_id").isin(int(from_snapshot), int(to_snapshot)))
             .select("snapshot_id", "taken_at", "pgss_stats_reset").collect()}
    if len(snaps) < 2:
        raise WorkbenchError(f"snapshots {from_snapshot} and {to_snapshot} are not both in {dest}")
    from_at = snaps[from_snapshot]["taken_at"]
    r_from, r_to = snaps[from_snapshot]["pgss_stats_reset"], snaps[to_snapshot]["pgss_stats_reset"]
    global_reset = bool(r_to is not None and (r_from is None or r_to != r_from) and r_to > from_at)
    st = read_table(spark, dest, "pg_statements")
    cols = [c for c in COUNTERS if c in st.columns]
    t = st.where(F.col("snapshot_id") == int(to_snapshot)).select(*KEY, "stats_since", *cols)
    f = st.where(F.col("snapshot_id") == int(from_snapshot)).select(
        *[F.col(k).alias("f_" + k) for k in KEY], *[F.col(c).alias("f_" + c) for c in cols])
    on = [F.col(k).eqNullSafe(F.col("f_" + k)) for k in KEY]
    m = t.join(f, on[0] & on[1] & on[2] & on[3], "left")
    is_new = F.col("f_dbid").isNull()
    went_down = F.lit(False)
    for c in cols:
        went_down = went_down | F.coalesce(F.col(c).cast("double") < F.col("f_" + c).cast("double") - 1e-6,
                                           F.lit(False))
    since_moved = F.col("stats_since").isNotNull() & (F.col("stats_since") > F.lit(from_at)) & ~is_new
    whole = is_new | went_down | since_moved | F.lit(global_reset)
    out = m.select(*KEY, *[F.greatest(F.when(whole, F.col(c).cast("double")).otherwise(
        F.col(c).cast("double") - F.coalesce(F.col("f_" + c).cast("double"), F.lit(0.0))), F.lit(0.0)).alias(c)
        for c in cols])
    out = out.where(F.col("calls") > 0)
    if not include_own:
        texts = read_table(spark, dest, "pg_query_texts").select("queryid", "query").dropDuplicates(["queryid"])
        own = texts.where(F.col("query").contains(OWN_MARKER)).select("queryid")
        out = out.join(own, "queryid", "left_anti")
    return [r.asDict() for r in out.orderBy(F.desc("total_exec_time_ms")).collect()]
