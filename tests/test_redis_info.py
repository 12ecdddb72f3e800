"""The tolerant INFO parser on documented layouts (tests/data/redis/) and on every quirk, plus a property
test that it never raises. The real Redis 7 output is covered in test_redis_live.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.sources.redis_info import parse_info, parse_number

DATA = Path(__file__).parent / "data" / "redis"


def fixture_text(name: str) -> str:
    """A fixture without its `;;` provenance lines (bytes kept as written: CRLF stays CRLF)."""
    raw = (DATA / name).read_bytes().decode()
    return "".join(line for line in raw.splitlines(keepends=True) if not line.startswith(";;"))


def test_every_fixture_names_its_source():
    files = sorted(DATA.glob("info_*.txt"))
    assert len(files) == 6
    for f in files:
        first = f.read_text().splitlines()[0]
        assert first.startswith(";;") and ("redis" in first.lower() or "valkey" in first.lower()), f


@pytest.mark.parametrize("name, version, server, sections", [
    ("info_2.8.txt", "2.8.13", "redis", ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication",
                                         "CPU", "Commandstats", "Keyspace"]),
    ("info_4.0.txt", "4.0.14", "redis", ["Server", "Clients", "Memory", "Stats", "Replication", "Commandstats",
                                         "Keyspace"]),
    ("info_5.0.txt", "5.0.7", "redis", ["Server", "Clients", "Memory", "Stats", "Replication", "Commandstats",
                                        "Keyspace"]),
    ("info_6.0.txt", "6.0.16", "redis", ["Server", "Clients", "Memory", "Stats", "Replication", "Modules",
                                         "Commandstats", "Keyspace"]),
    ("info_7.2.txt", "7.2.4", "redis", ["Server", "Clients", "Memory", "Stats", "Commandstats", "Errorstats",
                                        "Latencystats", "Cluster", "Keyspace"]),
    ("info_valkey8.txt", "8.0.1", "valkey", ["Server", "Clients", "Memory", "Stats", "Commandstats",
                                             "Keyspace"]),
])
def test_layouts(name, version, server, sections):
    info = parse_info(fixture_text(name))
    assert info.version == version
    assert info.server_name == server
    assert info.sections == sections
    assert info.get("redis_git_sha1") == "00000000" and info.num("redis_git_sha1") is None
    assert len(info.run_id) == 40
    assert info.num("keyspace_hits") > 0 and info.num("keyspace_misses") > 0
    get = info.map("cmdstat_get")
    assert float(get["calls"]) > 0 and "usec_per_call" in get
    assert "keys" in info.map("db0")
    # the section of every row is one of the headers
    assert {r.section for r in info.rows} <= set(sections)


def test_2_8_lf_and_old_commandstats():
    info = parse_info(fixture_text("info_2.8.txt"))
    assert info.map("cmdstat_get") == {"calls": "123", "usec": "1107", "usec_per_call": "9.00"}
    assert info.map("slave0")["ip"] == "10.0.0.12"
    assert info.get("config_file") == "" and info.num("config_file") is None
    assert info.num("used_memory_human") == pytest.approx(575.21 * 1024)
    assert info.map("db1") == {"keys": "1", "expires": "1", "avg_ttl": "86315"}


def test_4_0_crlf_resp_length_host_command_and_ipv6_master():
    text = fixture_text("info_4.0.txt")
    assert text.startswith("$") and "\r\n" in text
    info = parse_info(text)
    assert info.sections[0] == "Server"  # the $len line is not a field
    assert not any(r.key.startswith("$") for r in info.rows)
    assert all("\r" not in r.value_text and "\r" not in r.key for r in info.rows)
    assert info.map("cmdstat_host:") == {"calls": "1", "usec": "5", "usec_per_call": "5.00"}
    assert "cmdstat_host" not in {r.key for r in info.rows}
    assert info.get("master_host") == "::1"
    assert info.get("executable") == "/usr/local/bin/redis-server"
    assert info.num("used_memory_peak_perc") == pytest.approx(97.08)
    assert info.num("maxmemory_human") == 100 * 1024 * 1024
    assert info.get("master_replid2") == "0" * 40 and info.num("master_replid2") is None


def test_5_0_ipv6_replica_in_a_map():
    info = parse_info(fixture_text("info_5.0.txt"))
    assert info.map("slave0") == {"ip": "::1", "port": "6381", "state": "online", "offset": "1234567", "lag": "0"}
    assert info.get("config_file") == "/etc/redis/redis.conf"


def test_6_0_module_line():
    info = parse_info(fixture_text("info_6.0.txt"))
    assert info.map("module")["name"] == "ReJSON"
    assert info.map("module")["usedby"] == "[]"
    assert info.map("cmdstat_config")["calls"] == "3"


def test_7_2_subcommands_errorstats_latency_and_repeated_fields():
    info = parse_info(fixture_text("info_7.2.txt"))
    assert info.map("cmdstat_config|get")["calls"] == "4"
    assert info.map("cmdstat_lpush")["failed_calls"] == "2"
    assert info.map("errorstat_WRONGTYPE") == {"count": "2"}
    assert info.map("latency_percentiles_usec_get")["p99.9"] == "12.031"
    binds = [r.value_text for r in info.rows if r.key == "listener0" and r.field == "bind"]
    assert binds == ["*", "-::*"]  # both kept, in order
    items = [r.item_no for r in info.rows if r.key == "listener0"]
    assert items == [0, 1, 2, 3]
    assert info.num("server_time_usec") == 1717000000123456


def test_valkey_identity_and_unknown_fields():
    info = parse_info(fixture_text("info_valkey8.txt"))
    assert info.get("redis_version") == "7.2.4"  # compatibility field, not the identity
    assert (info.server_name, info.version) == ("valkey", "8.0.1")
    assert info.num("some_future_counter") == 42
    assert info.get("availability_zone") == ""
    assert info.map("cmdstat_client|setinfo")["calls"] == "2"


def test_valkey_without_server_name():
    info = parse_info("# Server\nredis_version:7.2.4\nvalkey_version:8.1.0\n")
    assert (info.server_name, info.version) == ("valkey", "8.1.0")


@pytest.mark.parametrize("line, key, value", [
    ("executable:/usr/bin/redis-server", "executable", "/usr/bin/redis-server"),
    ("config_file:C:\\redis\\redis.conf", "config_file", "C:\\redis\\redis.conf"),
    ("master_host:2001:db8::1", "master_host", "2001:db8::1"),
    ("master_host:::1", "master_host", "::1"),
    ("os:Linux 6.1.0 x86_64", "os", "Linux 6.1.0 x86_64"),
    ("weird line without a colon", "weird line without a colon", ""),
    ("empty_value:", "empty_value", ""),
])
def test_values_with_colons_and_odd_lines(line, key, value):
    rows = parse_info(f"# Server\r\n{line}\r\n").rows
    assert [(r.key, r.field, r.value_text) for r in rows] == [(key, None, value)]


@pytest.mark.parametrize("header, name", [
    ("# Server", "Server"), ("#Server", "Server"), ("#  Key Size  ", "Key Size"),
    ("# Search Index Stats", "Search Index Stats"),
])
def test_headers(header, name):
    info = parse_info(f"{header}\nfoo:1\n")
    assert info.sections == [name] and info.rows[0].section == name


def test_fields_before_any_header_and_blank_lines():
    info = parse_info("\n\nredis_version:7.0.0\n\n\n# Stats\nkeyspace_hits:3\n")
    assert [(r.section, r.key) for r in info.rows] == [("", "redis_version"), ("Stats", "keyspace_hits")]


@pytest.mark.parametrize("key, text, expected", [
    ("used_memory", "1015288", 1015288.0),
    ("mem_fragmentation_ratio", "7.50", 7.5),
    ("rdb_last_bgsave_time_sec", "-1", -1.0),
    ("used_memory_peak_perc", "100.18%", 100.18),
    ("used_memory_human", "991.49K", 991.49 * 1024),
    ("total_system_memory_human", "23.54G", 23.54 * 1024**3),
    ("maxmemory_human", "0B", 0.0),
    ("redis_git_sha1", "00000000", None),
    ("redis_build_id", "1234567890", None),       # an id, even when all digits
    ("some_id", "0123", None),                    # leading zero: looks numeric, is not
    ("role", "master", None),
    ("x", "1.2.3", None),
    ("x", "", None),
    ("x", "nan", None),
    ("x", "0", 0.0),
    ("x", "0.00", 0.0),
])
def test_numbers(key, text, expected):
    got = parse_number(key, text)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_map_with_comma_inside_a_value_and_bytes_input():
    info = parse_info(b"# Modules\r\nmodule:name=x,ver=1,options=[a,b]\r\n")
    assert info.map("module")["options"] == "[a,b]"


def test_latin1_bytes_do_not_raise():
    info = parse_info(b"# Server\nos:caf\xe9\n")
    assert info.get("os").startswith("caf")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_text(text):
    info = parse_info(text)
    for r in info.rows:
        assert isinstance(r.value_text, str) and isinstance(r.key, str)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["# ", "", "cmdstat_", "db"]),
                          st.text(alphabet="abc:=,|$#%.0123456789KMG \r\n-", max_size=30)), max_size=20))
def test_never_raises_on_info_like_text(parts):
    text = "\r\n".join(a + b for a, b in parts)
    info = parse_info(text)
    assert all(r.value_num is None or isinstance(r.value_num, float) for r in info.rows)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_never_raises_on_bytes(data):
    parse_info(data)


def test_stats_views_on_the_2_8_layout(tmp_path):
    """Deltas work on layouts without rejected/failed calls, errorstats or server_time_usec."""
    from workbench.analysis.redis import redis_stats
    from workbench.sources.redis import ingest_file
    from workbench.store import Store

    text = fixture_text("info_2.8.txt")
    later = (text.replace("keyspace_hits:41", "keyspace_hits:141").replace("uptime_in_seconds:11554",
             "uptime_in_seconds:11600").replace("cmdstat_get:calls=123,usec=1107",
                                                 "cmdstat_get:calls=223,usec=1307"))
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "b.txt").write_text(later)
    with Store.open(tmp_path / "wb.duckdb") as store:
        ingest_file(store, tmp_path / "a.txt", server="old:6379", label="a")
        ingest_file(store, tmp_path / "b.txt", server="old:6379", label="b")
        s = redis_stats(store.con, "a", "b")
    assert s["reset"] is False and s["keyspace_hits"] == 100 and s["keyspace_misses"] == 0
    assert s["commands"] == {"get": {"calls": 100, "usec": 200, "usec_per_call": 2.0}}
    assert s["server_version"] == "2.8.13" and s["memory"]["maxmemory_bytes"] is None
