"""A local Prometheus 2.42 (Debian's /usr/bin/prometheus) with its exporters, for tests and captures.

`start_prometheus(workdir, scrape)` writes a config that scrapes itself and the given targets every
second into a temp TSDB on a free loopback port. A `remote_read` to a closed local port, restricted by
`required_matchers` to selectors with `remote="broken"`, makes Prometheus answer such queries with
`warnings` (the only way 2.42 emits them) while every other query stays clean.
`start_redis_exporter` / `start_postgres_exporter` run Debian's exporters on free ports;
`Traffic` sends requests to the lab target app so its histograms fill.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

from workbench.lab.common import LOOPBACK, find_binary, free_port, port_open, stop_process, wait_for
from workbench.lab.target import TargetApp

REMOTE_MATCH = 'remote="broken"'  # a selector with this matcher goes to the failing remote_read


@dataclass
class Service:
    """A started process listening on 127.0.0.1:port; `stop()` ends it."""

    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class PrometheusServer(Service):
    """The lab Prometheus: `url`, `port`, `config` path and the scrape `jobs` it was given."""

    config: Path = Path()
    jobs: dict[str, list[str]] = field(default_factory=dict)
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}"


def write_config(path: Path, self_port: int, jobs: dict[str, list[str]], interval: str = "1s") -> None:
    """prometheus.yml: self + JOBS (name -> host:port targets), the failing remote_read."""
    dead_port = free_port()  # nothing listens here: remote reads fail with "connection refused"
    lines = ["global:", f"  scrape_interval: {interval}", f"  evaluation_interval: {interval}",
             "scrape_configs:", "  - job_name: prometheus", "    static_configs:",
             f"      - targets: ['{LOOPBACK}:{self_port}']"]
    for job, targets in jobs.items():
        lines += [f"  - job_name: {job}", "    static_configs:",
                  "      - targets: [" + ", ".join(f"'{t}'" for t in targets) + "]"]
    key, value = REMOTE_MATCH.split("=")
    lines += ["remote_read:", f"  - url: http://{LOOPBACK}:{dead_port}/api/v1/read", "    read_recent: true",
              "    remote_timeout: 2s", "    required_matchers:", f"      {key}: {value}"]
    path.write_text("\n".join(lines) + "\n")


def start_prometheus(workdir: Path, jobs: dict[str, list[str]], interval: str = "1s",
                     timeout_s: float = 30, web_config: str | None = None) -> PrometheusServer:
    """Start Prometheus on a free port with a TSDB under WORKDIR; wait until it is ready.

    WEB_CONFIG: the text of a --web.config.file (TLS via tls_server_config makes the URL https;
    basic_auth_users needs bcrypt hashes)."""
    binary = find_binary("prometheus", "/usr/bin/prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "prometheus.yml"
    write_config(config, port, jobs, interval)
    log = workdir / "prometheus.log"
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address={LOOPBACK}:{port}", "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d", "--log.level=warn"]
    if web_config:
        (workdir / "web.yml").write_text(web_config)
        argv.append(f"--web.config.file={workdir / 'web.yml'}")
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    scheme = "https" if web_config and "tls_server_config" in web_config else "http"
    server = PrometheusServer("prometheus", proc, port, log, config=config, jobs=jobs, scheme=scheme)

    def ready() -> bool:  # 401: up, but behind basic auth
        return httpx.get(f"{server.url}/-/ready", timeout=1, verify=False).status_code in (200, 401)

    try:
        wait_for(ready, timeout_s, f"prometheus on port {port}", proc, log)
    except Exception:
        server.stop()
        raise
    return server


def _start_exporter(name: str, argv: list[str], env: dict[str, str], workdir: Path, port: int,
                    timeout_s: float) -> Service:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                cwd=workdir, start_new_session=True)
    svc = Service(name, proc, port, log)
    try:
        wait_for(lambda: port_open(port), timeout_s, f"{name} on port {port}", proc, log)
    except Exception:
        svc.stop()
        raise
    return svc


def start_redis_exporter(workdir: Path, redis_url: str, timeout_s: float = 15) -> Service:
    """Debian's prometheus-redis-exporter for REDIS_URL (password via env, not argv)."""
    binary = find_binary("prometheus-redis-exporter", "/usr/bin/prometheus-redis-exporter")
    port = free_port()
    return _start_exporter("redis_exporter", [binary, f"-web.listen-address={LOOPBACK}:{port}"],
                           {"REDIS_ADDR": redis_url}, workdir, port, timeout_s)


def start_postgres_exporter(workdir: Path, dsn: str, timeout_s: float = 15) -> Service:
    """Debian's prometheus-postgres-exporter for DSN (passed as DATA_SOURCE_NAME in its environment)."""
    binary = find_binary("prometheus-postgres-exporter", "/usr/bin/prometheus-postgres-exporter")
    port = free_port()
    return _start_exporter("postgres_exporter", [binary, f"--web.listen-address={LOOPBACK}:{port}"],
                           {"DATA_SOURCE_NAME": dsn}, workdir, port, timeout_s)


def serve_closing(app: TargetApp, port: int) -> ThreadingHTTPServer:
    """Serve APP like `TargetApp.serve`, but one request per connection (HTTP/1.0), so a scrape
    connection never outlives `shutdown()` + `server_close()`: stopping it really stops the target."""
    handler = type("OneRequestPerConnection", (app.handler(),), {"protocol_version": "HTTP/1.0"})
    server = ThreadingHTTPServer((LOOPBACK, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name=f"target:{port}").start()
    return server


ENDPOINTS = ("/api/dashboard/summary", "/api/threats/active", "/api/alerts/recent", "/api/events")


class Traffic:
    """Background requests to the target app from THREADS threads until `stop()`."""

    def __init__(self, base_url: str, threads: int = 4, pause_s: float = 0.005):
        self.base_url, self.pause_s = base_url.rstrip("/"), pause_s
        self.requests = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, worker: int) -> None:
        i = 0
        while not self._stop.is_set():
            path = ENDPOINTS[i % len(ENDPOINTS)]
            user = f"user{(worker * 7919 + i) % 500}"
            try:
                with urllib.request.urlopen(f"{self.base_url}{path}?user={user}", timeout=5) as r:
                    r.read()
            except Exception:  # 503s are part of the model; a stopped target is part of the gap test
                pass
            with self._lock:
                self.requests += 1
            i += 1
            time.sleep(self.pause_s)

    def stop(self) -> int:
        self._stop.set()
        for t in self._threads:
            t.join(10)
        return self.requests

