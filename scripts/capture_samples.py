"""Re-capture data/samples/ from one short `workbench lab` loop: one system, one change, one story.

    python scripts/capture_samples.py [--out data/samples]      (`make samples`)

It brings a lab up in a temporary directory (PostgreSQL 15 + pg_stat_statements, Redis, the Starlette
API, Prometheus and the exporters that are installed, k6), runs `workbench lab run --short` (k6 run
`lab-pre` on the lab as planted; the fixes the findings name: ANALYZE of stale tables, the advisor's
indexes, the permissions join, cache warming; k6 run `lab-post`), stops the lab and writes the loop's raw
files (scripts/capture/lab.py): k6 outputs with runs.json, PostgreSQL snapshots and Redis INFO every 10 s
with meta.json labels, the Prometheus ranges of both runs. Nothing is typed by hand or drawn from a
distribution. About 2.5 minutes and under 1 MB on a shared 2-core machine; the numbers come from that
machine on loopback, not from production.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "samples",
                    help="where k6/, postgres/, redis/, prometheus/ are (re)written")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from scripts.capture.lab import capture

    t0 = time.monotonic()
    print(f"capturing from the lab into {args.out} ...", flush=True)
    capture(args.out)
    print(f"  lab done in {time.monotonic() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
