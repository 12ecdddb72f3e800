"""Plots of the cache-and-metrics report (notebooks/30_cache_and_metrics.ipynb). DataFrames in, Figures out."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from workbench.analysis.prometheus import HIGH_RESPONSE_TIME_S
from workbench.analysis.redis import CACHE_HIT_TARGET_RATIO

MIB = 1024 * 1024


def hit_ratio_plot(intervals: pd.DataFrame, target: float = CACHE_HIT_TARGET_RATIO) -> plt.Figure:
    """Keyspace hit ratio per interval against the 80% rule; intervals under 100 lookups drawn hollow."""
    iv = intervals
    fig, ax = plt.subplots(figsize=(9, 3.5))
    busy = (iv["keyspace_hits"] + iv["keyspace_misses"]) >= 100
    ax.plot(iv["taken_at"], iv["hit_ratio"], color="tab:blue", lw=1)
    ax.scatter(iv["taken_at"][busy], iv["hit_ratio"][busy], color="tab:blue", zorder=3, label="hit ratio")
    ax.scatter(iv["taken_at"][~busy], iv["hit_ratio"][~busy], facecolors="none", edgecolors="tab:blue", zorder=3)
    ax.axhline(target, color="tab:red", ls="--", label=f"{target:.0%} rule (CacheHitRateLow)")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("keyspace hit ratio")
    ax.legend(loc="lower right")
    fig.autofmt_xdate()
    return fig


def evictions_plot(intervals: pd.DataFrame) -> plt.Figure:
    """Evicted and expired keys per snapshot interval, side by side."""
    fig, ax = plt.subplots(figsize=(9, 3))
    x = range(len(intervals))
    ax.bar([i - 0.2 for i in x], intervals["evicted_keys"], width=0.4, label="evicted keys", color="tab:red")
    ax.bar([i + 0.2 for i in x], intervals["expired_keys"], width=0.4, label="expired keys", color="tab:gray")
    ax.set_xticks(list(x), [f"{a}→{b}" for a, b in zip(intervals["from"], intervals["to"], strict=True)])
    ax.set_xlabel("snapshot interval")
    ax.legend()
    return fig


def memory_plot(memory: pd.DataFrame) -> plt.Figure:
    """used_memory and RSS per snapshot in MiB, with maxmemory when one is set."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(memory["taken_at"], memory["used_memory_bytes"] / MIB, marker="o", label="used_memory")
    ax.plot(memory["taken_at"], memory["used_memory_rss_bytes"] / MIB, marker=".", ls=":", label="RSS")
    if (memory["maxmemory_bytes"] > 0).any():
        ax.plot(memory["taken_at"], memory["maxmemory_bytes"] / MIB, color="tab:red", ls="--", label="maxmemory")
    ax.set_ylabel("MiB")
    ax.legend()
    fig.autofmt_xdate()
    return fig


def series_plot(frame: pd.DataFrame, kind: str, title: str, name: str = "",
                threshold_s: float = HIGH_RESPONSE_TIME_S, target: float = CACHE_HIT_TARGET_RATIO) -> plt.Figure:
    """One Prometheus set (a `series_frame`), a line per label set, with the rule that fits its KIND."""
    fig, ax = plt.subplots(figsize=(9, 3))
    for labels, part in frame.groupby("labels", sort=False):
        ax.plot(part["ts"], part["value"], lw=1, label=labels[:60] or name)
    if kind in ("p95", "p99"):
        ax.axhline(threshold_s, color="tab:red", ls="--", label=f"{threshold_s:.1f} s (HighResponseTime)")
        ax.set_ylabel("seconds")
    elif kind == "hit_ratio":
        ax.axhline(target, color="tab:red", ls="--", label=f"{target:.0%} rule")
    elif kind == "error_ratio":
        ax.set_ylabel("5xx / all")
    elif kind == "rps":
        ax.set_ylabel("requests / s")
    ax.set_title(title)
    if frame["labels"].nunique() <= 8:
        ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return fig
