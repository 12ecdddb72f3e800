"""`workbench export parquet` and `workbench attach`: the store as partitioned Parquet for Spark and Trino."""

from __future__ import annotations

import click

from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, info, print_json, print_table, warn


@main.group("export")
def export_group() -> None:
    """Write the store out in open formats other engines read."""


@export_group.command("parquet")
@click.argument("dest")
@click.option("--tables", "families", default=None, metavar="LIST",
              help="Families to export: k6,postgres,redis,prometheus (default: all; only k6 with --run).")
@click.option("--run", "runs", multiple=True, metavar="RUN", help="Only these k6 runs (repeatable).")
@click.option("--since", default=None, metavar="TIME",
              help="Only runs/snapshots/series sets from this UTC time on (ISO-8601, e.g. 2026-11-01).")
@format_option()
@click.pass_context
def export_parquet_cmd(ctx: click.Context, dest: str, families: str | None, runs: tuple[str, ...],
                       since: str | None, fmt: str) -> None:
    """Export the store as hive-partitioned zstd Parquet to DEST (a directory or s3://bucket/prefix).

    Incremental and idempotent: DEST's manifest (_manifest/) lists what is there; only new k6 ingests,
    snapshots and series sets are written. For s3:// the AWS credentials come from the usual environment
    or profile (AWS_PROFILE, AWS_ACCESS_KEY_ID..., AWS_ENDPOINT_URL for S3-compatible servers); they are
    never stored or printed. The layout is described in docs/scale.md.

    \b
    Example:
        workbench export parquet exports/ --run before --run after
        AWS_PROFILE=perf workbench export parquet s3://perf-data/workbench --since 2026-11-01
    """
    import workbench

    res = workbench.open(db_of(ctx), read_only=False).export_parquet(dest, tables=families, runs=runs,
                                                                      since=since or None)
    result = res.raw
    for w in res.warnings:
        warn(w)
    if fmt == "json":
        print_json(res.to_dict())
        return
    info(f"{dest}: {result.units_written} unit(s) written, {result.units_skipped} already there; "
         f"{result.files} files, {result.bytes / 1e6:.1f} MB in the dataset")
    if result.rows:
        print_table([{"table": t, "rows": n} for t, n in sorted(result.rows.items())], ["table", "rows"])


@main.command("attach")
@click.argument("dest")
@click.pass_context
def attach_cmd(ctx: click.Context, dest: str) -> None:
    """Read a Parquet dataset (from `export parquet` or `ingest k6 --to-parquet`) through this store.

    The store's tables that DEST holds become views over its files, so `k6 summary`, `compare`, `pg top`
    and the notebooks work unchanged. Use a store of its own for it (it must hold no rows in those tables).

    \b
    Example:
        workbench --db fleet.duckdb attach exports/
        workbench --db fleet.duckdb k6 summary --run before
    """
    import workbench

    doc = workbench.open(db_of(ctx), read_only=False).attach(dest).to_dict()
    info(f"{doc['store']} now reads {len(doc['tables'])} table(s) from {dest}: {', '.join(doc['tables'])}")
