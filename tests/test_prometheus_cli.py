"""`workbench collect prometheus`, `ingest prometheus` and `prom series` end to end."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
import pytest

from workbench.cli import main as cli_main
from workbench.lab.common import free_port
from workbench.sources.prometheus import PRESETS
from workbench.store import Store

pytestmark = pytest.mark.service


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_list_presets(capsys):
    code, out, _ = run(capsys, "collect", "prometheus", "--list-presets")
    assert code == 0
    for name, preset in PRESETS.items():
        assert f"{name}\t{preset.render()}" in out


def test_collect_preset_then_series_json_and_csv(prom_server, tmp_db, capsys, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_TOKEN", "tok-never-stored-4242")  # Prometheus ignores it; we must not keep it
    end = int(time.time()) - 2
    code, _, err = run(capsys, "--db", str(tmp_db), "collect", "prometheus", "--url", prom_server.url,
                       "--preset", "rps", "--by", "handler", "--match", 'job="target"', "--window", "1m",
                       "--start", str(end - 10), "--end", str(end), "--step", "1s", "--name", "rps")
    assert code == 0, err
    code, out, _ = run(capsys, "--db", str(tmp_db), "prom", "series", "--name", "rps", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert {s["labels"]["handler"] for s in doc} >= {"/api/events", "/api/dashboard/summary"}
    direct = httpx.get(f"{prom_server.url}/api/v1/query_range", params={
        "query": 'sum by (handler) (rate(http_requests_total{job="target"}[1m]))', "start": end - 10, "end": end,
        "step": 1}).json()["data"]["result"]
    want = {r["metric"]["handler"]: [[t, float(v)] for t, v in r["values"]] for r in direct}
    assert {s["labels"]["handler"]: s["points"] for s in doc} == want
    code, out, _ = run(capsys, "--db", str(tmp_db), "prom", "series", "--name", "rps", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == sum(len(s["points"]) for s in doc) and rows[0]["ts"].endswith("+00:00")
    with Store.open(tmp_db, read_only=True) as store:
        sets = store.con.execute("SELECT query, preset, url FROM prom_series_sets").fetchall()
        assert sets == [('sum by (handler) (rate(http_requests_total{job="target"}[1m]))', "rps", prom_server.url)]
        for table, col in [("ingests", "details"), ("ingests", "source"), ("prom_series_sets", "url")]:
            hits = store.con.execute(f"SELECT count(*) FROM {table} WHERE {col}::VARCHAR LIKE '%tok-never%'")
            assert hits.fetchone()[0] == 0
    # same name again without --replace: exit 2 with the fix
    code, _, err = run(capsys, "--db", str(tmp_db), "collect", "prometheus", "--url", prom_server.url,
                       "--query", "vector(1)", "--start", "now-5s", "--step", "1", "--name", "rps")
    assert code == 2 and "--replace" in err


def test_collect_5h_vector_has_18001_points(prom_server, tmp_db, capsys):
    end = int(time.time())
    code, _, err = run(capsys, "--db", str(tmp_db), "collect", "prometheus", "--url", prom_server.url,
                       "--query", "vector(1)", "--start", str(end - 5 * 3600), "--end", str(end), "--step", "1s",
                       "--name", "v")
    assert code == 0, err
    assert "18001 points in 2 request(s)" in err
    with Store.open(tmp_db, read_only=True) as store:
        n, distinct = store.con.execute("SELECT count(*), count(DISTINCT ts) FROM prom_points").fetchone()
    assert n == distinct == 18_001


def test_errors_are_one_line_exit_2(prom_server, tmp_db, capsys):
    code, _, err = run(capsys, "--db", str(tmp_db), "collect", "prometheus", "--url", prom_server.url,
                       "--query", "sum(up", "--start", "now-10s", "--step", "1s", "--name", "bad")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: Prometheus at") and "parse error" in err
    port = free_port()
    code, _, err = run(capsys, "--db", str(tmp_db), "collect", "prometheus", "--url", f"http://127.0.0.1:{port}",
                       "--preset", "cpu", "--start", "now-10s", "--step", "1s", "--name", "c")
    assert code == 2 and err.count("\n") == 1 and f"cannot connect to Prometheus at http://127.0.0.1:{port}" in err
    code, _, err = run(capsys, "--db", str(tmp_db), "collect", "prometheus", "--url", prom_server.url,
                       "--query", "up", "--preset", "cpu", "--start", "now-10s", "--step", "1s", "--name", "c")
    assert code == 2 and "exactly one of --query" in err


def test_ingest_cli_and_warnings(prom_server, tmp_path, tmp_db, capsys):
    end = int(time.time()) - 1
    resp = httpx.get(f"{prom_server.url}/api/v1/query_range", params={
        "query": 'up{remote="broken"}', "start": end - 5, "end": end, "step": 1})
    path = tmp_path / "warned.json"
    path.write_bytes(resp.content)
    code, _, err = run(capsys, "--db", str(tmp_db), "ingest", "prometheus", str(path), "--name", "w")
    assert code == 0 and "warning:" in err and "remote_read" in err
    code, _, err = run(capsys, "--db", str(tmp_db), "ingest", "prometheus", str(path), "--name", "w")
    assert code == 0 and "already ingested" in err
    code, out, _ = run(capsys, "--db", str(tmp_db), "prom", "series", "--name", "w", "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, "--db", str(tmp_db), "prom", "series", "--name", "nope")
    assert code == 2 and "no Prometheus series set named 'nope' (known: w)" in err
