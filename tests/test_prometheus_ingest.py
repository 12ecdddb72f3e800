"""Saved API responses, made by the real Prometheus in the session, ingested and read back."""

from __future__ import annotations

import json
import math
import time

import httpx
import pytest

from workbench.analysis.prometheus import list_series, series_frame, series_json
from workbench.errors import WorkbenchError
from workbench.sources.prometheus import ingest_file, load_file
from workbench.store import Store

pytestmark = pytest.mark.service


def _save(tmp_path, name: str, url: str, endpoint: str, **params) -> tuple:
    resp = httpx.get(f"{url}/api/v1/{endpoint}", params=params, timeout=30)
    path = tmp_path / f"{name}.json"
    path.write_bytes(resp.content)  # exactly what `curl ... > file.json` would keep
    return path, resp.json()


def _range(tmp_path, name, url, query, seconds=5):
    end = int(time.time()) - 1
    return _save(tmp_path, name, url, "query_range", query=query, start=end - seconds, end=end, step="1")


@pytest.fixture
def store(tmp_db):
    s = Store.open(tmp_db)
    yield s
    s.close()


def test_nan_and_infinities_survive(prom_server, tmp_path, store):
    query = ('label_replace(vector(1)/0, "v", "pos", "", "") or label_replace(vector(-1)/0, "v", "neg", "", "")'
             ' or label_replace(vector(0)/0, "v", "nan", "", "")')
    path, raw = _range(tmp_path, "specials", prom_server.url, query)
    assert {r["values"][0][1] for r in raw["data"]["result"]} == {"+Inf", "-Inf", "NaN"}
    ingest_file(store, path, "specials")
    out = {s["labels"]["v"]: s["points"] for s in series_json(store.con, "specials")}
    assert {v for _, v in out["pos"]} == {"+Inf"}
    assert {v for _, v in out["neg"]} == {"-Inf"}
    assert {v for _, v in out["nan"]} == {"NaN"}
    assert len(out["pos"]) == 6
    # the exact timestamps Prometheus sent
    pos = next(r for r in raw["data"]["result"] if r["metric"]["v"] == "pos")
    assert [p[0] for p in out["pos"]] == [t for t, _ in pos["values"]]
    df = series_frame(store.con, "specials")
    nan = df[df["labels"] == '{v="nan"}']["value"]
    assert len(nan) == 6 and nan.isna().all()
    assert (df[df["labels"] == '{v="pos"}']["value"] == math.inf).all()
    assert (df[df["labels"] == '{v="neg"}']["value"] == -math.inf).all()
    assert str(df["ts"].dt.tz) == "UTC"


def test_gap_from_a_stopped_target(prom_server, tmp_path, store):
    flaky = prom_server.flaky
    t0 = time.time()
    time.sleep(2.5)
    flaky.stop()
    time.sleep(4)
    flaky.start()
    prom_server.wait_until('count_over_time(http_requests_total{job="flaky"}[3s]) >= 2', 10)
    end = int(time.time())
    start = int(t0) - 1
    path, raw = _save(tmp_path, "gap", prom_server.url, "query_range",
                      query='http_requests_total{job="flaky", handler="/api/events"}', start=start, end=end, step="1")
    (series,) = raw["data"]["result"]
    ts = [t for t, _ in series["values"]]
    assert max(b - a for a, b in zip(ts, ts[1:], strict=False)) >= 3, ts  # the stop left missing steps
    ingest_file(store, path, "gap")
    (stored,) = series_json(store.con, "gap")
    assert [p[0] for p in stored["points"]] == ts
    assert len(stored["points"]) < end - start + 1


def test_differing_timestamps_across_series(prom_server, tmp_path, store):
    path, raw = _save(tmp_path, "raw_up", prom_server.url, "query", query="up[5s]")
    assert raw["data"]["resultType"] == "matrix"
    stamps = {tuple(t for t, _ in r["values"]) for r in raw["data"]["result"]}
    assert len(stamps) > 1  # each target is scraped on its own offset
    ingest_file(store, path, "raw_up")
    got = {tuple(p[0] for p in s["points"]) for s in series_json(store.con, "raw_up")}
    assert got == stamps
    df = series_frame(store.con, "raw_up")
    assert df["labels"].str.startswith("up{").all()


def test_vector_and_scalar(prom_server, tmp_path, store):
    path, raw = _save(tmp_path, "vec", prom_server.url, "query", query="up")
    ingest_file(store, path, "vec")
    assert len(series_json(store.con, "vec")) == len(raw["data"]["result"]) >= 4
    path, raw = _save(tmp_path, "sca", prom_server.url, "query", query="1/0")
    assert raw["data"]["resultType"] == "scalar"
    ingest_file(store, path, "sca")
    assert series_json(store.con, "sca") == [{"labels": {}, "points": [[raw["data"]["result"][0], "+Inf"]]}]


def test_warnings_with_no_data(prom_server, tmp_path, store):
    path, raw = _range(tmp_path, "warned", prom_server.url, 'up{remote="broken"}')
    assert raw["status"] == "success" and raw["data"]["result"] == [] and raw["warnings"]
    result, written = ingest_file(store, path, "warned")
    assert written and result.warnings == raw["warnings"]
    assert series_json(store.con, "warned") == []
    row = list_series(store.con).set_index("name").loc["warned"]
    assert row["series"] == 0 and list(row["warnings"]) == raw["warnings"]
    details = json.loads(store.con.execute(
        "SELECT details FROM ingests WHERE run = 'warned'").fetchone()[0])
    assert details["warnings"] == raw["warnings"]


def test_error_envelope_is_one_line_and_leaves_nothing(prom_server, tmp_path, store):
    path, raw = _range(tmp_path, "broken", prom_server.url, "rate(up[5m]")
    assert raw["status"] == "error" and raw["errorType"] == "bad_data"
    with pytest.raises(WorkbenchError) as e:
        ingest_file(store, path, "broken")
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "bad_data" in msg and raw["error"] in msg
    assert store.con.execute("SELECT count(*) FROM prom_series_sets").fetchone()[0] == 0
    assert store.con.execute("SELECT count(*) FROM ingests").fetchone()[0] == 0


def test_reingest_is_idempotent_and_replace_swaps(prom_server, tmp_path, store):
    path, _ = _range(tmp_path, "v1", prom_server.url, "vector(1)")
    assert ingest_file(store, path, "one")[1] is True
    assert ingest_file(store, path, "one")[1] is False
    other, _ = _range(tmp_path, "v2", prom_server.url, "vector(2)", seconds=3)
    with pytest.raises(WorkbenchError, match="already exists.*--replace"):
        ingest_file(store, other, "one")
    ingest_file(store, other, "one", replace=True)
    (s,) = series_json(store.con, "one")
    assert {v for _, v in s["points"]} == {2} and len(s["points"]) == 4
    assert store.con.execute("SELECT count(*) FROM prom_points").fetchone()[0] == 4


def test_load_file_rejects_non_prometheus_json(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(WorkbenchError, match="not a Prometheus API response"):
        load_file(bad)
    bad.write_text('{"status": "success",\n "data": ')
    with pytest.raises(WorkbenchError, match=r"x.json:2: not a JSON"):
        load_file(bad)
