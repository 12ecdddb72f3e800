"""One pass over a k6 points file's bytes, in a thread: its BLAKE3 fingerprint and its `Metric` lines.

The pass reads the file while DuckDB parses it (blake3 releases the GIL), so DuckDB need not read the
file twice for k6's metric definitions. `start(path)` may begin the pass before the store is even open
(the CLI does, so the work lands on the core that start-up leaves idle); `take(path)` hands over the
pass already running for that file, or starts one.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import blake3

from workbench.errors import WorkbenchError

_STARTED: dict[tuple[str, int, int], FilePass] = {}
_LOCK = threading.Lock()


class FilePass(threading.Thread):
    """BLAKE3 of the file's bytes and, for an uncompressed file, its parsed `Metric` lines."""

    def __init__(self, path: Path, chunk: int = 1 << 20):   # 1 MB: both passes over a block stay in cache
        super().__init__(daemon=True, name=f"k6-pass:{path.name}")
        self.path, self.chunk = path, chunk
        self.blake3: str | None = None
        self.error: OSError | None = None
        self.metric_lines: list[dict] | None = None   # None for a .gz file (DuckDB reads them instead)

    def run(self) -> None:
        try:
            with open(self.path, "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
                f.seek(0)
                b3 = blake3.blake3()
                found: list[dict] = []
                buf = bytearray(self.chunk)
                view = memoryview(buf)
                carry = b""   # the unfinished line at the end of the previous block
                while n := f.readinto(buf):
                    b3.update(view[:n])
                    if not gz:
                        carry = _scan_block(buf, n, carry, found)
                if not gz:
                    _metric_lines(carry, 0, len(carry), found)
                    self.metric_lines = found
                self.blake3 = b3.hexdigest()
        except OSError as e:
            self.error = e

    def result(self) -> str:
        """The file's BLAKE3 (hex), once the pass has finished."""
        self.join()
        if self.error:
            raise WorkbenchError(f"{self.path}: cannot read ({self.error})")
        return self.blake3


def _key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def start(path: str | os.PathLike) -> None:
    """Begin the pass over PATH now, for a later `take` (a missing file is left to the ingest to report)."""
    key = _key(Path(path))
    if key is not None:
        with _LOCK:
            if key not in _STARTED:
                _STARTED[key] = FilePass(Path(path))
                _STARTED[key].start()


def take(path: str | os.PathLike) -> FilePass:
    """The pass over PATH begun by `start` (same size and mtime), else a new one, started."""
    key = _key(Path(path))
    with _LOCK:
        found = _STARTED.pop(key, None) if key is not None else None
    if found is None:
        found = FilePass(Path(path))
        found.start()
    return found


def _scan_block(buf: bytearray, n: int, carry: bytes, found: list[dict]) -> bytes:
    """Collect `Metric` lines from BUF[:N] without copying it; return the unfinished last line."""
    first = buf.find(b"\n", 0, n)
    if first == -1:
        return carry + bytes(buf[:n])
    head = carry + bytes(buf[:first])
    _metric_lines(head, 0, len(head), found)
    last = buf.rfind(b"\n", 0, n)
    _metric_lines(buf, first + 1, last, found)
    return bytes(buf[last + 1:n])


def _metric_lines(buf: bytes | bytearray, lo: int, hi: int, found: list[dict]) -> None:
    """Append the parsed k6 `Metric` lines within BUF[LO:HI] (whole lines) to FOUND."""
    pos = _find_metric(buf, lo, hi)
    while pos != -1:
        nl = buf.rfind(b"\n", lo, pos)
        start = nl + 1 if nl != -1 else lo
        end = buf.find(b"\n", pos, hi)
        end = hi if end == -1 else end
        try:
            obj = json.loads(bytes(buf[start:end]))
            if isinstance(obj, dict) and obj.get("type") == "Metric" and isinstance(obj.get("data"), dict):
                found.append(obj["data"])
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        pos = _find_metric(buf, end, hi)


def _find_metric(buf: bytes | bytearray, lo: int, hi: int, tries: int = 64) -> int:
    """Position of the next `"Metric"` in BUF[LO:HI], or -1. A one-byte search for the rare 'M' runs at
    memchr's speed, several times a substring search's over JSON (whose '"' is everywhere); after TRIES
    M's that start something else, the substring search takes over."""
    for _ in range(tries):
        pos = buf.find(b"M", lo, hi)
        if pos == -1:
            return -1
        if pos > lo and buf[pos - 1:pos + 7] == b'"Metric"':
            return pos - 1
        lo = pos + 1
    return buf.find(b'"Metric"', lo, hi)
