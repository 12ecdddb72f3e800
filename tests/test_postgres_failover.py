"""A failover on real servers: a streaming replica (pg_basebackup -R) of a PostgreSQL 15 primary is
promoted and takes over the primary's port. Same system identifier, host, port and database: the
snapshot after the failover must not be diffed against the primary's as if one server had gone on."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from workbench.analysis.postgres import pg_top
from workbench.lab.common import LOOPBACK, chown_tree, free_port, service_user, stop_process, wait_for
from workbench.lab.postgres import PostgresLab, _demote, pg_binary
from workbench.sources.postgres import collect
from workbench.store import reading

pytestmark = pytest.mark.service
QUERY = "SELECT count(*) FROM failover_t WHERE id > %s"


class Standby:
    """A streaming replica of PRIMARY in its own temp dir, run as the postgres user."""

    def __init__(self, primary: PostgresLab):
        self.ids = service_user("postgres")
        self.root = Path(tempfile.mkdtemp(prefix="wb-pg-standby-"))
        self.data = self.root / "data"
        self.proc: subprocess.Popen | None = None
        chown_tree(self.root, self.ids)
        subprocess.run([pg_binary("pg_basebackup"), "-h", str(primary.root), "-p", str(primary.port), "-U", "postgres",
                        "-D", str(self.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"],
                       check=True, capture_output=True, preexec_fn=_demote(self.ids), cwd=self.root)
        self.port = free_port()

    def start(self, port: int) -> None:
        """Start on PORT (later lines of postgresql.conf win over the primary's copied ones)."""
        self.port = port
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\nport = {port}\nunix_socket_directories = '{self.root}'\nlisten_addresses = '{LOOPBACK}'\n")
        log = self.root / "postgres.log"
        chown_tree(self.root, self.ids)
        with open(log, "ab") as logf:
            self.proc = subprocess.Popen([pg_binary("postgres"), "-D", str(self.data)], stdout=logf,
                                         stderr=subprocess.STDOUT, preexec_fn=_demote(self.ids), cwd=self.root)
        wait_for(self._ready, 60, f"standby on port {port}", self.proc, log)

    def _ready(self) -> bool:
        with psycopg.connect(**self.superuser(), connect_timeout=2):
            return True

    def superuser(self, dbname: str = "postgres") -> dict:
        return {"host": str(self.root), "port": self.port, "user": "postgres", "dbname": dbname}

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            stop_process(self.proc, timeout_s=20)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def run(dsn: str, times: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        for _ in range(times):
            con.execute(QUERY, (0,))


def test_promoted_replica_on_the_primarys_port_is_not_diffed_against_it(tmp_db):
    primary = PostgresLab(preload=True).start()
    standby = None
    try:
        dsn, port = primary.dsn, primary.port
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute("CREATE TABLE failover_t (id int); INSERT INTO failover_t SELECT generate_series(1, 10)")
        standby = Standby(primary)
        standby.start(standby.port)
        run(dsn, 10)
        sid1, snap1 = collect(dsn, tmp_db)

        primary.stop()                       # the primary goes away; its replica is promoted ...
        with psycopg.connect(**standby.superuser("bench"), autocommit=True) as con:
            assert con.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            assert con.execute("SELECT pg_promote(wait => true)").fetchone()[0]
        standby.stop()                       # ... and restarted behind the primary's address
        standby.start(port)
        run(dsn, 15)                         # more calls than the primary had: a diff would give 15 - 10
        sid2, snap2 = collect(dsn, tmp_db)

        assert snap1.meta["system_identifier"] == snap2.meta["system_identifier"]   # the same name
        assert (snap1.meta["in_recovery"], snap2.meta["in_recovery"]) == (False, False)
        assert snap2.meta["timeline_id"] == snap1.meta["timeline_id"] + 1
        with reading(tmp_db) as store:
            res = pg_top(store, sid1, sid2)
        assert res.reset
        assert any("timeline" in r and "failover" in r for r in res.reset_reasons), res.reset_reasons
        mine = res.statements[res.statements["query"].str.contains("FROM failover_t", regex=False, na=False)]
        assert mine["calls"].tolist() == [15]
    finally:
        if standby is not None:
            standby.remove()
        primary.stop()
