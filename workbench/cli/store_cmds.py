"""`workbench ls runs|snapshots|series`: what the store holds."""

from __future__ import annotations

import click

from workbench.analysis.inventory import list_items
from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, print_json, print_table


@main.command("ls")
@click.argument("what", type=click.Choice(["runs", "snapshots", "series", "ingests"]))
@format_option()
@click.pass_context
def ls(ctx: click.Context, what: str, fmt: str) -> None:
    """List k6 runs, server snapshots (PostgreSQL, Redis), Prometheus series sets, or the ingest log.

    \b
    Example:
        workbench ls runs
        workbench --db data/demo.duckdb ls snapshots --format json
    """
    from workbench.store import reading

    with reading(db_of(ctx)) as store:
        rows = list_items(store.con, what)
    if fmt == "json":
        print_json(rows)
    else:
        print_table(rows, title=what)
