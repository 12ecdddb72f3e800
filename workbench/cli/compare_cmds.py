"""`workbench compare` and `workbench abtest`: the CI gate over k6 runs (and Prometheus series)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

import workbench
from workbench.analysis.rounding import change_vs_target
from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, info, print_json, print_table, warn
from workbench.errors import CheckFailed, WorkbenchError

if TYPE_CHECKING:
    from workbench.api import GateResult

# the results table, one line per endpoint x metric under an endpoint heading; fits 80 columns
_LINE = "{metric:<12} {a:>9} {b:>9} {change:>7} {ci:>15} {p:>8}  {verdict}"
_COLOURS = {"regressed": "red", "missing": "red", "improved": "green", "inconclusive": "yellow"}


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}"


def print_results(rows: list[dict], arms: tuple[str, str], headers: tuple[str, str], title: str) -> None:
    """The gate's rows as text that CI logs and 80-column terminals show unbroken: each endpoint on its own
    line, then a line per metric (HEADERS name the arms' columns: before/after or control/treatment)."""
    click.echo(f"{title}: {arms[0]} -> {arms[1]}")
    click.echo(_LINE.format(metric="", a=headers[0], b=headers[1], change="change", ci="95% CI (%)", p="p adj",
                            verdict="verdict").rstrip())
    endpoint = None
    for r in rows:
        if r["endpoint"] != endpoint:
            endpoint = r["endpoint"]
            click.echo(click.style(endpoint, bold=True))
        ci = "n/a" if r.get("ci_low_pct") is None else f"{_pct(r['ci_low_pct'])}..{_pct(r.get('ci_high_pct'))}"
        p = "n/a" if r.get("p_adjusted") is None else f"{r['p_adjusted']:.2g}"
        change = "n/a" if r["change_pct"] is None else _pct(r["change_pct"]) + "%"
        line = _LINE.format(metric="  " + r["metric"], a=_num(r["before"]), b=_num(r["after"]), change=change,
                            ci=ci, p=p, verdict="")
        click.echo(line + click.style(r["verdict"], fg=_COLOURS.get(r["verdict"])))


def _window_options(f):
    for opt in reversed([
        click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level."),
        click.option("--skip", "skip", default="0s", show_default=True, metavar="DURATION",
                     help="Drop the ramp-up: ignore the first DURATION of every run (30s, 1m...)."),
        click.option("--until", "until", default=None, metavar="DURATION",
                     help="Drop the ramp-down: stop DURATION after the start (negative: before the end)."),
        click.option("--scenario", default=None, help="Compare only this k6 scenario."),
        click.option("--adjust", type=click.Choice(["holm", "bh", "none"]), default="holm", show_default=True,
                     help="Multiple-testing adjustment across endpoints x metrics."),
        click.option("--windows", type=click.IntRange(8, 1000), default=40, show_default=True,
                     help="Time windows per run for the drift-aware intervals."),
        click.option("--targets", "targets_file", type=click.Path(dir_okay=False), default=None,
                     help="YAML list of required changes (- metric: p95_ms, change_pct: -20), or a mapping with "
                          "targets: and tolerance: {p95_ms: 5%}."),
        click.option("--tolerance", "tolerance", multiple=True, metavar="METRIC=TOL|auto",
                     help="Practical-change tolerance, e.g. p95_ms=5% or error_rate=0.2pp+10% (repeatable); "
                          "'auto' learns it from 3+ baseline runs (3 x their run-to-run sd)."),
        click.option("--run-sd", type=click.FloatRange(0, 50), default=2.0, show_default=True, metavar="PCT",
                     help="Assumed run-to-run sd (%) when each arm has one run (it cannot be estimated)."),
        click.option("--min-tail", type=click.IntRange(1, 10_000), default=10, show_default=True,
                     help="Requests above a quantile needed in each arm before it gets a p-value."),
        click.option("--strict", is_flag=True, help="Also fail the gate on inconclusive rows."),
        click.option("--allow-missing", is_flag=True, help="Endpoints in one arm only do not fail the gate."),
        click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Also write JUnit XML here."),
        click.option("--markdown", type=click.Path(dir_okay=False), default=None,
                     help="Also write a Markdown summary here."),
        format_option("table", "json"),
    ]):
        f = opt(f)
    return f


def _gate_options(alpha: float, skip: str, until: str | None, scenario: str | None, adjust: str, windows: int,
                  tolerance: tuple[str, ...], run_sd: float, min_tail: int, strict: bool,
                  allow_missing: bool) -> dict:
    """The window options as keyword arguments of `Workbench.compare` / `Workbench.abtest`."""
    return {"alpha": alpha, "skip": skip, "until": until, "scenario": scenario, "adjust": adjust, "windows": windows,
            "tolerance": tolerance, "run_sd": run_sd, "min_tail": min_tail, "strict": strict,
            "allow_missing": allow_missing}


def _emit(res: GateResult, fmt: str, junit: str | None, markdown: str | None, what: str) -> None:
    result = res.to_dict()
    for path, text in ((junit, res.to_junit() if junit else ""),
                       (markdown, res.to_markdown() if markdown else "")):
        if path:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text(text)
            except OSError as e:
                raise WorkbenchError(f"cannot write {path}: {e.strerror}") from e
    if fmt == "json":
        print_json(result)
    else:
        heads = ("control", "treatment") if what == "abtest" else ("before", "after")
        print_results(result["results"], res.arms, heads, what)
        if result.get("targets"):
            click.echo()
            print_table([dict(t, target=f"{t['target_change_pct']:+g}%",
                              change=change_vs_target(t["change_pct"], t["target_change_pct"]),
                              required="yes" if t["required"] else "reported",
                              met={True: "met", False: "missed", None: "not measured"}[t["met"]])
                         for t in result["targets"]], ["endpoint", "metric", "target", "change", "required", "met"],
                        title="targets")
        if result.get("resources"):
            print_table([dict(r, change=_pct(r["change_pct"]) + "%" if r["change_pct"] is not None else "n/a")
                         for r in result["resources"]], ["endpoint", "metric", "before", "after", "change"],
                        headers={"before": heads[0], "after": heads[1]}, title="resources (Prometheus)")
        if result.get("arrival_rate"):
            print_table([{"arm": k, **v} for k, v in result["arrival_rate"].items()], title="arrival rate")
    srm_failed = bool(result.get("srm")) and not result["srm"]["passed"]
    for n in result.get("notes", []):
        if not (srm_failed and n.startswith("SAMPLE RATIO MISMATCH")):   # already warned about, with the fix
            info(f"note: {n}")
    if not result["passed"]:
        def which(verdict: str) -> list[str]:
            return [f"{r['endpoint']} {r['metric']}" for r in result["results"] if r["verdict"] == verdict]

        opts = result.get("options", {})
        missed = [f"{t['endpoint']} {t['metric']}" for t in result.get("targets", []) if t["required"] and not t["met"]]
        parts = [f"{label}: {', '.join(rows)}" for label, rows in
                 (("regressed", which("regressed")),
                  ("missing in one arm (--allow-missing to accept)", [] if opts.get("allow_missing") else
                   sorted({r.split()[0] for r in which("missing")})),
                  ("inconclusive (--strict)", which("inconclusive") if opts.get("strict") else []),
                  ("targets missed", missed)) if rows]
        if result.get("srm") and not result["srm"]["passed"]:
            parts.insert(0, "sample ratio mismatch")
        raise CheckFailed(f"{what} failed: {'; '.join(parts)}")


@main.command("compare")
@click.option("--before", required=True, metavar="RUN[,RUN...]", help="Baseline run(s).")
@click.option("--after", required=True, metavar="RUN[,RUN...]", help="Candidate run(s).")
@click.option("--power", "power", is_flag=True,
              help="Also report, by simulation from the baseline runs, the smallest p95 change that 1, 2, 3 and 5 "
                   "runs per arm would detect with 80% power.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="Where the per-window inputs are computed: DuckDB, or Spark over the attached/--parquet dataset.")
@click.option("--parquet", default=None, metavar="DEST",
              help="Read a Parquet dataset (export parquet / --to-parquet) instead of the store.")
@_window_options
@click.pass_context
def compare_cmd(ctx: click.Context, before: str, after: str, power: bool, engine: str, parquet: str | None,
                alpha: float, skip: str, until: str | None, scenario: str | None, adjust: str, windows: int,
                targets_file: str | None, tolerance: tuple[str, ...], run_sd: float, min_tail: int, strict: bool,
                allow_missing: bool, junit: str | None, markdown: str | None, fmt: str) -> None:
    """Compare k6 runs per endpoint: p50/p95/p99, rps, error rate, 5xx rate, with CIs; exit 1 on a regression.

    Runs are the unit: with several runs per arm a random-effects model measures run-to-run variance.
    A row is regressed only when the change is significant AND beyond its tolerance (default 5%);
    inconclusive when the interval reaches past the tolerance without significance (fails with --strict).
    Without --targets the playbook's success metrics are reported, not enforced.

    \b
    Example:
        workbench compare --before pre --after post --skip 30s
        workbench compare --before pre1,pre2,pre3 --after post1,post2,post3 --tolerance p95_ms=3% --power
        workbench compare --before pre1,pre2 --after post1,post2 --targets targets.yml --junit compare.xml
        workbench compare --before pre --after post --engine spark --parquet exports/
    """
    res = workbench.open(db_of(ctx)).compare(
        before, after, power=power, engine=engine, parquet=parquet, targets=targets_file,
        **_gate_options(alpha, skip, until, scenario, adjust, windows, tolerance, run_sd, min_tail, strict,
                        allow_missing))
    if power and fmt != "json":
        print_table(res.to_dict().get("power", []), ["endpoint", "metric", "runs_per_arm", "requests_per_run", "mde_pct"],
                    title="smallest p95 change detected with 80% power")
    _emit(res, fmt, junit, markdown, "compare")


@main.command("abtest")
@click.option("--run", default=None, help="The k6 run holding both variants.")
@click.option("--variant-tag", default="variant", show_default=True, help="k6 tag naming the variant.")
@click.option("--control", default=None, help="Control variant value (e.g. standard).")
@click.option("--treatment", default=None, help="Treatment variant value (e.g. optimized).")
@click.option("--split", type=click.FloatRange(0, 100, min_open=True, max_open=True), default=None,
              help="Treatment's expected share in % for the SRM check (default 50).")
@click.option("--prom-control", default=None, metavar="NAME", help="Stored Prometheus series set of the control.")
@click.option("--prom-treatment", default=None, metavar="NAME", help="Stored Prometheus series set of the treatment.")
@click.option("--higher-is-better", is_flag=True, help="For --prom-*: the series is a throughput, not a latency.")
@_window_options
@click.pass_context
def abtest_cmd(ctx: click.Context, run: str | None, variant_tag: str, control: str | None, treatment: str | None,
               split: float | None, prom_control: str | None, prom_treatment: str | None, higher_is_better: bool,
               alpha: float, skip: str, until: str | None, scenario: str | None, adjust: str, windows: int,
               targets_file: str | None, tolerance: tuple[str, ...], run_sd: float, min_tail: int, strict: bool,
               allow_missing: bool, junit: str | None, markdown: str | None, fmt: str) -> None:
    """A/B test between variants within one k6 run (SRM check first), or between two Prometheus series.

    \b
    Example:
        workbench abtest --run ab --variant-tag variant --control standard --treatment optimized --split 25
        workbench abtest --run ab --control standard --treatment optimized --skip 30s --tolerance p95_ms=3%
        workbench abtest --prom-control p95_standard --prom-treatment p95_optimized
    """
    res = workbench.open(db_of(ctx)).abtest(
        run, variant_tag=variant_tag, control=control, treatment=treatment, split=split, prom_control=prom_control,
        prom_treatment=prom_treatment, higher_is_better=higher_is_better, targets=targets_file,
        **_gate_options(alpha, skip, until, scenario, adjust, windows, tolerance, run_sd, min_tail, strict,
                        allow_missing))
    for w in res.warnings:   # the sample ratio mismatch, before the results
        warn(w)
    _emit(res, fmt, junit, markdown, "abtest")
