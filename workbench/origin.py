"""Where data comes from: the bundled samples and lab runs (marked in `ingests.origin`) are not
production evidence, and reports built on them say so with the one caveat text below."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

SAMPLE, LAB = "sample", "lab"
CAVEAT = ("The bundled samples and lab runs are measured on a shared 2-core machine against services on "
          "loopback: such numbers show that the analysis is right and how things scale, not how a "
          "production system performs.")


def lab_origins(con: duckdb.DuckDBPyConnection, runs: Iterable[str | None] | str | None = None) -> set[str]:
    """The non-production origins ('sample', 'lab') among the store's finished ingests (only those of RUNS
    when given: k6 runs or Prometheus series names, a list or comma-separated). Empty: the data is the
    user's own."""
    where, params = "finished_at IS NOT NULL AND origin IN (?, ?)", [SAMPLE, LAB]
    if runs is not None:
        runs = [r.strip() for r in (runs.split(",") if isinstance(runs, str) else runs) if r and r.strip()]
        if not runs:
            return set()
        where += f" AND run IN ({', '.join('?' * len(runs))})"
        params += runs
    return {r[0] for r in con.execute(f"SELECT DISTINCT origin FROM ingests WHERE {where}", params).fetchall()}
