"""The one table behind bottleneck scoring: every check, its severity curve and its sensitivity thresholds.

Score of a finding (0-100)::

    score = 100 x weight x confidence x sqrt(impact x severity)

- impact (0-1): the share of the component's time, requests, lookups or bytes the item accounts for
  (1 for component-wide checks such as connections or the cache hit ratio);
- severity (0-1): how far the measured value is past "fine", on a log-normal curve per check, the way
  Lighthouse scores a metric: the curve is anchored at GOOD (severity 0.1) and BAD (severity 0.5),
  ``severity(x) = Phi((ln x - ln BAD) / sigma)`` with ``sigma = (ln BAD - ln GOOD) / Phi^-1(0.9)``;
- weight (0-1): per check, as Lighthouse weighs its metrics: 1 for a root cause (a statement, an
  endpoint, the cache hit ratio), less for a symptom or a housekeeping item (a table's hit ratio, an
  unused index);
- confidence (0-1): lower when the evidence is thin (few calls, requests or lookups, few snapshots, a
  statistics reset in the interval) or the effect is not statistically clear (a p-value, a correlation).

A check fires only when its value passes the threshold of the chosen sensitivity (`low` reports only
clear problems, `high` reports early signs). Values where lower is worse (hit ratios) are turned into
their complement (miss ratio) so that every curve rises with the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd
from scipy.stats import norm

from workbench.errors import WorkbenchError

SENSITIVITIES = ("low", "medium", "high")
COMPONENTS = ("database", "api", "cache", "system")
_Z90 = float(norm.ppf(0.9))


@dataclass(frozen=True)
class Rule:
    """One check: what it measures, its curve anchors, its thresholds and the playbook's remedy."""

    component: str
    check: str
    measures: str               # the value the curve and the thresholds apply to
    unit: str
    good: float                 # severity 0.1 here
    bad: float                  # severity 0.5 here
    low: float                  # fires at or above this value with --sensitivity low
    medium: float
    high: float
    impact: str                 # what the impact factor is a share of
    recommendation: str
    weight: float = 1.0

    def threshold(self, sensitivity: str) -> float:
        if sensitivity not in SENSITIVITIES:
            raise WorkbenchError(f"--sensitivity {sensitivity!r}: use one of {', '.join(SENSITIVITIES)}")
        return getattr(self, sensitivity)

    def severity(self, value: float) -> float:
        """The log-normal severity curve: 0.1 at GOOD, 0.5 at BAD, towards 1 beyond."""
        if value is None or not math.isfinite(value) or value <= 0:
            return 0.0
        sigma = (math.log(self.bad) - math.log(self.good)) / _Z90
        return float(norm.cdf((math.log(value) - math.log(self.bad)) / sigma))

    def fires(self, value: float | None, sensitivity: str) -> bool:
        return value is not None and math.isfinite(value) and value >= self.threshold(sensitivity)


def _r(*args: object) -> Rule:
    return Rule(*args)  # type: ignore[arg-type]


# component, check, measures, unit, good, bad, low, medium, high, impact, recommendation
RULES: dict[str, Rule] = {f"{r.component}:{r.check}": r for r in [
    _r("database", "statement_time", "execution seconds per wall-clock second (sessions it keeps busy)",
       "sessions", 0.01, 0.10, 0.10, 0.05, 0.01, "its share of execution time",
       "Tune this statement first (Pareto): EXPLAIN it (`workbench pg explain QUERYID`); add the composite or "
       "partial index its WHERE/JOIN/ORDER BY needs (`workbench advise` verifies one with hypopg)."),
    _r("database", "mean_time", "mean execution time per call", "ms", 10, 200, 500, 100, 20,
       "its share of execution time",
       "Slow per call: EXPLAIN (ANALYZE, BUFFERS) it; an index on its filter columns, a rewrite, or cache the "
       "result in Redis with a TTL."),
    _r("database", "temp_spill", "temporary file bytes written", "bytes", 1e6, 100e6, 100e6, 10e6, 1e6,
       "its share of execution time",
       "Sorts or hashes spill to disk: raise work_mem for this query (SET LOCAL work_mem) or add an index "
       "that returns rows in ORDER BY order."),
    _r("database", "seq_scan", "rows read by sequential scans", "rows", 1e5, 1e7, 1e7, 1e6, 1e5,
       "its share of all rows read by sequential scans",
       "A large table read by sequential scans: index the columns the statements filter on "
       "(`workbench advise`), or a partial index for the filtered subset."),
    _r("database", "n_plus_one", "statement calls per request of the endpoint", "calls/request", 2, 10,
       10, 3, 2, "its share of all statement calls",
       "N+1 queries: fetch the rows in one statement (a JOIN or WHERE id = ANY($1)) or batch the lookups; "
       "cache per request."),
    _r("database", "unused_index", "size of an index never scanned", "bytes", 1e6, 1e9, 100e6, 1e6, 8192,
       "its share of the table's index bytes",
       "Drop it (DROP INDEX CONCURRENTLY) after checking replicas and rare jobs: it slows every write."),
    _r("database", "duplicate_index", "size of an index another index covers", "bytes", 1e6, 1e9, 1e6, 8192,
       1, "its share of the table's index bytes",
       "Drop the redundant index (DROP INDEX CONCURRENTLY): the covering index serves the same lookups."),
    _r("database", "hit_ratio", "buffer cache miss ratio (1 - hit ratio)", "ratio", 0.005, 0.05, 0.05,
       0.01, 0.005, "its share of all blocks read from disk",
       "Below the 99% hit-ratio rule: raise shared_buffers / effective_cache_size, or index so fewer blocks are "
       "read."),
    _r("database", "stale_stats", "rows changed since the last analyze / live rows", "ratio", 0.1, 0.5,
       0.5, 0.2, 0.1, "its share of all rows changed since analyze",
       "Statistics are stale: VACUUM (ANALYZE) the table and tune autovacuum_analyze_scale_factor for it."),
    _r("database", "bloat", "estimated bloat / table or index size", "ratio", 0.2, 0.5, 0.5, 0.3, 0.2,
       "its share of all estimated bloat bytes",
       "Bloated: VACUUM (ANALYZE) and tune autovacuum for the table; pg_repack or REINDEX CONCURRENTLY for "
       "heavy bloat."),
    _r("database", "connections", "connections / max_connections", "ratio", 0.5, 0.85, 0.9, 0.8, 0.7,
       "the whole server",
       "Near max_connections: put PgBouncer in front (pool_mode = transaction, default_pool_size sized to "
       "the cores) and lower the application's pool max."),
    _r("database", "long_transaction", "age of the oldest open transaction", "s", 30, 300, 300, 60, 30,
       "the whole server",
       "Long transactions hold locks and block vacuum: commit sooner; set idle_in_transaction_session_timeout."),
    _r("database", "blocked", "longest wait of a session blocked by a lock", "s", 1, 30, 10, 1, 0.1,
       "the whole server",
       "Lock contention: find the root blocker (blocked_by), shorten its transaction, add lock_timeout."),
    _r("cache", "hit_ratio", "keyspace miss ratio (1 - hit ratio)", "ratio", 0.05, 0.5, 0.4, 0.2, 0.1,
       "all lookups",
       "Cache hit ratio below the playbook's 80% (CacheHitRateLow): warm the cache, cache the hot reads with "
       "a TTL that matches how often they change, check key naming."),
    _r("cache", "evictions", "keys evicted", "keys", 10, 10_000, 1000, 100, 1, "all lookups",
       "Keys are evicted: raise maxmemory, shorten TTLs, or pick an eviction policy (allkeys-lru)."),
    _r("cache", "memory", "used_memory / maxmemory", "ratio", 0.7, 0.95, 0.95, 0.9, 0.8, "the whole instance",
       "Memory near maxmemory: raise it, compress large values, or expire keys sooner."),
    _r("cache", "slow_command", "mean microseconds per call", "usec", 100, 10_000, 10_000, 1000, 100,
       "its share of all command time",
       "A slow command: avoid O(N) commands (KEYS, big SMEMBERS/HGETALL), pipeline, or split large values."),
    _r("api", "p95_slo", "p95 latency", "ms", 300, 1000, 2000, 1000, 500, "its share of all requests",
       "p95 over the SLO (playbook HighResponseTime: 1 s): look at this endpoint's database and cache findings; "
       "cache the response or stream/compress large payloads."),
    _r("api", "errors", "share of failed requests", "ratio", 0.001, 0.05, 0.05, 0.01, 0.001,
       "its share of all requests",
       "Errors: read the failing status codes; add a circuit breaker and timeouts around the failing "
       "dependency."),
    _r("api", "checks", "share of failed checks", "ratio", 0.001, 0.05, 0.05, 0.01, 0.001,
       "its share of all check evaluations", "Failing checks: read what the check asserts and fix the response."),
    _r("api", "thresholds", "k6 thresholds crossed", "count", 0.2, 1, 1, 1, 1, "the whole run",
       "A k6 threshold failed: the run misses its target; fix the findings above before release."),
    _r("api", "latency_slope", "latency growth across the run's load range", "ratio", 0.2, 1.0, 1.0, 0.5, 0.2,
       "its share of all requests",
       "Latency grows with load: a saturated resource (pool, lock, CPU); size the pool (PgBouncer), cache, or "
       "add a circuit breaker to shed load."),
    _r("system", "cpu", "CPU used / cores", "ratio", 0.5, 0.9, 0.95, 0.85, 0.7, "the host",
       "CPU near saturation: profile the process; scale out or cache the expensive work."),
    _r("system", "memory", "resident memory / host memory", "ratio", 0.5, 0.9, 0.95, 0.85, 0.7, "the host",
       "Memory near saturation: look for leaks and GC pressure; raise limits or reduce cache sizes."),
]}


# Lighthouse-style weights; checks not listed weigh 1.
WEIGHTS = {"database:temp_spill": 0.8, "database:seq_scan": 0.8, "database:unused_index": 0.5,
           "database:duplicate_index": 0.5, "database:hit_ratio": 0.7, "database:stale_stats": 0.6,
           "database:bloat": 0.6, "database:long_transaction": 0.9, "cache:evictions": 0.8, "cache:memory": 0.8,
           "cache:slow_command": 0.8, "api:checks": 0.8, "api:thresholds": 0.9, "api:latency_slope": 0.9,
           "system:cpu": 0.9, "system:memory": 0.9}
RULES = {k: replace(r, weight=WEIGHTS.get(k, 1.0)) for k, r in RULES.items()}


def score(impact: float, severity: float, confidence: float, weight: float = 1.0) -> float:
    """100 x weight x confidence x sqrt(impact x severity), each factor clipped to 0..1, rounded to 0.1."""
    f = [min(max(float(x), 0.0), 1.0) if x == x else 0.0 for x in (impact, severity, confidence, weight)]
    return round(100.0 * f[3] * f[2] * math.sqrt(f[0] * f[1]), 1)


def rules_frame() -> pd.DataFrame:
    """The table as a DataFrame (docs/bottlenecks.md and notebook 60 render it)."""
    return pd.DataFrame([{"component": r.component, "check": r.check, "measures": r.measures, "unit": r.unit,
                          "good (sev 0.1)": r.good, "bad (sev 0.5)": r.bad, "low": r.low, "medium": r.medium,
                          "high": r.high, "weight": r.weight, "impact = share of": r.impact} for r in RULES.values()])


def rules_markdown() -> str:
    """The table in Markdown (what docs/bottlenecks.md embeds between its markers)."""
    df = rules_frame()
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "\n".join("| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False))


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
