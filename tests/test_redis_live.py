"""Redis collector, deltas and CLI against real redis-server instances (Debian's), never skipped."""

from __future__ import annotations

import json

import pytest
import redis

from workbench.analysis.redis import intervals, memory_frame, redis_stats, slowest_commands, slowlog
from workbench.cli import main as cli_main
from workbench.lab.common import free_port
from workbench.lab.redis import RedisServer, run_benchmark
from workbench.sources import redis as redis_src
from workbench.sources.redis_info import parse_info
from workbench.store import reading, writing

pytestmark = pytest.mark.service


def cli(capsys, db, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_main(["--db", str(db), *args])
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def snap(db, srv: RedisServer, label: str | None = None) -> int:
    with writing(db) as store:
        return redis_src.collect(store, srv.url, label=label).snapshot_id


def stats(db, a=None, b=None) -> dict:
    with reading(db) as store:
        return redis_stats(store.con, a, b)


def numbers(obj):
    """Every number in a nested dict/list."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from numbers(v)
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        yield obj


def test_get_benchmark_counts_exactly(fresh_redis, tmp_db, capsys):
    n = 20_000
    run_benchmark(fresh_redis, tests="set", requests=3_000, keyspace=2_000)  # some keys exist: hits and misses
    a = snap(tmp_db, fresh_redis, "before")
    run_benchmark(fresh_redis, tests="get", requests=n, keyspace=2_000)
    b = snap(tmp_db, fresh_redis, "after")
    s = stats(tmp_db)
    assert (s["from"], s["to"]) == (a, b)
    assert s["reset"] is False and s["reset_reasons"] == []
    assert s["commands"]["get"]["calls"] == n
    assert s["keyspace_hits"] + s["keyspace_misses"] == n
    assert s["keyspace_hits"] > 0 and s["keyspace_misses"] > 0
    assert s["hit_ratio"] == pytest.approx(s["keyspace_hits"] / n)
    assert "set" not in s["commands"]  # the SETs happened before `from`
    assert s["commands"]["get"]["usec_per_call"] == pytest.approx(
        s["commands"]["get"]["usec"] / n)
    assert s["commands"]["get"]["failed_calls"] == 0
    assert set(s["commands"]["get"]["latency_percentiles_usec"]) == {"p50", "p99", "p99.9"}
    assert s["interval_s"] > 0 and s["ops_per_s"] >= n / s["interval_s"]
    assert s["memory"]["fragmentation_meaningful"] is False  # a tiny instance
    # the CLI gives the contract's shape with the same numbers
    rc, out, err = cli(capsys, tmp_db, "redis", "stats", "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    for key in ("from", "to", "interval_s", "reset", "keyspace_hits", "keyspace_misses", "hit_ratio",
                "evicted_keys", "expired_keys", "commands"):
        assert key in doc
    assert doc["commands"]["get"]["calls"] == n and set(doc["commands"]["get"]) >= {"calls", "usec",
                                                                                    "usec_per_call"}
    rc, out, _ = cli(capsys, tmp_db, "redis", "stats", "--from", "before", "--to", "after")
    assert rc == 0 and "keyspace_hits" in out


def config_resetstat(server) -> None:
    r = redis.Redis.from_url(server.url)
    r.config_resetstat()
    r.close()


def test_config_resetstat_between_snapshots(fresh_redis, tmp_db):
    run_benchmark(fresh_redis, tests="get", requests=3_000)
    snap(tmp_db, fresh_redis)
    config_resetstat(fresh_redis)
    run_benchmark(fresh_redis, tests="get", requests=500)
    snap(tmp_db, fresh_redis)
    s = stats(tmp_db)
    assert s["reset"] is True
    assert all(x >= 0 for x in numbers(s))
    assert s["commands"]["get"]["calls"] == 500  # counted since the reset
    assert s["keyspace_hits"] + s["keyspace_misses"] == 500
    assert any("RESETSTAT" in reason for reason in s["reset_reasons"])


def test_resetstat_followed_by_more_traffic_than_before(fresh_redis, tmp_db):
    run_benchmark(fresh_redis, tests="get", requests=100)
    snap(tmp_db, fresh_redis)
    config_resetstat(fresh_redis)
    run_benchmark(fresh_redis, tests="get", requests=5_000)  # counters end higher than at `from`
    snap(tmp_db, fresh_redis)
    s = stats(tmp_db)
    assert s["reset"] is True and s["commands"]["get"]["calls"] == 5_000


def test_restart_between_snapshots(fresh_redis, tmp_db):
    run_benchmark(fresh_redis, tests="get", requests=2_000)
    a = snap(tmp_db, fresh_redis)
    fresh_redis.restart()
    run_benchmark(fresh_redis, tests="get", requests=100)
    b = snap(tmp_db, fresh_redis)
    s = stats(tmp_db)
    assert (s["from"], s["to"]) == (a, b)
    assert s["reset"] is True and any("run_id" in x for x in s["reset_reasons"])
    assert all(x >= 0 for x in numbers(s))
    assert s["commands"]["get"]["calls"] == 100


def test_deltas_only_between_snapshots_of_one_server(fresh_redis, redis_server, tmp_db, capsys):
    a1 = snap(tmp_db, fresh_redis)
    b1 = snap(tmp_db, redis_server)
    a2 = snap(tmp_db, fresh_redis)
    snap(tmp_db, redis_server)
    s = stats(tmp_db)  # the last server snapshotted, its last two
    assert (s["from"], s["to"]) == (b1, b1 + 2) and s["server"] == redis_server.address
    assert (stats(tmp_db, None, a2)["from"]) == a1
    assert (stats(tmp_db, a1)["to"]) == a2
    rc, _, err = cli(capsys, tmp_db, "redis", "stats", "--from", str(a1), "--to", str(b1))
    assert rc == 2 and "different servers" in err and err.count("\n") == 1


def test_real_info_default_all_everything(redis_server):
    client = redis_src.connect(redis_server.url)
    try:
        texts = {s: client.execute_command("INFO", *([s] if s else [])).decode()
                 for s in ("", "all", "everything")}
    finally:
        client.close()
    for section, text in texts.items():
        info = parse_info(text)
        content = [ln for ln in text.split("\r\n") if ln.strip() and not ln.startswith("#")]
        assert len({r.line_no for r in info.rows}) == len(content), section  # every line kept
        assert info.server_name == "redis" and info.version.startswith("7.")
        assert info.get("redis_git_sha1") == "00000000" and info.num("redis_git_sha1") is None
        assert info.num("used_memory_human") == pytest.approx(info.num("used_memory"), rel=0.01)
        assert info.num("tcp_port") == redis_server.port
    default, everything = parse_info(texts[""]), parse_info(texts["everything"])
    assert "Commandstats" not in default.sections
    for name in ("Commandstats", "Errorstats", "Latencystats", "Keyspace"):
        assert name in parse_info(texts["all"]).sections
    assert "Modules" in everything.sections
    assert everything.map("cmdstat_info")["calls"].isdigit()


def test_collect_cli_every_count_and_slowlog(tmp_path, tmp_db, capsys):
    with RedisServer.start(tmp_path / "r", extra={"slowlog-log-slower-than": "0"}) as srv:
        rc, _, err = cli(capsys, tmp_db, "collect", "redis", "--url", srv.url, "--every", "0.2s", "--count",
                         "3", "--label", "loop")
        assert rc == 0, err
    with reading(tmp_db) as store:
        rows = store.con.execute("SELECT count(*), count(DISTINCT run_id), min(source_kind), min(info_section)"
                                 " FROM redis_snapshots WHERE label = 'loop'").fetchone()
        assert rows == (3, 1, "live", "everything")
        log = slowlog(store.con)
        assert len(log) > 0 and log["entry_id"].is_unique
        assert len(intervals(store.con)) == 2
        assert len(memory_frame(store.con)) == 3
        assert not {"info", "slowlog|get", "hello"} & set(slowest_commands(store.con)["command"])  # ours only


def test_acl_password_never_stored_or_shown(redis_acl_server, tmp_db, capsys):
    srv, pw = redis_acl_server, redis_acl_server.password
    rc, out, err = cli(capsys, tmp_db, "collect", "redis", "--url", srv.url, "--label", "acl")
    assert rc == 0, err
    assert pw not in out + err
    bad = srv.url.replace(pw, "wrong-password")
    rc, out, err = cli(capsys, tmp_db, "collect", "redis", "--url", bad)
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert srv.address in err and "wrong-password" not in err and pw not in err
    rc, _, err = cli(capsys, tmp_db, "collect", "redis", "--url", f"redis://{srv.address}")
    assert rc == 2 and srv.address in err and err.count("\n") == 1
    with reading(tmp_db) as store:
        con = store.con
        assert con.execute("SELECT count(*) FROM redis_snapshots").fetchone()[0] == 1
        cols = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE data_type IN ('VARCHAR', 'JSON') AND table_schema = 'main'").fetchall()
        assert len(cols) > 10
        for table, column in cols:
            hits = con.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                               [f"%{pw}%"]).fetchone()[0]
            assert hits == 0, (table, column)
        assert "***" in con.execute("SELECT source FROM ingests WHERE kind = 'redis'").fetchone()[0]


def test_closed_port_is_one_line_error(tmp_db, capsys):
    port = free_port()
    rc, _, err = cli(capsys, tmp_db, "collect", "redis", "--url", f"redis://127.0.0.1:{port}")
    assert rc == 2 and f"127.0.0.1:{port}" in err and err.count("\n") == 1 and "Traceback" not in err


def test_redis_url_from_env_and_missing(redis_server, tmp_db, capsys, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    rc, _, err = cli(capsys, tmp_db, "collect", "redis")
    assert rc == 2 and "REDIS_URL" in err
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    rc, _, err = cli(capsys, tmp_db, "collect", "redis")
    assert rc == 0, err


def test_ingest_saved_info_files(fresh_redis, tmp_path, tmp_db, capsys):
    redis_server = fresh_redis
    client = redis_src.connect(redis_server.url)
    files = []
    for i in range(2):
        client.set(f"wb:ingest:{i}", "x")
        client.get("wb:ingest:0")
        p = tmp_path / f"info_{i}.txt"
        p.write_bytes(client.execute_command("INFO", "all"))
        files.append(p)
    client.close()
    for i, p in enumerate(files):
        rc, _, err = cli(capsys, tmp_db, "ingest", "redis", str(p), "--label", f"f{i}")
        assert rc == 0, err
    rc, _, err = cli(capsys, tmp_db, "ingest", "redis", str(files[0]))
    assert rc == 0 and "already ingested" in err
    with reading(tmp_db) as store:
        rows = store.con.execute("SELECT address, source_kind, taken_at FROM redis_snapshots ORDER BY 1, 3"
                                 ).fetchall()
    assert len(rows) == 2 and {r[0] for r in rows} == {f"file:{redis_server.port}"} and rows[0][1] == "file"
    s = stats(tmp_db, "f0", "f1")
    assert s["reset"] is False and s["commands"]["get"]["calls"] == 1 and s["commands"]["set"]["calls"] == 1
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    rc, _, err = cli(capsys, tmp_db, "ingest", "redis", str(empty))
    assert rc == 2 and "empty.txt" in err


def test_rediss_tls_with_ca_file_and_insecure(tmp_path, tmp_db, capsys):
    with RedisServer.start(tmp_path / "tls", tls=True) as srv:
        assert srv.url.startswith("rediss://")
        rc, _, err = cli(capsys, tmp_db, "collect", "redis", "--url", srv.url, "--ca-file", str(srv.ca_file),
                         "--label", "tls")
        assert rc == 0, err
        rc, _, err = cli(capsys, tmp_db, "collect", "redis", "--url", srv.url)  # unknown CA
        assert rc == 2 and srv.address in err and err.count("\n") == 1 and "--ca-file" in err
        rc, _, err = cli(capsys, tmp_db, "collect", "redis", "--url", srv.url, "--insecure")
        assert rc == 0, err
        rc, _, err = cli(capsys, tmp_db, "collect", "redis", "--url", srv.url.replace("rediss", "redis"))
        assert rc == 2 and srv.address in err and "rediss://" in err  # plain text to a TLS port
    with reading(tmp_db) as store:
        assert store.con.execute("SELECT count(*) FROM redis_snapshots").fetchone()[0] == 2


def test_collector_calls_are_left_out_of_command_stats(fresh_redis, tmp_db):
    a = snap(tmp_db, fresh_redis)
    b = snap(tmp_db, fresh_redis)
    quiet = stats(tmp_db, a, b)
    assert not {"info", "slowlog|get", "slowlog", "client|setinfo"} & set(quiet["commands"])   # only ours ran
    app = redis.Redis.from_url(fresh_redis.url)
    try:
        app.set("k", "v")
        app.execute_command("INFO", "memory")        # an application's own INFO still counts
        app.execute_command("CONFIG", "GET", "maxmemory")
    finally:
        app.close()
    c = snap(tmp_db, fresh_redis)
    s = stats(tmp_db, b, c)
    assert s["commands"]["info"]["calls"] == 1 and s["commands"]["set"]["calls"] == 1
    assert s["commands"]["config|get"]["calls"] == 1
    with reading(tmp_db) as store:
        slow = slowest_commands(store.con, b, c)
        mem = memory_frame(store.con)
    assert "slowlog|get" not in set(slow.command)
    # a small test instance: the fragmentation ratio is flagged as not meaningful in the table too
    assert not mem.fragmentation_meaningful.any() and not s["memory"]["fragmentation_meaningful"]
