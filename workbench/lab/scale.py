"""Fleet-size k6 data made from REAL captures (never typed): for the scale tests and benchmarks.

- `repeat_points`: a real k6 JSON output repeated into a larger file, each copy shifted by a day.
- `add_big_run`: a store run made of a real run's points repeated and shifted in time, spread over
  several ingests that overlap in time, as k6-operator pods' files do.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.sources import k6
from workbench.store import Store


def repeat_points(src: str | os.PathLike, out: str | os.PathLike, copies: int) -> int:
    """Write OUT: the real k6 JSON output SRC (plain or .gz) repeated COPIES times, copy k shifted by k days,
    `Metric` lines kept once. For tests and benchmarks at fleet scale from real
    lines; returns the bytes written."""
    import datetime as dt
    import re

    with k6._opener(Path(src))() as f:
        data = f.read()
    m = re.search(rb'"time":"(\d{4}-\d{2}-\d{2})T', data)
    if not m:
        raise WorkbenchError(f"{src}: no k6 points found")
    day = dt.date.fromisoformat(m.group(1).decode())
    points = b"\n".join(line for line in data.split(b"\n") if b'"type":"Point"' in line) + b"\n"
    written = 0
    with open(out, "wb") as f:
        for k in range(copies):
            block = data if k == 0 else points
            shifted = (day + dt.timedelta(days=k)).isoformat().encode()
            block = block.replace(b'"time":"' + m.group(1) + b"T", b'"time":"' + shifted + b"T")
            f.write(block if block.endswith(b"\n") else block + b"\n")
            written += len(block)
    return written


def add_big_run(store: Store, run: str = "big", points: int = 10_000_000, instances: int = 4,
                source: str = "lab-pre") -> int:
    """RUN: SOURCE's real points repeated (each copy shifted past the previous one's end) until POINTS,
    spread over INSTANCES ingests that overlap in time, as k6-operator pods do. Returns the points."""
    con = store.con
    n, span_us = con.execute("SELECT count(*), epoch_us(max(ts)) - epoch_us(min(ts)) + 1000 FROM k6_samples "
                             "WHERE run = ?", [source]).fetchone()
    copies = math.ceil(points / n)
    per = math.ceil(copies / instances)
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO k6_runs SELECT ?, 'generated: ' || label, tags, created_at FROM k6_runs WHERE run = ?",
                [run, source])
    con.execute("INSERT INTO k6_metrics SELECT ?, metric, type, contains, thresholds, submetrics, type_source "
                "FROM k6_metrics WHERE run = ?", [run, source])
    for i in range(instances):
        iid = con.execute("INSERT INTO ingests (kind, source, sha256, run, label, rows, started_at, finished_at, "
                          "workbench_version) VALUES ('k6-json', ?, ?, ?, NULL, 0, now(), now(), 'test') "
                          "RETURNING ingest_id", [f"generated instance {i}", f"generated-{run}-{i}", run]).fetchone()[0]
        k = min(per, copies - i * per)
        con.execute(
            "INSERT INTO k6_sample_rows SELECT ?, metric, ts + to_microseconds(c.r * ? + ? * 1000), value, tags, "
            "metadata FROM k6_samples, range(?) c(r) WHERE run = ?", [iid, span_us, i, k, source])
        k6.record_tagsets(con, iid)
    con.execute("COMMIT")
    return con.execute("SELECT count(*) FROM k6_samples WHERE run = ?", [run]).fetchone()[0]
