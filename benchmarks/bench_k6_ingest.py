"""Benchmark: `workbench ingest k6` against DuckDB's raw copy of the same file and against pandas.

The file is real k6 output repeated: the lab's multi-scenario script (two scenarios, groups, checks,
custom metrics, extra `kind` and `variant` tags) run once by the real k6 binary against the lab's target
on loopback, captured into benchmarks/.cache/ and repeated to the asked size.

Every contender runs in a fresh Python process of its own, timed from before Python starts until it
exits (wait4 gives its peak RSS):
- workbench: `workbench --db NEW ingest k6 FILE --run bench`;
- DuckDB raw copy: `CREATE TABLE AS SELECT` of the points with the tags JSON kept as text (no parse of
  the tags, no fingerprint, no bookkeeping): the fastest a DuckDB store can take these rows;
- pandas: `read_json(lines=True)` + `json_normalize` of `data` (on --pandas-mb of the file: it needs
  ~12x the file in RAM; its MB/s hardly depends on size).

    python benchmarks/bench_k6_ingest.py [--mb 650] [--repeat 5] [--pandas-mb 100] [--big-mb 0]

Prints each rate (median of --repeat alternating runs), workbench's ratio to both baselines, and the
targets of issue 15 (>= 0.8x the raw copy, >= 30x pandas). Figures from a shared 2-core machine show
the ratio, not production speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
CAPTURE = CACHE / "k6-lab-capture.json"
POINTS_SCHEMA = ("{type: 'VARCHAR', metric: 'VARCHAR', data: 'STRUCT(time TIMESTAMPTZ, value DOUBLE, "
                 "tags JSON, metadata JSON)'}")


def capture() -> Path:
    """Real k6 output of the lab script (cached): k6 against the lab target on a free loopback port."""
    if CAPTURE.exists():
        return CAPTURE
    from workbench.lab.k6 import run_k6
    from workbench.lab.target import TargetApp

    CACHE.mkdir(parents=True, exist_ok=True)
    server = TargetApp("before").serve(0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files = run_k6(f"http://127.0.0.1:{server.server_address[1]}", Path(tmp), stem="lab",
                           summary_export=False, env={"VUS": "10", "ITERATIONS": "60"})
            files["json"].replace(CAPTURE)
    finally:
        server.shutdown()
    return CAPTURE


def make_file(mb: int) -> Path:
    """A k6 NDJSON file of at least MB megabytes: the captured run's lines, repeated."""
    path = CACHE / f"k6-lab-{mb}mb.json"
    if path.exists() and path.stat().st_size >= mb * 1_000_000:
        return path
    chunk = capture().read_bytes()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        while f.tell() < mb * 1_000_000:
            f.write(chunk)
    tmp.rename(path)
    return path


def describe(path: Path) -> str:
    """What the captured run holds: scenarios, groups, checks, extra tags, distinct tag sets."""
    import duckdb

    src = (f"(SELECT data.tags AS tags FROM read_json('{path}', format = 'newline_delimited', "
           f"columns = {POINTS_SCHEMA}) WHERE type = 'Point')")
    one = duckdb.execute(f"SELECT count(*), count(DISTINCT tags), list(DISTINCT tags->>'scenario') FILTER (WHERE tags->>'scenario' IS NOT NULL), "
                     f"list(DISTINCT tags->>'group') FILTER (WHERE coalesce(tags->>'group', '') <> ''), "
                     f"list(DISTINCT tags->>'check') FILTER (WHERE tags->>'check' IS NOT NULL) FROM {src}").fetchone()
    keys = duckdb.execute(f"SELECT list(DISTINCT k ORDER BY k) FROM (SELECT unnest(json_keys(tags)) AS k FROM {src}) "
                      "WHERE k IN ('kind', 'variant')").fetchone()[0]
    return (f"{one[0]:,} points, {one[1]} distinct tag sets; scenarios {sorted(one[2])}, groups {sorted(one[3])}, "
            f"checks {sorted(one[4])}, extra tags {keys}")


def run_child(code: str) -> tuple[float, float]:
    """Run CODE in a fresh Python; (wall seconds from spawn to exit, peak RSS MB of that child alone)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {code[:200]}")
    return wall, usage.ru_maxrss / 1024


def workbench_ingest(path: Path) -> tuple[float, float]:
    """`workbench ingest k6 PATH` into a new store: (wall s incl. Python start, peak RSS MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        return run_child(textwrap.dedent(f"""
            import sys
            from workbench.cli import main
            sys.argv = ["workbench", "--db", {str(Path(tmp) / 'bench.duckdb')!r}, "ingest", "k6", {str(path)!r},
                        "--run", "bench"]
            try:
                main()
            except SystemExit as e:
                raise SystemExit(e.code)
        """))


def raw_copy(path: Path) -> tuple[float, float]:
    """DuckDB's copy of the points into a new database file, tags kept as JSON text: (wall s, peak RSS MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        return run_child(textwrap.dedent(f"""
            import duckdb
            con = duckdb.connect({str(Path(tmp) / 'raw.duckdb')!r})
            con.execute("SET preserve_insertion_order = false")
            con.execute("CREATE TABLE points AS SELECT metric, data.time AS ts, data.value AS value, "
                        "data.tags AS tags, data.metadata AS metadata FROM read_json({str(path)!r}, "
                        "format = 'newline_delimited', columns = {POINTS_SCHEMA}) WHERE type = 'Point'")
            con.close()
        """))


def pandas_baseline(path: Path, mb: int) -> tuple[float, float, int]:
    """pandas.read_json(lines=True) + json_normalize of `data`, on the first MB megabytes of PATH."""
    src = path
    if path.stat().st_size > mb * 1_000_000 * 1.05:
        src = CACHE / f"k6-lab-head-{mb}mb.json"
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
    ap.add_argument("--mb", type=int, default=650, help="size of the benchmark file (MB)")
    ap.add_argument("--repeat", type=int, default=5, help="alternating runs of workbench and the raw copy")
    ap.add_argument("--pandas-mb", type=int, default=100, help="how much of the file pandas reads (0: all)")
    ap.add_argument("--big-mb", type=int, default=0, help="also ingest a file this big, to show RSS stays flat")
    args = ap.parse_args()
    f = make_file(args.mb)
    mb = f.stat().st_size / 1e6
    print(f"file: {f.name}, {mb:.0f} MB of real k6 lines ({describe(capture())} in the captured run), "
          f"{os.cpu_count()} cores")
    wb, raw = [], []
    for _ in range(args.repeat):
        wb.append(workbench_ingest(f))
        raw.append(raw_copy(f))
    wb_s, raw_s = statistics.median(w for w, _ in wb), statistics.median(r for r, _ in raw)
    wb_rate, raw_rate = mb / wb_s, mb / raw_s
    print(f"workbench ingest k6 (whole process) : {wb_s:6.2f} s {wb_rate:7.1f} MB/s  peak RSS "
          f"{max(r for _, r in wb):5.0f} MB  (runs: {', '.join(f'{w:.2f}' for w, _ in wb)} s)")
    print(f"DuckDB raw copy     (whole process) : {raw_s:6.2f} s {raw_rate:7.1f} MB/s  peak RSS "
          f"{max(r for _, r in raw):5.0f} MB  (runs: {', '.join(f'{r:.2f}' for r, _ in raw)} s)")
    pd_s, pd_rss, pd_size = pandas_baseline(f, args.pandas_mb or int(mb) + 1)
    pd_rate = pd_size / 1e6 / pd_s
    print(f"pandas read_json+normalize ({pd_size / 1e6:.0f} MB) : {pd_s:6.2f} s {pd_rate:7.1f} MB/s  peak RSS "
          f"{pd_rss:5.0f} MB")
    print(f"ratio to the raw copy: {wb_rate / raw_rate:.2f}x; ratio to pandas: {wb_rate / pd_rate:.1f}x")
    targets = [("ingest >= 0.8x the raw copy", wb_rate >= 0.8 * raw_rate), ("ingest >= 30x pandas", wb_rate >= 30 * pd_rate)]
    if args.big_mb:
        big = make_file(args.big_mb)
        b_s, b_rss = workbench_ingest(big)
        print(f"workbench ingest k6 ({big.stat().st_size / 1e6:.0f} MB): {b_s:6.2f} s  peak RSS {b_rss:5.0f} MB")
        targets.append(("peak RSS < 1 GB on the large file", b_rss < 1024))
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


if __name__ == "__main__":
    main()
