"""The load-test report's numbers (workbench.analysis.load_test) on the bundled real k6 samples (the lab
loop's lab-pre and lab-post runs, names from runs.json)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from workbench.analysis import load_test as lt
from workbench.analysis import runs
from workbench.analysis.k6_summary import k6_summary
from workbench.sources import k6
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "k6"
RUNS = json.loads((SAMPLES / "runs.json").read_text())          # the lab loop's two runs
PRE, POST = (next(r for r, m in RUNS.items() if m["tags"]["optimization"] == o) for o in ("pre", "post"))
EVENTS = "/api/events"   # the endpoint the planted unindexed filter slows


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    db = tmp_path_factory.mktemp("lt") / "wb.duckdb"
    with Store.open(db) as store:
        k6.load_samples(store, SAMPLES)
    store = Store.open(db, read_only=True)
    yield store.con
    store.close()


def test_endpoint_table_agrees_with_k6_summary(con):
    ep = lt.endpoint_table(con, PRE).set_index("endpoint")
    summary = k6_summary(con, PRE, "med,p(95),p(99),count")["metrics"]
    assert ep.loc["all", "requests"] == summary["http_reqs"]["count"]
    assert ep.drop("all")["requests"].sum() == ep.loc["all", "requests"]
    assert math.isclose(ep.loc["all", "p95_ms"], summary["http_req_duration"]["p(95)"], rel_tol=1e-12)
    assert math.isclose(ep.loc[EVENTS, "p95_ms"], summary[f"http_req_duration{{name:{EVENTS}}}"]["p(95)"],
                        rel_tol=1e-12)
    assert math.isclose(ep.loc["all", "error_rate"], summary["http_req_failed"]["value"], rel_tol=1e-12)
    assert list(ep.index)[-1] == "all"
    assert ep.loc[EVENTS, "p95_ms"] == ep.drop("all")["p95_ms"].max()   # the unindexed filter is slowest


def test_error_rates_tell_5xx_from_other_failures(k6_run, tmp_path):
    """The lab API served no error in the samples: the target app's run (login 401s, threats 503s) shows
    that failures and 5xx are counted apart."""
    with Store.open(tmp_path / "e.duckdb") as store:
        k6.ingest_files(store, [k6_run.json, k6_run.handle_summary], "target")
        ep = lt.endpoint_table(store.con, "target").set_index("endpoint")
        checks = lt.checks_table(store.con, "target").set_index("check")
    assert ep.loc["login", "error_rate"] > 0 and ep.loc["login", "rate_5xx"] == 0
    assert ep.loc["threats", "rate_5xx"] > 0
    assert checks.loc["login ok", "fails"] > 0          # every 5th login uses a wrong password


def test_timeseries_adds_up(con):
    ts = lt.timeseries(con, PRE, bucket_s=1)
    total = int(round((ts["rps"] * 1).sum()))
    assert total == lt.endpoint_table(con, PRE).set_index("endpoint").loc["all", "requests"]
    assert ts["elapsed_s"].iloc[0] == 0 and ts["elapsed_s"].is_monotonic_increasing
    assert (ts["p50_ms"] <= ts["p95_ms"]).all() and (ts["p95_ms"] <= ts["p99_ms"]).all()
    assert ts["vus"].max() == k6_summary(con, PRE)["metrics"]["vus"]["max"] > 0
    assert ts["iterations_per_s"].sum() > 0


def test_timing_breakdown_and_phases(con):
    b = lt.timing_breakdown(con, PRE).set_index("endpoint")
    assert set(b.columns) == {"blocked", "connecting", "tls_handshaking", "sending", "waiting", "receiving"}
    # the server's time to first byte dominates every endpoint (the API waits on PostgreSQL there)
    assert (b["waiting"] > b["receiving"]).all()
    assert b["waiting"].idxmax() == EVENTS   # the unindexed 30-day-by-severity filter, before the fix
    ph = lt.phase_timeseries(con, PRE, 5)
    assert list(ph.columns[:2]) == ["t", "elapsed_s"] and len(ph) >= 2


def test_checks_and_summary_frame(con):
    checks = lt.checks_table(con, PRE).set_index("check")
    requests = lt.endpoint_table(con, PRE).set_index("endpoint").loc["all", "requests"]
    assert set(checks.index) == {"status is 200"} and checks.loc["status is 200", "passes"] == requests
    frame = lt.summary_frame(con, PRE)
    assert {"http_req_duration", "http_req_duration{expected_response:true}", "checks"} <= set(frame["metric"])


def test_baseline_comparison_sees_the_real_change(con):
    cmp = lt.baseline_comparison(con, POST, PRE).set_index("endpoint")
    assert cmp.loc[EVENTS, "p95_ms_change_pct"] < -25       # the index the advisor proposed
    # every endpoint gained (warm cache, the join), /api/events the most (its filter went from a scan to an index)
    eps = cmp.drop("all")
    assert (eps["p95_ms_change_pct"] < 0).all() and eps["p95_ms_change_pct"].idxmin() == EVENTS


def test_verdict_pass_and_fail(con, tmp_path):
    v = lt.load_test_verdict(con, POST, PRE)
    assert v.ok and v.technical.startswith("PASS") and f"vs {PRE}" in v.technical and v.status == "pass"
    # the same run with a summary whose threshold was crossed (--summary-export writes true): FAIL, naming it
    summary = json.loads((SAMPLES / f"{PRE}.summary.json").read_text())
    (name,) = summary["metrics"]["http_req_duration"]["thresholds"]
    summary["metrics"]["http_req_duration"]["thresholds"][name] = True
    (tmp_path / "k6").mkdir()
    shutil.copy(SAMPLES / f"{PRE}.json.gz", tmp_path / "k6" / "failing.json.gz")
    (tmp_path / "k6" / "failing.summary.json").write_text(json.dumps(summary))
    db = tmp_path / "f.duckdb"
    with Store.open(db) as store:
        k6.load_samples(store, tmp_path / "k6")
    with Store.open(db, read_only=True) as store:
        v = lt.load_test_verdict(store.con, "failing")
    assert not v.ok and f"FAILED (http_req_duration {name})" in v.technical and "FAILED" in v.headline


def test_latest_run_and_samples(con):
    assert runs.latest(con) in RUNS
    s = lt.latency_samples(con, [PRE, POST], limit_per_run=1000)
    assert s.groupby("run").size().to_dict() == {PRE: 1000, POST: 1000}


def test_report_bundle_equals_the_single_functions(con):
    rep = lt.load_test_report(con, POST, PRE)
    assert rep.endpoints.equals(lt.endpoint_table(con, POST))
    assert rep.thresholds.equals(lt.thresholds_frame(con, POST))
    assert rep.comparison.equals(lt.baseline_comparison(con, POST, PRE))
    assert rep.verdict == lt.load_test_verdict(con, POST, PRE)
    assert "p(99)" in rep.summary.columns and "http_reqs" in set(rep.summary["metric"])
    assert lt.load_test_report(con, PRE).comparison is None
