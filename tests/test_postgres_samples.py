"""The bundled PostgreSQL samples (real snapshots of the lab's database from scripts/capture/lab.py) load
with their labels and show the lab's story: the unindexed 30-day-by-severity filter on security_events
leads lab-pre, the N+1 permissions lookup runs per request; after the fixes (runs.json) the advisor's
indexes exist, the statement is fast and the lookup is one join."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from workbench.analysis import postgres as A
from workbench.sources.postgres import load_samples
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "postgres"
META = json.loads((SAMPLES / "meta.json").read_text())
FIXES = json.loads((SAMPLES.parent / "k6" / "runs.json").read_text())["lab-post"]["label"]
N_PLUS_ONE = "SELECT permission_name FROM permissions WHERE id"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("pgs") / "s.duckdb")
    files = sorted(SAMPLES.glob("snapshot_*.json.gz"))
    assert load_samples(store, SAMPLES.parent) == f"{len(files)} PostgreSQL snapshots"  # as `workbench demo` calls it
    yield store
    store.close()


def _span(store, label: str) -> tuple[int, int]:
    snaps = A.snapshots(store, label)
    return int(snaps.snapshot_id.min()), int(snaps.snapshot_id.max())


def test_snapshots_carry_the_meta_labels(sample_store):
    snaps = A.snapshots(sample_store)
    assert list(snaps.label) == [META["labels"][f.name] for f in sorted(SAMPLES.glob("snapshot_*.json.gz"))]
    assert list(dict.fromkeys(snaps.label)) == ["lab-baseline", "lab-pre", "lab-post"]
    assert snaps.server.nunique() == 1 and snaps.taken_at.is_monotonic_increasing
    res = A.pg_top(sample_store)   # default: the last two snapshots
    assert (res.pair.from_id, res.pair.to_id) == tuple(snaps.snapshot_id.iloc[-2:]) and res.reset is False


def test_lab_pre_is_led_by_the_unindexed_events_filter(sample_store):
    first, last = _span(sample_store, "lab-pre")
    top = A.pg_top(sample_store, first, last).statements
    events = top[top["query"].str.contains("FROM security_events WHERE created_at > now()", regex=False, na=False)]
    assert set(top.queryid.iloc[:2]) <= set(events.queryid)          # the two statements of /api/events lead
    assert events.time_share.sum() > 0.5 and (events.calls > 0).all()
    tables = A.table_stats(sample_store, last, first).set_index("table")
    assert tables.loc["public.security_events", "seq_scan"] >= int(events.calls.max())
    stale = A.vacuum_staleness(sample_store, last).set_index("table")
    assert stale.loc["public.security_events", "stale"] and stale.loc["public.security_events",
                                                                      "mod_since_analyze_ratio"] > 0.2
    cand = A.index_candidates(sample_store, last, first)
    events_cols = cand[cand["table"] == "public.security_events"].set_index("attname")
    assert not events_cols.loc["created_at", "leads_an_index"] and not events_cols.loc["severity_level",
                                                                                       "leads_an_index"]


def test_lab_post_has_the_advisors_indexes_and_a_fast_statement(sample_store):
    pre, post = _span(sample_store, "lab-pre"), _span(sample_store, "lab-post")
    built = re.findall(r"\bindex (\w+)", FIXES)
    assert built, FIXES

    def indexes(sid: int) -> set[str]:
        return set(sample_store.query_df("SELECT indexrelname FROM pg_indexes WHERE snapshot_id = ?", [sid])
                   ["indexrelname"])

    assert not set(built) & indexes(pre[1]) and set(built) <= indexes(post[1])
    before = A.pg_top(sample_store, *pre).statements.set_index("queryid")
    after = A.pg_top(sample_store, *post).statements.set_index("queryid")
    lead = before.index[0]
    assert after.loc[lead, "mean_exec_time_ms"] < before.loc[lead, "mean_exec_time_ms"] / 10
    cand = A.index_candidates(sample_store, post[1], post[0])
    assert "public.security_events" not in set(cand["table"])      # no longer scanned sequentially


def test_the_n_plus_one_lookup_becomes_one_join(sample_store):
    pre, post = _span(sample_store, "lab-pre"), _span(sample_store, "lab-post")
    assert "permissions_join" in FIXES
    before, after = A.pg_top(sample_store, *pre).statements, A.pg_top(sample_store, *post).statements

    def calls(top, text: str) -> int:
        return int(top[top["query"].str.contains(text, regex=False, na=False)].calls.sum())

    join = "LEFT JOIN permissions p ON up.permission_id = p.id"
    assert calls(before, N_PLUS_ONE) > 2 * calls(before, "FROM users") > 0 and calls(before, join) == 0
    assert calls(after, N_PLUS_ONE) == 0 and calls(after, join) > 0


def test_sample_texts_hold_no_password_literals(sample_store):
    texts = sample_store.query_df("SELECT query FROM pg_query_texts")["query"]
    assert len(texts) > 10
    assert not texts.str.contains(r"PASSWORD\s+'(?!\*\*\*')", case=False, regex=True, na=False).any()


def test_notebook_bundle_and_verdict(sample_store, tmp_db):
    rep = A.database_report(sample_store, *_span(sample_store, "lab-pre"), "lab-pre")
    lines = rep.verdict()
    assert lines[0].startswith("Top statement takes") and "FROM security" in lines[0]  # the query, cut
    assert any("public.security_events" in x and "sequential" in x for x in lines)
    text, ok = rep.headline()
    assert ok is None and "finding(s)" in text
    one = A.database_report(sample_store, label="lab-baseline")  # a single snapshot: health only, no deltas
    assert one.top is None and one.to_snap == 1 and "only one snapshot" in one.note
    with Store.open(tmp_db) as empty:
        none = A.database_report(empty)
    assert none.to_snap is None and none.verdict() == [] and none.headline()[1] is None
