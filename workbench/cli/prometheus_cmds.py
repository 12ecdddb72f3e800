"""`collect prometheus`, `ingest prometheus` and `prom series`."""

from __future__ import annotations

import csv
import sys

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

import workbench
from workbench.cli.groups import collect, db_of, ingest, main
from workbench.cli.output import err_console, format_option, info, print_json, print_table, warn
from workbench.cli.prom_options import prometheus_client_options
from workbench.sources import prometheus as source


def _list_presets() -> None:
    for p in source.PRESETS.values():
        click.echo(f"{p.name}\t{p.render()}\n    {p.description}")


@collect.command("prometheus")
@click.option("--url", metavar="URL", envvar="PROMETHEUS_URL", help="Server base URL (or PROMETHEUS_URL).")
@click.option("--query", metavar="PROMQL", help="A PromQL expression.")
@click.option("--preset", metavar="NAME", help="A playbook query (see --list-presets).")
@click.option("--match", "match", default="", metavar="MATCHERS",
              help='Label matchers for the preset, e.g. \'job="api",handler="/api/events"\'.')
@click.option("--window", default="5m", show_default=True, help="Rate window of the preset.")
@click.option("--by", "by", default=None, metavar="LABELS", help="Grouping labels of the preset, e.g. handler.")
@click.option("--start", metavar="T", help="RFC 3339, unix seconds or now-1h.")
@click.option("--end", metavar="T", default="now", show_default=True, help="RFC 3339, unix seconds or now.")
@click.option("--step", metavar="S", help="Resolution: 15s, 1m or seconds.")
@click.option("--name", metavar="NAME", help="Series set name in the store.")
@click.option("--replace", is_flag=True, help="Replace an existing series set of that name.")
@prometheus_client_options
@click.option("--list-presets", is_flag=True, help="Print the presets with their PromQL and exit.")
@click.pass_context
def collect_prometheus(ctx: click.Context, url: str | None, query: str | None, preset: str | None, match: str,
                       window: str, by: str | None, start: str | None, end: str, step: str | None,
                       name: str | None, replace: bool, server_timeout: str | None, concurrency: int,
                       ca_file: str | None, insecure: bool, list_presets: bool) -> None:
    """Fetch a range query into the store as series set NAME.

    Requests over 11,000 points per series are split into windows and stitched. Credentials come
    from PROMETHEUS_TOKEN (bearer) or PROMETHEUS_USER / PROMETHEUS_PASSWORD (basic), never options.

    \b
    Example:
        workbench collect prometheus --list-presets
        workbench collect prometheus --url http://localhost:9090 --preset p95_latency \\
            --match 'query_type="standard"' --start now-1h --step 15s --name p95_standard
    """
    if list_presets:
        _list_presets()
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True,
                   console=err_console)
    task = None

    def progress(done: int, total: int) -> None:   # a bar only for a request split into 2+ windows
        nonlocal task
        if task is None and total > 1:
            bar.start()
            task = bar.add_task(f"{name}: windows", total=total)
        if task is not None:
            bar.update(task, completed=done)

    try:
        res = workbench.open(db_of(ctx), read_only=False).collect_prometheus(
            url, name, query=query, preset=preset, match=match, window=window, by=by, start=start, end=end,
            step=step, replace=replace, server_timeout=server_timeout, concurrency=concurrency, ca_file=ca_file,
            insecure=insecure, progress=progress)
    finally:
        if task is not None:
            bar.stop()
    for w in res.warnings:
        warn(w)
    doc = res.to_dict()
    info(f"{name}: {doc['series']} series, {doc['points']} points in {doc['requests']} request(s)")


@ingest.command("prometheus")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", required=True, metavar="NAME", help="Series set name in the store.")
@click.option("--replace", is_flag=True, help="Replace an existing series set of that name.")
@click.pass_context
def ingest_prometheus(ctx: click.Context, file: str, name: str, replace: bool) -> None:
    """Load a saved /api/v1/query_range or /api/v1/query response (matrix, vector, scalar).

    \b
    Example:
        curl -G http://localhost:9090/api/v1/query_range --data-urlencode 'query=up' \\
            --data-urlencode start=2025-08-06T00:00:00Z --data-urlencode end=2025-08-06T01:00:00Z \\
            --data-urlencode step=60s > up.json
        workbench ingest prometheus up.json --name up
    """
    res = workbench.open(db_of(ctx), read_only=False).ingest_prometheus(file, name, replace=replace)
    for w in res.warnings:
        warn(w)
    doc = res.to_dict()
    if doc["written"]:
        info(f"{name}: {doc['series']} series, {doc['points']} points ({doc['result_type']})")
    else:
        info(f"{name}: {file} was already ingested under that name (nothing to do)")


@main.group()
def prom() -> None:
    """Read Prometheus series sets from the store."""


@prom.command("series")
@click.option("--name", required=True, metavar="NAME", help="Series set name.")
@format_option("table", "json", "csv")
@click.pass_context
def prom_series(ctx: click.Context, name: str, fmt: str) -> None:
    """Print series set NAME: points as [unix_ts, value], NaN/+Inf/-Inf as Prometheus spells them.

    \b
    Example:
        workbench prom series --name p95_standard --format json
    """
    res = workbench.open(db_of(ctx)).prom_series(name)
    if fmt == "json":
        print_json(res.to_dict())
        return
    from workbench.analysis.prometheus import csv_rows

    rows = csv_rows(res.to_dict())
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=["ts", "unix_ts", "labels", "value"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        print_table([dict(r, ts=_ms_time(r["unix_ts"])) for r in rows], ["ts", "labels", "value"], wrap=["labels"])


def _ms_time(unix_ts: float) -> str:
    """A Prometheus timestamp (seconds, millisecond resolution) in UTC to the millisecond."""
    import datetime as dt

    return dt.datetime.fromtimestamp(unix_ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
