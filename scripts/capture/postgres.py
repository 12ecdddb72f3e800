"""Capture tests/data/tool_captures/postgres/ (real PostgreSQL 15 snapshots with planted problems the lab has
not: a duplicate and an unused index, dead tuples, a blocked session) for the check and plot unit tests:
`python scripts/capture/postgres.py`. From a real PostgreSQL 15 with pg_stat_statements preloaded.

The lab server (workbench.lab.postgres) gets a pgbench database (scale 2) plus an `events` table with
a deliberately unindexed lookup, an unused index, a duplicate index (a column prefix of another) and
dead tuples (autovacuum off for it). Three real snapshots are taken with the collector:

  1. baseline  - after initialisation
  2. load      - after pgbench -c 4 -t 300 and 40 unindexed lookups
  3. blocked   - after more of both, while one session holds a row lock and another waits on it

Each is written as OUT_DIR/postgres/snapshot_NN.json.gz (PgSnapshot.to_json; passwords are masked by
the collector and the capture checks that the lab password appears in no file).
"""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import psycopg

from workbench.lab.postgres import PostgresLab
from workbench.sources.postgres import save_sample, take_snapshot

SETUP = """
CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL, kind text NOT NULL,
                     payload text, created_at timestamptz NOT NULL DEFAULT now())
  WITH (autovacuum_enabled = off);
INSERT INTO events (account_id, kind, payload, created_at)
  SELECT (random() * 20000)::int, (ARRAY['login', 'view', 'click', 'purchase'])[1 + (g % 4)],
         md5(g::text), now() - (g || ' seconds')::interval
  FROM generate_series(1, 60000) g;
CREATE INDEX events_kind_idx ON events (kind);                           -- never used: unused index
CREATE INDEX events_created_idx ON events (created_at);
CREATE INDEX events_created_kind_idx ON events (created_at, kind);      -- makes events_created_idx a duplicate
ANALYZE events;
UPDATE events SET payload = payload || '!' WHERE id % 5 = 0;           -- dead tuples, no vacuum
"""
UNINDEXED = "SELECT count(*), max(created_at) FROM events WHERE account_id = %s"  # no index on account_id
RECENT = "SELECT id, kind FROM events WHERE created_at > now() - interval '10 minutes' ORDER BY created_at LIMIT 20"


def _workload(lab: PostgresLab, transactions: int, lookups: int) -> None:
    lab.pgbench("-c", "4", "-j", "2", "-t", str(transactions))
    with psycopg.connect(lab.dsn, autocommit=True) as con:
        for i in range(lookups):
            con.execute(UNINDEXED, (i * 37 % 20000,))
            con.execute(RECENT)


def capture(out_dir: Path) -> None:
    dest = Path(out_dir) / "postgres"
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("snapshot_*.json.gz"):
        old.unlink()
    with PostgresLab(preload=True) as lab:
        lab.pgbench("-i", "-s", "2", "-q")
        with psycopg.connect(lab.dsn, autocommit=True) as con:
            con.execute(SETUP)
        snaps = []
        snaps.append(("baseline", take_snapshot(lab.dsn)))
        time.sleep(1)
        _workload(lab, 300, 40)
        snaps.append(("load", take_snapshot(lab.dsn)))
        _workload(lab, 300, 40)
        holder = psycopg.connect(lab.dsn)
        holder.execute("UPDATE events SET kind = 'view' WHERE id = 1")  # holds the row lock, idle in transaction
        waiter = threading.Thread(target=_blocked_update, args=(lab.dsn,), daemon=True)
        waiter.start()
        time.sleep(2)
        snaps.append(("blocked", take_snapshot(lab.dsn)))
        holder.rollback()
        holder.close()
        waiter.join(10)
        for n, (label, snap) in enumerate(snaps, start=1):
            snap.meta["label"] = label
            path = dest / f"snapshot_{n:02d}.json.gz"
            save_sample(snap, path)
            with gzip.open(path, "rt") as f:
                if lab.password in f.read():
                    raise RuntimeError(f"{path}: the lab password leaked into a sample")
            print(f"  {path}: {label}, {len(snap.statements)} statements, {path.stat().st_size} bytes")


def _blocked_update(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("UPDATE events SET kind = 'click' WHERE id = 1")


if __name__ == "__main__":
    capture(Path(__file__).resolve().parents[2] / "tests" / "data" / "tool_captures")
