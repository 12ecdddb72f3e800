"""`workbench collect postgres` and the `workbench pg` group (pg top)."""

from __future__ import annotations

import click

from workbench.analysis.postgres import ORDER_BY, pg_top
from workbench.cli.groups import collect, db_of, main
from workbench.cli.output import format_option, info, print_json, print_table, warn
from workbench.cli.repeat import repeat_snapshots
from workbench.errors import WorkbenchError
from workbench.sources.postgres import collect as collect_snapshot
from workbench.store import Store, reading


@collect.command("postgres")
@click.option("--dsn", envvar="WORKBENCH_PG_DSN", metavar="DSN",
              help="libpq URL or key=value string; default: PGHOST/PGPORT/PGUSER/PGDATABASE/PGSERVICE, ~/.pgpass.")
@click.option("--label", help="Label stored with the snapshot (e.g. baseline, after-index).")
@click.option("--every", metavar="DURATION", help="Take a snapshot every DURATION (e.g. 60s); needs --count.")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True, help="Number of snapshots.")
@click.option("--statement-timeout", "statement_timeout_ms", type=click.IntRange(min=100), default=10_000,
              show_default=True, help="statement_timeout (ms) of the read-only session.")
@click.pass_context
def collect_postgres(ctx: click.Context, dsn: str | None, label: str | None, every: str | None, count: int,
                     statement_timeout_ms: int) -> None:
    """Snapshot pg_stat_statements and health views from a live PostgreSQL (read-only).

    The session is read-only (default_transaction_read_only) with statement and lock timeouts and
    application_name=workbench; the password is never stored or printed.

    \b
    Example:
        workbench collect postgres --dsn postgresql://app@db:5432/app --label baseline
        PGSERVICE=staging workbench collect postgres --every 60s --count 10
    """
    def one() -> None:
        sid, snap = collect_snapshot(dsn, db_of(ctx), label=label, statement_timeout_ms=statement_timeout_ms)
        for w in snap.warnings:
            warn(w)
        m = snap.meta
        info(f"snapshot {sid}: {m['host']}:{m['port']}/{m['dbname']} PostgreSQL {m['server_version']}, "
             f"pg_stat_statements {m['pgss_version']}, {len(snap.statements)} statements")

    repeat_snapshots(one, every, count, "collect postgres")


def query_text(store: Store, queryid: int) -> str:
    """The stored text of QUERYID (any server); a clear error when the store has none."""
    row = store.con.execute("SELECT query FROM pg_query_texts WHERE queryid = ? ORDER BY first_snapshot_id DESC"
                            " LIMIT 1", [queryid]).fetchone()
    if row is None:
        raise WorkbenchError(f"no statement text for queryid {queryid} in the store: see `workbench pg top`")
    return row[0]


@main.group()
def pg() -> None:
    """PostgreSQL analysis over stored snapshots."""


@pg.command("top")
@click.option("--from", "from_snap", type=int, metavar="SNAP", help="First snapshot (default: the one before --to).")
@click.option("--to", "to_snap", type=int, metavar="SNAP", help="Second snapshot (default: the latest).")
@click.option("--by", type=click.Choice(list(ORDER_BY)), default="total_time", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--label", help="Only consider snapshots with this label.")
@format_option()
@click.pass_context
def pg_top_cmd(ctx: click.Context, from_snap: int | None, to_snap: int | None, by: str, limit: int,
               label: str | None, fmt: str) -> None:
    """Top statements between two snapshots of one server (deltas that survive stats resets).

    \b
    Example:
        workbench pg top
        workbench pg top --from 3 --to 7 --by io --limit 10 --format json
    """
    with reading(db_of(ctx)) as store:
        res = pg_top(store, from_snap, to_snap, by, label)
    doc = res.to_dict(limit)
    if fmt == "json":
        print_json(doc)
        return
    if res.reset:
        warn("statistics were reset between the snapshots: " + "; ".join(res.reset_reasons))
    rows = [dict(r, query=(r["query"] or "")[:80]) for r in doc["statements"]]
    print_table(rows, ["queryid", "datname", "calls", "total_exec_time_ms", "mean_exec_time_ms", "rows",
                       "hit_ratio", "time_share", "query"],
                title=f"snapshots {doc['from']} -> {doc['to']} ({doc['interval_s']:.1f} s)")


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
    from workbench.sources.pg_explain import explain

    with reading(db_of(ctx)) as store:
        text = query_text(store, queryid)
    plan = explain(dsn, text, statement_timeout_ms=statement_timeout_ms)
    if fmt == "json":
        print_json({"queryid": queryid, "query": text, "cost": plan.cost, "plan": plan.text})
    else:
        click.echo(plan.text)
