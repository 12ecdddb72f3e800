"""Capture samples from one short `workbench lab` loop: one system, one change, one story.

Starts the lab (`--short` data) in a temporary directory, runs `lab run --short` without reports into a
temporary store, stops the lab, and writes the loop's raw files in the data/samples/ layout:

- k6/lab-pre.json.gz, lab-post.json.gz (+ .summary.json; --summary-export) and runs.json (labels, tags);
- postgres/snapshot_NN.json.gz: the baseline, every 10 s of lab-pre and of lab-post; meta.json with each
  snapshot's label (lab-baseline, lab-pre, lab-post);
- redis/info_NN.txt + slowlog_NN.json, meta.json with each snapshot's label;
- prometheus/lab-pre.<name>.json, lab-post.<name>.json as Prometheus served them, meta.json.

About 2.5 minutes on a shared 2-core machine (143 s and 160 s measured, load average ~10); 0.7 MB in all.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from workbench.lab import stack
from workbench.lab.loop import EXPORTER_SERIES, PROM_SERIES, PROM_STEP_S, PROM_WINDOW, Outcome, Plan, run_loop
from workbench.sources.prometheus import preset_query

SOURCES = ("k6", "postgres", "redis", "prometheus")


def _labels(outcome: Outcome, source: str) -> list[str]:
    """Each SOURCE snapshot's label (the loop step it was taken in), in the order they were taken."""
    return [run for run, ids in outcome.snapshots.items() for _ in ids[source]]


def capture(out_dir: Path) -> None:
    """Run the loop and replace OUT_DIR/{k6,postgres,redis,prometheus} with its files."""
    work = Path(tempfile.mkdtemp(prefix="wb-lab-capture-"))
    lab_dir = work / "lab"
    try:
        state = stack.up(lab_dir, short=True, progress=lambda s: print(f"  {s}", flush=True))
        plan = Plan(db=str(work / "lab.duckdb"), short=True, reports=False)
        outcome = run_loop(state, plan, say=lambda s: print(f"    {s}", flush=True),
                           step=lambda s: print(f"  step: {s}", flush=True), echo=lambda s: None)
    finally:
        stack.down(lab_dir)
    runs = Path(outcome.artefacts)
    for source in SOURCES:
        dest = out_dir / source
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
    k6 = out_dir / "k6"
    manifest = {}
    for run in outcome.before + outcome.after:
        for suffix in (".json.gz", ".summary.json"):
            shutil.copy2(runs / "k6" / f"{run}{suffix}", k6 / f"{run}{suffix}")
        before = run in outcome.before
        manifest[run] = {"label": f"{run}: " + ("the lab as planted" if before else "after " + ", ".join(outcome.fixes)),
                         "tags": {"environment": "lab", "optimization": "pre" if before else "post",
                                  "executor": "ramping-arrival-rate", "target_rate": str(plan.rate)}}
    (k6 / "runs.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for f in sorted((runs / "postgres").glob("snapshot_*.json.gz")):
        shutil.copy2(f, out_dir / "postgres" / f.name)
    pg_labels = {f"snapshot_{i:02d}.json.gz": run for i, run in enumerate(_labels(outcome, "postgres"), 1)}
    (out_dir / "postgres" / "meta.json").write_text(json.dumps(
        {"server": "PostgreSQL 15 (Debian) with pg_stat_statements, the lab API's database", "labels": pg_labels},
        indent=1) + "\n")
    labels = {f"info_{i:02d}.txt": run for i, run in enumerate(_labels(outcome, "redis"), 1)}
    for f in sorted((runs / "redis").iterdir()):
        shutil.copy2(f, out_dir / "redis" / f.name)
    (out_dir / "redis" / "meta.json").write_text(json.dumps(
        {"address": "lab-redis", "server": "redis-server (Debian), the lab API's cache (TTL 300 s)",
         "labels": labels}, indent=1) + "\n")
    series = {}
    for f in sorted((runs / "prometheus").glob("*.json")):
        shutil.copy2(f, out_dir / "prometheus" / f.name)
        run, suffix = f.stem.split(".", 1)
        preset, match, by = {**PROM_SERIES, **{k: v for e in EXPORTER_SERIES.values() for k, v in e.items()}}[suffix]
        series[f.stem] = {"preset": preset, "match": match, "by": by, "window": PROM_WINDOW,
                          "query": preset_query(preset, match=match, window=PROM_WINDOW, by=by)}
    (out_dir / "prometheus" / "meta.json").write_text(json.dumps(
        {"prometheus": "Debian prometheus 2.42, scrape_interval 1s, scraping the lab API and its exporters",
         "step": f"{PROM_STEP_S}s", "story": "workbench lab run --short: lab-pre, fixes "
         f"({', '.join(outcome.fixes)}), lab-post", "series": series}, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
