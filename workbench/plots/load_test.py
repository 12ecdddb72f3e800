"""Plots of the load-test report (notebooks/10_load_test.ipynb). DataFrames in, Figures out."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def load_test_panels(ts: pd.DataFrame, title: str = "") -> plt.Figure:
    """2x2 panels over elapsed seconds: latency percentiles, RPS, error rate, VUs and transfer rate."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    x = ts["elapsed_s"]
    ax = axes[0, 0]
    for col, lab in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        ax.plot(x, ts[col], label=lab)
    ax.set(title="Latency (ms)", ylabel="ms")
    ax.legend()
    axes[0, 1].plot(x, ts["rps"], color="C2")
    axes[0, 1].set(title="Requests per second", ylabel="req/s")
    axes[1, 0].plot(x, 100 * ts["error_rate"].fillna(0), color="C3")
    axes[1, 0].set(title="Error rate (http_req_failed, %)", ylabel="%", xlabel="elapsed s")
    ax = axes[1, 1]
    ax.plot(x, ts["vus"], color="C4", label="VUs")
    ax.set(title="VUs and transfer", ylabel="VUs", xlabel="elapsed s")
    ax2 = ax.twinx()
    ax2.plot(x, ts["received_bytes_per_s"] / 1024, color="C5", alpha=.7, label="received kB/s")
    ax2.plot(x, ts["sent_bytes_per_s"] / 1024, color="C6", alpha=.7, label="sent kB/s")
    ax2.set_ylabel("kB/s")
    ax2.grid(False)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def timing_bars(breakdown: pd.DataFrame) -> plt.Figure:
    """Stacked bars of mean ms per request phase per endpoint: where the time goes."""
    df = breakdown.set_index("endpoint")
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(df) + 1.5))
    df.plot.barh(stacked=True, ax=ax, colormap="tab10")
    ax.set(title="Where the time goes (mean ms per request phase)", xlabel="ms", ylabel="")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def endpoint_bars(endpoints: pd.DataFrame) -> plt.Figure:
    """p50/p95/p99 per endpoint, grouped bars."""
    df = endpoints.melt(id_vars="endpoint", value_vars=["p50_ms", "p95_ms", "p99_ms"], var_name="stat",
                        value_name="ms")
    fig, ax = plt.subplots(figsize=(10, 4))
    sns.barplot(df, x="endpoint", y="ms", hue="stat", ax=ax)
    ax.set(title="Latency per endpoint", xlabel="", ylabel="ms")
    fig.tight_layout()
    return fig


def phase_panels(phases: pd.DataFrame, title: str = "") -> plt.Figure:
    """p95 of each request phase over elapsed seconds, one small panel each (k6 dashboard's Timings)."""
    cols = [c for c in phases.columns if c not in ("t", "elapsed_s")]
    fig, axes = plt.subplots(2, 3, figsize=(12, 5.5), sharex=True)
    for ax, col, colour in zip(axes.flat, cols, sns.color_palette(n_colors=len(cols)), strict=False):
        ax.plot(phases["elapsed_s"], phases[col], color=colour)
        ax.set(title=f"{col} p95 (ms)", xlabel="elapsed s")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def iteration_panels(ts: pd.DataFrame) -> plt.Figure:
    """Iterations per second and iteration duration p95 over elapsed seconds."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.2), sharex=True)
    a.plot(ts["elapsed_s"], ts["iterations_per_s"], color="C1")
    a.set(title="Iterations per second", xlabel="elapsed s", ylabel="it/s")
    b.plot(ts["elapsed_s"], ts["iteration_p95_ms"], color="C4")
    b.set(title="Iteration duration p95 (ms)", xlabel="elapsed s", ylabel="ms")
    fig.tight_layout()
    return fig
