"""The bundled real captures in data/samples/prometheus/ load, and read back exactly as saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.analysis.prometheus import list_series, series_frame, series_json
from workbench.sources.prometheus import load_samples
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "prometheus"
EXPECTED = {"p95_latency", "p99_latency", "error_ratio_5xx", "rps", "cpu", "memory", "redis_hit_ratio",
            "pg_long_tx", "p95_standard", "p95_optimized"}


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
    assert (listing["series"] >= 1).all() and (listing["points"] > 20).all()
    row = listing.set_index("name").loc["p95_standard"]
    assert row["preset"] == "p95_latency" and 'query_type="standard"' in row["query"] and row["step_s"] == 2
    assert row["start"] < row["end"]


def test_ls_series_lists_every_set(con):
    from workbench.analysis.inventory import list_items

    rows = {r["name"]: r for r in list_items(con, "series")}
    assert set(rows) == EXPECTED
    assert rows["p95_standard"]["preset"] == "p95_latency" and rows["p95_standard"]["series"] >= 1


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_points_read_back_exactly(con, name):
    doc = json.loads((SAMPLES / f"{name}.json").read_text())
    want = {json.dumps(r["metric"], sort_keys=True): [[t, float(v)] for t, v in r["values"]]
            for r in doc["data"]["result"]}
    got = {json.dumps(s["labels"], sort_keys=True): s["points"] for s in series_json(con, name)}
    assert got == want


def test_series_frame_shape_and_the_ab_signal(con):
    std, opt = series_frame(con, "p95_standard"), series_frame(con, "p95_optimized")
    assert list(std.columns) == ["ts", "value", "labels"]
    assert str(std["ts"].dt.tz) == "UTC" and std["value"].dtype == "float64"
    assert std["value"].median() > opt["value"].median()  # the optimized query really is faster
    assert (series_frame(con, "redis_hit_ratio")["value"].dropna().between(0, 1)).all()
    assert series_frame(con, "pg_long_tx")["value"].max() > 5  # the capture held a transaction open
