"""pg_stat_statements column normalisation across extension versions 1.7-1.12.

The view's columns follow the installed *extension* version (`pg_extension.extversion`), not the
server's: after pg_upgrade a PostgreSQL 17 server can still expose 1.7 columns. We map by the column
names actually present, to the 1.11 names with `_ms` on times:

| extension | PostgreSQL | change                                                            |
|-----------|------------|-------------------------------------------------------------------|
| 1.7       | 12         | total_time, min/max/mean/stddev_time, blk_read/write_time         |
| 1.8       | 13         | *_time -> *_exec_time; plans, *_plan_time; wal_records/fpi/bytes  |
| 1.9       | 14         | toplevel; pg_stat_statements_info (dealloc, stats_reset)          |
| 1.10      | 15, 16     | temp_blk_read/write_time; jit_*                                   |
| 1.11      | 17         | blk_*_time -> shared_blk_*_time; local_blk_*_time; jit_deform_*;  |
|           |            | stats_since, minmax_stats_since                                   |
| 1.12      | 18         | wal_buffers_full; parallel_workers_to_launch, _launched           |
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

# old name -> 1.11+ name
RENAMES: dict[str, str] = {
    "total_time": "total_exec_time",
    "min_time": "min_exec_time",
    "max_time": "max_exec_time",
    "mean_time": "mean_exec_time",
    "stddev_time": "stddev_exec_time",
    "blk_read_time": "shared_blk_read_time",
    "blk_write_time": "shared_blk_write_time",
}

# The normalised schema (pg_statements without snapshot_id / text_visible), in order.
TIME_COLUMNS = [
    "total_plan_time", "min_plan_time", "max_plan_time", "mean_plan_time", "stddev_plan_time",
    "total_exec_time", "min_exec_time", "max_exec_time", "mean_exec_time", "stddev_exec_time",
    "shared_blk_read_time", "shared_blk_write_time", "local_blk_read_time", "local_blk_write_time",
    "temp_blk_read_time", "temp_blk_write_time", "jit_generation_time", "jit_inlining_time",
    "jit_optimization_time", "jit_emission_time", "jit_deform_time",
]
NORMALISED_COLUMNS = [
    "userid", "dbid", "toplevel", "queryid", "plans",
    "total_plan_time_ms", "min_plan_time_ms", "max_plan_time_ms", "mean_plan_time_ms", "stddev_plan_time_ms",
    "calls", "total_exec_time_ms", "min_exec_time_ms", "max_exec_time_ms", "mean_exec_time_ms",
    "stddev_exec_time_ms", "rows",
    "shared_blks_hit", "shared_blks_read", "shared_blks_dirtied", "shared_blks_written",
    "local_blks_hit", "local_blks_read", "local_blks_dirtied", "local_blks_written",
    "temp_blks_read", "temp_blks_written",
    "shared_blk_read_time_ms", "shared_blk_write_time_ms", "local_blk_read_time_ms", "local_blk_write_time_ms",
    "temp_blk_read_time_ms", "temp_blk_write_time_ms",
    "wal_records", "wal_fpi", "wal_bytes",
    "jit_functions", "jit_generation_time_ms", "jit_inlining_count", "jit_inlining_time_ms",
    "jit_optimization_count", "jit_optimization_time_ms", "jit_emission_count", "jit_emission_time_ms",
    "jit_deform_count", "jit_deform_time_ms",
    "stats_since", "minmax_stats_since",
    "wal_buffers_full", "parallel_workers_to_launch", "parallel_workers_launched",
]
_KNOWN = set(NORMALISED_COLUMNS)
HIDDEN_TEXT = "<insufficient privilege>"
# What pg top shows for the one row per (dbid, userid, toplevel) that sums another role's statements
# when the collector may not see them (no pg_read_all_stats: their queryid and text are NULL).
HIDDEN_QUERY = "statements of other users (hidden)"

# Cumulative counters (normalised names): deltas are taken of these; min/max/mean/stddev are not.
COUNTERS = [
    "plans", "total_plan_time_ms", "calls", "total_exec_time_ms", "rows",
    "shared_blks_hit", "shared_blks_read", "shared_blks_dirtied", "shared_blks_written",
    "local_blks_hit", "local_blks_read", "local_blks_dirtied", "local_blks_written",
    "temp_blks_read", "temp_blks_written", "shared_blk_read_time_ms", "shared_blk_write_time_ms",
    "local_blk_read_time_ms", "local_blk_write_time_ms", "temp_blk_read_time_ms", "temp_blk_write_time_ms",
    "wal_records", "wal_fpi", "wal_bytes", "jit_functions", "jit_generation_time_ms",
    "jit_inlining_count", "jit_inlining_time_ms", "jit_optimization_count", "jit_optimization_time_ms",
    "jit_emission_count", "jit_emission_time_ms", "jit_deform_count", "jit_deform_time_ms",
    "wal_buffers_full", "parallel_workers_to_launch", "parallel_workers_launched",
]


@functools.lru_cache(maxsize=512)
def normalised_name(column: str) -> str | None:
    """The pg_statements column for a pg_stat_statements column (None: not kept, e.g. `query`)."""
    name = RENAMES.get(column, column)
    if name in TIME_COLUMNS:
        name += "_ms"
    return name if name in _KNOWN else None


def _value(v: Any) -> Any:
    return int(v) if isinstance(v, Decimal) else v


def normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    """One pg_stat_statements row (column -> value) in the normalised schema; absent columns are None."""
    out: dict[str, Any] = dict.fromkeys(NORMALISED_COLUMNS)
    for col, v in row.items():
        name = normalised_name(col)
        if name is not None:
            out[name] = _value(v)
    return out


def normalise_rows(columns: list[str], rows: list[tuple], numeric: set[str] = frozenset()) -> list[dict[str, Any]]:
    """Tuples of the columns COLUMNS, as normalise_row would map them (the mapping is worked out once);
    values of the NUMERIC columns are turned from Decimal into int."""
    kept = [(i, normalised_name(c), c in numeric) for i, c in enumerate(columns)]
    kept = [(i, n, num) for i, n, num in kept if n is not None]
    idx, names = [i for i, _, _ in kept], [n for _, n, _ in kept]
    conv = [j for j, (_, _, num) in enumerate(kept) if num]
    template = dict.fromkeys(NORMALISED_COLUMNS)
    out = []
    for r in rows:
        vals = [r[i] for i in idx]
        for j in conv:
            vals[j] = _value(vals[j])
        d = template.copy()
        d.update(zip(names, vals, strict=True))
        out.append(d)
    return out


def unknown_columns(columns: list[str]) -> list[str]:
    """Columns of the installed view this normaliser does not know (a newer extension version)."""
    return [c for c in columns if c != "query" and normalised_name(c) is None]


def aggregate_hidden(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ROWS with the ones whose queryid is NULL (another role's statements, hidden from this role) summed
    into one row per (dbid, userid, toplevel), so no two stored rows share a key.

    Counters are summed, min_* / max_* take the min / max, means are recomputed from the sums, stddevs
    are dropped (not combinable without the per-statement sums of squares) and stats_since is the
    earliest, so the row counts from when its oldest member did.
    """
    out, groups = [], {}
    for r in rows:
        if r.get("queryid") is not None:
            out.append(r)
            continue
        key = (r.get("dbid"), r.get("userid"), r.get("toplevel"))
        g = groups.get(key)
        if g is None:
            groups[key] = dict(r)
            continue
        for c, v in r.items():
            if v is None:
                continue
            if g.get(c) is None:
                g[c] = v
            elif c in COUNTERS:
                g[c] += v
            elif c.startswith("min_") or c in ("stats_since", "minmax_stats_since"):
                g[c] = min(g[c], v)
            elif c.startswith("max_"):
                g[c] = max(g[c], v)
    for g in groups.values():
        for kind in ("plan", "exec"):
            n = g.get("plans" if kind == "plan" else "calls")
            tot = g.get(f"total_{kind}_time_ms")
            g[f"mean_{kind}_time_ms"] = tot / n if n and tot is not None else None
            g[f"stddev_{kind}_time_ms"] = None
        out.append(g)
    return out
