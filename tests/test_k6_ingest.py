"""Ingesting k6 outputs: formats sniffed from content, old and new layouts, bad input, idempotence."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.analysis.k6_summary import k6_summary
from workbench.errors import WorkbenchError
from workbench.lab.k6 import run_k6
from workbench.sources import k6
from workbench.store import Store


def _counts(db: Path) -> tuple[int, int, int]:
    with Store.open(db, read_only=True) as s:
        return (s.con.execute("SELECT count(*) FROM k6_samples").fetchone()[0],
                s.con.execute("SELECT count(*) FROM ingests").fetchone()[0],
                s.con.execute("SELECT count(*) FROM k6_runs").fetchone()[0])


def _ingest(db, files, run="r", **kw):
    with Store.open(db) as store:
        return k6.ingest_files(store, [Path(f) for f in files], run, **kw)


def _cli(db, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", "--db", str(db), *args], capture_output=True,
                          text=True)


def test_sniff_from_content_not_extension(k6_run, tmp_path):
    disguised = tmp_path / "points.txt"
    disguised.write_bytes(k6_run.json_gz.read_bytes())
    assert k6.sniff(disguised) == "json"
    assert k6.sniff(k6_run.csv) == "csv"
    assert k6.sniff(k6_run.summary_export) == "summary-export"
    assert k6.sniff(k6_run.handle_summary) == "handle-summary"


def test_unknown_file_lists_supported_formats(tmp_path, tmp_db):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\nworld\n")
    r = _cli(tmp_db, "ingest", "k6", str(bad), "--run", "x")
    assert r.returncode == 2
    assert "not a k6 output" in r.stderr and "--out csv" in r.stderr and "handleSummary" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_empty_file_is_an_error(tmp_path, tmp_db):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(WorkbenchError, match="empty file"):
        _ingest(tmp_db, [empty])
    gz = tmp_path / "empty.json.gz"
    gz.write_bytes(gzip.compress(b""))
    with pytest.raises(WorkbenchError, match="empty file"):
        _ingest(tmp_db, [gz])


def test_truncated_last_line_keeps_complete_lines(k6_run, tmp_path, tmp_db):
    lines = k6_run.json.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "killed.json"
    cut.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])   # k6 killed mid-write
    [res] = _ingest(tmp_db, [cut])
    assert any(f":{len(lines)}: last line is incomplete" in w for w in res.warnings)
    points = sum(1 for ln in lines[:-1] if b'"Point"' in ln)
    assert res.rows == points == _counts(tmp_db)[0]


def test_corrupt_middle_line_fails_whole_ingest(k6_run, tmp_path, tmp_db):
    lines = k6_run.json.read_bytes().splitlines(keepends=True)
    bad_no = len(lines) // 2
    lines[bad_no - 1] = b'{"metric":"http_reqs","type":"Point","data":{"time":"2024-01-0\n'
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"".join(lines))
    r = _cli(tmp_db, "ingest", "k6", str(broken), "--run", "x")
    assert r.returncode == 2
    assert f"broken.json:{bad_no}: corrupt line" in r.stderr and "--skip-bad-lines" in r.stderr
    assert _counts(tmp_db) == (0, 0, 0)           # nothing stored, not even the run
    r = _cli(tmp_db, "ingest", "k6", str(broken), "--run", "x", "--skip-bad-lines")
    assert r.returncode == 0, r.stderr
    assert "skipped 1 bad lines" in r.stderr
    assert _counts(tmp_db)[0] == sum(1 for ln in lines if b'"Point"' in ln) - 1


def test_wrong_value_type_is_a_corrupt_line(k6_run, tmp_path, tmp_db):
    lines = k6_run.json.read_text().splitlines(keepends=True)
    lines.insert(10, '{"type":"Point","metric":"vus","data":{"time":"2024-01-01T00:00:00Z","value":"x","tags":{}}}\n')
    f = tmp_path / "typed.json"
    f.write_text("".join(lines))
    with pytest.raises(WorkbenchError, match=r"typed.json:11: corrupt line"):
        _ingest(tmp_db, [f])


def _old_layout(line: str) -> str:
    """A current k6 JSON line rewritten in the older layout: `type` first, a `tainted` key, `tags: null`
    for metric definitions, and times with a +02:00 offset."""
    obj = json.loads(line)
    data = dict(obj["data"])
    if obj["type"] == "Metric":
        data = {"tainted": None, **data, "tags": None}
    else:
        t = data["time"]  # e.g. 2026-11-28T02:20:34.81116437Z -> same instant at +02:00
        hh = int(t[11:13])
        if hh < 22:
            data["time"] = f"{t[:11]}{hh + 2:02d}{t[13:-1]}+02:00"
    return json.dumps({"type": obj["type"], "data": data, "metric": obj["metric"]}) + "\n"


def test_older_json_layout_and_utc_offsets(k6_run, tmp_path):
    old = tmp_path / "old.json"
    old.write_text("".join(_old_layout(ln) for ln in k6_run.json.read_text().splitlines()))
    new_db, old_db = tmp_path / "new.duckdb", tmp_path / "old.duckdb"
    _ingest(new_db, [k6_run.json])
    _ingest(old_db, [old])
    with Store.open(new_db, read_only=True) as a, Store.open(old_db, read_only=True) as b:
        q = "SELECT metric, ts, value, status, name FROM k6_points ORDER BY ALL"
        assert a.con.execute(q).fetchall() == b.con.execute(q).fetchall()
        assert k6_summary(a.con, "r")["metrics"] == k6_summary(b.con, "r")["metrics"]


def _rewrite_csv(src: Path, dst: Path, keep: list[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(src.read_text())))
    with open(dst, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keep, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keep})


def test_pre_031_sixteen_column_csv_header(k6_run, tmp_path, tmp_db):
    legacy = ["metric_name", "timestamp", "metric_value", "check", "error", "error_code", "group", "method",
              "name", "proto", "service", "status", "subproto", "tls_version", "url", "extra_tags"]
    old = tmp_path / "old.csv"
    _rewrite_csv(k6_run.csv, old, legacy)
    assert len(old.read_text().splitlines()[0].split(",")) == 16
    [res] = _ingest(tmp_db, [old])
    with Store.open(tmp_db, read_only=True) as s:
        assert res.rows == s.con.execute("SELECT count(*) FROM k6_points").fetchone()[0]
        # scenario and expected_response columns did not exist then: NULL, not an error
        assert s.con.execute("SELECT count(scenario), count(expected_response) FROM k6_points").fetchone() == (0, 0)
        # extra_tags parsed (the lab script's custom `variant` tag)
        assert s.con.execute("SELECT count(*) FROM k6_points WHERE extra_tags['variant'] = 'optimized'").fetchone()[0] > 0


def test_csv_custom_system_tags_and_rfc3339_time(target_url, tmp_path, tmp_db):
    """A real k6 run with --system-tags and K6_CSV_TIME_FORMAT=rfc3339_nano: columns mapped by name."""
    out = tmp_path / "k6"
    files = run_k6(target_url, out, stem="custom", outputs=("csv",), summary_export=False,
                   env={"VUS": "2", "ITERATIONS": "5", "K6_SYSTEM_TAGS": "status,method,name,vu,iter,scenario",
                        "K6_CSV_TIME_FORMAT": "rfc3339_nano"})
    header = files["csv"].read_text().splitlines()[0].split(",")
    assert "url" not in header and "check" not in header and "metadata" in header   # vu/iter are metadata in k6 1.x
    [res] = _ingest(tmp_db, [files["csv"]])
    assert res.rows > 0
    with Store.open(tmp_db, read_only=True) as s:
        vus = s.con.execute("SELECT count(DISTINCT metadata->>'vu') FROM k6_points WHERE metric = 'http_reqs'"
                            " AND scenario = 'browse'").fetchone()[0]
        assert vus == 2
        span = s.con.execute("SELECT max(ts) - min(ts) FROM k6_points").fetchone()[0]
        assert span.total_seconds() < 120       # sub-second times parsed as times, not nonsense


def test_same_file_twice_is_a_noop_and_replace_reloads(k6_run, tmp_db):
    [first] = _ingest(tmp_db, [k6_run.json])
    [again] = _ingest(tmp_db, [k6_run.json])
    assert again.skipped and "already ingested" in again.warnings[0]
    assert _counts(tmp_db)[:2] == (first.rows, 1)
    [replaced] = _ingest(tmp_db, [k6_run.json], replace=True)
    assert not replaced.skipped and _counts(tmp_db)[:2] == (first.rows, 1)


def test_json_and_csv_of_one_test_warn(k6_run, tmp_db):
    _ingest(tmp_db, [k6_run.json])
    [res] = _ingest(tmp_db, [k6_run.csv])
    assert any("same time range and request count" in w for w in res.warnings)


def test_several_instances_add_up(k6_run, tmp_path, tmp_db):
    """Two points files (two k6 instances) in one run: counts add up."""
    [a] = _ingest(tmp_db, [k6_run.json], run="multi")
    [b] = _ingest(tmp_db, [k6_run.json_gz], run="multi", replace=False)   # same data, other bytes
    with Store.open(tmp_db, read_only=True) as s:
        total = k6_summary(s.con, "multi")["metrics"]["http_reqs"]["count"]
        single = s.con.execute("SELECT count(*) FROM k6_samples WHERE metric = 'http_reqs' AND ingest_id = 1").fetchone()[0]
    assert a.rows == b.rows and total == 2 * single


def test_second_summary_for_a_run_is_refused(k6_run, tmp_db):
    _ingest(tmp_db, [k6_run.summary_export])
    with pytest.raises(WorkbenchError, match="at most one summary"):
        _ingest(tmp_db, [k6_run.handle_summary])


def test_run_tags_and_label_kept(k6_run, tmp_db):
    r = _cli(tmp_db, "ingest", "k6", str(k6_run.json_gz), "--run", "pre", "--label", "baseline",
             "--tag", "git_sha=abc123", "--tag", "environment=staging")
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_db, "ls", "runs", "--format", "json")
    [run] = json.loads(r.stdout)
    assert run["run"] == "pre" and run["label"] == "baseline"
    assert run["tags"] == {"git_sha": "abc123", "environment": "staging"}
    assert run["requests"] > 1000 and run["started_at"] < run["ended_at"]
    bad = _cli(tmp_db, "ingest", "k6", str(k6_run.json_gz), "--run", "pre", "--tag", "novalue")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr


def test_summary_cli_json_shape(k6_run, tmp_db):
    _cli(tmp_db, "ingest", "k6", str(k6_run.json), str(k6_run.summary_export), "--run", "s")
    r = _cli(tmp_db, "k6", "summary", "--run", "s", "--format", "json", "--trend-stats", "avg,p(99.9),count")
    out = json.loads(r.stdout)
    assert out["run"] == "s"
    d = out["metrics"]["http_req_duration"]
    assert set(d) == {"avg", "p(99.9)", "count", "thresholds"}
    assert d["thresholds"] == {"p(95)<500": {"ok": True}}
    assert set(out["metrics"]["http_reqs"]) == {"count", "rate"}
    assert set(out["metrics"]["checks"]) == {"value", "passes", "fails"}
    assert set(out["metrics"]["vus"]) == {"value", "min", "max"}
