"""Whether this process has seen Ctrl-C, from the very start of a command.

A Ctrl-C that lands while DuckDB runs a short statement can be swallowed by DuckDB (the statement ends
before it looks) or turned into a "Query interrupted" error. The CLI installs this handler first thing,
so the ingest's interrupt guard (store._InterruptGuard) finds the Ctrl-C when it starts, rolls back and
exits 130, and the CLI reads such an error as the Ctrl-C it was.
"""

from __future__ import annotations

import signal
import threading

seen = False


def _on_sigint(signum: int, frame: object) -> None:
    global seen
    seen = True
    raise KeyboardInterrupt


def install() -> None:
    """Record Ctrl-C (and still raise KeyboardInterrupt, as Python does) in the main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
