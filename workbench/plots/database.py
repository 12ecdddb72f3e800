"""Plots of the database report (notebooks/20_database.ipynb). DataFrames in, Figures out.

The frames are the ones `workbench.analysis.postgres.database_report` bundles: `report.top.statements`,
`report.tables`, `report.bloat` and the `report.hits` dict of hit-ratio frames.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from workbench.analysis.postgres import HIT_RATIO_TARGET


def _bar_height(n: int) -> tuple[float, float]:
    return (10, 0.35 * n + 1.5)


def statement_pareto(statements: pd.DataFrame, n: int = 15) -> plt.Figure:
    """Pareto of the top N statements: bars of their share of execution time, line of the cumulative share."""
    head = statements.head(n).iloc[::-1]
    labels = [(q or "?")[:60] for q in head["query"]]
    fig, ax = plt.subplots(figsize=_bar_height(len(head)))
    ax.barh(labels, head["time_share"] * 100, color="tab:blue")
    ax2 = ax.twiny()
    ax2.plot(head["cum_time_share"] * 100, labels, color="tab:red", marker="o")
    ax.set_xlabel("share of execution time (%)")
    ax2.set_xlabel("cumulative share (%)", color="tab:red")
    ax2.set_xlim(0, 105)
    fig.tight_layout()
    return fig


def seq_scan_bars(tables: pd.DataFrame, interval: bool = True, n: int = 15) -> plt.Figure:
    """Rows read by sequential scans per table (symlog), in the interval or, for one snapshot, since reset."""
    t = tables.head(n).iloc[::-1]
    fig, ax = plt.subplots(figsize=_bar_height(len(t)))
    ax.barh(t["table"], t["seq_tup_read"], color="tab:orange")
    ax.set_xscale("symlog")
    ax.set_xlabel("rows read by sequential scans" + (" in the interval" if interval else " since reset"))
    fig.tight_layout()
    return fig


def bloat_bars(bloat: pd.DataFrame, n: int = 12) -> plt.Figure:
    """Estimated bloat (MB) per table or index, leaving out rows without usable statistics (`is_na`)."""
    b = bloat[~bloat["is_na"]].head(n).iloc[::-1]
    fig, ax = plt.subplots(figsize=_bar_height(len(b)))
    ax.barh(b["table"] + " " + b["index"].fillna(""), b["bloat_bytes"] / 1e6, color="tab:purple")
    ax.set_xlabel("estimated bloat (MB)")
    fig.tight_layout()
    return fig


def hit_ratio_panels(hits: dict[str, pd.DataFrame], n: int = 10) -> plt.Figure:
    """One panel per hit-ratio frame (databases, tables, indexes): bars red under the 99% line, green above."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
    for ax, (name, df) in zip(axes, hits.items(), strict=False):
        d = df.dropna(subset=["hit_ratio"]).head(n)
        ax.barh(d["name"], d["hit_ratio"] * 100, color=["tab:red" if x else "tab:green" for x in d["below_99pct"]])
        ax.axvline(HIT_RATIO_TARGET * 100, color="black", linestyle="--", linewidth=1)
        ax.set_xlim(min(90, (d["hit_ratio"].min() * 100) if len(d) else 90), 100)
        ax.set_title(name)
    fig.tight_layout()
    return fig
