"""`workbench prune`: remove old PostgreSQL and Redis snapshots from the store."""

from __future__ import annotations

import click

from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, info, print_json, print_table


@main.command("prune")
@click.option("--older-than", "older_than", required=True, metavar="DURATION",
              help="Remove snapshots taken longer ago than this (e.g. 30d, 12h).")
@click.option("--keep", type=click.Choice(["daily"]),
              help="daily: keep the last snapshot of each server and UTC day among the old ones.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
@format_option()
@click.pass_context
def prune_cmd(ctx: click.Context, older_than: str, keep: str | None, dry_run: bool, fmt: str) -> None:
    """Remove PostgreSQL and Redis snapshots older than --older-than (one transaction).

    Query texts still referenced by a kept snapshot stay, and so does the full snapshot a kept fast
    one takes its sizes and definitions from. k6 runs and Prometheus series are not touched.

    \b
    Example:
        workbench prune --older-than 30d --keep daily
        workbench prune --older-than 7d --dry-run --format json
    """
    import workbench

    result = workbench.open(db_of(ctx), read_only=False).prune(older_than, keep=keep, dry_run=dry_run)
    res, doc = result.raw, result.to_dict()
    if fmt == "json":
        print_json(doc)
        return
    verb = "would remove" if dry_run else "removed"
    info(f"{verb} {sum(res.snapshots.values())} snapshot(s) taken before {doc['cutoff']}; "
         f"kept {sum(res.kept.values())} old one(s)")
    print_table([{"table": t, "rows": n} for t, n in sorted(res.rows.items()) if n], ["table", "rows"])
