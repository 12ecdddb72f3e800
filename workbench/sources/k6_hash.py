"""sha256 of a k6 file in a thread, and the k6 `Metric` lines found in the same pass (stdlib only, so the
CLI can start it before DuckDB is imported and the store opened: the hash then overlaps that start-up)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from workbench.errors import WorkbenchError

_started: dict[tuple[str, int, int], Hasher] = {}


def _key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns


def prestart(path: str | os.PathLike) -> None:
    """Start hashing PATH now; hasher_for(PATH) takes it over (if the file is unchanged by then)."""
    key = _key(Path(path))
    if key is not None and key not in _started:
        h = Hasher(Path(path))
        h.start()
        _started[key] = h


def hasher_for(path: Path) -> Hasher:
    """The started hasher of PATH: the prestarted one when the file is unchanged, else a new one."""
    key = _key(path)
    h = _started.pop(key, None) if key is not None else None
    if h is None:
        h = Hasher(path)
        h.start()
    return h


class Hasher(threading.Thread):
    """sha256 of the file's bytes in a thread (hashlib releases the GIL). For an uncompressed file the
    same pass picks out k6's `Metric` definition lines, so DuckDB need not parse the file twice."""

    def __init__(self, path: Path, chunk: int = 1 << 22):
        super().__init__(daemon=True)
        self.path, self.chunk = path, chunk
        self.sha: str | None = None
        self.error: OSError | None = None
        self.metric_lines: list[dict] | None = None

    def run(self) -> None:
        try:
            with open(self.path, "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
                f.seek(0)
                h = hashlib.sha256()
                found: list[dict] = []
                buf = bytearray(self.chunk)
                view = memoryview(buf)
                carry = b""   # the unfinished line at the end of the previous block
                while n := f.readinto(buf):
                    h.update(view[:n])
                    if not gz:
                        carry = _scan_block(buf, n, carry, found)
                if not gz:
                    _metric_lines(carry, 0, len(carry), found)
                    self.metric_lines = found
                self.sha = h.hexdigest()
        except OSError as e:
            self.error = e

    def result(self) -> str:
        self.join()
        if self.error:
            raise WorkbenchError(f"{self.path}: cannot read ({self.error})")
        return self.sha


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


def _find_metric(buf: bytes | bytearray, lo: int, hi: int) -> int:
    """The offset of the next b'"Metric"' in BUF[LO:HI], or -1. Hops between capital Ms with memchr (rare
    in k6 output: ~5x faster than searching the 8 bytes, whose letters are everywhere in JSON); after many
    Ms that are not it, the plain search."""
    pos = buf.find(b"M", lo + 1, hi)
    misses = 0
    while pos != -1:
        if pos + 7 <= hi and buf[pos - 1:pos + 7] == b'"Metric"':
            return pos - 1
        misses += 1
        if misses > 32:
            return buf.find(b'"Metric"', pos, hi)
        pos = buf.find(b"M", pos + 1, hi)
    return -1


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
