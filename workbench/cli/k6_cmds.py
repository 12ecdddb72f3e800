"""`workbench ingest k6` and `workbench k6 summary`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click

import workbench
from workbench.cli.groups import db_of, ingest, main
from workbench.cli.output import console, format_option, info, print_json, warn
from workbench.errors import WorkbenchError
from workbench.sources import k6_pass


@contextlib.contextmanager
def _file_bar(total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar over TOTAL files on a terminal (yields the per-file step); elsewhere nothing, and
    rich.progress is not even loaded (its import is a measurable part of a short ingest's start-up)."""
    if not console.is_terminal:
        yield lambda path: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]ingest[/bold] {task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("", total=total)
        started: list[str] = []

        def step(path: str) -> None:
            progress.update(task, description=str(path), completed=len(started))
            started.append(path)

        yield step
        progress.update(task, completed=total)


def _parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise WorkbenchError(f"--tag {v!r}: expected KEY=VALUE, e.g. --tag git_sha=abc123")
        tags[key] = val
    return tags


@ingest.command("k6")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--run", required=True, help="Run id the files belong to (one points file per k6 instance).")
@click.option("--label", help="Human label for the run.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Kept with the run (git SHA, env...).")
@click.option("--replace", is_flag=True, help="Load a file again that this run already holds.")
@click.option("--skip-bad-lines", is_flag=True, help="Skip corrupt lines instead of failing the ingest.")
@click.option("--to-parquet", "to_parquet", default=None, metavar="DEST",
              help="Stream the points into a Parquet dataset (directory or s3://) instead of the store, "
                   "with bounded memory (docs/scale.md); read it back with `workbench attach DEST`.")
@click.pass_context
def ingest_k6(ctx: click.Context, files: tuple[str, ...], run: str, label: str | None, tags: tuple[str, ...],
              replace: bool, skip_bad_lines: bool, to_parquet: str | None) -> None:
    """Load k6 outputs into RUN: --out json/csv (plain or .gz), --summary-export, handleSummary JSON.

    The format is sniffed from the content. A run holds one points file per k6 instance (JSON and CSV
    outputs of one test are the same data: ingest one of them) plus at most one summary file.

    \b
    Example:
        k6 run --out json=run.json.gz --summary-export=summary.json script.js
        workbench ingest k6 run.json.gz summary.json --run pre --tag git_sha=abc123 --tag env=staging
        workbench ingest k6 pod-*.json.gz --run nightly --to-parquet s3://perf-data/workbench
    """
    tag_map = _parse_tags(tags)
    k6_pass.start(files[0])   # fingerprint the first file on the core that opening the store leaves idle
    wb = workbench.open(db_of(ctx), read_only=False)
    if to_parquet:
        res = wb.ingest_k6(list(files), run, label=label, tags=tag_map, replace=replace,
                           skip_bad_lines=skip_bad_lines, to_parquet=to_parquet)
    else:
        with _file_bar(len(files)) as step:
            res = wb.ingest_k6(list(files), run, label=label, tags=tag_map, replace=replace,
                               skip_bad_lines=skip_bad_lines, progress=step)
    where = f" in {to_parquet}" if to_parquet else ""
    for r in res.raw:
        for w in r.warnings:
            warn(w)
        if not r.skipped:
            info(f"{r.path}: {r.format}, {r.rows:,} rows -> run {run!r}{where}")


@main.group("k6")
def k6_group() -> None:
    """k6 runs in the store."""


@k6_group.command("summary")
@click.option("--run", required=True, help="Run id.")
@click.option("--trend-stats", default=None, metavar="LIST",
              help="Trend stats in k6's --summary-trend-stats syntax, e.g. avg,min,med,max,p(90),p(99.9),count.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="Where the points are aggregated: DuckDB, or Spark over the attached/--parquet dataset.")
@click.option("--parquet", default=None, metavar="DEST",
              help="Read a Parquet dataset (export parquet / --to-parquet) instead of the store.")
@format_option()
@click.pass_context
def k6_summary_cmd(ctx: click.Context, run: str, trend_stats: str | None, engine: str, parquet: str | None,
                   fmt: str) -> None:
    """k6's end-of-test summary for RUN, recomputed from the raw points (k6's own keys and percentiles).

    \b
    Example:
        workbench k6 summary --run pre --trend-stats 'avg,med,p(95),p(99),count' --format json
        workbench k6 summary --run nightly --engine spark --parquet s3a-synced/dataset
    """
    res = workbench.open(db_of(ctx)).k6_summary(run, trend_stats, engine=engine, parquet=parquet)
    summary = res.to_dict()
    if fmt == "json":
        print_json(summary)
        return
    from workbench.cli.k6_text import duration, echo_summary

    took = summary["test_run_duration_ms"]
    click.echo(f"run {run} — {summary['source']}, duration {duration(took) if took else 'unknown'}")
    click.echo()
    echo_summary(summary, res.raw["kinds"], console.width)
    for n in summary["notes"]:
        warn(n)
