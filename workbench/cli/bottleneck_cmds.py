"""`workbench bottlenecks` (ranked findings across components) and `workbench advise` (the index plan)."""

from __future__ import annotations

import click

import workbench
from workbench.analysis.bottleneck_checks.rules import COMPONENTS, SENSITIVITIES
from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, info, print_json, print_table, warn
from workbench.errors import CheckFailed, WorkbenchError


@main.command("bottlenecks")
@click.option("--run", help="A k6 run: its span plus a margin, with the snapshots and series inside it.")
@click.option("--label", help="Everything labelled so (k6 runs, PostgreSQL and Redis snapshots).")
@click.option("--from", "start", metavar="T", help="Window start (RFC 3339, unix seconds, now-1h).")
@click.option("--to", "end", metavar="T", help="Window end.")
@click.option("--sensitivity", type=click.Choice(SENSITIVITIES), default="medium", show_default=True,
              help="low: clear problems only; high: early signs too (thresholds in docs/bottlenecks.md).")
@click.option("--component", "components", type=click.Choice(COMPONENTS), multiple=True,
              help="Only these components (repeatable; default all).")
@click.option("--fail-above", type=click.FloatRange(0, 100), metavar="SCORE",
              help="Exit 1 when a finding scores above SCORE (a CI gate).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Findings shown.")
@click.option("--cpu-cores", type=click.FloatRange(min=0, min_open=True),
              help="Cores of the host the cpu series measure (default: this machine's).")
@format_option("table", "json")
@click.pass_context
def bottlenecks_cmd(ctx: click.Context, run: str | None, label: str | None, start: str | None, end: str | None,
                    sensitivity: str, components: tuple[str, ...], fail_above: float | None, limit: int,
                    cpu_cores: float | None, fmt: str) -> None:
    """Rank bottlenecks across the database, the API, the cache and the system.

    Each finding has a score 0-100 = 100 x weight x confidence x sqrt(impact x severity), the evidence, the
    threshold of the chosen sensitivity and a recommendation. Exit code 1 when --fail-above is given and
    a finding scores above it.

    \b
    Example:
        workbench bottlenecks --run before
        workbench bottlenecks --label nightly --sensitivity high --component database --format json
        workbench bottlenecks --from now-1h --to now --fail-above 70
    """
    res = workbench.open(db_of(ctx)).bottlenecks(run, label=label, start=start, end=end, sensitivity=sensitivity,
                                                 components=components, limit=limit, cpu_cores=cpu_cores)
    rep = res.raw
    scope = rep.scope
    if fmt == "json":
        print_json(res.to_dict())
    else:
        for comp, note in rep.notes.items():
            info(f"{comp}: {note}")
        rows = [{"score": f.score, "component": f.component, "check": f.check, "item": f.item[:70],
                 "impact/severity/confidence": f"{f.impact:.2f} / {f.severity:.2f} / {f.confidence:.2f}",
                 "value (threshold)": f"{f.value:.4g} ({f.threshold:g}) {f.unit}"} for f in rep.findings[:limit]]
        print_table(rows, title=f"bottlenecks ({sensitivity} sensitivity), {scope.start:%Y-%m-%d %H:%M:%S} .. "
                                f"{scope.end:%H:%M:%S} UTC")
        for n, f in enumerate(rep.findings[:min(limit, 5)], 1):
            info(f"{n}. {f.item[:90]}: {f.recommendation}")
    over = [f for f in rep.findings if fail_above is not None and f.score > fail_above]
    if over:
        raise CheckFailed(f"{len(over)} finding(s) score above {fail_above:g}; the top one: "
                          f"{over[0].component}/{over[0].check} {over[0].item[:80]} ({over[0].score:g})")


def _savings(text: str) -> float:
    s = text.strip()
    try:
        v = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise WorkbenchError(f"--min-savings {text!r}: give a percentage such as 50% (or a share such as 0.5)") from None
    if v >= 1 and not s.endswith("%"):
        v /= 100
    return v


@main.command("advise")
@click.option("--dsn", envvar="WORKBENCH_PG_DSN", metavar="DSN",
              help="The server to verify on with hypopg (read-only session); default: libpq's environment.")
@click.option("--min-savings", "min_savings", default="50%", show_default=True, metavar="PCT",
              help="Keep an index when it cuts the statement's generic-plan cost by at least PCT.")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Top statements examined.")
@click.option("--label", help="Use the last two snapshots with this label.")
@click.option("--no-verify", is_flag=True, help="Do not connect: write the plan from the predicates, unverified.")
@click.option("--statement-timeout", "statement_timeout_ms", type=click.IntRange(min=100), default=10_000,
              show_default=True, help="statement_timeout (ms) of the read-only session.")
@format_option("sql", "json", default="sql")
@click.pass_context
def advise_cmd(ctx: click.Context, dsn: str | None, min_savings: str, limit: int, label: str | None,
               no_verify: bool, statement_timeout_ms: int, fmt: str) -> None:
    """Write an index plan for the top statements: never executed, every statement with its evidence.

    Candidates come from the WHERE, JOIN and ORDER BY columns of the top statements (parsed with
    PostgreSQL's parser); with hypopg on the server each is verified on the statement's generic plan in a
    read-only session. The plan also drops unused and duplicate indexes, vacuums stale tables and sizes
    a PgBouncer pool. Without hypopg it is still written, marked unverified, with why.

    \b
    Example:
        workbench advise --dsn postgresql://app@db/app > plan.sql
        workbench advise --min-savings 30% --format json
    """
    res = workbench.open(db_of(ctx)).advise(dsn, min_savings=_savings(min_savings), limit=limit, label=label,
                                            verify=not no_verify, statement_timeout_ms=statement_timeout_ms)
    for w in res.warnings:
        warn(w)
    if fmt == "json":
        print_json(res.to_dict())
    else:
        click.echo(res.raw.to_sql(), nl=False)
