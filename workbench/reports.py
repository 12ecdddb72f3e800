"""Reports: execute notebooks with papermill, keep a scrubbed copy, export HTML with code hidden, and
rebuild `reports/index.html` from `reports/index.json`.

Papermill copies every parameter into the output notebook (the injected-parameters cell and
`metadata.papermill.parameters`), so a notebook is executed into a temporary file and only a scrubbed
copy is kept; the HTML is exported from that copy and scrubbed again.

Notebooks announce their verdict with `show_verdict(text, ok)`: it displays a banner and carries a
machine-readable copy (`application/vnd.workbench.verdict+json`) that the index picks up.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.redact import MASK, SECRET_NAME, redact_text, secrets_in

VERDICT_MIME = "application/vnd.workbench.verdict+json"
LAB_CAVEAT = ("The bundled samples and lab runs are measured on a shared 2-core machine against services on "
              "loopback: such numbers show that the analysis is right and how things scale, not how a "
              "production system performs.")


# --------------------------------------------------------------------------------------------------
# Inside notebooks
# --------------------------------------------------------------------------------------------------
def show_verdict(text: str, ok: bool | None = None) -> None:
    """Display the report's one-line verdict (a banner) with a machine-readable copy for the index."""
    from IPython.display import display

    colour = {True: "#1a7f37", False: "#cf222e", None: "#57606a"}[ok]
    mark = {True: "✔", False: "✘", None: "•"}[ok]
    banner = (f'<div style="border-left:6px solid {colour};padding:.6em 1em;background:#f6f8fa;'
              f'font-size:1.15em"><b>{mark} Verdict:</b> {html.escape(text)}</div>')
    display({"text/html": banner, "text/plain": f"Verdict: {text}", VERDICT_MIME: {"text": text, "ok": ok}},
            raw=True)


def show_caveat(extra: str = "") -> None:
    """Display the lab caveat (loopback, 2 cores: not production evidence)."""
    from IPython.display import Markdown, display

    display(Markdown(f"> **Note.** {LAB_CAVEAT} {extra}".strip()))


# --------------------------------------------------------------------------------------------------
# Scrubbing
# --------------------------------------------------------------------------------------------------
def secret_values(params: dict[str, Any]) -> list[str]:
    """Parameter values that must not appear anywhere: those whose names say secret, and the
    passwords inside DSNs/URLs among the values."""
    found = []
    for name, value in params.items():
        if SECRET_NAME.search(name) and value is not None and not isinstance(value, bool):
            found.append(str(value))
        if isinstance(value, str):
            found += secrets_in(value)
    return [s for s in found if s and s != MASK]


def scrub_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as they may be shown: secret-named values masked, DSN/URL passwords redacted."""
    return {k: (MASK if SECRET_NAME.search(k) and v not in (None, "") and not isinstance(v, bool)
                else redact_text(v) if isinstance(v, str) else v)
            for k, v in params.items()}


def _scrub(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    if isinstance(obj, list):
        return [_scrub(v, secrets) for v in obj]
    if isinstance(obj, dict):
        return {k: _scrub(v, secrets) for k, v in obj.items()}
    return obj


def scrub_notebook(nb: dict, secrets: list[str]) -> dict:
    """Every string of the notebook JSON (sources, outputs, metadata) redacted."""
    return _scrub(nb, secrets)


# --------------------------------------------------------------------------------------------------
# Executing and exporting
# --------------------------------------------------------------------------------------------------
@dataclass
class Report:
    """One executed notebook as the index lists it."""

    name: str
    title: str
    notebook: str
    html: str
    parameters: dict[str, Any]
    executed_at: str
    verdict: str | None = None
    ok: bool | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _title(nb: dict, fallback: str) -> str:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _verdict(nb: dict) -> tuple[str | None, bool | None]:
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data") or {}
            if VERDICT_MIME in data:
                v = data[VERDICT_MIME]
                if isinstance(v, str):
                    v = json.loads(v)
                return v.get("text"), v.get("ok")
    return None, None


def report_name(notebook: Path, params: dict[str, Any]) -> str:
    """File stem for an executed notebook: the notebook's stem plus the distinguishing parameters."""
    keys = [k for k in ("run", "baseline", "before", "after", "label", "from_snap", "to_snap", "redis_from",
                        "redis_to", "control", "treatment")
            if params.get(k) not in (None, "")]
    suffix = "-".join(re.sub(r"[^\w.-]+", "_", str(params[k])) for k in keys)
    return f"{notebook.stem}{'-' + suffix if suffix else ''}"


def execute_notebook(notebook: Path, params: dict[str, Any], out_dir: Path,
                     progress: Callable[[str], None] | None = None, kernel_name: str = "python3",
                     cwd: Path | None = None) -> Report:
    """Run NOTEBOOK with PARAMS via papermill into a temp file; keep a scrubbed .ipynb and .html in OUT_DIR."""
    import nbformat
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    name = report_name(notebook, params)
    secrets = secret_values(params)
    error = None
    with tempfile.TemporaryDirectory(prefix="wb-report-") as tmp:
        raw = Path(tmp) / f"{name}.ipynb"
        try:
            pm.execute_notebook(str(notebook), str(raw), parameters=params, kernel_name=kernel_name,
                                progress_bar=False, log_output=False, cwd=str(cwd or notebook.parent))
        except pm.PapermillExecutionError as e:
            error = f"{e.ename}: {e.evalue}"
        except Exception as e:  # kernel died, bad notebook: report, do not crash the index
            error = f"{type(e).__name__}: {e}"
            if not raw.exists():
                raise
        nb = scrub_notebook(json.loads(raw.read_text()), secrets)
    nb.setdefault("metadata", {}).setdefault("papermill", {})["parameters"] = scrub_params(params)
    ipynb_path = out_dir / f"{name}.ipynb"
    ipynb_path.write_text(json.dumps(nb, indent=1))
    html_path = out_dir / f"{name}.html"
    html_path.write_text(redact_text(_to_html(nbformat.reads(json.dumps(nb), as_version=4)), secrets))
    verdict, ok = _verdict(nb)
    if error:
        verdict, ok = f"report failed: {redact_text(error, secrets)}", False
    return Report(name=name, title=_title(nb, notebook.stem), notebook=str(notebook), html=html_path.name,
                  parameters=scrub_params(params), executed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  verdict=verdict, ok=ok, error=error)


def _to_html(nb: Any) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


# --------------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------------
def update_index(out_dir: Path, reports: list[Report]) -> Path:
    """Merge REPORTS into OUT_DIR/index.json (newest per name wins) and rewrite OUT_DIR/index.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "index.json"
    entries: dict[str, dict] = {}
    if manifest.exists():
        try:
            entries = {e["name"]: e for e in json.loads(manifest.read_text())}
        except (json.JSONDecodeError, KeyError, TypeError):
            entries = {}
    for r in reports:
        entries[r.name] = asdict(r)
    entries = {k: v for k, v in entries.items() if (out_dir / v["html"]).exists()}
    ordered = sorted(entries.values(), key=lambda e: e["name"])
    manifest.write_text(json.dumps(ordered, indent=2))
    index = out_dir / "index.html"
    index.write_text(render_index(ordered))
    return index


def render_index(entries: list[dict]) -> str:
    """The stakeholder landing page: one row per report with its verdict, title, parameters and time."""
    rows = []
    for e in entries:
        mark = {True: "✔", False: "✘"}.get(e.get("ok"), "•")
        colour = {True: "#1a7f37", False: "#cf222e"}.get(e.get("ok"), "#57606a")
        params = ", ".join(f"{k}={v}" for k, v in (e.get("parameters") or {}).items()
                           if k != "db" and v not in (None, ""))
        rows.append(
            f'<tr><td style="color:{colour};font-size:1.3em">{mark}</td>'
            f'<td><a href="{html.escape(e["html"])}">{html.escape(e["title"])}</a>'
            f'<div class="v">{html.escape(e.get("verdict") or "no verdict")}</div></td>'
            f'<td><code>{html.escape(params)}</code></td><td>{html.escape(e["executed_at"])}</td></tr>')
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>perf-workbench reports</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1f2328; }}
 table {{ border-collapse: collapse; width: 100%; }} td, th {{ padding: .5em; border-bottom: 1px solid #d0d7de;
 vertical-align: top; text-align: left; }} .v {{ color: #57606a; margin-top: .2em; }}
 .note {{ background: #fff8c5; padding: .6em 1em; border-radius: 6px; }}
</style></head><body>
<h1>Performance reports</h1>
<p class="note">{html.escape(LAB_CAVEAT)}</p>
<table><thead><tr><th></th><th>Report and verdict</th><th>Parameters</th><th>Executed (UTC)</th></tr></thead>
<tbody>
{os.linesep.join(rows) or '<tr><td colspan="4">No reports yet: run <code>workbench report</code>.</td></tr>'}
</tbody></table>
<p class="v">Generated {generated} by perf-workbench.</p>
</body></html>
"""
