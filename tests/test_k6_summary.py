"""`workbench k6 summary` equals k6's own summary for the same real run (JSON, JSON.gz and CSV points)."""

from __future__ import annotations

import json
import math

import pytest

from workbench.analysis.k6_summary import k6_summary, parse_trend_stats, split_submetric
from workbench.errors import WorkbenchError
from workbench.sources import k6
from workbench.store import Store

TREND_STATS = "avg,min,med,max,p(90),p(95),p(99),count"   # the lab script's summaryTrendStats


def _ingest(db, files, run="r"):
    with Store.open(db) as store:
        k6.ingest_files(store, files, run)
    return Store.open(db, read_only=True)


def _compare(ours: dict, theirs: dict, trend_tol_rel: float, abs_tol: float) -> list[str]:
    """Mismatches between our metrics and k6's --summary-export metrics (flat legacy shape)."""
    problems = []
    for name, stats in theirs.items():
        mine = ours.get(name)
        if mine is None:
            problems.append(f"missing {name}")
            continue
        is_rate, is_gauge = "passes" in stats, set(stats) - {"thresholds"} <= {"value", "min", "max"}
        for key, want in stats.items():
            if key == "thresholds":
                expect = {expr: {"ok": not failed} for expr, failed in want.items()}
                if mine.get("thresholds") != expect:
                    problems.append(f"{name} thresholds {mine.get('thresholds')} != {expect}")
                continue
            # counter rate and gauge value depend on run duration and sample order: excepted
            if (key == "rate" and not is_rate) or (key == "value" and is_gauge):
                continue
            got = mine.get(key)
            exact = key in ("count", "passes", "fails") or is_rate
            if got is None:
                problems.append(f"{name}.{key} missing")
            elif exact and abs_tol == 0 and got != want:
                problems.append(f"{name}.{key} {got!r} != {want!r}")
            elif not math.isclose(got, want, rel_tol=trend_tol_rel, abs_tol=abs_tol):
                problems.append(f"{name}.{key} {got!r} != {want!r}")
    return problems


@pytest.mark.parametrize("fmt", ["json", "json_gz"])
def test_summary_equals_k6_export_json(k6_run, tmp_db, fmt):
    export = json.loads(k6_run.summary_export.read_text())["metrics"]
    with _ingest(tmp_db, [getattr(k6_run, fmt), k6_run.summary_export]) as store:
        ours = k6_summary(store.con, "r", TREND_STATS)
    assert _compare(ours["metrics"], export, trend_tol_rel=1e-9, abs_tol=0) == []
    # the submetrics k6 reports are all there, including thresholds on tagged submetrics
    assert "http_req_duration{name:events}" in ours["metrics"]
    assert "checks{check:status is 200}" in ours["metrics"]
    assert ours["metrics"]["http_reqs"]["count"] > 1000


def test_summary_equals_k6_export_csv(k6_run, tmp_db):
    """CSV values have 6 decimals: compared to 1e-6 absolute."""
    export = json.loads(k6_run.summary_export.read_text())["metrics"]
    with _ingest(tmp_db, [k6_run.csv, k6_run.summary_export]) as store:
        ours = k6_summary(store.con, "r", TREND_STATS)
    assert _compare(ours["metrics"], export, trend_tol_rel=1e-9, abs_tol=1e-6) == []


def test_summary_equals_handle_summary_values(k6_run, tmp_db):
    handle = json.loads(k6_run.handle_summary.read_text())
    with _ingest(tmp_db, [k6_run.json, k6_run.handle_summary]) as store:
        ours = k6_summary(store.con, "r", TREND_STATS)
    flat = {}
    for name, m in handle["metrics"].items():
        flat[name] = dict(m["values"])
        if m["type"] == "rate":   # handleSummary calls a rate's value `rate`; the contract uses k6's `value`
            flat[name]["value"] = flat[name].pop("rate")
        if m.get("thresholds"):
            flat[name]["thresholds"] = {e: not v["ok"] for e, v in m["thresholds"].items()}
    assert _compare(ours["metrics"], flat, trend_tol_rel=1e-9, abs_tol=0) == []
    # with handleSummary's state, the duration (hence counter rates) is k6's own
    assert ours["duration_source"] == "summary"
    assert ours["test_run_duration_ms"] == handle["state"]["testRunDurationMs"]
    want = handle["metrics"]["http_reqs"]["values"]["rate"]
    assert math.isclose(ours["metrics"]["http_reqs"]["rate"], want, rel_tol=1e-9)


def test_thresholds_evaluated_without_summary(k6_run, tmp_db):
    """From JSON alone the declared thresholds of base metrics are evaluated here, and agree with k6."""
    export = json.loads(k6_run.summary_export.read_text())["metrics"]
    with _ingest(tmp_db, [k6_run.json]) as store:
        ours = k6_summary(store.con, "r")
    assert ours["duration_source"].startswith("points")
    for name in ("http_req_duration", "events_latency", "items_seen"):
        expect = {e: {"ok": not failed} for e, failed in export[name]["thresholds"].items()}
        assert ours["metrics"][name]["thresholds"] == expect


def test_summary_only_run_reports_file_numbers(k6_run, tmp_db):
    export = json.loads(k6_run.summary_export.read_text())["metrics"]
    with _ingest(tmp_db, [k6_run.summary_export]) as store:
        ours = k6_summary(store.con, "r")
    assert ours["source"].startswith("summary file")
    assert ours["metrics"]["http_reqs"]["count"] == export["http_reqs"]["count"]
    assert ours["metrics"]["http_req_duration"]["p(95)"] == export["http_req_duration"]["p(95)"]


def test_csv_custom_metric_types_inferred_and_said(k6_run, tmp_db):
    with _ingest(tmp_db, [k6_run.csv]) as store:
        ours = k6_summary(store.con, "r")
    assert any("items_seen" in n and "inferred" in n for n in ours["notes"])
    assert ours["metrics"]["ok_rate"].keys() >= {"value", "passes", "fails"}   # 0/1 values: a rate


def test_trend_stats_syntax():
    assert parse_trend_stats("avg, p(99.9),count") == ["avg", "p(99.9)", "count"]
    with pytest.raises(WorkbenchError, match="unknown trend stat"):
        parse_trend_stats("avg,p99")
    assert split_submetric("http_req_duration{name:events,status:200}") == (
        "http_req_duration", {"name": "events", "status": "200"})


def test_unknown_run_lists_known(tmp_db, k6_run):
    with _ingest(tmp_db, [k6_run.summary_export], run="known") as store, pytest.raises(WorkbenchError, match="known"):
        k6_summary(store.con, "nope")
