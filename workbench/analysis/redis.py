"""Redis deltas between two snapshots of one server, and frames for the cache notebook.

Counters in INFO count from the server's start or its last `CONFIG RESETSTAT`. A delta is only taken
between snapshots of the same address; when the server restarted (`run_id` changed, uptime went down)
or its stats were reset (a counter went down, a command vanished from commandstats,
`config|resetstat` appeared), the result says `"reset": true` and the numbers are those counted since
the reset (the `to` snapshot's own counters): a lower bound for the interval, never negative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from workbench.errors import WorkbenchError

COUNTERS = ("keyspace_hits", "keyspace_misses", "evicted_keys", "expired_keys", "total_commands_processed",
            "total_connections_received", "rejected_connections", "total_error_replies")
CACHE_HIT_TARGET_RATIO = 0.8          # playbook: CacheHitRateLow fires below 80%
FRAGMENTATION_MIN_USED_BYTES = 100 * 1024 * 1024
FRAGMENTATION_NOTE = ("mem_fragmentation_ratio (rss / used_memory) is only meaningful when used_memory is "
                      "large (here: >= 100 MiB); on a small or idle instance the allocator's fixed RSS "
                      "dominates and the ratio looks alarming without being a problem")


# -- choosing snapshots ------------------------------------------------------------------------------
def snapshots(con: duckdb.DuckDBPyConnection, address: str | None = None) -> pd.DataFrame:
    """All snapshots (optionally of one address), oldest first."""
    sql = "SELECT * FROM redis_snapshot_stats"
    params: list[Any] = []
    if address:
        sql += " WHERE address = ?"
        params.append(address)
    return con.execute(sql + " ORDER BY taken_at, snapshot_id", params).df()


def _resolve(con: duckdb.DuckDBPyConnection, ref: str | int) -> dict:
    """A snapshot by id, or the latest one carrying label REF."""
    cols = "snapshot_id, taken_at, address, run_id, label"
    row = None
    if str(ref).isdigit():
        row = con.execute(f"SELECT {cols} FROM redis_snapshots WHERE snapshot_id = ?", [int(ref)]).fetchone()
    if row is None:
        row = con.execute(f"SELECT {cols} FROM redis_snapshots WHERE label = ? ORDER BY taken_at DESC,"
                          " snapshot_id DESC LIMIT 1", [str(ref)]).fetchone()
    if row is None:
        raise WorkbenchError(f"no Redis snapshot {ref!r}: see `workbench ls snapshots`")
    return dict(zip(["snapshot_id", "taken_at", "address", "run_id", "label"], row, strict=True))


def _neighbour(con: duckdb.DuckDBPyConnection, snap: dict, before: bool) -> dict | None:
    op, order = ("<", "DESC") if before else (">", "ASC")
    row = con.execute(
        f"SELECT snapshot_id FROM redis_snapshots WHERE address = ? AND (taken_at, snapshot_id) {op} (?, ?)"
        f" ORDER BY taken_at {order}, snapshot_id {order} LIMIT 1",
        [snap["address"], snap["taken_at"], snap["snapshot_id"]],
    ).fetchone()
    return _resolve(con, row[0]) if row else None


def pick_pair(con: duckdb.DuckDBPyConnection, from_snap: str | int | None = None,
              to_snap: str | int | None = None) -> tuple[dict, dict]:
    """(from, to): defaults are the last two snapshots of the server that was snapshotted last."""
    if to_snap is not None:
        to = _resolve(con, to_snap)
    elif from_snap is not None:
        frm = _resolve(con, from_snap)
        to = _neighbour(con, frm, before=False)
        if to is None:
            raise WorkbenchError(f"no Redis snapshot of {frm['address']} after {frm['snapshot_id']}: "
                                 "take another with `workbench collect redis`")
    else:
        row = con.execute("SELECT snapshot_id FROM redis_snapshots ORDER BY taken_at DESC, snapshot_id DESC"
                          " LIMIT 1").fetchone()
        if row is None:
            raise WorkbenchError("no Redis snapshots in the store: run `workbench collect redis` (twice)")
        to = _resolve(con, row[0])
    frm = _resolve(con, from_snap) if from_snap is not None else _neighbour(con, to, before=True)
    if frm is None:
        raise WorkbenchError(f"only one Redis snapshot of {to['address']}: take another with "
                             "`workbench collect redis` to get a delta")
    if frm["address"] != to["address"]:
        raise WorkbenchError(f"snapshots {frm['snapshot_id']} ({frm['address']}) and {to['snapshot_id']} "
                             f"({to['address']}) are of different servers: deltas need one server")
    if (frm["taken_at"], frm["snapshot_id"]) >= (to["taken_at"], to["snapshot_id"]):
        raise WorkbenchError(f"--from {frm['snapshot_id']} is not older than --to {to['snapshot_id']}")
    return frm, to


# -- one interval ------------------------------------------------------------------------------------
def _row(con: duckdb.DuckDBPyConnection, sid: int) -> dict:
    df = con.execute("SELECT * FROM redis_snapshot_stats WHERE snapshot_id = ?", [sid]).df()
    return {k: (None if pd.isna(v) else v) for k, v in df.iloc[0].items()}


def _commands(con: duckdb.DuckDBPyConnection, sid: int) -> dict[str, dict]:
    df = con.execute("SELECT * FROM redis_commandstats WHERE snapshot_id = ?", [sid]).df()
    return {r["command"]: r for r in df.to_dict("records")}


def reset_reasons(a: dict, b: dict, cmds_a: dict[str, dict], cmds_b: dict[str, dict]) -> list[str]:
    """Why the counters of B cannot be diffed against A (empty list: they can)."""
    reasons = []
    if a.get("run_id") and b.get("run_id") and a["run_id"] != b["run_id"]:
        reasons.append("run_id changed (server restarted)")
    if a.get("uptime_s") is not None and b.get("uptime_s") is not None and b["uptime_s"] < a["uptime_s"]:
        reasons.append("uptime went down (server restarted)")
    down = [c for c in COUNTERS if a.get(c) is not None and b.get(c) is not None and b[c] < a[c]]
    if down:
        reasons.append("counters went down: " + ", ".join(down))
    gone = [c for c in cmds_a if c not in cmds_b]
    if gone:
        reasons.append("commands vanished from commandstats: " + ", ".join(sorted(gone)[:5]))
    fell = [c for c, r in cmds_a.items() if c in cmds_b and (cmds_b[c]["calls"] or 0) < (r["calls"] or 0)]
    if fell:
        reasons.append("command calls went down: " + ", ".join(sorted(fell)[:5]))
    if "config|resetstat" in cmds_b and "config|resetstat" not in cmds_a:
        reasons.append("CONFIG RESETSTAT ran")
    return reasons


def _delta(a: Any, b: Any, reset: bool) -> float | None:
    if b is None:
        return None
    if reset or a is None:
        return b
    return max(b - a, 0)


def _num(v: Any) -> Any:
    """Whole floats as ints (counters read back from DOUBLE columns)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _ratio(num: float | None, den: float | None) -> float | None:
    return (num / den) if num is not None and den else None


def own_calls(con: duckdb.DuckDBPyConnection, from_id: int, to_id: int, reset: bool) -> dict[str, int]:
    """Calls the collector itself made between two snapshots' INFO readings: what FROM sent after its
    INFO (unless the counters were reset since) and what TO sent before its INFO."""
    rows = dict(con.execute("SELECT snapshot_id, {'b': own_calls_before, 'a': own_calls_after}"
                            " FROM redis_snapshots WHERE snapshot_id IN (?, ?)", [from_id, to_id]).fetchall())
    out: dict[str, int] = {}
    parts = [rows.get(to_id, {}).get("b")] + ([] if reset else [rows.get(from_id, {}).get("a")])
    for part in parts:
        for cmd, n in (json.loads(part) if part else {}).items():
            out[cmd] = out.get(cmd, 0) + int(n)
    return out


def redis_stats(con: duckdb.DuckDBPyConnection, from_snap: str | int | None = None,
                to_snap: str | int | None = None) -> dict[str, Any]:
    """The contract's `redis stats` shape for two snapshots of one server (+ ops/s, memory, errors...)."""
    frm, to = pick_pair(con, from_snap, to_snap)
    a, b = _row(con, frm["snapshot_id"]), _row(con, to["snapshot_id"])
    ca, cb = _commands(con, frm["snapshot_id"]), _commands(con, to["snapshot_id"])
    reasons = reset_reasons(a, b, ca, cb)
    reset = bool(reasons)
    interval_s = (b["taken_at"] - a["taken_at"]).total_seconds()
    d = {c: _num(_delta(a.get(c), b.get(c), reset)) for c in COUNTERS}
    hits, misses = d["keyspace_hits"], d["keyspace_misses"]
    own = own_calls(con, frm["snapshot_id"], to["snapshot_id"], reset)
    commands = {}
    for name, r in sorted(cb.items()):
        prev = None if reset else ca.get(name)
        calls = _num(_delta(prev and prev["calls"], r["calls"], reset))
        usec = _num(_delta(prev and prev["usec"], r["usec"], reset))
        if calls and own.get(name):   # the collector's own INFO / SLOWLOG GET / AUTH are not the workload
            mine = min(own[name], calls)
            usec = _num(usec * (calls - mine) / calls) if usec is not None else None
            calls = calls - mine
        if not calls:
            continue
        entry = {"calls": calls, "usec": usec, "usec_per_call": _ratio(usec, calls)}
        for extra in ("rejected_calls", "failed_calls"):
            if r.get(extra) is not None and not pd.isna(r[extra]):
                entry[extra] = _num(_delta(prev and prev[extra], r[extra], reset))
        commands[name] = entry
    lat = con.execute("SELECT command, percentile, usec FROM redis_latency_percentiles WHERE snapshot_id = ?",
                      [to["snapshot_id"]]).fetchall()
    for cmd, pct, usec in lat:
        if cmd in commands and usec is not None:
            commands[cmd].setdefault("latency_percentiles_usec", {})[pct] = usec
    errs_a = dict(con.execute("SELECT error, count FROM redis_errorstats WHERE snapshot_id = ?",
                              [frm["snapshot_id"]]).fetchall())
    errors = {e: _num(_delta(None if reset else errs_a.get(e), n, reset)) for e, n in con.execute(
        "SELECT error, count FROM redis_errorstats WHERE snapshot_id = ?", [to["snapshot_id"]]).fetchall()}
    return {
        "from": int(frm["snapshot_id"]), "to": int(to["snapshot_id"]),
        "from_time": a["taken_at"], "to_time": b["taken_at"],
        "server": to["address"], "run_id": to["run_id"],
        "server_name": b.get("server_name"), "server_version": b.get("server_version"),
        "interval_s": interval_s, "reset": reset, "reset_reasons": reasons,
        "keyspace_hits": hits, "keyspace_misses": misses,
        "hit_ratio": _ratio(hits, (hits or 0) + (misses or 0)),
        "hit_ratio_target": CACHE_HIT_TARGET_RATIO,
        "evicted_keys": d["evicted_keys"], "expired_keys": d["expired_keys"],
        "total_commands_processed": d["total_commands_processed"],
        "ops_per_s": _ratio(d["total_commands_processed"], interval_s),
        "rejected_connections": d["rejected_connections"],
        "total_error_replies": d["total_error_replies"],
        "errors": {k: v for k, v in errors.items() if v},
        "commands": commands,
        "memory": memory_summary(b),
    }


def memory_summary(row: dict) -> dict[str, Any]:
    """used vs maxmemory (headroom), peak, policy and fragmentation with its caveat, for one snapshot."""
    used, maxm = row.get("used_memory_bytes"), row.get("maxmemory_bytes")
    frag = row.get("mem_fragmentation_ratio")
    limited = bool(maxm)
    return {
        "used_memory_bytes": _num(used), "used_memory_rss_bytes": _num(row.get("used_memory_rss_bytes")),
        "used_memory_peak_bytes": _num(row.get("used_memory_peak_bytes")),
        "maxmemory_bytes": _num(maxm), "maxmemory_policy": row.get("maxmemory_policy"),
        "used_ratio": _ratio(used, maxm) if limited else None,
        "headroom_bytes": _num(maxm - used) if limited and used is not None else None,
        "mem_fragmentation_ratio": frag,
        "fragmentation_meaningful": bool(used is not None and used >= FRAGMENTATION_MIN_USED_BYTES),
        "fragmentation_note": FRAGMENTATION_NOTE,
    }


# -- frames for the notebook -------------------------------------------------------------------------
def servers(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Addresses with snapshots, most recently snapshotted first."""
    return [r[0] for r in con.execute("SELECT address FROM redis_snapshots GROUP BY address"
                                      " ORDER BY max(taken_at) DESC").fetchall()]


def intervals(con: duckdb.DuckDBPyConnection, address: str | None = None, from_snap: str | int | None = None,
              to_snap: str | int | None = None) -> pd.DataFrame:
    """One row per pair of consecutive snapshots of one server: hits, misses, hit ratio, evictions,
    expirations, ops/s (reset-aware). ADDRESS defaults to the most recent server."""
    cols = ["from", "to", "taken_at", "interval_s", "reset", "keyspace_hits", "keyspace_misses", "hit_ratio",
            "evicted_keys", "expired_keys", "ops_per_s", "used_memory_bytes", "maxmemory_bytes"]
    addrs = [address] if address else servers(con)[:1]
    if not addrs:
        return pd.DataFrame(columns=cols)
    snaps = snapshots(con, addrs[0])
    lo = _resolve(con, from_snap)["taken_at"] if from_snap is not None else None
    hi = _resolve(con, to_snap)["taken_at"] if to_snap is not None else None
    if lo is not None:
        snaps = snaps[snaps["taken_at"] >= lo]
    if hi is not None:
        snaps = snaps[snaps["taken_at"] <= hi]
    rows = []
    for sid_a, sid_b in zip(snaps["snapshot_id"][:-1], snaps["snapshot_id"][1:], strict=True):
        s = redis_stats(con, int(sid_a), int(sid_b))
        rows.append({**{k: s[k] for k in cols if k in s}, "taken_at": s["to_time"],
                     "used_memory_bytes": s["memory"]["used_memory_bytes"],
                     "maxmemory_bytes": s["memory"]["maxmemory_bytes"]})
    return pd.DataFrame(rows, columns=cols)


def slowest_commands(con: duckdb.DuckDBPyConnection, from_snap: str | int | None = None,
                     to_snap: str | int | None = None, limit: int = 10, stats: dict | None = None) -> pd.DataFrame:
    """Commands of the interval by usec_per_call, slowest first (with calls, total usec and p99).
    STATS: the interval's `redis_stats` result when the caller already has it."""
    s = stats if stats is not None else redis_stats(con, from_snap, to_snap)
    rows = [{"command": c, "calls": v["calls"], "usec": v["usec"], "usec_per_call": v["usec_per_call"],
             "p99_usec": v.get("latency_percentiles_usec", {}).get("p99"),
             "failed_calls": v.get("failed_calls"), "rejected_calls": v.get("rejected_calls")}
            for c, v in s["commands"].items()]
    df = pd.DataFrame(rows, columns=["command", "calls", "usec", "usec_per_call", "p99_usec", "failed_calls",
                                     "rejected_calls"])
    return df.sort_values("usec_per_call", ascending=False).head(limit).reset_index(drop=True)


def slowlog(con: duckdb.DuckDBPyConnection, address: str | None = None, limit: int = 20) -> pd.DataFrame:
    """Distinct slowlog entries (one per server run and entry id), longest first."""
    where, params = ("WHERE s.address = ?", [address]) if address else ("", [])
    return con.execute(
        f"""SELECT s.address, s.run_id, l.entry_id, min(l.started_at) AS started_at,
                   max(l.duration_us) AS duration_us, any_value(l.command) AS command,
                   any_value(l.client_addr) AS client_addr
            FROM redis_slowlog l JOIN redis_snapshots s USING (snapshot_id) {where}
            GROUP BY s.address, s.run_id, l.entry_id ORDER BY duration_us DESC LIMIT {int(limit)}""",
        params).df()


def memory_frame(con: duckdb.DuckDBPyConnection, address: str | None = None) -> pd.DataFrame:
    """used / rss / peak memory and maxmemory per snapshot of one server, with headroom ratio;
    `fragmentation_meaningful` is false where mem_fragmentation_ratio says nothing (used memory under
    100 MiB: the allocator's fixed RSS dominates), as `memory_summary` says in the JSON."""
    addrs = [address] if address else servers(con)[:1]
    cols = ["snapshot_id", "taken_at", "used_memory_bytes", "used_memory_rss_bytes", "used_memory_peak_bytes",
            "maxmemory_bytes", "headroom_ratio", "mem_fragmentation_ratio"]
    if not addrs:
        return pd.DataFrame(columns=cols)
    df = snapshots(con, addrs[0])
    maxm = df["maxmemory_bytes"].where(df["maxmemory_bytes"] > 0)
    df["headroom_ratio"] = 1 - df["used_memory_bytes"] / maxm
    df["fragmentation_meaningful"] = df["used_memory_bytes"].fillna(0) >= FRAGMENTATION_MIN_USED_BYTES
    return df[cols + ["fragmentation_meaningful"]]


def period_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Totals over an `intervals()` frame (reset-aware sums): hits, misses, hit ratio, evictions..."""
    if frame.empty:
        return {"intervals": 0, "keyspace_hits": 0, "keyspace_misses": 0, "hit_ratio": None,
                "evicted_keys": 0, "expired_keys": 0, "resets": 0, "worst_hit_ratio": None}
    hits, misses = int(frame["keyspace_hits"].sum()), int(frame["keyspace_misses"].sum())
    lookups = frame["keyspace_hits"] + frame["keyspace_misses"]
    busy = frame[lookups >= 100]  # a ratio over a handful of lookups says nothing
    return {
        "intervals": len(frame), "from": int(frame["from"].iloc[0]), "to": int(frame["to"].iloc[-1]),
        "keyspace_hits": hits, "keyspace_misses": misses, "hit_ratio": _ratio(hits, hits + misses),
        "evicted_keys": int(frame["evicted_keys"].sum()), "expired_keys": int(frame["expired_keys"].sum()),
        "resets": int(frame["reset"].sum()),
        "worst_hit_ratio": float(busy["hit_ratio"].min()) if not busy.empty else None,
    }


def cache_findings(summary: dict[str, Any], memory: dict[str, Any] | None = None,
                   target: float = CACHE_HIT_TARGET_RATIO) -> list[str]:
    """Plain-language findings for a period summary (and the last snapshot's memory_summary)."""
    out = []
    ratio = summary.get("hit_ratio")
    if ratio is None:
        out.append("No key lookups in the period: no hit ratio to judge.")
    else:
        verdict = "meets" if ratio >= target else "is below"
        out.append(f"Cache hit ratio {ratio:.1%} over {summary['keyspace_hits'] + summary['keyspace_misses']:,} "
                   f"lookups {verdict} the playbook's {target:.0%} rule (CacheHitRateLow).")
        worst = summary.get("worst_hit_ratio")
        if worst is not None and worst < target <= ratio:
            out.append(f"One interval dropped to {worst:.1%}: the average hides it.")
    if summary.get("evicted_keys"):
        out.append(f"{summary['evicted_keys']:,} keys were evicted (memory pressure: maxmemory reached).")
    if summary.get("resets"):
        out.append(f"{summary['resets']} interval(s) span a restart or CONFIG RESETSTAT: counts there are "
                   "since the reset (lower bounds).")
    if memory and memory.get("used_ratio") is not None:
        out.append(f"Memory: {memory['used_ratio']:.0%} of maxmemory used ({memory['maxmemory_policy']}).")
    elif memory:
        out.append("No maxmemory set: Redis grows until the host runs out; set one with an eviction policy.")
    return out


@dataclass
class CachePeriod:
    """Everything the cache report shows for one server and period; NOTE says why parts are empty."""

    server: str | None = None
    intervals: pd.DataFrame = field(default_factory=pd.DataFrame)
    memory: pd.DataFrame = field(default_factory=pd.DataFrame)
    slowest: pd.DataFrame = field(default_factory=pd.DataFrame)
    slowlog: pd.DataFrame = field(default_factory=pd.DataFrame)
    stats: dict[str, Any] | None = None     # redis_stats() over the whole period
    note: str | None = None

    @property
    def summary(self) -> dict[str, Any]:
        return period_summary(self.intervals)

    @property
    def last_memory(self) -> dict[str, Any] | None:
        """memory_summary() of the period's last snapshot (None without an interval)."""
        return self.stats["memory"] if self.stats else None

    def findings(self, target: float = CACHE_HIT_TARGET_RATIO) -> list[str]:
        """cache_findings() of the period, or the note when there is nothing to judge."""
        return [f"Redis: {self.note}"] if self.note else cache_findings(self.summary, self.last_memory, target)

    def fragmentation_text(self) -> str | None:
        """The last snapshot's fragmentation ratio and whether it means anything at this size."""
        m = self.last_memory
        if m is None:
            return None
        note = "meaningful" if m["fragmentation_meaningful"] else "not meaningful at this size"
        return f"fragmentation ratio {m['mem_fragmentation_ratio']}: {note}"


def cache_period(con: duckdb.DuckDBPyConnection, address: str | None = None, from_snap: str | int | None = None,
                 to_snap: str | int | None = None, limit: int = 10) -> CachePeriod:
    """The cache report's frames for ADDRESS (default: the most recent server) between two snapshots
    (default: all of its snapshots): intervals, memory, slowest commands, SLOWLOG and the period's stats."""
    known = servers(con)
    if not known:
        return CachePeriod(note="No Redis snapshots stored: run `workbench collect redis` (twice) or "
                                "`workbench demo`.")
    server = address or known[0]
    out = CachePeriod(server=server, intervals=intervals(con, server, from_snap, to_snap),
                      memory=memory_frame(con, server))
    if out.intervals.empty:
        out.note = f"Only one Redis snapshot of {server}: no interval to analyse."
    else:
        first, last = int(out.intervals["from"].iloc[0]), int(out.intervals["to"].iloc[-1])
        out.stats = redis_stats(con, first, last)
        out.slowest = slowest_commands(con, limit=limit, stats=out.stats)
    out.slowlog = slowlog(con, server, limit=limit)
    return out
