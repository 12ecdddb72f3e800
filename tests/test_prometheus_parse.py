"""The parser and store on real saved responses (tests/data/prometheus, captured from Prometheus 2.42)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from workbench.analysis.prometheus import series_frame, series_json
from workbench.errors import WorkbenchError
from workbench.sources.prometheus import ingest_file, load_file
from workbench.store import Store

DATA = Path(__file__).resolve().parent / "data" / "prometheus"


def raw(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


@pytest.fixture
def store(tmp_db):
    s = Store.open(tmp_db)
    yield s
    s.close()


def test_specials_are_doubles_and_round_trip(store):
    result = load_file(DATA / "range_specials.json")
    by = {s.labels["v"]: s.values for s in result.series}
    assert all(math.isnan(v) for v in by["nan"]) and set(by["pos"]) == {math.inf} and set(by["neg"]) == {-math.inf}
    ingest_file(store, DATA / "range_specials.json", "sp")
    got = {s["labels"]["v"]: s["points"] for s in series_json(store.con, "sp")}
    want = {r["metric"]["v"]: r["values"] for r in raw("range_specials")["data"]["result"]}
    assert got == want  # timestamps as sent, values as the strings Prometheus uses


def test_gap_and_differing_timestamps(store):
    ingest_file(store, DATA / "range_gap.json", "gap")
    got = [[p[0] for p in s["points"]] for s in series_json(store.con, "gap")]
    want = [[t for t, _ in r["values"]] for r in raw("range_gap")["data"]["result"]]
    assert sorted(got) == sorted(want)
    assert len({tuple(t) for t in got}) == 2  # one series has the gap, the other not
    assert max(b - a for t in got for a, b in zip(t, t[1:], strict=False)) >= 3


def test_raw_matrix_from_instant_query_keeps_millisecond_stamps(store):
    ingest_file(store, DATA / "instant_raw_matrix.json", "raw")
    want = {r["metric"]["instance"]: [t for t, _ in r["values"]] for r in raw("instant_raw_matrix")["data"]["result"]}
    got = {s["labels"]["instance"]: [p[0] for p in s["points"]] for s in series_json(store.con, "raw")}
    assert got == want
    assert len({tuple(v) for v in got.values()}) == len(got)  # every target on its own offset
    frame = series_frame(store.con, "raw")
    assert frame["labels"].str.startswith('up{instance="').all()
    assert (frame["ts"].dt.microsecond % 1000 == 0).all() and (frame["ts"].dt.microsecond > 0).any()


def test_vector_and_scalar(store):
    vec = load_file(DATA / "instant_vector.json")
    assert vec.result_type == "vector" and len(vec.series) == 3 and all(len(s.values) == 1 for s in vec.series)
    ingest_file(store, DATA / "instant_scalar.json", "sca")
    t, v = raw("instant_scalar")["data"]["result"]
    assert series_json(store.con, "sca") == [{"labels": {}, "points": [[t, v]]}]


def test_string_result_is_refused():
    with pytest.raises(WorkbenchError, match="result type 'string' holds no numbers"):
        load_file(DATA / "instant_string.json")


def test_warnings_with_no_data(store):
    result, written = ingest_file(store, DATA / "range_warnings_empty.json", "warned")
    assert written and result.series == [] and result.warnings == raw("range_warnings_empty")["warnings"]
    assert series_json(store.con, "warned") == []
    assert store.con.execute("SELECT warnings FROM prom_series_sets").fetchone()[0] == result.warnings


@pytest.mark.parametrize("name", ["error_bad_data", "error_too_many_points"])
def test_error_envelopes(store, name):
    doc = raw(name)
    with pytest.raises(WorkbenchError) as e:
        ingest_file(store, DATA / f"{name}.json", name)
    assert str(e.value) == f"{DATA / name}.json: Prometheus said {doc['errorType']}: {doc['error']}"
    assert store.con.execute("SELECT count(*) FROM ingests").fetchone()[0] == 0
