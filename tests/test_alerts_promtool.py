"""`workbench alerts --url` agrees with `promtool test rules` at every evaluation time.

The same input series (with scrape gaps and NaN) are written twice: as OpenMetrics, backfilled into a
real Prometheus 2.42 with `promtool tsdb create-blocks-from openmetrics`, and in promtool's
input_series notation. `workbench alerts` backtests a rule file against the server; its firing
intervals are turned into one `alert_rule_test` per rule and evaluation time, and promtool must accept
them all. promtool 2.42 evaluates every group at the test file's `evaluation_interval` (it ignores a
group's `interval:`), so each group gets its own promtool test file at its own interval.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from workbench.analysis.alerts import format_prom_duration
from workbench.cli import main as cli_main
from workbench.lab.common import find_binary
from workbench.lab.prometheus import start_prometheus

pytestmark = pytest.mark.service

NAN = math.nan
# group -> (interval s, samples, {labels: values}); a value None is a missing sample (a scrape gap)
BOUND_N, GAP_N = 700, 45


def _bound(on: list[tuple[int, int]], nan_at: tuple[int, ...] = (), gap: tuple[int, int] | None = None) -> list:
    vals: list = [0.0] * BOUND_N
    for lo, hi in on:
        for i in range(lo, hi + 1):
            vals[i] = 2.0
    for i in nan_at:
        vals[i] = NAN
    if gap:
        for i in range(gap[0], gap[1] + 1):
            vals[i] = None
    return vals


def _random_series(seed: int, n: int = 180) -> list:
    """A sticky random walk over true (2), false (0), NaN and missing samples."""
    rng = random.Random(seed)
    states, out, cur = [2.0, 0.0, NAN, None], [], 2.0
    for _ in range(n):
        if rng.random() < 0.15:
            cur = rng.choices(states, weights=[5, 4, 1, 1])[0]
        out.append(cur)
    return out


SERIES = {
    "wb_bound": (1, {
        "4m59s": _bound([(10, 309)]),                      # true for 4m59s: a `for: 5m` rule never fires
        "5m": _bound([(10, 310)]),                         # true for 5m: fires at 310 s
        "nan": _bound([(10, 560)], nan_at=(201,)),         # NaN drops the comparison: pending restarts at 202
        "gap": _bound([(10, 400)], gap=(100, 160)),        # a 61 s scrape gap is inside the 5m lookback
        "flap": _bound([(10, 320), (336, 400)]),           # a 15 s dip: keep_firing_for 30s holds it
    }),
    "wb_gap": (60, {
        "a": [5.0] * 16 + [None] * 15 + [5.0] * 14,        # a 15-minute gap: the series goes absent
        "b": [5.0] * 11 + [NAN] * 2 + [5.0] * 32,          # NaN for two evaluations
        "c": [0.5] * GAP_N,                                # never above the threshold
        "d": [5.0] * 5 + [0.0] * 2 + [5.0] * 8 + [0.0] * 30,  # a dip shorter than keep_firing_for
    }),
    "wb_rand": (15, {str(seed): _random_series(seed) for seed in range(6)}),   # seeded, 45 minutes
}
LABEL = {"wb_bound": "case", "wb_gap": "instance", "wb_rand": "seed"}
METRIC = {"boundaries": "wb_bound", "gaps": "wb_gap", "random": "wb_rand"}
RULES = {"groups": [
    {"name": "boundaries", "interval": "1s", "rules": [
        {"alert": "BoundaryFor5m", "expr": "wb_bound > 1", "for": "5m"},
        {"alert": "BoundaryKeep", "expr": "wb_bound > 1", "for": "5m", "keep_firing_for": "30s",
         "labels": {"severity": "warning"}},
    ]},
    {"name": "gaps", "interval": "1m", "rules": [
        {"alert": "GapFor2m", "expr": "wb_gap > 1", "for": "2m", "keep_firing_for": "3m",
         "labels": {"severity": "page"}, "annotations": {"summary": "wb_gap above 1"}},
        {"alert": "GapNoFor", "expr": "wb_gap > 1"},
    ]},
    {"name": "random", "interval": "15s", "rules": [
        {"alert": "RandFor1m", "expr": "wb_rand > 1", "for": "1m", "keep_firing_for": "45s"},
        {"alert": "RandFor150s", "expr": "wb_rand > 1", "for": "2m30s"},
        {"alert": "RandAny", "expr": "wb_rand"},                    # no comparison: NaN samples count
    ]},
]}


def _openmetrics(t0: int) -> str:
    lines = []
    for metric, (step, by_label) in SERIES.items():
        lines.append(f"# TYPE {metric} gauge")
        for label, values in by_label.items():
            for i, v in enumerate(values):
                if v is not None:
                    text = "NaN" if math.isnan(v) else repr(v)
                    lines.append(f'{metric}{{{LABEL[metric]}="{label}"}} {text} {t0 + i * step}')
    return "\n".join(lines + ["# EOF"]) + "\n"


def _input_series(metric: str) -> list[dict]:
    _, by_label = SERIES[metric]
    return [{"series": f'{metric}{{{LABEL[metric]}="{label}"}}',
             "values": " ".join("_" if v is None else ("NaN" if math.isnan(v) else repr(v)) for v in values)}
            for label, values in by_label.items()]


def _firing_at(rule: dict, t_ms: int, t0_ms: int) -> list[dict]:
    """The alerts of RULE (from workbench's JSON) firing at evaluation t (ms after t0)."""
    out = []
    for f in rule["firing"]:
        start = _ms(f["start"]) - t0_ms
        end = None if f["end"] is None else _ms(f["end"]) - t0_ms
        if start <= t_ms and (end is None or t_ms < end):
            exp = {"exp_labels": {k: v for k, v in f["labels"].items() if k != "alertname"}}
            if rule["annotations"]:
                exp["exp_annotations"] = rule["annotations"]
            out.append(exp)
    return out


def _ms(iso: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def _promtool_test(tmp: Path, group: dict, rules: list[dict], t0_ms: int, end_ms: int,
                   tamper: bool = False) -> subprocess.CompletedProcess:
    """Write GROUP alone as a rule file and a promtool test asserting workbench's RULES at every
    evaluation; run `promtool test rules`."""
    name = group["name"]
    (tmp / f"{name}.rules.yml").write_text(yaml.safe_dump({"groups": [group]}))
    metric = METRIC[name]
    step_s = SERIES[metric][0]
    cases = []
    for rule in rules:
        for t in range(0, end_ms - t0_ms + 1, step_s * 1000):
            exp = _firing_at(rule, t, t0_ms)
            if tamper and rule["alert"] == "BoundaryFor5m" and t == 310_000:
                exp = []                                       # one wrong evaluation must be caught
            cases.append({"eval_time": format_prom_duration(t), "alertname": rule["alert"], "exp_alerts": exp})
    test = {"rule_files": [f"{name}.rules.yml"], "evaluation_interval": f"{step_s}s",
            "tests": [{"interval": f"{step_s}s", "input_series": _input_series(metric), "alert_rule_test": cases}]}
    path = tmp / f"{name}{'.tampered' if tamper else ''}.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run([find_binary("promtool", "/usr/bin/promtool"), "test", "rules", path.name],
                          cwd=tmp, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory):
    """A Prometheus 2.42 whose TSDB holds only the backfilled SERIES, starting at t0 (4 h ago, on the hour)."""
    work = tmp_path_factory.mktemp("alerts-prom")
    t0 = (int(time.time()) // 3600 - 4) * 3600
    om = work / "series.om"
    om.write_text(_openmetrics(t0))
    promtool = find_binary("promtool", "/usr/bin/promtool")
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(work / "tsdb")],
                   check=True, capture_output=True, timeout=120)
    server = start_prometheus(work, {})
    try:
        yield server, t0
    finally:
        server.stop()


def test_backtest_agrees_with_promtool(backfilled, tmp_path, capsys):
    server, t0 = backfilled
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(RULES, sort_keys=False))
    end = t0 + (GAP_N - 1) * 60
    db = tmp_path / "wb.duckdb"
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_main(["--db", str(db), "alerts", "--rules", str(rules_file), "--url", server.url,
                  "--start", str(t0), "--end", str(end), "--format", "json"])
    out, err = capsys.readouterr()
    assert e.value.code == 0, err
    doc = json.loads(out)
    by_alert = {r["alert"]: r for r in doc["rules"]}
    assert by_alert["BoundaryFor5m"]["for"] == "5m" and by_alert["BoundaryKeep"]["keep_firing_for"] == "30s"

    def spans(alert: str, label: str, key: str) -> list[tuple[int, int | None]]:
        return [(_ms(f["start"]) // 1000 - t0, None if f["end"] is None else _ms(f["end"]) // 1000 - t0)
                for f in by_alert[alert]["firing"] if f["labels"].get(key) == label]

    # the `for:` boundary: true for 4m59s never fires, true for 5m fires at the evaluation where it is 5m
    assert spans("BoundaryFor5m", "4m59s", "case") == []
    assert spans("BoundaryFor5m", "5m", "case") == [(310, 311)]
    assert spans("BoundaryFor5m", "nan", "case") == [(502, 561)]
    # keep_firing_for 30s: held while t - keepFiringSince < 30s; a 15 s dip does not end it
    assert spans("BoundaryKeep", "5m", "case") == [(310, 341)]
    assert spans("BoundaryKeep", "flap", "case") == [(310, 431)]
    assert spans("BoundaryFor5m", "flap", "case") == [(310, 321)]

    # promtool says the same at every evaluation time of every rule
    groups = {g["name"]: g for g in RULES["groups"]}
    for gname, alerts in (("boundaries", ["BoundaryFor5m", "BoundaryKeep"]), ("gaps", ["GapFor2m", "GapNoFor"]),
                          ("random", ["RandFor1m", "RandFor150s", "RandAny"])):
        res = _promtool_test(tmp_path, groups[gname], [by_alert[a] for a in alerts], t0 * 1000, end * 1000)
        assert res.returncode == 0, f"promtool disagrees on group {gname}:\n{res.stdout[-3000:]}{res.stderr[-2000:]}"
    assert spans("GapFor2m", "a", "instance") and spans("GapNoFor", "b", "instance")
    assert sum(len(by_alert[a]["firing"]) for a in ("RandFor1m", "RandFor150s", "RandAny")) >= 6

    # the comparison has teeth: one wrong evaluation makes promtool fail
    bad = _promtool_test(tmp_path, groups["boundaries"], [by_alert["BoundaryFor5m"]], t0 * 1000, end * 1000,
                         tamper=True)
    assert bad.returncode != 0 and "BoundaryFor5m" in bad.stdout + bad.stderr

    # the intervals are in the store, one backtest
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM alert_firing").fetchone()[0]
        src = con.execute("SELECT source, url FROM alert_backtests").fetchall()
    finally:
        con.close()
    assert n == sum(len(r["firing"]) for r in doc["rules"])
    assert src == [("promql", server.url)]


def test_promql_error_names_the_rule_and_writes_nothing(backfilled, tmp_path, capsys):
    server, t0 = backfilled
    rules_file = tmp_path / "bad.yml"
    rules_file.write_text("groups:\n- name: g\n  rules:\n  - alert: Fine\n    expr: wb_gap > 1\n"
                          "  - alert: Broken\n    expr: rate(wb_gap) > 1\n")
    db = tmp_path / "wb.duckdb"
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_main(["--db", str(db), "alerts", "--rules", str(rules_file), "--url", server.url,
                  "--start", str(t0), "--end", str(t0 + 600)])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert f"{rules_file}:6: rule 'Broken': Prometheus at {server.url} said bad_data" in err
    assert err.count("\n") == 1 and not db.exists()

