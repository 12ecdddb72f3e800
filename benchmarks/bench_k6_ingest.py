"""Benchmark: `workbench ingest k6` on a large k6 NDJSON file vs the obvious pandas approach.

The file is made of real k6 lines (the bundled sample, repeated) and cached in benchmarks/.cache/.
Both contenders run in a child process of their own, so peak RSS is theirs alone (wait4's ru_maxrss).

    python benchmarks/bench_k6_ingest.py [--mb 200] [--big-mb 1000] [--pandas-mb MB]

Prints MB/s for each (workbench: the ingest as the store's ingest log times it, and the whole command
including Python's start), the speed ratio, and peak RSS at two file sizes (it must not grow with size).
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
SAMPLE = ROOT / "data" / "samples" / "k6" / "before.json.gz"


def make_file(mb: int) -> Path:
    """A k6 NDJSON file of at least MB megabytes, made of the real sample's lines repeated."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"k6-{mb}mb.json"
    if path.exists() and path.stat().st_size >= mb * 1_000_000:
        return path
    chunk = gzip.decompress(SAMPLE.read_bytes())
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        while f.tell() < mb * 1_000_000:
            f.write(chunk)
    tmp.rename(path)
    return path


def run_child(code: str) -> tuple[float, float]:
    """Run CODE in a fresh Python; return (wall seconds, peak RSS MB) of that child alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {code[:200]}")
    return wall, usage.ru_maxrss / 1024


def workbench_ingest(path: Path) -> tuple[float, float, float]:
    """`workbench ingest k6 PATH` in a child: (command wall s incl. Python start, ingest s from the
    ingests log, peak RSS MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        wall, rss = run_child(textwrap.dedent(f"""
            from workbench.cli import main
            import sys
            sys.argv = ["workbench", "--db", {str(db)!r}, "ingest", "k6", {str(path)!r}, "--run", "bench"]
            try:
                main()
            except SystemExit as e:
                raise SystemExit(e.code)
        """))
        import duckdb

        with duckdb.connect(str(db), read_only=True) as con:
            ingest_s = con.execute("SELECT epoch(finished_at - started_at) FROM ingests").fetchone()[0]
        return wall, ingest_s, rss


def pandas_baseline(path: Path, mb: int) -> tuple[float, float, int]:
    """pandas.read_json(lines=True) + json_normalize of `data`, on the first MB megabytes of PATH."""
    src = path
    if path.stat().st_size > mb * 1_000_000 * 1.05:
        src = CACHE / f"k6-head-{mb}mb.json"
        if not src.exists():
            with open(path, "rb") as f, open(src, "wb") as out:
                out.write(f.read(mb * 1_000_000))
                out.write(f.readline())
    wall, rss = run_child(textwrap.dedent(f"""
        import pandas as pd
        df = pd.read_json({str(src)!r}, lines=True)
        points = pd.json_normalize(df.loc[df["type"] == "Point", "data"].tolist())
        assert len(points) > 0
    """))
    return wall, rss, src.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="size of the main benchmark file")
    ap.add_argument("--big-mb", type=int, default=1000, help="second size, to show RSS does not grow (0: skip)")
    ap.add_argument("--pandas-mb", type=int, default=0,
                    help="how much of the file the pandas baseline reads (default: all of it; it needs ~12x the file in RAM)")
    args = ap.parse_args()
    f = make_file(args.mb)
    size = f.stat().st_size
    print(f"file: {f.name}, {size / 1e6:.0f} MB of real k6 lines, {os.cpu_count()} cores")
    wb_wall, wb_s, wb_rss = workbench_ingest(f)
    wb_rate = size / 1e6 / wb_s
    print(f"workbench ingest k6 : {wb_s:6.2f} s  {wb_rate:7.1f} MB/s  peak RSS {wb_rss:6.0f} MB   "
          f"(whole command incl. Python start: {wb_wall:.2f} s, {size / 1e6 / wb_wall:.1f} MB/s)")
    pd_s, pd_rss, pd_size = pandas_baseline(f, args.pandas_mb or size // 1_000_000 + 1)
    pd_rate = pd_size / 1e6 / pd_s
    print(f"pandas read_json+normalize ({pd_size / 1e6:.0f} MB): {pd_s:6.2f} s  {pd_rate:7.1f} MB/s  "
          f"peak RSS {pd_rss:6.0f} MB")
    print(f"ratio: workbench is {wb_rate / pd_rate:.1f}x faster than the pandas baseline (MB/s vs MB/s)")
    if args.big_mb:
        big = make_file(args.big_mb)
        b_wall, b_s, b_rss = workbench_ingest(big)
        print(f"workbench ingest k6 ({big.stat().st_size / 1e6:.0f} MB): {b_s:6.2f} s  "
              f"{big.stat().st_size / 1e6 / b_s:7.1f} MB/s  peak RSS {b_rss:6.0f} MB "
              f"(RSS ratio to the {size / 1e6:.0f} MB file: {b_rss / wb_rss:.2f}x; whole command {b_wall:.2f} s)")
    targets = [("ingest >= 200 MB/s", wb_rate >= 200), ("ratio >= 20x", wb_rate / pd_rate >= 20)]
    if args.big_mb:
        targets.append(("peak RSS < 1 GB on the large file", b_rss < 1024))
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


if __name__ == "__main__":
    main()
