"""Terminal output as a CI log shows it: COLUMNS=80 and stdout a pipe (not a terminal), through the real
entry point in a subprocess, on the store built from the bundled samples."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.analysis.rounding import change_vs_target

ROOT = Path(__file__).resolve().parent.parent


def wb(db: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT)}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "workbench", "--db", str(db), *args], capture_output=True,
                          text=True, env=env, timeout=300)


def as_json(db: Path, *args: str) -> dict:
    out = wb(db, *args, "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def fits(text: str, width: int = 80) -> None:
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"lines over {width} columns: {long[:3]}"


def test_compare_keeps_every_row_on_one_line(samples_store):
    out = wb(samples_store, "compare", "--before", "lab-pre", "--after", "lab-post", "--skip", "5s")
    assert out.returncode in (0, 1), out.stderr
    fits(out.stdout)
    lines = out.stdout.splitlines()
    doc = as_json(samples_store, "compare", "--before", "lab-pre", "--after", "lab-post", "--skip", "5s")
    for r in doc["results"]:
        p = "n/a" if r['p_adjusted'] is None else f"{r['p_adjusted']:.2g}"   # as the CLI prints it
        assert any(re.search(rf"^\s+{r['metric']}\s.*\s{re.escape(p)}\s+{r['verdict']}$", line) for line in lines), \
            (r["endpoint"], r["metric"], p, r["verdict"])
    for endpoint in {r["endpoint"] for r in doc["results"]}:
        assert endpoint in lines


def test_abtest_says_control_and_treatment_and_warns_once_naming_split(samples_store, tmp_path):
    junit, md = tmp_path / "new" / "dir" / "ab.xml", tmp_path / "other" / "ab.md"
    out = wb(samples_store, "abtest", "--run", "lab-pre", "--control", "standard", "--treatment", "optimized",
             "--junit", str(junit), "--markdown", str(md))
    assert out.returncode == 1      # the samples' split is 75/25, not the default 50/50
    header = next(line for line in out.stdout.splitlines() if "verdict" in line)
    assert "control" in header and "treatment" in header and "before" not in header
    assert out.stderr.count("SAMPLE RATIO MISMATCH") == 1, out.stderr
    assert "--split" in out.stderr
    assert junit.read_text().startswith("<?xml") and md.read_text().strip()
    fits(out.stdout)


def test_pg_top_shows_the_query_not_the_queryid(samples_store):
    doc = as_json(samples_store, "pg", "top")
    out = wb(samples_store, "pg", "top")
    assert out.returncode == 0, out.stderr
    fits(out.stdout)
    top = " ".join(doc["statements"][0]["query"].split())
    assert top[:30] in out.stdout
    assert not re.search(r"\d{15,}", out.stdout)     # no queryid column eating the width
    wide = wb(samples_store, "pg", "top", columns=160)
    assert str(doc["statements"][0]["queryid"]) in wide.stdout     # ... but there when there is room


def test_pg_top_takes_labels_for_from_and_to(samples_store):
    snaps = [s for s in as_json(samples_store, "ls", "snapshots") if s["source"] == "postgres"]
    first, last = snaps[0], snaps[-1]
    by_label = as_json(samples_store, "pg", "top", "--from", first["label"], "--to", last["label"])
    by_id = as_json(samples_store, "pg", "top", "--from", str(first["snapshot"]), "--to", str(last["snapshot"]))
    assert (by_label["from"], by_label["to"]) == (first["snapshot"], last["snapshot"])
    assert by_label == by_id
    bad = wb(samples_store, "pg", "top", "--from", "no-such-label")
    assert bad.returncode == 2 and "no-such-label" in bad.stderr


@pytest.mark.parametrize("what", ["runs", "snapshots"])
def test_ls_prints_tags_as_key_value(samples_store, what):
    out = wb(samples_store, "ls", what)
    assert out.returncode == 0, out.stderr
    fits(out.stdout)
    assert "{'" not in out.stdout
    for row in as_json(samples_store, "ls", what):
        for k, v in (row.get("tags") or {}).items():
            assert f"{k}={v}" in out.stdout
        if row.get("label"):
            assert " ".join(row["label"].split()) in " ".join(out.stdout.split())   # wrapped at word boundaries


def test_k6_summary_reads_like_k6(samples_store):
    doc = as_json(samples_store, "k6", "summary", "--run", "lab-pre")
    out = wb(samples_store, "k6", "summary", "--run", "lab-pre")
    assert out.returncode == 0, out.stderr
    fits(out.stdout)
    lines = out.stdout.splitlines()
    for group in ("HTTP", "EXECUTION", "NETWORK"):
        assert group in lines
    failed = doc["metrics"]["http_req_failed"]
    n = failed["passes"] + failed["fails"]
    line = next(x for x in lines if x.strip().startswith("http_req_failed "))
    assert f"{100 * failed['value']:.2f}%  {failed['passes']:,} out of {n:,}" in line
    assert re.search(r"avg=\d+\.\d\dms", next(x for x in lines if x.strip().startswith("http_req_duration ")))
    assert re.search(r"data_received \.+: [\d.]+ [kMG]B  [\d.]+ [kMG]?B/s", out.stdout)
    assert lines.index("HTTP") < next(i for i, x in enumerate(lines) if "http_reqs" in x) < lines.index("EXECUTION")


def test_k6_summary_honours_the_summary_files_trend_stats(samples_store, k6_run, tmp_path):
    """A handleSummary file (real k6, the lab's script) names its summaryTrendStats: they become the default;
    a --summary-export file names none (the bundled lab runs): k6's default; --trend-stats wins."""
    db = tmp_path / "wb.duckdb"
    r = subprocess.run([sys.executable, "-m", "workbench", "--db", str(db), "ingest", "k6", str(k6_run.json),
                        str(k6_run.handle_summary), "--run", "hs"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    stored = json.loads(k6_run.handle_summary.read_text())["options"]["summaryTrendStats"]
    assert stored != ["avg", "min", "med", "max", "p(90)", "p(95)"]
    named = as_json(db, "k6", "summary", "--run", "hs")["metrics"]["http_req_duration"]
    assert [k for k in named if k != "thresholds"] == stored
    lab = as_json(samples_store, "k6", "summary", "--run", "lab-post")["metrics"]["http_req_duration"]
    assert [k for k in lab if k != "thresholds"] == ["avg", "min", "med", "max", "p(90)", "p(95)"]  # k6's default
    given = as_json(samples_store, "k6", "summary", "--run", "lab-pre", "--trend-stats", "med,p(99.9)")
    assert [k for k in given["metrics"]["http_req_duration"] if k != "thresholds"] == ["med", "p(99.9)"]
    assert "p(99)=" in wb(db, "k6", "summary", "--run", "hs").stdout


def test_prometheus_times_to_the_millisecond(samples_store):
    out = wb(samples_store, "prom", "series", "--name", "lab-pre.p95_latency")
    assert out.returncode == 0, out.stderr
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\s", out.stdout, re.M), out.stdout[:300]
    csv = wb(samples_store, "prom", "series", "--name", "lab-pre.p95_latency", "--format", "csv")
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00,", csv.stdout, re.M)


def test_a_rounded_change_never_contradicts_its_target():
    assert change_vs_target(-19.98, -20) == "-19.98%"
    assert change_vs_target(-27.62, -20) == "-27.6%"
    assert change_vs_target(-20.0, -20) == "-20.0%"
    rng = random.Random(7)
    for _ in range(5000):
        target = rng.choice([-50, -20, -10, 5, 20, 30])
        change = target + rng.uniform(-0.2, 0.2)
        shown = float(change_vs_target(change, target).rstrip("%"))
        assert (shown < target) == (change < target) and (shown > target) == (change > target), (change, target)
