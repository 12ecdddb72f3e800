"""`workbench roi`: what an optimisation is worth, from a YAML config and (optionally) measured runs."""

from __future__ import annotations

import click

import workbench
from workbench.analysis.rounding import change_vs_target
from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, info, print_json, print_table

HEADLINE = ("monthly_benefit", "npv", "payback_months", "roi_pct", "irr_annual")


def _num(v: object) -> str:
    """Money and counts with thousands separators; small numbers (rates, shares) with 4 significant digits."""
    if v is None:
        return "n/a"
    if isinstance(v, float | int) and not isinstance(v, bool):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"
    return str(v)


@main.command("roi")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="YAML inputs: numbers or distributions (docs/roi.md).")
@click.option("--from-compare", "runs", default=None, metavar="BEFORE..AFTER",
              help="Take the p95 change (with its interval) and CPU/memory from these stored runs.")
@click.option("--endpoint", default=None, help="Endpoint whose p95 change counts (default: the config's, or all).")
@click.option("--draws", type=click.IntRange(100, 10_000_000), default=None, help="Monte Carlo draws (default 100000).")
@click.option("--seed", type=click.IntRange(0), default=None, help="Monte Carlo seed (default 0).")
@format_option("table", "json")
@click.pass_context
def roi_cmd(ctx: click.Context, config_path: str, runs: str | None, endpoint: str | None, draws: int | None,
            seed: int | None, fmt: str) -> None:
    """What an optimisation is worth: monthly benefit, NPV, payback, ROI and IRR, with P10/P50/P90.

    Inputs may be numbers or distributions (pert(10, 20, 40), lognormal(600, 0.1), ...); the headline
    numbers put each input at its median, the Monte Carlo and tornado show the spread.

    \b
    Example:
        workbench roi --config roi.yml
        workbench roi --config roi.yml --from-compare before..after --endpoint events --format json
    """
    res = workbench.open(db_of(ctx)).roi(config_path, from_compare=runs, endpoint=endpoint, draws=draws, seed=seed)
    out = res.to_dict()
    if fmt == "json":
        print_json(out)
        return
    keys = HEADLINE + ("cumulative_benefit",)
    if res.raw.draws is not None:
        keys += ("npv_p10", "npv_p50", "npv_p90", "prob_npv_positive")
    rows = [{"output": k, "value": _num(out[k])} for k in keys]
    print_table(rows, ["output", "value"], title=res.title)
    if out.get("tornado"):
        print_table([{k: _num(v) for k, v in r.items()} for r in out["tornado"]],
                    ["input", "p10", "p90", "npv_at_p10", "npv_at_p90", "swing"],
                    title="tornado: NPV with one input at its P10 / P90")
    met = {True: "met", False: "missed", None: "not measured"}
    print_table([{**t, "met": met[t["met"]], "change_pct": change_vs_target(t["change_pct"], t["target_change_pct"])}
                 for t in out["success_metrics"]],
                ["metric", "endpoint", "target_change_pct", "change_pct", "met"], title="playbook success targets")
    for n in out["notes"]:
        info(f"note: {n}")
