"""The bundled real captures in data/samples/prometheus/ (the ranges of the lab loop's two k6 runs) load,
read back exactly as saved, and show the loop's change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.analysis.prometheus import list_series, series_frame, series_json
from workbench.sources.prometheus import load_samples
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "prometheus"
PRESETS = {"p95_latency", "p99_latency", "error_ratio_5xx", "rps", "cpu", "memory", "redis_hit_ratio",
           "pg_long_tx", "p95_standard", "p95_optimized"}
RUNS = json.loads((SAMPLES.parent / "k6" / "runs.json").read_text())          # lab-pre, lab-post
PRE, POST = (next(r for r, m in RUNS.items() if m["tags"]["optimization"] == o) for o in ("pre", "post"))
EXPECTED = {f"{run}.{name}" for run in RUNS for name in PRESETS}
assert EXPECTED == set(json.loads((SAMPLES / "meta.json").read_text())["series"])


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("samples") / "wb.duckdb")
    load_samples(store, SAMPLES)
    yield store.con
    store.close()


def test_every_sample_is_a_named_set(con):
    listing = list_series(con)
    assert set(listing["name"]) == EXPECTED
    assert {"name", "query", "start", "end", "step_s", "series", "points"} <= set(listing.columns)
    full = listing[~listing["name"].str.endswith(".error_ratio_5xx")]   # no 5xx in the lab: an empty ratio
    assert (full["series"] >= 1).all() and (full["points"] > 20).all()
    row = listing.set_index("name").loc[f"{PRE}.p95_standard"]
    assert row["preset"] == "p95_latency" and 'query_type="standard"' in row["query"] and row["step_s"] == 2
    assert row["start"] < row["end"]


def test_ls_series_lists_every_set(con):
    from workbench.analysis.inventory import list_items

    rows = {r["name"]: r for r in list_items(con, "series")}
    assert set(rows) == EXPECTED
    assert rows[f"{PRE}.p95_standard"]["preset"] == "p95_latency" and rows[f"{PRE}.p95_standard"]["series"] >= 1


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_points_read_back_exactly(con, name):
    doc = json.loads((SAMPLES / f"{name}.json").read_text())
    want = {json.dumps(r["metric"], sort_keys=True): [[t, float(v)] for t, v in r["values"]]
            for r in doc["data"]["result"]}
    got = {json.dumps(s["labels"], sort_keys=True): s["points"] for s in series_json(con, name)}
    assert got == want


def test_series_frame_shape_and_the_ab_signal(con):
    std, opt = series_frame(con, f"{PRE}.p95_standard"), series_frame(con, f"{PRE}.p95_optimized")
    assert list(std.columns) == ["ts", "value", "labels"]
    assert str(std["ts"].dt.tz) == "UTC" and std["value"].dtype == "float64"
    assert std["value"].median() > opt["value"].median()  # the optimized query really is faster


def test_the_ranges_cover_the_runs_and_show_the_change(con):
    for run in RUNS:   # each run's ranges span its k6 points, so compare and ROI can read them
        lo, hi = _k6_span(run)
        f = series_frame(con, f"{run}.p95_latency")
        assert f["ts"].min().timestamp() <= lo + 5 and f["ts"].max().timestamp() >= hi - 5
    p95 = {run: series_frame(con, f"{run}.p95_latency")["value"].median() for run in RUNS}
    hit = {run: series_frame(con, f"{run}.redis_hit_ratio")["value"].dropna() for run in RUNS}
    assert p95[POST] < p95[PRE] / 2                                   # the fixes: indexes, join, warm cache
    # by the end of each run (the 30 s rate window of lab-post's first points still holds the warming's misses)
    assert all(h.between(0, 1).all() for h in hit.values()) and hit[POST].iloc[-1] > hit[PRE].iloc[-1]
    assert (series_frame(con, f"{PRE}.pg_long_tx")["value"].dropna() >= 0).all()


def _k6_span(run: str) -> tuple[float, float]:
    import datetime as dt
    import gzip

    times = []
    with gzip.open(SAMPLES.parent / "k6" / f"{run}.json.gz", "rt") as f:
        for line in f:
            doc = json.loads(line)
            if doc.get("type") == "Point" and doc["metric"] == "http_req_duration":
                times.append(dt.datetime.fromisoformat(doc["data"]["time"][:26].rstrip("Z") + "+00:00").timestamp())
    return min(times), max(times)
