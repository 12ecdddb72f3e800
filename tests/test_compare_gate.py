"""The gate's options and rows on stored runs: tolerance, strict, missing endpoints, NaNs, runs as the unit,
--tolerance auto, --power, the one-run notes and SRM counts within the steady-state window."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_compare import EVENTS, POST, PRE, run_cli, sample_db  # noqa: F401  (the bundled-pair store fixture)

from workbench.analysis import compare as cmp
from workbench.errors import WorkbenchError
from workbench.sources.k6 import record_tagsets
from workbench.store import Store


def _insert(con, run: str, rng: np.random.Generator, n: int = 2400, scale: float = 1.0, endpoints=("a", "b"),
            nan: int = 0) -> None:
    con.execute("INSERT INTO k6_runs VALUES (?, NULL, MAP {}, now())", [run])
    t = np.sort(rng.uniform(0, 60, n))
    ep = np.asarray(endpoints)[rng.integers(0, len(endpoints), n)]
    lat = rng.lognormal(3, 0.4, n) * scale
    lat[:nan] = np.nan
    rows = pd.DataFrame({"metric": "http_req_duration", "t": 1.7e9 + t, "value": lat, "status": "200", "name": ep})
    fail = rows.assign(metric="http_req_failed", value=0.0)
    df = pd.concat([rows, fail], ignore_index=True)
    con.register("new_points", df)
    iid = con.execute("INSERT INTO ingests (kind, source, run, started_at, finished_at, workbench_version) "
                      "VALUES ('k6-json', 'test', ?, now(), now(), 'test') RETURNING ingest_id", [run]).fetchone()[0]
    con.execute("INSERT INTO k6_sample_rows SELECT ?, metric, to_timestamp(t), coalesce(value, 'nan'::DOUBLE), "
                "json_object('status', status, 'name', name, 'expected_response', 'true'), NULL FROM new_points", [iid])
    con.unregister("new_points")
    record_tagsets(con, iid)


@pytest.fixture(scope="module")
def gate_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("gate") / "g.duckdb"
    rng = np.random.default_rng(5)
    with Store.open(db) as s:
        for i in range(3):
            _insert(s.con, f"base{i}", rng, scale=float(np.exp(rng.normal(0, 0.02))))
        _insert(s.con, "cand", rng, n=3600, endpoints=("a", "b", "new"), nan=30)   # a and b keep their rate
        _insert(s.con, "slow", rng, scale=1.5)
    return db


def rows_of(res: dict) -> dict[tuple[str, str], dict]:
    return {(r["endpoint"], r["metric"]): r for r in res["results"]}


def test_endpoint_in_one_arm_is_missing_and_fails_unless_allowed(gate_db: Path) -> None:
    code, out, err = run_cli(gate_db, "compare", "--before", "base0", "--after", "cand", "--format", "json")
    res = json.loads(out)
    new = [r for r in res["results"] if r["endpoint"] == "new"]
    assert new and {r["verdict"] for r in new} == {"missing"} and new[0]["n_before"] == 0 and new[0]["before"] is None
    assert code == 1 and not res["passed"] and "missing in one arm" in err and "new" in err
    code, out, _ = run_cli(gate_db, "compare", "--before", "base0", "--after", "cand", "--allow-missing",
                           "--format", "json")
    assert code == 0 and json.loads(out)["passed"]


def test_nan_latencies_never_count(gate_db: Path) -> None:
    with Store.open(gate_db, read_only=True) as s:
        res = cmp.compare_runs(s.con, "base0", "cand", cmp.Options(allow_missing=True))
    row = rows_of(res)[("all", "p95_ms")]
    assert row["n_after"] == 3600 - 30 and math.isfinite(row["after"]) and row["p_value"] is not None


def test_runs_as_the_unit_and_notes(gate_db: Path) -> None:
    with Store.open(gate_db, read_only=True) as s:
        three = cmp.compare_runs(s.con, "base0,base1", "base2,slow")
        one_side = cmp.compare_runs(s.con, "base0,base1,base2", "slow", cmp.Options(adjust="none"))
        single = cmp.compare_runs(s.con, "base0", "slow")
    r = rows_of(three)[("all", "p95_ms")]
    assert r["runs_before"] == 2 and r["runs_after"] == 2 and r["df"] == 2 and r["between_run_sd_pct"] > 5
    assert "runs as the unit" in three["notes"][0]
    assert not any("one run per arm" in n for n in one_side["notes"] + three["notes"])
    assert "before arm's runs only" in one_side["notes"][0]
    assert "one run per arm" in single["notes"][0] and "cannot be estimated" in single["notes"][0]
    # +50% against 3 baseline runs: 2 df, so significant only unadjusted (Holm over 18 rows needs more runs)
    assert rows_of(one_side)[("all", "p95_ms")]["verdict"] == "regressed"
    assert rows_of(single)[("all", "p95_ms")]["verdict"] == "regressed"


def test_a_run_set_against_itself_is_no_change_and_shared_runs_are_refused(gate_db: Path) -> None:
    """The same runs on both sides (in any order) cancel exactly: no_change on every row, whatever the
    number of runs, and a note that says so instead of the one-run caveat. Two different sets sharing a
    run would put its run effect on both sides: refused with a one-line message (exit 2)."""
    for before, after in (("base0", "base0"), ("base0,base1,base2", "base2,base0,base1")):
        code, out, err = run_cli(gate_db, "compare", "--before", before, "--after", after, "--format", "json")
        res = json.loads(out)
        assert code == 0 and res["passed"], err
        assert {r["verdict"] for r in res["results"]} == {"no_change"}
        assert all(r["change_pct"] == 0 for r in res["results"])
        assert "same runs on both sides" in res["notes"][0] and not any("one run per arm" in n for n in res["notes"])
    code, out, err = run_cli(gate_db, "compare", "--before", "base0,base1", "--after", "base1,base2")
    assert code == 2 and "base1" in err and "both --before and --after" in err and len(err.strip().splitlines()) == 1


def test_tolerance_parsing_and_targets_file(tmp_path: Path) -> None:
    t = cmp.parse_tolerances(["p95_ms=3%", "error_rate=0.2pp+10%", "rps=8"])
    assert t["p95_ms"] == cmp.Tolerance(3.0) and t["error_rate"] == cmp.Tolerance(10.0, 0.2)
    assert t["rps"].rel_pct == 8.0 and t["error_rate"].text("error_rate") == "±(0.2pp + 10%)"
    lo, hi = t["error_rate"].bounds("error_rate", 0.01)
    assert hi == pytest.approx(0.002 + 0.001) and lo == -hi
    for bad in (["p42=5%"], ["p95_ms=fast"], ["p95_ms"]):
        with pytest.raises(WorkbenchError):
            cmp.parse_tolerances(bad)
    f = tmp_path / "t.yml"
    f.write_text("tolerance: {p95_ms: 7%}\ntargets:\n  - {metric: p95_ms, change_pct: -20}\n")
    assert cmp.load_tolerances(str(f)) == {"p95_ms": cmp.Tolerance(7.0)}
    assert cmp.load_targets(str(f))[0]["change_pct"] == -20
    f.write_text("tolerance: {p95_ms: quick}\n")
    with pytest.raises(WorkbenchError, match="t.yml"):
        cmp.load_tolerances(str(f))


def test_tolerance_and_strict_change_the_gate(sample_db: Path) -> None:  # noqa: F811
    # the swapped bundled pair regresses /api/events many times over: a tolerance twice the widest interval
    # bound of any latency row makes that negligible
    code, out, _ = run_cli(sample_db, "compare", "--before", POST, "--after", PRE, "--format", "json")
    assert code == 1
    swapped = json.loads(out)["results"]
    widest = max(abs(v) for r in swapped if r["metric"] in ("p50_ms", "p95_ms", "p99_ms")
                 for v in (r["change_pct"], r["ci_low_pct"], r["ci_high_pct"]) if v is not None)
    tol = f"{math.ceil(2 * widest)}%"
    code, out, _ = run_cli(sample_db, "compare", "--before", POST, "--after", PRE, "--tolerance",
                           f"p50_ms={tol}", "--tolerance", f"p95_ms={tol}", "--tolerance", f"p99_ms={tol}",
                           "--format", "json")
    res = json.loads(out)
    ev = rows_of(res)[(EVENTS, "p95_ms")]
    assert ev["verdict"] == "no_change" and "negligible" in ev["note"] and ev["tolerance"] == f"±{tol}"
    assert code == 0 and res["passed"]
    code, out, err = run_cli(sample_db, "compare", "--before", PRE, "--after", POST, "--strict")
    assert code == 1 and "inconclusive" in err


def test_tolerance_auto_and_power(gate_db: Path) -> None:
    code, _, err = run_cli(gate_db, "compare", "--before", "base0", "--after", "slow", "--tolerance", "auto")
    assert code == 2 and "at least 3" in err
    code, out, _ = run_cli(gate_db, "compare", "--before", "base0,base1,base2", "--after", "slow", "--tolerance",
                           "auto", "--power", "--adjust", "none", "--format", "json")
    res = json.loads(out)
    assert res["options"]["tolerance_auto"] is True and code == 1
    p95 = rows_of(res)[("all", "p95_ms")]
    assert p95["verdict"] == "regressed" and p95["tolerance"] != "±5%"
    power = {(p["endpoint"], p["runs_per_arm"]): p for p in res["power"]}
    assert set(k[1] for k in power) == {1, 2, 3, 5}
    assert power[("all", 5)]["mde_pct"] <= power[("all", 1)]["mde_pct"]
    assert all(p["mde_pct"] is None or p["mde_pct"] >= 0 for p in res["power"])


def test_abtest_srm_counts_follow_the_window(sample_db: Path) -> None:  # noqa: F811
    args = ["abtest", "--run", PRE, "--control", "standard", "--treatment", "optimized", "--split", "25",
            "--format", "json"]
    full = json.loads(run_cli(sample_db, *args)[1])
    cut = json.loads(run_cli(sample_db, *args, "--skip", "10s")[1])
    assert sum(cut["srm"]["counts"].values()) < sum(full["srm"]["counts"].values())
    assert "paired by time window" in full["notes"][-1]
    assert rows_of(full)[(EVENTS, "p50_ms")]["method"].startswith("paired")


def test_metric_absent_in_both_arms_is_skipped_in_one_is_missing() -> None:
    rng = np.random.default_rng(9)

    def arm(run: str, fail: bool) -> cmp.Arm:
        t = np.sort(rng.uniform(0, 60, 2000))
        lat = pd.DataFrame({"run": run, "window": np.minimum((t // 1.5).astype(int), 39), "t_s": t,
                            "value": rng.lognormal(3, 0.4, t.size), "endpoint": "api", "status": "200"})
        f = lat[["run", "window", "endpoint"]].assign(value=0.0)
        return cmp.Arm([run], lat, f if fail else f.iloc[:0], {run: 1.5}, 40)

    rows = {r["metric"]: r for r in cmp.compare_arms(arm("a", False), arm("b", False), cmp.Options())}
    assert "error_rate" not in rows and rows["p95_ms"]["verdict"] in ("no_change", "inconclusive")
    rows = {r["metric"]: r for r in cmp.compare_arms(arm("a", True), arm("b", False), cmp.Options())}
    assert rows["error_rate"]["verdict"] == "missing" and "after arm" in rows["error_rate"]["reason"]


def _arm(level_ms: np.ndarray, per_window: int = 40, seed: int = 1) -> cmp.Arm:
    """One run whose window w has latencies around LEVEL_MS[w] (a drifting level)."""
    rng = np.random.default_rng(seed)
    g = len(level_ms)
    win = np.repeat(np.arange(g), per_window)
    lat = pd.DataFrame({"t_s": win + 0.5, "value": level_ms[win] * rng.lognormal(0, 0.2, win.size),
                        "endpoint": "/api/events", "status": "200", "run": "r", "window": win})
    return cmp.Arm(["r"], lat, lat.iloc[:0], {"r": 1.0}, g)


def test_runs_too_short_for_drift_still_call_a_change_that_separates_every_window():
    """A run whose level drifts gets no p-value; but when every window of one arm lies beyond every window
    of the other, drift cannot explain it (the lab's 30-s runs: p95 127 ms -> 10 ms read `inconclusive`)."""
    drift = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.05, 40)))
    before, fast, same = _arm(drift), _arm(drift / 8, seed=2), _arm(drift, seed=4)
    opts = cmp.Options()
    row = {"endpoint": "/api/events", "metric": "p95_ms", "before": float(np.quantile(before.lat.value, 0.95))}
    assert cmp.separated(before, fast, {**row, "after": float(np.quantile(fast.lat.value, 0.95))}, opts) == "improved"
    assert cmp.separated(fast, before, {**row, "before": float(np.quantile(fast.lat.value, 0.95)),
                                        "after": row["before"]}, opts) == "regressed"
    assert cmp.separated(before, same, {**row, "after": float(np.quantile(same.lat.value, 0.95))}, opts) is None
    assert cmp.separated(before, fast, {**row, "metric": "rps", "after": 1.0}, opts) is None
