"""A throwaway `redis-server` on a free loopback port (no persistence), and `redis-benchmark` against it.

    with RedisServer.start(tmp_dir) as srv:
        run_benchmark(srv, tests="get", requests=10_000)
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from workbench.lab.common import LOOPBACK, find_binary, free_port, port_open, stop_process, wait_for


@dataclass
class RedisServer:
    """A running redis-server: host, port, url (with the ACL user/password when it has one)."""

    proc: subprocess.Popen
    port: int
    dir: Path
    host: str = LOOPBACK
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None     # set when the server speaks TLS only (rediss://)

    @property
    def url(self) -> str:
        scheme = "rediss" if self.ca_file else "redis"
        if self.password:
            return (f"{scheme}://{quote(self.user or 'default')}:{quote(self.password)}@{self.host}:{self.port}"
                    "/0")
        return f"{scheme}://{self.host}:{self.port}/0"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def start(cls, dir: str | Path | None = None, *, maxmemory: str | None = None,
              policy: str = "noeviction", user: str | None = None, password: str | None = None,
              extra: dict[str, str] | None = None, tls: bool = False, timeout_s: float = 15.0,
              detach: bool = False) -> RedisServer:
        """Start redis-server in DIR (a temp dir by default) on a free port; wait until it answers.

        TLS=True: TLS only (rediss://), with a throwaway CA and a certificate for 127.0.0.1 made by openssl.
        DETACH=True: its own session, so it outlives this process (`workbench lab up`).
        """
        binary = find_binary("redis-server", "/usr/bin/redis-server")
        d = Path(dir) if dir else Path(tempfile.mkdtemp(prefix="wb-redis-"))
        d.mkdir(parents=True, exist_ok=True)
        port = free_port()
        ca = None
        if tls:
            ca, cert, key = make_test_certs(d / "tls")
            conf = ["port 0", f"tls-port {port}", f"tls-cert-file {cert}", f"tls-key-file {key}",
                    f"tls-ca-cert-file {ca}", "tls-auth-clients no"]
        else:
            conf = [f"port {port}"]
        conf += [f"bind {LOOPBACK}", 'save ""', "appendonly no", f"dir {d}",
                "daemonize no", f"logfile {d / 'redis.log'}", "protected-mode yes",
                f"maxmemory {maxmemory or 0}", f"maxmemory-policy {policy}"]
        if password:
            if user and user != "default":
                conf += ["user default off", f"user {user} on >{password} ~* &* +@all"]
            else:
                conf.append(f"requirepass {password}")
        conf += [f"{k} {v}" for k, v in (extra or {}).items()]
        cfg = d / "redis.conf"
        cfg.write_text("\n".join(conf) + "\n")
        cfg.chmod(0o600)
        proc = subprocess.Popen([binary, str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=detach)
        srv = cls(proc, port, d, user=user, password=password, ca_file=ca)
        try:
            wait_for(lambda: port_open(port), timeout_s, f"redis-server on {srv.address}", proc,
                     d / "redis.log")
        except Exception:
            srv.stop()
            raise
        return srv

    def stop(self) -> None:
        stop_process(self.proc)

    def restart(self, timeout_s: float = 15.0) -> None:
        """Stop and start the same server (same port and config; a new run_id, counters from zero)."""
        self.stop()
        binary = find_binary("redis-server", "/usr/bin/redis-server")
        self.proc = subprocess.Popen([binary, str(self.dir / "redis.conf")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), timeout_s, f"redis-server on {self.address}", self.proc,
                 self.dir / "redis.log")

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_test_certs(dir: Path) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key) for 127.0.0.1, made with openssl; for lab/test servers only."""
    openssl = find_binary("openssl", "/usr/bin/openssl")
    dir.mkdir(parents=True, exist_ok=True)
    ca, ca_key = dir / "ca.crt", dir / "ca.key"
    cert, key, csr, ext = dir / "server.crt", dir / "server.key", dir / "server.csr", dir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=workbench-lab-ca",
        "-keyout", str(ca_key), "-out", str(ca))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", str(cert))
    return ca, cert, key


def run_benchmark(srv: RedisServer, *, tests: str = "get", requests: int = 10_000, clients: int = 10,
                  keyspace: int | None = None, data_size: int | None = None, pipeline: int = 1,
                  timeout_s: float = 120.0) -> str:
    """Run `redis-benchmark -t TESTS -n REQUESTS` against SRV; return its quiet (-q) output.

    KEYSPACE uses random keys `key:000000000123` in [0, KEYSPACE) (-r), so GETs mix hits and misses.
    """
    binary = find_binary("redis-benchmark", "/usr/bin/redis-benchmark")
    cmd = [binary, "-h", srv.host, "-p", str(srv.port), "-t", tests, "-n", str(requests), "-c", str(clients),
           "-P", str(pipeline), "-q"]
    if keyspace:
        cmd += ["-r", str(keyspace)]
    if data_size:
        cmd += ["-d", str(data_size)]
    if srv.password:
        cmd += ["--user", srv.user or "default", "-a", srv.password] if srv.user else ["-a", srv.password]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False,
                         env={"PATH": "/usr/bin:/bin"})
    if out.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed ({out.returncode}): {out.stderr.strip()[-300:]}")
    return out.stdout
