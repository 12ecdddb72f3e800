"""`--every DURATION --count N` for the collectors: one snapshot, or N of them DURATION apart."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from workbench.cli.output import err_console, warn
from workbench.durations import parse_duration_s
from workbench.errors import CheckFailed, WorkbenchError


def repeat_snapshots(take: Callable[[], None], every: str | None, count: int | None, what: str) -> None:
    """Call TAKE once, or COUNT times EVERY apart (start to start) with a progress bar on stderr.

    In a loop a failed snapshot (a WorkbenchError: server unreachable, timed out...) is logged and the
    loop goes on; at the end, when some failed, exit code 1 (2 when every one failed) and a line saying
    how many.
    """
    n = count or 1
    if n > 1 and not every:
        raise WorkbenchError(f"--count {n} needs --every DURATION (e.g. --every 30s --count {n})")
    interval = parse_duration_s(every, example="10s, 1m or 5m") if every else 0.0
    if n == 1:
        take()
        return
    failed: list[str] = []
    with Progress(TextColumn(f"[bold]{what}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err_console) as progress:
        task = progress.add_task("snapshots", total=n)
        for i in range(n):
            started = time.monotonic()
            try:
                take()
            except WorkbenchError as e:
                failed.append(str(e))
                warn(f"snapshot {i + 1} of {n} failed: {e}")
            progress.advance(task)
            if i < n - 1:
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
    if failed:
        msg = f"{len(failed)} of {n} snapshots failed (the others were stored); first: {failed[0]}"
        raise (WorkbenchError if len(failed) == n else CheckFailed)(msg)
