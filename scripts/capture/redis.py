"""Capture tests/data/tool_captures/redis/ (`python scripts/capture/redis.py`) for the cache unit tests, with
what the lab cache has not (maxmemory, evictions, slow commands): a real redis-server (small maxmemory,
allkeys-lru) driven by redis-benchmark through phases with misses, hits, expirations and evictions, with `INFO everything` and
`SLOWLOG GET` saved after each phase.

Writes OUT_DIR/redis/info_NN.txt (raw INFO, CRLF as the server sends it), slowlog_NN.json and meta.json
(the server address and a label per snapshot).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis

from workbench.lab.redis import RedisServer, run_benchmark

SERVER_CONFIG = {"hz": "50", "slowlog-log-slower-than": "500", "slowlog-max-len": "32"}


def _save(client: redis.Redis, dest: Path, n: int) -> None:
    (dest / f"info_{n:02d}.txt").write_bytes(client.execute_command("INFO", "everything"))
    entries = [{"id": e["id"], "start_time": e["start_time"], "duration": e["duration"],
                "command": e["command"].decode(errors="replace") if isinstance(e["command"], bytes)
                else str(e["command"]),
                "client_address": (e.get("client_address") or b"").decode(errors="replace"),
                "client_name": (e.get("client_name") or b"").decode(errors="replace")}
               for e in client.slowlog_get(32)]
    (dest / f"slowlog_{n:02d}.json").write_text(json.dumps(entries, indent=1) + "\n")


def _expiring(client: redis.Redis, count: int, ttl_ms: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"session:{i}", "x" * 64, px=ttl_ms)
    pipe.execute()


def _slow_commands(client: redis.Redis) -> None:
    """Real slow work for the slowlog: a big list read back, and KEYS over the whole keyspace."""
    client.delete("feed:big")
    pipe = client.pipeline(transaction=False)
    for i in range(0, 40_000, 1_000):
        pipe.rpush("feed:big", *[f"event-{j}" for j in range(i, i + 1_000)])
    pipe.execute()
    client.lrange("feed:big", 0, -1)
    client.keys("session:*")


def capture(out_dir: Path) -> None:
    """Run the phases and write the snapshots into OUT_DIR/redis."""
    dest = out_dir / "redis"
    dest.mkdir(parents=True, exist_ok=True)
    for old in list(dest.glob("info_*.txt")) + list(dest.glob("slowlog_*.json")):
        old.unlink()
    labels = {}
    with RedisServer.start(maxmemory="8mb", policy="allkeys-lru", extra=SERVER_CONFIG) as srv:
        client = redis.Redis.from_url(srv.url)
        client.set_response_callback("INFO", lambda response, **kw: response)  # raw text
        phases = [
            ("idle", lambda: None),
            ("warm-up: 5k keys set, 2k sessions with a 300 ms TTL",
             lambda: (run_benchmark(srv, tests="set", requests=20_000, keyspace=5_000, data_size=100),
                      _expiring(client, 2_000, 300))),
            ("reads over a keyspace larger than the cache (many misses)",
             lambda: (time.sleep(1.0), run_benchmark(srv, tests="get", requests=60_000, keyspace=8_000))),
            ("bulk writes past maxmemory (evictions) and slow commands",
             lambda: (run_benchmark(srv, tests="set", requests=40_000, keyspace=60_000, data_size=200),
                      _slow_commands(client))),
            ("reads of a hot keyspace (mostly hits)",
             lambda: (run_benchmark(srv, tests="set", requests=5_000, keyspace=1_000, data_size=100),
                      run_benchmark(srv, tests="get", requests=80_000, keyspace=1_000))),
            ("mixed reads and writes, sessions expiring",
             lambda: (_expiring(client, 3_000, 200), run_benchmark(srv, tests="get,set", requests=30_000,
                                                                    keyspace=4_000, data_size=150),
                      time.sleep(0.8))),
        ]
        for n, (label, work) in enumerate(phases, start=1):
            work()
            _save(client, dest, n)
            labels[f"info_{n:02d}.txt"] = label
            time.sleep(1.1)  # distinct server_time_usec seconds between snapshots
        client.close()
    meta = {"address": f"lab-redis:{srv.port}", "server": "redis-server (Debian) + redis-benchmark",
            "maxmemory": "8mb", "maxmemory_policy": "allkeys-lru", "labels": labels}
    (dest / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    capture(Path(__file__).resolve().parents[2] / "tests" / "data" / "tool_captures")
