"""PostgreSQL snapshots at scale: seconds per snapshot, store bytes per snapshot and `pg top` time.

    .venv/bin/python benchmarks/bench_pg_snapshot.py [--tables 5000] [--statements 10000]

A lab PostgreSQL 15 (loopback, temp dir) gets pg_stat_statements.max = STATEMENTS, TABLES tables (each
with a primary key) and about STATEMENTS distinct statements (two shapes per table, then literal-free
variants until the view is full). Then, in one run:

- **full snapshot** (every set: sizes, index definitions, bloat, column statistics, sequences), the
  first one of the store, with all texts fetched;
- **baseline: full snapshot, texts again** — what each snapshot cost before this change: every set and
  every text (showtext := true reads the server's whole query-text file), into a fresh store;
- **fast snapshot** (`--slow-every 1h` between full ones: statements, activity, counters; texts only
  for queryids the store has not seen), median of three;
- **`pg top`** over two fast snapshots, against the **baseline** of reading both snapshots' statement
  rows from the store into pandas (the least any delta needs).

Store bytes are the growth of the DuckDB file (after a CHECKPOINT) per snapshot. Each fast snapshot's
**CPU seconds** are printed too, the collector's (this process) and the server's (its backends, reaped
by the postmaster): unlike wall time they do not swing with the machine's load. Figures come from a
shared 2-core machine with a loopback server: they show how the collector scales, not how a
production server performs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from workbench.analysis.postgres import pg_top
from workbench.lab.postgres import PostgresLab
from workbench.sources import postgres as pgsrc
from workbench.store import Store, reading


def build(lab: PostgresLab, tables: int, statements: int) -> int:
    """TABLES tables and about STATEMENTS distinct statements; return how many pg_stat_statements holds."""
    with psycopg.connect(lab.dsn, autocommit=True) as con:
        for start in range(0, tables, 250):
            with con.transaction():
                for i in range(start, min(start + 250, tables)):
                    con.execute(f"CREATE TABLE t{i} (id int PRIMARY KEY, v text)")
                    con.execute(f"INSERT INTO t{i} SELECT g, md5(g::text) FROM generate_series(1, 20) g")
        con.execute("ANALYZE")
        n = 0
        for i in range(tables):
            if n >= statements:
                break
            con.execute(f"SELECT v FROM t{i} WHERE id = %s", (1,))
            con.execute(f"SELECT count(*) FROM t{i}")
            n += 2
        k = 1
        while n < statements:   # more shapes: a select list of k columns
            for i in range(min(tables, statements - n)):
                con.execute(f"SELECT id{', v' * k} FROM t{i} LIMIT 1")
                n += 1
            k += 1
        return con.execute("SELECT count(*) FROM pg_stat_statements").fetchone()[0]


def workload(lab: PostgresLab, tables: int) -> None:
    with psycopg.connect(lab.dsn, autocommit=True) as con:
        for i in range(tables):
            con.execute(f"SELECT count(*) FROM t{i}")


def file_bytes(path: Path) -> int:
    """Bytes of the store's used blocks after a checkpoint (the file itself grows in large steps)."""
    with Store.open(path) as store:
        store.con.execute("CHECKPOINT")
        used, block = store.con.execute("SELECT used_blocks, block_size FROM pragma_database_size()").fetchone()
    return int(used) * int(block)


def server_cpu_s(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL cluster: the postmaster's reaped children (exited backends) plus its
    live children (Linux /proc)."""
    tck = os.sysconf("SC_CLK_TCK")

    def stat(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    total = sum(int(x) for x in stat(postmaster)[13:15])    # cutime, cstime
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                f = stat(int(p.name))
            except OSError:
                continue
            if int(f[1]) == postmaster:
                total += int(f[11]) + int(f[12])             # utime, stime
    return total / tck


def timed_collect(dsn: str, db: Path, postmaster: int | None = None, **kw) -> tuple[float, int, str, float, float]:
    """Seconds, store bytes added, snapshot kind, collector CPU s and server CPU s of one collect."""
    before = file_bytes(db) if db.exists() else 0
    server0 = server_cpu_s(postmaster) if postmaster else 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    sid, snap = pgsrc.collect(dsn, db, **kw)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    time.sleep(0.3)   # the backend exits and is reaped: its CPU moves to the postmaster's children
    server = server_cpu_s(postmaster) - server0 if postmaster else float("nan")
    return took, file_bytes(db) - before, snap.meta["kind"], cpu, server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=5000)
    ap.add_argument("--statements", type=int, default=10000)
    args = ap.parse_args()
    conf = {"pg_stat_statements.max": str(args.statements), "pg_stat_statements.track_utility": "off",
            "max_locks_per_transaction": "1024"}
    with PostgresLab(preload=True, extra_conf=conf) as lab, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        held = build(lab, args.tables, args.statements)
        print(f"server: {args.tables} tables, pg_stat_statements holds {held} statements "
              f"(max {args.statements}); built in {time.perf_counter() - t0:.0f} s")
        db, base_db = Path(tmp) / "bench.duckdb", Path(tmp) / "baseline.duckdb"
        full_s, full_b, *_ = timed_collect(lab.dsn, db, slow_every_s=3600)
        base_s, base_b, *_ = timed_collect(lab.dsn, base_db, slow_every_s=None)
        fast = []
        for _ in range(3):
            workload(lab, args.tables)   # every table's statements run again: non-zero deltas for pg top
            fast.append(timed_collect(lab.dsn, db, lab.proc.pid, slow_every_s=3600))
        assert all(f[2] == "fast" for f in fast)
        fast_s = statistics.median(f[0] for f in fast)
        fast_b = statistics.median(f[1] for f in fast)
        fast_cpu, fast_server = statistics.median(f[3] for f in fast), statistics.median(f[4] for f in fast)
        with reading(db) as store:
            ids = [r[0] for r in store.con.execute("SELECT snapshot_id FROM pg_snapshots ORDER BY 1").fetchall()]
            t0, c0 = time.perf_counter(), time.process_time()
            res = pg_top(store, ids[-2], ids[-1])
            top_s, top_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            for sid in ids[-2:]:
                store.query_df("SELECT * FROM pg_statements WHERE snapshot_id = ?", [sid])
            read_s = time.perf_counter() - t0
        print(f"{'':34}{'seconds':>9}{'store MB':>10}")
        print(f"{'full snapshot (first)':34}{full_s:9.2f}{full_b / 1e6:10.2f}")
        print(f"{'baseline: full + every text':34}{base_s:9.2f}{base_b / 1e6:10.2f}")
        print(f"{'fast snapshot (median of 3)':34}{fast_s:9.2f}{fast_b / 1e6:10.2f}")
        print(f"fast vs baseline: {base_s / fast_s:.1f}x faster, {base_b / max(fast_b, 1):.1f}x less store")
        print(f"fast snapshot CPU (median of 3): collector {fast_cpu:.2f} s, server {fast_server:.2f} s "
              f"(wall {fast_s:.2f} s: the rest is waiting, for a CPU on a loaded machine above all)")
        print(f"pg top over two fast snapshots: {top_s:.3f} s, CPU {top_cpu:.3f} s ({len(res.statements)} statements); "
              f"baseline (read both snapshots' rows): {read_s:.3f} s; ratio {top_s / read_s:.1f}x")
        print("targets: fast < 2 s, < 1.5 MB per fast snapshot, pg top < 0.5 s -- "
              f"{'met' if fast_s < 2 and fast_b < 1.5e6 and top_s < 0.5 else 'NOT met'} "
              "(shared 2-core machine, loopback server: not production evidence)")


if __name__ == "__main__":
    main()
