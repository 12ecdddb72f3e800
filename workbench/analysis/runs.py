"""k6 runs: which are stored, and when each ran. Every run span comes from the `k6_run_spans` view
(first and last sample, points, requests), so reports, compare and the bottleneck scope agree."""

from __future__ import annotations

import datetime as dt

import duckdb

from workbench.errors import WorkbenchError


def known(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every stored run, sorted by name."""
    return [r[0] for r in con.execute("SELECT run FROM k6_runs ORDER BY run").fetchall()]


def check(con: duckdb.DuckDBPyConnection, runs: list[str]) -> None:
    """Raise a one-line error naming the stored runs when any of RUNS is not stored."""
    have = set(known(con))
    missing = [r for r in runs if r not in have]
    if missing:
        hint = ", ".join(sorted(have)) or "none: `workbench ingest k6 FILE --run RUN` first"
        raise WorkbenchError(f"unknown k6 run(s) {', '.join(missing)} (stored runs: {hint})")


def span(con: duckdb.DuckDBPyConnection, run: str) -> tuple[dt.datetime, dt.datetime] | None:
    """(first sample, last sample) of RUN; None when it has no points (a summary only, or not stored)."""
    row = con.execute("SELECT started_at, ended_at FROM k6_run_spans WHERE run = ?", [run]).fetchone()
    return None if row is None or row[0] is None else (row[0], row[1])


def span_s(con: duckdb.DuckDBPyConnection, run: str) -> tuple[float, float] | None:
    """`span` in epoch seconds (microsecond resolution, as DuckDB's `epoch`)."""
    row = con.execute("SELECT epoch(started_at), epoch(ended_at) FROM k6_run_spans WHERE run = ?", [run]).fetchone()
    return None if row is None or row[0] is None else (float(row[0]), float(row[1]))


def duration_s(con: duckdb.DuckDBPyConnection, run: str) -> float:
    """Seconds from RUN's first to its last sample (0.0 without points)."""
    row = con.execute("SELECT (epoch_us(ended_at) - epoch_us(started_at)) / 1e6 FROM k6_run_spans WHERE run = ?",
                      [run]).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def latest(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run whose points end last (for notebooks run without a `run` parameter)."""
    row = con.execute("SELECT run FROM k6_run_spans ORDER BY ended_at DESC NULLS LAST LIMIT 1").fetchone()
    return row[0] if row else None


def overlapping(con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime) -> list[str]:
    """Runs with points between START and END, oldest first."""
    rows = con.execute("SELECT run FROM k6_run_spans WHERE ended_at >= ? AND started_at <= ? ORDER BY started_at",
                       [start, end]).fetchall()
    return [r[0] for r in rows]
