"""Plots of the bottleneck report (notebooks/60_bottlenecks.ipynb). Frames in, Figures out.

The frames are `BottleneckReport.to_frame()` and the evidence it keeps in `report.frames`: the N+1
interval counts, the API's time buckets, the cache period, the Prometheus cpu/memory sets.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

COLOURS = {"database": "tab:blue", "api": "tab:orange", "cache": "tab:green", "system": "tab:purple"}


def score_bars(findings: pd.DataFrame, n: int = 15) -> plt.Figure:
    """The top N findings' scores (bars coloured by component) with impact, severity and confidence dots."""
    top = findings.head(n).iloc[::-1]
    labels = [f"{c}/{k}: {i[:55]}" for c, k, i in zip(top["component"], top["check"], top["item"], strict=True)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 0.38 * len(top) + 1.6), sharey=True,
                                  gridspec_kw={"width_ratios": [3, 2]})
    ax.barh(labels, top["score"], color=[COLOURS.get(c, "grey") for c in top["component"]])
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (0-100)")
    for factor, marker in (("impact", "o"), ("severity", "s"), ("confidence", "^")):
        ax2.scatter(top[factor], labels, marker=marker, label=factor)
    ax2.set_xlim(-0.02, 1.02)
    ax2.set_xlabel("factor (0-1)")
    ax2.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def n_plus_one_scatter(calls: pd.DataFrame, requests: pd.DataFrame, queryid: int, endpoint: str,
                       label: str = "") -> plt.Figure:
    """A statement's calls against an endpoint's requests, one dot per snapshot interval, with the fit."""
    x = requests[endpoint].to_numpy(float)
    y = calls[queryid].to_numpy(float)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x, y)
    if np.ptp(x) > 0:
        k = float(np.dot(x, y) / np.dot(x, x))
        xs = np.linspace(0, x.max(), 10)
        ax.plot(xs, k * xs, color="tab:red", label=f"{k:.1f} calls per request")
        ax.legend()
    ax.set(xlabel=f"requests to {endpoint} per interval", ylabel="statement calls per interval",
           title=(label or str(queryid))[:60])
    fig.tight_layout()
    return fig


def latency_vs_load(buckets: pd.DataFrame) -> plt.Figure:
    """Median latency per time bucket against the bucket's total RPS, one colour per endpoint."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for ep, g in buckets.groupby("endpoint"):
        ax.scatter(g["total_rps"], g["p50_ms"], label=str(ep), s=18)
    ax.set(xlabel="requests per second (all endpoints)", ylabel="p50 latency (ms)", yscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def saturation_lines(frame: pd.DataFrame, capacity: float, title: str) -> plt.Figure:
    """Each series of a cpu or memory set as a share of CAPACITY over time."""
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for labels, g in frame.groupby("labels"):
        ax.plot(g["ts"], g["value"] / capacity, label=str(labels)[:60])
    ax.set(ylabel="share of capacity", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
