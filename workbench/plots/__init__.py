"""One place for figure style and the plots notebooks share. Functions take DataFrames, return Figures.

`style()` first; then the per-report modules: `load_test` (10), `database` (20), `cache` (30),
`compare` (40, 50).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

PALETTE = "colorblind"


def style() -> None:
    """The workbench look: seaborn whitegrid, colour-blind palette, readable sizes."""
    sns.set_theme(style="whitegrid", palette=PALETTE, rc={"figure.figsize": (10, 4), "figure.dpi": 100,
                                                          "axes.titleweight": "bold"})


def ecdf_by(samples: pd.DataFrame, value: str, hue: str, title: str, log: bool = True) -> plt.Figure:
    """ECDF of VALUE per HUE (e.g. run or variant), log x axis for latency."""
    fig, ax = plt.subplots(figsize=(10, 4))
    sns.ecdfplot(samples, x=value, hue=hue, ax=ax, log_scale=log)
    ax.set(title=title)
    fig.tight_layout()
    return fig


from workbench.plots.load_test import (  # noqa: E402
    endpoint_bars,
    iteration_panels,
    load_test_panels,
    phase_panels,
    timing_bars,
)

__all__ = ["PALETTE", "style", "ecdf_by", "endpoint_bars", "load_test_panels", "timing_bars",
           "phase_panels", "iteration_panels"]
