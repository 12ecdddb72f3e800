"""Plain-language headlines: what a manager reads in ten seconds, written from a report's results (the
technical line stays under it in the `Verdict`)."""

from __future__ import annotations

from typing import Any

from workbench.analysis.verdict import Verdict

# metric -> (word when it goes down, word when it goes up, what it is)
WORDS = {
    "p50_ms": ("faster", "slower", "at the median"),
    "p95_ms": ("faster", "slower", "at p95"),
    "p99_ms": ("faster", "slower", "at p99"),
    "avg_ms": ("faster", "slower", "on average"),
    "rps": ("less throughput", "more throughput", ""),
    "error_rate": ("fewer errors", "more errors", ""),
    "rate_5xx": ("fewer server errors", "more server errors", ""),
}
LATENCY_ORDER = ("p95_ms", "p99_ms", "p50_ms", "avg_ms")


def _who(endpoint: str) -> str:
    return "all requests" if endpoint in ("all", "*", "") else endpoint


def _range(r: dict[str, Any]) -> str:
    lo, hi = r.get("ci_low_pct"), r.get("ci_high_pct")
    if lo is None or hi is None:
        return ""
    a, b = sorted((abs(lo), abs(hi))) if (lo < 0) == (hi < 0) else (lo, hi)
    return f" ({a:.0f}–{b:.0f}%)" if (lo < 0) == (hi < 0) else f" ({lo:+.0f}% to {hi:+.0f}%)"


def phrase(r: dict[str, Any]) -> str:
    """One row as words: "/api/events got 39% faster at p95 (35–43%)", "login: 12% more errors"."""
    down, up, where = WORDS.get(r["metric"], ("lower", "higher", r["metric"]))
    pct = abs(r["change_pct"])
    word = down if r["change_pct"] < 0 else up
    if r["metric"].endswith("_ms"):
        return f"{_who(r['endpoint'])} got {pct:.0f}% {word} {where}{_range(r)}"
    return f"{_who(r['endpoint'])}: {pct:.0f}% {word}{_range(r)}"


def _lead(rows: list[dict[str, Any]], verdict: str) -> list[dict[str, Any]]:
    """Per endpoint, its most telling moved row (p95 first), biggest change first."""
    by_ep: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("verdict") == verdict and r.get("change_pct") is not None:
            by_ep.setdefault(r["endpoint"], []).append(r)
    leads = []
    for ep_rows in by_ep.values():
        order = {m: i for i, m in enumerate(LATENCY_ORDER)}
        leads.append(min(ep_rows, key=lambda r: order.get(r["metric"], len(order))))
    return sorted(leads, key=lambda r: (r["endpoint"] in ("all", "*"), -abs(r["change_pct"])))


def _list(leads: list[dict[str, Any]], most: int = 2) -> str:
    shown = [phrase(r) for r in leads[:most]]
    more = len(leads) - most
    return "; ".join(shown) + (f" (and {more} more endpoint{'s' if more > 1 else ''})" if more > 0 else "")


def compare_headline(result: dict[str, Any]) -> str:
    """E.g. "events got 39% faster at p95 (35–43%); nothing got slower; 1 of 3 playbook targets met"."""
    rows = result.get("results", [])
    parts = []
    srm = result.get("srm")
    if srm and not srm.get("passed", True):
        parts.append("The A/B split is broken (sample ratio mismatch), so these results cannot be trusted")
    improved, regressed = _lead(rows, "improved"), _lead(rows, "regressed")
    parts.append(_list(improved) if improved else "No clear improvement")
    parts.append(_list(regressed) if regressed else "nothing got measurably worse")
    missing = sorted({r["endpoint"] for r in rows if r.get("verdict") == "missing"})
    if missing:
        parts.append(f"{len(missing)} endpoint{'s' if len(missing) > 1 else ''} seen in one run only")
    judged = [t for t in result.get("targets", []) if t.get("met") is not None]
    if judged:
        met = sum(bool(t["met"]) for t in judged)
        required = [t for t in judged if t.get("required")]
        kind = "targets" if required else "playbook targets"
        parts.append(f"{met} of {len(judged)} {kind} met")
    text = "; ".join(p for p in parts if p)
    return text[0].upper() + text[1:] if text.startswith(("all requests", "nothing")) else text


def load_test_headline(report: Any) -> str:
    """A `load_test.LoadTestReport` in words, e.g. "The load test passed all 7 thresholds: 20,527 requests,
    95% answered within 31.0 ms, 1.0% failed; 28% faster at p95 than before"."""
    ep = report.endpoints.set_index("endpoint")
    if "all" not in ep.index:
        return f"Run {report.run} has no HTTP requests"
    a = ep.loc["all"]
    thr = report.thresholds
    failed = int((~thr["ok"].astype(bool)).sum()) if not thr.empty else 0
    if thr.empty:
        lead = "The load test ran (no thresholds declared)"
    elif failed:
        lead = f"The load test FAILED {failed} of {len(thr)} thresholds"
    else:
        lead = f"The load test passed all {len(thr)} thresholds"
    text = (f"{lead}: {int(a['requests']):,} requests, 95% answered within {a['p95_ms']:.1f} ms, "
            f"{100 * (a['error_rate'] or 0):.1f}% failed")
    cmp = report.comparison
    if report.baseline and cmp is not None and "p95_ms_change_pct" in cmp:
        row = cmp[cmp["endpoint"] == "all"]
        change = row["p95_ms_change_pct"].iloc[0] if not row.empty else None
        if change is not None and change == change:
            word = "faster" if change < 0 else "slower"
            text += f"; {abs(change):.0f}% {word} at p95 than {report.baseline}"
    return text


def _short(text: str, n: int = 50) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def database_verdict(report: Any) -> Verdict:
    """The verdict of a `postgres.DatabaseReport`: the statement that dominates, in words."""
    technical, ok = report.headline()
    top = report.top.statements if report.top is not None else None
    if report.to_snap is None or ok is True or top is None or top.empty:
        return Verdict.judged(ok, technical)
    st = top.iloc[0]
    others = len(report.verdict()) - 1
    more = f"; {others} more finding{'s' if others != 1 else ''} to review" if others > 0 else ""
    return Verdict.judged(ok, f"One statement takes {st.time_share:.0%} of the database's time "
                              f"({_short(st.query or '?')}){more}", technical)


def bottleneck_verdict(bundle: Any) -> Verdict:
    """The verdict of a `bottlenecks.BottleneckBundle`: how many, where, and the biggest."""
    technical, ok = bundle.headline()
    findings = bundle.report.findings if bundle.report is not None else []
    if not findings:
        return Verdict.judged(ok, technical)
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.component] = counts.get(f.component, 0) + 1
    where = ", ".join(f"{n} {c}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    top = findings[0]
    return Verdict.judged(ok, f"{len(findings)} possible bottleneck{'s' if len(findings) != 1 else ''} ({where}); "
                              f"the biggest: {top.component} {top.check.replace('_', ' ')}, {_short(top.item)}",
                          technical)
