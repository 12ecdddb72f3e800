"""Capture the bundled Prometheus samples from a real Prometheus 2.42 scraping, every second, the lab
target app under traffic, a lab Redis through redis_exporter and a lab PostgreSQL through
postgres_exporter.

About two minutes: the target runs profile "before" for the first half and "after" (a faster
/api/events) for the second; Redis reads go from mostly misses to mostly hits; a PostgreSQL transaction
stays open for ~40 s. Then every preset's range response is saved exactly as Prometheus sent it (as
`curl ... > file.json` would), plus the playbook's A/B pair (P95 of /api/events for
query_type="standard" vs "optimized"): OUT_DIR/prometheus/<name>.json, and meta.json describing it.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg
import redis

from workbench.lab.common import LOOPBACK, free_port
from workbench.lab.postgres import PostgresLab
from workbench.lab.prometheus import (
    Traffic,
    serve_closing,
    start_postgres_exporter,
    start_prometheus,
    start_redis_exporter,
)
from workbench.lab.redis import RedisServer
from workbench.lab.target import TargetApp
from workbench.sources.prometheus import preset_query

PHASE_S = 55
STEP = "2s"
WINDOW = "30s"  # short rate window so two minutes of data show change
SERIES = {
    "p95_latency": ("p95_latency", "", None),
    "p99_latency": ("p99_latency", "", None),
    "error_ratio_5xx": ("error_ratio_5xx", "", None),
    "rps": ("rps", "", "handler"),
    "cpu": ("cpu", "", None),
    "memory": ("memory", "", None),
    "redis_hit_ratio": ("redis_hit_ratio", "", None),
    "pg_long_tx": ("pg_long_tx", 'datname="bench"', None),
    "p95_standard": ("p95_latency", 'handler="/api/events", query_type="standard"', None),
    "p95_optimized": ("p95_latency", 'handler="/api/events", query_type="optimized"', None),
}


def _redis_reads(url: str, stop: threading.Event, started: float) -> None:
    """Random GETs over 6,000 keys, each miss filled after the first 20 s: the hit ratio climbs
    gradually from 0 towards ~0.95 (crossing the playbook's 80 % line)."""
    r = redis.Redis.from_url(url)
    rng = random.Random(5)
    while not stop.is_set():
        key = f"item:{rng.randrange(6000)}"
        if r.get(key) is None and (time.monotonic() - started) > 20:
            r.set(key, "x" * 32)
        time.sleep(0.004)
    r.close()


def _long_transaction(dsn: str, after_s: float, hold_s: float, stop: threading.Event) -> None:
    if stop.wait(after_s):
        return
    with psycopg.connect(dsn) as con:
        con.execute("SELECT count(*) FROM pgbench_accounts")  # opens the transaction
        stop.wait(hold_s)
        con.rollback()


def capture(out_dir: Path) -> None:
    """Run the lab for ~2 minutes and save the range responses into OUT_DIR/prometheus."""
    dest = out_dir / "prometheus"
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.json"):
        old.unlink()
    work = Path(tempfile.mkdtemp(prefix="wb-prom-capture-"))
    port = free_port()
    target = serve_closing(TargetApp("before", seed=3), port)
    stop = threading.Event()
    with RedisServer.start(work / "redis") as rds, PostgresLab(preload=True) as pg:
        pg.pgbench("-i", "-s", "1", "-q")
        rexp = start_redis_exporter(work, rds.url)
        pexp = start_postgres_exporter(work, pg.dsn)
        server = start_prometheus(work / "prom", {"api": [f"{LOOPBACK}:{port}"], "redis": [rexp.address],
                                                  "postgres": [pexp.address]})
        try:
            time.sleep(6)  # Prometheus applies scrape targets ~5 s after start
            t0 = time.time()
            traffic = Traffic(f"http://{LOOPBACK}:{port}", threads=4, pause_s=0.01)
            workers = [threading.Thread(target=_redis_reads, args=(rds.url, stop, time.monotonic())),
                       threading.Thread(target=_long_transaction, args=(pg.dsn, 30, 40, stop))]
            for w in workers:
                w.start()
            time.sleep(PHASE_S)
            target.shutdown()
            target.server_close()
            target = serve_closing(TargetApp("after", seed=4), port)  # the deploy: /api/events gets faster
            time.sleep(PHASE_S)
            stop.set()
            requests = traffic.stop()
            for w in workers:
                w.join(60)
            time.sleep(2)
            start, end = int(t0), int(time.time()) - 1
            queries = {}
            for name, (preset, match, by) in SERIES.items():
                query = preset_query(preset, match=match, window=WINDOW, by=by)
                resp = httpx.get(f"{server.url}/api/v1/query_range",
                                 params={"query": query, "start": start, "end": end, "step": STEP}, timeout=30)
                doc = resp.json()
                if doc.get("status") != "success" or not doc["data"]["result"]:
                    raise RuntimeError(f"{name}: no data from {query!r}: {resp.text[:200]}")
                (dest / f"{name}.json").write_bytes(resp.content)
                queries[name] = {"preset": preset, "match": match, "by": by, "window": WINDOW, "query": query}
        finally:
            stop.set()
            server.stop()
            rexp.stop()
            pexp.stop()
            target.shutdown()
            target.server_close()
    meta = {"prometheus": "Debian prometheus 2.42, scrape_interval 1s",
            "exporters": "Debian prometheus-redis-exporter, prometheus-postgres-exporter",
            "start": start, "end": end, "step": STEP, "requests_sent": requests,
            "story": f"target profile 'before' for {PHASE_S}s, then 'after' (faster /api/events); Redis hit "
                     "ratio climbing as the cache fills; one PostgreSQL transaction open ~40 s",
            "series": queries}
    (dest / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def capture_test_responses(dest: Path) -> None:
    """Edge-case responses from a real Prometheus for the offline parser tests (tests/data/prometheus):
    NaN/±Inf, vector, scalar, string, raw matrix with per-series timestamps, a scrape gap, warnings with
    no data (failing remote read), and error envelopes (bad PromQL, over 11,000 points)."""
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wb-prom-edge-"))
    ports = {"a": free_port(), "b": free_port()}
    targets = {k: serve_closing(TargetApp("before", seed=i), p) for i, (k, p) in enumerate(ports.items())}
    server = start_prometheus(work, {"api": [f"{LOOPBACK}:{p}" for p in ports.values()]})
    try:
        for p in ports.values():
            httpx.get(f"http://{LOOPBACK}:{p}/api/events?user=u1")
        time.sleep(9)
        t0 = int(time.time())
        targets["b"].shutdown()
        targets["b"].server_close()
        time.sleep(4)
        targets["b"] = serve_closing(TargetApp("before", seed=9), ports["b"])
        httpx.get(f"http://{LOOPBACK}:{ports['b']}/api/events?user=u1")
        time.sleep(4)
        end = int(time.time()) - 1

        def save(name: str, endpoint: str, **params: object) -> None:
            resp = httpx.get(f"{server.url}/api/v1/{endpoint}", params=params, timeout=30)
            (dest / f"{name}.json").write_bytes(resp.content)

        specials = ('label_replace(vector(1)/0, "v", "pos", "", "") or label_replace(vector(-1)/0, "v", "neg",'
                    ' "", "") or label_replace(vector(0)/0, "v", "nan", "", "")')
        save("range_specials", "query_range", query=specials, start=end - 4, end=end, step=1)
        save("range_gap", "query_range", query='http_requests_total{handler="/api/events"}', start=t0 - 3,
             end=end, step=1)
        save("instant_vector", "query", query="up")
        save("instant_scalar", "query", query="1/0")
        save("instant_string", "query", query='"hello"')
        save("instant_raw_matrix", "query", query="up[4s]")
        save("range_warnings_empty", "query_range", query='up{remote="broken"}', start=end - 4, end=end, step=1)
        save("error_bad_data", "query_range", query="sum(rate(up[5m])", start=end - 4, end=end, step=1)
        save("error_too_many_points", "query_range", query="vector(1)", start=end - 5 * 3600, end=end, step=1)
    finally:
        server.stop()
        for t in targets.values():
            t.shutdown()
            t.server_close()


if __name__ == "__main__":
    import sys

    root = Path(__file__).resolve().parents[2]
    if sys.argv[1:] == ["--test-data"]:
        capture_test_responses(root / "tests" / "data" / "prometheus")
    else:
        capture(root / "data" / "samples")
