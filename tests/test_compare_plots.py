"""workbench.plots.compare: the figures of the before/after and A/B reports, on small constructed frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.plots import compare as cplots


def latency(endpoints=("login", "events", "alerts"), arms=("before", "after")) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame([{"arm": a, "endpoint": e, "latency_ms": float(v)}
                         for a in arms for e in endpoints for v in rng.lognormal(2.5, 0.5, 50)])


def results() -> pd.DataFrame:
    rows = [("events", "p50_ms", -30.0, -35.0, -25.0, "improved"),
            ("events", "p95_ms", -39.2, -40.8, -37.5, "improved"),
            ("login", "p95_ms", 12.0, 5.0, 20.0, "regressed"),
            ("login", "p99_ms", 2.0, None, None, "no_change"),      # burst: no interval
            ("alerts", "p99_ms", None, None, None, "no_change"),    # no change computable: left out
            ("all", "rps", 19.6, 10.0, 30.0, "improved")]           # not a latency percentile: left out
    return pd.DataFrame(rows, columns=["endpoint", "metric", "change_pct", "ci_low_pct", "ci_high_pct", "verdict"])


def test_forest_one_row_per_latency_change_coloured_by_verdict() -> None:
    fig = cplots.forest(results(), "after vs before")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["login · p99_ms", "login · p95_ms", "events · p95_ms", "events · p50_ms"]  # top row first
    assert ax.get_title() == "after vs before" and ax.get_xlabel() == "change (%), 95% CI"
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert legend == {"improved", "regressed", "no_change"}
    regressed = next(c for c in ax.containers if c.get_label() == "regressed")
    x, y = regressed.lines[0].get_data()
    assert list(x) == [12.0] and list(y) == [labels.index("login · p95_ms")]
    assert regressed.lines[0].get_color() == cplots.VERDICT_COLOURS["regressed"]
    assert ax.lines[-1].get_xdata()[0] == 0   # the no-change line
    assert fig.get_size_inches()[1] == pytest.approx(0.35 * 4 + 1.2)


def test_forest_without_regressions_has_no_regressed_entry() -> None:
    res = results()
    res = res[res.verdict != "regressed"]
    legend = {t.get_text() for t in cplots.forest(res, "t").axes[0].get_legend().get_texts()}
    assert legend == {"improved", "no_change"}


def test_latency_ecdfs_one_log_panel_per_endpoint() -> None:
    fig = cplots.latency_ecdfs(latency())
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["endpoint = alerts", "endpoint = events", "endpoint = login"]
    assert all(ax.get_xscale() == "log" for ax in panels)
    assert all(len(ax.lines) == 2 for ax in panels)   # one ECDF per arm
    assert panels[0].get_ylabel() == "share of requests"
    assert fig.legends and [t.get_text() for t in fig.legends[0].get_texts()] == ["before", "after"]


def test_latency_ecdfs_shared_or_free_x_axes() -> None:
    lat = latency()
    lat.loc[lat.endpoint == "login", "latency_ms"] *= 100
    free = [ax.get_xlim() for ax in cplots.latency_ecdfs(lat).axes]
    shared = [ax.get_xlim() for ax in cplots.latency_ecdfs(lat, height=3, aspect=1.4, sharex=True).axes]
    assert len(set(shared)) == 1 and len(set(free)) > 1


def test_latency_violins_split_by_arm_on_log_axis() -> None:
    fig = cplots.latency_violins(latency(arms=("standard", "optimized")), "Latency by variant", width=8)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_title() == "Latency by variant"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["alerts", "events", "login"]   # by name
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["standard", "optimized"]
    assert tuple(fig.get_size_inches()) == (8, 4)


def test_endpoint_order_does_not_depend_on_row_order() -> None:
    lat = latency()
    shuffled = lat.sample(frac=1, random_state=3).sort_values("arm", key=lambda a: a != "before", kind="stable")
    for plot in (cplots.latency_ecdfs, cplots.latency_violins):
        titles = [[ax.get_title() or [t.get_text() for t in ax.get_xticklabels()] for ax in plot(df).axes]
                  for df in (lat, shuffled)]
        assert titles[0] == titles[1]
