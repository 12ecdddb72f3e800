"""Capture the bundled k6 samples: real k6 against the lab target, before and after a real change.

`before`: profile "before"; `after`: profile "after" (/api/events ~40% faster, nothing else changed).
Both carry the playbook flag's `variant` tag on /api/events, so `before` doubles as the A/B sample.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from workbench.lab.common import free_port
from workbench.lab.k6 import run_k6
from workbench.lab.target import TargetApp

RUNS = {
    "before": {"profile": "before", "label": "before: baseline build", "summary": "handle-summary",
               "tags": {"git_sha": "a1b2c3d", "environment": "lab", "optimization": "pre"}},
    "after": {"profile": "after", "label": "after: optimized /api/events query", "summary": "summary-export",
              "tags": {"git_sha": "e4f5a6b", "environment": "lab", "optimization": "post"}},
}
VUS, ITERATIONS = "10", "510"   # 10 x 510 x 4 requests = 20,400 plus logins; a light load keeps noise low


def capture(out_dir: Path) -> None:
    """Run k6 twice and write <run>.json.gz, <run>.summary.json and runs.json into OUT_DIR/k6."""
    dest = out_dir / "k6"
    dest.mkdir(parents=True, exist_ok=True)
    work = dest / ".work"
    manifest = {}
    for i, (run, spec) in enumerate(RUNS.items()):
        port = free_port()
        server = TargetApp(spec["profile"], seed=100 + i).serve(port)
        try:
            files = run_k6(f"http://127.0.0.1:{port}", work, stem=run, outputs=("json",),
                           summary_export=spec["summary"] == "summary-export",
                           handle_summary=spec["summary"] == "handle-summary",
                           env={"VUS": VUS, "ITERATIONS": ITERATIONS})
        finally:
            server.shutdown()
        with open(files["json"], "rb") as src, gzip.open(dest / f"{run}.json.gz", "wb", compresslevel=9) as gz:
            shutil.copyfileobj(src, gz)
        shutil.copy(files[spec["summary"]], dest / f"{run}.summary.json")
        manifest[run] = {"label": spec["label"], "tags": spec["tags"], "profile": spec["profile"]}
    (dest / "runs.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(work)
