"""The lab's API: the playbook's staging endpoints on Starlette + uvicorn, PostgreSQL and Redis behind them.

Endpoints (the user is `X-User-Id`, as `req.user.id` in the playbook):

- `/api/dashboard/summary`, `/api/threats/active`: cached in Redis for 300 s (the playbook's
  `CacheService` TTL), one key each;
- `/api/alerts/recent`: the user's high/critical events of the last 7 days, cached per user;
- `/api/events?severity=S`: events of the last 30 days with that severity, newest first. The flag
  `optimized_query_v2` (25 %, `workbench.flags` on the user id) picks the query: `standard` counts the
  matches and reads the page ordered by `created_at` (two full scans without an index); `optimized`
  orders by the primary key (ids grow with time in this append-only log) and reads one row past the
  page instead of counting, so it walks the primary key backwards and stops early;
- `/api/users/{id}`: the user and permission names. With `--users-query n_plus_one` (the lab's start)
  one query per permission; with `join` the playbook's single join with `array_agg`.

`/metrics` is prometheus_client's exposition: `http_request_duration_seconds` (histogram with the
`query_type` label the playbook's A/B queries select on), `http_requests_total{status}`,
`cache_hits_total` / `cache_misses_total` and `db_queries_total` per handler.

Run:  LAB_PG_DSN=... LAB_REDIS_URL=... python -m workbench.lab.api --port 8080 [--users-query join]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from contextlib import asynccontextmanager
from decimal import Decimal

import redis.asyncio as aioredis
import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workbench.flags import bucket

FLAG, FLAG_PERCENT = "optimized_query_v2", 25
CACHE_TTL_S = 300
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)
SEVERITIES = ("info", "low", "medium", "high", "critical")
PAGE = 50

Q_DASHBOARD = """SELECT severity_level, count(*) FROM security_events
                 WHERE created_at > now() - interval '24 hours' GROUP BY severity_level"""
Q_ACTIVE_COUNT = "SELECT count(*) FROM threats WHERE status = 'active'"
Q_THREATS = """SELECT id, name, priority, detected_at FROM threats WHERE status = 'active'
               ORDER BY priority DESC, detected_at DESC LIMIT 20"""
Q_ALERTS = """SELECT id, created_at, severity_level, event_type, message FROM security_events
              WHERE user_id = %s AND created_at > now() - interval '7 days'
                AND severity_level IN ('high', 'critical')
              ORDER BY created_at DESC LIMIT 20"""
_EVENTS_WHERE = "WHERE created_at > now() - interval '30 days' AND severity_level = %s"
Q_EVENTS_COUNT = f"SELECT count(*) FROM security_events {_EVENTS_WHERE}"
_EVENTS_COLS = "id, created_at, severity_level, event_type, source_ip::text, user_id, threat_id"
Q_EVENTS_PAGE = f"SELECT {_EVENTS_COLS} FROM security_events {_EVENTS_WHERE} ORDER BY created_at DESC LIMIT %s"
# v2: newest first by the primary key (ids grow with time in the append-only log), so the scan walks the
# primary key backwards and stops at the page's end
Q_EVENTS_PAGE_V2 = f"SELECT {_EVENTS_COLS} FROM security_events {_EVENTS_WHERE} ORDER BY id DESC LIMIT %s"
Q_USER = "SELECT id, email, name, org_id, active FROM users WHERE id = %s"
Q_USER_PERM_IDS = "SELECT permission_id FROM user_permissions WHERE user_id = %s ORDER BY permission_id"
Q_PERMISSION = "SELECT permission_name FROM permissions WHERE id = %s"
Q_USER_JOIN = """SELECT u.id, u.email, u.name, u.org_id, u.active,
                        array_remove(array_agg(p.permission_name ORDER BY p.id), NULL) AS permissions
                 FROM users u
                 LEFT JOIN user_permissions up ON u.id = up.user_id
                 LEFT JOIN permissions p ON up.permission_id = p.id
                 WHERE u.id = %s
                 GROUP BY u.id"""


def _plain(v: object) -> object:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


def _dumps(obj: object) -> str:
    return json.dumps(obj, default=_plain)


class Metrics:
    """The API's prometheus_client metrics in their own registry, with its process's CPU and memory
    (process_cpu_seconds_total, process_resident_memory_bytes: the cpu and memory presets)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.duration = Histogram("http_request_duration_seconds", "HTTP request latency",
                                  ["method", "handler", "status", "query_type"], buckets=BUCKETS,
                                  registry=self.registry)
        self.requests = Counter("http_requests_total", "HTTP requests", ["method", "handler", "status"],
                                registry=self.registry)
        self.cache_hits = Counter("cache_hits_total", "Redis cache hits", ["cache"], registry=self.registry)
        self.cache_misses = Counter("cache_misses_total", "Redis cache misses", ["cache"], registry=self.registry)
        self.db_queries = Counter("db_queries_total", "SQL statements sent", ["handler"], registry=self.registry)


def create_app(pg_dsn: str, redis_url: str, users_query: str = "n_plus_one", pool_size: int = 8) -> Starlette:
    """The Starlette app; the pool and the Redis client open in its lifespan."""
    if users_query not in ("n_plus_one", "join"):
        raise ValueError(f"users_query must be n_plus_one or join, not {users_query!r}")
    m = Metrics()
    state: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette):
        pool = AsyncConnectionPool(pg_dsn, min_size=2, max_size=pool_size, open=False,
                                   kwargs={"application_name": "lab-api", "autocommit": True})
        await pool.open(wait=True, timeout=30)
        state["pool"], state["redis"] = pool, aioredis.Redis.from_url(redis_url)
        try:
            yield
        finally:
            await pool.close()
            await state["redis"].aclose()

    async def rows(handler: str, query: str, params: tuple) -> list[tuple]:
        m.db_queries.labels(handler).inc()
        async with state["pool"].connection() as con:
            cur = await con.execute(query, params)
            return await cur.fetchall()

    async def cached(cache: str, key: str, compute) -> str:
        """CacheService.get / set(ttl=300) over Redis (the playbook's L2; see docs/lab.md on L1)."""
        r = state["redis"]
        hit = await r.get(key)
        if hit is not None:
            m.cache_hits.labels(cache).inc()
            return hit.decode()
        m.cache_misses.labels(cache).inc()
        body = _dumps(await compute())
        await r.setex(key, CACHE_TTL_S, body)
        return body

    def instrumented(handler: str):
        def wrap(fn):
            async def endpoint(request: Request) -> Response:
                t0 = time.perf_counter()
                request.state.query_type = ""
                try:
                    resp = await fn(request)
                except Exception as e:  # a failing dependency is a 500, counted like any other
                    resp = JSONResponse({"error": type(e).__name__}, status_code=500)
                status = str(resp.status_code)
                m.duration.labels(request.method, handler, status, request.state.query_type).observe(
                    time.perf_counter() - t0)
                m.requests.labels(request.method, handler, status).inc()
                return resp
            return endpoint
        return wrap

    def user_of(request: Request) -> str:
        return request.headers.get("x-user-id") or request.query_params.get("user") or "anonymous"

    @instrumented("/api/dashboard/summary")
    async def dashboard(request: Request) -> Response:
        async def compute():
            by_sev = dict(await rows("/api/dashboard/summary", Q_DASHBOARD, ()))
            active = (await rows("/api/dashboard/summary", Q_ACTIVE_COUNT, ()))[0][0]
            return {"events_24h": {s: by_sev.get(s, 0) for s in SEVERITIES}, "active_threats": active}
        return Response(await cached("dashboard", "dashboard:summary", compute), media_type="application/json")

    @instrumented("/api/threats/active")
    async def threats(request: Request) -> Response:
        async def compute():
            return [dict(zip(("id", "name", "priority", "detected_at"), r, strict=True))
                    for r in await rows("/api/threats/active", Q_THREATS, ())]
        return Response(await cached("threats", "threats:active", compute), media_type="application/json")

    @instrumented("/api/alerts/recent")
    async def alerts(request: Request) -> Response:
        user = user_of(request)
        if not user.isdigit():
            return JSONResponse({"error": "X-User-Id must be a user id"}, status_code=400)

        async def compute():
            return [dict(zip(("id", "created_at", "severity_level", "event_type", "message"), r, strict=True))
                    for r in await rows("/api/alerts/recent", Q_ALERTS, (int(user),))]
        return Response(await cached("alerts", f"alerts:recent:{user}", compute), media_type="application/json")

    @instrumented("/api/events")
    async def events(request: Request) -> Response:
        severity = request.query_params.get("severity", "high")
        if severity not in SEVERITIES:
            return JSONResponse({"error": f"severity must be one of {', '.join(SEVERITIES)}"}, status_code=400)
        optimized = bucket(user_of(request), FLAG, FLAG_PERCENT)
        request.state.query_type = "optimized" if optimized else "standard"
        h = "/api/events"
        if optimized:
            page = await rows(h, Q_EVENTS_PAGE_V2, (severity, PAGE + 1))
            total, more = None, len(page) > PAGE
        else:
            total = (await rows(h, Q_EVENTS_COUNT, (severity,)))[0][0]
            page = await rows(h, Q_EVENTS_PAGE, (severity, PAGE))
            more = total > PAGE
        cols = ("id", "created_at", "severity_level", "event_type", "source_ip", "user_id", "threat_id")
        items = [dict(zip(cols, r, strict=True)) for r in page[:PAGE]]
        return Response(_dumps({"query_type": request.state.query_type, "total": total, "has_more": more,
                                "items": items}), media_type="application/json")

    @instrumented("/api/users/{id}")
    async def user(request: Request) -> Response:
        uid = request.path_params["id"]
        h = "/api/users/{id}"
        if users_query == "join":
            found = await rows(h, Q_USER_JOIN, (uid,))
            if not found:
                return JSONResponse({"error": "no such user"}, status_code=404)
            doc = dict(zip(("id", "email", "name", "org_id", "active", "permissions"), found[0], strict=True))
        else:  # the N+1: one query per permission
            found = await rows(h, Q_USER, (uid,))
            if not found:
                return JSONResponse({"error": "no such user"}, status_code=404)
            doc = dict(zip(("id", "email", "name", "org_id", "active"), found[0], strict=True))
            names = []
            for (pid,) in await rows(h, Q_USER_PERM_IDS, (uid,)):
                names.append((await rows(h, Q_PERMISSION, (pid,)))[0][0])
            doc["permissions"] = names
        return Response(_dumps(doc), media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "users_query": users_query})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[
        Route("/api/dashboard/summary", dashboard), Route("/api/threats/active", threats),
        Route("/api/alerts/recent", alerts), Route("/api/events", events),
        Route("/api/users/{id:int}", user), Route("/health", health), Route("/metrics", metrics),
    ], lifespan=lifespan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--users-query", choices=["n_plus_one", "join"], default="n_plus_one")
    args = ap.parse_args()
    app = create_app(os.environ["LAB_PG_DSN"], os.environ["LAB_REDIS_URL"], args.users_query)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
