"""`workbench report` (papermill -> scrubbed .ipynb + HTML + index) and `workbench demo`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from workbench.cli.groups import db_of, given_db_of, main
from workbench.cli.output import console, info, warn
from workbench.errors import CheckFailed, WorkbenchError
from workbench.store import db_path


def _value(text: str) -> object:
    """-p values: JSON numbers/booleans/null as such, anything else a string (as papermill's -p does)."""
    try:
        v = json.loads(text)
        return v if isinstance(v, int | float | bool) or v is None else text
    except json.JSONDecodeError:
        return text


def check_notebook(path: Path) -> None:
    """A one-line error unless PATH is a Jupyter notebook (JSON with a list of cells)."""
    try:
        nb = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise WorkbenchError(f"{path}: not a Jupyter notebook ({type(e).__name__}); pass an .ipynb file") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise WorkbenchError(f"{path}: not a Jupyter notebook (no cells); pass an .ipynb file")


def check_store(db: Path) -> None:
    """Could the notebooks open DB? A busy, foreign or outdated store is an error before anything runs
    (exit 2, no failed report in the index); a missing one is fine (notebooks then say "no data")."""
    from workbench.store import open_if_exists

    store = open_if_exists(db)
    if store is not None:
        store.close()


def run_reports(plan: list[tuple[Path, dict]], out: Path, pdf: bool = False) -> list:
    """Execute each (notebook, params) with a progress bar; rebuild the index; with PDF, print each report
    to a PDF next to its HTML (headless Chromium); return the reports."""
    from workbench.reports import execute_notebook, print_pdf, update_index

    reports = []
    with Progress(TextColumn("[bold]report[/bold] {task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("", total=len(plan))
        for nb, params in plan:
            progress.update(task, description=nb.name)
            reports.append(execute_notebook(nb, params, out))
            progress.advance(task)
    index = update_index(out, reports)
    for r in reports:
        (warn if r.error else info)(f"{r.html}: {r.verdict or 'no verdict'}")
    for r in reports if pdf else []:
        info(f"pdf: {print_pdf(out / r.html)}")
    info(f"index: {index}")
    return reports


@main.command("report")
@click.argument("notebooks", nargs=-1)
@click.option("-p", "--parameter", "params", nargs=2, multiple=True, metavar="NAME VALUE",
              help="Notebook parameter (repeatable); `db` defaults to the store in use.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Where executed notebooks, HTML and index.html go.")
@click.option("--pdf", is_flag=True, help="Also print each report to a PDF next to its HTML (headless Chromium).")
@click.pass_context
def report(ctx: click.Context, notebooks: tuple[str, ...], params: tuple[tuple[str, str], ...], out: Path,
           pdf: bool) -> None:
    """Execute notebooks with papermill; write scrubbed .ipynb, HTML (code hidden) and reports/index.html.

    A NOTEBOOK is a path or the name of a bundled notebook (`10_load_test`), found in ./notebooks or
    in the installed package. Without NOTEBOOKS, every bundled notebook runs with its default
    parameters. Each `-p` goes to the notebooks that declare it; one that none declares is an error.
    Parameters never carry secrets: pass the NAME of an environment variable or libpq service
    instead. Exit code 1 when a report's verdict is a failure (a notebook error or a failed check).

    \b
    Example:
        workbench report 10_load_test -p run post -p baseline pre
        workbench --db data/demo.duckdb report --out /tmp/reports --pdf
    """
    from workbench.reports import bundled_notebooks, find_notebook, plan_parameters

    chosen = [find_notebook(nb) for nb in notebooks] or bundled_notebooks()
    if not chosen:
        raise WorkbenchError("no notebooks given and none bundled: pass NOTEBOOK paths")
    for nb in chosen:
        check_notebook(nb)
    db = db_path(db_of(ctx))
    plan = plan_parameters(chosen, {k: _value(v) for k, v in params}, {"db": str(db.resolve())})
    check_store(db)
    reports = run_reports(plan, out, pdf)
    failed = [r for r in reports if r.ok is False]
    if failed:
        raise CheckFailed(f"{len(failed)} report(s) failed: " + "; ".join(r.verdict or r.name for r in failed))


@main.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Where the reports go.")
@click.option("--samples", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Sample directory (default data/samples).")
@click.pass_context
def demo(ctx: click.Context, out: Path, samples: Path | None) -> None:
    """The main job on the bundled real samples: rebuild a store, execute every notebook into reports/.

    Uses its own data/demo.duckdb and ignores WORKBENCH_DB. `--db PATH` is accepted only for a new file
    or a store the demo made; any other existing file is refused (exit 2) and left untouched.

    \b
    Example:
        workbench demo && xdg-open reports/index.html
    """
    from workbench.demo import build_demo_store, demo_plan

    target = Path(given_db_of(ctx)) if given_db_of(ctx) else None
    db, loaded = build_demo_store(target, samples, progress=info)
    for line in loaded:
        info(line)
    reports = run_reports(demo_plan(db), out)
    broken = [r for r in reports if r.error]
    if broken:
        raise WorkbenchError(f"{len(broken)} notebook(s) failed in the demo: "
                             + "; ".join(f"{r.name}: {r.error}" for r in broken))
    info(f"open {out / 'index.html'}")
