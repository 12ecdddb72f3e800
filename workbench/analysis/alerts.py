"""Alerting rules backtested offline: a Prometheus rule-file loader, Prometheus's alert state machine,
and the playbook's three conditions evaluated over the store's own series.

The state machine is the one in Prometheus's `rules/alerting.go` (`AlertingRule.Eval`), one label set
at a time:

- a label set present in the expression's result at evaluation `t` becomes *pending* with
  `activeAt = t` (unless already pending or firing);
- a pending alert becomes *firing* when `t - activeAt >= for` (`for: 0` fires at once);
- one evaluation without the label set drops a pending alert and resolves a firing one, unless
  `keep_firing_for` holds it: the first missing evaluation sets `keepFiringSince = t`, and the alert
  keeps firing while `t - keepFiringSince < keep_firing_for`; the label set's return resets it;
- comparisons drop NaN (`NaN > 1` is false), so a NaN value is "not present" for a comparison rule.

A firing interval's `start` is the first evaluation at which the alert fires, `end` the first
evaluation at which it no longer does (None: still firing at the window's last evaluation), `value`
the expression's value at `start`. Pure: no printing, no I/O beyond reading the store.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from workbench.analysis import redis as rs
from workbench.errors import WorkbenchError
from workbench.sources.prometheus import labels_text as series_labels_text

DEFAULT_INTERVAL_MS = 60_000      # Prometheus's global evaluation_interval default
LOOKBACK_MS = 5 * 60_000          # Prometheus's query.lookback-delta default
DEFAULT_RULES = "playbook_alerts.yml"
MAX_EVALUATIONS = 1_000_000      # per rule and window: a year at 30 s; beyond that the interval is surely a typo
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS_MS = (("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000),
             ("m", 60_000), ("s", 1000), ("ms", 1))
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_GROUP_KEYS = {"name", "interval", "limit", "rules"}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
_LINE = "__line__"


# -- Prometheus durations -------------------------------------------------------------------------
def parse_prom_duration_ms(text: object) -> int:
    """A Prometheus duration (`5m`, `1h30m`, `500ms`, `0`; units y w d h m s ms, largest first) in ms.
    Raises ValueError on anything else (plain numbers, spaces, decimals), as Prometheus does."""
    s = str(text).strip() if text is not None else ""
    if s == "0":
        return 0
    m = _DURATION_RE.match(s)
    if not s or not m:
        raise ValueError(f"not a Prometheus duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * ms for n, (_, ms) in zip(m.groups(), _UNITS_MS, strict=True) if n)


def format_prom_duration(ms: int) -> str:
    """Milliseconds as Prometheus prints a duration: 300000 -> `5m`, 5400000 -> `1h30m`, 0 -> `0s`."""
    if ms == 0:
        return "0s"
    out, rest = "", ms
    for unit, size in _UNITS_MS:
        n, rest = divmod(rest, size)
        if n:
            out += f"{n}{unit}"
    return out


def iso(ms: int | None) -> str | None:
    """Unix ms as UTC ISO-8601 (milliseconds only when there are some)."""
    if ms is None:
        return None
    t = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return t.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


# -- the rule file ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One alerting rule as the file states it; durations in ms."""

    alert: str
    expr: str
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    group: str = ""
    interval_ms: int = DEFAULT_INTERVAL_MS
    file: str = ""
    line: int = 0


@dataclass
class RuleFile:
    """The alerting rules of a file, and notes on what was skipped (recording rules)."""

    path: str
    rules: list[Rule]
    notes: list[str] = field(default_factory=list)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers each mapping's line (1-based) under `__line__`."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        mapping = super().construct_mapping(node, deep=deep)
        mapping[_LINE] = node.start_mark.line + 1
        return mapping


def _strings(value: object, what: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WorkbenchError(f"{where}: {what} must be a mapping of name: value")
    out = {}
    for k, v in value.items():
        if k == _LINE:
            continue
        if not isinstance(k, str) or (what == "labels" and not _LABEL_RE.match(k)):
            raise WorkbenchError(f"{where}: {what} name {k!r} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        if isinstance(v, dict | list) or v is None:
            raise WorkbenchError(f"{where}: {what} {k!r} must be a string")
        out[k] = str(v).lower() if isinstance(v, bool) else str(v)   # YAML true -> "true", as Prometheus reads it
    return out


def _duration(value: object, key: str, where: str, positive: bool = False) -> int:
    try:
        ms = parse_prom_duration_ms(value)
    except ValueError:
        raise WorkbenchError(f"{where}: bad {key} {value!r}: use a Prometheus duration such as 30s, 5m, 1h30m"
                             ) from None
    if positive and ms <= 0:
        raise WorkbenchError(f"{where}: {key} must be more than 0")
    return ms


def parse_rules(text: str, path: str = "rules", default_interval_ms: int = DEFAULT_INTERVAL_MS) -> RuleFile:
    """Parse Prometheus rule-file YAML. Errors are one line naming the file, line, group and rule."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise WorkbenchError(f"{path}{line}: not valid YAML ({problem}); fix the file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise WorkbenchError(f"{path}: not a Prometheus rule file (no top-level `groups:` list)")
    extra = sorted(k for k in doc if k not in ("groups", _LINE))
    if extra:
        raise WorkbenchError(f"{path}: unknown top-level key {extra[0]!r} (a rule file has only `groups:`)")
    rules, notes, names = [], [], set()
    for gi, group in enumerate(doc["groups"]):
        if not isinstance(group, dict):
            raise WorkbenchError(f"{path}: groups[{gi}] is not a mapping")
        gname = group.get("name")
        where = f"{path}:{group[_LINE]}: group {gname!r}"
        if not gname or not isinstance(gname, str):
            raise WorkbenchError(f"{path}:{group[_LINE]}: a group needs a `name:`")
        if gname in names:
            raise WorkbenchError(f"{where}: a group of that name is already in the file (names must be unique)")
        names.add(gname)
        bad = sorted(k for k in group if k not in _GROUP_KEYS and k != _LINE)
        if bad:
            raise WorkbenchError(f"{where}: unknown key {bad[0]!r} (a group has {', '.join(sorted(_GROUP_KEYS))})")
        interval = default_interval_ms
        if group.get("interval") is not None:
            interval = _duration(group["interval"], "interval", where, positive=True)
        if not isinstance(group.get("rules") or [], list):
            raise WorkbenchError(f"{where}: `rules:` must be a list")
        for ri, rule in enumerate(group.get("rules") or []):
            if not isinstance(rule, dict):
                raise WorkbenchError(f"{where}: rules[{ri}] is not a mapping")
            name = rule.get("alert") or rule.get("record")
            rwhere = f"{path}:{rule[_LINE]}: group {gname!r}, rule {name or f'#{ri + 1}'!r}"
            bad = sorted(k for k in rule if k not in _RULE_KEYS and k != _LINE)
            if bad:
                raise WorkbenchError(f"{rwhere}: unknown key {bad[0]!r} (a rule has {', '.join(sorted(_RULE_KEYS))})")
            if ("alert" in rule) == ("record" in rule):
                raise WorkbenchError(f"{rwhere}: a rule needs exactly one of `alert:` or `record:`")
            if not name or not isinstance(name, str):
                raise WorkbenchError(f"{rwhere}: the rule's name is empty")
            expr = rule.get("expr")
            if expr is None or isinstance(expr, dict | list) or not str(expr).strip():
                raise WorkbenchError(f"{rwhere}: `expr:` is missing or empty")
            if "record" in rule:
                notes.append(f"{path}: recording rule {name!r} skipped (only alerting rules are backtested; "
                             "an alert that reads its output finds it only if Prometheus recorded it)")
                continue
            rules.append(Rule(
                alert=name, expr=str(expr).strip(),   # as written: string literals may hold spaces
                for_ms=_duration(rule["for"], "for", rwhere) if rule.get("for") is not None else 0,
                keep_firing_for_ms=(_duration(rule["keep_firing_for"], "keep_firing_for", rwhere)
                                    if rule.get("keep_firing_for") is not None else 0),
                labels=_strings(rule.get("labels"), "labels", rwhere),
                annotations=_strings(rule.get("annotations"), "annotations", rwhere),
                group=gname, interval_ms=interval, file=path, line=rule[_LINE]))
    return RuleFile(path, rules, notes)


def default_rules_text() -> str:
    """The bundled rule file: the playbook's three rules, corrected (see docs/alerts.md)."""
    return resources.files("workbench.analysis").joinpath(DEFAULT_RULES).read_text()


def load_rules(path: str | Path | None = None, default_interval_ms: int = DEFAULT_INTERVAL_MS) -> RuleFile:
    """Load rule file PATH (None: the bundled playbook rules)."""
    if path is None:
        return parse_rules(default_rules_text(), f"(default) {DEFAULT_RULES}", default_interval_ms)
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise WorkbenchError(f"{p}: no such rule file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"{p}: cannot read ({e})") from e
    return parse_rules(text, str(p), default_interval_ms)


# -- the state machine --------------------------------------------------------------------------------
@dataclass
class Firing:
    """One firing interval of one label set (ms since the epoch; end None: still firing)."""

    labels: dict[str, str]
    active_at_ms: int
    start_ms: int
    end_ms: int | None
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"start": iso(self.start_ms), "end": iso(self.end_ms), "labels": self.labels,
                "value": _json_number(self.value), "active_at": iso(self.active_at_ms)}


def _json_number(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return v


def eval_times(start_ms: int, end_ms: int, interval_ms: int) -> list[int]:
    """The evaluation grid start, start + interval, ... <= end (as a range query's steps)."""
    if end_ms < start_ms:
        raise WorkbenchError("--end is before --start: swap them")
    n = (end_ms - start_ms) // interval_ms + 1
    if n > MAX_EVALUATIONS:
        raise WorkbenchError(f"{n:,} evaluations at {format_prom_duration(interval_ms)} is more than "
                             f"{MAX_EVALUATIONS:,}: use a shorter window or a larger interval")
    return list(range(start_ms, end_ms + 1, interval_ms))


def alert_states(times: Sequence[int], samples: Mapping[int, float], for_ms: int,
                 keep_firing_for_ms: int = 0) -> list[tuple[int, int, int | None, float]]:
    """Run Prometheus's alert state machine for one label set over evaluations TIMES; SAMPLES holds the
    expression's value at the evaluations where the label set is in the result. Returns firing
    intervals as (active_at, start, end, value at start)."""
    out: list[tuple[int, int, int | None, float]] = []
    state = "inactive"
    active_at = start = 0
    keep_since: int | None = None
    start_value = math.nan
    for t in times:
        if t in samples:
            if state == "inactive":
                state, active_at = "pending", t
            keep_since = None
        else:
            held = False
            if state == "firing" and keep_firing_for_ms > 0:
                keep_since = t if keep_since is None else keep_since
                held = t - keep_since < keep_firing_for_ms
            if not held:
                if state == "firing":
                    out.append((active_at, start, t, start_value))
                state, keep_since = "inactive", None
                continue
        if state == "pending" and t - active_at >= for_ms:
            state, start, start_value = "firing", t, samples[t]
    if state == "firing":
        out.append((active_at, start, None, start_value))
    return out


def alert_labels(series_labels: Mapping[str, str], rule: Rule) -> dict[str, str]:
    """The alert's label set: the series' labels without __name__, the rule's labels, alertname."""
    out = {k: v for k, v in series_labels.items() if k != "__name__"}
    out.update(rule.labels)
    out["alertname"] = rule.alert
    return dict(sorted(out.items()))


def evaluate_rule(rule: Rule, times: Sequence[int],
                  series: Iterable[tuple[Mapping[str, str], Mapping[int, float]]]) -> list[Firing]:
    """Firing intervals of RULE over evaluations TIMES, given the expression's result as (labels,
    {eval ms: value}) per series, sorted by start then labels."""
    merged: dict[tuple, dict[int, float]] = {}
    for labels, points in series:
        key = tuple(alert_labels(labels, rule).items())
        have = merged.setdefault(key, {})
        both = have.keys() & points.keys()
        if both:
            raise WorkbenchError(
                f"{rule.file}: rule {rule.alert!r}: the result has several series with the same label set "
                f"after applying the alert's labels ({dict(key)}) at {iso(min(both))}: Prometheus refuses "
                "this too; aggregate with `by (...)` or keep a distinguishing label")
        have.update(points)
    out = []
    for key, points in merged.items():
        for active_at, start, end, value in alert_states(times, points, rule.for_ms, rule.keep_firing_for_ms):
            out.append(Firing(dict(key), active_at, start, end, value))
    return sorted(out, key=lambda f: (f.start_ms, sorted(f.labels.items())))


# -- results ----------------------------------------------------------------------------------------
@dataclass
class RuleResult:
    """One rule's backtest: its firing intervals, how many evaluations, where the numbers came from."""

    rule: Rule
    firing: list[Firing]
    evaluations: int
    source: str = "promql"              # promql | equivalent
    equivalent: str | None = None       # for source=equivalent: what was computed instead of the PromQL
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        r = self.rule
        return {"alert": r.alert, "expr": r.expr, "for": format_prom_duration(r.for_ms),
                "firing": [f.to_dict() for f in self.firing],
                "keep_firing_for": format_prom_duration(r.keep_firing_for_ms), "group": r.group,
                "interval": format_prom_duration(r.interval_ms), "labels": r.labels,
                "annotations": r.annotations, "source": self.source, "equivalent": self.equivalent,
                "evaluations": self.evaluations, "notes": self.notes}


@dataclass
class Backtest:
    """Every rule's result over one window (`to_dict()` is `workbench alerts --format json`)."""

    start_ms: int
    end_ms: int
    results: list[RuleResult]
    source: str = "promql"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rules": [r.to_dict() for r in self.results], "start": iso(self.start_ms),
                "end": iso(self.end_ms), "source": self.source, "notes": self.notes}

    def to_frame(self) -> pd.DataFrame:
        return firing_frame(self)

    @property
    def firing_count(self) -> int:
        return sum(len(r.firing) for r in self.results)


FRAME_COLUMNS = ["alert", "labels", "start", "end", "value", "active_at", "for_s", "source", "expr"]


def labels_text(labels: Mapping[str, str]) -> str:
    """An alert's labels as a series' labels are written (`{k="v", ...}`, keys sorted), without alertname."""
    return series_labels_text({k: v for k, v in labels.items() if k != "alertname"})


def firing_frame(backtest: Backtest) -> pd.DataFrame:
    """One row per firing interval: alert, labels (text), start, end (UTC timestamps; NaT: still firing),
    value, active_at, for_s, source, expr."""
    rows = [{"alert": r.rule.alert, "labels": labels_text(f.labels),
             "start": pd.Timestamp(f.start_ms, unit="ms", tz="UTC"),
             "end": pd.Timestamp(f.end_ms, unit="ms", tz="UTC") if f.end_ms is not None else pd.NaT,
             "value": f.value, "active_at": pd.Timestamp(f.active_at_ms, unit="ms", tz="UTC"),
             "for_s": r.rule.for_ms / 1000, "source": r.source, "expr": r.equivalent or r.rule.expr}
            for r in backtest.results for f in r.firing]
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


def store_rows(backtest: Backtest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rule rows, firing rows) of BACKTEST in the shape `sources.prom_alerts.save_backtest` writes."""
    rules, firing = [], []
    for no, r in enumerate(backtest.results):
        rule = r.rule
        rules.append({"rule_no": no, "group_name": rule.group, "alert": rule.alert, "expr": rule.expr,
                      "equivalent": r.equivalent, "interval_s": rule.interval_ms / 1000,
                      "for_s": rule.for_ms / 1000, "keep_firing_for_s": rule.keep_firing_for_ms / 1000,
                      "labels": rule.labels, "annotations": rule.annotations, "evaluations": r.evaluations})
        firing += [{"rule_no": no, "alert": rule.alert, "labels": f.labels, "labels_text": labels_text(f.labels),
                    "active_at_ms": f.active_at_ms, "start_ms": f.start_ms, "end_ms": f.end_ms, "value": f.value}
                   for f in r.firing]
    return rules, firing


def backtest_promql(rules: RuleFile, start_ms: int, end_ms: int,
                    fetch: Callable[[Rule, int, int, int], list[tuple[dict[str, str], dict[int, float]]]]
                    ) -> Backtest:
    """Backtest every rule from its expression's range query: FETCH(rule, start, end, step) returns the
    series as (labels, {ts ms: value}) at the rule group's interval."""
    results = []
    for rule in rules.rules:
        times = eval_times(start_ms, end_ms, rule.interval_ms)
        series = fetch(rule, times[0], times[-1], rule.interval_ms)
        results.append(RuleResult(rule, evaluate_rule(rule, times, series), len(times)))
    return Backtest(start_ms, end_ms, results, "promql", list(rules.notes))


# -- the playbook's conditions over the store's own series --------------------------------------------
_CMP = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
_TAIL = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


def _threshold(rule: Rule) -> tuple[str, float]:
    m = _TAIL.search(rule.expr)
    if not m:
        raise WorkbenchError(f"{rule.file}: rule {rule.alert!r} does not end in `> N` or `< N`")
    return m.group(1), float(m.group(2))


def k6_p95_s(con: duckdb.DuckDBPyConnection, times: Sequence[int], window_ms: int = LOOKBACK_MS
             ) -> list[tuple[dict[str, str], dict[int, float]]]:
    """Per k6 run: p95 of http_req_duration in seconds over the window (t - 5m, t] at each evaluation t
    (no requests in the window: no value)."""
    if not times:
        return []
    df = con.execute("""
        WITH g AS (SELECT unnest(?::BIGINT[]) AS t)
        SELECT s.run, g.t, quantile_cont(s.value, 0.95) / 1000.0 AS v
        FROM g JOIN (SELECT run, epoch_ms(ts) AS ms, value FROM k6_samples
                     WHERE metric = 'http_req_duration' AND ts > make_timestamptz(? * 1000)
                       AND ts <= make_timestamptz(? * 1000)) s
             ON s.ms > g.t - ? AND s.ms <= g.t
        GROUP BY ALL ORDER BY s.run, g.t""", [list(times), times[0] - window_ms, times[-1], window_ms]).df()
    return [({"run": run}, dict(zip(part["t"].astype("int64"), part["v"].astype(float), strict=True)))
            for run, part in df.groupby("run", sort=True)]


def _latest_within(times: Sequence[int], ts_ms: pd.Series, values: pd.Series, lookback_ms: int) -> dict[int, float]:
    """At each evaluation t, the latest sample in (t - lookback, t] (a gauge read as PromQL reads it)."""
    if ts_ms.empty:
        return {}
    left = pd.DataFrame({"t": list(times)}).astype("int64")
    right = pd.DataFrame({"ts": ts_ms.astype("int64").to_numpy(), "v": values.astype(float).to_numpy()})
    right = right.sort_values("ts")
    m = pd.merge_asof(left, right, left_on="t", right_on="ts", direction="backward")
    m = m[m["ts"].notna() & (m["t"] - m["ts"] < lookback_ms)]
    return dict(zip(m["t"].astype("int64"), m["v"], strict=True))


def pg_longest_tx_s(con: duckdb.DuckDBPyConnection, times: Sequence[int], lookback_ms: int = LOOKBACK_MS
                    ) -> list[tuple[dict[str, str], dict[int, float]]]:
    """Per server and database: the longest open transaction (seconds) in each PostgreSQL activity
    snapshot (postgres_exporter's pg_stat_activity_max_tx_duration, max over states; 0 when none is
    open), read at each evaluation as the latest snapshot within the lookback."""
    df = con.execute("""
        SELECT s.host || ':' || s.port::VARCHAR AS instance, d.datname, epoch_ms(s.taken_at) AS ts,
               coalesce(max(a.xact_age_s), 0) AS v
        FROM pg_snapshots s
        JOIN (SELECT DISTINCT snapshot_id, datname FROM pg_databases WHERE datname IS NOT NULL) d USING (snapshot_id)
        LEFT JOIN pg_activity a ON a.snapshot_id = s.snapshot_id AND a.datname = d.datname
        GROUP BY ALL ORDER BY instance, d.datname, ts""").df()
    return [({"instance": inst, "datname": db}, _latest_within(times, part["ts"], part["v"], lookback_ms))
            for (inst, db), part in df.groupby(["instance", "datname"], sort=True)]


def redis_hit_ratio(con: duckdb.DuckDBPyConnection, times: Sequence[int], window_ms: int = LOOKBACK_MS
                    ) -> list[tuple[dict[str, str], dict[int, float]]]:
    """Per Redis server: keyspace hits / (hits + misses) from the INFO deltas between consecutive
    snapshots that lie inside (t - 5m, t] at each evaluation t. A restart or CONFIG RESETSTAT between
    two snapshots (`redis.reset_reasons`) counts the later snapshot's own counters, as `redis stats`
    does; no traffic in the window gives NaN, which a comparison drops."""
    out = []
    for address in sorted(rs.servers(con)):
        snaps = [{k: (None if pd.isna(v) else v) for k, v in r.items()}
                 for r in rs.snapshots(con, address).to_dict("records")]
        cmds: dict[int, dict[str, dict]] = {}
        for r in con.execute("SELECT c.* FROM redis_commandstats c JOIN redis_snapshots s USING (snapshot_id)"
                             " WHERE s.address = ?", [address]).df().to_dict("records"):
            cmds.setdefault(int(r["snapshot_id"]), {})[r["command"]] = r
        rows = []   # (from ms, to ms, hits, misses) per consecutive pair
        for a, b in zip(snaps, snaps[1:], strict=False):
            reset = bool(rs.reset_reasons(a, b, cmds.get(a["snapshot_id"], {}), cmds.get(b["snapshot_id"], {})))
            delta = [(b[c] or 0) if reset or a[c] is None else max((b[c] or 0) - a[c], 0)
                     for c in ("keyspace_hits", "keyspace_misses")]
            rows.append((_ms(a["taken_at"]), _ms(b["taken_at"]), *delta))
        if not rows:
            continue
        iv = pd.DataFrame(rows, columns=["from_ms", "to_ms", "hits", "misses"])
        points = {}
        for t in times:
            inside = iv[(iv["from_ms"] > t - window_ms) & (iv["to_ms"] <= t)]
            if not inside.empty:
                h, m = float(inside["hits"].sum()), float(inside["misses"].sum())
                points[t] = h / (h + m) if h + m > 0 else math.nan
        out.append(({"instance": address}, points))
    return out


@dataclass(frozen=True)
class Equivalent:
    """A default rule's condition computed from the store instead of PromQL."""

    alert: str
    series: Callable[[duckdb.DuckDBPyConnection, Sequence[int]], list]
    description: str


EQUIVALENTS = [
    Equivalent("HighResponseTime", k6_p95_s,
               "equivalent, not PromQL: p95 of k6 http_req_duration per run over the 5 minutes before each "
               "evaluation, in seconds"),
    Equivalent("DatabaseSlowQueries", pg_longest_tx_s,
               "equivalent, not PromQL: the longest open transaction (s) in the latest PostgreSQL activity "
               "snapshot within 5 minutes, per server and database"),
    Equivalent("CacheHitRateLow", redis_hit_ratio,
               "equivalent, not PromQL: Redis keyspace hits / (hits + misses) from INFO deltas between "
               "snapshots inside the 5 minutes before each evaluation, per server"),
]


def backtest_store(con: duckdb.DuckDBPyConnection, start_ms: int, end_ms: int,
                   interval_ms: int = DEFAULT_INTERVAL_MS) -> Backtest:
    """The playbook's three default rules evaluated over the store's own series (k6 p95, PostgreSQL
    activity snapshots, Redis INFO deltas), through the same state machine; each result says it is an
    equivalent, not PromQL."""
    rules = {r.alert: r for r in load_rules(None, interval_ms).rules}
    results = []
    for eq in EQUIVALENTS:
        rule = rules[eq.alert]
        op, threshold = _threshold(rule)
        times = eval_times(start_ms, end_ms, rule.interval_ms)
        kept = []
        for labels, points in eq.series(con, times):
            # the comparison keeps a sample only when it holds; NaN never does
            kept.append((labels, {t: v for t, v in points.items() if not math.isnan(v) and _CMP[op](v, threshold)}))
        notes = [] if kept else [f"no store data for {eq.alert}'s equivalent"]
        results.append(RuleResult(rule, evaluate_rule(rule, times, kept), len(times), "equivalent",
                                  eq.description, notes))
    return Backtest(start_ms, end_ms, results, "equivalent")


def store_span_ms(con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
    """(first, last) time of any k6 sample, PostgreSQL or Redis snapshot in the store (ms), or None."""
    row = con.execute("""
        SELECT min(lo), max(hi) FROM (
            SELECT epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM k6_samples
            UNION ALL SELECT epoch_ms(min(taken_at)), epoch_ms(max(taken_at)) FROM pg_snapshots
            UNION ALL SELECT epoch_ms(min(taken_at)), epoch_ms(max(taken_at)) FROM redis_snapshots)""").fetchone()
    return None if row is None or row[0] is None else (int(row[0]), int(row[1]))


def stored_firing(con: duckdb.DuckDBPyConnection, start_ms: int | None = None, end_ms: int | None = None,
                  source: str | None = "promql") -> pd.DataFrame:
    """Firing intervals saved by earlier `workbench alerts` runs (SOURCE promql by default; None: all)
    that overlap [start, end], in the `firing_frame` columns."""
    df = con.execute("""
        SELECT f.alert, f.labels_text AS labels, f.start_ts AS start, f.end_ts AS "end", f.value,
               f.active_at, r.for_s, b.source, coalesce(r.equivalent, r.expr) AS expr
        FROM alert_firing f JOIN alert_backtests b USING (ingest_id)
        JOIN alert_rules r ON r.ingest_id = f.ingest_id AND r.rule_no = f.rule_no
        WHERE (? IS NULL OR b.source = ?)
          AND (?::BIGINT IS NULL OR f.end_ts IS NULL OR epoch_ms(f.end_ts) >= ?::BIGINT)
          AND (?::BIGINT IS NULL OR epoch_ms(f.start_ts) <= ?::BIGINT)
        ORDER BY f.start_ts, f.alert, f.labels_text""",
                     [source, source, start_ms, start_ms, end_ms, end_ms]).df()
    for c in ("start", "end", "active_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df[FRAME_COLUMNS]


def firing_intervals(con: duckdb.DuckDBPyConnection, start: object = None, end: object = None,
                     interval: str = "1m") -> pd.DataFrame:
    """For notebooks: the firing intervals of the playbook's rules over [START, END] (default: the span
    of the store's k6 samples and snapshots) as one DataFrame (`firing_frame` columns): the store
    equivalents computed now, plus the PromQL backtests saved by `workbench alerts --url` that overlap
    the window. START/END: anything pandas reads as a time (naive = UTC) or unix ms."""
    span = store_span_ms(con)
    lo, hi = _ms(start), _ms(end)
    if span is None and (lo is None or hi is None):
        frames = [pd.DataFrame(columns=FRAME_COLUMNS)]
    else:
        lo = span[0] if lo is None else lo
        hi = span[1] if hi is None else hi
        frames = [firing_frame(backtest_store(con, lo, hi, parse_prom_duration_ms(interval)))]
    frames.append(stored_firing(con, lo, hi))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(["start", "alert"], ignore_index=True)


def _ms(t: object) -> int | None:
    if t is None or (isinstance(t, str) and not t.strip()):
        return None
    if isinstance(t, int | float) and not isinstance(t, bool):
        return int(t)
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)
