"""workbench compare / abtest on the bundled real k6 pair (the lab loop's lab-pre / lab-post, from runs.json),
plus stored-row edge cases."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_runner import run_isolated

from workbench.analysis import compare as cmp
from workbench.sources.k6 import ingest_files, load_samples, record_tagsets
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
RUNS = json.loads((SAMPLES / "k6" / "runs.json").read_text())
PRE, POST = (next(r for r, m in RUNS.items() if m["tags"]["optimization"] == o) for o in ("pre", "post"))
EVENTS = "/api/events"   # the endpoint the advisor's index fixed


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("compare") / "wb.duckdb"
    with Store.open(db) as store:
        load_samples(store, SAMPLES)
    return db


def run_cli(db: Path, *args: str) -> tuple[int, str, str]:
    """Run the real entry point (exit codes and one-line errors as users see them)."""
    return run_isolated("--db", str(db), *args)


def by_key(result: dict) -> dict[tuple[str, str], dict]:
    return {(r["endpoint"], r["metric"]): r for r in result["results"]}


def test_before_after_flags_changed_endpoint_improved(sample_db: Path, tmp_path: Path) -> None:
    junit, md = tmp_path / "c.xml", tmp_path / "c.md"
    code, out, _ = run_cli(sample_db, "compare", "--before", PRE, "--after", POST, "--format", "json",
                           "--junit", str(junit), "--markdown", str(md))
    assert code == 0
    res = json.loads(out)
    assert set(res) >= {"before", "after", "passed", "results", "targets"}
    assert res["passed"] is True
    rows = by_key(res)
    for r in res["results"]:
        assert set(r) >= {"endpoint", "metric", "before", "after", "change_pct", "ci_low_pct", "ci_high_pct",
                          "p_value", "p_adjusted", "verdict"}
        assert r["verdict"] in {"improved", "regressed", "no_change", "inconclusive", "missing"}
    ev = rows[(EVENTS, "p95_ms")]
    assert ev["verdict"] == "improved"
    assert ev["ci_high_pct"] < 0 and ev["change_pct"] < -20
    # the loop changed every endpoint (warm cache, the join) and broke none: nothing regressed; a latency
    # verdict follows its interval against the 5% tolerance (one run per arm: an assumed 2% run-to-run sd)
    for (ep, m), r in rows.items():
        assert r["verdict"] != "regressed", (ep, m)
        if m in ("p50_ms", "p95_ms", "p99_ms"):
            assert r["tolerance"] == "±5%" and r["runs_before"] == 1
            if r["verdict"] == "improved":
                assert r["ci_high_pct"] < -5, (ep, m)
            elif r["verdict"] == "inconclusive" and r["ci_low_pct"] is not None:
                assert r["ci_low_pct"] < -5 or r["ci_high_pct"] > 5, (ep, m)
    assert "one run per arm" in res["notes"][0] and "cannot be estimated" in res["notes"][0]
    # the playbook's success metrics are reported but not enforced
    assert {t["metric"] for t in res["targets"]} == {"p95_ms", "rps", "rate_5xx"}
    assert not any(t["required"] for t in res["targets"])
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) == len(res["results"]) + 3
    assert f"| {EVENTS} | p95_ms |" in md.read_text()


def test_same_run_is_no_change_everywhere(sample_db: Path) -> None:
    code, out, _ = run_cli(sample_db, "compare", "--before", PRE, "--after", PRE, "--format", "json")
    res = json.loads(out)
    assert code == 0 and res["passed"]
    assert {r["verdict"] for r in res["results"]} == {"no_change"}


def test_swapped_pair_regresses_and_exits_1(sample_db: Path, tmp_path: Path) -> None:
    junit = tmp_path / "c.xml"
    code, out, err = run_cli(sample_db, "compare", "--before", POST, "--after", PRE, "--format", "json",
                             "--junit", str(junit))
    assert code == 1
    res = json.loads(out)
    assert res["passed"] is False
    assert by_key(res)[(EVENTS, "p95_ms")]["verdict"] == "regressed"
    failures = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert any(c.get("classname").endswith(f".{EVENTS}") and c.get("name") == "p95_ms" for c in failures)


def test_required_target_missed_exits_1(sample_db: Path, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yml"
    targets.write_text(f"- {{endpoint: {EVENTS}, metric: p95_ms, change_pct: -20}}\n- {{metric: p99_ms, change_pct: -99}}\n")
    code, out, err = run_cli(sample_db, "compare", "--before", PRE, "--after", POST, "--targets",
                             str(targets), "--format", "json")
    res = json.loads(out)
    t = {(x["endpoint"], x["metric"]): x for x in res["targets"]}
    assert t[(EVENTS, "p95_ms")]["met"] is True
    assert t[("all", "p99_ms")]["met"] is False and t[("all", "p99_ms")]["required"]
    assert code == 1 and not res["passed"]


def test_rps_target_under_an_arrival_rate_is_not_met(sample_db: Path, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yml"
    targets.write_text("- {metric: rps, change_pct: 30}\n")
    code, out, err = run_cli(sample_db, "compare", "--before", PRE, "--after", POST, "--targets",
                             str(targets), "--format", "json")
    res = json.loads(out)
    t = {(x["endpoint"], x["metric"]): x for x in res["targets"]}
    # the runs set the arrival rate: rps is not compared, so a required rps target cannot be met
    assert t[("all", "rps")]["met"] is None and t[("all", "rps")]["required"] and res["arrival_rate"]
    assert code == 1 and not res["passed"] and "targets missed: all rps" in err


def test_skip_until_and_scenario_select_steady_state(sample_db: Path, k6_run, tmp_path: Path) -> None:
    with Store.open(sample_db, read_only=True) as s:
        full = cmp.compare_runs(s.con, PRE, POST)
        cut = cmp.compare_runs(s.con, PRE, POST, cmp.Options(skip_s=2, until_s=-2))
    n_full = by_key(full)[("all", "p95_ms")]["n_before"]
    n_cut = by_key(cut)[("all", "p95_ms")]["n_before"]
    assert 0 < n_cut < n_full
    # the lab runs one scenario; the target app's script (real k6) has a browsing and a login scenario
    with Store.open(tmp_path / "t.duckdb") as s:
        ingest_files(s, [k6_run.json, k6_run.handle_summary], "target")
        browse = cmp.compare_runs(s.con, "target", "target", cmp.Options(scenario="browse"))
    assert ("login", "p95_ms") not in by_key(browse) and ("events", "p95_ms") in by_key(browse)


def test_bad_inputs_are_one_line_errors(sample_db: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(sample_db, "compare", "--before", "nope", "--after", POST)
    assert code == 2 and "unknown k6 run" in err and PRE in err
    bad = tmp_path / "t.yml"
    bad.write_text("- metric: p42\n")
    code, _, err = run_cli(sample_db, "compare", "--before", PRE, "--after", POST, "--targets", str(bad))
    assert code == 2 and "t.yml" in err
    code, _, err = run_cli(sample_db, "compare", "--before", PRE, "--after", POST, "--skip", "1h")
    assert code == 2 and "nothing" in err


def test_abtest_within_run_srm_first(sample_db: Path) -> None:
    args = ["abtest", "--run", PRE, "--variant-tag", "variant", "--control", "standard",
            "--treatment", "optimized", "--format", "json"]
    code, out, _ = run_cli(sample_db, *args, "--split", "25")
    res = json.loads(out)
    assert code == 0, res
    assert res["control"] == "standard" and res["treatment"] == "optimized"
    assert res["srm"]["passed"] and set(res["srm"]["counts"]) == {"standard", "optimized"}
    rows = by_key(res)
    # the flag switches only /api/events' query: it improves (its tail too few per window for a p95 interval
    # at 25%, its median and the run's p95 are clear); the endpoints the flag does not touch stay unflagged
    assert rows[(EVENTS, "p50_ms")]["verdict"] == "improved" and rows[(EVENTS, "p50_ms")]["ci_high_pct"] < 0
    assert rows[("all", "p95_ms")]["verdict"] == "improved" and rows[(EVENTS, "p95_ms")]["change_pct"] < -20
    for (ep, m), r in rows.items():
        if ep not in ("all", EVENTS):
            assert r["verdict"] not in ("improved", "regressed"), (ep, m)
    assert all(r["metric"] != "rps" for r in res["results"])
    # the flag sends 25% to the treatment: a 50/50 expectation is a sample ratio mismatch -> gate fails
    code, out, err = run_cli(sample_db, *args)
    res = json.loads(out)
    assert code == 1 and not res["srm"]["passed"] and res["srm"]["p_value"] < 0.001
    assert "mismatch" in err.lower()


def test_abtest_unknown_variant_value(sample_db: Path) -> None:
    code, _, err = run_cli(sample_db, "abtest", "--run", PRE, "--control", "standard", "--treatment", "fast")
    assert code == 2 and "optimized" in err  # lists the values that exist


def _insert_points(con, run: str, rows: list[tuple]) -> None:
    con.execute("INSERT INTO k6_runs VALUES (?, NULL, MAP {'executor': 'constant-arrival-rate', 'target_rate': '50'},"
                " now())", [run])
    import pandas as pd

    df = pd.DataFrame(rows, columns=["metric", "t", "value", "status", "name", "expected_response", "tags"])
    con.register("new_points", df)
    iid = con.execute("INSERT INTO ingests (kind, source, run, started_at, finished_at, workbench_version) "
                      "VALUES ('k6-json', 'test', ?, now(), now(), 'test') RETURNING ingest_id", [run]).fetchone()[0]
    con.execute("INSERT INTO k6_sample_rows SELECT ?, metric, to_timestamp(t), value, json_merge_patch("
                "coalesce(tags, '{}'), json_object('status', status, 'name', name, 'expected_response', "
                "expected_response)), NULL FROM new_points", [iid])
    con.unregister("new_points")
    record_tagsets(con, iid)


def test_arrival_rate_runs_report_achieved_vs_target(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    with Store.open(tmp_path / "a.duckdb") as s:
        for run, scale in (("ar1", 1.0), ("ar2", 1.0)):
            rows = []
            for t in np.sort(rng.uniform(0, 60, 3000)):
                rows.append(("http_req_duration", 1.7e9 + t, float(rng.lognormal(3, 0.4) * scale), "200", "x",
                             "true", "{}"))
                rows.append(("http_req_failed", 1.7e9 + t, 0.0, "200", "x", "true", "{}"))
            rows += [("dropped_iterations", 1.7e9 + 30 + i, 1.0, None, None, None, "{}") for i in range(7)]
            _insert_points(s.con, run, rows)
        res = cmp.compare_runs(s.con, "ar1", "ar2")
    assert all(r["metric"] != "rps" for r in res["results"])
    ar = res["arrival_rate"]
    assert ar["before"]["dropped_iterations"] == 7 and ar["before"]["target_rate"] == 50
    assert ar["after"]["achieved_rps"] == pytest.approx(50, rel=0.05)


def test_cpu_ranges_per_run_read_as_one_series(tmp_path: Path) -> None:
    """One preset and query stored as one range per run (the lab's `<run>.cpu`): one resources row; points
    both ranges hold (their overlap) count once, not summed."""
    import numpy as np

    rng = np.random.default_rng(4)
    with Store.open(tmp_path / "r.duckdb") as s:
        _two_minute_apart_runs(s.con, rng, 500)
        q = "sum by (job, instance) (rate(process_cpu_seconds_total{job=\"api\"}[30s]))"
        for i, (name, ks) in enumerate((("r1.cpu", range(0, 25)), ("r2.cpu", range(20, 33)))):  # overlap in r2
            s.con.execute("INSERT INTO prom_series_sets (ingest_id, name, query, preset, result_type, step_s, "
                          "created_at) VALUES (?, ?, ?, 'cpu', 'matrix', 5, now())", [7 + i, name, q])
            s.con.execute("INSERT INTO prom_series (series_id, ingest_id, name, labels_text, points) "
                          "VALUES (?, ?, ?, '{job=\"api\"}', ?)", [70 + i, 7 + i, name, len(ks)])
            s.con.executemany("INSERT INTO prom_points VALUES (?, to_timestamp(?), ?)",
                              [(70 + i, 1.7e9 + 5 * k, 1.0 if k * 5 < 80 else 0.7) for k in ks])
        res = cmp.compare_runs(s.con, "r1", "r2")
    (r,) = res["resources"]
    assert r["endpoint"] == "r1.cpu + r2.cpu" and r["metric"] == "cpu"
    assert r["before"] == pytest.approx(1.0) and r["after"] == pytest.approx(0.7)


def test_several_runs_per_arm_pool_windows(sample_db: Path) -> None:
    with Store.open(sample_db, read_only=True) as s:
        one = cmp.compare_runs(s.con, PRE, POST)
        res = cmp.compare_runs(s.con, f"{PRE},{POST}", f"{POST},{PRE}")
    rows = by_key(res)
    per_run = by_key(one)[("all", "p95_ms")]["windows_before"]
    assert per_run > 0 and rows[("all", "p95_ms")]["windows_before"] == 2 * per_run
    assert rows[("all", "p95_ms")]["verdict"] == "no_change"
    assert not any("one run per arm" in n for n in res["notes"])


def test_prometheus_series_abtest_pairs_timestamps(tmp_path: Path) -> None:
    """Two stored series (p95 per query_type over time): the treatment is 30% lower."""
    import numpy as np

    rng = np.random.default_rng(2)
    db = tmp_path / "p.duckdb"
    with Store.open(db) as s:
        level = np.cumsum(rng.normal(0, 0.02, 120)) + 0.2  # shared, autocorrelated load level
        for i, (name, factor) in enumerate((("std", 1.0), ("opt", 0.7))):
            s.con.execute("INSERT INTO prom_series_sets (ingest_id, name, result_type, created_at) "
                          "VALUES (?, ?, 'matrix', now())", [100 + i, name])
            s.con.execute("INSERT INTO prom_series (series_id, ingest_id, name, labels_text, points) "
                          "VALUES (?, ?, ?, ?, 120)", [500 + i, 100 + i, name, f'p95{{query_type="{name}"}}'])
            s.con.executemany("INSERT INTO prom_points VALUES (?, to_timestamp(?), ?)",
                              [(500 + i, 1.7e9 + 60 * k, float(abs(level[k]) * factor * rng.lognormal(0, 0.05)))
                               for k in range(120)])
        res = cmp.abtest_prometheus(s.con, "std", "opt")
        same = cmp.abtest_prometheus(s.con, "std", "std")
    row = res["results"][0]
    assert row["verdict"] == "improved" and row["ci_low_pct"] < -30 < row["ci_high_pct"]
    assert same["results"][0]["verdict"] == "no_change"

    code, out, _ = run_cli(db, "abtest", "--prom-control", "std", "--prom-treatment", "opt", "--format", "json")
    assert code == 0 and json.loads(out)["results"][0]["verdict"] == "improved"
    code, _, err = run_cli(db, "abtest", "--prom-control", "opt", "--prom-treatment", "std")
    assert code == 1 and "regressed" in err
    code, _, err = run_cli(db, "abtest", "--prom-control", "std")
    assert code == 2 and "--prom-treatment" in err
    code, _, err = run_cli(db, "abtest", "--prom-control", "std", "--prom-treatment", "nope")
    assert code == 2 and "nope" in err


def test_prometheus_abtest_on_bundled_samples(tmp_path: Path) -> None:
    """The playbook's analyze_ab_test.py on real series: p95 per query_type from the lab's Prometheus."""
    from workbench.sources.prometheus import load_samples as load_prom

    db = tmp_path / "prom.duckdb"
    with Store.open(db) as s:
        load_prom(s, SAMPLES / "prometheus")
    code, out, err = run_cli(db, "abtest", "--prom-control", f"{PRE}.p95_standard", "--prom-treatment",
                             f"{PRE}.p95_optimized", "--format", "json")
    res = json.loads(out)
    row = res["results"][0]
    assert code == 0 and row["verdict"] == "improved" and row["ci_high_pct"] < 0
    assert "point overlap 15" in res["notes"][0]  # rate()[30s] at a 2 s step: neighbours share data


def _two_minute_apart_runs(con, rng, n: int, failed: bool = False) -> None:
    """Runs r1 and r2 (60 s each, 100 s apart) of N lognormal request durations on endpoint x."""
    import numpy as np

    for run, t0 in (("r1", 1.7e9), ("r2", 1.7e9 + 100)):
        rows = []
        for t in np.sort(rng.uniform(0, 60, n)):
            rows.append(("http_req_duration", t0 + t, float(rng.lognormal(3, 0.4)), "200", "x", "true", "{}"))
            if failed:
                rows.append(("http_req_failed", t0 + t, 0.0, "200", "x", "true", "{}"))
        _insert_points(con, run, rows)


def test_cpu_memory_series_reported_with_playbook_target(tmp_path: Path) -> None:
    """A Prometheus `cpu` preset series covering both runs: mean per arm, -20% target reported."""
    import numpy as np

    rng = np.random.default_rng(3)
    with Store.open(tmp_path / "r.duckdb") as s:
        _two_minute_apart_runs(s.con, rng, 2000, failed=True)
        s.con.execute("INSERT INTO prom_series_sets (ingest_id, name, preset, result_type, step_s, created_at) "
                      "VALUES (7, 'cpu', 'cpu', 'matrix', 5, now())")
        s.con.execute("INSERT INTO prom_series (series_id, ingest_id, name, labels_text, points) "
                      "VALUES (70, 7, 'cpu', '{}', 33)")
        s.con.executemany("INSERT INTO prom_points VALUES (70, to_timestamp(?), ?)",
                          [(1.7e9 + 5 * k, 1.0 if k * 5 < 80 else 0.7) for k in range(33)])
        res = cmp.compare_runs(s.con, "r1", "r2")
    (r,) = res["resources"]
    assert r["metric"] == "cpu" and r["before"] == pytest.approx(1.0) and r["after"] == pytest.approx(0.7)
    t = {(x["endpoint"], x["metric"]): x for x in res["targets"]}[("cpu", "cpu")]
    assert t["met"] is True and t["target_change_pct"] == -20 and not t["required"]
