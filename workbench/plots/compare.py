"""Plots of the before/after and A/B reports (notebooks/40_before_after, 50_ab_test). DataFrames in, Figures out.

`latency_frame` (workbench.analysis.compare) gives the long latency frame (arm, endpoint, latency_ms);
`results_frame` gives the result rows the forest plot reads. Endpoints are drawn in name order: the
store returns rows in no fixed order, and a report rebuilt from the same samples should look the same.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

VERDICT_COLOURS = {"improved": "#1a7f37", "regressed": "#cf222e", "no_change": "#57606a", "inconclusive": "#bf8700"}
LATENCY_METRICS = ("p50_ms", "p95_ms", "p99_ms")


def latency_ecdfs(lat: pd.DataFrame, height: float = 2.8, aspect: float = 1.3, sharex: bool = False) -> plt.Figure:
    """ECDF of latency per arm, one panel per endpoint (by name), log x axis (a shift left is faster)."""
    g = sns.displot(lat, x="latency_ms", hue="arm", col="endpoint", col_wrap=3, kind="ecdf", log_scale=True,
                    col_order=sorted(lat["endpoint"].unique()), height=height, aspect=aspect,
                    facet_kws={"sharex": sharex})
    g.set_axis_labels("latency (ms, log)", "share of requests")
    for ax in g.axes.flat:
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    return g.figure


def latency_violins(lat: pd.DataFrame, title: str = "Latency by endpoint", width: float = 10) -> plt.Figure:
    """Split violins of latency per endpoint (by name), one half per arm, log y axis, quartiles drawn."""
    fig, ax = plt.subplots(figsize=(width, 4))
    sns.violinplot(lat, x="endpoint", y="latency_ms", hue="arm", split=True, log_scale=True, inner="quart", ax=ax,
                   cut=0, order=sorted(lat["endpoint"].unique()))
    ax.set(ylabel="latency (ms, log)", title=title)
    return fig


def forest(res: pd.DataFrame, title: str) -> plt.Figure:
    """Per-endpoint change (%) with its CI for the latency percentiles, coloured by verdict."""
    df = res[res.metric.isin(LATENCY_METRICS)].dropna(subset=["change_pct"]).copy()
    df["label"] = df.endpoint + " · " + df.metric
    df = df.iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(df) + 1.2))
    y = np.arange(len(df))
    lo = (df.change_pct - df.ci_low_pct).fillna(0).clip(lower=0)
    hi = (df.ci_high_pct - df.change_pct).fillna(0).clip(lower=0)
    for verdict, colour in VERDICT_COLOURS.items():
        m = (df.verdict == verdict).to_numpy()
        if m.any():
            ax.errorbar(df.change_pct[m], y[m], xerr=[lo[m], hi[m]], fmt="o", color=colour, label=verdict, capsize=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, df.label)
    ax.set(xlabel="change (%), 95% CI", title=title)
    ax.legend(loc="lower right", fontsize=8)
    return fig
