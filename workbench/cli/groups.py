"""The top-level click groups. Command modules (`workbench/cli/*_cmds.py`) attach their commands to
these; a group imports a module only when one of its commands is asked for, so `workbench ingest k6`
does not pay for pandas, scipy or psycopg."""

from __future__ import annotations

import importlib

import click
from click.core import ParameterSource

from workbench import __version__

_CMDS = "workbench.cli."


class LazyGroup(click.Group):
    """A click group whose subcommands live in modules imported on first use (LAZY: name -> module)."""

    def __init__(self, *args: object, lazy: dict[str, str] | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            importlib.import_module(_CMDS + self.lazy[name])   # its decorators register the command
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy={
    "k6": "k6_cmds", "ls": "store_cmds", "report": "report_cmds", "demo": "report_cmds",
    "pg": "postgres_cmds", "redis": "redis_cmds", "prom": "prometheus_cmds",
    "compare": "compare_cmds", "abtest": "compare_cmds", "roi": "roi_cmds", "alerts": "alerts_cmds",
    "bottlenecks": "bottleneck_cmds", "advise": "bottleneck_cmds", "export": "dataset_cmds",
    "attach": "dataset_cmds", "prune": "prune_cmds", "lab": "lab_cmds", "vacuum": "vacuum_cmds"},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    ctx.obj["db_given"] = ctx.get_parameter_source("db") == ParameterSource.COMMANDLINE
    ctx.obj["debug"] = debug


@main.group(cls=LazyGroup, lazy={"k6": "k6_cmds", "prometheus": "prometheus_cmds", "redis": "redis_cmds"})
def ingest() -> None:
    """Load saved files (k6 outputs, Prometheus responses, Redis INFO) into the store."""


@main.group(cls=LazyGroup, lazy={"postgres": "postgres_cmds", "redis": "redis_cmds",
                                  "prometheus": "prometheus_cmds"})
def collect() -> None:
    """Take snapshots from live servers (PostgreSQL, Redis, Prometheus)."""


def db_of(ctx: click.Context) -> str | None:
    """The --db the user gave (None: WORKBENCH_DB or the default)."""
    return ctx.find_root().obj.get("db")


def given_db_of(ctx: click.Context) -> str | None:
    """The --db given on the command line only (WORKBENCH_DB ignored): what `demo` may use."""
    obj = ctx.find_root().obj
    return obj.get("db") if obj.get("db_given") else None
