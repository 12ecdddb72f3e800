"""Cache detectors over a Redis period (`workbench.analysis.redis.cache_period`): hit ratio, evictions,
memory against maxmemory, slow commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workbench.analysis.bottleneck_checks import Finding, finding, rate_confidence, volume_confidence
from workbench.analysis.bottleneck_checks.rules import RULES

MIN_LOOKUPS = 100
MIN_COMMAND_CALLS = 10


def cache(summary: Mapping[str, Any], stats: Mapping[str, Any] | None, sensitivity: str,
          server: str = "redis") -> list[Finding]:
    """SUMMARY: `period_summary(intervals)`; STATS: `redis_stats` over the period (commands, memory)."""
    out: list[Finding] = []
    hits, misses = float(summary.get("keyspace_hits") or 0), float(summary.get("keyspace_misses") or 0)
    lookups = hits + misses
    if lookups >= MIN_LOOKUPS:
        f = finding("cache", "hit_ratio", f"Redis {server} keyspace hit ratio", misses / lookups, sensitivity,
                    impact=1.0,
                    confidence=rate_confidence(misses, lookups, RULES["cache:hit_ratio"].threshold(sensitivity)),
                    evidence={"hit_ratio": hits / lookups, "keyspace_hits": hits, "keyspace_misses": misses,
                              "worst_interval_hit_ratio": summary.get("worst_hit_ratio"),
                              "intervals": summary.get("intervals"), "target": 0.8})
        if f is not None:
            out.append(f)
    evicted = float(summary.get("evicted_keys") or 0)
    f = finding("cache", "evictions", f"Redis {server} evictions", evicted, sensitivity,
                impact=min(1.0, evicted / lookups) if lookups else 1.0,
                evidence={"evicted_keys": evicted, "expired_keys": summary.get("expired_keys"), "lookups": lookups})
    if f is not None:
        out.append(f)
    mem = (stats or {}).get("memory") or {}
    if mem.get("used_ratio") is not None:
        f = finding("cache", "memory", f"Redis {server} memory vs maxmemory", float(mem["used_ratio"]), sensitivity,
                    impact=1.0, evidence={k: mem.get(k) for k in ("used_memory_bytes", "maxmemory_bytes",
                                                                  "maxmemory_policy")})
        if f is not None:
            out.append(f)
    commands = (stats or {}).get("commands") or {}
    total_usec = sum(float(v.get("usec") or 0) for v in commands.values())
    for name, v in commands.items():
        calls = float(v.get("calls") or 0)
        if calls < MIN_COMMAND_CALLS:
            continue
        f = finding("cache", "slow_command", f"Redis command {name.upper()}", float(v.get("usec_per_call") or 0),
                    sensitivity, impact=float(v.get("usec") or 0) / total_usec if total_usec else 0.0,
                    confidence=volume_confidence(calls, 1000, 0.3),
                    evidence={"calls": calls, "usec": v.get("usec"), "usec_per_call": v.get("usec_per_call"),
                              "p99_usec": (v.get("latency_percentiles_usec") or {}).get("p99")})
        if f is not None:
            out.append(f)
    return out
