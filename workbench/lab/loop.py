"""`workbench lab run`: the playbook's optimise-and-verify loop against a running lab.

Steps, each named in the progress and in a failure:

1. baseline snapshots of PostgreSQL and Redis;
2. k6 run `lab-pre` (or `lab-pre-1..N` with --runs N), PostgreSQL and Redis snapshots every 10 s during
   it, Prometheus ranges for its window;
3. `workbench bottlenecks` and `workbench advise` over lab-pre, then the fixes their findings name
   (`fix_findings`: ANALYZE of stale tables, then the advisor's indexes, the N+1 join, cache warming);
4. k6 run `lab-post` (the cache warmed right before each arm, as the playbook's scheduled warmCache), with
   the same collection;
5. `workbench report` for every notebook.

Everything lands in the store; the raw files (k6 outputs, snapshots, INFO texts, Prometheus responses)
stay under `.lab/runs/<time>/` for inspection and for scripts/capture_samples.py. Numbers come from
one shared machine with loopback services: they show the loop works, not production performance.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError
from workbench.lab.stack import LabState, start_api
from workbench.origin import LAB

if TYPE_CHECKING:
    from workbench.analysis.advisor import AdvicePlan

LOAD_SCRIPT = "api_endpoints.js"
SNAPSHOT_EVERY_S = 10.0
PROM_STEP_S = 2
PROM_WINDOW = "30s"
# series set suffix -> (preset, label matchers, grouping); a set is stored as "<run>.<suffix>", its raw
# response as prometheus/<run>.<suffix>.json (the set name is the file name, as in data/samples/)
PROM_SERIES = {
    "p95_latency": ("p95_latency", 'job="api"', None),
    "p99_latency": ("p99_latency", 'job="api"', None),
    "error_ratio_5xx": ("error_ratio_5xx", 'job="api"', None),
    "rps": ("rps", 'job="api"', "handler"),
    "cpu": ("cpu", 'job="api"', None),        # the API process's own (the ROI's measured CPU change)
    "memory": ("memory", 'job="api"', None),
    "p95_standard": ("p95_latency", 'handler="/api/events", query_type="standard"', None),
    "p95_optimized": ("p95_latency", 'handler="/api/events", query_type="optimized"', None),
}
EXPORTER_SERIES = {"redis_exporter": {"redis_hit_ratio": ("redis_hit_ratio", "", None)},
                   "postgres_exporter": {"pg_long_tx": ("pg_long_tx", 'datname="lab"', None)}}


@dataclass
class Plan:
    """What `lab run` does: arm names, load shape and where things go."""

    db: str | None
    runs: int = 1
    short: bool = False
    prefix: str = "lab"
    reports: bool = True
    report_out: Path = Path("reports")
    notebooks: Path = Path("notebooks")

    @property
    def rate(self) -> int:
        return 25 if self.short else 30   # --short: ~400 /api/events requests over ~40 windows, for p95's tail

    @property
    def ramp_hold(self) -> tuple[str, str]:
        return ("5s", "45s") if self.short else ("30s", "150s")

    def arm(self, which: str) -> list[str]:
        base = f"{self.prefix}-{which}"
        return [base] if self.runs == 1 else [f"{base}-{i}" for i in range(1, self.runs + 1)]


@dataclass
class Fix:
    """One optimisation: a name, what it does in words, and how to apply it to the lab."""

    name: str
    description: str
    apply: Callable[[LabState], str]


@dataclass
class Outcome:
    """What `lab run` did: runs, snapshot ids per arm, fixes applied, artefact directory."""

    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    snapshots: dict[str, dict[str, list[int]]] = field(default_factory=dict)   # run -> {postgres, redis}
    artefacts: str = ""
    reports: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class StepFailed(WorkbenchError):
    """A step of the loop failed; the lab stays up for inspection."""


# -- the fixes ------------------------------------------------------------------------------------------
def _superuser(state: LabState):
    import psycopg

    return psycopg.connect(**state.superuser_kwargs(), autocommit=True)


def _analyze(table: str) -> Callable[[LabState], str]:
    """The stale-statistics fix for TABLE (a finding's item, schema-qualified): VACUUM (ANALYZE) it."""
    from workbench.analysis.advisor import quote_qualified

    def apply(state: LabState) -> str:
        sql = f"VACUUM (ANALYZE) {quote_qualified(table)}"
        with _superuser(state) as con:
            con.execute(sql)
        return sql

    return apply


def _create_index(sql: str) -> Callable[[LabState], str]:
    """The advisor's CREATE INDEX CONCURRENTLY statement (its text is built by the advisor's quoting)."""
    def apply(state: LabState) -> str:
        with _superuser(state) as con:
            con.execute(sql.rstrip(";"))
        return sql

    return apply


def _join_permissions(state: LabState) -> str:
    start_api(state, "join")
    return "API redeployed with the permissions join (users_query=join)"


def warm_cache(state: LabState, concurrency: int = 8) -> str:
    """The playbook's warmCache: fetch the critical endpoints (per active user for the alerts)."""
    import httpx

    paths = [("/api/dashboard/summary", "1"), ("/api/threats/active", "1")]
    paths += [("/api/alerts/recent", str(u)) for u in range(1, state.active_users + 1)]
    with httpx.Client(base_url=state.api_url, timeout=30) as client:
        def get(item: tuple[str, str]) -> int:
            return client.get(item[0], headers={"X-User-Id": item[1]}).status_code

        with ThreadPoolExecutor(concurrency) as pool:
            codes = list(pool.map(get, paths))
    bad = sum(c != 200 for c in codes)
    if bad:
        raise WorkbenchError(f"cache warming: {bad} of {len(codes)} requests failed")
    return f"warmed {len(codes)} cache keys (dashboard, threats, alerts of {state.active_users} users)"


# Endpoints whose N+1 the lab knows how to rewrite (the playbook's single join), by endpoint name.
N_PLUS_ONE_REWRITES = {"/api/users/{id}": _join_permissions}
STATEMENT_CHECKS = ("statement_time", "mean_time", "seq_scan", "temp_spill")


def fixes_for(findings: list, plan: AdvicePlan | None) -> tuple[list[Fix], list[str]]:
    """Map FINDINGS (find_bottlenecks, ranked) and the advisor's PLAN (None: no index fixes yet) to the fixes
    they name, in the order they are applied (statistics, indexes, code, cache), and say which findings
    have no fix here and why."""
    analyze, indexes, code, cache, notes = [], [], [], [], []
    by_queryid = {q: ix for ix in (plan.indexes if plan else []) for q in ix.queryids}
    seen: set[str] = set()
    for f in findings:
        ev = f.evidence
        if f.component == "database" and f.check == "stale_stats":
            fix = Fix(f"analyze {f.item}", f"stale statistics on {f.item} ({f.value:.0%} of rows changed since "
                      "the last analyze): VACUUM (ANALYZE)", _analyze(f.item))
            into = analyze
        elif f.component == "database" and f.check in STATEMENT_CHECKS and ev.get("queryid") is not None:
            if plan is None:
                continue
            ix = by_queryid.get(ev["queryid"])
            if ix is None:
                notes.append(f"no index fix for queryid {ev['queryid']}: the advisor proposes none")
                continue
            saving = f", {ix.saving:.0%} cheaper with hypopg" if ix.saving is not None else " (unverified)"
            fix = Fix(f"index {ix.name}", f"the advisor's index for {f.check} of queryid {ev['queryid']}"
                      f"{saving}: built CONCURRENTLY", _create_index(ix.create_sql()))
            into = indexes
        elif f.component == "database" and f.check == "n_plus_one":
            rewrite = N_PLUS_ONE_REWRITES.get(ev.get("endpoint"))
            if rewrite is None:
                notes.append(f"no rewrite for the N+1 of {ev.get('endpoint')} in the lab")
                continue
            fix = Fix("permissions_join", f"N+1 permissions lookup in {ev['endpoint']} "
                      f"({ev.get('calls_per_request', 0):.0f} calls per request): the playbook's single join", rewrite)
            into = code
        elif f.component == "cache" and f.check == "hit_ratio":
            fix = Fix("cache_warming", f"cold cache ({f.item}: hit ratio {1 - f.value:.0%}): the playbook's "
                      "warmCache", warm_cache)
            into = cache
        else:
            continue
        if fix.name not in seen:
            seen.add(fix.name)
            into.append(fix)
    return analyze + indexes + code + cache, notes


def fix_findings(state: LabState, db: str | None, pre_runs: list[str], apply: Callable[[Fix], None],
                 say: Callable[[str], None]) -> None:
    """The optimisations the findings name, each handed to APPLY: `workbench bottlenecks` over the last pre
    run; the stale tables' ANALYZE first, so that `workbench advise` (verified with hypopg when the lab has
    it) then plans on current statistics; then its indexes for the statements the findings name, the code
    and the cache fixes."""
    from workbench.analysis.advisor import advise
    from workbench.analysis.bottlenecks import find_bottlenecks, resolve_scope
    from workbench.store import reading

    run = pre_runs[-1]
    with reading(db) as store:
        findings = find_bottlenecks(store, resolve_scope(store, run=run)).findings
    say(f"bottlenecks in {run}:")
    for f in findings[:8]:
        say(f"  {f.component} {f.score:.0f}: {' '.join(f.item.split())[:90]}")
    first, _ = fixes_for(findings, None)
    first = [f for f in first if f.name.startswith("analyze ")]
    for fix in first:
        apply(fix)
    with reading(db) as store:
        plan = advise(store, state.pg_dsn, label=run)
    verified = f"verified with hypopg {plan.hypopg_version}" if plan.verified else f"unverified: {plan.unverified_reason}"
    say(f"advise over {run}: {len(plan.indexes)} index(es), {verified}")
    rest, notes = fixes_for(findings, plan)
    for note in notes:
        say(f"  {note}")
    for fix in rest:
        if fix.name not in {f.name for f in first}:
            apply(fix)


# -- collection -----------------------------------------------------------------------------------------
class Collector:
    """Snapshots and Prometheus ranges into the store, raw copies under OUT."""

    def __init__(self, state: LabState, db: str | None, out: Path):
        self.state, self.db, self.out = state, db, out
        self.n = {"postgres": 0, "redis": 0}
        for d in ("k6", "postgres", "redis", "prometheus"):
            (out / d).mkdir(parents=True, exist_ok=True)

    def postgres(self, label: str) -> int:
        from workbench.sources import postgres as pg_src
        from workbench.store import writing

        snap = pg_src.take_snapshot(self.state.pg_dsn)
        self.n["postgres"] += 1
        pg_src.save_sample(snap, self.out / "postgres" / f"snapshot_{self.n['postgres']:02d}.json.gz")
        with writing(self.db, origin=LAB) as store:
            return pg_src.write_snapshot(store, snap, label=label, source=self.state.pg_dsn)

    def redis(self, label: str) -> int:
        from workbench.redact import redact_url
        from workbench.sources import redis as redis_src
        from workbench.sources.redis_info import parse_info
        from workbench.store import writing

        url = self.state.redis_url
        text, section, slowlog = redis_src.fetch(url)
        self.n["redis"] += 1
        i = self.n["redis"]
        (self.out / "redis" / f"info_{i:02d}.txt").write_text(text)
        (self.out / "redis" / f"slowlog_{i:02d}.json").write_text(json.dumps(slowlog, default=str))
        with writing(self.db, origin=LAB) as store:
            snap = redis_src.write_snapshot(store, parse_info(text), source=redact_url(url),
                                            address=redis_src.address_of(url), source_kind="live",
                                            info_section=section, label=label, slowlog=slowlog)
        return snap.snapshot_id

    def both(self, label: str, into: dict[str, list[int]] | None = None) -> None:
        p, r = self.postgres(label), self.redis(label)
        if into is not None:
            into.setdefault("postgres", []).append(p)
            into.setdefault("redis", []).append(r)

    def prometheus(self, run: str, start_s: float, end_s: float) -> list[str]:
        import httpx

        from workbench.sources import prometheus as prom_src
        from workbench.store import writing

        series = dict(PROM_SERIES)
        for exporter, extra in EXPORTER_SERIES.items():
            if exporter in self.state.processes:
                series.update(extra)
        time.sleep(2.5)  # the last scrape (1 s interval) lands
        start, end = int(start_s), int(end_s) + 1
        stored = []
        for suffix, (preset, match, by) in series.items():
            query = prom_src.preset_query(preset, match=match, window=PROM_WINDOW, by=by)
            resp = httpx.get(f"{self.state.prometheus_url}/api/v1/query_range", timeout=30,
                             params={"query": query, "start": start, "end": end, "step": PROM_STEP_S})
            name = f"{run}.{suffix}"
            (self.out / "prometheus" / f"{name}.json").write_bytes(resp.content)
            result = prom_src.parse_response(resp.json(), f"Prometheus {self.state.prometheus_url}")
            with writing(self.db, origin=LAB) as store:
                prom_src.save(store, name, result, kind="prometheus-range", source=self.state.prometheus_url,
                              query=query, preset=preset, url=self.state.prometheus_url, start_ms=start * 1000,
                              end_ms=end * 1000, step_ms=PROM_STEP_S * 1000)
            stored.append(name)
        return stored


# -- k6 ---------------------------------------------------------------------------------------------------
def run_arm(state: LabState, plan: Plan, run: str, col: Collector, outcome: Outcome,
            say: Callable[[str], None], echo: Callable[[str], None]) -> None:
    """One k6 run with snapshots every 10 s, then its ingest and Prometheus ranges."""
    from workbench.lab.api import FLAG_PERCENT
    from workbench.lab.k6 import k6_binary
    from workbench.sources import k6 as k6_src
    from workbench.store import writing

    ramp, hold = plan.ramp_hold
    points, summary = col.out / "k6" / f"{run}.json.gz", col.out / "k6" / f"{run}.summary.json"
    cmd = [k6_binary(), "run", "--quiet", "--no-usage-report", "--address", "127.0.0.1:0",  # not k6's 6565
           "--out", f"json={points}", "--summary-export", str(summary), str(Path(__file__).with_name(LOAD_SCRIPT))]
    env = {"BASE_URL": state.api_url, "RATE": str(plan.rate), "RAMP": ramp, "HOLD": hold,
           "USERS": str(state.active_users), "FLAG_PERCENT": str(FLAG_PERCENT), "K6_NO_COLOR": "true"}
    snaps = outcome.snapshots.setdefault(run, {})
    col.both(run, snaps)
    say(f"k6 run {run}: ramping arrival rate to {plan.rate}/s over {ramp}, held {hold}; snapshots every "
        f"{SNAPSHOT_EVERY_S:.0f} s")
    log = col.out / "k6" / f"{run}.stdout.txt"
    started = time.time()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})
        try:
            while True:
                try:
                    proc.wait(SNAPSHOT_EVERY_S)
                    break
                except subprocess.TimeoutExpired:
                    col.both(run, snaps)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    ended = time.time()
    text = log.read_text(errors="replace")
    if proc.returncode not in (0, 99):  # 99: thresholds crossed, a result
        raise WorkbenchError(f"k6 exited with {proc.returncode}: {text.strip().splitlines()[-1:]}")
    col.both(run, snaps)
    echo(text.rstrip())
    with writing(plan.db, files=[points, summary], origin=LAB) as store:   # DuckDB may read these two files only
        k6_src.ingest_files(store, [points, summary], run, label=run,
                            tags={"executor": "ramping-arrival-rate", "target_rate": str(plan.rate),
                                  "lab_users_query": state.users_query})
    say(f"Prometheus ranges for {run}: " + ", ".join(s.split(".", 1)[1] for s in col.prometheus(run, started, ended)))


# -- the loop -----------------------------------------------------------------------------------------------
def check_plan(plan: Plan) -> None:
    """Refuse up front when the store already holds a run of that name (nothing is overwritten)."""
    from workbench.store import db_path, reading

    if not db_path(plan.db).exists():
        return
    names = plan.arm("pre") + plan.arm("post")
    with reading(plan.db) as store:
        taken = [r[0] for r in store.con.execute("SELECT run FROM k6_runs WHERE run IN (SELECT unnest(?))",
                                                  [names]).fetchall()]
    if taken:
        raise WorkbenchError(f"{db_path(plan.db)} already holds run(s) {', '.join(sorted(taken))}: "
                             "use --prefix NAME or another --db")


def run_loop(state: LabState, plan: Plan, say: Callable[[str], None], step: Callable[[str], None],
             echo: Callable[[str], None] = print) -> Outcome:
    """The loop (see the module docstring). STEP(name) announces a step; SAY(text) reports within it."""
    check_plan(plan)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    col = Collector(state, plan.db, state.dir / "runs" / stamp)
    outcome = Outcome(before=plan.arm("pre"), after=plan.arm("post"), artefacts=str(col.out))
    current = "start"

    def begin(name: str) -> None:
        nonlocal current
        current = name
        step(name)

    try:
        begin("baseline snapshots")
        col.both(f"{plan.prefix}-baseline", outcome.snapshots.setdefault(f"{plan.prefix}-baseline", {}))
        for run in outcome.before:
            begin(f"k6 {run}")
            run_arm(state, plan, run, col, outcome, say, echo)
        begin("bottlenecks and fixes")

        def found(line: str) -> None:
            outcome.findings.append(line)
            say(line)

        def apply(fix: Fix) -> None:
            begin(f"fix: {fix.name}")
            say(fix.description)
            say(fix.apply(state))
            outcome.fixes.append(fix.name)

        fix_findings(state, plan.db, outcome.before, apply, found)
        warming = "cache_warming" in outcome.fixes
        for i, run in enumerate(outcome.after):
            if warming and i > 0:
                begin(f"cache warming before {run}")
                say(warm_cache(state))
            begin(f"k6 {run}")
            run_arm(state, plan, run, col, outcome, say, echo)
        (col.out / "outcome.json").write_text(json.dumps(outcome.to_dict(), indent=2))
        if plan.reports:
            begin("reports")
            outcome.reports = make_reports(plan, outcome, say)
    except WorkbenchError as e:
        raise StepFailed(f"lab run failed at step '{current}': {e} (the lab is still up: "
                         f"`workbench lab status`; files in {col.out})") from e
    except Exception as e:
        raise StepFailed(f"lab run failed at step '{current}': {type(e).__name__}: {e} (the lab is still up: "
                         f"`workbench lab status`; files in {col.out})") from e
    return outcome


def report_plan(plan: Plan, outcome: Outcome) -> list[tuple[Path, dict]]:
    """(notebook, parameters) for every numbered notebook over the lab's runs."""
    from workbench.store import db_path

    db = str(db_path(plan.db).resolve())
    pre, post = outcome.before, outcome.after
    snaps = outcome.snapshots
    first_pg, last_pg = snaps[pre[0]]["postgres"][0], snaps[pre[-1]]["postgres"][-1]
    params = {
        "10_load_test": [{"run": post[-1], "baseline": pre[-1]}],
        "20_database": [{"from_snap": first_pg, "to_snap": last_pg}],
        "30_cache_and_metrics": [{"redis_from": snaps[post[0]]["redis"][0], "redis_to": snaps[post[-1]]["redis"][-1],
                                  "prom_names": ",".join(f"{post[-1]}.{s}" for s in ("p95_latency", "rps"))}],
        "40_before_after": [{"before": ",".join(pre), "after": ",".join(post)}],
        "50_ab_test": [{"run": pre[-1], "variant_tag": "variant", "control": "standard",
                        "treatment": "optimized", "split": 25.0}],
        "70_roi": [{"before": ",".join(pre), "after": ",".join(post), "endpoint": "/api/events"}],
    }
    out = []
    for nb in sorted(plan.notebooks.glob("[0-9]*.ipynb")):
        for p in params.get(nb.stem, [{}]):
            out.append((nb, {"db": db, **p}))
    return out


def _execute(item: tuple[Path, dict, Path]):
    from workbench.reports import execute_notebook

    return execute_notebook(*item)


def make_reports(plan: Plan, outcome: Outcome, say: Callable[[str], None]) -> list[str]:
    """Execute every notebook, two at a time (each in its own process and kernel); rebuild the index."""
    from concurrent.futures import ProcessPoolExecutor

    from workbench.reports import update_index

    items = [(nb, params, plan.report_out) for nb, params in report_plan(plan, outcome)]
    say("reports: " + ", ".join(nb.stem for nb, _, _ in items))
    with ProcessPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(_execute, items))
    update_index(plan.report_out, reports)
    broken = [r for r in reports if r.error]
    if broken:
        raise WorkbenchError("notebook(s) failed: " + "; ".join(f"{r.name}: {r.error}" for r in broken))
    return [str(plan.report_out / r.html) for r in reports]
