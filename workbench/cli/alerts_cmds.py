"""`workbench alerts`: alerting rules backtested over a window, against Prometheus or the store."""

from __future__ import annotations

import click

from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, info, print_json, print_table, warn
from workbench.cli.prom_options import prometheus_client_options
from workbench.errors import CheckFailed, WorkbenchError
from workbench.store import reading, writing


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
    from workbench.sources import prometheus as prom

    if show_rules:
        click.echo(al.default_rules_text(), nl=False)
        return
    if not start:
        raise WorkbenchError("alerts needs --start (and --end, default now); see --help")
    start_ms, end_ms = prom.parse_time_ms(start), prom.parse_time_ms(end)
    try:
        interval_ms = al.parse_prom_duration_ms(interval)
    except ValueError as e:
        raise WorkbenchError(f"--interval: {e}") from None
    if interval_ms <= 0:
        raise WorkbenchError("--interval must be more than 0, e.g. 1m")
    if url:
        backtest, where = _promql(al, prom, rules_file, url, start_ms, end_ms, interval_ms, server_timeout,
                                  concurrency, ca_file, insecure)
    else:
        if rules_file:
            raise WorkbenchError("--rules needs --url: without Prometheus only the playbook's three rules have "
                                 "store equivalents (drop --rules, or pass --url)")
        with reading(db_of(ctx)) as store:
            backtest = al.backtest_store(store.con, start_ms, end_ms, interval_ms)
        where = None
    if not no_store:
        from workbench.sources import prom_alerts

        rules_rows, firing_rows = al.store_rows(backtest)
        with writing(db_of(ctx)) as store:
            prom_alerts.save_backtest(store, source=backtest.source, url=where, start_ms=start_ms, end_ms=end_ms,
                                      rules_file=rules_file or f"(default) {al.DEFAULT_RULES}",
                                      rules=rules_rows, firing=firing_rows, notes=backtest.notes)
    for note in backtest.notes:
        warn(note)
    _emit(backtest, fmt)
    if fail_if_firing and backtest.firing_count:
        raise CheckFailed(f"{backtest.firing_count} alert interval(s) fired between {al.iso(start_ms)} and "
                          f"{al.iso(end_ms)}")


def _promql(al, prom, rules_file, url, start_ms, end_ms, interval_ms, server_timeout, concurrency, ca_file,
            insecure):
    from workbench.sources import prom_alerts

    rule_file = al.load_rules(rules_file, interval_ms)
    if not rule_file.rules:
        raise WorkbenchError(f"{rule_file.path}: no alerting rules in the file")
    warnings: list[str] = []
    with prom.PromClient(url, ca_file=ca_file, insecure=insecure, server_timeout=server_timeout,
                         concurrency=concurrency) as client:
        def fetch(rule, lo, hi, step):
            points, notes = prom_alerts.rule_range(client, rule.expr, lo, hi, step,
                                                   where=f"{rule.file}:{rule.line}: rule {rule.alert!r}")
            warnings.extend(f"rule {rule.alert!r}: {n}" for n in notes)
            return points

        backtest = al.backtest_promql(rule_file, start_ms, end_ms, fetch)
        where = client.where
    backtest.notes.extend(warnings)
    return backtest, where


def _emit(backtest, fmt: str) -> None:
    from workbench.analysis import alerts as al

    if fmt == "json":
        print_json(backtest.to_dict())
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
