"""Plots of the ROI report (notebooks/70_roi): cumulative cash flow with the payback point, the NPV
distribution and the tornado. Results of `workbench.roi` in, Figures out."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

_MONEY = mticker.FuncFormatter(lambda x, _: f"-${-x:,.0f}" if x < 0 else f"${x:,.0f}")


def cash_flow_chart(flows: pd.DataFrame, payback_months: float | None, title: str = "Cumulative cash flow") -> plt.Figure:
    """Cumulative (and discounted cumulative) cash flow by month, the payback point marked."""
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(flows["month"], flows["cash_flow"], color="#c6dbef", label="cash flow in the month")
    ax.plot(flows["month"], flows["cumulative"], marker="o", color="#08519c", label="cumulative")
    ax.plot(flows["month"], flows["discounted_cumulative"], linestyle="--", color="#6baed6",
            label="cumulative, discounted")
    ax.axhline(0, color="black", linewidth=0.8)
    if payback_months is not None and payback_months <= flows["month"].max():
        ax.axvline(payback_months, color="#1a7f37", linestyle=":")
        ax.annotate(f"payback {payback_months:.1f} months", (payback_months, 0), xytext=(6, 12),
                    textcoords="offset points", color="#1a7f37")
    ax.yaxis.set_major_formatter(_MONEY)
    ax.set(xlabel="month", ylabel="money", title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def npv_histogram(npv: np.ndarray, title: str = "NPV across simulated scenarios") -> plt.Figure:
    """Histogram of the Monte Carlo NPVs with P10/P50/P90 and zero marked."""
    p10, p50, p90 = np.percentile(npv, [10, 50, 90])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.hist(npv, bins=80, color="#9ecae1", edgecolor="none")
    for x, label, style in ((p10, "P10", ":"), (p50, "P50", "-"), (p90, "P90", ":")):
        ax.axvline(x, color="#08519c", linestyle=style)
        ax.annotate(label, (x, ax.get_ylim()[1]), xytext=(3, -12), textcoords="offset points", color="#08519c")
    ax.axvline(0, color="#cf222e", linewidth=1)
    ax.xaxis.set_major_formatter(_MONEY)
    ax.set(xlabel="NPV", ylabel="scenarios", title=f"{title}: P(NPV > 0) = {np.mean(npv > 0):.0%}")
    fig.tight_layout()
    return fig


def tornado_chart(rows: list[dict[str, Any]], base_npv: float, title: str = "What moves the NPV") -> plt.Figure:
    """One bar per uncertain input: NPV with it at its P10 and at its P90, the rest at their medians."""
    rows = rows[::-1]   # widest swing on top
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.4))
    y = np.arange(len(rows))
    for i, r in enumerate(rows):
        for value, colour in ((r["npv_at_p10"], "#fdae6b"), (r["npv_at_p90"], "#6baed6")):
            ax.barh(i, value - base_npv, left=base_npv, color=colour)
    ax.axvline(base_npv, color="black", linewidth=0.8)
    ax.set_yticks(y, [r["input"] for r in rows])
    ax.xaxis.set_major_formatter(_MONEY)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color="#fdae6b"), plt.Rectangle((0, 0), 1, 1, color="#6baed6")],
              labels=["input at its P10", "input at its P90"], fontsize=8, loc="lower right")
    ax.set(xlabel="NPV", title=title)
    fig.tight_layout()
    return fig
