"""The range client against a real Prometheus 2.42 (fixture `prom_server`)."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from workbench.errors import WorkbenchError
from workbench.lab.common import free_port
from workbench.sources.prometheus import PRESETS, PromClient, parse_response, preset_query

pytestmark = pytest.mark.service


def _now_ms(margin_s: float = 1.5) -> int:
    """A past instant on a whole second, so data up to it is settled in the TSDB."""
    return (int(time.time() - margin_s)) * 1000


def _direct(url: str, query: str, start_ms: int, end_ms: int, step: str) -> dict:
    return httpx.get(f"{url}/api/v1/query_range", params={
        "query": query, "start": start_ms / 1000, "end": end_ms / 1000, "step": step}, timeout=30).json()


def _by_labels(result) -> dict:
    return {tuple(sorted(s.labels.items())): list(zip(s.ts_ms, s.values, strict=True)) for s in result.series}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_matches_direct_api_call(prom_server, preset):
    if preset == "redis_hit_ratio":
        prom_server.redis_burst()
        prom_server.wait_until("count_over_time(redis_keyspace_hits_total[3s]) >= 2", 10)
    end = _now_ms()
    start = end - 20_000
    query = preset_query(preset)
    with PromClient(prom_server.url) as client:
        ours = client.query_range(query, start, end, 1000)
    direct = parse_response(_direct(prom_server.url, query, start, end, "1"))
    assert ours.series, f"{preset}: no data ({query})"
    assert ours.points >= 1
    a, b = _by_labels(ours), _by_labels(direct)
    assert a.keys() == b.keys()
    for key in a:
        assert [t for t, _ in a[key]] == [t for t, _ in b[key]]
        assert all(_same(x, y) for (_, x), (_, y) in zip(a[key], b[key], strict=True))
    assert not all(math.isnan(v) for s in ours.series for v in s.values), f"{preset}: only NaN"


def test_presets_with_matchers_and_grouping(prom_server):
    end = _now_ms()
    query = preset_query("p95_latency", match='handler="/api/events"', by="handler, query_type", window="1m")
    assert query == ('histogram_quantile(0.95, sum by (le, handler, query_type) '
                     '(rate(http_request_duration_seconds_bucket{handler="/api/events"}[1m])))')
    with PromClient(prom_server.url) as client:
        result = client.query_range(query, end - 10_000, end, 1000)
    assert {s.labels["query_type"] for s in result.series} == {"standard", "optimized"}
    assert {s.labels["handler"] for s in result.series} == {"/api/events"}


def test_5_hours_at_1s_is_split_and_stitched_exactly(prom_server):
    end = _now_ms()
    start = end - 5 * 3600 * 1000
    refused = _direct(prom_server.url, "vector(1)", start, end, "1s")
    assert refused["status"] == "error" and "11,000" in refused["error"]
    seen = []
    with PromClient(prom_server.url, concurrency=2) as client:
        result = client.query_range("vector(1)", start, end, 1000, progress=lambda d, n: seen.append((d, n)))
    assert result.windows == 2 and seen[-1] == (2, 2)
    (series,) = result.series
    assert len(series.ts_ms) == 18_001
    assert len(set(series.ts_ms)) == 18_001
    assert series.ts_ms[0] == start and series.ts_ms[-1] == end
    assert all(b - a == 1000 for a, b in zip(series.ts_ms, series.ts_ms[1:], strict=False))
    assert set(series.values) == {1.0}


def test_bad_promql_is_one_line_quoting_prometheus(prom_server):
    end = _now_ms()
    with PromClient(prom_server.url) as client, pytest.raises(WorkbenchError) as e:
        client.query_range("sum(rate(http_requests_total[5m]", end - 5000, end, 1000)
    msg = str(e.value)
    assert "\n" not in msg
    assert "bad_data" in msg and "parse error" in msg and prom_server.url in msg


def test_closed_port_is_one_line_connection_error():
    port = free_port()
    with PromClient(f"http://127.0.0.1:{port}", retries=0) as client, pytest.raises(WorkbenchError) as e:
        client.query_range("up", 0, 10_000, 1000)
    msg = str(e.value)
    assert "\n" not in msg and f"127.0.0.1:{port}" in msg and "cannot connect" in msg


def test_server_timeout_parameter_is_honoured(prom_server):
    end = _now_ms()
    heavy = "count(count_over_time(vector(1)[1d:1s]))"  # 86,400 subquery steps
    with PromClient(prom_server.url, server_timeout="1ms", retries=0) as client, \
            pytest.raises(WorkbenchError) as e:
        client.query_range(heavy, end - 1000, end, 1000)
    assert "timeout" in str(e.value).lower()
    with PromClient(prom_server.url, server_timeout="30s") as client:  # the same query, given time
        assert client.query_range(heavy, end - 1000, end, 1000).series


def test_empty_result_is_a_warning(prom_server):
    end = _now_ms()
    with PromClient(prom_server.url) as client:
        result = client.query_range('up{job="no-such-job"}', end - 5000, end, 1000)
    assert result.series == []
    assert any("empty result" in w for w in result.warnings)


def test_remote_read_failure_surfaces_warnings(prom_server):
    with PromClient(prom_server.url) as client:
        result = client.query('up{remote="broken"}')
    assert result.series == []
    assert any("remote_read" in w for w in result.warnings)
