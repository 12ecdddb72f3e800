"""Alert backtests: the state machine, the rule-file loader's errors, the store equivalents of the
playbook's three rules and `workbench alerts` without Prometheus. (Agreement with promtool on a real
Prometheus: test_alerts_promtool.py.)"""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
import math
import re
from pathlib import Path

import pytest

from workbench.analysis import alerts as al
from workbench.cli import main as cli_main
from workbench.errors import WorkbenchError
from workbench.sources import k6, postgres, redis, redis_info
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
T0 = 1_754_474_400_000          # 2025-08-06T10:00:00Z
S = 1000


# -- Prometheus durations -----------------------------------------------------------------------------
@pytest.mark.parametrize("text,ms", [("5m", 300_000), ("1h30m", 5_400_000), ("0", 0), ("0s", 0), ("500ms", 500),
                                     ("1d", 86_400_000), ("2w", 1_209_600_000), ("1m30s", 90_000)])
def test_prom_duration(text, ms):
    assert al.parse_prom_duration_ms(text) == ms
    assert al.parse_prom_duration_ms(al.format_prom_duration(ms)) == ms


@pytest.mark.parametrize("text", ["300", "1.5m", "5 m", "30s5m", "", "-5m", "5min", None])
def test_prom_duration_refuses_what_prometheus_refuses(text):
    with pytest.raises(ValueError):
        al.parse_prom_duration_ms(text)


# -- the state machine --------------------------------------------------------------------------------
def _times(n: int, step: int = S) -> list[int]:
    return [i * step for i in range(n)]


def _present(*ranges: tuple[int, int], value: float = 2.0, step: int = S) -> dict[int, float]:
    return {i * step: value for lo, hi in ranges for i in range(lo, hi + 1)}


def test_for_boundary_4m59s_does_not_fire_5m_does():
    times = _times(700)
    assert al.alert_states(times, _present((10, 309)), for_ms=300 * S) == []
    assert al.alert_states(times, _present((10, 310)), for_ms=300 * S) == [(10 * S, 310 * S, 311 * S, 2.0)]


def test_for_zero_fires_at_once_and_still_firing_has_no_end():
    times = _times(20)
    assert al.alert_states(times, _present((5, 19)), for_ms=0) == [(5 * S, 5 * S, None, 2.0)]


def test_one_missing_evaluation_drops_pending_and_resolves_firing():
    times = _times(100)
    # pending from 0, missing at 40, pending again from 41: needs 41 + 50 = 91 to fire
    assert al.alert_states(times, _present((0, 39), (41, 99)), for_ms=50 * S) == [(41 * S, 91 * S, None, 2.0)]
    # firing at 50, resolved by one missing evaluation at 60, a new alert from 61
    fired = al.alert_states(times, _present((0, 59), (61, 99)), for_ms=50 * S)
    assert fired == [(0, 50 * S, 60 * S, 2.0)]


def test_keep_firing_for_holds_while_t_minus_since_is_below_it():
    times = _times(100)
    present = _present((0, 20))
    # missing from 21: held while t - 21 < 5, so 21..25 fire, 26 does not
    assert al.alert_states(times, present, for_ms=10 * S, keep_firing_for_ms=5 * S) == [(0, 10 * S, 26 * S, 2.0)]
    # the series returns at 24: keepFiringSince resets, one interval until 40 + 5
    back = _present((0, 20), (24, 39))
    assert al.alert_states(times, back, for_ms=10 * S, keep_firing_for_ms=5 * S) == [(0, 10 * S, 45 * S, 2.0)]
    # keep_firing_for never holds a pending alert
    assert al.alert_states(times, _present((0, 5)), for_ms=10 * S, keep_firing_for_ms=50 * S) == []


def test_value_is_the_one_at_the_first_firing_evaluation():
    times = _times(10)
    samples = {t: float(t // S) for t in times}
    assert al.alert_states(times, samples, for_ms=3 * S) == [(0, 3 * S, None, 3.0)]


def test_evaluate_rule_labels_and_duplicate_label_sets():
    rule = al.Rule("A", "m > 1", for_ms=0, labels={"severity": "page", "job": "over"}, file="r.yml")
    series = [({"__name__": "m", "job": "api", "instance": "x"}, {0: 2.0})]
    [f] = al.evaluate_rule(rule, [0, S], series)
    assert f.labels == {"alertname": "A", "instance": "x", "job": "over", "severity": "page"}
    assert (f.start_ms, f.end_ms) == (0, S)
    # two series that differ only in __name__ collide once the name is dropped, as in Prometheus
    clash = [({"__name__": "m", "i": "1"}, {0: 2.0}), ({"__name__": "n", "i": "1"}, {0: 3.0})]
    with pytest.raises(WorkbenchError, match="same label set"):
        al.evaluate_rule(rule, [0], clash)


def test_backtest_promql_uses_each_groups_interval():
    rf = al.parse_rules("groups:\n- name: fast\n  interval: 10s\n  rules:\n  - alert: F\n    expr: up == 0\n"
                        "- name: slow\n  rules:\n  - alert: L\n    expr: up == 0\n    for: 2m\n", "r.yml",
                        default_interval_ms=60 * S)
    calls = []

    def fetch(rule, lo, hi, step):
        calls.append((rule.alert, lo, hi, step))
        return [({"__name__": "up", "job": "j"}, {t: 0.0 for t in range(lo, hi + 1, step)})]

    bt = al.backtest_promql(rf, T0, T0 + 300 * S, fetch)
    assert calls == [("F", T0, T0 + 300 * S, 10 * S), ("L", T0, T0 + 300 * S, 60 * S)]
    assert [r.evaluations for r in bt.results] == [31, 6]
    assert bt.results[1].firing[0].start_ms == T0 + 120 * S
    doc = bt.to_dict()
    assert doc["rules"][1]["for"] == "2m" and doc["rules"][1]["firing"][0]["end"] is None
    assert set(doc["rules"][0]) >= {"alert", "expr", "for", "firing"}
    assert set(doc["rules"][0]["firing"][0]) >= {"start", "end", "labels", "value"}


# -- the loader ---------------------------------------------------------------------------------------
def test_default_rules_are_the_corrected_playbook_rules():
    rf = al.load_rules()
    by = {r.alert: r for r in rf.rules}
    assert list(by) == ["HighResponseTime", "DatabaseSlowQueries", "CacheHitRateLow"]
    assert "sum by (le)" in by["HighResponseTime"].expr and by["HighResponseTime"].for_ms == 300 * S
    assert "pg_stat_activity_max_tx_duration)" in by["DatabaseSlowQueries"].expr
    assert "_seconds" not in by["DatabaseSlowQueries"].expr and by["DatabaseSlowQueries"].for_ms == 120 * S
    assert "redis_cache_hit_ratio" not in by["CacheHitRateLow"].expr
    assert by["CacheHitRateLow"].expr.count("sum by (instance)") == 3 and by["CacheHitRateLow"].for_ms == 600 * S
    assert all(r.interval_ms == 60 * S for r in rf.rules)


GOOD = """groups:
  - name: g
    interval: 30s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 1m
        keep_firing_for: 5m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} is down"}
"""


def test_loader_reads_every_field_and_skips_recording_rules():
    rf = al.parse_rules(GOOD, "r.yml")
    [r] = rf.rules
    assert (r.alert, r.expr, r.for_ms, r.keep_firing_for_ms, r.interval_ms, r.group) == \
        ("Down", "up == 0", 60 * S, 300 * S, 30 * S, "g")
    assert r.labels == {"severity": "page"} and r.annotations == {"summary": "{{ $labels.job }} is down"}
    assert r.line == 7 and "job:up:sum" in rf.notes[0]


@pytest.mark.parametrize("text,expected", [
    ("groups: [\n", r"^r\.yml:2: not valid YAML"),
    (GOOD.replace("for: 1m", "for: 1 m"), r"^r\.yml:7: group 'g', rule 'Down': bad for '1 m'"),
    (GOOD.replace("keep_firing_for: 5m", "keep_firing_for: 300"), r"^r\.yml:7: .*rule 'Down': bad keep_firing_for"),
    (GOOD.replace("interval: 30s", "interval: 0s"), r"^r\.yml:2: group 'g': interval must be more than 0"),
    (GOOD.replace("for: 1m", "fro: 1m"), r"rule 'Down': unknown key 'fro'"),
    (GOOD.replace("        expr: up == 0\n", ""), r"rule 'Down': `expr:` is missing"),
    (GOOD.replace("- alert: Down", "- alert: Down\n        record: x"), r"rule 'Down': a rule needs exactly one"),
    (GOOD.replace("{severity: page}", "{1bad: page}"), r"rule 'Down': labels name '1bad' is not a valid"),
    ("rules: []\n", r"^r\.yml: not a Prometheus rule file"),
    (GOOD + GOOD.replace("groups:\n", ""), r"group 'g': a group of that name is already"),
])
def test_loader_errors_name_file_line_and_rule(text, expected):
    with pytest.raises(WorkbenchError) as e:
        al.parse_rules(text, "r.yml")
    assert re.search(expected, str(e.value)), str(e.value)
    assert "\n" not in str(e.value)


def test_missing_rule_file():
    with pytest.raises(WorkbenchError, match="nope.yml: no such rule file"):
        al.load_rules("nope.yml")


# -- the store equivalents ----------------------------------------------------------------------------
def _k6_file(path: Path, latencies: list[tuple[int, float]]) -> Path:
    lines = [{"type": "Metric", "metric": "http_req_duration",
              "data": {"name": "http_req_duration", "type": "trend", "contains": "time", "thresholds": [],
                       "submetrics": None}}]
    for t_ms, v in latencies:
        ts = dt.datetime.fromtimestamp(t_ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")
        lines.append({"type": "Point", "metric": "http_req_duration",
                      "data": {"time": ts, "value": v, "tags": {"name": "events", "method": "GET", "status": "200"}}})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def _pg_snapshots(store: Store, tx: tuple[int, int]) -> None:
    """Snapshots every 30 s for 10 min from T0 (the bundled capture's activity and database rows), with
    one client transaction open from T0 + tx[0] s until T0 + tx[1] s in database `app`."""
    with gzip.open(SAMPLES / "postgres" / "snapshot_01.json.gz", "rt") as f:
        template = postgres.PgSnapshot.from_json(f.read())
    template.statements, template.texts = [], {}
    template.tables = {t: template.tables[t] for t in ("pg_activity", "pg_databases")}
    base_db = dict(template.tables["pg_databases"][0])
    for i in range(20):
        snap = copy.deepcopy(template)
        at = T0 + i * 30 * S
        snap.meta["taken_at"] = dt.datetime.fromtimestamp(at / 1000, dt.UTC)
        snap.tables["pg_databases"] = [dict(base_db, datname="app", datid=99)]
        act = [r for r in snap.tables["pg_activity"] if r["datname"] is None]
        if tx[0] * S <= at - T0 < tx[1] * S:
            act.append({**template.tables["pg_activity"][0], "pid": 4242, "datname": "app",
                        "backend_type": "client backend", "state": "idle in transaction",
                        "xact_age_s": (at - T0) / 1000 - tx[0]})
        snap.tables["pg_activity"] = act
        postgres.write_snapshot(store, snap, source="test")


def _redis_snapshots(store: Store, address: str, steps: list[tuple[int, int]], every_s: int = 60) -> None:
    """`INFO server` + `INFO stats` snapshots (the bundled capture with new counters) every EVERY_S s
    from T0; STEPS are the (hits, misses) added in each interval."""
    text = (SAMPLES / "redis" / "info_01.txt").read_text()
    text = text[:text.index("# Clients")] + text[text.index("# Stats"):text.index("# Replication")]
    hits = misses = 0
    for i in range(len(steps) + 1):
        if i:
            hits, misses = hits + steps[i - 1][0], misses + steps[i - 1][1]
        at_us = (T0 + i * every_s * S) * 1000
        body = re.sub(r"(?m)^server_time_usec:\d+", f"server_time_usec:{at_us}", text)
        body = re.sub(r"(?m)^uptime_in_seconds:\d+", f"uptime_in_seconds:{100 + i * every_s}", body)
        body = re.sub(r"(?m)^keyspace_hits:\d+", f"keyspace_hits:{hits}", body)
        body = re.sub(r"(?m)^keyspace_misses:\d+", f"keyspace_misses:{misses}", body)
        redis.write_snapshot(store, redis_info.parse_info(body), source="test", address=address,
                             source_kind="file", info_section="file")


def _iso(offset_s: int) -> str:
    return al.iso(T0 + offset_s * S)


def test_k6_p95_equivalent_fires_after_5m_and_clears(tmp_path, tmp_db):
    slow = [(T0 + i * S, 1500.0) for i in range(600)] + [(T0 + i * S, 200.0) for i in range(600, 1200)]
    fast = [(T0 + i * S, 300.0) for i in range(1200)]
    with Store.open(tmp_db) as store:
        k6.ingest_files(store, [_k6_file(tmp_path / "slow.json", slow)], "slow")
        k6.ingest_files(store, [_k6_file(tmp_path / "fast.json", fast)], "fast")
        bt = al.backtest_store(store.con, T0, T0 + 1800 * S)
    rule = {r.rule.alert: r for r in bt.results}["HighResponseTime"]
    assert rule.source == "equivalent" and "not PromQL" in rule.equivalent
    # p95 over (t-5m, t] > 1 s from T0; fires at T0+5m; the window holds only 200 ms samples at T0+15m
    assert [(f.labels["run"], f.start_ms, f.end_ms, f.value) for f in rule.firing] == \
        [("slow", T0 + 300 * S, T0 + 900 * S, 1.5)]


def test_pg_longest_transaction_equivalent(tmp_db):
    with Store.open(tmp_db) as store:
        _pg_snapshots(store, (60, 360))
        bt = al.backtest_store(store.con, T0, T0 + 1200 * S)
    rule = {r.rule.alert: r for r in bt.results}["DatabaseSlowQueries"]
    # > 30 s at the evaluations 2m..5m (active from 2m), fires at 4m with 120 s, gone at 6m
    [f] = rule.firing
    assert (f.active_at_ms, f.start_ms, f.end_ms, f.value) == (T0 + 120 * S, T0 + 240 * S, T0 + 360 * S, 180.0)
    assert f.labels["datname"] == "app" and f.labels["severity"] == "critical"


def test_redis_hit_ratio_equivalent_and_nan_is_dropped(tmp_db):
    low, high = (40, 60), (99, 1)
    with Store.open(tmp_db) as store:
        _redis_snapshots(store, "cache:6379", [low] * 12 + [high] * 8)
        _redis_snapshots(store, "idle:6379", [(0, 0)] * 6)         # no traffic: 0/0 = NaN, never fires
        bt = al.backtest_store(store.con, T0, T0 + 1800 * S)
    rule = {r.rule.alert: r for r in bt.results}["CacheHitRateLow"]
    # the window (t-5m, t] holds the 4 one-minute intervals ending at t-3m..t: 0.4 from the first one
    # (active at 1m), fires at 11m; at 14m two low + two high (278/400 < 0.8), at 15m one low (337/400)
    [f] = rule.firing
    assert f.labels["instance"] == "cache:6379"
    assert (f.active_at_ms, f.start_ms, f.end_ms) == (T0 + 60 * S, T0 + 660 * S, T0 + 900 * S)
    assert f.value == pytest.approx(0.4)
    with Store.open(tmp_db, read_only=True) as store:
        series = {labels["instance"]: pts for labels, pts in
                  al.redis_hit_ratio(store.con, al.eval_times(T0, T0 + 600 * S, 60 * S))}
    assert all(math.isnan(v) for v in series["idle:6379"].values()) and series["idle:6379"]


def test_alerts_cli_without_url_stores_equivalents(tmp_path, tmp_db, capsys):
    with Store.open(tmp_db) as store:
        _pg_snapshots(store, (60, 360))
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_main(["--db", str(tmp_db), "alerts", "--start", _iso(0), "--end", _iso(1200), "--format", "json"])
    out, err = capsys.readouterr()
    assert e.value.code == 0, err
    doc = json.loads(out)
    by = {r["alert"]: r for r in doc["rules"]}
    assert by["DatabaseSlowQueries"]["firing"][0]["start"] == _iso(240)
    assert by["DatabaseSlowQueries"]["firing"][0]["end"] == _iso(360)
    assert all(r["source"] == "equivalent" for r in doc["rules"])
    with Store.open(tmp_db, read_only=True) as store:
        frame = al.firing_intervals(store.con, _iso(0), _iso(1200))
        saved = al.stored_firing(store.con, source="equivalent")
    assert list(frame["alert"]) == ["DatabaseSlowQueries"] and list(frame["source"]) == ["equivalent"]
    assert list(saved["start"]) == list(frame["start"])
    # --rules without --url: one line, exit 2, nothing written
    (tmp_path / "r.yml").write_text(GOOD)
    with pytest.raises(SystemExit) as e:
        cli_main(["--db", str(tmp_db), "alerts", "--rules", str(tmp_path / "r.yml"), "--start", _iso(0)])
    assert e.value.code == 2 and "--rules needs --url" in capsys.readouterr().err
    with Store.open(tmp_db, read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM alert_backtests").fetchone()[0] == 1


def test_bad_rule_file_is_exit_2_one_line(tmp_path, tmp_db, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace("for: 1m", "for: soon"))
    with pytest.raises(SystemExit) as e:
        cli_main(["--db", str(tmp_db), "alerts", "--rules", str(bad), "--url", "http://127.0.0.1:9",
                  "--start", _iso(0), "--end", _iso(60)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"{bad}:7: group 'g', rule 'Down': bad for 'soon'" in err
    assert err.count("\n") == 1 and not tmp_db.exists()


def test_show_rules_prints_the_bundled_file(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["alerts", "--show-rules"])
    assert e.value.code == 0
    shown = al.parse_rules(capsys.readouterr().out, "shown").rules
    assert [(r.alert, r.expr, r.for_ms, r.labels) for r in shown] == \
        [(r.alert, r.expr, r.for_ms, r.labels) for r in al.load_rules().rules]
