"""Every bottleneck detector, firing and not firing, on real-shaped inputs: the frames the analysis modules
compute from the bundled real captures (PostgreSQL, Redis, Prometheus) and a real k6 run against the lab
target; where a capture has no case that fires, its frame is copied and one value is changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.analysis import load_test as lt
from workbench.analysis import postgres as pga
from workbench.analysis import prometheus as prom
from workbench.analysis import redis as rs
from workbench.analysis.bottleneck_checks import Finding, api, cache, database, rules, system
from workbench.analysis.bottleneck_checks.n_plus_one import n_plus_one
from workbench.analysis.bottlenecks import find_bottlenecks, rank, resolve_scope
from workbench.sources import postgres as pgsrc
from workbench.sources import prometheus as promsrc
from workbench.sources import redis as rsrc
from workbench.sources.k6 import ingest_files
from workbench.store import Store

DATA = Path(__file__).resolve().parent.parent
SAMPLES = DATA / "data" / "samples"
TOOL_CAPTURES = DATA / "tests" / "data" / "tool_captures"   # the planted problems the lab has not


@pytest.fixture(scope="module")
def store(tmp_path_factory, k6_run):
    path = tmp_path_factory.mktemp("bn") / "wb.duckdb"
    with Store.open(path) as st:
        for mod, where in ((pgsrc, TOOL_CAPTURES / "postgres"), (rsrc, TOOL_CAPTURES / "redis"),
                           (promsrc, SAMPLES / "prometheus")):
            mod.load_samples(st, where)
        ingest_files(st, [k6_run.json, k6_run.handle_summary], "lab", label="lab")
    st = Store.open(path, read_only=True)
    yield st
    st.close()


@pytest.fixture(scope="module")
def top(store):
    return pga.pg_top(store, 2, 3).statements


@pytest.fixture(scope="module")
def interval_s(store):
    return pga.pg_top(store, 2, 3).pair.interval_s


def _items(found: list[Finding]) -> list[str]:
    return [f.item for f in found]


# -- the rules table -------------------------------------------------------------------------------------
def test_severity_curve_is_anchored_like_lighthouse():
    for rule in rules.RULES.values():
        assert rule.severity(rule.good) == pytest.approx(0.1, abs=1e-9)
        assert rule.severity(rule.bad) == pytest.approx(0.5, abs=1e-9)
        xs = np.geomspace(rule.good / 10, rule.bad * 10, 30)
        assert np.all(np.diff([rule.severity(x) for x in xs]) >= 0)
        assert rule.severity(rule.good / 2) < 0.1 < 0.5 < rule.severity(rule.bad * 2) < 1
        assert rule.low >= rule.medium >= rule.high   # low sensitivity reports less


def test_score_formula_and_table():
    assert rules.score(1, 1, 1) == 100
    assert rules.score(0.25, 1, 0.5) == 25.0
    assert rules.score(0.5, 0.5, 1, weight=0.5) == 25.0
    md = rules.rules_markdown()
    assert md.count("\n") == len(rules.RULES) + 1 and "| database | n_plus_one |" in md


# -- database ---------------------------------------------------------------------------------------------
def test_statements_fire_on_the_pareto_head_with_index_hint(top, interval_s):
    hint = {int(top.iloc[0].queryid): [{"table": "public.events", "columns": ["account_id"]}]}
    found = database.statements(top, "medium", interval_s=interval_s, advice=hint)
    head = [f for f in found if f.evidence["queryid"] == top.iloc[0].queryid]
    assert head and head[0].check == "statement_time" and "public.events (account_id)" in head[0].recommendation
    assert all(f.value >= f.threshold for f in found)


def test_statements_do_not_fire_on_an_idle_database(top, interval_s):
    idle = top.head(20).copy()
    idle["total_exec_time_ms"] = 0.02 * interval_s * 1000 / 20   # 0.02 busy sessions in all
    idle["time_share"] = 1 / 20
    idle["mean_exec_time_ms"] = 0.5
    idle["temp_blks_written"] = 0
    assert database.statements(idle, "medium", interval_s=interval_s) == []
    lead = idle.copy()                                             # leading an idle database is no bottleneck
    lead.loc[0, "time_share"] = 0.9
    assert database.statements(lead, "medium", interval_s=interval_s) == []


def test_seq_scans_fire_on_a_large_scanned_table_only(store):
    tables = pga.table_stats(store, 3, 2)
    found = database.seq_scans(tables, "medium")
    assert _items(found) == ["public.events"]
    assert database.seq_scans(tables, "low") == []   # 4.8M rows < 10M


def test_unused_and_duplicate_indexes(store):
    unused, dup = pga.unused_indexes(store, 3), pga.duplicate_indexes(store, 3)
    sizes = {"public.events": 10e6}
    found = database.indexes(unused, dup, sizes, "high", stats_age_s=3600)
    assert {(f.check, f.item) for f in found} == {("unused_index", "events_kind_idx"),
                                                    ("duplicate_index", "events_created_idx")}
    low = database.indexes(unused, dup, sizes, "low")          # a 0.5 MB unused index is not worth it yet
    assert [f.check for f in low] == ["duplicate_index"]
    assert database.indexes(unused.head(0), dup.head(0), sizes, "high") == []


def test_hit_ratios(store):
    hits = pga.hit_ratios(store, 3, 2)
    found = database.hit_ratios(hits, "medium")
    assert "database bench" in _items(found)
    assert all(f.evidence["hit_ratio"] < 0.99 for f in found)
    low = database.hit_ratios(hits, "low")                     # only misses of 5% and more
    assert "database bench" not in _items(low) and all(f.value >= 0.05 for f in low)
    warm = {k: v.assign(blks_hit=v["blks_hit"] + 1000 * v["blks_read"]) for k, v in hits.items()}
    assert database.hit_ratios(warm, "high") == []


def test_stale_stats_and_bloat(store):
    vac, bl = pga.vacuum_staleness(store, 3), pga.bloat(store, 3)
    found = database.maintenance(vac, bl, "medium")
    assert "public.pgbench_accounts" in _items(found) and all(f.check == "stale_stats" for f in found)
    fresh = vac.assign(n_mod_since_analyze=0, since_analyze_s=60.0)
    assert database.maintenance(fresh, bl, "medium") == []
    bloated = bl.copy()
    bloated.loc[0, ["bloat_bytes", "bloat_ratio"]] = [40e6, 0.6]
    found = database.maintenance(fresh, bloated, "medium")
    assert [(f.check, f.item) for f in found] == [("bloat", bloated.loc[0, "table"])]


def test_connections_long_and_blocked_sessions(store):
    sessions = pga.sessions(store, 3, 0)
    conn = pga.connections(store, 3)
    found = database.server(conn, sessions, "medium")
    assert [f.check for f in found] == ["blocked"] and found[0].evidence["blocked_by"]
    assert database.server(conn, sessions, "low") == []          # 2 s wait < 10 s
    busy = dict(conn, usage_ratio=0.85)
    old = sessions.assign(xact_age_s=600.0, blocked=False)
    checks = sorted(f.check for f in database.server(busy, old, "medium"))
    assert checks == ["connections", "long_transaction", "long_transaction"]


def test_fold_symptoms_keeps_one_finding_per_root_cause(store, top, interval_s):
    hint = {int(top.iloc[0].queryid): [{"table": "public.events", "columns": ["account_id"]}]}
    found = database.statements(top, "medium", interval_s=interval_s, advice=hint) + database.seq_scans(pga.table_stats(store, 3, 2), "medium")
    folded = database.fold_symptoms(found, pga.hit_ratios(store, 3, 2))
    assert "public.events" not in _items(folded)
    owner = next(f for f in folded if f.evidence.get("symptoms"))
    assert owner.evidence["symptoms"][0]["check"] == "seq_scan"


# -- N+1 -----------------------------------------------------------------------------------------------------
def _n1_frames(seed: int = 7):
    rng = np.random.default_rng(seed)
    orders = np.array([0, 130, 340, 190, 40, 0], dtype=float) + rng.poisson(3, 6)
    catalog = rng.poisson(80, 6).astype(float)
    calls = pd.DataFrame({111: orders * 10 + orders,                    # 10 lookups + 1 order read per request
                          222: rng.poisson(300, 6).astype(float)})    # pgbench: does not follow either
    requests = pd.DataFrame({"orders": orders, "catalog": catalog})
    stmts = pd.DataFrame({"queryid": [111, 222], "query": ["SELECT name, price FROM products WHERE id = $1",
                                                             "UPDATE pgbench_accounts SET abalance = $1 WHERE aid = $2"],
                          "calls": [calls[111].sum(), calls[222].sum()], "mean_exec_time_ms": [0.02, 0.3]})
    return calls, requests, stmts


def test_n_plus_one_ties_the_statement_to_its_endpoint():
    calls, requests, stmts = _n1_frames()
    found = n_plus_one(calls, requests, stmts, "medium")
    assert len(found) == 1
    f = found[0]
    assert f.evidence["endpoint"] == "orders" and f.evidence["calls_per_request"] == pytest.approx(11, rel=0.05)
    assert "N+1 suspect for endpoint orders" in f.item and f.evidence["p_value"] < 0.01


def test_n_plus_one_does_not_fire_without_tracking_or_when_slow():
    calls, requests, stmts = _n1_frames()
    shuffled = calls.copy()
    shuffled[111] = calls[111].to_numpy()[[3, 0, 5, 1, 4, 2]]
    assert n_plus_one(shuffled, requests, stmts, "medium") == []
    slow = stmts.assign(mean_exec_time_ms=[25.0, 0.3])
    assert n_plus_one(calls, requests, slow, "medium") == []
    assert n_plus_one(calls.head(2), requests.head(2), stmts, "medium") == []   # too few intervals


# -- cache ---------------------------------------------------------------------------------------------------
def test_cache_findings_from_the_captured_period(store):
    period = rs.cache_period(store.con)
    cmds = period.stats["commands"]
    assert cmds["keys"]["usec_per_call"] > 1000 and cmds["keys"]["calls"] < cache.MIN_COMMAND_CALLS
    assert "slow_command" not in {f.check for f in cache.cache(period.summary, period.stats, "high")}
    busy = dict(period.stats, commands=dict(cmds, keys=dict(cmds["keys"], calls=50)))
    found = {f.check: f for f in cache.cache(period.summary, busy, "high")}
    assert found["hit_ratio"].evidence["hit_ratio"] == pytest.approx(period.summary["hit_ratio"])
    assert {"hit_ratio", "evictions", "memory", "slow_command"} <= set(found)
    medium = {f.check for f in cache.cache(period.summary, period.stats, "medium")}
    assert "hit_ratio" not in medium          # 86% meets the playbook's 80%
    calm = dict(period.summary, evicted_keys=0, keyspace_misses=10)
    stats = dict(period.stats, memory=dict(period.stats["memory"], used_ratio=0.3), commands={})
    assert cache.cache(calm, stats, "high") == []


# -- api -----------------------------------------------------------------------------------------------------
def test_p95_over_the_slo(store):
    eps = lt.endpoint_table(store.con, "lab")
    assert api.slo(eps, "medium", "lab") == []
    slow = eps.copy()
    slow.loc[slow.endpoint == slow.endpoint.iloc[0], "p95_ms"] = 2500.0
    found = api.slo(slow, "medium", "lab")
    assert _items(found) == [f"endpoint {slow.endpoint.iloc[0]}"]


def test_errors_checks_and_thresholds(store):
    eps = lt.endpoint_table(store.con, "lab")
    errs = api.errors(eps, None, "high", "lab")
    assert errs and all(f.value >= 0.001 for f in errs)
    clean = eps.assign(error_rate=0.0, rate_5xx=0.0)
    assert api.errors(clean, None, "high", "lab") == []
    spike = pd.DataFrame({"endpoint": [eps.endpoint.iloc[0]], "peak_error_rate": [0.2], "peak_at": [pd.Timestamp.now()]})
    assert [f.confidence for f in api.errors(clean, spike, "high", "lab")] == [0.5]
    checks, thr = lt.checks_table(store.con, "lab"), lt.thresholds_frame(store.con, "lab")
    failing = [f for f in api.checks(checks, thr, "medium", "lab") if f.check == "checks"]
    assert failing and all(f.evidence["fails"] > 0 for f in failing)
    passing = checks.assign(fails=0)
    assert api.checks(passing, thr.assign(ok=True), "medium", "lab") == []
    broken = thr.assign(ok=[False] + [True] * (len(thr) - 1))
    assert [f.check for f in api.checks(passing, broken, "medium", "lab")] == ["thresholds"]


def test_latency_slope():
    rng = np.random.default_rng(3)
    rps = np.linspace(10, 80, 12)
    rows = [{"endpoint": "events", "requests": 50, "total_rps": r, "p50_ms": 20 + 0.5 * r + rng.normal(0, 1)}
            for r in rps]
    rows += [{"endpoint": "health", "requests": 50, "total_rps": r, "p50_ms": 5 + rng.normal(0, 0.3)} for r in rps]
    found = api.latency_slope(pd.DataFrame(rows), "medium", "lab")
    assert _items(found) == ["endpoint events latency vs load"]
    assert found[0].value == pytest.approx(0.5 * 70 / 25, rel=0.2)


# -- system --------------------------------------------------------------------------------------------------
def test_cpu_and_memory_saturation(store):
    sets = {s.kind: s for s in prom.series_sets(store.con) if s.kind in ("cpu", "memory")}
    cpu = sets["cpu"].frame
    assert system.saturation(cpu, "cpu", "medium", capacity=64.0, assumed=False) == []
    peak = cpu["value"].max()
    found = system.saturation(cpu, "cpu", "medium", capacity=peak / 0.95, assumed=True)
    assert found and all(f.confidence == system.ASSUMED_CONFIDENCE for f in found)
    mem = sets["memory"].frame
    assert system.saturation(mem, "memory", "medium", capacity=mem["value"].max() * 100, assumed=False) == []


# -- ranking over a store ------------------------------------------------------------------------------------
def test_find_bottlenecks_ranks_across_components(store):
    rep = find_bottlenecks(store, sensitivity="high")
    scores = [f.score for f in rep.findings]
    assert scores == sorted(scores, reverse=True)
    assert {f.component for f in rep.findings} >= {"database", "cache", "api"}
    assert len({(f.component, f.item) for f in rep.findings}) == len(rep.findings)
    doc = rep.to_dict()
    assert set(doc) >= {"sensitivity", "findings"} and set(doc["findings"][0]) >= {
        "component", "item", "score", "evidence", "threshold", "recommendation"}
    only = find_bottlenecks(store, sensitivity="high", components=["cache"])
    assert {f.component for f in only.findings} == {"cache"}
    assert len(find_bottlenecks(store, sensitivity="low").findings) < len(rep.findings)


def test_scope_of_a_run_and_bad_scopes(store):
    scope = resolve_scope(store, run="lab")
    rep = find_bottlenecks(store, scope)
    assert {f.component for f in rep.findings} <= {"api"} and "database" in rep.notes
    from workbench.errors import WorkbenchError
    with pytest.raises(WorkbenchError, match="no k6 run 'nope'"):
        resolve_scope(store, run="nope")
    with pytest.raises(WorkbenchError, match="one of --run"):
        resolve_scope(store, run="lab", label="lab")


def test_rank_merges_checks_on_one_item():
    a = Finding("database", "statement_time", "SELECT 1", 0.5, 0.1, "ratio", 0.5, 0.6, 1.0)
    b = Finding("database", "mean_time", "SELECT 1", 300, 100, "ms", 0.5, 0.7, 1.0)
    out = rank([a, b])
    assert len(out) == 1 and out[0].check == "mean_time" and out[0].evidence["also"] == ["statement_time"]


# -- docs and plots ------------------------------------------------------------------------------------------
def test_docs_carry_the_rules_table():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "bottlenecks.md").read_text()
    table = doc.split("<!-- rules-table:")[1].split("-->", 1)[1].split("<!-- /rules-table -->")[0].strip()
    assert table == rules.rules_markdown(), "docs/bottlenecks.md's table is stale: paste rules.rules_markdown()"


def test_plots_draw_the_evidence(store):
    from workbench.plots import bottlenecks as bplots

    rep = find_bottlenecks(store, sensitivity="high")
    fig = bplots.score_bars(rep.to_frame(), 10)
    assert len(fig.axes[0].patches) == min(10, len(rep.findings))
    calls, requests, _ = _n1_frames()
    fig = bplots.n_plus_one_scatter(calls, requests, 111, "orders")
    assert "11.0 calls per request" in fig.axes[0].get_legend().get_texts()[0].get_text()
    buckets = rep.frames["api"]["lab"]["buckets"]
    assert len(bplots.latency_vs_load(buckets).axes[0].collections) == buckets["endpoint"].nunique()
    cpu = next(s for s in prom.series_sets(store.con) if s.kind == "cpu").frame
    assert len(bplots.saturation_lines(cpu, 2.0, "cpu").axes[0].lines) == cpu["labels"].nunique()


def test_rate_confidence_follows_the_binomial_test():
    from workbench.analysis.bottleneck_checks import rate_confidence

    assert rate_confidence(232, 240, 0.2) == pytest.approx(1.0)          # 97% misses in 240 lookups: clear
    borderline = rate_confidence(22, 100, 0.2)                            # 22% vs 20% in 100: not clear
    assert 0.2 <= borderline < 0.7
    assert rate_confidence(0, 0, 0.2) == 0.2


def test_scope_by_label_and_by_time(store):
    snaps = pga.snapshots(store)
    s = resolve_scope(store, label="blocked")            # the third PostgreSQL sample's label
    at = pd.Timestamp(snaps[snaps.label == "blocked"].taken_at.iloc[0])
    assert s.start < at < s.end and s.label == "blocked"
    lo, hi = pd.Timestamp(snaps.taken_at.iloc[1]), pd.Timestamp(snaps.taken_at.iloc[2])
    window = resolve_scope(store, start=(lo - pd.Timedelta(seconds=1)).isoformat(),
                           end=(hi + pd.Timedelta(seconds=1)).isoformat())
    rep = find_bottlenecks(store, window, "medium", ["database"])
    assert rep.frames["statements"]["calls"].sum() == pga.pg_top(store, 2, 3).statements["calls"].sum()
    from workbench.errors import WorkbenchError
    with pytest.raises(WorkbenchError, match="not after"):
        resolve_scope(store, start=hi.isoformat(), end=lo.isoformat())


def test_alert_timeline_draws_one_bar_per_firing_interval():
    from workbench.plots import bottlenecks as bplots

    t0 = pd.Timestamp("2026-01-01T00:00:00Z")
    firing = pd.DataFrame({"alert": ["HighResponseTime", "HighResponseTime", "CacheHitRateLow"],
                           "labels": ['{endpoint="events"}', '{endpoint="events"}', ""],
                           "start": [t0 + pd.Timedelta(minutes=m) for m in (5, 20, 7)],
                           "end": [t0 + pd.Timedelta(minutes=9), pd.NaT, t0 + pd.Timedelta(minutes=30)]})
    fig = bplots.alert_timeline(firing, t0, t0 + pd.Timedelta(minutes=40))
    bars = fig.axes[0].patches
    assert len(bars) == 3
    assert len(fig.axes[0].get_yticklabels()) == 2                  # one row per alert and label set
    still_firing = bars[1]                                          # drawn to the window's end
    assert still_firing.get_width() == pytest.approx(20 / (24 * 60))
