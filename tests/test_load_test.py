"""The load-test report's numbers (workbench.analysis.load_test) on the bundled real k6 samples."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from workbench.analysis import load_test as lt
from workbench.analysis.k6_summary import k6_summary
from workbench.sources import k6
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "k6"


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    db = tmp_path_factory.mktemp("lt") / "wb.duckdb"
    with Store.open(db) as store:
        k6.load_samples(store, SAMPLES)
    store = Store.open(db, read_only=True)
    yield store.con
    store.close()


def test_endpoint_table_agrees_with_k6_summary(con):
    ep = lt.endpoint_table(con, "before").set_index("endpoint")
    summary = k6_summary(con, "before", "med,p(95),p(99),count")["metrics"]
    assert ep.loc["all", "requests"] == summary["http_reqs"]["count"]
    assert ep.drop("all")["requests"].sum() == ep.loc["all", "requests"]
    assert math.isclose(ep.loc["all", "p95_ms"], summary["http_req_duration"]["p(95)"], rel_tol=1e-12)
    assert math.isclose(ep.loc["events", "p95_ms"], summary["http_req_duration{name:events}"]["p(95)"], rel_tol=1e-12)
    assert math.isclose(ep.loc["all", "error_rate"], summary["http_req_failed"]["value"], rel_tol=1e-12)
    assert list(ep.index)[-1] == "all"
    # the target's 503s are 5xx; login's 401s are failures but not 5xx
    assert ep.loc["login", "error_rate"] > 0 and ep.loc["login", "rate_5xx"] == 0
    assert ep.loc["threats", "rate_5xx"] > 0


def test_timeseries_adds_up(con):
    ts = lt.timeseries(con, "before", bucket_s=1)
    total = int(round((ts["rps"] * 1).sum()))
    assert total == lt.endpoint_table(con, "before").set_index("endpoint").loc["all", "requests"]
    assert ts["elapsed_s"].iloc[0] == 0 and ts["elapsed_s"].is_monotonic_increasing
    assert (ts["p50_ms"] <= ts["p95_ms"]).all() and (ts["p95_ms"] <= ts["p99_ms"]).all()
    assert ts["vus"].max() == k6_summary(con, "before")["metrics"]["vus"]["max"] >= 10   # 10 browsing VUs
    assert ts["iterations_per_s"].sum() > 0


def test_timing_breakdown_and_phases(con):
    b = lt.timing_breakdown(con, "before").set_index("endpoint")
    assert set(b.columns) == {"blocked", "connecting", "tls_handshaking", "sending", "waiting", "receiving"}
    # the server's time to first byte dominates every endpoint (the target sleeps there)
    assert (b["waiting"] > b["receiving"]).all()
    # /api/events is modelled slowest before the change
    assert b["waiting"].idxmax() in ("events", "alerts")
    ph = lt.phase_timeseries(con, "before", 5)
    assert list(ph.columns[:2]) == ["t", "elapsed_s"] and len(ph) >= 2


def test_checks_and_summary_frame(con):
    checks = lt.checks_table(con, "before").set_index("check")
    assert set(checks.index) == {"status is 200", "login ok"}
    assert checks.loc["login ok", "fails"] > 0          # every 5th login uses a wrong password
    frame = lt.summary_frame(con, "before")
    assert {"http_req_duration", "http_req_duration{expected_response:true}", "checks"} <= set(frame["metric"])


def test_baseline_comparison_sees_the_real_change(con):
    cmp = lt.baseline_comparison(con, "after", "before").set_index("endpoint")
    assert cmp.loc["events", "p95_ms_change_pct"] < -25       # the optimised endpoint
    for other in ("dashboard", "threats"):
        assert abs(cmp.loc[other, "p50_ms_change_pct"]) < 10


def test_verdict_pass_and_fail(con, tmp_path):
    v = lt.load_test_verdict(con, "after", "before")
    assert v.ok and v.text.startswith("PASS") and "vs before" in v.text
    # the same run with a summary whose threshold failed (k6 wrote ok=false): FAIL, naming it
    summary = json.loads((SAMPLES / "before.summary.json").read_text())
    summary["metrics"]["http_req_duration"]["thresholds"]["p(95)<500"]["ok"] = False
    (tmp_path / "k6").mkdir()
    shutil.copy(SAMPLES / "before.json.gz", tmp_path / "k6" / "failing.json.gz")
    (tmp_path / "k6" / "failing.summary.json").write_text(json.dumps(summary))
    db = tmp_path / "f.duckdb"
    with Store.open(db) as store:
        k6.load_samples(store, tmp_path / "k6")
    with Store.open(db, read_only=True) as store:
        v = lt.load_test_verdict(store.con, "failing")
    assert not v.ok and "FAILED (http_req_duration p(95)<500)" in v.text


def test_latest_run_and_samples(con):
    assert lt.latest_run(con) in ("before", "after")
    s = lt.latency_samples(con, ["before", "after"], limit_per_run=1000)
    assert s.groupby("run").size().to_dict() == {"after": 1000, "before": 1000}


def test_report_bundle_equals_the_single_functions(con):
    rep = lt.load_test_report(con, "after", "before")
    assert rep.endpoints.equals(lt.endpoint_table(con, "after"))
    assert rep.thresholds.equals(lt.thresholds_frame(con, "after"))
    assert rep.comparison.equals(lt.baseline_comparison(con, "after", "before"))
    assert rep.verdict == lt.load_test_verdict(con, "after", "before")
    assert "p(99)" in rep.summary.columns and "http_reqs" in set(rep.summary["metric"])
    assert lt.load_test_report(con, "before").comparison is None
