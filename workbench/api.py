"""The Python front door: `workbench.open(db)` returns a `Workbench` with one method per command.

Each method opens the store for the length of the call (read, close), so a handle kept in a notebook
never holds a collector off. Every method returns a `workbench.results.Result`: `to_dict()` is the
command's `--format json`, `to_frame()` / `to_polars()` its table, `_repr_html_` the Jupyter view.
Collectors and ingests need a writable handle, `workbench.open(db, read_only=False)`.

The command line (`workbench.cli`) calls these methods and keeps argument parsing, text output and
exit codes; the analyses live in `workbench.analysis` and the sources in `workbench.sources`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from workbench.errors import WorkbenchError
from workbench.results import Result

LS_WHAT = ("runs", "snapshots", "series", "ingests")
Runs = str | Sequence[str]
Tolerances = str | Sequence[str] | Mapping[str, str] | None


class ReadOnlyHandle(WorkbenchError):
    """A collector or ingest called on a read-only handle."""


class GateResult(Result):
    """`compare` and `abtest`: a Result that also passed or failed, and renders for CI."""

    @property
    def passed(self) -> bool:
        return bool(self._data["passed"])

    @property
    def arms(self) -> tuple[str, str]:
        """(before, after) or (control, treatment)."""
        d = self._data
        return d.get("before", d.get("control")), d.get("after", d.get("treatment"))

    def to_junit(self) -> str:
        """JUnit XML: one test case per endpoint x metric and per target."""
        from workbench.analysis.compare import to_junit

        return to_junit(self.raw)

    def to_markdown(self) -> str:
        """A Markdown summary for a pull-request comment."""
        from workbench.analysis.compare import to_markdown

        return to_markdown(self.raw)


def _tolerance_specs(tolerance: Tolerances) -> list[str]:
    if tolerance is None:
        return []
    if isinstance(tolerance, str):
        return [tolerance]
    if isinstance(tolerance, Mapping):
        return [f"{k}={v}" for k, v in tolerance.items()]
    return list(tolerance)


def gate_options(alpha: float = 0.05, skip: str | float = "0s", until: str | float | None = None,
                 scenario: str | None = None, adjust: str = "holm", windows: int = 40, tolerance: Tolerances = None,
                 run_sd: float = 2.0, min_tail: int = 10, strict: bool = False, allow_missing: bool = False,
                 targets: str | None = None) -> Any:
    """The compare/abtest options (`analysis.compare.Options`) from the commands' option values;
    RUN_SD in percent, TARGETS a YAML file whose `tolerance:` also applies."""
    from workbench.analysis import compare as cmp

    if not 0 < alpha < 1:
        raise WorkbenchError(f"--alpha {alpha}: use a level between 0 and 1, e.g. 0.05")
    given = _tolerance_specs(tolerance)
    specs = [t for t in given if t.strip().lower() != "auto"]
    tol = {**cmp.load_tolerances(targets), **cmp.parse_tolerances(specs)}
    return cmp.Options(skip_s=cmp.parse_duration(skip) or 0.0, until_s=cmp.parse_duration(until),
                       scenario=scenario, alpha=alpha, adjust=adjust, windows=windows, tolerance=tol,
                       auto_tolerance={} if len(specs) < len(given) else None, run_sd=run_sd / 100,
                       min_tail=min_tail, strict=strict, allow_missing=allow_missing)


def _file_rows(doc: dict) -> list[dict]:
    return doc["files"]


class Workbench:
    """A handle on one store: DB (None: $WORKBENCH_DB or data/workbench.duckdb). Nothing is opened
    until a method runs, and each method closes the store before it returns."""

    def __init__(self, db: str | os.PathLike | None = None, read_only: bool = True):
        self.db = None if db is None else str(db)
        self.read_only = read_only

    def __repr__(self) -> str:
        from workbench.store import db_path

        return f"<workbench {db_path(self.db)} ({'read-only' if self.read_only else 'writable'})>"

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyHandle(f"{what} writes to the store: this handle is read-only; open one with "
                                 f"workbench.open({self.db!r}, read_only=False)")

    # -- what the store holds -----------------------------------------------------------------
    def ls(self, what: str = "runs") -> Result:
        """`workbench ls WHAT`: k6 runs, server snapshots, Prometheus series sets, or the ingest log."""
        from workbench.analysis.inventory import list_items
        from workbench.store import reading

        if what not in LS_WHAT:
            raise WorkbenchError(f"ls {what!r}: use one of {', '.join(LS_WHAT)}")
        with reading(self.db) as store:
            rows = list_items(store.con, what)
        return Result("ls", rows, title=what)

    # -- k6 ------------------------------------------------------------------------------------
    def k6_summary(self, run: str, trend_stats: str | list[str] | None = None, *, engine: str = "duckdb",
                   parquet: str | None = None) -> Result:
        """`workbench k6 summary`: k6's end-of-test summary for RUN, recomputed from the raw points."""
        from workbench.analysis.k6_summary import k6_summary
        from workbench.engines import open_source, points_engine

        with open_source(self.db, engine, parquet) as src:
            summary = k6_summary(src.con, run, trend_stats, points_engine(engine, src))
            kinds = {m: (t, c) for m, t, c in src.con.execute(
                "SELECT metric, type, contains FROM k6_metrics WHERE run = ?", [run]).fetchall()}
        return Result("k6 summary", summary, title=f"k6 summary of run {run}", warnings=summary.get("notes"),
                      raw={"kinds": kinds},
                      rows=lambda d: [{"metric": name, **{k: v for k, v in entry.items() if k != "thresholds"},
                                       "thresholds": entry.get("thresholds")} for name, entry in d["metrics"].items()])

    # -- PostgreSQL ----------------------------------------------------------------------------
    def pg_top(self, from_snap: int | str | None = None, to_snap: int | str | None = None, *, by: str = "total_time",
               limit: int | None = 20, label: str | None = None, include_own: bool = False) -> Result:
        """`workbench pg top`: top statements between two snapshots of one server."""
        from workbench.analysis.postgres import pg_top
        from workbench.store import reading

        with reading(self.db) as store:
            res = pg_top(store, from_snap, to_snap, by, label, include_own)
        doc = res.to_dict(limit)
        warnings = (["statistics were reset between the snapshots: " + "; ".join(res.reset_reasons)]
                    if res.reset else []) + list(res.notes)
        return Result("pg top", doc, table="statements", raw=res, warnings=warnings,
                      title=f"pg top: snapshots {doc['from']} -> {doc['to']} ({doc['interval_s']:.1f} s)")

    def pg_health(self, snapshot: int | None = None, *, label: str | None = None) -> Result:
        """`workbench pg health`: pgHero's checks over one snapshot, one finding per row."""
        from workbench.analysis.pg_health import pg_health
        from workbench.store import reading

        with reading(self.db) as store:
            res = pg_health(store, snapshot, label=label)
        return Result("pg health", res.to_dict(), table="findings", raw=res,
                      title=f"pg health: {res.server}, snapshot {res.snapshot}: {len(res.findings)} finding(s)")

    def pg_explain(self, queryid: int, dsn: str | None = None, *, statement_timeout_ms: int = 10_000) -> Result:
        """`workbench pg explain`: a stored statement's generic plan on the server at DSN (nothing executed)."""
        from workbench.sources.pg_explain import explain
        from workbench.store import reading

        with reading(self.db) as store:
            row = store.con.execute("SELECT query FROM pg_query_texts WHERE queryid = ? "
                                    "ORDER BY first_snapshot_id DESC LIMIT 1", [queryid]).fetchone()
        if row is None:
            raise WorkbenchError(f"no statement text for queryid {queryid} in the store: see `workbench pg top`")
        plan = explain(dsn, row[0], statement_timeout_ms=statement_timeout_ms)
        return Result("pg explain", {"queryid": queryid, "query": row[0], "cost": plan.cost, "plan": plan.text},
                      raw=plan, title=f"pg explain {queryid}",
                      rows=lambda d: [{"line": line} for line in d["plan"].splitlines()])

    def advise(self, dsn: str | None = None, *, min_savings: float = 0.5, limit: int = 10,
               label: str | None = None, verify: bool = True, statement_timeout_ms: int = 10_000) -> Result:
        """`workbench advise`: the index plan (never executed); `raw.to_sql()` is the SQL form."""
        from workbench.analysis.advisor import advise
        from workbench.store import reading

        with reading(self.db) as store:
            plan = advise(store, dsn, min_savings=min_savings, limit=limit, verify=verify, label=label,
                          statement_timeout_ms=statement_timeout_ms)
        return Result("advise", plan.to_dict(), table="indexes", raw=plan, title="advise: index plan",
                      warnings=[] if plan.verified else [f"plan unverified: {plan.unverified_reason}"])

    # -- Redis ---------------------------------------------------------------------------------
    def redis_stats(self, from_snap: str | int | None = None, to_snap: str | int | None = None) -> Result:
        """`workbench redis stats`: hits, misses, evictions, ops/s and per-command calls between two snapshots."""
        from workbench.analysis.redis import redis_stats
        from workbench.store import reading

        with reading(self.db) as store:
            s = redis_stats(store.con, from_snap, to_snap)
        warnings = (["reset between snapshots: " + "; ".join(s["reset_reasons"]) + " (counts are since the reset)"]
                    if s["reset"] else [])
        return Result("redis stats", s, title=f"redis stats: {s['server']}, snapshots {s['from']} -> {s['to']}",
                      warnings=warnings, rows=lambda d: sorted(
                          ({"command": c, **v} for c, v in d["commands"].items()), key=lambda r: -(r["usec"] or 0)))

    # -- Prometheus ----------------------------------------------------------------------------
    def prom_series(self, name: str) -> Result:
        """`workbench prom series`: series set NAME; the table is long (one row per point, a column per label)."""
        from workbench.analysis import prometheus as analysis
        from workbench.store import reading

        with reading(self.db) as store:
            doc = analysis.series_json(store.con, name)
        return Result("prom series", doc, title=f"prom series {name}", rows=_series_rows)

    # -- the gate ------------------------------------------------------------------------------
    def compare(self, before: Runs, after: Runs, *, power: bool = False, engine: str = "duckdb",
                parquet: str | None = None, targets: str | None = None, **options: Any) -> GateResult:
        """`workbench compare`: k6 runs per endpoint with CIs. OPTIONS are the gate's: alpha, skip, until,
        scenario, adjust, windows, tolerance, run_sd (%), min_tail, strict, allow_missing."""
        from workbench.analysis import compare as cmp
        from workbench.engines import open_source

        opts = gate_options(targets=targets, **options)
        target_rows = cmp.load_targets(targets)
        with open_source(self.db, engine, parquet) as src:
            if engine == "spark":
                from workbench.engines.spark import compare_runs

                result = compare_runs(src.dest, src.con, before, after, opts, target_rows)
            else:
                result = cmp.compare_runs(src.con, before, after, opts, target_rows, power=power)
        return GateResult("compare", result, table="results", raw=result,
                          title=f"compare: {result.get('before')} -> {result.get('after')}")

    def abtest(self, run: str | None = None, *, variant_tag: str = "variant", control: str | None = None,
               treatment: str | None = None, split: float | None = None, prom_control: str | None = None,
               prom_treatment: str | None = None, higher_is_better: bool = False, targets: str | None = None,
               **options: Any) -> GateResult:
        """`workbench abtest`: variants within one k6 run (SRM check first), or two Prometheus series sets.
        OPTIONS as for `compare`; SPLIT is the treatment's expected share in %."""
        from workbench.analysis import compare as cmp
        from workbench.store import Store

        opts = gate_options(targets=targets, **options)
        if opts.auto_tolerance is not None:
            raise WorkbenchError("--tolerance auto needs several baseline runs: use it with workbench compare")
        warnings: list[str] = []
        if prom_control or prom_treatment:
            if not (prom_control and prom_treatment) or run:
                raise WorkbenchError("give both --prom-control and --prom-treatment (and no --run)")
            with Store.open(self.db, read_only=True) as store:
                result = cmp.abtest_prometheus(store.con, prom_control, prom_treatment, opts.alpha, higher_is_better)
        else:
            if not (run and control and treatment):
                raise WorkbenchError("give --run, --control and --treatment (or --prom-control/--prom-treatment)")
            target_rows = cmp.load_targets(targets) if targets else None
            with Store.open(self.db, read_only=True) as store:
                result = cmp.abtest_run(store.con, run, variant_tag, control, treatment, opts, split, target_rows)
            srm = result["srm"]
            if not srm["passed"]:
                planned = "/".join(f"{v:g}" for v in srm["expected_split_pct"].values())
                counts = ", ".join(f"{k} {v:,}" for k, v in srm["counts"].items())
                warnings.append(f"SAMPLE RATIO MISMATCH in run {run}: {counts} against a planned {planned} split "
                                f"(p={srm['p_value']:.2g}); if the treatment's planned share differs, give it with "
                                "--split PCT (split= in Python), else the variant assignment is broken — fix it "
                                "before reading the results")
        return GateResult("abtest", result, table="results", raw=result, warnings=warnings,
                          title=f"abtest: {result.get('control')} -> {result.get('treatment')}")

    # -- across components ---------------------------------------------------------------------
    def bottlenecks(self, run: str | None = None, *, label: str | None = None, start: Any = None, end: Any = None,
                    sensitivity: str = "medium", components: Sequence[str] | None = None, limit: int | None = 20,
                    cpu_cores: float | None = None) -> Result:
        """`workbench bottlenecks`: ranked findings across database, API, cache and system."""
        from workbench.analysis.bottlenecks import find_bottlenecks, resolve_scope
        from workbench.store import reading

        with reading(self.db) as store:
            scope = resolve_scope(store, run, label, start, end)
            rep = find_bottlenecks(store, scope, sensitivity, list(components or []) or None, cpu_cores=cpu_cores)
        return Result("bottlenecks", rep.to_dict(limit), table="findings", raw=rep,
                      title=f"bottlenecks ({sensitivity} sensitivity), {scope.start:%Y-%m-%d %H:%M:%S} .. "
                            f"{scope.end:%H:%M:%S} UTC")

    def alerts(self, start: str | int, end: str | int = "now", *, rules: str | None = None, url: str | None = None,
               interval: str = "1m", save: bool | None = None, server_timeout: str | None = None,
               concurrency: int = 4, ca_file: str | None = None, insecure: bool = False) -> Result:
        """`workbench alerts`: when each alerting rule would have fired between START and END, with PromQL
        at URL or the playbook's three rules over the store. SAVE (default: when the handle is writable)
        keeps the firing intervals in the store."""
        from workbench.analysis import alerts as al
        from workbench.sources import prometheus as prom

        save = not self.read_only if save is None else save
        if save:
            self._writable("alerts (saving the firing intervals; save=False only prints them)")
        start_ms, end_ms = prom.parse_time_ms(str(start)), prom.parse_time_ms(str(end))
        try:
            interval_ms = al.parse_prom_duration_ms(interval)
        except ValueError as e:
            raise WorkbenchError(f"--interval: {e}") from None
        if interval_ms <= 0:
            raise WorkbenchError("--interval must be more than 0, e.g. 1m")
        if url:
            backtest, where = _promql_backtest(rules, url, start_ms, end_ms, interval_ms, server_timeout=server_timeout,
                                               concurrency=concurrency, ca_file=ca_file, insecure=insecure)
        else:
            if rules:
                raise WorkbenchError("--rules needs --url: without Prometheus only the playbook's three rules have "
                                     "store equivalents (drop --rules, or pass --url)")
            from workbench.store import reading

            with reading(self.db) as store:
                backtest = al.backtest_store(store.con, start_ms, end_ms, interval_ms)
            where = None
        if save:
            from workbench.sources import prom_alerts
            from workbench.store import writing

            rules_rows, firing_rows = al.store_rows(backtest)
            with writing(self.db) as store:
                prom_alerts.save_backtest(store, source=backtest.source, url=where, start_ms=start_ms, end_ms=end_ms,
                                          rules_file=rules or f"(default) {al.DEFAULT_RULES}",
                                          rules=rules_rows, firing=firing_rows, notes=backtest.notes)
        what = "PromQL" if backtest.source == "promql" else "store equivalents, not PromQL"
        return Result("alerts", backtest.to_dict(), raw=backtest, warnings=backtest.notes, rows=_firing_rows,
                      columns=["alert", "labels", "start", "end", "value"],
                      title=f"alerts: firing intervals {al.iso(start_ms)} .. {al.iso(end_ms)} ({what})")

    def roi(self, config: str | os.PathLike | Mapping[str, Any], *, from_compare: str | Sequence[str] | None = None,
            endpoint: str | None = None, draws: int | None = None, seed: int | None = None) -> Result:
        """`workbench roi`: monthly benefit, NPV, payback, ROI and IRR from CONFIG (a YAML file or a dict),
        optionally with the p95 change measured between FROM_COMPARE = "before..after" (or a pair)."""
        from workbench import roi
        from workbench.store import Store

        if isinstance(config, Mapping):
            config, where = dict(config), "roi config"
        else:
            where = str(config)
            config = roi.load_config(where)
        if from_compare is not None:
            if isinstance(from_compare, str):
                before, sep, after = from_compare.partition("..")
            else:
                (before, after), sep = tuple(from_compare), ".."
            if not (sep and before and after):
                raise WorkbenchError(f"--from-compare {from_compare!r}: use BEFORE..AFTER, e.g. before..after")
            config["from_compare"] = {**(config.get("from_compare") or {}), "before": before, "after": after}
        if endpoint is not None:
            if not config.get("from_compare"):
                raise WorkbenchError("--endpoint needs --from-compare BEFORE..AFTER (or from_compare in the config)")
            config["from_compare"] = {**config["from_compare"], "endpoint": endpoint}
        model = roi.build_model(config, where=where)
        if model.from_compare:
            with Store.open(self.db, read_only=True) as store:
                result = roi.run(model, store.con, where=where, draws=draws, seed=seed)
        else:
            result = roi.run(model, where=where, draws=draws, seed=seed)
        out = result.to_dict()
        return Result("roi", out, raw=result, warnings=out.get("notes"),
                      title=f"ROI over {model.horizon_months} months (inputs at their medians)",
                      rows=lambda d: [{"output": k, "value": v} for k, v in d.items()
                                      if isinstance(v, int | float) and not isinstance(v, bool)])

    # -- the notebooks' reports: each reads what its notebook shows, then closes the store -------------
    def load_test_report(self, run: str | None = None, baseline: str | None = None, bucket_s: int = 1) -> Any:
        """Notebook 10: `load_test.LoadTestPage` of RUN (default: the latest) against BASELINE; None without
        runs."""
        from workbench.analysis.load_test import load_test_page
        from workbench.store import reading

        with reading(self.db) as store:
            return load_test_page(store.con, run or None, baseline or None, bucket_s)

    def database_report(self, from_snap: int | str | None = None, to_snap: int | str | None = None,
                        label: str | None = None) -> Any:
        """Notebook 20: `postgres.DatabaseReport` between two snapshots; its note says why when there is no data."""
        from workbench.analysis import postgres as pga
        from workbench.store import reading

        try:
            with reading(self.db) as store:
                return pga.database_report(store, from_snap, to_snap, label)
        except WorkbenchError as e:
            return pga.DatabaseReport(None, note=str(e))

    def cache_report(self, redis_server: str | None = None, redis_from: str | int | None = None,
                     redis_to: str | int | None = None, prom_names: str = "") -> Any:
        """Notebook 30: `cache_metrics.CacheReport` of Redis between two snapshots and the Prometheus sets."""
        from workbench.analysis.cache_metrics import load_report

        return load_report(self.db, redis_server, redis_from, redis_to, prom_names)

    def before_after_report(self, before: str, after: str, *, skip: str | float = "0s", until: str | float = "",
                            scenario: str = "", targets: str = "") -> Any:
        """Notebook 40: `compare.Outcome` of BEFORE vs AFTER with its latency frame, or why there is no data."""
        from workbench.analysis import compare as cmp
        from workbench.store import reading_if_exists

        opts = cmp.notebook_options(skip, until, scenario)
        with reading_if_exists(self.db) as store:
            con = store.con if store else None
            out = cmp.before_after_outcome(con, before, after, opts, targets, self.db or "")
            if out.have:
                out.latency = cmp.before_after_latency(con, before, after, opts)
        return out

    def ab_report(self, run: str, variant_tag: str, control: str, treatment: str, *, skip: str | float = "0s",
                  split: float | None = None) -> Any:
        """Notebook 50: `compare.Outcome` of TREATMENT vs CONTROL within RUN with its latency frame."""
        from workbench.analysis import compare as cmp
        from workbench.store import reading_if_exists

        opts = cmp.notebook_options(skip)
        with reading_if_exists(self.db) as store:
            con = store.con if store else None
            out = cmp.abtest_outcome(con, run, variant_tag, control, treatment, opts, split, self.db or "")
            if out.have:
                out.latency = cmp.ab_latency(con, run, variant_tag, control, treatment, opts)
        return out

    def bottleneck_report(self, run: str | None = None, label: str | None = None, sensitivity: str = "medium",
                          dsn: str | None = None) -> Any:
        """Notebook 60: `bottlenecks.BottleneckBundle` (findings, firing alerts, the advisor's plan, plans on DSN)."""
        from workbench.analysis.bottlenecks import bottleneck_bundle

        return bottleneck_bundle(self.db, run, label, sensitivity, dsn)

    def roi_report(self, config: Mapping[str, Any]) -> Any:
        """Notebook 70: `roi.RoiResult` of CONFIG (`roi.notebook_config`), as `roi` computes it (the store is
        read only when the config takes its p95 change from runs)."""
        return self.roi(dict(config)).raw

    # -- collectors (writable handle) -------------------------------------------------------------
    def collect_postgres(self, dsn: str | None = None, *, label: str | None = None,
                         statement_timeout_ms: int = 10_000, slow_every: str | float = "1h") -> Result:
        """`workbench collect postgres`: one snapshot of the server at DSN (libpq's environment when None)."""
        from workbench.durations import parse_duration_s
        from workbench.sources.postgres import collect

        self._writable("collect_postgres")
        slow_every_s = parse_duration_s(slow_every, example="1h, 30m or 0 (always full)")
        sid, snap = collect(dsn, self.db, label=label, statement_timeout_ms=statement_timeout_ms,
                            slow_every_s=slow_every_s or None)
        m = snap.meta
        doc = {"snapshot": sid, **{k: m.get(k) for k in ("kind", "host", "port", "dbname", "server_version",
                                                          "pgss_version")}, "statements": len(snap.statements)}
        return Result("collect postgres", doc, raw=snap, warnings=snap.warnings, title=f"postgres snapshot {sid}")

    def collect_redis(self, url: str | None = None, *, label: str | None = None, ca_file: str | None = None,
                      insecure: bool = False) -> Result:
        """`workbench collect redis`: one INFO + SLOWLOG snapshot of URL (default $REDIS_URL)."""
        from workbench.sources import redis as redis_src
        from workbench.store import writing

        self._writable("collect_redis")
        url = redis_src.redis_url(url)
        with writing(self.db) as store:
            snap = redis_src.collect(store, url, label=label, ca_file=ca_file, insecure=insecure)
        return Result("collect redis", _redis_doc(snap), raw=snap, title=f"redis snapshot {snap.snapshot_id}")

    def collect_prometheus(self, url: str, name: str, *, query: str | None = None, preset: str | None = None,
                           match: str = "", window: str = "5m", by: str | None = None, start: str | int,
                           end: str | int = "now", step: str, replace: bool = False, server_timeout: str | None = None,
                           concurrency: int = 4, ca_file: str | None = None, insecure: bool = False,
                           progress: Callable[[int, int], None] | None = None) -> Result:
        """`workbench collect prometheus`: a range query (QUERY, or PRESET with MATCH/WINDOW/BY) into series
        set NAME. PROGRESS(done, total) is called as the request windows arrive."""
        from workbench.sources import prometheus as source
        from workbench.store import writing

        self._writable("collect_prometheus")
        missing = [o for o, v in (("--url", url), ("--start", start), ("--step", step), ("--name", name)) if not v]
        if missing:
            raise WorkbenchError(f"collect prometheus needs {', '.join(missing)} (see --help)")
        if bool(query) == bool(preset):
            raise WorkbenchError("give exactly one of --query PROMQL or --preset NAME")
        promql = source.preset_query(preset, match, window, by) if preset else query
        start_ms, end_ms = source.parse_time_ms(str(start)), source.parse_time_ms(str(end))
        step_ms = source.parse_duration_ms(step)
        with source.PromClient(url, ca_file=ca_file, insecure=insecure, server_timeout=server_timeout,
                               concurrency=concurrency) as client:
            result = client.query_range(promql, start_ms, end_ms, step_ms, progress=progress)
            where = client.where
        with writing(self.db) as store:
            source.save(store, name, result, kind="prometheus-range", source=where, query=promql, preset=preset,
                        url=where, start_ms=start_ms, end_ms=end_ms, step_ms=step_ms, replace=replace)
        doc = {"name": name, "query": promql, "series": len(result.series), "points": result.points,
               "requests": result.windows, "written": True}
        return Result("collect prometheus", doc, raw=result, warnings=result.warnings, title=f"series set {name}")

    # -- ingests (writable handle) ---------------------------------------------------------------
    def ingest_k6(self, files: str | os.PathLike | Sequence[str | os.PathLike], run: str, *,
                  label: str | None = None, tags: Mapping[str, str] | None = None, replace: bool = False,
                  skip_bad_lines: bool = False, to_parquet: str | None = None,
                  progress: Callable[[str | os.PathLike], None] | None = None) -> Result:
        """`workbench ingest k6`: k6 outputs (json/csv, .gz, summaries) into RUN, or with TO_PARQUET streamed
        into a Parquet dataset. PROGRESS(path) is called before each file."""
        from workbench.sources import k6 as k6_source

        self._writable("ingest_k6")
        paths = [files] if isinstance(files, str | os.PathLike) else list(files)
        tag_map = dict(tags or {})
        if to_parquet:
            from workbench.sources.k6_stream import stream_files

            if replace:
                raise WorkbenchError("--replace does not apply to --to-parquet (a dataset's files are never rewritten)")
            results = stream_files(paths, run, to_parquet, label=label, tags=tag_map, skip_bad_lines=skip_bad_lines)
        else:
            from workbench.store import writing

            with writing(self.db, files=paths) as store:   # DuckDB may read these files, nothing else
                results = k6_source.ingest_files(store, paths, run, label=label, tags=tag_map, replace=replace,
                                                 skip_bad_lines=skip_bad_lines, progress=progress)
        doc = {"run": run, "dest": to_parquet, "files": [
            {"path": str(r.path), "format": r.format, "rows": r.rows, "skipped": r.skipped} for r in results]}
        return Result("ingest k6", doc, raw=results, rows=_file_rows, title=f"ingest k6 -> run {run}",
                      warnings=[w for r in results for w in r.warnings])

    def ingest_redis(self, file: str | os.PathLike, *, label: str | None = None, server: str | None = None,
                     slowlog: str | os.PathLike | None = None) -> Result:
        """`workbench ingest redis`: a saved `redis-cli INFO ALL` (and optionally its SLOWLOG GET as JSON)."""
        from workbench.sources import redis as redis_src
        from workbench.store import writing

        self._writable("ingest_redis")
        with writing(self.db) as store:
            snap = redis_src.ingest_file(store, file, label=label, server=server, slowlog_path=slowlog)
        warnings = [f"{file} was already ingested: nothing to do"] if snap.skipped else []
        return Result("ingest redis", _redis_doc(snap), raw=snap, warnings=warnings,
                      title=f"redis snapshot {snap.snapshot_id}")

    def ingest_prometheus(self, file: str | os.PathLike, name: str, *, replace: bool = False) -> Result:
        """`workbench ingest prometheus`: a saved query / query_range response as series set NAME."""
        from workbench.sources import prometheus as source
        from workbench.store import writing

        self._writable("ingest_prometheus")
        with writing(self.db) as store:
            result, written = source.ingest_file(store, file, name, replace)
        warnings = list(result.warnings) + ([] if result.series else [f"{file}: no series in the response"])
        doc = {"name": name, "result_type": result.result_type, "series": len(result.series),
               "points": result.points, "written": written}
        return Result("ingest prometheus", doc, raw=result, warnings=warnings, title=f"series set {name}")


    # -- store upkeep (writable handle) -----------------------------------------------------------
    def prune(self, older_than: str | float, *, keep: str | None = None, dry_run: bool = False) -> Result:
        """`workbench prune`: remove PostgreSQL/Redis snapshots older than OLDER_THAN ("30d", or seconds);
        KEEP="daily" keeps each server's last one per UTC day; DRY_RUN only counts."""
        from workbench.durations import parse_duration_s
        from workbench.retention import prune
        from workbench.store import db_path, writing

        self._writable("prune")
        seconds = parse_duration_s(older_than, positive=True, example="30d, 12h or 90m")
        if not db_path(self.db).exists():   # never create a store just to prune it
            raise WorkbenchError(f"no store at {db_path(self.db)}: nothing to prune (pass --db PATH)")
        with writing(self.db) as store:
            res = prune(store, seconds, keep, dry_run)
        return Result("prune", res.to_dict(), raw=res, title="prune",
                      rows=lambda d: [{"table": t, "rows": n} for t, n in sorted(d["rows"].items())])

    def export_parquet(self, dest: str, *, tables: str | Sequence[str] | None = None,
                       runs: Sequence[str] | None = None, since: Any = None) -> Result:
        """`workbench export parquet`: the store as hive-partitioned Parquet in DEST (directory or s3://),
        incrementally; TABLES among k6, postgres, redis, prometheus; SINCE an ISO-8601 time or datetime."""
        import datetime as dt

        from workbench.dataset import export_parquet
        from workbench.store import writing

        self._writable("export_parquet")
        when = since
        if isinstance(since, str):
            try:
                when = dt.datetime.fromisoformat(since)
            except ValueError as e:
                raise WorkbenchError(f"--since {since!r}: use an ISO-8601 time such as 2026-11-01T00:00:00Z") from e
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        fams = [f.strip() for f in tables.split(",") if f.strip()] if isinstance(tables, str) else tables
        with writing(self.db, files=None) as store:   # DuckDB reads/writes DEST
            result = export_parquet(store, dest, list(fams) if fams else None, list(runs or []) or None, when)
        return Result("export parquet", result.to_dict(), raw=result, warnings=result.warnings,
                      title=f"export parquet -> {dest}",
                      rows=lambda d: [{"table": t, "rows": n} for t, n in sorted(d["rows"].items())])

    def vacuum(self, progress: Callable[[str, int, int], None] | None = None) -> Result:
        """`workbench vacuum`: rewrite the store compactly (checked copy, atomic swap); PROGRESS(table, done,
        total) as tables are copied."""
        from workbench.vacuum import vacuum

        self._writable("vacuum")
        res = vacuum(self.db, progress=progress)
        return Result("vacuum", res.to_dict(), raw=res, title=res.summary(),
                      rows=lambda d: [{"table": t, "rows": n} for t, n in sorted(d["rows"].items())])

    def attach(self, dest: str | os.PathLike) -> Result:
        """`workbench attach`: the store's tables that the Parquet dataset DEST holds become views over it."""
        from pathlib import Path

        from workbench.dataset import attach
        from workbench.store import writing

        self._writable("attach")
        if str(dest).startswith("s3://") or not Path(dest).is_dir():   # before the store is created or touched
            raise WorkbenchError(f"{dest}: not a directory holding a dataset (for s3://, sync it to a directory "
                                 "first: aws s3 sync s3://... DIR)")
        with writing(self.db, files=None) as store:
            tables = attach(store, str(dest))
            path = store.path
        return Result("attach", {"store": str(path), "dest": str(dest), "tables": list(tables)},
                      title=f"attach {dest}", rows=lambda d: [{"table": t} for t in d["tables"]])


def _redis_doc(snap: Any) -> dict:
    return {"snapshot": snap.snapshot_id, "server": snap.address, "run_id": snap.run_id, "info_rows": snap.info_rows,
            "slowlog_rows": snap.slowlog_rows, "skipped": snap.skipped}


def _series_rows(doc: list[dict]) -> list[dict]:
    import datetime as dt

    names = list(dict.fromkeys(k for s in doc for k in s["labels"]))
    return [{**{n: s["labels"].get(n) for n in names}, "ts": dt.datetime.fromtimestamp(ts, dt.UTC),
             "value": float(v) if v is not None else None} for s in doc for ts, v in s["points"]]


def _firing_rows(doc: dict) -> list[dict]:
    return [{"alert": r["alert"], "labels": f.get("labels"), "start": f.get("start"), "end": f.get("end"),
             "value": f.get("value")} for r in doc["rules"] for f in r["firing"]]


def _promql_backtest(rules_file: str | None, url: str, start_ms: int, end_ms: int, interval_ms: int,
                     **client: Any) -> tuple[Any, str]:
    """Backtest the rules of RULES_FILE (the playbook's by default) against the Prometheus at URL."""
    from workbench.analysis import alerts as al
    from workbench.sources import prom_alerts
    from workbench.sources import prometheus as prom

    rule_file = al.load_rules(rules_file, interval_ms)
    if not rule_file.rules:
        raise WorkbenchError(f"{rule_file.path}: no alerting rules in the file")
    warnings: list[str] = []
    with prom.PromClient(url, **client) as c:
        def fetch(rule: Any, lo: int, hi: int, step: int) -> Any:
            points, notes = prom_alerts.rule_range(c, rule.expr, lo, hi, step,
                                                   where=f"{rule.file}:{rule.line}: rule {rule.alert!r}")
            warnings.extend(f"rule {rule.alert!r}: {n}" for n in notes)
            return points

        backtest = al.backtest_promql(rule_file, start_ms, end_ms, fetch)
        where = c.where
    backtest.notes.extend(warnings)
    return backtest, where
