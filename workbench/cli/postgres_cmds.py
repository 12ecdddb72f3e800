"""`workbench collect postgres` and the `workbench pg` group (pg top)."""

from __future__ import annotations

import click

import workbench
from workbench.analysis.postgres import ORDER_BY
from workbench.cli.groups import collect, db_of, main
from workbench.cli.output import console, format_option, info, print_json, print_table, warn
from workbench.cli.repeat import repeat_snapshots


@collect.command("postgres")
@click.option("--dsn", envvar="WORKBENCH_PG_DSN", metavar="DSN",
              help="libpq URL or key=value string; default: PGHOST/PGPORT/PGUSER/PGDATABASE/PGSERVICE, ~/.pgpass.")
@click.option("--label", help="Label stored with the snapshot (e.g. baseline, after-index).")
@click.option("--every", metavar="DURATION", help="Take a snapshot every DURATION (e.g. 60s); needs --count.")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True, help="Number of snapshots.")
@click.option("--statement-timeout", "statement_timeout_ms", type=click.IntRange(min=100), default=10_000,
              show_default=True, help="statement_timeout (ms) of the read-only session.")
@click.option("--slow-every", metavar="DURATION", default="1h", show_default=True,
              help="Read the slow-changing sets (sizes, index definitions, bloat, column statistics, "
                   "sequences) when the server's last full snapshot is this old; in between, snapshots "
                   "are fast (statements, activity, counters). 0: every snapshot is full.")
@click.pass_context
def collect_postgres(ctx: click.Context, dsn: str | None, label: str | None, every: str | None, count: int,
                     statement_timeout_ms: int, slow_every: str) -> None:
    """Snapshot pg_stat_statements and health views from a live PostgreSQL (read-only).

    The session is read-only (default_transaction_read_only) with statement and lock timeouts and
    application_name=workbench; the password is never stored or printed.

    \b
    Example:
        workbench collect postgres --dsn postgresql://app@db:5432/app --label baseline
        PGSERVICE=staging workbench collect postgres --every 60s --count 10 --slow-every 1h
    """
    from workbench.durations import parse_duration_s

    slow_every_s = parse_duration_s(slow_every, example="1h, 30m or 0 (always full)")   # checked before any snapshot
    wb = workbench.open(db_of(ctx), read_only=False)

    def one() -> None:
        res = wb.collect_postgres(dsn, label=label, statement_timeout_ms=statement_timeout_ms, slow_every=slow_every_s)
        for w in res.warnings:
            warn(w)
        m = res.to_dict()
        info(f"snapshot {m['snapshot']} ({m['kind']}): {m['host']}:{m['port']}/{m['dbname']} PostgreSQL "
             f"{m['server_version']}, pg_stat_statements {m['pgss_version']}, {m['statements']} statements")

    repeat_snapshots(one, every, count, "collect postgres")


@main.group()
def pg() -> None:
    """PostgreSQL analysis over stored snapshots."""


@pg.command("top")
@click.option("--from", "from_snap", metavar="SNAP",
              help="First snapshot, by id or label (default: the one before --to).")
@click.option("--to", "to_snap", metavar="SNAP", help="Second snapshot, by id or label (default: the latest).")
@click.option("--by", type=click.Choice(list(ORDER_BY)), default="total_time", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--label", help="Only consider snapshots with this label.")
@click.option("--include-own", is_flag=True,
              help="Keep the collector's own statements (its overhead), which are left out by default.")
@format_option()
@click.pass_context
def pg_top_cmd(ctx: click.Context, from_snap: str | None, to_snap: str | None, by: str, limit: int,
               label: str | None, include_own: bool, fmt: str) -> None:
    """Top statements between two snapshots of one server (deltas that survive stats resets).

    Time shares are of top-level time; the collector's own statements are left out unless
    --include-own; another role's statements hidden from the collector form one row per database and
    role ("statements of other users (hidden)").

    \b
    Example:
        workbench pg top
        workbench pg top --from 3 --to 7 --by io --limit 10 --format json
        workbench pg top --from baseline --to after-index
    """
    result = workbench.open(db_of(ctx)).pg_top(from_snap, to_snap, by=by, limit=limit, label=label,
                                               include_own=include_own)
    doc, res = result.to_dict(), result.raw
    if fmt == "json":
        print_json(doc)
        return
    for w in result.warnings:
        warn(w)
    if res.own is not None and not res.own.empty and not include_own:
        info(f"left out: the collector's own {len(res.own)} statement(s), "
             f"{res.own.total_exec_time_ms.sum():.1f} ms (--include-own shows them)")
    print_statements(doc, console.width)


_TOP_LINE = "{total:>10} {mean:>9} {calls:>8} {hit:>5} {share:>6}  {query}"
_QUERY_WIDE = 60


def print_statements(doc: dict, width: int) -> None:
    """`pg top` as text: one line per statement, its query (whitespace collapsed) cut to fit WIDTH; the
    database shown when there are several, the queryid (for `pg explain`) only when there is room."""
    stmts = doc["statements"]
    several_dbs = len({s["datname"] for s in stmts}) > 1
    click.echo(f"snapshots {doc['from']} -> {doc['to']} ({doc['interval_s']:.1f} s)")
    head = _TOP_LINE.format(total="total ms", mean="mean ms", calls="calls", hit="hit%", share="share", query="")
    room = max(24, width - len(head))
    wide = room >= _QUERY_WIDE + 21       # the query at 60+ characters, then the queryid
    click.echo(head + (f"{'query':<{room - 21}} queryid" if wide else "query"))
    for s in stmts:
        query = " ".join((s["query"] or "").split())
        if several_dbs:
            query = f"[{s['datname']}] {query}"
        cut = room - 21 if wide else room
        query = query if len(query) <= cut else query[:cut - 1] + "…"
        hit = "" if s.get("hit_ratio") is None else f"{100 * s['hit_ratio']:.0f}"
        line = _TOP_LINE.format(total=f"{s['total_exec_time_ms']:,.1f}", mean=_ms(s["mean_exec_time_ms"]),
                                calls=f"{s['calls']:,}", hit=hit, share=f"{100 * (s['time_share'] or 0):.1f}%",
                                query=query)
        click.echo(f"{line:<{len(head) + cut}} {s['queryid'] or ''}" if wide else line)
    if stmts and not wide:
        info(f"queryids (for `workbench pg explain`): pg top --format json, or {len(head) + _QUERY_WIDE + 21}+ "
             "columns (COLUMNS=...)")


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:,.2f}" if v >= 1 else f"{v:.2g}"


@pg.command("health")
@click.option("--snapshot", "snapshot", type=int, metavar="SNAP", help="Snapshot to check (default: the latest).")
@click.option("--label", help="The latest snapshot with this label.")
@click.option("--fail-on", type=click.Choice(["warning", "critical", "never"]), default="critical",
              show_default=True, help="Exit 1 when a finding of this severity (or worse) is found.")
@format_option()
@click.pass_context
def pg_health_cmd(ctx: click.Context, snapshot: int | None, label: str | None, fail_on: str, fmt: str) -> None:
    """pgHero's checks over one snapshot: duplicate, unused and invalid indexes, sequences near their
    maximum, transaction ID wraparound, bloat, hit ratio, stale statistics, connections and their
    sources, long transactions, lock chains' root blockers, size growth across snapshots.

    One finding per row (check, item, severity, value, threshold, evidence, recommendation).

    \b
    Example:
        workbench pg health
        workbench pg health --snapshot 3 --format json --fail-on warning
    """
    from workbench.analysis.pg_health import SEVERITIES
    from workbench.errors import CheckFailed

    result = workbench.open(db_of(ctx)).pg_health(snapshot, label=label)
    res = result.raw
    if fmt == "json":
        print_json(result.to_dict())
    else:
        rows = [dict(f, value=f["value"], recommendation=f["recommendation"][:60]) for f in res.findings]
        print_table(rows, ["check", "item", "severity", "value", "threshold", "recommendation"],
                    title=f"{res.server}, snapshot {res.snapshot}: {len(res.findings)} finding(s)")
    worst = res.worst()
    if fail_on != "never" and worst is not None and SEVERITIES.index(worst) >= SEVERITIES.index(fail_on):
        raise CheckFailed(f"pg health: a {worst} finding (see above)")
@pg.command("explain")
@click.argument("queryid", type=int)
@click.option("--dsn", envvar="WORKBENCH_PG_DSN", metavar="DSN",
              help="The server to explain on (read-only session); default: libpq's environment.")
@click.option("--statement-timeout", "statement_timeout_ms", type=click.IntRange(min=100), default=10_000,
              show_default=True, help="statement_timeout (ms) of the read-only session.")
@format_option()
@click.pass_context
def pg_explain_cmd(ctx: click.Context, queryid: int, dsn: str | None, statement_timeout_ms: int, fmt: str) -> None:
    """Show a stored statement's generic plan (EXPLAIN without ANALYZE: nothing is executed).

    The text comes from the store (pg_stat_statements, `$1` for constants); PostgreSQL 16+ explains it with
    GENERIC_PLAN, older servers through PREPARE with plan_cache_mode = force_generic_plan.

    \b
    Example:
        workbench pg top --limit 5
        workbench pg explain --dsn postgresql://app@db/app -- -4383264861512389215
    """
    res = workbench.open(db_of(ctx)).pg_explain(queryid, dsn, statement_timeout_ms=statement_timeout_ms)
    if fmt == "json":
        print_json(res.to_dict())
    else:
        click.echo(res["plan"])
