"""The demo's plan over the bundled samples (one lab loop): every report names runs and snapshots the
samples hold, the reports get distinct names, and the store tells the loop's story: the events
statements lead the database before the fixes and are gone after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.analysis.bottlenecks import find_bottlenecks, resolve_scope
from workbench.demo import DEMO_REPORTS, SPANS, build_demo_store, demo_plan
from workbench.reports import report_name
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
RUNS = json.loads((SAMPLES / "k6" / "runs.json").read_text())
EVENTS_FILTER = "FROM security_events WHERE created_at > now()"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    db, _ = build_demo_store(tmp_path_factory.mktemp("demo") / "demo.duckdb", SAMPLES)
    return db


def test_every_demo_parameter_names_a_bundled_run():
    named = {p[k] for sets in DEMO_REPORTS.values() for p in sets
             for k in ("run", "baseline", "before", "after", "span") if p.get(k)}
    assert named == set(RUNS)
    for stem, sets in DEMO_REPORTS.items():
        assert (ROOT / "notebooks" / f"{stem}.ipynb").exists(), stem
        assert all("span" not in p for p in sets) or stem in SPANS


def test_plan_resolves_spans_and_names_reports_apart(demo_db):
    plan = demo_plan(demo_db, ROOT / "notebooks")
    names = [report_name(nb, params) for nb, params in plan]
    assert len(names) == len(set(names)) == sum(len(DEMO_REPORTS.get(nb.stem, [{}]))
                                                 for nb in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    pg_labels = json.loads((SAMPLES / "postgres" / "meta.json").read_text())["labels"]
    redis_labels = json.loads((SAMPLES / "redis" / "meta.json").read_text())["labels"]
    with Store.open(demo_db, read_only=True) as store:
        for nb, params in plan:
            if nb.stem not in SPANS:
                continue
            first, last, _ = SPANS[nb.stem]
            table = "pg_snapshots" if nb.stem == "20_database" else "redis_snapshots"
            labels = store.query_df(f"SELECT snapshot_id, label FROM {table} ORDER BY snapshot_id")
            span = labels[(labels.snapshot_id >= params[first]) & (labels.snapshot_id <= params[last])]
            assert span.label.nunique() == 1 and params[first] < params[last]
            label = span.label.iloc[0]   # the whole of that label's snapshots, as meta.json labels them
            assert len(span) == list((pg_labels if table == "pg_snapshots" else redis_labels).values()).count(label)


def test_the_store_tells_the_loops_story(demo_db):
    pre, post = (next(r for r, m in RUNS.items() if m["tags"]["optimization"] == o) for o in ("pre", "post"))
    with Store.open(demo_db, read_only=True) as store:
        before = find_bottlenecks(store, resolve_scope(store, run=pre))
        after = find_bottlenecks(store, resolve_scope(store, run=post))
    db_before = [f for f in before.findings if f.component == "database"]
    assert db_before[0].check == "statement_time" and EVENTS_FILTER in db_before[0].item
    assert not [f for f in after.findings if f.check == "statement_time" and EVENTS_FILTER in f.item]
    assert {f.check for f in before.findings} >= {"statement_time", "stale_stats", "n_plus_one", "hit_ratio"}
    assert not {"n_plus_one", "hit_ratio", "stale_stats"} & {f.check for f in after.findings}
