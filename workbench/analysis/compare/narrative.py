"""`compare` and `abtest` results told for the notebooks: the technical verdict paragraph, the outcome
notebooks 40 and 50 show first, and the tables under it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from workbench.analysis import plain
from workbench.analysis.compare.gating import abtest_run, compare_runs
from workbench.analysis.compare.loading import runs_present
from workbench.analysis.compare.options import Options, load_targets, split_runs
from workbench.analysis.compare.rendering import arm_names
from workbench.analysis.rounding import change_vs_target
from workbench.analysis.verdict import Verdict
from workbench.errors import WorkbenchError


def results_frame(result: dict[str, Any]) -> pd.DataFrame:
    """The result rows as a DataFrame (for tables and the forest plot)."""
    return pd.DataFrame(result["results"])



def verdict_text(result: dict[str, Any]) -> tuple[str, bool]:
    """One paragraph written from the numbers: what improved or regressed, targets, the gate."""
    a, b = arm_names(result)

    def say(r: dict) -> str:
        ci = ""
        if r.get("ci_low_pct") is not None and r.get("ci_high_pct") is not None:
            ci = f" (95% CI {r['ci_low_pct']:+.1f}% to {r['ci_high_pct']:+.1f}%)"
        return f"{r['endpoint']} {r['metric']} {r['change_pct']:+.1f}%{ci}"

    def group(verdict: str) -> list[str]:
        """One phrase per endpoint: its p95 when that moved, else its first moved metric, + how many more."""
        by_ep: dict[str, list[dict]] = {}
        for r in result["results"]:
            if r["verdict"] == verdict and r["change_pct"] is not None:
                by_ep.setdefault(r["endpoint"], []).append(r)
        out = []
        for rows in by_ep.values():
            lead = next((r for r in rows if r["metric"] == "p95_ms"), rows[0])
            more = len(rows) - 1
            out.append(say(lead) + (f" (+{more} more metric{'s' if more > 1 else ''})" if more else ""))
        return out

    imp, reg = group("improved"), group("regressed")
    parts = []
    srm = result.get("srm")
    if srm and not srm["passed"]:
        parts.append(f"Sample ratio mismatch (counts {srm['counts']}, p={srm['p_value']:.2g}): the assignment is "
                     "broken, so the comparison below cannot be trusted.")
    parts.append(f"{b} vs {a}: " + (f"improved {'; '.join(imp)}." if imp else "no significant improvement."))
    parts.append(f"Regressed: {'; '.join(reg)}." if reg else "No metric regressed significantly.")
    unsure = sum(r["verdict"] == "inconclusive" for r in result["results"])
    missing = sorted({r["endpoint"] for r in result["results"] if r["verdict"] == "missing"})
    if unsure:
        parts.append(f"{unsure} metric{'s' if unsure > 1 else ''} inconclusive (the interval reaches past the "
                     "tolerance: more runs or requests would settle it).")
    if missing:
        parts.append(f"In one arm only: {', '.join(missing)}.")
    for t in result.get("targets", []):
        if t["met"] is None:
            continue
        word = "met" if t["met"] else "missed"
        kind = "required" if t["required"] else "playbook target, reported"
        chg = change_vs_target(t["change_pct"], t["target_change_pct"])
        parts.append(f"Target {t['endpoint']} {t['metric']} {t['target_change_pct']:+g}% {word} ({chg}; {kind}).")
    parts.append("Gate: passed." if result["passed"] else "Gate: FAILED.")
    return " ".join(parts), bool(result["passed"])



def compare_verdict(result: dict[str, Any]) -> Verdict:
    """A compare/abtest result's verdict: the plain headline, `verdict_text` under it, the gate as status."""
    technical, ok = verdict_text(result)
    return Verdict.judged(ok, plain.compare_headline(result), technical)


@dataclass
class Outcome:
    """What notebooks 40 and 50 show first: the compare/abtest result (None without data) and the verdict."""

    result: dict[str, Any] | None
    verdict: Verdict
    hint: str = ""                    # Markdown telling how to get data, when there is none
    latency: pd.DataFrame | None = None   # arm, endpoint, latency_ms of the steady state (for the plots)

    @property
    def have(self) -> bool:
        return self.result is not None



def before_after_outcome(con: duckdb.DuckDBPyConnection | None, before: str, after: str,
                         opts: Options | None = None, targets: str = "", db: str = "") -> Outcome:
    """`compare_runs` and its verdict for notebook 40, or why there is nothing to compare (CON None: no store)."""
    if con is None or not runs_present(con, split_runs(before) + split_runs(after)):
        return Outcome(None, Verdict("info", f"No data: runs {before!r} / {after!r} are not in {db}."),
                       f"The store has no k6 runs named `{before}` and `{after}`. Ingest them with "
                       "`workbench ingest k6 FILE --run RUN` and run this notebook with `-p before RUN -p after RUN`.")
    result = compare_runs(con, before, after, opts, load_targets(targets or None))
    return Outcome(result, compare_verdict(result))



def abtest_outcome(con: duckdb.DuckDBPyConnection | None, run: str, variant_tag: str, control: str,
                   treatment: str, opts: Options | None = None, split: float | None = None,
                   db: str = "") -> Outcome:
    """`abtest_run` and its verdict for notebook 50, or why there is nothing to compare (CON None: no store)."""
    why = f"run {run!r} is not in {db}"
    if con is not None and runs_present(con, [run]):
        try:
            result = abtest_run(con, run, variant_tag, control, treatment, opts, split)
        except WorkbenchError as e:
            why = str(e)
        else:
            return Outcome(result, compare_verdict(result))
    return Outcome(None, Verdict("info", f"No data: {why}."),
                   "Ingest a k6 run whose requests carry the variant tag, then run this notebook with "
                   "`-p run RUN -p variant_tag TAG -p control A -p treatment B`.")



TABLE_COLUMNS = ("endpoint", "metric", "before", "after", "change_pct", "ci_low_pct", "ci_high_pct", "change_pp",
                 "p_value", "p_adjusted", "verdict")



def results_table(result: dict[str, Any], p_value: bool = True) -> pd.DataFrame:
    """The result rows for the 'all metrics' table: the columns present, in order (raw p-value optional);
    an A/B result's before/after columns are named after its control and treatment."""
    res = results_frame(result)
    cols = [c for c in TABLE_COLUMNS if c in res and (p_value or c != "p_value")]
    if "control" in result:
        return res[cols].rename(columns={"before": result["control"], "after": result["treatment"]})
    return res[cols]



def targets_frame(result: dict[str, Any]) -> pd.DataFrame:
    """The evaluated targets as a table (empty frame when there are none)."""
    return pd.DataFrame(result.get("targets") or [])



def notes_markdown(result: dict[str, Any]) -> list[str]:
    """The result's notes as Markdown quotes, then the arrival-rate figures when the runs were open-model."""
    out = [f"> {note}" for note in result.get("notes", [])]
    if "arrival_rate" in result:
        out.append(f"Arrival-rate executor: `{result['arrival_rate']}`")
    return out



def srm_markdown(result: dict[str, Any]) -> str:
    """One Markdown line on the sample-ratio check: counts, observed and planned shares, p-value."""
    srm = result["srm"]
    total = sum(srm["counts"].values())
    state = "passed" if srm["passed"] else "**FAILED — sample ratio mismatch**"
    shares = ", ".join(f"{k} {v:,} ({100 * v / total:.1f}%, planned {srm['expected_split_pct'][k]:g}%)"
                       for k, v in srm["counts"].items())
    return f"SRM check {state}: {shares}; p = {srm['p_value']:.3g}."
