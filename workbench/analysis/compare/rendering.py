"""`compare` and `abtest` results rendered for CI systems: JUnit XML and a Markdown pull-request comment
(strings; the CLI writes the files)."""

from __future__ import annotations

import math
from typing import Any

from workbench import gate
from workbench.analysis.rounding import change_vs_target


def _fmt(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:+.{nd}f}" if isinstance(v, float) else str(v)



def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.6g}"



def arm_names(result: dict) -> tuple[str, str]:
    return (result.get("before", result.get("control")), result.get("after", result.get("treatment")))



def to_junit(result: dict[str, Any], suite: str = "workbench compare") -> str:
    """JUnit XML: one test case per endpoint x metric (a failure per significant regression) and per
    target (a failure when a required target is missed)."""
    import xml.etree.ElementTree as ET

    a, b = arm_names(result)
    cases = []
    for r in result["results"]:
        case = ET.Element("testcase", classname=f"{suite}.{r['endpoint']}", name=r["metric"])
        msg = (f"{r['metric']} {r['endpoint']}: {a} {_num(r['before'])} -> {b} {_num(r['after'])} "
               f"({_fmt(r['change_pct'])}%, CI {_fmt(r.get('ci_low_pct'))}..{_fmt(r.get('ci_high_pct'))}%, "
               f"p_adj={_fmt(r.get('p_adjusted'), 4)})")
        if r["verdict"] in ("regressed", "missing"):
            ET.SubElement(case, "failure", message=f"{r['verdict']}: " + msg, type=r["verdict"]).text = msg
        else:
            ET.SubElement(case, "system-out").text = f"{r['verdict']}: {msg}"
        cases.append(case)
    for t in result.get("targets", []):
        case = ET.Element("testcase", classname=f"{suite}.targets", name=f"{t['endpoint']} {t['metric']} "
                          f"{t['target_change_pct']:+g}%")
        if t["required"] and not t["met"]:
            ET.SubElement(case, "failure", type="target", message=f"target missed: change {change_vs_target(t['change_pct'], t['target_change_pct'])}"
                          f" vs required {t['target_change_pct']:+g}%")
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0")
    ts.extend(cases)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"



def to_markdown(result: dict[str, Any]) -> str:
    """A Markdown summary for a pull-request comment: verdict line, table, targets, notes."""
    a, b = arm_names(result)
    head = "✅ passed" if result["passed"] else "❌ failed"
    lines = [f"### Performance comparison: {a} → {b} — {head}", ""]
    count = {v: sum(r["verdict"] == v for r in result["results"]) for v in gate.VERDICTS}
    lines.append(f"{count['improved']} improved, {count['regressed']} regressed, {count['no_change']} no change, "
                 f"{count['inconclusive']} inconclusive, {count['missing']} missing (significant after multiple-testing "
                 "adjustment and beyond the metric's tolerance).")
    if result.get("srm"):
        srm = result["srm"]
        lines.append(f"SRM check: {'ok' if srm['passed'] else '**SAMPLE RATIO MISMATCH**'} "
                     f"(counts {srm['counts']}, p={srm['p_value']:.3g}).")
    lines += ["", f"| endpoint | metric | {a} | {b} | change % | CI % | p adj. | verdict |",
              "|---|---|---:|---:|---:|---|---:|---|"]
    icon = {"improved": "🟢 improved", "regressed": "🔴 regressed", "no_change": "no change",
            "inconclusive": "❔ inconclusive", "missing": "⚠️ missing"}
    for r in result["results"]:
        lines.append(f"| {r['endpoint']} | {r['metric']} | {_num(r['before'])} | {_num(r['after'])} | "
                     f"{_fmt(r['change_pct'])} | {_fmt(r.get('ci_low_pct'))} .. {_fmt(r.get('ci_high_pct'))} | "
                     f"{_fmt(r.get('p_adjusted'), 4).lstrip('+')} | {icon[r['verdict']]} |")
    if result.get("targets"):
        lines += ["", "| target | required | change % | met |", "|---|---|---:|---|"]
        for t in result["targets"]:
            met = "n/a" if t["met"] is None else ("yes" if t["met"] else "no")
            lines.append(f"| {t['endpoint']} {t['metric']} {t['target_change_pct']:+g}% | "
                         f"{'yes' if t['required'] else 'reported'} | {_fmt(t['change_pct'])} | {met} |")
    for n in result.get("notes", []):
        lines += ["", f"> {n}"]
    return "\n".join(lines) + "\n"
