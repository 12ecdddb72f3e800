"""Shared helpers for lab services: free ports, waiting for readiness, running as another user."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (never a service's default, since the OS picks from the ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, proc: subprocess.Popen | None = None,
             log: Path | None = None) -> None:
    """Poll CHECK until it returns True; fail with the service's log tail if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}: {tail(log)}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout_s:.0f}s: {tail(log)}")


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not Path(log).exists():
        return ""
    return " | ".join(Path(log).read_text(errors="replace").splitlines()[-lines:])


def find_binary(name: str, *candidates: str) -> str:
    """The path of NAME on PATH or in CANDIDATES; a clear error naming the Debian package if missing."""
    found = shutil.which(name)
    if found:
        return found
    for c in candidates:
        if Path(c).exists():
            return c
    raise FileNotFoundError(f"{name} not found: run `make services` (installs Debian's packages)")


def service_user(name: str = "postgres") -> tuple[int, int] | None:
    """(uid, gid) to drop to when running as root (PostgreSQL refuses root); None when not root."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def chown_tree(path: Path, ids: tuple[int, int] | None) -> None:
    if ids is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, *ids)
        for f in dirs + files:
            os.chown(os.path.join(root, f), *ids)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after TIMEOUT_S."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
