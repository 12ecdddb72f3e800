"""`workbench vacuum`: rewrite the store compactly, giving back the space it holds but does not use."""

from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from workbench.cli.groups import db_of, main
from workbench.cli.output import console, format_option, info, print_json


@main.command("vacuum")
@format_option("text", "json", default="text")
@click.pass_context
def vacuum_cmd(ctx: click.Context, fmt: str) -> None:
    """Copy the store into a new file, check the copy (tables, rows, migrations) and swap it in.

    DuckDB reuses the free space inside a store and cuts it off the file's end at a checkpoint, but
    never closes the holes that replaced, pruned or killed ingests leave in the middle: vacuum does.
    Writers wait until it is done; a failure or Ctrl-C leaves the store as it was. Only a workbench
    store is vacuumed; any other file is refused untouched.

    \b
    Example:
        workbench vacuum
        workbench --db data/demo.duckdb vacuum --format json
    """
    import workbench

    with Progress(TextColumn("[bold]vacuum[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("", total=None)

        def step(table: str, done: int, total: int) -> None:
            bar.update(task, description=table, completed=done, total=total)

        res = workbench.open(db_of(ctx), read_only=False).vacuum(progress=step)
    if fmt == "json":
        print_json(res.to_dict())
    info(res.raw.summary())
