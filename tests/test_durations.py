"""One duration parser for every option; one repeat loop for --every/--count."""

from __future__ import annotations

import pytest

from workbench.cli.repeat import repeat_snapshots
from workbench.durations import parse_duration_s
from workbench.errors import WorkbenchError


@pytest.mark.parametrize("text, seconds", [("15s", 15), ("1h30m", 5400), ("500ms", 0.5), ("300", 300),
                                           ("0.25", 0.25), ("1d", 86400), (2, 2.0)])
def test_parse(text, seconds):
    assert parse_duration_s(text) == seconds


def test_signed_and_positive():
    assert parse_duration_s("-30s", signed=True) == -30 and parse_duration_s("+1m", signed=True) == 60
    for bad in ("-30s", "-5", "nan", "5 minutes", "1m foo", ""):
        with pytest.raises(WorkbenchError, match="bad duration"):
            parse_duration_s(bad)
    with pytest.raises(WorkbenchError, match="must be positive"):
        parse_duration_s("0s", positive=True)


def test_repeat_snapshots_counts_and_spacing():
    import time

    calls: list[float] = []
    repeat_snapshots(lambda: calls.append(time.monotonic()), "0.05s", 3, "test")
    assert len(calls) == 3 and calls[2] - calls[0] >= 0.09
    repeat_snapshots(lambda: calls.append(0.0), None, None, "test")
    assert len(calls) == 4
    with pytest.raises(WorkbenchError, match="--count 2 needs --every"):
        repeat_snapshots(lambda: None, None, 2, "test")
