"""Re-capture data/samples/ from the real tools: k6, PostgreSQL + pgbench, Redis + redis-benchmark,
Prometheus. Every file under data/samples/ comes from here; none is typed by hand.

    python scripts/capture_samples.py [--only k6,postgres,redis,prometheus] [--out data/samples]
    python scripts/capture_samples.py --from-lab --out /tmp/lab-samples

--from-lab captures every source from one short `workbench lab` loop instead (scripts/capture/lab.py:
~2.5 minutes, ~0.5 MB): runs lab-pre / lab-post, PostgreSQL and Redis snapshots every 10 s, the
Prometheus ranges of both runs. The demo's report parameters (workbench/demo.py) still name the runs
`before` / `after`: switching data/samples/ to the lab's capture means updating them too.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["k6", "postgres", "redis", "prometheus"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SOURCES), help="comma-separated sources to capture")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "samples")
    ap.add_argument("--from-lab", action="store_true", help="capture all sources from one short lab loop")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.from_lab:
        t0 = time.monotonic()
        print(f"capturing from the lab into {args.out} ...", flush=True)
        importlib.import_module("scripts.capture.lab").capture(args.out)
        print(f"  lab done in {time.monotonic() - t0:.0f}s", flush=True)
        return 0
    for source in [s.strip() for s in args.only.split(",") if s.strip()]:
        if source not in SOURCES:
            ap.error(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
        t0 = time.monotonic()
        print(f"capturing {source} ...", flush=True)
        importlib.import_module(f"scripts.capture.{source}").capture(args.out)
        print(f"  {source} done in {time.monotonic() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
