"""`workbench lab up | down | status`: the playbook's staging system on one machine.

`up` starts PostgreSQL 15 (pg_stat_statements, hypopg when installed) with the lab's data, Redis as a
cold cache, the instrumented API (workbench/lab/api.py on uvicorn), Prometheus scraping it and the
exporters that are installed, each on a free loopback port in its own session. What it started is
recorded in `.lab/state.json` (0600: it holds the lab role's password): pids with their kernel start
times, ports, directories. `down` stops exactly those processes (a pid whose start time differs is
someone else's and is left alone) and removes the PostgreSQL directory the lab made.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.lab.common import LOOPBACK, free_port, port_open, wait_for
from workbench.lab.dataset import FULL, SHORT
from workbench.lab.requirements import missing_message, optional_missing

STATE = "state.json"
DBNAME = "lab"
# the order `down` stops them in (clients before servers)
ORDER = ("api", "prometheus", "redis_exporter", "postgres_exporter", "redis", "postgres")


def lab_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The lab's directory: --dir, else WORKBENCH_LAB_DIR, else ./.lab."""
    return Path(explicit or os.environ.get("WORKBENCH_LAB_DIR") or ".lab")


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(proc: dict) -> bool:
    """True when the recorded process still runs and is the one the lab started (same start time)."""
    ticks = start_ticks(proc["pid"])
    if ticks is None or ticks != proc["start_ticks"]:
        return False
    try:  # a zombie has a /proc entry but is not running
        return Path(f"/proc/{proc['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def record(pid: int, port: int | None, log: Path | None) -> dict:
    return {"pid": pid, "start_ticks": start_ticks(pid), "port": port, "log": str(log) if log else None}


@dataclass
class LabState:
    """What `lab up` started; saved as .lab/state.json."""

    dir: Path
    processes: dict[str, dict] = field(default_factory=dict)
    pg: dict = field(default_factory=dict)
    redis_url: str = ""
    api_url: str = ""
    prometheus_url: str = ""
    users_query: str = "n_plus_one"
    size: str = "full"
    active_users: int = 0
    started_at: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.dir / STATE

    def save(self) -> None:
        doc = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.path)

    @classmethod
    def load(cls, dir: Path) -> LabState | None:
        path = dir / STATE
        if not path.exists():
            return None
        doc = json.loads(path.read_text())
        doc["dir"] = Path(doc["dir"])
        return cls(**doc)

    @property
    def pg_dsn(self) -> str:
        from urllib.parse import quote

        p = self.pg
        return (f"postgresql://{p['user']}:{quote(p['password'], safe='')}@{LOOPBACK}:{p['port']}/{p['dbname']}"
                "?sslmode=disable")

    def superuser_kwargs(self) -> dict:
        return {"host": self.pg["socket_dir"], "port": self.pg["port"], "user": "postgres", "dbname": DBNAME}

    def running(self) -> dict[str, bool]:
        return {name: alive(p) for name, p in self.processes.items()}


def _api_argv(port: int, users_query: str) -> list[str]:
    return [sys.executable, "-m", "workbench.lab.api", "--port", str(port), "--users-query", users_query]


def start_api(state: LabState, users_query: str, timeout_s: float = 60) -> None:
    """Start (or restart, on the same port) the API with USERS_QUERY; record it in STATE."""
    import httpx

    old = state.processes.get("api")
    if old:
        stop_one(old)
    port = old["port"] if old else free_port()
    log = state.dir / "logs" / "api.log"
    env = {**os.environ, "LAB_PG_DSN": state.pg_dsn, "LAB_REDIS_URL": state.redis_url}
    with open(log, "ab") as out:
        proc = subprocess.Popen(_api_argv(port, users_query), stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=state.dir, start_new_session=True)
    state.processes["api"] = record(proc.pid, port, log)
    state.api_url = f"http://{LOOPBACK}:{port}"
    state.users_query = users_query
    state.save()
    wait_for(lambda: httpx.get(f"{state.api_url}/health", timeout=2).status_code == 200, timeout_s,
             f"lab API on {state.api_url}", proc, log)


def stop_one(proc: dict, timeout_s: float = 20.0, sig: int = signal.SIGTERM) -> bool:
    """Signal one recorded process (only if it is still the one the lab started); wait; SIGKILL at the end.
    Returns True when it was running."""
    if not alive(proc):
        return False
    pid = proc["pid"]
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(proc):
            break
        _reap(pid)
        time.sleep(0.05)
    else:
        if alive(proc):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
    _reap(pid)
    if proc.get("port"):
        wait_for(lambda: not port_open(proc["port"]), 10, f"port {proc['port']} to close")
    return True


def _reap(pid: int) -> None:
    try:  # our own child (same process started it): collect its exit status
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def up(dir: Path, *, short: bool = False, progress: Callable[[str], None] = lambda s: None) -> LabState:
    """Start the lab in DIR (see the module docstring); fail fast, before anything starts, if packages miss."""
    problem = missing_message()
    if problem:
        raise WorkbenchError(f"lab up: {problem}")
    existing = LabState.load(dir)
    if existing and any(existing.running().values()):
        raise WorkbenchError(f"a lab is already running from {dir} ({', '.join(n for n, r in existing.running().items() if r)}):"
                             " `workbench lab down` first, or use --dir for another one")
    if existing:   # a lab whose processes are all gone (a reboot): clear what it left
        down(dir)
    (dir / "logs").mkdir(parents=True, exist_ok=True)
    state = LabState(dir=dir.resolve(), started_at=time.time(), size="short" if short else "full")
    for pkg in optional_missing():
        state.notes.append(f"{pkg} is not installed: the lab runs without it (`make lab-deps` installs it)")
    state.save()
    try:
        _start_all(state, short, progress)
    except BaseException:
        progress("start failed: stopping what was started")
        down(dir)
        raise
    return state


def _start_all(state: LabState, short: bool, progress: Callable[[str], None]) -> None:
    import psycopg

    from workbench.lab import prometheus as prom
    from workbench.lab.dataset import populate
    from workbench.lab.postgres import PostgresLab
    from workbench.lab.redis import RedisServer

    size = SHORT if short else FULL
    progress("PostgreSQL 15: initdb and start")
    pg = PostgresLab(preload=True, dbname=DBNAME, detach=True, extra_conf={
        "shared_buffers": "128MB", "max_connections": "60", "max_parallel_workers_per_gather": "0",
        "log_min_duration_statement": "-1"})
    try:
        pg.start()
    except BaseException:
        pg.stop()   # not recorded yet: stop it here, or `down` could not
        raise
    state.processes["postgres"] = record(pg.proc.pid, pg.port, pg.log)
    state.pg = {"port": pg.port, "socket_dir": str(pg.root), "data_dir": str(pg.root), "user": pg.user,
                "password": pg.password, "dbname": DBNAME}
    link = state.dir / "postgres"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(pg.root)
    state.save()
    exts = ["pg_stat_statements"]
    if "postgresql-15-hypopg" not in optional_missing():
        exts.append("hypopg")
    for ext in exts:
        pg.sql(f"CREATE EXTENSION IF NOT EXISTS {ext}")
    progress(f"PostgreSQL: {size.events:,} security events, {size.users:,} users (generate_series)")
    with psycopg.connect(**pg.superuser_kwargs(DBNAME)) as con:
        populate(con, size)
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {pg.user}")
        con.commit()
    pg.sql("SELECT pg_stat_statements_reset()")
    state.active_users = size.active_users

    progress("Redis: an empty cache")
    rds = RedisServer.start(state.dir / "redis", detach=True)
    state.processes["redis"] = record(rds.proc.pid, rds.port, state.dir / "redis" / "redis.log")
    state.redis_url = rds.url
    state.save()

    progress("API: Starlette on uvicorn (N+1 permissions lookup)")
    start_api(state, "n_plus_one")

    jobs = {"api": [f"{LOOPBACK}:{state.processes['api']['port']}"]}
    if shutil.which("prometheus-redis-exporter"):
        progress("redis_exporter")
        svc = prom.start_redis_exporter(state.dir / "exporters", state.redis_url)
        state.processes["redis_exporter"] = record(svc.proc.pid, svc.port, svc.log)
        jobs["redis"] = [svc.address]
    if shutil.which("prometheus-postgres-exporter"):
        progress("postgres_exporter")
        svc = prom.start_postgres_exporter(state.dir / "exporters", state.pg_dsn)
        state.processes["postgres_exporter"] = record(svc.proc.pid, svc.port, svc.log)
        jobs["postgres"] = [svc.address]
    state.save()
    progress("Prometheus: scraping " + ", ".join(jobs))
    server = prom.start_prometheus(state.dir / "prometheus", jobs, interval="1s")
    state.processes["prometheus"] = record(server.proc.pid, server.port, server.log)
    state.prometheus_url = server.url
    state.save()


def down(dir: Path) -> list[str]:
    """Stop what the lab in DIR started (its recorded pids only); remove its PostgreSQL directory.
    Returns the names of the processes that were running."""
    state = LabState.load(dir)
    if state is None:
        return []
    stopped = []
    for name in ORDER:
        proc = state.processes.get(name)
        if proc is None:
            continue
        # PostgreSQL: SIGINT is the fast shutdown (SIGTERM would wait for clients to leave)
        if stop_one(proc, sig=signal.SIGINT if name == "postgres" else signal.SIGTERM):
            stopped.append(name)
    data = state.pg.get("data_dir")
    if data and Path(data).name.startswith("wb-pg-") and Path(data).exists():
        shutil.rmtree(data, ignore_errors=True)
    link = state.dir / "postgres"
    if link.is_symlink():
        link.unlink()
    state.processes = {}
    state.path.unlink(missing_ok=True)
    return stopped


def status(dir: Path) -> dict:
    """The lab's processes, ports and URLs (no password) as a dict."""
    state = LabState.load(dir)
    if state is None:
        return {"dir": str(dir), "up": False, "services": {}}
    running = state.running()
    services = {name: {"pid": p["pid"], "port": p["port"], "running": running[name], "log": p["log"]}
                for name, p in state.processes.items()}
    return {"dir": str(state.dir), "up": bool(running) and all(running.values()), "size": state.size,
            "services": services, "api_url": state.api_url, "prometheus_url": state.prometheus_url,
            "redis": state.redis_url, "postgres": f"{LOOPBACK}:{state.pg.get('port')}/{DBNAME}",
            "users_query": state.users_query, "notes": state.notes}
