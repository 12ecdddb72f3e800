"""The top-level click groups. Command modules attach to these; `workbench.cli` imports them all."""

from __future__ import annotations

import click

from workbench import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "db", metavar="PATH", envvar="WORKBENCH_DB",
              help="DuckDB store (default data/workbench.duckdb; env WORKBENCH_DB).")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(__version__, prog_name="workbench")
@click.pass_context
def main(ctx: click.Context, db: str | None, debug: bool) -> None:
    """perf-workbench: load-test and server evidence into DuckDB, analysed and reported.

    \b
    Example:
        workbench ingest k6 data/samples/k6/baseline.json.gz --run baseline
        workbench k6 summary --run baseline
        workbench report notebooks/10_load_test.ipynb -p run baseline
    """
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    ctx.obj["debug"] = debug


@main.group()
def ingest() -> None:
    """Load saved files (k6 outputs, Prometheus responses, Redis INFO) into the store."""


@main.group()
def collect() -> None:
    """Take snapshots from live servers (PostgreSQL, Redis, Prometheus)."""


def db_of(ctx: click.Context) -> str | None:
    """The --db the user gave (None: WORKBENCH_DB or the default)."""
    return ctx.find_root().obj.get("db")
