"""Benchmark: `workbench ingest k6` on a large k6 NDJSON file vs DuckDB's raw copy and vs pandas.

The file is real k6 output: the lab's multi-scenario script (two scenarios, groups, checks, custom metrics,
a `variant` extra tag) run once by real k6 against the lab target, its lines repeated to --mb megabytes
(cached in benchmarks/.cache/). Every contender runs in a child process of its own, so wall time, CPU time
and peak RSS (wait4) are its own; each is run --repeat times, interleaved, and the best run counts.

    python benchmarks/bench_k6_ingest.py [--mb 650] [--repeat 3] [--big-mb 1000] [--pandas-mb MB]

Contenders, on the same file in the same run:
- DuckDB raw copy: the points' rows into a fresh database file with `tags` kept as JSON text, nothing
  parsed per row (the floor any ingest into DuckDB pays); its COPY statement alone, and its whole process.
- workbench: `workbench ingest k6 FILE`, the whole process including Python's start (and the ingest alone,
  as the store's ingest log times it).
- pandas: read_json(lines=True) + json_normalize of `data`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
LAB_RUN = CACHE / "k6-lab-run.json"


def lab_lines() -> Path:
    """One real k6 run of the lab's multi-scenario script (JSON output), made once and cached."""
    if LAB_RUN.exists():
        return LAB_RUN
    from workbench.lab.common import free_port
    from workbench.lab.k6 import run_k6
    from workbench.lab.target import TargetApp

    CACHE.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = TargetApp("before", seed=7).serve(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files = run_k6(f"http://127.0.0.1:{port}", Path(tmp), stem="lab", outputs=("json",),
                           summary_export=False, env={"VUS": "5", "ITERATIONS": "60"})
            shutil.copyfile(files["json"], LAB_RUN.with_suffix(".tmp"))
    finally:
        server.shutdown()
    LAB_RUN.with_suffix(".tmp").rename(LAB_RUN)
    return LAB_RUN


def make_file(mb: int) -> Path:
    """A k6 NDJSON file of at least MB megabytes: the lab run's lines repeated."""
    path = CACHE / f"k6-lab-{mb}mb.json"
    if path.exists() and path.stat().st_size >= mb * 1_000_000:
        return path
    chunk = lab_lines().read_bytes()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        while f.tell() < mb * 1_000_000:
            f.write(chunk)
    tmp.rename(path)
    return path


def run_child(code: str) -> tuple[float, float, float, str]:
    """Run CODE in a fresh Python; return (wall s, CPU s, peak RSS MB, stdout) of that child alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {code[:200]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def raw_copy(path: Path) -> tuple[float, float, float, float]:
    """DuckDB copies the points into a new database file, tags as JSON text: (statement s, process wall s,
    process CPU s, peak RSS MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu, rss, out = run_child(textwrap.dedent(f"""
            import time
            import duckdb
            con = duckdb.connect({str(Path(tmp) / 'raw.duckdb')!r})
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            con.execute("CREATE TABLE t (run VARCHAR, ingest_id BIGINT, metric VARCHAR, ts TIMESTAMPTZ, "
                        "value DOUBLE, tags JSON, metadata JSON)")
            t0 = time.perf_counter()
            con.execute("INSERT INTO t SELECT 'bench', 1, metric, data.time, data.value, data.tags, data.metadata "
                        "FROM read_json(?, format = 'newline_delimited', columns = {{type: 'VARCHAR', "
                        "metric: 'VARCHAR', data: 'STRUCT(time TIMESTAMPTZ, value DOUBLE, tags JSON, "
                        "metadata JSON)'}}) WHERE type = 'Point'", [{str(path)!r}])
            con.close()
            print(time.perf_counter() - t0)
        """))
        return float(out.split()[-1]), wall, cpu, rss


def workbench_ingest(path: Path) -> tuple[float, float, float, float]:
    """`workbench ingest k6 PATH` in a child: (ingest s from the ingests log, command wall s incl. Python
    start, CPU s, peak RSS MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        wall, cpu, rss, _ = run_child(textwrap.dedent(f"""
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
            sets = con.execute("SELECT count(*) FROM k6_tagsets").fetchone()[0]
            if sets > 10_000:
                raise SystemExit(f"{sets} tag sets: not the file this benchmark means")
        return ingest_s, wall, cpu, rss


def pandas_baseline(path: Path, mb: int) -> tuple[float, float, float, int]:
    """pandas.read_json(lines=True) + json_normalize of `data`, on the first MB megabytes of PATH:
    (wall s, CPU s, peak RSS MB, bytes read)."""
    src = path
    if path.stat().st_size > mb * 1_000_000 * 1.05:
        src = CACHE / f"{path.stem}-head-{mb}mb.json"
        if not src.exists():
            with open(path, "rb") as f, open(src, "wb") as out:
                out.write(f.read(mb * 1_000_000))
                out.write(f.readline())
    wall, cpu, rss, _ = run_child(textwrap.dedent(f"""
        import pandas as pd
        df = pd.read_json({str(src)!r}, lines=True)
        points = pd.json_normalize(df.loc[df["type"] == "Point", "data"].tolist())
        assert len(points) > 0
    """))
    return wall, cpu, rss, src.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=650, help="size of the main benchmark file")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each contender (interleaved; the best counts)")
    ap.add_argument("--big-mb", type=int, default=1000, help="second size, to show RSS does not grow (0: skip)")
    ap.add_argument("--pandas-mb", type=int, default=0,
                    help="how much of the file the pandas baseline reads (default: all of it; it needs ~12x the file in RAM)")
    args = ap.parse_args()
    f = make_file(args.mb)
    size = f.stat().st_size / 1e6
    print(f"file: {f.name}, {size:.0f} MB of real k6 lines (lab script: 2 scenarios, groups, checks, extra tags), "
          f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}")
    raws, wbs = [], []
    for _ in range(args.repeat):
        raws.append(raw_copy(f))
        wbs.append(workbench_ingest(f))
    raw = min(raws)                         # by statement time
    wb = min(wbs, key=lambda r: r[1])       # by whole-command time
    raw_rate, raw_proc_rate = size / raw[0], size / raw[1]
    wb_rate, wb_ingest_rate = size / wb[1], size / wb[0]
    print(f"DuckDB raw copy (tags as text): statement {raw[0]:5.2f} s {raw_rate:6.1f} MB/s; whole process "
          f"{raw[1]:5.2f} s {raw_proc_rate:6.1f} MB/s, CPU {raw[2]:5.2f} s, peak RSS {raw[3]:5.0f} MB  "
          f"(statement s of each run: {', '.join(f'{r[0]:.2f}' for r in raws)})")
    print(f"workbench ingest k6 : whole command incl. Python start {wb[1]:5.2f} s {wb_rate:6.1f} MB/s, CPU {wb[2]:5.2f} s,"
          f" peak RSS {wb[3]:5.0f} MB; the ingest alone {wb[0]:5.2f} s {wb_ingest_rate:6.1f} MB/s  "
          f"(whole-command s of each run: {', '.join(f'{r[1]:.2f}' for r in wbs)})")
    pd_s, pd_cpu, pd_rss, pd_size = pandas_baseline(f, args.pandas_mb or int(size) + 1)
    pd_rate = pd_size / 1e6 / pd_s
    print(f"pandas read_json+normalize ({pd_size / 1e6:.0f} MB): {pd_s:6.2f} s {pd_rate:6.1f} MB/s, CPU {pd_cpu:5.2f} s, "
          f"peak RSS {pd_rss:5.0f} MB")
    vs_raw, vs_raw_proc, vs_pd = wb_rate / raw_rate, wb_rate / raw_proc_rate, wb_rate / pd_rate
    print(f"ratios (workbench whole command): / raw-copy statement {vs_raw:.2f}, / raw-copy whole process "
          f"{vs_raw_proc:.2f}, / pandas {vs_pd:.1f}x; CPU s per MB: workbench / raw copy process {wb[2] / raw[2]:.2f}")
    med = statistics.median(r[1] for r in wbs), statistics.median(r[0] for r in raws)
    print(f"medians of the {args.repeat} runs: workbench whole command {med[0]:.2f} s, raw-copy statement {med[1]:.2f} s "
          f"(ratio {med[1] / med[0]:.2f})")
    targets = [("workbench >= 0.80 x raw copy (statement)", vs_raw >= 0.80), ("workbench >= 30x pandas", vs_pd >= 30)]
    if args.big_mb:
        big = make_file(args.big_mb)
        b = workbench_ingest(big)
        print(f"workbench ingest k6 ({big.stat().st_size / 1e6:.0f} MB): whole command {b[1]:5.2f} s "
              f"{big.stat().st_size / 1e6 / b[1]:6.1f} MB/s, peak RSS {b[3]:5.0f} MB (RSS ratio to the {size:.0f} MB "
              f"file: {b[3] / wb[3]:.2f}x)")
        targets.append(("peak RSS < 1 GB on the large file", b[3] < 1024))
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


if __name__ == "__main__":
    main()
