"""Spark as the distributed engine: the heavy aggregations over the Parquet layout with Spark SQL.

- `SparkPoints`: k6 summary per metric and submetric (one conditional-aggregation pass per run; Spark's
  exact `percentile` interpolates linearly between closest ranks, as k6 and DuckDB's `quantile_cont`).
- `compare_runs`: per-endpoint p50/p95/p99, request rate and error rates as *per-window inputs* (counts,
  sums, exact order statistics per time window) computed by Spark; the drift-aware statistics, verdicts
  and gate are the ones `workbench compare` uses (`workbench.stats`, `workbench.analysis.compare`).
- `statement_deltas`: pg_stat_statements deltas between two snapshots.

Small metadata (runs, metric types, summaries, targets) is read through DuckDB views over the same
dataset. pyspark is the optional extra `perf-workbench[spark]`; Spark runs in local mode unless
`WORKBENCH_SPARK_MASTER` (or an active session) says otherwise.
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench import stats
from workbench.errors import WorkbenchError
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

        row = self._run(run).agg((F.unix_millis(F.max("ts")) - F.unix_millis(F.min("ts"))).alias("s")).first()
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
def _block_from_windows(value: float, n: int, sums_by_run: list[np.ndarray], se_iid: float,
                        active: int, multi: bool) -> stats.BlockStat:
    """A BlockStat from per-window sums of linearised residuals (what `stats.block_*` build from rows)."""
    sums = sums_by_run if multi else [np.concatenate(sums_by_run)]
    se, df = stats._ewc_se(sums, n, stats.EWC_B)
    return stats.BlockStat(value, se, n, sum(s.size for s in sums), df, se_iid, active)


def _window_arrays(frame: dict[str, dict[int, float]], runs: list[str]) -> list[np.ndarray]:
    """Per run (sorted, as np.unique orders them), dense arrays over windows 0..max seen."""
    out = []
    for run in sorted(r for r in runs if r in frame):
        w = frame[run]
        arr = np.zeros(max(w) + 1)
        for k, v in w.items():
            arr[k] = v
        out.append(arr)
    return out


ALL = "\x00all"   # the group of every request (endpoint "all")
_METRICS = ("http_req_duration", "http_req_failed", "dropped_iterations", "iterations")


class SparkCompare:
    """Per-window inputs of `workbench compare` for the runs of both arms, in four Spark jobs: run bounds,
    request counts per endpoint, exact order statistics (Spark's `percentile` at rank/(n-1)), and one
    aggregation per (arm, metric, endpoint, run, window)."""

    def __init__(self, dest: str, con: duckdb.DuckDBPyConnection, opts: Any, spark: SparkSession | None = None):
        self.spark = spark or session()
        self.samples = read_table(self.spark, dest, "k6_samples")
        self.con, self.opts = con, opts

    def bounds(self, runs: list[str]) -> dict[str, tuple[float, float, float]]:
        """run -> (lo, hi, window width) in epoch seconds, as `compare.load_arm` cuts them."""
        from pyspark.sql import functions as F

        from workbench.analysis.compare import steady_window

        t = F.unix_micros(F.col("ts")) / F.lit(1e6)
        rows = {r["run"]: (r["lo"], r["hi"]) for r in self.samples.where(F.col("run").isin(runs))
                .groupBy("run").agg(F.min(t).alias("lo"), F.max(t).alias("hi")).collect()}
        out = {}
        for run in runs:
            if run not in rows or rows[run][0] is None:
                raise WorkbenchError(f"k6 run {run!r} has no points in the dataset: compare needs --out json data")
            lo, hi = steady_window(run, rows[run][0], rows[run][1], self.opts)
            out[run] = (lo, hi, (hi - lo) / self.opts.windows)
        return out

    def inputs(self, arms: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        """arm -> its per-group counts, quantiles (value, iid SE) and per-window aggregates."""
        from pyspark.sql import functions as F

        from workbench.analysis.compare import QUANTILES

        runs = sorted({r for rs in arms.values() for r in rs})
        bounds = self.bounds(runs)
        btab = self.spark.createDataFrame([(arm, r, *bounds[r]) for arm, rs in arms.items() for r in rs],
                                          "arm string, run string, lo double, hi double, width double")
        t = F.unix_micros(F.col("ts")) / F.lit(1e6)
        rows = (self.samples.where(F.col("run").isin(runs) & F.col("metric").isin(*_METRICS))
                .join(F.broadcast(btab), "run").where((t >= F.col("lo")) & (t < F.col("hi"))))
        if self.opts.scenario:
            rows = rows.where(F.col("scenario") == F.lit(self.opts.scenario))
        win = F.least(F.floor((t - F.col("lo")) / F.col("width")).cast("int"), F.lit(self.opts.windows - 1))
        rows = rows.select("arm", "run", "metric", "value", F.coalesce("name", "url", F.lit("")).alias("name"),
                           "status", win.alias("window"))
        groups = rows.withColumn("g", F.col("name")).unionByName(rows.withColumn("g", F.lit(ALL))).cache()
        try:
            lat = groups.where(F.col("metric") == "http_req_duration")
            counts = {(r["arm"], r["g"]): r["n"] for r in lat.groupBy("arm", "g").agg(F.count("*").alias("n")).collect()}
            # exact order statistics at the ranks `stats.quantile_se` reads, all groups in one pass
            z = float(stats._st.norm.ppf(1 - 0.05 / 2))
            plan, aggs = {}, []
            for i, ((arm, g), n) in enumerate(sorted(counts.items())):
                if n < 2:
                    continue
                ranks = {}
                for m, q in QUANTILES.items():
                    pos, half = q * (n - 1), z * math.sqrt(n * q * (1 - q))
                    fl = int(math.floor(pos))
                    ranks[m] = (pos, half, fl, min(fl + 1, n - 1), max(int(math.floor(pos - half)), 0),
                                min(int(math.ceil(pos + half)), n - 1))
                wanted = sorted({r for v in ranks.values() for r in v[2:]})
                plan[(arm, g)] = (n, ranks, wanted, f"o{i}")
                sel = F.when((F.col("arm") == F.lit(arm)) & (F.col("g") == F.lit(g)), F.col("value"))
                aggs.append(F.percentile(sel, F.array(*[F.lit(r / (n - 1)) for r in wanted])).alias(f"o{i}"))
            got = lat.agg(*aggs).first().asDict() if aggs else {}
            qv: dict[tuple[str, str, str], tuple[float, float]] = {}
            for (arm, g), (_n, ranks, wanted, col) in plan.items():
                v = dict(zip(wanted, got[col], strict=True))
                for m, (pos, half, fl, fl1, lo_r, hi_r) in ranks.items():
                    est = v[fl] + (pos - fl) * (v[fl1] - v[fl])
                    width_ranks = hi_r - lo_r
                    se = (v[hi_r] - v[lo_r]) / (2 * z) * (2 * half / width_ranks) if width_ranks > 0 else 0.0
                    qv[(arm, g, m)] = (float(est), float(se))
            # one aggregation: per (arm, metric, group, run, window) count, sum, sum of squares, 5xx, <= each quantile
            key = F.concat_ws("\x01", "arm", "g")
            aggs = [F.count("*").alias("n"), F.sum("value").alias("s"), F.sum(F.col("value") * F.col("value")).alias("ss"),
                    F.sum(F.when(F.coalesce(F.col("status"), F.lit("")).startswith("5"), 1).otherwise(0)).alias("s5")]
            for m in QUANTILES:
                pairs = [x for (arm, g, mm), (val, _) in qv.items() if mm == m for x in (F.lit(f"{arm}\x01{g}"), F.lit(val))]
                if pairs:
                    thr = F.element_at(F.create_map(*pairs), key)
                    aggs.append(F.sum(F.when((F.col("metric") == "http_req_duration") & (F.col("value") <= thr), 1)
                                      .otherwise(0)).alias("le_" + m))
            per_w = groups.groupBy("arm", "metric", "g", "run", "window").agg(*aggs).collect()
        finally:
            groups.unpersist()
        out: dict[str, dict[str, Any]] = {}
        for arm, rs in arms.items():
            mine = [r.asDict() for r in per_w if r["arm"] == arm]
            extra: dict[str, float] = {}
            for r in mine:
                if r["g"] == ALL and r["metric"] in ("dropped_iterations", "iterations"):
                    extra[r["metric"]] = extra.get(r["metric"], 0.0) + r["s"]
            out[arm] = {"runs": rs, "bounds": {r: bounds[r] for r in rs}, "extra": extra,
                        "counts": {g: n for (a, g), n in counts.items() if a == arm},
                        "qv": {(g, m): v for (a, g, m), v in qv.items() if a == arm},
                        "lat": [r for r in mine if r["metric"] == "http_req_duration"],
                        "fail": [r for r in mine if r["metric"] == "http_req_failed"]}
        return out


def _arm_stat(arm: dict[str, Any], g: str, metric: str, windows: int) -> stats.BlockStat | None:
    """One arm's BlockStat for group G and METRIC from its per-window inputs (None: too few requests)."""
    from workbench.analysis.compare import MIN_REQUESTS, QUANTILES

    runs = arm["runs"]
    multi = len(runs) > 1
    n = arm["counts"].get(g, 0)
    if n < MIN_REQUESTS:
        return None
    lat = [r for r in arm["lat"] if r["g"] == g]
    nw: dict[str, dict[int, float]] = {}
    for r in lat:
        nw.setdefault(r["run"], {})[r["window"]] = r["n"]
    active = len(lat)
    if metric in QUANTILES:
        q = QUANTILES[metric]
        value, se_iid = arm["qv"][(g, metric)]
        inv_f = se_iid / math.sqrt(q * (1 - q) / n) if 0 < q < 1 else math.nan
        resid: dict[str, dict[int, float]] = {}
        for r in lat:   # the window's sum of (q - 1{x <= Q}) / f(Q)
            resid.setdefault(r["run"], {})[r["window"]] = (q * r["n"] - r["le_" + metric]) * inv_f
        return _block_from_windows(value, n, _window_arrays(resid, runs), se_iid, active, multi)
    if metric == "rps":
        counts, lengths, run_of = [], [], []
        for run in runs:
            c = np.zeros(windows)
            for w, k in nw.get(run, {}).items():
                c[w] = k
            counts.append(c)
            lengths.append(np.full(windows, arm["bounds"][run][2]))
            run_of += [run] * windows
        return stats.block_rate(np.concatenate(counts), np.concatenate(lengths), np.asarray(run_of) if multi else None)
    if metric == "rate_5xx":
        m = sum(r["s5"] for r in lat) / n
        resid = {}
        for r in lat:
            resid.setdefault(r["run"], {})[r["window"]] = r["s5"] - m * r["n"]
        se_iid = math.sqrt(n * m * (1 - m) / (n - 1)) / math.sqrt(n) if n > 1 else math.nan
        return _block_from_windows(m, n, _window_arrays(resid, runs), se_iid, active, multi)
    if metric == "error_rate":
        rows = [r for r in arm["fail"] if r["g"] == g]
        nf = sum(r["n"] for r in rows)
        if nf < MIN_REQUESTS:
            return None
        m = sum(r["s"] for r in rows) / nf
        resid = {}
        for r in rows:
            resid.setdefault(r["run"], {})[r["window"]] = r["s"] - m * r["n"]
        ss = sum(r["ss"] for r in rows)
        se_iid = math.sqrt(max(ss - nf * m * m, 0.0) / (nf - 1)) / math.sqrt(nf) if nf > 1 else math.nan
        return _block_from_windows(m, nf, _window_arrays(resid, runs), se_iid, len(rows), multi)
    raise ValueError(metric)


def compare_runs(dest: str, con: duckdb.DuckDBPyConnection, before: str | list[str], after: str | list[str],
                 opts: Any = None, targets: list[dict] | None = None,
                 spark: SparkSession | None = None) -> dict[str, Any]:
    """`workbench compare --engine spark`: the same result as `compare.compare_runs`, with the per-window
    inputs computed by Spark over the dataset at DEST (CON: DuckDB views over it for the metadata)."""
    from workbench.analysis import compare as cmp

    opts = opts or cmp.Options()
    rb, ra = cmp.split_runs(before), cmp.split_runs(after)
    cmp._check_runs(con, rb + ra)
    got = SparkCompare(dest, con, opts, spark).inputs({"before": rb, "after": ra})
    arms = [got["before"], got["after"]]
    for arm in arms:
        if not arm["counts"]:
            raise WorkbenchError(f"no http_req_duration points in run(s) {', '.join(arm['runs'])} after "
                                 "--skip/--until: check the run names and the time window")
    open_model = [_open_model(con, arm) for arm in arms]
    names = [{g for g in arm["counts"] if g != ALL} for arm in arms]
    common = sorted(g for g in names[0] & names[1] if g)
    endpoints = common if len(common) == 1 and len(names[0]) == 1 else ["all"] + common
    rows = []
    for ep in endpoints:
        g = ALL if ep == "all" else ep
        for m in cmp.METRICS:
            if m == "rps" and any(open_model):
                continue
            sa, sb = (_arm_stat(arm, g, m, opts.windows) for arm in arms)
            if sa is not None and sb is not None:
                rows.append(cmp._row(ep, m, sa, sb, opts.alpha))
    cmp._verdicts(rows, opts.alpha, opts.adjust)
    arrival = None
    if any(open_model):
        arrival = {k: _arrival(con, arm) for k, arm in zip(("before", "after"), arms, strict=True)}
    out = cmp.compare_result(con, rb, ra, rows, opts, targets, arrival)
    out["engine"] = "spark"
    return out


def _open_model(con: duckdb.DuckDBPyConnection, arm: dict[str, Any]) -> bool:
    for run in arm["runs"]:
        tags = con.execute("SELECT tags FROM k6_runs WHERE run = ?", [run]).fetchone()[0] or {}
        has = con.execute("SELECT count(*) FROM k6_metrics WHERE run = ? AND metric = 'dropped_iterations'",
                          [run]).fetchone()[0]
        if "arrival-rate" in str(tags.get("executor", "")) or has:
            return True
    return bool(arm["extra"].get("dropped_iterations"))


def _arrival(con: duckdb.DuckDBPyConnection, arm: dict[str, Any]) -> dict[str, Any]:
    dur = sum(hi - lo for lo, hi, _ in arm["bounds"].values())
    target = None
    for run in arm["runs"]:
        tags = con.execute("SELECT tags FROM k6_runs WHERE run = ?", [run]).fetchone()[0] or {}
        for key in ("target_rate", "rate", "target_rps"):
            if key in tags:
                try:
                    target = float(tags[key])
                except ValueError:
                    pass
    n = arm["counts"].get(ALL, 0)
    return {"achieved_iterations_per_s": (arm["extra"].get("iterations") or 0.0) / dur if dur else None,
            "achieved_rps": n / dur if dur else None, "target_rate": target,
            "dropped_iterations": arm["extra"].get("dropped_iterations") or 0.0}


# -- PostgreSQL statement deltas ---------------------------------------------------------------------
def statement_deltas(dest: str, from_snapshot: int, to_snapshot: int,
                     spark: SparkSession | None = None) -> list[dict[str, Any]]:
    """pg_stat_statements deltas between two snapshots of one server, per (queryid, dbid, userid,
    toplevel), by the rules of `workbench.analysis.postgres.statement_deltas`: a statement that is new,
    whose counters went down, whose stats_since moved past the first snapshot, or any statement after a
    pg_stat_statements reset counts in full; statements without calls in between are dropped."""
    from pyspark.sql import functions as F

    from workbench.analysis.postgres import COUNTERS, KEY

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
    return [r.asDict() for r in out.where(F.col("calls") > 0).orderBy(F.desc("total_exec_time_ms")).collect()]
