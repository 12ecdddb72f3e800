"""The cache-and-metrics report (notebooks/30_cache_and_metrics.ipynb): Redis and Prometheus evidence
read from the store in one go, and the verdict that combines them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import duckdb

from workbench.analysis import prometheus as prom
from workbench.analysis import redis as rs
from workbench.analysis.verdict import Verdict
from workbench.errors import WorkbenchError
from workbench.store import reading


@dataclass
class CacheReport:
    """What the report shows: the Redis period, the Prometheus sets, and why either part is empty."""

    redis: rs.CachePeriod
    prom: list[prom.SeriesSet] = field(default_factory=list)
    prom_note: str | None = None


def load_prometheus(con: duckdb.DuckDBPyConnection, names: str = "") -> tuple[list[prom.SeriesSet], str | None]:
    """The stored sets NAMES (default: all) and a note when there are none (the part is optional)."""
    sets = prom.series_sets(con, names)
    return sets, None if sets else "No Prometheus series stored."


def load_report(db: str | os.PathLike, redis_server: str | None = None, redis_from: str | int | None = None,
                redis_to: str | int | None = None, prom_names: str = "") -> CacheReport:
    """Read everything the report needs from store DB (read-only, closed on return). A store that cannot
    be read, or a snapshot that does not exist, gives an empty report whose notes say why."""
    try:
        with reading(db) as store:
            period = rs.cache_period(store.con, redis_server, redis_from, redis_to)
            sets, note = load_prometheus(store.con, prom_names)
    except WorkbenchError as e:
        return CacheReport(rs.CachePeriod(note=f"No data: {e}"), [], f"No data: {e}")
    return CacheReport(period, sets, note)


def cache_verdict(report: CacheReport, target: float = rs.CACHE_HIT_TARGET_RATIO,
                  threshold_s: float = prom.HIGH_RESPONSE_TIME_S) -> Verdict:
    """Redis findings first (their first line is the headline, the rest details), then one line per P95 /
    5xx set; pass or fail is the hit ratio against TARGET (None without lookups or Redis data). The caveat on samples and lab
    data is the notebook's `show_caveat`."""
    lines = report.redis.findings(target)
    if report.prom_note:
        lines.append(f"Prometheus: {report.prom_note}")
    else:
        lines += [f for s in report.prom if (f := prom.series_finding(s, threshold_s))]
    hit = None if report.redis.note else report.redis.summary.get("hit_ratio")
    return Verdict.judged(None if hit is None else hit >= target, lines[0], None, lines[1:])
