"""Prometheus series sets read back from the store: listings, long DataFrames, the `prom series` JSON."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.sources.prometheus import labels_text

HIGH_RESPONSE_TIME_S = 1.0   # playbook alert HighResponseTime: P95 > 1.0 s for 5m
SERIES_KINDS = ("p99", "p95", "error_ratio", "hit_ratio", "rps", "cpu", "memory")
_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}
_LIST_SQL = """
SELECT s.name, s.query, s.preset, s.url, s.result_type, s.start_ts AS start, s.end_ts AS "end",
       s.step_s, count(p.series_id) AS series, coalesce(sum(p.points), 0)::BIGINT AS points,
       s.warnings, s.ingest_id, s.created_at
FROM prom_series_sets s LEFT JOIN prom_series p USING (ingest_id)
GROUP BY ALL ORDER BY s.created_at DESC, s.name
"""


def list_series(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per series set: name, query, preset, url, result_type, start, end, step_s, series, points,
    warnings, ingest_id, created_at (newest first)."""
    return con.execute(_LIST_SQL).df()


def _ingest_of(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute("SELECT ingest_id FROM prom_series_sets WHERE name = ?", [name]).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT name FROM prom_series_sets ORDER BY name").fetchall()]
        hint = f"known: {', '.join(known)}" if known else "none stored yet: collect or ingest prometheus first"
        raise WorkbenchError(f"no Prometheus series set named {name!r} ({hint})")
    return row[0]


def series_frame(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """Long frame of set NAME: ts (UTC datetime), value (float, NaN/±Inf kept), labels (Prometheus text)."""
    ingest_id = _ingest_of(con, name)
    df = con.execute(
        "SELECT p.ts, p.value, s.labels_text AS labels FROM prom_points p JOIN prom_series s USING (series_id)"
        " WHERE s.ingest_id = ? ORDER BY s.series_id, p.ts",
        [ingest_id],
    ).df()
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    df["value"] = df["value"].astype("float64")
    df["labels"] = df["labels"].astype(str)
    return df


def _json_value(v: float) -> float | int | str:
    if math.isnan(v) or math.isinf(v):
        return _SPECIAL[str(v)]
    return v


def _json_ts(us: int) -> float | int:
    return us // 1_000_000 if us % 1_000_000 == 0 else round(us / 1_000_000, 3)


def series_json(con: duckdb.DuckDBPyConnection, name: str) -> list[dict]:
    """`[{"labels": {...}, "points": [[UNIX_TS, VALUE], ...]}]`, NaN/±Inf as "NaN", "+Inf", "-Inf"."""
    ingest_id = _ingest_of(con, name)
    series = con.execute(
        "SELECT series_id, map_keys(labels), map_values(labels) FROM prom_series WHERE ingest_id = ?"
        " ORDER BY series_id", [ingest_id]).fetchall()
    rows = con.execute(
        "SELECT p.series_id, epoch_us(p.ts), p.value FROM prom_points p JOIN prom_series s USING (series_id)"
        " WHERE s.ingest_id = ? ORDER BY p.series_id, p.ts", [ingest_id]).fetchall()
    points: dict[int, list] = {}
    for sid, us, value in rows:
        points.setdefault(sid, []).append([_json_ts(us), _json_value(value)])
    return [{"labels": dict(zip(keys or [], values or [], strict=True)), "points": points.get(sid, [])}
            for sid, keys, values in series]


def series_csv_rows(con: duckdb.DuckDBPyConnection, name: str) -> list[dict]:
    """Flat rows for CSV: ts (ISO UTC), unix_ts, labels, value (NaN/±Inf as Prometheus spells them)."""
    return csv_rows(series_json(con, name))


def csv_rows(series: list[dict]) -> list[dict]:
    """SERIES (as `series_json` returns it) as the flat rows of `series_csv_rows`."""
    out = []
    for s in series:
        text = labels_text(s["labels"])
        for t, v in s["points"]:
            iso = pd.Timestamp(t, unit="s", tz="UTC").isoformat(timespec="milliseconds")
            out.append({"ts": iso, "unix_ts": t, "labels": text, "value": v})
    return out


# -- what a stored set measures, and what it says ----------------------------------------------------
def series_kind(meta: Mapping[str, Any], name: str) -> str:
    """What set NAME measures, from its preset, name and query: one of SERIES_KINDS or "other"."""
    text = f"{meta.get('preset') or ''} {name} {meta.get('query') or ''}".lower()
    for kind in SERIES_KINDS:
        if kind in text:
            return kind
    if "histogram_quantile(0.95" in text:
        return "p95"
    if "histogram_quantile(0.99" in text:
        return "p99"
    return "other"


@dataclass
class SeriesSet:
    """One stored set: its `list_series` row (meta), its long `series_frame`, and what it measures."""

    name: str
    meta: dict[str, Any]
    frame: pd.DataFrame

    @property
    def kind(self) -> str:
        return series_kind(self.meta, self.name)

    @property
    def title(self) -> str:
        return f"{self.name} ({self.meta.get('preset') or self.meta.get('query')})"


def series_sets(con: duckdb.DuckDBPyConnection, names: str | Iterable[str] = "") -> list[SeriesSet]:
    """The stored sets NAMES (a list or comma-separated text; empty: all, newest first); unknown names
    are skipped."""
    listing = list_series(con)
    if isinstance(names, str):
        names = names.split(",")
    wanted = [n.strip() for n in names if n.strip()] or list(listing["name"])
    out = []
    for name in wanted:
        meta = listing[listing["name"] == name]
        if not meta.empty:
            out.append(SeriesSet(name, meta.iloc[0].to_dict(), series_frame(con, name)))
    return out


def series_finding(s: SeriesSet, threshold_s: float = HIGH_RESPONSE_TIME_S) -> str | None:
    """One plain-language line for a P95 set (worst value against the HighResponseTime rule) or a 5xx
    error-ratio set (peak and mean); None for other kinds or a set without finite values."""
    values = s.frame["value"].replace([float("inf"), float("-inf")], float("nan")).dropna()
    if values.empty:
        return None
    if s.kind == "p95":
        worst = values.max()
        state = "crosses" if worst > threshold_s else "stays under"
        return f"`{s.name}`: worst P95 {worst:.3f} s {state} the {threshold_s:.1f} s HighResponseTime rule."
    if s.kind == "error_ratio":
        return f"`{s.name}`: 5xx ratio peaks at {values.max():.2%} (mean {values.mean():.2%})."
    return None
