"""A small HTTP API to load-test: several endpoints, varied latency, some 5xx, Prometheus metrics.

It stands in for the playbook's staging API (`/api/dashboard/summary`, `/api/threats/active`,
`/api/alerts/recent`, `/api/events` behind the `optimized_query_v2` flag). Latencies are drawn from
seeded distributions; `profile="after"` makes `/api/events` faster (a real change for before/after
samples) and leaves the other endpoints alone. `/metrics` is the prometheus_client exposition with
`http_request_duration_seconds` (histogram) and `http_requests_total` labelled by status code.

Run it:  python -m workbench.lab.target --port 8099 [--profile after]
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from workbench.flags import bucket

try:  # prometheus_client is a lab/dev extra
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
except ImportError:  # pragma: no cover
    CollectorRegistry = None

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)

# endpoint -> (median seconds, sigma of lognormal, 5xx probability)
PROFILES: dict[str, dict[str, tuple[float, float, float]]] = {
    "before": {
        "/api/dashboard/summary": (0.004, 0.35, 0.0),
        "/api/threats/active": (0.010, 0.45, 0.02),
        "/api/alerts/recent": (0.015, 0.60, 0.005),
        "/api/events": (0.030, 0.40, 0.01),
    },
}
PROFILES["after"] = dict(PROFILES["before"], **{"/api/events": (0.018, 0.40, 0.01)})
SLOW_TAIL = 0.01  # share of /api/alerts/recent requests that take 5-10x longer (a heavy tail)


class TargetApp:
    """Latency model + metrics; `serve()` returns a running server you `shutdown()`."""

    def __init__(self, profile: str = "before", seed: int = 42, flag_percentage: int = 25):
        self.model = PROFILES[profile]
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.flag_percentage = flag_percentage
        self.registry = CollectorRegistry() if CollectorRegistry else None
        if self.registry is not None:
            self.hist = Histogram("http_request_duration_seconds", "Request latency",
                                  ["method", "handler", "status", "query_type"], buckets=BUCKETS,
                                  registry=self.registry)
            self.count = Counter("http_requests_total", "Requests", ["method", "handler", "status"],
                                 registry=self.registry)

    def draw(self, path: str, user: str) -> tuple[float, int, str]:
        """(latency seconds, status, query_type) for one request."""
        median, sigma, p5xx = self.model[path]
        query_type = ""
        if path == "/api/events":
            optimized = bucket(user, "optimized_query_v2", self.flag_percentage)
            query_type = "optimized" if optimized else "standard"
            if optimized:
                median *= 0.6
        with self.lock:
            latency = self.rng.lognormvariate(0, sigma) * median
            if path == "/api/alerts/recent" and self.rng.random() < SLOW_TAIL:
                latency *= self.rng.uniform(5, 10)
            status = 503 if self.rng.random() < p5xx else 200
        return latency, status, query_type

    def observe(self, method: str, path: str, status: int, query_type: str, seconds: float) -> None:
        if self.registry is not None:
            self.hist.labels(method, path, str(status), query_type).observe(seconds)
            self.count.labels(method, path, str(status)).inc()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms to every response

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                t0 = time.perf_counter()
                url = urlsplit(self.path)
                if url.path == "/metrics" and app.registry is not None:
                    self._send(200, generate_latest(app.registry), CONTENT_TYPE_LATEST)
                    return
                if url.path == "/health":
                    self._send(200, b'{"ok":true}')
                    return
                if url.path not in app.model:
                    self._send(404, b'{"error":"not found"}')
                    app.observe("GET", "other", 404, "", time.perf_counter() - t0)
                    return
                user = parse_qs(url.query).get("user", [self.headers.get("X-User-Id", "anon")])[0]
                latency, status, qtype = app.draw(url.path, user)
                time.sleep(latency)
                body = json.dumps({"path": url.path, "query_type": qtype, "items": list(range(8))}).encode()
                self._send(status, body if status < 500 else b'{"error":"unavailable"}')
                app.observe("GET", url.path, status, qtype, time.perf_counter() - t0)

            def do_POST(self) -> None:  # noqa: N802
                t0 = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else b""
                if urlsplit(self.path).path != "/api/login":
                    self._send(404, b'{"error":"not found"}')
                    return
                time.sleep(0.003)
                ok = b'"password"' in payload and b'"wrong"' not in payload
                status = 200 if ok else 401
                self._send(status, b'{"token":"t"}' if ok else b'{"error":"bad credentials"}')
                app.observe("POST", "/api/login", status, "", time.perf_counter() - t0)

        return Handler

    def serve(self, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
        """Start serving in a daemon thread; call `.shutdown()` on the result to stop."""
        server = ThreadingHTTPServer((host, port), self.handler())
        server.daemon_threads = True
        server.request_queue_size = 256
        threading.Thread(target=server.serve_forever, daemon=True, name=f"target:{port}").start()
        return server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="before")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    server = TargetApp(args.profile, args.seed).serve(args.port)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
