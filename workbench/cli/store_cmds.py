"""`workbench ls runs|snapshots|series`: what the store holds."""

from __future__ import annotations

import click

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
    import workbench

    res = workbench.open(db_of(ctx)).ls(what)
    if fmt == "json":
        print_json(res.to_dict())
    else:
        print_table(res.to_dict(), title=what, wrap=("label", "tags", "query", "version"))
