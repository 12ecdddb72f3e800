"""The database report's figures (workbench.plots.database) and the text under its verdict, on the real
PostgreSQL snapshots of tests/data/tool_captures (an unindexed lookup on public.events, a duplicate index,
bloat estimates, a cache hit ratio under 99%: more than the lab plants)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from workbench.analysis import postgres as A
from workbench.plots import database as P
from workbench.sources.postgres import load_samples
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "tool_captures" / "postgres"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    db = tmp_path_factory.mktemp("pgplots") / "pg.duckdb"
    with Store.open(db) as store:
        load_samples(store, SAMPLES)
    with Store.open(db, read_only=True) as store:  # read-only, as the notebook opens it
        return A.database_report(store)



def _bar_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def test_statement_pareto_bars_and_cumulative_line(report):
    st = report.top.statements
    assert len(st) > 15
    fig = P.statement_pareto(st, 15)
    assert isinstance(fig, Figure)
    ax, ax2 = fig.axes
    bars = ax.patches
    assert len(bars) == 15
    # largest share on top (barh draws bottom-up), the unindexed events lookup leads with ~39%
    widths = [b.get_width() for b in bars]
    assert widths == sorted(widths)
    assert widths[-1] == pytest.approx(st.time_share.iloc[0] * 100)
    assert _bar_labels(ax)[-1].startswith("SELECT count(*), max(created_at) FROM events")
    assert all(len(label) <= 60 for label in _bar_labels(ax))
    (line,) = ax2.get_lines()
    cum = list(line.get_xdata())
    assert cum[-1] == pytest.approx(st.cum_time_share.iloc[0] * 100)
    assert cum[0] == pytest.approx(st.cum_time_share.iloc[14] * 100) and cum[0] <= 100
    assert ax2.get_xlim() == (0, 105)


def test_seq_scan_bars_symlog_and_label(report):
    fig = P.seq_scan_bars(report.tables, interval=report.from_snap is not None)
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog"
    assert ax.get_xlabel() == "rows read by sequential scans in the interval"
    by_table = dict(zip(_bar_labels(ax), (b.get_width() for b in ax.patches), strict=True))
    assert len(by_table) == len(report.tables) == 5
    assert by_table["public.events"] == 2_400_000 == max(by_table.values())
    assert _bar_labels(ax)[-1] == "public.events"
    one_snapshot = P.seq_scan_bars(report.tables, interval=False)
    assert one_snapshot.axes[0].get_xlabel() == "rows read by sequential scans since reset"


def test_bloat_bars_leave_out_rows_without_statistics(report):
    b = report.bloat
    assert b.is_na.sum() == 1 and len(b) == 12
    fig = P.bloat_bars(b)
    ax = fig.axes[0]
    labels = _bar_labels(ax)
    assert len(ax.patches) == 11
    assert "public.pgbench_history " not in labels  # the one is_na row
    assert labels[-1] == "public.pgbench_accounts "  # a table: no index name
    assert "public.events events_created_kind_idx" in labels
    assert ax.patches[-1].get_width() == pytest.approx(b.bloat_bytes.iloc[0] / 1e6)
    assert ax.get_xlabel() == "estimated bloat (MB)"


def test_hit_ratio_panels_colour_below_the_99pct_line(report):
    fig = P.hit_ratio_panels(report.hits)
    assert [ax.get_title() for ax in fig.axes] == ["databases", "tables", "indexes"]
    red, green = to_rgba("tab:red"), to_rgba("tab:green")
    for ax, (name, df) in zip(fig.axes, report.hits.items(), strict=True):
        d = df.dropna(subset=["hit_ratio"])
        assert _bar_labels(ax) == list(d["name"]), name  # no bar for a database without block requests
        assert [b.get_facecolor() for b in ax.patches] == [red if x else green for x in d["below_99pct"]]
        (line,) = ax.get_lines()
        assert list(line.get_xdata()) == [99, 99]
        assert ax.get_xlim()[1] == 100 and ax.get_xlim()[0] == min(90, d.hit_ratio.min() * 100)
    assert _bar_labels(fig.axes[0]) == ["bench"]
    assert fig.axes[2].get_xlim()[0] == 0  # events_kind_idx: 0 of 1 block hit


def test_plots_accept_empty_frames(report):
    empty_hits = {k: v.iloc[0:0] for k, v in report.hits.items()}
    fig = P.hit_ratio_panels(empty_hits)
    assert all(not ax.patches and ax.get_xlim() == (90, 100) for ax in fig.axes)
    assert not P.bloat_bars(report.bloat.iloc[0:0]).axes[0].patches
    assert not P.statement_pareto(report.top.statements.iloc[0:0]).axes[0].patches


def test_summary_markdown(report):
    md = report.summary_markdown()
    head, bullets = md.split(":\n\n", 1)
    assert head.endswith("pg_stat_statements 1.10, snapshots 2 → 3")
    assert "/bench, PostgreSQL 15." in head
    assert bullets.splitlines() == [f"- {line}" for line in report.verdict()]
    assert any(b.startswith("- Cache hit ratio under 99%: bench 98.") for b in bullets.splitlines())
    noted = A.DatabaseReport(3, note="only one snapshot", server=report.server, tables=pd.DataFrame(
        {"table": [], "seq_tup_read": [], "seq_scan": []}))
    assert "snapshot 3:" in noted.summary_markdown() and noted.summary_markdown().endswith("_only one snapshot_")
    assert A.DatabaseReport(None, note="no store").summary_markdown() == "**No PostgreSQL data:** no store"
