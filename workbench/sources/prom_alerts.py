"""`workbench alerts` plumbing at the edges: each rule's expression as a range query at its group's
evaluation interval (through `PromClient`, so it is chunked and retried as `collect prometheus` is),
and the store write of a backtest's rules and firing intervals (one ingest, one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.errors import WorkbenchError
from workbench.redact import redact_url
from workbench.sources.prometheus import PromClient
from workbench.store import Store

Points = list[tuple[dict[str, str], dict[int, float]]]


def rule_range(client: PromClient, expr: str, start_ms: int, end_ms: int, step_ms: int,
               where: str = "rule") -> tuple[Points, list[str]]:
    """EXPR evaluated at start, start + step, ... <= end (one range query, split into windows when
    large): ([(labels, {ts ms: value})], Prometheus's warnings). A server error names WHERE."""
    try:
        result = client.query_range(expr, start_ms, end_ms, step_ms)
    except WorkbenchError as e:
        raise WorkbenchError(f"{where}: {e}") from None
    warnings = [w for w in result.warnings if not w.startswith("empty result:")]  # empty: never true
    return [(s.labels, dict(zip(s.ts_ms, s.values, strict=True))) for s in result.series], warnings


def save_backtest(store: Store, *, source: str, rules_file: str, start_ms: int, end_ms: int,
                  rules: Sequence[dict[str, Any]], firing: Sequence[dict[str, Any]], url: str | None = None,
                  notes: Sequence[str] = ()) -> int:
    """Write one backtest: RULES rows (rule_no, group_name, alert, expr, equivalent, interval_s, for_s,
    keep_firing_for_s, labels, annotations, evaluations) and FIRING rows (rule_no, alert, labels,
    labels_text, active_at_ms, start_ms, end_ms, value). Returns the ingest id."""
    con = store.con
    with store.ingest(f"alerts-{source}", redact_url(url) if url else rules_file) as ing:
        con.execute("INSERT INTO alert_backtests VALUES (?, ?, ?, ?, epoch_ms(?::BIGINT)::TIMESTAMPTZ,"
                    " epoch_ms(?::BIGINT)::TIMESTAMPTZ, now())",
                    [ing.ingest_id, source, redact_url(url) if url else None, rules_file, start_ms, end_ms])
        for r in rules:
            con.execute(
                "INSERT INTO alert_rules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, map(?::VARCHAR[], ?::VARCHAR[]),"
                " map(?::VARCHAR[], ?::VARCHAR[]), ?)",
                [ing.ingest_id, r["rule_no"], r["group_name"], r["alert"], r["expr"], r["equivalent"],
                 r["interval_s"], r["for_s"], r["keep_firing_for_s"], list(r["labels"]),
                 list(r["labels"].values()), list(r["annotations"]), list(r["annotations"].values()),
                 r["evaluations"]])
        for f in firing:
            con.execute(
                "INSERT INTO alert_firing VALUES (?, ?, ?, map(?::VARCHAR[], ?::VARCHAR[]), ?,"
                " epoch_ms(?::BIGINT)::TIMESTAMPTZ, epoch_ms(?::BIGINT)::TIMESTAMPTZ,"
                " epoch_ms(?::BIGINT)::TIMESTAMPTZ, ?::DOUBLE)",
                [ing.ingest_id, f["rule_no"], f["alert"], list(f["labels"]), list(f["labels"].values()),
                 f["labels_text"], f["active_at_ms"], f["start_ms"], f["end_ms"], f["value"]])
        ing.rows = len(firing)
        ing.details.update(rules=len(rules), firing=len(firing), source=source)
        for n in notes:
            ing.warn(n)
        return ing.ingest_id
