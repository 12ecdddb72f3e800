"""The bundled PostgreSQL samples (real snapshots from scripts/capture/postgres.py) load and show what the
capture planted: an unindexed lookup, an unused index, a duplicate index, dead tuples, a blocked session."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.analysis import postgres as A
from workbench.sources.postgres import load_samples
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "postgres"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("pgs") / "s.duckdb")
    assert load_samples(store, SAMPLES.parent) == "3 PostgreSQL snapshots"  # as `workbench demo` calls it
    yield store
    store.close()


def test_snapshots_and_default_pair(sample_store):
    snaps = A.snapshots(sample_store)
    assert list(snaps.label) == ["baseline", "load", "blocked"]
    assert snaps.server.nunique() == 1
    res = A.pg_top(sample_store)
    assert (res.pair.from_id, res.pair.to_id) == (2, 3) and res.reset is False
    assert res.statements.calls.min() > 0 and (res.statements.total_exec_time_ms >= 0).all()
    unindexed = res.statements[res.statements["query"].str.contains("WHERE account_id", na=False)]
    assert len(unindexed) == 1 and int(unindexed.calls.iloc[0]) == 40


def test_health_findings(sample_store):
    unused = A.unused_indexes(sample_store, 3)
    assert "events_kind_idx" in set(unused["index"])
    assert not unused["index"].str.endswith("_pkey").any()
    dup = A.duplicate_indexes(sample_store, 3)
    assert dup[["index", "covered_by"]].values.tolist() == [["events_created_idx", "events_created_kind_idx"]]
    tables = A.table_stats(sample_store, 3, 2).set_index("table")
    assert tables.loc["public.events", "seq_scan"] >= 40 and tables.loc["public.events", "seq_scan_ratio"] > 0.3
    stale = A.vacuum_staleness(sample_store, 3).set_index("table")
    assert stale.loc["public.events", "n_dead_tup"] > 0
    sessions = A.sessions(sample_store, 3, min_age_s=1)
    assert sessions["blocked"].sum() == 1
    blocked = sessions[sessions.blocked].iloc[0]
    assert list(blocked.blocked_by)[0] in set(sessions.pid)
    conn = A.connections(sample_store, 3)
    assert conn["max_connections"] == 40 and 0 < conn["usage_ratio"] < 1
    ratios = A.hit_ratios(sample_store, 3, 2)
    db = ratios["databases"].set_index("name")
    assert db.loc["template0", "hit_ratio"] != db.loc["template0", "hit_ratio"]  # NaN, not a ZeroDivisionError
    assert 0 < db.loc["bench", "hit_ratio"] <= 1
    assert set(A.bloat(sample_store, 3)["kind"]) == {"table", "index"}


def test_sample_texts_hold_no_password_literals(sample_store):
    texts = sample_store.query_df("SELECT query FROM pg_query_texts")["query"]
    create_role = texts[texts.str.contains("CREATE ROLE", na=False)]
    assert len(create_role) >= 1 and create_role.str.contains("PASSWORD '\\*\\*\\*'").all()


def test_notebook_bundle_and_verdict(sample_store, tmp_db):
    rep = A.database_report(sample_store)
    lines = rep.verdict()
    assert any("events_kind_idx" in x for x in lines) and any("1 blocked" in x for x in lines)
    assert any("public.events" in x and "sequential" in x for x in lines)
    text, ok = rep.headline()
    assert ok is None and "finding(s)" in text
    one = A.database_report(sample_store, label="baseline")  # a single snapshot: health only, no deltas
    assert one.top is None and one.to_snap == 1 and "only one snapshot" in one.note
    with Store.open(tmp_db) as empty:
        none = A.database_report(empty)
    assert none.to_snap is None and none.verdict() == [] and none.headline()[1] is None


def test_index_candidates_point_at_the_unindexed_column(sample_store):
    cand = A.index_candidates(sample_store, 3, 2)
    events = cand[cand["table"] == "public.events"].set_index("attname")
    assert not events.loc["account_id", "leads_an_index"] and events.loc["created_at", "leads_an_index"]
    assert events.loc["account_id", "n_distinct"] != 0
