"""Reports: execute notebooks with papermill, keep a scrubbed copy, export HTML with code hidden, and
rebuild `reports/index.html` from `reports/index.json`.

Papermill copies every parameter into the output notebook (the injected-parameters cell and
`metadata.papermill.parameters`), so a notebook is executed into a temporary file and only a scrubbed
copy is kept; the HTML is exported from that copy and scrubbed again.

Notebooks announce their conclusion with `show_verdict(Verdict)` (`workbench.analysis.verdict`): it displays
a banner and carries a machine-readable copy (`application/vnd.workbench.verdict+json`) that the report
page and the index pick up.
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

from workbench import provenance
from workbench.analysis.verdict import Verdict
from workbench.errors import WorkbenchError
from workbench.origin import CAVEAT, lab_origins
from workbench.redact import MASK, SECRET_NAME, redact_text, secrets_in
from workbench.report_html import COLOURS, MARKS, VERDICT_MIME, page, title_of, verdict_of, when

# the kernel logs only errors: its start-up warnings (e.g. "running over TCP without encryption", on a
# loopback connection papermill made) would break the progress bar of `make demo`
KERNEL_QUIET = ("--IPKernelApp.log_level=CRITICAL",)   # ERROR still printed "KeyboardInterrupt caught in kernel" at shutdown
# headless and quiet: no first-run UI, no sync, updates or background traffic (the page needs no network)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
CAVEAT_MIME = "application/vnd.workbench.caveat+json"


# --------------------------------------------------------------------------------------------------
# Inside notebooks
# --------------------------------------------------------------------------------------------------
def show_verdict(verdict: Verdict | str, ok: bool | None = None, technical: str | None = None,
                 scope: str | None = None) -> None:
    """Display the report's VERDICT: its headline in plain language (what a manager reads in ten seconds),
    the technical line, the details. A string is a headline judged by OK with TECHNICAL under it. SCOPE
    names the data (runs, snapshots) when the parameters do not. A machine-readable copy goes along for
    the report page and the index."""
    from IPython.display import display

    v = verdict if isinstance(verdict, Verdict) else Verdict.judged(ok, verdict, technical)
    small = 'style="color:#57606a;font-size:.8em;margin-top:.4em"'
    tech = (f'<div {small}>{html.escape(v.technical)}</div>' if v.technical and v.technical != v.headline else "")
    if v.details:
        tech += f'<ul {small}>' + "".join(f"<li>{html.escape(d)}</li>" for d in v.details) + "</ul>"
    banner = (f'<div style="border-left:6px solid {COLOURS[v.ok]};padding:.6em 1em;background:#f6f8fa;'
              f'font-size:1.15em"><b>{MARKS[v.ok]} {html.escape(v.headline)}</b>{tech}</div>')
    plain = "\n".join([f"Verdict: {v.headline}"] + ([v.technical] if v.technical and v.technical != v.headline else [])
                      + [f"- {d}" for d in v.details])
    display({"text/html": banner, "text/plain": plain,
             VERDICT_MIME: {**v.to_dict(), "text": v.headline, "scope": scope}}, raw=True)


def show_caveat(db: str | os.PathLike | None = None, runs: list[str | None] | str | None = None,
                extra: str = "") -> bool:
    """Display the caveat (loopback, 2 cores: not production evidence) when the report's data, the
    store DB (only the ingests of RUNS when given: a list or comma-separated), includes bundled samples or lab runs; return whether
    it did. Reports on the user's own data show nothing."""
    from IPython.display import display

    from workbench.store import reading_if_exists

    with reading_if_exists(db) as store:
        origins = sorted(lab_origins(store.con, runs)) if store is not None else []
    if not origins:
        return False
    text = f"**Note.** {CAVEAT} {extra}".strip()
    display({"text/markdown": f"> {text}", "text/plain": text.replace("**", ""), CAVEAT_MIME: origins}, raw=True)
    return True


def caveat_of(nb: dict) -> list[str]:
    """The origins ('sample', 'lab') a notebook's `show_caveat` named ([] when it showed none)."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            found = (out.get("data") or {}).get(CAVEAT_MIME)
            if found:
                return list(json.loads(found) if isinstance(found, str) else found)
    return []


# --------------------------------------------------------------------------------------------------
# Finding notebooks and their parameters
# --------------------------------------------------------------------------------------------------
def notebook_dirs() -> list[Path]:
    """Where notebooks are found by name: ./notebooks, the ones shipped in the package (a regular
    install), the checkout's notebooks/ (an editable install or PYTHONPATH)."""
    import workbench

    pkg = Path(workbench.__file__).resolve().parent
    dirs = [Path("notebooks"), pkg / "notebooks", pkg.parent / "notebooks"]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d.resolve() not in {x.resolve() for x in dirs[:i]}]


def bundled_notebooks() -> list[Path]:
    """The numbered notebooks of the first notebook directory that has any."""
    for d in notebook_dirs():
        found = sorted(d.glob("[0-9]*.ipynb"))
        if found:
            return found
    return []


def find_notebook(name: str | os.PathLike) -> Path:
    """NAME as a path when it exists, else a notebook of that name (with or without .ipynb, e.g.
    `10_load_test`) in `notebook_dirs()`; a one-line error naming the notebooks there otherwise."""
    path = Path(name)
    if path.is_file():
        return path
    stem = path.name[:-len(".ipynb")] if path.name.endswith(".ipynb") else path.name
    for d in notebook_dirs():
        if (d / f"{stem}.ipynb").is_file():
            return d / f"{stem}.ipynb"
    known = ", ".join(nb.stem for nb in bundled_notebooks()) or "none"
    raise WorkbenchError(f"{name}: no such notebook file, nor a notebook of that name (known: {known})")


def notebook_parameters(notebook: Path) -> list[str]:
    """The names the notebook's `parameters` cell assigns, in order (papermill injects only these)."""
    import ast

    nb = json.loads(notebook.read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in (cell.get("metadata") or {}).get("tags", []):
            src = "".join(cell.get("source", [])) if isinstance(cell.get("source"), list) else cell["source"]
            try:
                tree = ast.parse(src)
            except SyntaxError as e:
                raise WorkbenchError(f"{notebook}: its parameters cell is not valid Python (line {e.lineno})") from None
            names = []
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, ast.AnnAssign) else [])
                names += [t.id for t in targets if isinstance(t, ast.Name) and t.id not in names]
            return names
    return []


def plan_parameters(notebooks: list[Path], given: dict[str, Any],
                    defaults: dict[str, Any] | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """(notebook, the DEFAULTS and GIVEN parameters it declares) for each notebook; a GIVEN parameter no
    notebook declares is a one-line error naming it and each notebook's parameters."""
    declared = {nb: notebook_parameters(nb) for nb in notebooks}
    unknown = [k for k in given if not any(k in names for names in declared.values())]
    if unknown:
        which = "; ".join(f"{nb.stem}: {', '.join(names) or 'none'}" for nb, names in declared.items())
        raise WorkbenchError(f"-p {', '.join(unknown)}: no notebook given declares "
                             f"{'it' if len(unknown) == 1 else 'them'} (parameters: {which})")
    values = {**(defaults or {}), **given}
    return [(nb, {k: v for k, v in values.items() if k in names}) for nb, names in declared.items()]


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
    status: str | None = None           # the Verdict's pass | fail | info (None: no verdict)
    error: str | None = None
    technical: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    caveat: list[str] = field(default_factory=list)   # 'sample' / 'lab' when built on such data


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
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    name = report_name(notebook, params)
    secrets = secret_values(params)
    error = None
    with tempfile.TemporaryDirectory(prefix="wb-report-") as tmp:
        raw = Path(tmp) / f"{name}.ipynb"
        try:
            pm.execute_notebook(str(notebook), str(raw), parameters=params, kernel_name=kernel_name,
                                progress_bar=False, log_output=False, cwd=str(cwd or notebook.parent),
                                extra_arguments=list(KERNEL_QUIET))
        except pm.PapermillExecutionError as e:
            error = f"{e.ename}: {e.evalue}"
        except Exception as e:  # kernel died, bad notebook: report, do not crash the index
            error = f"{type(e).__name__}: {e}"
            if not raw.exists():
                raise
        nb = scrub_notebook(json.loads(raw.read_text()), secrets)
    shown = scrub_params(params)
    nb.setdefault("metadata", {}).setdefault("papermill", {})["parameters"] = shown
    ipynb_path = out_dir / f"{name}.ipynb"
    ipynb_path.write_text(json.dumps(nb, indent=1))
    executed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    verdict = verdict_of(nb)
    if error:
        verdict = Verdict("fail", f"report failed: {redact_text(error, secrets)}")
    title = title_of(nb, notebook.stem)
    prov = provenance.collect(params.get("db"), secrets)
    html_path = out_dir / f"{name}.html"
    html_path.write_text(redact_text(page(nb, title, shown, executed_at, prov, verdict, notebook.name), secrets))
    return Report(name=name, title=title, notebook=str(notebook), html=html_path.name, parameters=shown,
                  executed_at=executed_at, verdict=verdict and verdict.headline, ok=verdict and verdict.ok,
                  status=verdict and verdict.status, error=error, technical=verdict and verdict.technical,
                  caveat=caveat_of(nb))


def print_pdf(html_file: Path, chromium: str | None = None, timeout: float = 120) -> Path:
    """Print HTML_FILE to a PDF next to it with headless Chromium (offline: the page loads nothing)."""
    import shutil
    import subprocess

    exe = chromium or os.environ.get("WORKBENCH_CHROMIUM") or next(
        (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if exe is None:
        raise WorkbenchError("--pdf needs Chromium: install the `chromium` package (make test does) or set "
                             "WORKBENCH_CHROMIUM to its path")
    pdf = html_file.with_suffix(".pdf")
    with tempfile.TemporaryDirectory(prefix="wb-chromium-") as profile:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
               f"--print-to-pdf={pdf.resolve()}", html_file.resolve().as_uri()]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WorkbenchError(f"{html_file}: Chromium did not print within {timeout:g} s") from None
    if r.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        tail = (r.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise WorkbenchError(f"{html_file}: Chromium could not print it to PDF ({tail[0]})")
    return pdf


# --------------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------------
def update_index(out_dir: Path, reports: list[Report]) -> Path:
    """Merge REPORTS into OUT_DIR/index.json (newest per name wins) and rewrite OUT_DIR/index.html,
    newest report first."""
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
    ordered = sorted(entries.values(), key=lambda e: (e.get("executed_at") or "", e["name"]), reverse=True)
    manifest.write_text(json.dumps(ordered, indent=2))
    index = out_dir / "index.html"
    index.write_text(render_index(ordered))
    return index


def render_index(entries: list[dict]) -> str:
    """The stakeholder landing page: one row per report with its verdict, title, parameters and time."""
    rows = []
    note = (f'<p class="note">† {html.escape(CAVEAT)}</p>' if any(e.get("caveat") for e in entries) else "")
    for e in entries:
        v = Verdict.judged(e.get("ok"), e.get("verdict") or "no verdict", e.get("technical"))
        mark, colour = MARKS[v.ok], COLOURS[v.ok]
        params = ", ".join(f"{k}={v}" for k, v in (e.get("parameters") or {}).items()
                           if k != "db" and v not in (None, ""))
        rows.append(
            f'<tr><td style="color:{colour};font-size:1.3em">{mark}</td>'
            f'<td><a href="{html.escape(e["html"])}">{html.escape(e["title"])}</a>'
            f'<div class="v">{html.escape(v.headline)}</div>'
            + ('<div class="v">† built on bundled samples or lab runs</div>' if e.get("caveat") else "")
            + '</td>'
            f'<td><code>{html.escape(params)}</code></td><td style="white-space:nowrap">{html.escape(when(e["executed_at"]))}</td></tr>')
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
{note}
<table><thead><tr><th></th><th>Report and verdict</th><th>Parameters</th><th>Executed (UTC)</th></tr></thead>
<tbody>
{os.linesep.join(rows) or '<tr><td colspan="4">No reports yet: run <code>workbench report</code>.</td></tr>'}
</tbody></table>
<p class="v">Generated {generated} by perf-workbench.</p>
</body></html>
"""
