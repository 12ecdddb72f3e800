"""The cache-and-metrics report's logic: Prometheus set kinds and findings, the Redis period, the combined
verdict and the plots, on the bundled Redis and Prometheus samples and on small constructed frames."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from workbench.analysis import cache_metrics as cm
from workbench.analysis import prometheus as prom
from workbench.analysis import redis as rs
from workbench.origin import CAVEAT
from workbench.plots import cache as cache_plots
from workbench.sources import prometheus as prom_source
from workbench.sources import redis as redis_source
from workbench.store import Store, reading

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
REDIS = ROOT / "tests" / "data" / "tool_captures" / "redis"   # maxmemory, evictions, slow commands: not in the lab
SERVER = "lab-redis:58741"
KINDS = {"p95_latency": "p95", "p95_standard": "p95", "p95_optimized": "p95", "p99_latency": "p99",
         "error_ratio_5xx": "error_ratio", "redis_hit_ratio": "hit_ratio", "rps": "rps", "cpu": "cpu",
         "memory": "memory", "pg_long_tx": "other"}
RUNS = list(json.loads((SAMPLES / "k6" / "runs.json").read_text()))   # the lab's runs: lab-pre, lab-post
SAMPLE_KINDS = {f"{run}.{name}": kind for run in RUNS for name, kind in KINDS.items()}
PRE = RUNS[0]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache") / "wb.duckdb"
    with Store.open(path) as store:
        redis_source.load_samples(store, REDIS)
        prom_source.load_samples(store, SAMPLES / "prometheus")
    return path


@pytest.fixture(scope="module")
def redis_only_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("redis") / "wb.duckdb"
    with Store.open(path) as store:
        redis_source.load_samples(store, REDIS)
    return path


@pytest.fixture(scope="module")
def report(db):
    return cm.load_report(db)



def frame(values, labels="{}") -> pd.DataFrame:
    ts = pd.date_range("2026-01-01", periods=len(values), freq="2s", tz="UTC")
    return pd.DataFrame({"ts": ts, "value": [float(v) for v in values], "labels": labels})


def intervals_frame(hits, misses) -> pd.DataFrame:
    n = len(hits)
    return pd.DataFrame({
        "from": range(1, n + 1), "to": range(2, n + 2),
        "taken_at": pd.date_range("2026-01-01", periods=n, freq="10s", tz="UTC"),
        "interval_s": 10.0, "reset": False, "keyspace_hits": hits, "keyspace_misses": misses,
        "hit_ratio": [h / (h + m) if h + m else None for h, m in zip(hits, misses, strict=True)],
        "evicted_keys": 0, "expired_keys": 0, "ops_per_s": 1.0})


# -- Prometheus: kinds and findings ------------------------------------------------------------------
@pytest.mark.parametrize(("meta", "name", "kind"), [
    ({"preset": "p95_latency", "query": "histogram_quantile(0.95, ...)"}, "p95_standard", "p95"),
    ({"preset": None, "query": "histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))"}, "latency", "p95"),
    ({"preset": None, "query": "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))"}, "slowest", "p99"),
    ({"preset": "p99_latency", "query": "histogram_quantile(0.99, ...)"}, "tail", "p99"),
    ({}, "API_RPS", "rps"),                                  # case-insensitive
    ({"preset": "error_ratio_5xx", "query": "sum(rate(a[5m])) / sum(rate(b[5m]))"}, "errors", "error_ratio"),
    ({"preset": None, "query": None}, "queue_depth", "other"),
])
def test_series_kind(meta, name, kind):
    assert prom.series_kind(meta, name) == kind


def test_every_sample_set_gets_its_kind(db):
    with reading(db) as store:
        sets = prom.series_sets(store.con)
    assert {s.name: s.kind for s in sets} == SAMPLE_KINDS
    p95 = next(s for s in sets if s.name == f"{PRE}.p95_standard")
    assert p95.title == f"{PRE}.p95_standard (p95_latency)" and not p95.frame.empty


def test_series_sets_filters_by_name_and_skips_unknown(db):
    with reading(db) as store:
        assert [s.name for s in prom.series_sets(store.con, f" {PRE}.p95_standard, nope ,{PRE}.rps")] == [
            f"{PRE}.p95_standard", f"{PRE}.rps"]
        assert [s.name for s in prom.series_sets(store.con, [f"{PRE}.cpu"])] == [f"{PRE}.cpu"]
        assert prom.series_sets(store.con, "nope") == []


def test_p95_finding_takes_the_worst_finite_value():
    s = prom.SeriesSet("api", {"preset": "p95_latency"}, frame([0.2, float("inf"), 1.5, float("nan"), 0.4]))
    assert prom.series_finding(s) == "`api`: worst P95 1.500 s crosses the 1.0 s HighResponseTime rule."
    s = prom.SeriesSet("api", {"preset": "p95_latency"}, frame([0.2, 0.35]))
    assert prom.series_finding(s) == "`api`: worst P95 0.350 s stays under the 1.0 s HighResponseTime rule."
    assert "crosses the 0.3 s" in prom.series_finding(s, threshold_s=0.3)


def test_error_ratio_finding_gives_peak_and_mean():
    s = prom.SeriesSet("err", {"preset": "error_ratio_5xx"}, frame([0.01, 0.03, float("-inf")]))
    assert prom.series_finding(s) == "`err`: 5xx ratio peaks at 3.00% (mean 2.00%)."


def test_no_finding_for_other_kinds_or_empty_sets():
    assert prom.series_finding(prom.SeriesSet("rps", {"preset": "rps"}, frame([10, 20]))) is None
    assert prom.series_finding(prom.SeriesSet("p99", {"preset": "p99_latency"}, frame([5.0]))) is None
    assert prom.series_finding(prom.SeriesSet("p95", {"preset": "p95_latency"}, frame([float("nan")]))) is None


# -- Redis: the report's period ----------------------------------------------------------------------
def test_cache_period_on_samples(db):
    with reading(db) as store:
        p = rs.cache_period(store.con)
    assert p.note is None and p.server == SERVER
    assert list(p.intervals["from"]) == [1, 2, 3, 4, 5] and len(p.memory) == 6
    assert (p.stats["from"], p.stats["to"]) == (1, 6)
    assert p.slowest["command"].iloc[0] == "keys" and p.slowest["usec_per_call"].is_monotonic_decreasing
    assert not p.slowlog.empty and p.slowlog["duration_us"].is_monotonic_decreasing
    assert p.summary["keyspace_hits"] + p.summary["keyspace_misses"] == 170_001
    assert p.findings()[0] == ("Cache hit ratio 86.1% over 170,001 lookups meets the playbook's 80% rule "
                               "(CacheHitRateLow).")
    assert p.fragmentation_text() == "fragmentation ratio 2.87: not meaningful at this size"


def test_cache_period_between_chosen_snapshots(db):
    with reading(db) as store:
        p = rs.cache_period(store.con, SERVER, 4, 5)
        one = rs.cache_period(store.con, SERVER, 3, 3)
    assert list(p.intervals["from"]) == [4] and p.summary["evicted_keys"] > 0
    assert one.note == f"Only one Redis snapshot of {SERVER}: no interval to analyse."
    assert one.intervals.empty and one.stats is None and one.fragmentation_text() is None
    assert one.findings() == [f"Redis: {one.note}"]
    assert not one.memory.empty and not one.slowlog.empty


def test_cache_period_without_snapshots(tmp_path):
    with Store.open(tmp_path / "empty.duckdb") as store:
        p = rs.cache_period(store.con)
    assert p.note.startswith("No Redis snapshots stored") and p.server is None
    assert p.intervals.empty and p.memory.empty and p.slowest.empty and p.slowlog.empty


# -- the combined verdict -----------------------------------------------------------------------------
def test_verdict_on_samples(report):
    v = cm.cache_verdict(report)
    assert v.ok is True
    assert v.headline == "Cache hit ratio 86.1% over 170,001 lookups meets the playbook's 80% rule (CacheHitRateLow)."
    assert list(v.details[:3]) == ["One interval dropped to 61.3%: the average hides it.",
                             "15,740 keys were evicted (memory pressure: maxmemory reached).",
                             "Memory: 91% of maxmemory used (allkeys-lru)."]
    p95_sets = [s for s in report.prom if s.kind == "p95"]
    for s in p95_sets:   # the worst finite value of each P95 set, read again from the saved response
        doc = json.loads((SAMPLES / "prometheus" / f"{s.name}.json").read_text())
        worst = max(float(v) for r in doc["data"]["result"] for _, v in r["values"] if math.isfinite(float(v)))
        rule = "crosses" if worst > 1.0 else "stays under"
        assert f"`{s.name}`: worst P95 {worst:.3f} s {rule} the 1.0 s HighResponseTime rule." in v.details
    assert len(p95_sets) == 3 * len(RUNS)
    assert sum("worst P95" in d for d in v.details) == len(p95_sets)   # p99, rps, cpu... give none
    assert not any("5xx ratio" in d for d in v.details)   # the lab served no 5xx: an empty ratio, no line
    assert CAVEAT not in v.details   # the notebook's show_caveat says it, only on samples and lab data
    assert v.details_markdown().splitlines()[0] == "- One interval dropped to 61.3%: the average hides it."


def test_verdict_against_a_stricter_target(report):
    v = cm.cache_verdict(report, target=0.9)
    assert v.ok is False and "is below the playbook's 90% rule" in v.headline


def test_verdict_below_target_on_a_constructed_period():
    period = rs.CachePeriod(server="x:6379", intervals=intervals_frame([300, 50], [700, 50]))
    v = cm.cache_verdict(cm.CacheReport(period, [], "No Prometheus series stored."))
    assert v.ok is False and v.headline.startswith("Cache hit ratio 31.8% over 1,100 lookups is below")
    assert "Prometheus: No Prometheus series stored." in v.details


def test_verdict_without_lookups_is_neutral():
    period = rs.CachePeriod(server="x:6379", intervals=intervals_frame([0], [0]))
    v = cm.cache_verdict(cm.CacheReport(period, [], None))
    assert v.ok is None and v.headline == "No key lookups in the period: no hit ratio to judge."


def test_report_with_chosen_series(db):
    r = cm.load_report(db, prom_names=f"{PRE}.rps,{PRE}.p99_latency")
    assert [s.name for s in r.prom] == [f"{PRE}.rps", f"{PRE}.p99_latency"] and r.prom_note is None
    assert not any("P95" in d for d in cm.cache_verdict(r).details)


def test_report_without_prometheus(redis_only_db):
    r = cm.load_report(redis_only_db)
    assert r.prom == [] and r.prom_note == "No Prometheus series stored."
    assert cm.cache_verdict(r).ok is True


def test_report_without_a_store(tmp_path):
    r = cm.load_report(tmp_path / "missing.duckdb")
    assert r.redis.note.startswith("No data: no store at") and r.prom_note == r.redis.note
    v = cm.cache_verdict(r)
    assert v.ok is None and v.headline == f"Redis: {r.redis.note}"
    assert v.details == (f"Prometheus: {r.prom_note}",)   # no store, no data: no caveat about its origin


def test_report_with_an_unknown_snapshot(db):
    r = cm.load_report(db, redis_from="nope")
    assert r.redis.note.startswith("No data: no Redis snapshot 'nope'") and r.prom == []


# -- plots -------------------------------------------------------------------------------------------
def test_hit_ratio_plot_draws_quiet_intervals_hollow(report):
    fig = cache_plots.hit_ratio_plot(report.redis.intervals)
    ax = fig.axes[0]
    filled, hollow = ax.collections
    assert len(filled.get_offsets()) == 3 and len(hollow.get_offsets()) == 2   # intervals 1→2, 3→4: <100 lookups
    assert ax.get_lines()[1].get_ydata()[0] == 0.8
    assert "80% rule (CacheHitRateLow)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_evictions_plot_has_two_bars_per_interval(report):
    fig = cache_plots.evictions_plot(report.redis.intervals)
    ax = fig.axes[0]
    assert len(ax.patches) == 10
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1→2", "2→3", "3→4", "4→5", "5→6"]
    assert max(p.get_height() for p in ax.patches) == report.redis.intervals["evicted_keys"].max()


def test_memory_plot_shows_maxmemory_only_when_set(report):
    mem = report.redis.memory
    assert [ln.get_label() for ln in cache_plots.memory_plot(mem).axes[0].get_lines()] == [
        "used_memory", "RSS", "maxmemory"]
    unlimited = mem.assign(maxmemory_bytes=0.0)
    assert len(cache_plots.memory_plot(unlimited).axes[0].get_lines()) == 2
    assert cache_plots.memory_plot(mem).axes[0].get_lines()[2].get_ydata()[0] == 8.0   # 8 MiB


def test_series_plot_per_kind(report):
    sets = {s.name: s for s in report.prom}
    p95 = sets[f"{PRE}.p95_standard"]
    ax = cache_plots.series_plot(p95.frame, p95.kind, p95.title, p95.name).axes[0]
    assert ax.get_ylabel() == "seconds" and ax.get_title() == f"{PRE}.p95_standard (p95_latency)"
    assert ax.get_lines()[-1].get_label() == "1.0 s (HighResponseTime)"
    rps = sets[f"{PRE}.rps"]
    handlers = json.loads((SAMPLES / "prometheus" / f"{PRE}.rps.json").read_text())["data"]["result"]
    ax = cache_plots.series_plot(rps.frame, rps.kind, rps.title).axes[0]
    assert ax.get_ylabel() == "requests / s" and len(ax.get_lines()) == rps.frame["labels"].nunique() == len(handlers)
    hit = sets[f"{PRE}.redis_hit_ratio"]
    ax = cache_plots.series_plot(hit.frame, hit.kind, hit.title).axes[0]
    assert ax.get_lines()[-1].get_label() == "80% rule"
