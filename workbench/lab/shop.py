"""A small shop API backed by a real PostgreSQL and Redis: the bottleneck scenario's system under test.

Two endpoints, each with a textbook bottleneck:
- `/api/catalog?category=N` reads a Redis key first and, on a miss, counts the category's rows in
  `items` (>= 500k rows) filtered on `category_id`, a column without an index (a sequential scan per
  miss); categories are many, so the cache stays cold;
- `/api/orders?id=N` loads an order, then each of its ITEMS_PER_ORDER products with its own statement
  (an N+1: ten cheap primary-key lookups per request).

`setup(dsn)` creates the tables (as the DSN's role, so it owns them); `ShopApp(dsn, redis_url).serve(port)`
serves on loopback until `.shutdown()`. `K6_SCRIPT` drives both endpoints with independent load shapes.
"""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg

ITEMS_PER_ORDER = 10
CATEGORIES = 5000
SCHEMA = """
CREATE TABLE items (id bigserial PRIMARY KEY, category_id int NOT NULL, price numeric(10, 2) NOT NULL,
                    created_at timestamptz NOT NULL);
INSERT INTO items (category_id, price, created_at)
  SELECT (g::bigint * 7919) % {categories}, (g % 1000) / 10.0, now() - (g || ' seconds')::interval
  FROM generate_series(1, {rows}) g;
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(10, 2) NOT NULL);
INSERT INTO products SELECT g, 'product ' || g, (g % 500) / 10.0 FROM generate_series(1, 20000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, product_ids int[] NOT NULL);
INSERT INTO orders SELECT g, g % 997,
  ARRAY(SELECT 1 + ((g * 31 + k * 17) % 20000) FROM generate_series(1, {per_order}) k)
  FROM generate_series(1, 5000) g;
"""
CATALOG_SQL = "SELECT count(*), avg(price) FROM items WHERE category_id = %s"
ORDER_SQL = "SELECT customer_id, product_ids FROM orders WHERE id = %s"
PRODUCT_SQL = "SELECT name, price FROM products WHERE id = %s"
K6_SCRIPT = "shop_k6.js"


def setup(dsn: str, rows: int = 500_000) -> None:
    """Create and fill the shop's tables through DSN (its role owns them)."""
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(SCHEMA.format(categories=CATEGORIES, rows=int(rows), per_order=ITEMS_PER_ORDER))
        for table in ("items", "products", "orders"):   # after the load's transaction, as a DBA would
            con.execute(f"ANALYZE {table}")


def k6_script() -> Path:
    return Path(str(resources.files("workbench.lab").joinpath(K6_SCRIPT)))


class ShopApp:
    """The two endpoints over a small pool of PostgreSQL connections and one Redis client."""

    def __init__(self, dsn: str, redis_url: str, pool: int = 6, ttl_s: int = 60):
        import redis

        self.conns: queue.Queue = queue.Queue()
        for _ in range(pool):
            self.conns.put(psycopg.connect(dsn, autocommit=True, application_name="shop"))
        self.redis = redis.Redis.from_url(redis_url)
        self.ttl_s = ttl_s
        self.server: ThreadingHTTPServer | None = None

    def catalog(self, category: int) -> dict:
        key = f"shop:catalog:{category}"
        cached = self.redis.get(key)
        if cached is not None:
            return json.loads(cached)
        con = self.conns.get()
        try:
            n, avg = con.execute(CATALOG_SQL, [category]).fetchone()
        finally:
            self.conns.put(con)
        doc = {"category": category, "items": n, "avg_price": float(avg or 0)}
        self.redis.set(key, json.dumps(doc), ex=self.ttl_s)
        return doc

    def order(self, order_id: int) -> dict:
        con = self.conns.get()
        try:
            row = con.execute(ORDER_SQL, [order_id]).fetchone()
            if row is None:
                return {}
            lines = [con.execute(PRODUCT_SQL, [pid]).fetchone() for pid in row[1]]   # the N+1
        finally:
            self.conns.put(con)
        return {"order": order_id, "customer": row[0], "lines": [[n, float(p)] for n, p in lines if n]}

    def serve(self, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                q = parse_qs(url.query)
                try:
                    if url.path == "/api/catalog":
                        body, status = app.catalog(int(q.get("category", ["0"])[0]) % CATEGORIES), 200
                    elif url.path == "/api/orders":
                        body = app.order(1 + int(q.get("id", ["1"])[0]) % 5000)
                        status = 200 if body else 404
                    else:
                        body, status = {"error": "not found"}, 404
                except Exception as e:  # the load test should see a 500, not a dropped connection
                    body, status = {"error": type(e).__name__}, 500
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name=f"shop:{port}").start()
        return self.server

    def shutdown(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        while not self.conns.empty():
            self.conns.get().close()
        self.redis.close()
