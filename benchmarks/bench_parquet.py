"""Benchmark: the Parquet layout and Spark, on one machine, against the DuckDB store as the baseline.

    python benchmarks/bench_parquet.py [--points 10000000] [--stream-mb 3000]

1. A store with the bundled samples plus a run of POINTS points (the real `lab-pre` run repeated and
   shifted, four instances): DuckDB file size; `export parquet` time, MB/s (store bytes per second) and
   Parquet size as a ratio of the DuckDB file.
2. k6 summary and compare of that run: DuckDB over the Parquet files vs Spark local over the same files
   (Spark's session start reported apart), and whether the numbers agree (1e-9 relative).
3. Streaming: a k6 JSON file of STREAM_MB made of the real sample's lines (repeated, shifted by days) through
   `ingest k6 --to-parquet` in a child process: MB/s and peak RSS (must stay under 1 GB).

Numbers measured on a shared 2-core machine: they show how the pieces scale, not production speed.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "k6" / "lab-pre.json.gz"


def _close(a, b, rel: float = 1e-9) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) >= set(b) and all(_close(a[k], b[k], rel) for k in b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(b, float) and isinstance(a, int | float):
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)
    return a == b


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--stream-mb", type=int, default=3000)
    args = ap.parse_args()

    from workbench.analysis import compare as cmp
    from workbench.analysis.k6_summary import k6_summary
    from workbench.dataset import export_parquet, open_dataset
    from workbench.demo import build_demo_store
    from workbench.engines import spark as sp
    from workbench.lab.scale import add_big_run, repeat_points
    from workbench.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = tmp / "store.duckdb"
        build_demo_store(db, ROOT / "data" / "samples")
        with Store.open(db) as store:
            n = add_big_run(store, "big", args.points)
            store.con.execute("CHECKPOINT")
        db_bytes = db.stat().st_size
        print(f"store: {n:,} points in run big; DuckDB file {db_bytes / 1e6:.0f} MB")

        dest = tmp / "dataset"
        with Store.open(db) as store:
            t = time.perf_counter()
            export_parquet(store, str(dest))
            export_s = time.perf_counter() - t
        pq_bytes = _du(dest)
        with Store.open(db, read_only=True) as store:
            total = store.con.execute("SELECT count(*) FROM k6_samples").fetchone()[0]
            raw = store.con.execute("SELECT sum(strlen(CAST(tags AS VARCHAR)) + 40) FROM k6_samples").fetchone()[0]
        print(f"export parquet: {export_s:.1f} s for {total:,} points = {total / export_s / 1e6:.2f} M points/s, "
              f"{raw / 1e6 / export_s:.0f} MB/s of k6 JSON equivalent (tags text + ~40 B per point), "
              f"{pq_bytes / 1e6 / export_s:.1f} MB/s of Parquet written; Parquet {pq_bytes / 1e6:.0f} MB = "
              f"{pq_bytes / db_bytes:.2f}x the DuckDB file")

        con = open_dataset(str(dest))
        t = time.perf_counter()
        duck = k6_summary(con, "big", "avg,min,med,max,p(90),p(95),p(99),count")
        duck_s = time.perf_counter() - t
        t = time.perf_counter()
        duck_cmp = cmp.compare_runs(con, "after", "big")
        duck_cmp_s = time.perf_counter() - t
        t = time.perf_counter()
        spark = sp.session()
        start_s = time.perf_counter() - t
        t = time.perf_counter()
        sprk = k6_summary(con, "big", "avg,min,med,max,p(90),p(95),p(99),count", sp.SparkPoints(str(dest), spark))
        spark_s = time.perf_counter() - t
        t = time.perf_counter()
        sprk_cmp = sp.compare_runs(str(dest), con, "after", "big", spark=spark)
        spark_cmp_s = time.perf_counter() - t
        sprk_cmp.pop("engine")
        print(f"k6 summary over Parquet: DuckDB {duck_s:.1f} s, Spark local {spark_s:.1f} s "
              f"(Spark/DuckDB {spark_s / duck_s:.1f}x; session start {start_s:.1f} s apart); "
              f"same numbers: {_close(sprk, duck)}")
        print(f"compare over Parquet:    DuckDB {duck_cmp_s:.1f} s, Spark local {spark_cmp_s:.1f} s "
              f"(Spark/DuckDB {spark_cmp_s / duck_cmp_s:.1f}x); same numbers: {_close(sprk_cmp, duck_cmp)}")
        spark.stop()
        con.close()

        src = tmp / "stream.json"
        copies = max(1, math.ceil(args.stream_mb * 1e6 / len(gzip.decompress(SAMPLE.read_bytes()))))
        size = repeat_points(SAMPLE, src, copies)
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "workbench", "ingest", "k6", str(src), "--run", "stream",
                                 "--to-parquet", str(tmp / "streamed")], stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        ok = os.waitstatus_to_exitcode(status) == 0
        print(f"stream ingest --to-parquet: {size / 1e6:.0f} MB in {wall:.1f} s = {size / 1e6 / wall:.0f} MB/s "
              f"(whole command); peak RSS {usage.ru_maxrss / 1024:.0f} MB (< 1024: {usage.ru_maxrss / 1024 < 1024}); "
              f"exit {'ok' if ok else 'FAILED'}")
    print("(shared 2-core machine: ratios and scaling, not production figures)")


if __name__ == "__main__":
    main()
