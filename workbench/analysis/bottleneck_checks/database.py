"""Database detectors over the frames `workbench.analysis.postgres` computes for one snapshot pair."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.bottleneck_checks import Finding, finding, volume_confidence

BLOCK_BYTES = 8192
MIN_TABLE_ROWS = 10_000        # a sequential scan of a small table is the right plan
MIN_HIT_BLOCKS = 1_000         # a hit ratio over fewer block requests says nothing
_KIND_NAMES = {"databases": "database", "tables": "table", "indexes": "index"}


def statement_label(row: Mapping[str, Any], width: int = 160) -> str:
    """A statement as a user recognises it: its text (shortened), else its queryid."""
    text = row.get("query")
    if isinstance(text, str) and text.strip():
        one = " ".join(text.split())
        return one if len(one) <= width else one[: width - 1] + "…"
    return f"queryid {row.get('queryid')}"


def _f(v: Any, default: float = 0.0) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return default
    return default if np.isnan(x) else x


def statements(top: pd.DataFrame, sensitivity: str, *, reset: bool = False,
               advice: Mapping[int, list[dict]] | None = None) -> list[Finding]:
    """Statement time share (Pareto), mean time and temp-file spills, one finding per statement and check.

    TOP: `statement_deltas(...).statements` (calls, total/mean_exec_time_ms, time_share, temp_blks_written,
    query). ADVICE: queryid -> [{table, columns}], the advisor's index candidates, put first in the
    recommendation and kept in the evidence (`index_candidates`)."""
    out: list[Finding] = []
    if top is None or top.empty:
        return out
    for r in top.to_dict("records"):
        calls = _f(r.get("calls"))
        share = _f(r.get("time_share"))
        conf = volume_confidence(calls, 30, 0.3) * (0.7 if reset else 1.0)
        ev = {"queryid": r.get("queryid"), "calls": int(calls), "total_exec_time_ms": _f(r.get("total_exec_time_ms")),
              "mean_exec_time_ms": _f(r.get("mean_exec_time_ms")), "time_share": share,
              "rows": _f(r.get("rows")), "shared_blks_read": _f(r.get("shared_blks_read")),
              "hit_ratio": r.get("hit_ratio")}
        cands = (advice or {}).get(r.get("queryid")) or []
        extra = " ".join(f"Index candidate: CREATE INDEX CONCURRENTLY ON {c['table']} ({', '.join(c['columns'])})."
                         for c in cands)
        item = statement_label(r)
        for check, value in (("statement_time", share), ("mean_time", _f(r.get("mean_exec_time_ms"))),
                             ("temp_spill", _f(r.get("temp_blks_written")) * BLOCK_BYTES)):
            f = finding("database", check, item, value, sensitivity, impact=share, confidence=conf, evidence=ev)
            if f is not None:
                if extra:
                    f.recommendation = f"{extra} {f.recommendation}"
                    f.evidence["index_candidates"] = cands
                out.append(f)
    return out


def seq_scans(tables: pd.DataFrame, sensitivity: str) -> list[Finding]:
    """Large tables read by sequential scans (TABLES: `table_stats(store, to, from)`)."""
    out: list[Finding] = []
    if tables is None or tables.empty:
        return out
    total = tables["seq_tup_read"].fillna(0).sum()
    for r in tables.to_dict("records"):
        live = _f(r.get("n_live_tup"))
        if live < MIN_TABLE_ROWS:
            continue
        rows = _f(r.get("seq_tup_read"))
        f = finding("database", "seq_scan", r["table"], rows, sensitivity,
                    impact=rows / total if total else 0.0,
                    confidence=volume_confidence(_f(r.get("seq_scan")), 10, 0.3),
                    evidence={"seq_scan": _f(r.get("seq_scan")), "idx_scan": _f(r.get("idx_scan")),
                              "seq_scan_ratio": r.get("seq_scan_ratio"), "n_live_tup": live,
                              "total_bytes": _f(r.get("total_bytes"))})
        if f is not None:
            out.append(f)
    return out


def indexes(unused: pd.DataFrame, duplicates: pd.DataFrame, index_bytes: Mapping[str, float], sensitivity: str,
            stats_age_s: float | None = None) -> list[Finding]:
    """Unused and duplicate indexes (frames of `unused_indexes` / `duplicate_indexes`); INDEX_BYTES: table ->
    its indexes' bytes (the impact's denominator); STATS_AGE_S: how long the usage counters have counted
    (a young counter makes "unused" less certain)."""
    out: list[Finding] = []
    age_conf = 1.0 if stats_age_s is None else volume_confidence(stats_age_s, 7 * 86400, 0.3)
    for r in ([] if unused is None else unused.to_dict("records")):
        size = _f(r.get("size_bytes"))
        f = finding("database", "unused_index", r["index"], size, sensitivity,
                    impact=size / max(_f(index_bytes.get(r["table"])), size, 1.0), confidence=age_conf,
                    evidence={"table": r["table"], "size_bytes": size, "idx_scan": _f(r.get("idx_scan")),
                              "indexdef": r.get("indexdef"), "stats_age_s": stats_age_s})
        if f is not None:
            out.append(f)
    for r in ([] if duplicates is None else duplicates.to_dict("records")):
        size = _f(r.get("size_bytes"))
        f = finding("database", "duplicate_index", r["index"], max(size, 1.0), sensitivity,
                    impact=size / max(_f(index_bytes.get(r["table"])), size, 1.0),
                    evidence={"table": r["table"], "covered_by": r.get("covered_by"), "columns": r.get("columns"),
                              "size_bytes": size})
        if f is not None:
            out.append(f)
    return out


def hit_ratios(hits: Mapping[str, pd.DataFrame], sensitivity: str) -> list[Finding]:
    """Databases, tables and indexes under the 99% buffer-cache rule (HITS: `hit_ratios(...)`)."""
    out: list[Finding] = []
    for kind, df in (hits or {}).items():
        if df is None or df.empty:
            continue
        reads_total = df["blks_read"].fillna(0).sum()
        for r in df.to_dict("records"):
            hit, read = _f(r.get("blks_hit")), _f(r.get("blks_read"))
            if hit + read < MIN_HIT_BLOCKS:
                continue
            miss = read / (hit + read)
            f = finding("database", "hit_ratio", f"{_KIND_NAMES.get(kind, kind)} {r['name']}", miss, sensitivity,
                        impact=read / reads_total if reads_total else 0.0,
                        confidence=volume_confidence(hit + read, 100 * MIN_HIT_BLOCKS, 0.3),
                        evidence={"kind": kind, "hit_ratio": 1 - miss, "blks_hit": hit, "blks_read": read})
            if f is not None:
                out.append(f)
    return out


def maintenance(vacuum: pd.DataFrame, bloat: pd.DataFrame, sensitivity: str) -> list[Finding]:
    """Stale statistics (VACUUM: `vacuum_staleness`) and estimated bloat (BLOAT: `bloat`, is_na rows skipped)."""
    out: list[Finding] = []
    if vacuum is not None and not vacuum.empty:
        mods_total = vacuum["n_mod_since_analyze"].fillna(0).sum()
        for r in vacuum.to_dict("records"):
            live, mods = _f(r.get("n_live_tup")), _f(r.get("n_mod_since_analyze"))
            if live < 1000 and mods < 1000:
                continue
            never = pd.isna(r.get("since_analyze_s"))
            value = 1.0 if never and mods > 0 else mods / max(live, 1.0)
            f = finding("database", "stale_stats", r["table"], value, sensitivity,
                        impact=mods / mods_total if mods_total else 1.0,
                        evidence={"n_mod_since_analyze": mods, "n_live_tup": live, "n_dead_tup": _f(r.get("n_dead_tup")),
                                  "since_analyze_s": r.get("since_analyze_s"), "never_analyzed": bool(never)},
                        recommendation=None)
            if f is not None:
                out.append(f)
    if bloat is not None and not bloat.empty:
        usable = bloat[~bloat["is_na"].fillna(True).astype(bool)]
        total = usable["bloat_bytes"].fillna(0).sum()
        for r in usable.to_dict("records"):
            b = _f(r.get("bloat_bytes"))
            if b < 1e6:   # under a megabyte is noise of the estimate
                continue
            item = r["table"] if r.get("kind") == "table" or pd.isna(r.get("index")) else f"index {r['index']}"
            f = finding("database", "bloat", item, _f(r.get("bloat_ratio")), sensitivity,
                        impact=b / total if total else 0.0, confidence=0.6,   # an estimate from pg_stats
                        evidence={"kind": r.get("kind"), "bloat_bytes": b, "real_bytes": _f(r.get("real_bytes"))})
            if f is not None:
                out.append(f)
    return out


def server(connections: Mapping[str, Any], sessions: pd.DataFrame, sensitivity: str) -> list[Finding]:
    """Connections near max_connections (`connections(...)`), long and blocked transactions (`sessions(...)`)."""
    out: list[Finding] = []
    usage = connections.get("usage_ratio") if connections else None
    if usage is not None:
        f = finding("database", "connections", "connections vs max_connections", _f(usage), sensitivity, impact=1.0,
                    evidence={k: connections.get(k) for k in ("connections", "max_connections", "by_state")})
        if f is not None:
            out.append(f)
    if sessions is None or sessions.empty:
        return out
    for r in sessions.to_dict("records"):
        who = f"pid {r.get('pid')} ({r.get('usename') or '?'}, {r.get('application_name') or 'no app name'})"
        ev = {"pid": r.get("pid"), "state": r.get("state"), "xact_age_s": r.get("xact_age_s"),
              "query_age_s": r.get("query_age_s"), "wait_event": r.get("wait_event"),
              "blocked_by": list(r["blocked_by"]) if r.get("blocked_by") is not None else None,
              "query": (r.get("query") or "")[:200]}
        if r.get("blocked"):
            f = finding("database", "blocked", f"blocked session {who}", _f(r.get("query_age_s")), sensitivity,
                        impact=1.0, evidence=ev)
        else:
            f = finding("database", "long_transaction", f"open transaction {who}", _f(r.get("xact_age_s")),
                        sensitivity, impact=1.0, evidence=ev)
        if f is not None:
            out.append(f)
    return out


def fold_symptoms(findings: list[Finding], hits: Mapping[str, pd.DataFrame] | None) -> list[Finding]:
    """One root cause, one finding: a table's sequential scans and hit ratio (and the database's hit ratio,
    when such tables make up most of its block reads) go into the evidence of the highest-scoring statement
    whose index candidate is on that table, instead of standing as findings of their own."""
    owner: dict[str, Finding] = {}
    for f in sorted(findings, key=lambda f: -f.score):
        for c in f.evidence.get("index_candidates") or []:
            owner.setdefault(c["table"], f)
            owner.setdefault(c["table"].split(".")[-1], f)
    if not owner:
        return findings
    tables = (hits or {}).get("tables")
    folded_reads = 0.0
    if tables is not None and not tables.empty:
        folded_reads = float(tables[tables["name"].isin(owner)]["blks_read"].fillna(0).sum())
    out = []
    for f in findings:
        target = None
        if f.check == "seq_scan":
            target = owner.get(f.item)
        elif f.check == "hit_ratio" and f.evidence.get("kind") == "tables":
            target = owner.get(f.item.split(" ", 1)[1])
        elif f.check == "hit_ratio" and f.evidence.get("kind") == "databases":
            reads = float(f.evidence.get("blks_read") or 0)
            if reads and folded_reads / reads >= 0.5:
                target = max(owner.values(), key=lambda g: g.score)
        if target is None or target is f:
            out.append(f)
            continue
        target.evidence.setdefault("symptoms", []).append(
            {"check": f.check, "item": f.item, "value": f.value, "score": f.score, "evidence": f.evidence})
    return out
