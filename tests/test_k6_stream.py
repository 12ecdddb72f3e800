"""`workbench ingest k6 FILE... --run RUN --to-parquet DEST`: points go straight into the Parquet layout with
bounded memory; several instances' files land side by side; `attach` + `k6 summary` then equals the
ordinary ingest of the same files. (The 3 GB case is benchmarks/bench_parquet.py: too slow for the suite;
here peak RSS is shown to stay flat while the file grows fourfold.)"""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from fixtures.parquet import assert_same

from workbench.cli.groups import main as cli
from workbench.dataset import MANIFEST_DIR
from workbench.lab.scale import repeat_points

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "k6"


def _summary(db: Path, run: str) -> dict:
    res = CliRunner().invoke(cli, ["--db", str(db), "k6", "summary", "--run", run, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_instances_side_by_side_equal_the_ordinary_ingest(tmp_path):
    files = [str(SAMPLES / "lab-pre.json.gz"), str(SAMPLES / "lab-post.json.gz")]   # two instances of one run
    dest = tmp_path / "ds"
    for f in files:   # one process per instance, as k6-operator pods would upload
        res = CliRunner().invoke(cli, ["ingest", "k6", f, "--run", "fleet", "--label", "two pods", "--to-parquet",
                                       str(dest)])
        assert res.exit_code == 0, res.output
    assert len(list((dest / MANIFEST_DIR).glob("*.json"))) == 2
    # the same file again: skipped, nothing rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in dest.rglob("*.parquet")}
    res = CliRunner().invoke(cli, ["ingest", "k6", files[0], "--run", "fleet", "--to-parquet", str(dest)])
    assert res.exit_code == 0 and "already in" in res.output
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*.parquet")} == mtimes
    fleet, plain = tmp_path / "fleet.duckdb", tmp_path / "plain.duckdb"
    assert CliRunner().invoke(cli, ["--db", str(fleet), "attach", str(dest)]).exit_code == 0
    assert CliRunner().invoke(cli, ["--db", str(plain), "ingest", "k6", *files, "--run", "fleet"]).exit_code == 0
    ours, theirs = _summary(fleet, "fleet"), _summary(plain, "fleet")
    exported = sum(json.loads(Path(f.replace(".json.gz", ".summary.json")).read_text())["metrics"]["http_reqs"]["count"]
                   for f in files)   # k6's own counts of the two instances (--summary-export)
    assert ours["metrics"]["http_reqs"]["count"] == exported > 1000
    assert_same(ours, theirs)


# Linux starts a child's ru_maxrss at its parent's RSS (fork, then exec keeps the high-water mark), and this
# pytest process can hold gigabytes late in the suite: a small launcher process forks the command instead.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
sys.stderr.write(proc.stderr.read().decode())
print(status, usage.ru_maxrss)
"""


def _peak_rss_mb(args: list[str]) -> float:
    # a smaller buffer pool than the default (384MB) so that the plateau shows on files this test can afford
    env = {**os.environ, "WORKBENCH_STREAM_MEMORY": "160MB"}
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *args], capture_output=True, text=True, env=env)
    status, maxrss_kb = map(int, done.stdout.split())
    assert status == 0, done.stderr
    return maxrss_kb / 1024


def test_memory_stays_flat_as_the_file_grows(tmp_path):
    workbench = [sys.executable, "-m", "workbench"]
    peaks, sizes = [], []
    sample = SAMPLES / "lab-pre.json.gz"
    base = math.ceil(64e6 / len(gzip.decompress(sample.read_bytes())))   # ~64 MB, then four times that
    for copies in (base, 4 * base):
        src = tmp_path / f"points-{copies}.json"
        sizes.append(repeat_points(sample, src, copies) / 1e6)
        peaks.append(_peak_rss_mb([*workbench, "ingest", "k6", str(src), "--run", f"r{copies}", "--to-parquet",
                                   str(tmp_path / "ds")]))
        src.unlink()
    assert sizes[1] > 250
    assert peaks[1] < 1024, (sizes, peaks)
    # four times the data, far less than four times the memory (the buffer pool is bounded)
    assert peaks[1] - peaks[0] < 0.25 * (sizes[1] - sizes[0]), (sizes, peaks)
