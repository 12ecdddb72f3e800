"""Range client logic without a server: times, steps, windows, presets, retries and auth headers.

Retries and the 5xx/timeout faults use httpx.MockTransport: a real Prometheus cannot be made to fail
once and then succeed on demand."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import httpx
import pytest

from workbench.errors import WorkbenchError
from workbench.sources.prometheus import (
    MAX_POINTS,
    PromClient,
    base_url,
    parse_duration_ms,
    parse_time_ms,
    preset_query,
    windows,
)

NOW = dt.datetime(2025, 8, 6, 12, 0, 0, tzinfo=dt.UTC)
NOW_MS = 1754481600000


@pytest.mark.parametrize("text, ms", [("15s", 15_000), ("1m", 60_000), ("1h30m", 5_400_000), ("500ms", 500),
                                      ("300", 300_000), ("0.5", 500), ("1d", 86_400_000)])
def test_durations(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "abc", "15x", "-5", "0", "1m foo"])
def test_bad_durations(text):
    with pytest.raises(WorkbenchError, match="bad duration"):
        parse_duration_ms(text)


@pytest.mark.parametrize("text, ms", [
    ("2025-08-06T12:00:00Z", NOW_MS), ("2025-08-06T14:00:00+02:00", NOW_MS), ("2025-08-06T12:00:00", NOW_MS),
    ("2025-08-06T12:00:00.250Z", NOW_MS + 250), ("1754481600", NOW_MS), ("1754481600.5", NOW_MS + 500),
    ("now", NOW_MS), ("now-1h", NOW_MS - 3_600_000), ("now+5m", NOW_MS + 300_000), ("now - 90s", NOW_MS - 90_000),
])
def test_times(text, ms):
    assert parse_time_ms(text, now=NOW) == ms


def test_bad_time():
    with pytest.raises(WorkbenchError, match="bad time 'yesterday'"):
        parse_time_ms("yesterday")


def test_windows_cover_the_grid_once():
    start, step = 1_000, 1_000
    end = start + 18_000 * step
    wins = windows(start, end, step)
    assert wins == [(start, start + (MAX_POINTS - 1) * step), (start + MAX_POINTS * step, end)]
    grid = [t for a, b in wins for t in range(a, b + 1, step)]
    assert len(grid) == len(set(grid)) == 18_001
    # an end off the grid stops at the last step before it, like Prometheus
    assert windows(0, 10_500, 1_000) == [(0, 10_000)]
    assert windows(0, 0, 1_000) == [(0, 0)]
    assert len(windows(0, 11_000 * 1000 - 1, 1000)) == 1 and len(windows(0, 11_000 * 1000, 1000)) == 2
    with pytest.raises(WorkbenchError, match="end is before start"):
        windows(10, 0, 1)


def test_presets_follow_design_corrections():
    assert preset_query("error_ratio_5xx") == (
        'sum (rate(http_requests_total{status=~"5.."}[5m])) / sum (rate(http_requests_total[5m]))')
    assert preset_query("error_ratio_5xx", match='job="api"', by="handler", window="1m") == (
        'sum by (handler) (rate(http_requests_total{status=~"5..", job="api"}[1m])) / '
        'sum by (handler) (rate(http_requests_total{job="api"}[1m]))')
    assert "redis_keyspace_hits_total" in preset_query("redis_hit_ratio")
    assert "redis_cache_hit_ratio" not in preset_query("redis_hit_ratio")
    assert preset_query("pg_long_tx") == "max by (instance, datname) (pg_stat_activity_max_tx_duration)"
    assert preset_query("p95_latency", match='{query_type="standard"}') == (
        'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{query_type="standard"}[5m])))')
    with pytest.raises(WorkbenchError, match="unknown preset 'p50'.*p95_latency"):
        preset_query("p50")
    with pytest.raises(WorkbenchError, match="bad duration"):
        preset_query("rps", window="5 minutes")


def test_base_url():
    assert base_url("http://h:9090/") == "http://h:9090"
    assert base_url("http://h:9090/prom/api/v1/query_range") == "http://h:9090/prom"
    assert base_url("https://h/graph") == "https://h"
    with pytest.raises(WorkbenchError, match="PROMETHEUS_USER"):
        base_url("http://me:secret@h:9090")
    with pytest.raises(WorkbenchError, match="bad Prometheus URL"):
        base_url("h:9090")


def _ok(request: httpx.Request) -> httpx.Response:
    p = request.url.params
    start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
    n = round((end - start) / step) + 1
    values = [[start + i * step, "1"] for i in range(n)]
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix",
                                                                   "result": [{"metric": {}, "values": values}]}})


def test_retries_429_and_5xx_then_succeeds():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, text="slow down")
        if len(calls) == 2:
            return httpx.Response(503, text="upstream busy")
        return _ok(request)

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler), backoff_s=0.001) as c:
        r = c.query_range("up", 0, 4000, 1000)
    assert len(calls) == 3 and r.points == 5


def test_retries_timeouts_then_gives_one_line():
    calls = []

    def handler(request):
        calls.append(1)
        raise httpx.ReadTimeout("timed out", request=request)

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler), backoff_s=0.001,
                    retries=2) as c, pytest.raises(WorkbenchError) as e:
        c.query_range("up", 0, 4000, 1000)
    assert len(calls) == 3 and "did not answer" in str(e.value) and "\n" not in str(e.value)


def test_absurd_step_counts_are_refused_before_any_request():
    def handler(request):
        raise AssertionError("no request expected")

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler)) as c, \
            pytest.raises(WorkbenchError, match="larger --step"):
        c.query_range("up", 0, 365 * 86_400_000, 1000)


def test_persistent_5xx_quotes_the_envelope():
    body = {"status": "error", "errorType": "internal", "error": "storage\nfailure"}

    def handler(request):
        return httpx.Response(500, json=body)

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler), backoff_s=0.001) as c, \
            pytest.raises(WorkbenchError) as e:
        c.query("up")
    assert str(e.value) == "Prometheus at http://prom.test said internal: storage failure"


def test_server_timeout_and_concurrency_bounds():
    seen = []

    def handler(request):
        seen.append(dict(request.url.params))
        return _ok(request)

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler), server_timeout="20s",
                    concurrency=3) as c:
        r = c.query_range("up", 0, 30_000 * 1000, 1000)
    assert r.windows == 3 and len(seen) == 3
    assert {s["timeout"] for s in seen} == {"20s"}
    assert r.points == 30_001 and len({t for t in r.series[0].ts_ms}) == 30_001


def test_window_fetches_are_concurrent_but_bounded():
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def handler(request):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return _ok(request)

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler), concurrency=3) as c:
        r = c.query_range("up", 0, 8 * MAX_POINTS * 1000, 1000)
    assert r.windows == 9 and state["max"] == 3
    assert r.series[0].ts_ms == list(range(0, 8 * MAX_POINTS * 1000 + 1, 1000))


@pytest.mark.parametrize("env, expect", [
    ({"PROMETHEUS_TOKEN": "tok-123456"}, "Bearer tok-123456"),
    ({"PROMETHEUS_USER": "alice", "PROMETHEUS_PASSWORD": "s3cret"}, "Basic YWxpY2U6czNjcmV0"),
    ({}, None),
])
def test_auth_from_env(env, expect):
    headers = []

    def handler(request):
        headers.append(request.headers.get("authorization"))
        return _ok(request)

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler), env=env) as c:
        c.query_range("up", 0, 0, 1000)
    assert headers == [expect]


def test_401_names_the_env_vars_and_hides_the_token():
    def handler(request):
        return httpx.Response(401, text=f"bad token {request.headers['authorization']}")

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler),
                    env={"PROMETHEUS_TOKEN": "tok-abcdef"}) as c, pytest.raises(WorkbenchError) as e:
        c.query("up")
    assert "PROMETHEUS_TOKEN" in str(e.value) and "tok-abcdef" not in str(e.value)


def test_not_prometheus():
    def handler(request):
        return httpx.Response(404, text="<html>nope</html>")

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler)) as c, \
            pytest.raises(WorkbenchError, match="HTTP 404, not a Prometheus API response.*check --url"):
        c.query("up")


def test_warnings_are_kept_and_deduplicated():
    def handler(request):
        doc = json.loads(_ok(request).content)
        doc["warnings"] = ["remote_read: down"]
        return httpx.Response(200, json=doc)

    with PromClient("http://prom.test", transport=httpx.MockTransport(handler)) as c:
        r = c.query_range("up", 0, 20_000 * 1000, 1000)
    assert r.windows == 2 and r.warnings == ["remote_read: down"]
