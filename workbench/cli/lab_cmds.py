"""`workbench lab up | run | down | status`: the local staging system and the optimise-and-verify loop."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click

from workbench.cli.groups import db_of, main
from workbench.cli.output import err_console, format_option, info, print_json, print_table, warn
from workbench.errors import WorkbenchError

_dir_option = click.option("--dir", "lab_dir", metavar="DIR", envvar="WORKBENCH_LAB_DIR",
                           help="The lab's state directory (default ./.lab; env WORKBENCH_LAB_DIR).")


class _Steps:
    """Step-by-step progress on stderr: a numbered header per step, indented notes within it."""

    def __init__(self) -> None:
        self.n, self.t0, self.started = 0, time.monotonic(), time.monotonic()

    def step(self, name: str) -> None:
        self._done()
        self.n += 1
        self.started = time.monotonic()
        err_console.print(f"[bold cyan]{self.n:>2}.[/bold cyan] [bold]{name}[/bold]", highlight=False)

    def say(self, text: str) -> None:
        err_console.print(f"    {text}", highlight=False, soft_wrap=True)

    def _done(self) -> None:
        if self.n:
            err_console.print(f"    [dim]done in {time.monotonic() - self.started:.1f} s[/dim]", highlight=False)

    def finish(self) -> None:
        self._done()
        err_console.print(f"[green]finished[/green] in {time.monotonic() - self.t0:.0f} s", highlight=False)


@main.group("lab")
def lab() -> None:
    """The playbook's staging system on this machine (PostgreSQL, Redis, API, Prometheus, k6) and its loop."""


@lab.command("up")
@click.option("--short", is_flag=True, help="Less data (250,000 events instead of 400,000), for tests and CI.")
@_dir_option
def lab_up(short: bool, lab_dir: str | None) -> None:
    """Start the lab: PostgreSQL 15 with the playbook's schema and problems, Redis (cold), the API, Prometheus.

    Every service listens on a free 127.0.0.1 port; pids, ports and logs are recorded in .lab/.
    Missing Debian packages are named with the exact `apt-get install` line before anything starts.

    \b
    Example:
        workbench lab up
        workbench lab status
    """
    _preflight()
    from workbench.lab import stack

    steps = _Steps()
    steps.step("lab up")
    state = stack.up(stack.lab_dir(lab_dir), short=short, progress=steps.say)
    for note in state.notes:
        warn(note)
    steps.finish()
    _print_status(stack.status(state.dir))


@lab.command("run")
@click.option("--short", is_flag=True, help="Short arms (30 s of load each) and, if it starts the lab, less data.")
@click.option("--runs", type=click.IntRange(1, 10), default=1, show_default=True,
              help="k6 runs per arm (lab-pre-1..N, lab-post-1..N), so a gate can treat runs as the unit.")
@click.option("--prefix", default="lab", show_default=True, help="Run names: PREFIX-pre, PREFIX-post.")
@click.option("--no-reports", is_flag=True, help="Skip `workbench report` at the end.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Where the reports go.")
@_dir_option
@format_option("table", "json")
@click.pass_context
def lab_run(ctx: click.Context, short: bool, runs: int, prefix: str, no_reports: bool, out: Path,
            lab_dir: str | None, fmt: str) -> None:
    """Run the loop: baseline, k6 lab-pre, fixes, k6 lab-post (each with snapshots every 10 s and Prometheus
    ranges), then every report. Starts the lab first when it is not up.

    Requests carry the `variant` tag of the optimized_query_v2 flag (25 %), so `compare` and `abtest`
    work on the stored runs. A failing step is named and the lab is left up for inspection.

    \b
    Example:
        workbench lab run --short
        workbench compare --before lab-pre --after lab-post
        workbench abtest --run lab-pre --variant-tag variant --control standard --treatment optimized --split 25
    """
    from workbench.lab import stack
    from workbench.lab.loop import Plan, check_plan, run_loop

    signal.signal(signal.SIGTERM, _interrupt)   # a terminated run still stops its k6 (the `finally`s run)
    d = stack.lab_dir(lab_dir)
    _preflight()
    steps = _Steps()
    plan = Plan(db=db_of(ctx), runs=runs, short=short, prefix=prefix, reports=not no_reports, report_out=out)
    check_plan(plan)
    state = stack.LabState.load(d)
    if state is None or not all(state.running().values()):
        if state is not None:
            raise WorkbenchError(f"the lab in {d} is partly down ({_down_list(state)}): "
                                 "`workbench lab down`, then run again")
        steps.step("lab up")
        state = stack.up(d, short=short, progress=steps.say)
    echo = (lambda text: err_console.print(text, highlight=False, markup=False)) if fmt == "json" else \
        (lambda text: click.echo(text))
    outcome = run_loop(state, plan, steps.say, steps.step, echo)
    steps.finish()
    if fmt == "json":
        print_json(outcome.to_dict())
        return
    before, after = ",".join(outcome.before), ",".join(outcome.after)
    info(f"next: workbench compare --before {before} --after {after}")
    info(f"      workbench abtest --run {outcome.before[-1]} --variant-tag variant --control standard "
         "--treatment optimized --split 25")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _preflight() -> None:
    """Missing packages: one line and exit 2 before anything prints or starts."""
    from workbench.lab.requirements import missing_message

    problem = missing_message()
    if problem:
        raise WorkbenchError(f"lab up: {problem}")


def _down_list(state) -> str:
    return ", ".join(f"{n} {'up' if r else 'down'}" for n, r in state.running().items())


@lab.command("down")
@_dir_option
def lab_down(lab_dir: str | None) -> None:
    """Stop exactly what `lab up` started (its recorded pids) and remove its PostgreSQL directory.

    \b
    Example:
        workbench lab down
    """
    from workbench.lab import stack

    d = stack.lab_dir(lab_dir)
    stopped = stack.down(d)
    info(f"stopped: {', '.join(stopped)}" if stopped else f"no lab running from {d}")


@lab.command("status")
@_dir_option
@format_option("table", "json")
def lab_status(lab_dir: str | None, fmt: str) -> None:
    """The lab's services: pid, port, running or not, logs; its URLs (no password).

    \b
    Example:
        workbench lab status --format json
    """
    from workbench.lab import stack

    doc = stack.status(stack.lab_dir(lab_dir))
    if fmt == "json":
        print_json(doc)
    else:
        _print_status(doc)


def _print_status(doc: dict) -> None:
    if not doc["services"]:
        info(f"no lab in {doc['dir']}: `workbench lab up`")
        return
    rows = [{"service": n, **s} for n, s in doc["services"].items()]
    print_table(rows, ["service", "pid", "port", "running", "log"], title=f"lab in {doc['dir']}")
    for key in ("api_url", "prometheus_url", "redis", "postgres"):
        info(f"{key}: {doc[key]}")
