"""`--every DURATION --count N` for the collectors: one snapshot, or N of them DURATION apart."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from workbench.cli.output import err_console
from workbench.durations import parse_duration_s
from workbench.errors import WorkbenchError


def repeat_snapshots(take: Callable[[], None], every: str | None, count: int | None, what: str) -> None:
    """Call TAKE once, or COUNT times EVERY apart (start to start) with a progress bar on stderr."""
    n = count or 1
    if n > 1 and not every:
        raise WorkbenchError(f"--count {n} needs --every DURATION (e.g. --every 30s --count {n})")
    interval = parse_duration_s(every, example="10s, 1m or 5m") if every else 0.0
    if n == 1:
        take()
        return
    with Progress(TextColumn(f"[bold]{what}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err_console) as progress:
        task = progress.add_task("snapshots", total=n)
        for i in range(n):
            started = time.monotonic()
            take()
            progress.advance(task)
            if i < n - 1:
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
