"""perf-workbench: performance evidence (k6, PostgreSQL, Redis, Prometheus) in DuckDB, analysed and reported.

`workbench.open(db)` is the Python front door: one method per command (docs/python-api.md)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.api import Workbench

__version__ = "0.1.0"
__all__ = ["__version__", "open"]


def open(db: str | os.PathLike | None = None, read_only: bool = True) -> Workbench:
    """A handle on the store DB (None: $WORKBENCH_DB or data/workbench.duckdb) with one method per
    command; each call opens the store, reads (or, with read_only=False, writes) and closes it."""
    from workbench.api import Workbench

    return Workbench(db, read_only=read_only)
