"""`workbench collect redis`, `workbench ingest redis`, `workbench redis stats`."""

from __future__ import annotations

import click

import workbench
from workbench.cli.groups import collect, db_of, ingest, main
from workbench.cli.output import format_option, info, print_json, print_table, warn
from workbench.cli.repeat import repeat_snapshots
from workbench.sources import redis as redis_src


@collect.command("redis")
@click.option("--url", metavar="URL", help="redis://[USER:PASSWORD@]HOST:PORT[/DB], rediss:// for TLS "
              "(default: $REDIS_URL). The password is never stored or shown.")
@click.option("--label", help="A label for the snapshot(s).")
@click.option("--every", "every", metavar="DURATION", help="Take a snapshot every DURATION (10s, 1m...).")
@click.option("--count", type=click.IntRange(min=1), default=None, help="How many snapshots (with --every; "
              "default 1).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="CA bundle for rediss://.")
@click.option("--insecure", is_flag=True, help="rediss:// without certificate verification.")
@click.pass_context
def collect_redis(ctx: click.Context, url: str | None, label: str | None, every: str | None, count: int | None,
                  ca_file: str | None, insecure: bool) -> None:
    """Snapshot a live Redis / Valkey: INFO everything (ALL before 7.0) and SLOWLOG GET.

    Read-only: only INFO and SLOWLOG GET are sent. Deltas come from `workbench redis stats`.

    \b
    Example:
        workbench collect redis --url redis://127.0.0.1:6379 --label before
        REDIS_URL=rediss://app:$PW@cache:6380 workbench collect redis --every 10s --count 6
    """
    url = redis_src.redis_url(url)   # before the first snapshot: no URL is one error, not one per snapshot
    wb = workbench.open(db_of(ctx), read_only=False)

    def one() -> None:
        snap = wb.collect_redis(url, label=label, ca_file=ca_file, insecure=insecure).raw
        info(f"redis snapshot {snap.snapshot_id} of {snap.address} (run_id {snap.run_id}): "
             f"{snap.info_rows} INFO rows, {snap.slowlog_rows} slowlog entries")

    repeat_snapshots(one, every, count, "collect redis")


@ingest.command("redis")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--label", help="A label for the snapshot.")
@click.option("--server", metavar="HOST:PORT", help="The server it came from (default file:<tcp_port>); "
              "deltas are only taken between snapshots of one server.")
@click.option("--slowlog", "slowlog", type=click.Path(exists=True, dir_okay=False),
              help="A SLOWLOG GET saved as JSON (list of {id, start_time, duration, command}).")
@click.pass_context
def ingest_redis(ctx: click.Context, file: str, label: str | None, server: str | None,
                 slowlog: str | None) -> None:
    """Ingest a saved `redis-cli INFO ALL` (any Redis 2.8+/Valkey layout) as a snapshot.

    The snapshot time is the server's `server_time_usec` when the text has it (Redis 6.2+), else now.
    The same file is ingested once.

    \b
    Example:
        redis-cli -h cache INFO ALL > info_before.txt
        workbench ingest redis info_before.txt --label before --server cache:6379
    """
    res = workbench.open(db_of(ctx), read_only=False).ingest_redis(file, label=label, server=server, slowlog=slowlog)
    snap = res.raw
    for w in res.warnings:
        warn(w)
    if not snap.skipped:
        info(f"redis snapshot {snap.snapshot_id} of {snap.address}: {snap.info_rows} INFO rows")


@main.group("redis")
def redis_group() -> None:
    """Analyse Redis snapshots."""


@redis_group.command("stats")
@click.option("--from", "from_snap", metavar="SNAP", help="Snapshot id or label (default: the one before --to).")
@click.option("--to", "to_snap", metavar="SNAP", help="Snapshot id or label (default: the latest).")
@format_option("table", "json")
@click.pass_context
def redis_stats_cmd(ctx: click.Context, from_snap: str | None, to_snap: str | None, fmt: str) -> None:
    """Hits, misses, hit ratio, evictions, expirations, ops/s and per-command calls between two snapshots.

    Both snapshots must be of one server; a restart or CONFIG RESETSTAT between them gives
    `reset: true` and counts since the reset (never negative).

    \b
    Example:
        workbench redis stats --format json
        workbench redis stats --from before --to after
    """
    res = workbench.open(db_of(ctx)).redis_stats(from_snap, to_snap)
    s = res.to_dict()
    if fmt == "json":
        print_json(s)
        return
    for w in res.warnings:
        warn(w)
    mem = s["memory"]
    summary = [{"metric": k, "value": s[k]} for k in (
        "server", "from", "to", "interval_s", "keyspace_hits", "keyspace_misses", "hit_ratio", "evicted_keys",
        "expired_keys", "ops_per_s", "rejected_connections")]
    summary += [{"metric": k, "value": mem[k]} for k in ("used_memory_bytes", "maxmemory_bytes", "used_ratio",
                                                          "mem_fragmentation_ratio")]
    print_table(summary, ["metric", "value"], title="redis stats")
    print_table(res.records(), ["command", "calls", "usec", "usec_per_call", "failed_calls", "rejected_calls"],
                title="commands (by total usec)")
