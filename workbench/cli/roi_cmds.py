"""`workbench roi`: what an optimisation is worth, from a YAML config and (optionally) measured runs."""

from __future__ import annotations

import click

from workbench.cli.groups import db_of, main
from workbench.cli.output import format_option, info, print_json, print_table
from workbench.errors import WorkbenchError
from workbench.store import Store

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
    from workbench import roi

    config = roi.load_config(config_path)
    if runs is not None:
        before, sep, after = runs.partition("..")
        if not (sep and before and after):
            raise WorkbenchError(f"--from-compare {runs!r}: use BEFORE..AFTER, e.g. before..after")
        config["from_compare"] = {**(config.get("from_compare") or {}), "before": before, "after": after}
    if endpoint is not None:
        if not config.get("from_compare"):
            raise WorkbenchError("--endpoint needs --from-compare BEFORE..AFTER (or from_compare in the config)")
        config["from_compare"] = {**config["from_compare"], "endpoint": endpoint}
    model = roi.build_model(config, where=config_path)
    if model.from_compare:
        with Store.open(db_of(ctx), read_only=True) as store:
            result = roi.run(model, store.con, where=config_path, draws=draws, seed=seed)
    else:
        result = roi.run(model, where=config_path, draws=draws, seed=seed)
    out = result.to_dict()
    if fmt == "json":
        print_json(out)
        return
    keys = HEADLINE + ("cumulative_benefit",)
    if result.draws is not None:
        keys += ("npv_p10", "npv_p50", "npv_p90", "prob_npv_positive")
    rows = [{"output": k, "value": _num(out[k])} for k in keys]
    print_table(rows, ["output", "value"], title=f"ROI over {model.horizon_months} months (inputs at their medians)")
    if out.get("tornado"):
        print_table([{k: _num(v) for k, v in r.items()} for r in out["tornado"]],
                    ["input", "p10", "p90", "npv_at_p10", "npv_at_p90", "swing"],
                    title="tornado: NPV with one input at its P10 / P90")
    met = {True: "met", False: "missed", None: "not measured"}
    print_table([{**t, "met": met[t["met"]], "change_pct": _num(t["change_pct"])} for t in out["success_metrics"]],
                ["metric", "endpoint", "target_change_pct", "change_pct", "met"], title="playbook success targets")
    for n in out["notes"]:
        info(f"note: {n}")
