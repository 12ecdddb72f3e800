"""`workbench alerts`: alerting rules backtested over a window, against Prometheus or the store."""

from __future__ import annotations

import click

import workbench
from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, info, print_json, print_table, warn
from workbench.cli.prom_options import prometheus_client_options
from workbench.errors import CheckFailed, WorkbenchError


@main.command("alerts")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False), default=None,
              help="Prometheus rule file (default: the playbook's three rules; see --show-rules).")
@click.option("--url", metavar="URL", default=None,
              help="Prometheus base URL: evaluate the rules' PromQL there. Without it: the store's equivalents.")
@click.option("--start", metavar="T", help="RFC 3339, unix seconds or now-1h.")
@click.option("--end", metavar="T", default="now", show_default=True, help="RFC 3339, unix seconds or now.")
@click.option("--interval", "interval", default="1m", show_default=True, metavar="D",
              help="Evaluation interval of groups without `interval:` (Prometheus's global evaluation_interval).")
@click.option("--no-store", is_flag=True, help="Print only; do not save the firing intervals in the store.")
@click.option("--fail-if-firing", is_flag=True, help="Exit 1 when any alert fired in the window (for CI).")
@prometheus_client_options
@click.option("--show-rules", is_flag=True, help="Print the default rule file (to copy and edit) and exit.")
@format_option("table", "json")
@click.pass_context
def alerts(ctx: click.Context, rules_file: str | None, url: str | None, start: str | None, end: str,
           interval: str, no_store: bool, fail_if_firing: bool, server_timeout: str | None, concurrency: int,
           ca_file: str | None, insecure: bool, show_rules: bool, fmt: str) -> None:
    """Backtest alerting rules: when would each alert have fired between --start and --end?

    With --url, each rule's expr runs as a range query at its group's evaluation interval and
    Prometheus's alert state machine (for, keep_firing_for) is replayed offline. Without --url, the
    playbook's three conditions are computed from the store's own series (k6 p95, PostgreSQL activity
    snapshots, Redis INFO deltas), labelled as equivalents, not PromQL. The firing intervals are saved
    in the store unless --no-store. Credentials: PROMETHEUS_TOKEN or PROMETHEUS_USER/PROMETHEUS_PASSWORD.

    \b
    Example:
        workbench alerts --show-rules > rules.yml
        workbench alerts --rules rules.yml --url http://localhost:9090 --start now-6h --format json
        workbench alerts --start 2025-08-06T10:00:00Z --end 2025-08-06T11:00:00Z
    """
    from workbench.analysis import alerts as al

    if show_rules:
        click.echo(al.default_rules_text(), nl=False)
        return
    if not start:
        raise WorkbenchError("alerts needs --start (and --end, default now); see --help")
    res = workbench.open(db_of(ctx), read_only=no_store).alerts(
        start, end, rules=rules_file, url=url, interval=interval, save=not no_store, server_timeout=server_timeout,
        concurrency=concurrency, ca_file=ca_file, insecure=insecure)
    backtest = res.raw
    for note in res.warnings:
        warn(note)
    _emit(res, fmt)
    if fail_if_firing and backtest.firing_count:
        raise CheckFailed(f"{backtest.firing_count} alert interval(s) fired between {al.iso(backtest.start_ms)} and "
                          f"{al.iso(backtest.end_ms)}")


def _emit(res: workbench.results.Result, fmt: str) -> None:
    from workbench.analysis import alerts as al

    backtest = res.raw
    if fmt == "json":
        print_json(res.to_dict())
        return
    rows = [{"alert": r.rule.alert, "labels": al.labels_text(f.labels), "start": al.iso(f.start_ms),
             "end": al.iso(f.end_ms) or "(firing)", "value": f.value}
            for r in backtest.results for f in r.firing]
    what = "PromQL" if backtest.source == "promql" else "store equivalents, not PromQL"
    window = f"{al.iso(backtest.start_ms)} .. {al.iso(backtest.end_ms)}"
    if rows:
        print_table(rows, ["alert", "labels", "start", "end", "value"], title=f"firing intervals ({what})")
    info(f"{len(rows)} firing interval(s), {window} ({what})")
    for r in backtest.results:
        info(f"{r.rule.alert}: {len(r.firing)} firing interval(s) in {r.evaluations} evaluations every "
             f"{al.format_prom_duration(r.rule.interval_ms)} (for {al.format_prom_duration(r.rule.for_ms)})"
             + (f" [{r.equivalent}]" if r.equivalent else ""))
