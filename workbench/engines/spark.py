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


class SparkCompare:
    """Per-window inputs of `workbench compare` for the runs of two arms, computed with Spark SQL."""

    def __init__(self, dest: str, con: duckdb.DuckDBPyConnection, opts: Any, spark: SparkSession | None = None):
        self.spark = spark or session()
        self.samples = read_table(self.spark, dest, "k6_samples")
        self.con, self.opts = con, opts
        self._bounds: dict[tuple[str, ...], dict[str, tuple[float, float, float]]] = {}

    def bounds(self, runs: list[str]) -> dict[str, tuple[float, float, float]]:
        """run -> (lo, hi, window width) in epoch seconds, as `compare.load_arm` cuts them."""
        from pyspark.sql import functions as F

        from workbench.analysis.compare import steady_window

        key = tuple(runs)
        if key in self._bounds:
            return self._bounds[key]
        t = F.unix_micros(F.col("ts")) / F.lit(1e6)
        rows = {r["run"]: (r["lo"], r["hi"]) for r in self.samples.where(F.col("run").isin(runs))
                .groupBy("run").agg(F.min(t).alias("lo"), F.max(t).alias("hi")).collect()}
        out = {}
        for run in runs:
            if run not in rows or rows[run][0] is None:
                raise WorkbenchError(f"k6 run {run!r} has no points in the dataset: compare needs --out json data")
            lo, hi = steady_window(run, rows[run][0], rows[run][1], self.opts)
            out[run] = (lo, hi, (hi - lo) / self.opts.windows)
        self._bounds[key] = out
        return out

    def _rows(self, runs: list[str], metric: str) -> DataFrame:
        """Steady-state rows of METRIC in RUNS with their time window (partition-pruned by run and metric)."""
        from pyspark.sql import functions as F

        b = self.bounds(runs)
        bounds = self.spark.createDataFrame([(r, lo, hi, w) for r, (lo, hi, w) in b.items()],
                                            "run string, lo double, hi double, width double")
        t = F.unix_micros(F.col("ts")) / F.lit(1e6)
        df = (self.samples.where(F.col("run").isin(runs) & (F.col("metric") == F.lit(metric)))
              .join(F.broadcast(bounds), "run")
              .where((t >= F.col("lo")) & (t < F.col("hi"))))
        if self.opts.scenario:
            df = df.where(F.col("scenario") == F.lit(self.opts.scenario))
        win = F.least(F.floor((t - F.col("lo")) / F.col("width")).cast("int"), F.lit(self.opts.windows - 1))
        return df.select("run", "value", F.coalesce("name", "url", F.lit("")).alias("name"), "status",
                         win.alias("window"))

    def arm(self, runs: list[str]) -> dict[str, Any]:
        """Everything compare needs of one arm, as small per-group / per-window tables."""
        from pyspark.sql import functions as F

        from workbench.analysis.compare import QUANTILES

        lat = self._rows(runs, "http_req_duration").cache()
        groups = lat.select("run", "value", "status", "window", F.col("name").alias("g")).unionByName(
            lat.select("run", "value", "status", "window", F.lit("\x00all").alias("g")))
        counts = {r["g"]: r["n"] for r in groups.groupBy("g").agg(F.count("*").alias("n")).collect()}
        if not counts:
            lat.unpersist()
            raise WorkbenchError(f"no http_req_duration points in run(s) {', '.join(runs)} after --skip/--until")
        # exact order statistics at the ranks `stats.quantile_se` reads (0-based, per group)
        z = float(stats._st.norm.ppf(1 - 0.05 / 2))
        wanted = []
        for g, n in counts.items():
            if n < 2:
                continue
            for q in QUANTILES.values():
                pos = q * (n - 1)
                half = z * math.sqrt(n * q * (1 - q))
                fl = int(math.floor(pos))
                for r in (fl, min(fl + 1, n - 1), max(int(math.floor(pos - half)), 0),
                          min(int(math.ceil(pos + half)), n - 1)):
                    wanted.append((g, r))
        from pyspark.sql.window import Window

        ranks = self.spark.createDataFrame(sorted(set(wanted)), "g string, r long")
        ordered = groups.select("g", "value", (F.row_number().over(Window.partitionBy("g").orderBy("value")) - 1)
                                .alias("r"))
        order_stats = {(r["g"], r["r"]): r["value"] for r in ordered.join(F.broadcast(ranks), ["g", "r"]).collect()}
        qv = {}
        for g, n in counts.items():
            if n < 2:
                continue
            for m, q in QUANTILES.items():
                pos = q * (n - 1)
                half = z * math.sqrt(n * q * (1 - q))
                fl = int(math.floor(pos))
                v0, v1 = order_stats[(g, fl)], order_stats[(g, min(fl + 1, n - 1))]
                lo_r, hi_r = max(int(math.floor(pos - half)), 0), min(int(math.ceil(pos + half)), n - 1)
                est = v0 + (pos - fl) * (v1 - v0)
                width_ranks = hi_r - lo_r
                se = ((order_stats[(g, hi_r)] - order_stats[(g, lo_r)]) / (2 * z) * (2 * half / width_ranks)
                      if width_ranks > 0 else 0.0)
                qv[(g, m)] = (float(est), float(se))
        qtab = self.spark.createDataFrame([(g, m, v) for (g, m), (v, _) in qv.items()], "g string, m string, q double")
        le = (groups.join(F.broadcast(qtab), "g").where(F.col("value") <= F.col("q"))
              .groupBy("g", "m", "run", "window").agg(F.count("*").alias("le")).collect())
        per_w = (groups.groupBy("g", "run", "window")
                 .agg(F.count("*").alias("n"),
                      F.sum(F.when(F.coalesce(F.col("status"), F.lit("")).startswith("5"), 1).otherwise(0))
                      .alias("s5"))
                 .collect())
        fail = self._rows(runs, "http_req_failed")
        fgroups = fail.select("run", "value", "window", F.col("name").alias("g")).unionByName(
            fail.select("run", "value", "window", F.lit("\x00all").alias("g")))
        fw = (fgroups.groupBy("g", "run", "window")
              .agg(F.count("*").alias("n"), F.sum("value").alias("s"), F.sum(F.col("value") * F.col("value"))
                   .alias("ss")).collect())
        extra = dict(self.samples.where(F.col("run").isin(runs) & F.col("metric").isin(
            "dropped_iterations", "iterations")).join(F.broadcast(self.spark.createDataFrame(
                [(r, lo, hi) for r, (lo, hi, _) in self.bounds(runs).items()], "run string, lo double, hi double")),
                "run").where((F.unix_micros("ts") / F.lit(1e6) >= F.col("lo")) &
                             (F.unix_micros("ts") / F.lit(1e6) < F.col("hi")))
            .groupBy("metric").agg(F.sum("value")).collect())
        lat.unpersist()
        return {"runs": runs, "counts": counts, "qv": qv, "le": le, "per_w": per_w, "fail": fw,
                "bounds": self.bounds(runs), "extra": extra}


def _arm_stat(arm: dict[str, Any], g: str, metric: str, windows: int) -> stats.BlockStat | None:
    from workbench.analysis.compare import MIN_REQUESTS, QUANTILES

    runs = arm["runs"]
    multi = len(runs) > 1
    n = arm["counts"].get(g, 0)
    if n < MIN_REQUESTS:
        return None
    nw: dict[str, dict[int, float]] = {}
    s5: dict[str, dict[int, float]] = {}
    for r in arm["per_w"]:
        if r["g"] == g:
            nw.setdefault(r["run"], {})[r["window"]] = r["n"]
            s5.setdefault(r["run"], {})[r["window"]] = r["s5"]
    active = sum(len(w) for w in nw.values())
    if metric in QUANTILES:
        q = QUANTILES[metric]
        value, se_iid = arm["qv"][(g, metric)]
        inv_f = se_iid / math.sqrt(q * (1 - q) / n) if 0 < q < 1 else math.nan
        le: dict[str, dict[int, float]] = {}
        for r in arm["le"]:
            if r["g"] == g and r["m"] == metric:
                le.setdefault(r["run"], {})[r["window"]] = r["le"]
        resid = {run: {w: (q * c - le.get(run, {}).get(w, 0)) * inv_f for w, c in ws.items()} for run, ws in nw.items()}
        return _block_from_windows(value, n, _window_arrays(resid, runs), se_iid, active, multi)
    if metric == "rps":
        counts, lengths, run_of = [], [], []
        for run in runs:
            width = arm["bounds"][run][2]
            c = np.zeros(windows)
            for w, k in nw.get(run, {}).items():
                c[w] = k
            counts.append(c)
            lengths.append(np.full(windows, width))
            run_of += [run] * windows
        return stats.block_rate(np.concatenate(counts), np.concatenate(lengths), np.asarray(run_of) if multi else None)
    if metric == "rate_5xx":
        m = sum(sum(w.values()) for w in s5.values()) / n
        resid = {run: {w: s5[run][w] - m * c for w, c in ws.items()} for run, ws in nw.items()}
        se_iid = math.sqrt(max(n * m * (1 - m), 0.0) / (n - 1)) / math.sqrt(n) if n > 1 else math.nan
        return _block_from_windows(m, n, _window_arrays(resid, runs), se_iid, active, multi)
    if metric == "error_rate":
        rows = [r for r in arm["fail"] if r["g"] == g]
        nf = sum(r["n"] for r in rows)
        if nf < MIN_REQUESTS:
            return None
        total, ss = sum(r["s"] for r in rows), sum(r["ss"] for r in rows)
        m = total / nf
        resid: dict[str, dict[int, float]] = {}
        for r in rows:
            resid.setdefault(r["run"], {})[r["window"]] = r["s"] - m * r["n"]
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
    engine = SparkCompare(dest, con, opts, spark)
    arms = [engine.arm(rb), engine.arm(ra)]
    open_model = [_open_model(con, arm) for arm in arms]
    names = [{g for g in arm["counts"] if g != "\x00all"} for arm in arms]
    common = sorted(g for g in names[0] & names[1] if g)
    endpoints = common if len(common) == 1 and len(names[0]) == 1 else ["all"] + common
    rows = []
    for ep in endpoints:
        g = "\x00all" if ep == "all" else ep
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
    n = arm["counts"].get("\x00all", 0)
    return {"achieved_iterations_per_s": (arm["extra"].get("iterations") or 0.0) / dur if dur else None,
            "achieved_rps": n / dur if dur else None, "target_rate": target,
            "dropped_iterations": arm["extra"].get("dropped_iterations") or 0.0}


# -- PostgreSQL statement deltas ---------------------------------------------------------------------
def statement_deltas(dest: str, from_snapshot: int, to_snapshot: int,
                     spark: SparkSession | None = None) -> list[dict[str, Any]]:
    """pg_stat_statements deltas between two snapshots of one server (calls, total time, rows, blocks),
    per (queryid, dbid, userid, toplevel); a counter that went down (reset) counts from zero."""
    spark = spark or session()
    st = read_table(spark, dest, "pg_statements")
    st.createOrReplaceTempView("wb_pg_statements")
    cols = ["calls", "total_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read"]
    delta = ", ".join(f"CASE WHEN b.{c} >= coalesce(a.{c}, 0) THEN b.{c} - coalesce(a.{c}, 0) ELSE b.{c} END AS {c}"
                      for c in cols)
    rows = spark.sql(
        f"SELECT b.queryid, b.dbid, b.userid, b.toplevel, {delta} FROM "
        "(SELECT * FROM wb_pg_statements WHERE snapshot_id = :to) b LEFT JOIN "
        "(SELECT * FROM wb_pg_statements WHERE snapshot_id = :frm) a "
        "ON a.queryid <=> b.queryid AND a.dbid = b.dbid AND a.userid = b.userid AND a.toplevel <=> b.toplevel "
        "ORDER BY total_exec_time_ms DESC", args={"to": int(to_snapshot), "frm": int(from_snapshot)}).collect()
    return [r.asDict() for r in rows if r["calls"]]
