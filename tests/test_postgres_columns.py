"""pg_stat_statements normalisation for extension versions 1.7-1.12 (fixtures from the upgrade scripts)
and pg top's delta rules on synthetic snapshots of those versions (no server needed)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from workbench.analysis.postgres import pg_top
from workbench.sources.pg_columns import NORMALISED_COLUMNS, normalise_row, unknown_columns
from workbench.sources.postgres import PgSnapshot, write_snapshot
from workbench.store import Store

FIXTURES = Path(__file__).parent / "data" / "pgss"
VERSIONS = ["1.7", "1.8", "1.9", "1.10", "1.11", "1.12"]
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def fixture(version: str) -> dict:
    return json.loads((FIXTURES / f"v{version}.json").read_text())


def fake_row(columns: list[list[str]], seed: int = 1, since: dt.datetime = T0) -> dict:
    """A row with a distinct value per column, typed as the extension declares it."""
    row = {}
    for i, (name, typ) in enumerate(columns):
        if typ in ("oid", "int8", "bigint"):
            row[name] = seed * 1000 + i
        elif typ == "float8":
            row[name] = seed * 1000 + i + 0.5
        elif typ == "numeric":
            row[name] = Decimal(seed * 1000 + i)
        elif typ == "bool":
            row[name] = True
        elif typ == "text":
            row[name] = f"SELECT {name} FROM t WHERE id = $1"
        elif typ.startswith("timestamp"):
            row[name] = since
        else:
            raise AssertionError(f"unexpected type {typ}")
    return row


def test_fixtures_cite_their_source_scripts():
    for v in VERSIONS:
        doc = fixture(v)
        assert doc["extversion"] == v
        assert doc["source"].startswith("contrib/pg_stat_statements/pg_stat_statements--")
    assert len(fixture("1.7")["columns"]) == 23 and len(fixture("1.11")["columns"]) == 49
    assert len(fixture("1.12")["columns"]) == 52


@pytest.mark.parametrize("version", VERSIONS)
def test_every_column_is_known_and_mapped(version):
    cols = fixture(version)["columns"]
    names = [c[0] for c in cols]
    assert unknown_columns(names) == []
    row = fake_row(cols)
    out = normalise_row(row)
    assert list(out) == NORMALISED_COLUMNS
    src = dict(zip(names, row.values(), strict=True))
    # renamed columns keep their values
    exec_col = "total_time" if version == "1.7" else "total_exec_time"
    assert out["total_exec_time_ms"] == src[exec_col]
    read_col = "shared_blk_read_time" if version in ("1.11", "1.12") else "blk_read_time"
    assert out["shared_blk_read_time_ms"] == src[read_col]
    assert out["calls"] == src["calls"] and out["queryid"] == src["queryid"]
    # columns the version lacks are NULL, the ones it has are not
    expect = {
        "toplevel": version not in ("1.7", "1.8"),
        "total_plan_time_ms": version != "1.7",
        "wal_bytes": version != "1.7",
        "temp_blk_read_time_ms": version in ("1.10", "1.11", "1.12"),
        "jit_functions": version in ("1.10", "1.11", "1.12"),
        "local_blk_read_time_ms": version in ("1.11", "1.12"),
        "jit_deform_count": version in ("1.11", "1.12"),
        "stats_since": version in ("1.11", "1.12"),
        "minmax_stats_since": version in ("1.11", "1.12"),
        "wal_buffers_full": version == "1.12",
        "parallel_workers_to_launch": version == "1.12",
        "parallel_workers_launched": version == "1.12",
    }
    for col, present in expect.items():
        assert (out[col] is not None) == present, (version, col)
    if out["wal_bytes"] is not None:
        assert isinstance(out["wal_bytes"], int)  # numeric -> int, not Decimal
    assert sum(v is not None for v in out.values()) == len(cols) - 1  # all but `query`


def test_unknown_future_column_is_reported():
    assert unknown_columns(["userid", "calls", "some_new_counter"]) == ["some_new_counter"]


def snapshot(version: str, taken_at: dt.datetime, calls: dict[int, int], *, stats_reset=T0,
             since: dt.datetime = T0, server: str = "42") -> PgSnapshot:
    cols = fixture(version)["columns"]
    rows, texts = [], {}
    for qid, n in calls.items():
        r = normalise_row(fake_row(cols, seed=1, since=since))
        r.update(queryid=qid, dbid=5, userid=10, calls=n, total_exec_time_ms=n * 2.0, rows=n,
                 shared_blks_hit=n * 3, shared_blks_read=n, text_visible=True)
        rows.append(r)
        texts[qid] = f"SELECT {qid}"
    meta = {"taken_at": taken_at, "system_identifier": server, "host": "db", "port": 5432, "dbname": "app",
            "username": "u", "server_version": "x", "server_version_num": 170000, "pgss_version": version,
            "pgss_columns": [c[0] for c in cols], "pgss_dealloc": 0,
            "pgss_stats_reset": stats_reset if fixture(version)["info_view"] else None,
            "max_connections": 100, "track_io_timing": True}
    dbs = [{"datid": 5, "datname": "app", "blks_hit": 0, "blks_read": 0}]
    return PgSnapshot(meta=meta, statements=rows, texts=texts, tables={"pg_databases": dbs})


def store_with(tmp_db, *snaps) -> Store:
    store = Store.open(tmp_db)
    for s in snaps:
        write_snapshot(store, s)
    return store


@pytest.mark.parametrize("version", VERSIONS)
def test_plain_deltas_per_version(tmp_db, version):
    a = snapshot(version, T0 + dt.timedelta(minutes=1), {1: 10, 2: 5})
    b = snapshot(version, T0 + dt.timedelta(minutes=2), {1: 25, 2: 5, 3: 4})
    with store_with(tmp_db, a, b) as store:
        res = pg_top(store)
    doc = res.to_dict()
    assert doc["reset"] is False and doc["interval_s"] == 60
    by_q = {s["queryid"]: s for s in doc["statements"]}
    assert set(by_q) == {1, 3}  # 2 had no calls in the interval; 3 is new and counts in full
    assert by_q[1]["calls"] == 15 and by_q[1]["total_exec_time_ms"] == 30.0
    assert by_q[1]["mean_exec_time_ms"] == 2.0 and by_q[1]["hit_ratio"] == 0.75
    assert by_q[3]["calls"] == 4
    assert by_q[1]["datname"] == "app" and by_q[1]["query"] == "SELECT 1"
    assert abs(sum(s["time_share"] for s in doc["statements"]) - 1) < 1e-9


@pytest.mark.parametrize("version", VERSIONS)
def test_reset_between_snapshots_never_negative(tmp_db, version):
    a = snapshot(version, T0 + dt.timedelta(minutes=1), {1: 100, 2: 50})
    later_reset = T0 + dt.timedelta(minutes=1, seconds=30)
    b = snapshot(version, T0 + dt.timedelta(minutes=2), {1: 7, 2: 60}, stats_reset=later_reset,
                 since=later_reset)
    with store_with(tmp_db, a, b) as store:
        doc = pg_top(store).to_dict()
    assert doc["reset"] is True
    by_q = {s["queryid"]: s for s in doc["statements"]}
    assert by_q[1]["calls"] == 7  # counted from zero after the reset
    if version in ("1.7", "1.8"):
        assert by_q[2]["calls"] == 10  # no stats_reset column: a counter that grew is taken as a delta
    else:
        assert by_q[2]["calls"] == 60  # stats_reset / stats_since moved: whole counter since reset
    for s in doc["statements"]:
        for k in ("calls", "total_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read"):
            assert s[k] >= 0


def test_different_servers_refused(tmp_db):
    from workbench.errors import WorkbenchError

    a = snapshot("1.10", T0, {1: 1}, server="1")
    b = snapshot("1.10", T0 + dt.timedelta(minutes=1), {1: 2}, server="2")
    with store_with(tmp_db, a, b) as store:
        with pytest.raises(WorkbenchError, match="only one snapshot"):
            pg_top(store)
        with pytest.raises(WorkbenchError, match="different servers"):
            pg_top(store, from_snap=1, to_snap=2)


@pytest.mark.parametrize("text, expected", [
    ("CREATE ROLE a LOGIN PASSWORD 'x''y z'", "CREATE ROLE a LOGIN PASSWORD '***'"),
    ("ALTER USER a WITH ENCRYPTED PASSWORD $q$se cret$q$ VALID UNTIL '2030'",
     "ALTER USER a WITH ENCRYPTED PASSWORD '***' VALID UNTIL '2030'"),
    ("alter role a password E'abc'", "alter role a password '***'"),
    ("SELECT password FROM users WHERE id = $1", "SELECT password FROM users WHERE id = $1"),
])
def test_mask_query(text, expected):
    from workbench.sources.postgres import mask_query

    assert mask_query(text) == expected


def test_promoted_replica_restart_and_evictions(tmp_db):
    """Server changes seen in pg_snapshots, on synthetic rows (a real failover behind one name:
    tests/test_postgres_failover.py)."""
    start = T0 - dt.timedelta(days=1)

    def snap(minute: int, calls: dict[int, int], **meta) -> PgSnapshot:
        s = snapshot("1.11", T0 + dt.timedelta(minutes=minute), calls)
        s.meta.update({"postmaster_start": start, "in_recovery": False, **meta})
        return s

    a = snap(1, {1: 100, 2: 50})
    evicted = snap(2, {1: 130, 2: 60}, pgss_dealloc=3)                 # entries evicted meanwhile
    restarted = snap(3, {1: 140, 2: 65}, pgss_dealloc=3, postmaster_start=T0 + dt.timedelta(minutes=2))
    replica = snap(4, {1: 500, 2: 400}, pgss_dealloc=3, postmaster_start=T0 + dt.timedelta(minutes=2),
                   in_recovery=True)
    with store_with(tmp_db, a, evicted, restarted, replica) as store:
        ev = pg_top(store, 1, 2)
        rs = pg_top(store, 2, 3)
        rp = pg_top(store, 3, 4)
    assert ev.reset is False and any("lower bounds" in n for n in ev.notes)
    assert {s["queryid"]: s["calls"] for s in ev.to_dict()["statements"]} == {1: 30, 2: 10}
    assert rs.reset is True and any("(re)started" in r for r in rs.reset_reasons), rs.reset_reasons
    assert {s["queryid"]: s["calls"] for s in rs.to_dict()["statements"]} == {1: 10, 2: 5}   # counters went on
    assert rp.reset is True and any("replica" in r for r in rp.reset_reasons)
    assert {s["queryid"]: s["calls"] for s in rp.to_dict()["statements"]} == {1: 500, 2: 400}   # not diffed


def test_stats_reset_that_changes_without_a_reset_is_another_servers(tmp_db):
    """stats_reset moves only on a reset, forward past the first snapshot; any other change (here back in
    time, with counters above the old ones) means another server's statistics: counted whole."""
    a = snapshot("1.11", T0 + dt.timedelta(minutes=1), {1: 100})
    b = snapshot("1.11", T0 + dt.timedelta(minutes=2), {1: 150}, stats_reset=T0 - dt.timedelta(hours=1))
    c = snapshot("1.11", T0 + dt.timedelta(minutes=3), {1: 170}, stats_reset=T0 - dt.timedelta(hours=1))
    with store_with(tmp_db, a, b, c) as store:
        other, same = pg_top(store, 1, 2), pg_top(store, 2, 3)
    assert other.reset is True and any("without a reset" in r for r in other.reset_reasons), other.reset_reasons
    assert {s["queryid"]: s["calls"] for s in other.to_dict()["statements"]} == {1: 150}
    assert same.reset is False and {s["queryid"]: s["calls"] for s in same.to_dict()["statements"]} == {1: 20}


def test_hidden_rows_summed_per_database_and_role():
    from workbench.sources.pg_columns import aggregate_hidden

    rows = [{"queryid": None, "dbid": 5, "userid": 7, "toplevel": True, "calls": 10, "total_exec_time_ms": 2.0,
             "min_exec_time_ms": 0.1, "max_exec_time_ms": 1.0, "stats_since": T0 + dt.timedelta(minutes=i)}
            for i in range(3)]
    rows.append({"queryid": 9, "dbid": 5, "userid": 10, "toplevel": True, "calls": 4})
    out = aggregate_hidden(rows)
    hidden = [r for r in out if r["queryid"] is None]
    assert len(out) == 2 and len(hidden) == 1
    h = hidden[0]
    assert h["calls"] == 30 and h["total_exec_time_ms"] == 6.0 and h["mean_exec_time_ms"] == 0.2
    assert h["min_exec_time_ms"] == 0.1 and h["max_exec_time_ms"] == 1.0 and h["stats_since"] == T0


@pytest.mark.parametrize("version", VERSIONS)
def test_bulk_normalisation_matches_row_by_row(version):
    from workbench.sources.pg_columns import normalise_rows

    cols = fixture(version)["columns"]
    names = [c[0] for c in cols]
    rows = [fake_row(cols, seed=s) for s in (1, 2)]
    numeric = {n for n, t in cols if t == "numeric"}
    assert normalise_rows(names, [tuple(r.values()) for r in rows], numeric) == [normalise_row(r) for r in rows]
