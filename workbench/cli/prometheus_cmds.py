"""`collect prometheus`, `ingest prometheus` and `prom series`."""

from __future__ import annotations

import csv
import sys

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from workbench.analysis import prometheus as analysis
from workbench.cli.groups import collect, db_of, ingest, main
from workbench.cli.output import err_console, format_option, info, print_json, print_table, warn
from workbench.cli.prom_options import prometheus_client_options
from workbench.errors import WorkbenchError
from workbench.sources import prometheus as source
from workbench.store import reading, writing


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
    missing = [o for o, v in (("--url", url), ("--start", start), ("--step", step), ("--name", name)) if not v]
    if missing:
        raise WorkbenchError(f"collect prometheus needs {', '.join(missing)} (see --help)")
    if bool(query) == bool(preset):
        raise WorkbenchError("give exactly one of --query PROMQL or --preset NAME")
    promql = source.preset_query(preset, match, window, by) if preset else query
    start_ms, end_ms = source.parse_time_ms(start), source.parse_time_ms(end)
    step_ms = source.parse_duration_ms(step)
    with source.PromClient(url, ca_file=ca_file, insecure=insecure, server_timeout=server_timeout,
                         concurrency=concurrency) as client:
        n = len(source.windows(start_ms, end_ms, step_ms))
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      transient=True, console=err_console, disable=n < 2) as bar:
            task = bar.add_task(f"{name}: windows", total=n)
            result = client.query_range(promql, start_ms, end_ms, step_ms,
                                        progress=lambda done, total: bar.update(task, completed=done))
        where = client.where
    for w in result.warnings:
        warn(w)
    with writing(db_of(ctx)) as store:
        source.save(store, name, result, kind="prometheus-range", source=where, query=promql, preset=preset,
                  url=where, start_ms=start_ms, end_ms=end_ms, step_ms=step_ms, replace=replace)
    info(f"{name}: {len(result.series)} series, {result.points} points in {result.windows} request(s)")


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
    with writing(db_of(ctx)) as store:
        result, written = source.ingest_file(store, file, name, replace)
    for w in result.warnings:
        warn(w)
    if not result.series:
        warn(f"{file}: no series in the response")
    if written:
        info(f"{name}: {len(result.series)} series, {result.points} points ({result.result_type})")
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
    with reading(db_of(ctx)) as store:
        if fmt == "json":
            print_json(analysis.series_json(store.con, name))
            return
        rows = analysis.series_csv_rows(store.con, name)
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=["ts", "unix_ts", "labels", "value"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        print_table(rows, ["ts", "labels", "value"])
