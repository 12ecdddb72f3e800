"""Prometheus: the HTTP API's range queries, saved API responses, the playbook's presets, the store.

`PromClient.query_range` splits a request that would exceed Prometheus's 11,000 points per series into
consecutive windows on one step grid (integer milliseconds, so stitching has no duplicate or missing
step), fetches them concurrently (bounded), retries 5xx and timeouts with backoff and passes the
server-side `timeout`. `parse_response` reads a saved `/api/v1/query_range` or `/api/v1/query`
response (matrix, vector, scalar). Values stay doubles: NaN, +Inf and -Inf survive.

Auth comes from the environment only (never the command line, never the store): `PROMETHEUS_TOKEN`
(bearer) or `PROMETHEUS_USER` + `PROMETHEUS_PASSWORD` (basic).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pyarrow as pa

from workbench.durations import parse_duration_s
from workbench.errors import WorkbenchError
from workbench.redact import redact_text, redact_url
from workbench.store import Store

MAX_POINTS = 11_000  # Prometheus refuses (end - start) / step > 11,000; windows hold at most this many
MAX_STEPS = 2_000_000  # per series and request: a month at 1.3 s; beyond that the step is surely a typo
TOKEN_ENV, USER_ENV, PASSWORD_ENV = "PROMETHEUS_TOKEN", "PROMETHEUS_USER", "PROMETHEUS_PASSWORD"
_REL_RE = re.compile(r"^now\s*(?:([+-])\s*(\S+))?$")


# -- times and steps ----------------------------------------------------------------------------
def parse_duration_ms(text: str) -> int:
    """`15s`, `1m`, `1h30m`, `500ms` or plain seconds (`300`, `0.5`) -> milliseconds (> 0)."""
    return round(parse_duration_s(text, positive=True) * 1000)


def parse_time_ms(text: str, now: dt.datetime | None = None) -> int:
    """RFC 3339, unix seconds, `now` or `now-1h` / `now+5m` -> unix milliseconds (naive times are UTC)."""
    s = str(text).strip()
    m = _REL_RE.match(s)
    if m:
        base = round((now or dt.datetime.now(dt.UTC)).timestamp() * 1000)
        if not m.group(1):
            return base
        delta = parse_duration_ms(m.group(2))
        return base - delta if m.group(1) == "-" else base + delta
    try:
        return round(float(s) * 1000)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(s.replace("z", "Z"))
    except ValueError:
        raise WorkbenchError(
            f"bad time {text!r}: use RFC 3339 (2025-08-06T00:00:00Z), unix seconds or now-1h"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return round(t.timestamp() * 1000)


def windows(start_ms: int, end_ms: int, step_ms: int, max_points: int = MAX_POINTS) -> list[tuple[int, int]]:
    """Consecutive (start, end) windows of at most MAX_POINTS steps on the grid start + k*step."""
    if end_ms < start_ms:
        raise WorkbenchError("end is before start: swap --start and --end")
    n = (end_ms - start_ms) // step_ms + 1
    if n > MAX_STEPS:   # checked before any list is built: a typo in --step must not eat the memory
        raise WorkbenchError(f"{n:,} steps per series is more than this client fetches ({MAX_STEPS:,}): "
                             "use a larger --step or a shorter range")
    out = []
    for first in range(0, n, max_points):
        last = min(first + max_points, n) - 1
        out.append((start_ms + first * step_ms, start_ms + last * step_ms))
    return out


def _fmt_s(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}" if ms >= 0 else f"{ms / 1000:.3f}"


# -- results --------------------------------------------------------------------------------------
@dataclass
class Series:
    """One series: its labels (including __name__ when present) and points as unix ms + doubles."""

    labels: dict[str, str]
    ts_ms: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class PromResult:
    """A parsed response: result type, series and Prometheus's warnings (plus our own notes)."""

    result_type: str
    series: list[Series]
    warnings: list[str] = field(default_factory=list)
    windows: int = 1

    @property
    def points(self) -> int:
        return sum(len(s.ts_ms) for s in self.series)


def _value(v: object) -> float:
    return float(v)  # Prometheus sends "NaN", "+Inf", "-Inf" and decimal strings; float() reads them all


_TS_RANGE_MS = (-62_135_596_800_000, 253_402_300_799_000)   # years 1 to 9999, as TIMESTAMPTZ holds them


def _ts(v: object) -> int:
    t = float(v)
    if not _TS_RANGE_MS[0] <= t * 1000 <= _TS_RANGE_MS[1]:   # also refuses NaN and Infinity
        raise ValueError(f"timestamp {v!r} is not a time (unix seconds)")
    return round(t * 1000)


def error_message(doc: dict, where: str) -> str:
    """The one-line error for a Prometheus error envelope."""
    etype = doc.get("errorType") or "error"
    msg = " ".join(str(doc.get("error") or "no message").split())
    if where.startswith("at "):  # a live server
        return f"Prometheus {where} said {etype}: {msg}"
    return f"{where}: Prometheus said {etype}: {msg}"  # a saved file


def parse_response(doc: object, where: str = "response") -> PromResult:
    """Parse a decoded `/api/v1/query_range` or `/api/v1/query` body (matrix, vector or scalar)."""
    if not isinstance(doc, dict) or "status" not in doc:
        raise WorkbenchError(f"{where}: not a Prometheus API response (no \"status\" field)")
    if doc["status"] != "success":
        raise WorkbenchError(error_message(doc, where))
    warnings = [str(w) for w in doc.get("warnings") or []]
    data = doc.get("data")
    if not isinstance(data, dict) or "resultType" not in data:
        raise WorkbenchError(f"{where}: success response without data.resultType")
    rtype, result = data["resultType"], data.get("result")
    series: list[Series] = []
    try:
        if rtype == "matrix":
            for item in result or []:
                s = Series(dict(item.get("metric") or {}))
                for t, v in item.get("values") or []:
                    s.ts_ms.append(_ts(t))
                    s.values.append(_value(v))
                if item.get("histograms"):
                    warnings.append(f"{len(item['histograms'])} native histogram samples skipped")
                series.append(s)
        elif rtype == "vector":
            for item in result or []:
                if "value" not in item:
                    warnings.append("native histogram sample skipped")
                    continue
                t, v = item["value"]
                series.append(Series(dict(item.get("metric") or {}), [_ts(t)], [_value(v)]))
        elif rtype == "scalar":
            t, v = result
            series.append(Series({}, [_ts(t)], [_value(v)]))
        else:
            raise WorkbenchError(f"{where}: result type {rtype!r} holds no numbers (matrix, vector, scalar only)")
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
        raise WorkbenchError(f"{where}: malformed {rtype} result ({type(e).__name__}: {e})") from e
    return PromResult(rtype, series, warnings)


def _read_file(path: str | os.PathLike) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"{p}: no such file") from None
    except OSError as e:
        raise WorkbenchError(f"{p}: cannot read ({e.strerror})") from e


def load_file(path: str | os.PathLike, raw: bytes | None = None) -> PromResult:
    """Read a saved API response (JSON, optionally .gz); RAW when the caller already holds its bytes."""
    p = Path(path)
    raw = _read_file(p) if raw is None else raw
    try:
        if p.suffix == ".gz":
            import gzip

            raw = gzip.decompress(raw)
        doc = json.loads(raw.decode())
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as e:
        line = f":{e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        what = "truncated or damaged .gz" if isinstance(e, EOFError | OSError) else "not a JSON Prometheus response"
        raise WorkbenchError(f"{p}{line}: {what} ({e}); nothing was stored") from e
    except RecursionError:
        raise WorkbenchError(f"{p}: JSON nested too deeply to be a Prometheus response; nothing was stored") from None
    except zlib.error as e:
        raise WorkbenchError(f"{p}: damaged .gz ({e}); nothing was stored") from e
    return parse_response(doc, str(p))


def stitch(parts: list[PromResult]) -> PromResult:
    """Merge window results: series by label set, points by timestamp (no duplicates), in order."""
    merged: dict[tuple, dict[int, float]] = {}
    labels: dict[tuple, dict[str, str]] = {}
    warnings: list[str] = []
    for part in parts:
        for w in part.warnings:
            if w not in warnings:
                warnings.append(w)
        for s in part.series:
            key = tuple(sorted(s.labels.items()))
            labels.setdefault(key, s.labels)
            merged.setdefault(key, {}).update(zip(s.ts_ms, s.values, strict=True))
    series = []
    for key, pts in merged.items():
        ts = sorted(pts)
        series.append(Series(labels[key], ts, [pts[t] for t in ts]))
    rtype = parts[0].result_type if parts else "matrix"
    return PromResult(rtype, series, warnings, windows=len(parts))


# -- the client -----------------------------------------------------------------------------------
def base_url(url: str) -> str:
    """The server's base URL: userinfo refused, a pasted /api/v1/... or /graph suffix dropped."""
    try:
        parts = urlsplit(url.strip())
        parts.port   # noqa: B018 -- raises ValueError for a port outside 0-65535
    except ValueError as e:
        raise WorkbenchError(f"bad Prometheus URL {redact_url(url)!r} ({e}): use http(s)://host:port[/prefix]") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WorkbenchError(f"bad Prometheus URL {redact_url(url)!r}: use http(s)://host:port[/prefix]")
    if parts.password is not None or parts.username:
        raise WorkbenchError(
            f"credentials in the URL {redact_url(url)}: set {USER_ENV}/{PASSWORD_ENV} or {TOKEN_ENV} instead"
        )
    path = re.sub(r"/(api/v1/.*|graph)?$", "", parts.path)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class PromClient:
    """An HTTP API client for one Prometheus server. Credentials come from the environment."""

    def __init__(self, url: str, *, ca_file: str | None = None, insecure: bool = False,
                 timeout_s: float = 60.0, server_timeout: str | None = None, retries: int = 3,
                 backoff_s: float = 0.5, concurrency: int = 4, env: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.url = base_url(url)
        self.where = redact_url(self.url)
        env = os.environ if env is None else env
        headers, auth, self._secrets = {"Accept": "application/json"}, None, []
        if env.get(TOKEN_ENV):
            headers["Authorization"] = f"Bearer {env[TOKEN_ENV]}"
            self._secrets.append(env[TOKEN_ENV])
        elif env.get(USER_ENV):
            auth = httpx.BasicAuth(env[USER_ENV], env.get(PASSWORD_ENV, ""))
            self._secrets.append(env.get(PASSWORD_ENV, ""))
        verify: ssl.SSLContext | bool = True
        if insecure:
            verify = False
        elif ca_file:
            if not Path(ca_file).exists():
                raise WorkbenchError(f"--ca-file {ca_file}: no such file")
            verify = ssl.create_default_context(cafile=ca_file)
        self.server_timeout = server_timeout
        if server_timeout:
            timeout_s = max(timeout_s, parse_duration_ms(server_timeout) / 1000 + 5)
        self.retries, self.backoff_s, self.concurrency = retries, backoff_s, max(1, concurrency)
        self.http = httpx.Client(headers=headers, auth=auth, verify=verify, timeout=timeout_s,
                                 transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PromClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _say(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def get(self, endpoint: str, params: dict[str, str]) -> PromResult:
        """GET /api/v1/ENDPOINT with retries (backoff 0.5 s, 1 s, 2 s...) on 5xx, 429 and timeouts;
        parse the envelope."""
        if self.server_timeout:
            params = dict(params, timeout=self.server_timeout)
        url = f"{self.url}/api/v1/{endpoint}"
        where = f"at {self.where}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                resp = self.http.get(url, params=params)
            except httpx.ConnectError as e:
                reason = self._say(" ".join(str(e).split()))
                hint = ("pass --ca-file FILE (or --insecure for a lab server)" if "SSL" in reason
                        else "check --url and that the server is up")
                raise WorkbenchError(f"cannot connect to Prometheus at {self.where}: {reason}; {hint}") from e
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as e:
                if last:
                    raise WorkbenchError(
                        f"Prometheus at {self.where} did not answer ({type(e).__name__}) after "
                        f"{self.retries + 1} tries; try a smaller range, a larger --step or --timeout") from e
                time.sleep(self.backoff_s * 2 ** attempt)
                continue
            except (httpx.HTTPError, httpx.InvalidURL) as e:
                raise WorkbenchError(f"Prometheus at {self.where}: {self._say(str(e))}") from e
            if (resp.status_code >= 500 or resp.status_code == 429) and not last:
                time.sleep(self.backoff_s * 2 ** attempt)
                continue
            return self._decode(resp, where)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decode(self, resp: httpx.Response, where: str) -> PromResult:
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict) and "status" in doc:
            # the server's words (errors, warnings) may quote the credentials in use: scrub them
            try:
                result = parse_response(doc, where)
            except WorkbenchError as e:
                raise WorkbenchError(self._say(str(e))) from None
            result.warnings = [self._say(w) for w in result.warnings]
            return result
        if resp.status_code in (401, 403):
            raise WorkbenchError(
                f"Prometheus at {self.where} refused us (HTTP {resp.status_code}): "
                f"set {TOKEN_ENV} or {USER_ENV}/{PASSWORD_ENV}")
        first = " ".join(resp.text.split())[:120]
        raise WorkbenchError(
            f"{self.where} answered HTTP {resp.status_code}, not a Prometheus API response "
            f"({self._say(first)!r}); check --url")

    def query(self, query: str, time_ms: int | None = None) -> PromResult:
        """An instant query (`/api/v1/query`)."""
        params = {"query": query}
        if time_ms is not None:
            params["time"] = _fmt_s(time_ms)
        return self.get("query", params)

    def query_range(self, query: str, start_ms: int, end_ms: int, step_ms: int,
                    progress: Callable[[int, int], None] | None = None) -> PromResult:
        """A range query, split into <= 11,000-point windows fetched concurrently and stitched."""
        wins = windows(start_ms, end_ms, step_ms)
        steps = (end_ms - start_ms) // step_ms + 1
        if steps > MAX_STEPS:
            raise WorkbenchError(f"{steps:,} steps per series is more than this client fetches ({MAX_STEPS:,}): "
                                 "use a larger --step or a shorter range")
        step = _fmt_s(step_ms)
        done = 0

        def fetch(win: tuple[int, int]) -> PromResult:
            return self.get("query_range", {"query": query, "start": _fmt_s(win[0]), "end": _fmt_s(win[1]),
                                            "step": step})

        parts: list[PromResult] = []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(wins))) as pool:
            for part in pool.map(fetch, wins):
                parts.append(part)
                done += 1
                if progress:
                    progress(done, len(wins))
        result = stitch(parts)
        if not result.series:
            result.warnings.append(f"empty result: no series for {query!r} in that range")
        return result


# -- presets ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    """A playbook query with {sel} (label matchers), {w} (rate window) and {by} (grouping labels)."""

    name: str
    template: str
    description: str
    by: str = ""

    def render(self, match: str = "", window: str = "5m", by: str | None = None) -> str:
        parse_duration_ms(window)
        match = match.strip().strip("{}").strip()
        grouping = self.by if by is None else by
        labels = [x.strip() for x in grouping.split(",") if x.strip()]
        return self.template.format(
            sel="{" + match + "}" if match else "",
            sel5xx="{" + ", ".join(x for x in ('status=~"5.."', match) if x) + "}",
            w=window,
            by=f" by ({', '.join(labels)})" if labels else "",
            le_by=", ".join(["le", *labels]),
        )


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("p95_latency", "histogram_quantile(0.95, sum by ({le_by}) "
           "(rate(http_request_duration_seconds_bucket{sel}[{w}])))",
           "P95 request latency in seconds (playbook HighResponseTime; aggregated over instances)"),
    Preset("p99_latency", "histogram_quantile(0.99, sum by ({le_by}) "
           "(rate(http_request_duration_seconds_bucket{sel}[{w}])))", "P99 request latency in seconds"),
    Preset("error_ratio_5xx", "sum{by} (rate(http_requests_total{sel5xx}[{w}])) / "
           "sum{by} (rate(http_requests_total{sel}[{w}]))",
           "share of requests answered 5xx (playbook's ratio with the missing sum added)"),
    Preset("rps", "sum{by} (rate(http_requests_total{sel}[{w}]))", "requests per second"),
    Preset("cpu", "sum{by} (rate(process_cpu_seconds_total{sel}[{w}]))",
           "CPU seconds per second per process", by="job, instance"),
    Preset("memory", "sum{by} (process_resident_memory_bytes{sel})", "resident memory in bytes",
           by="job, instance"),
    Preset("redis_hit_ratio", "sum{by} (rate(redis_keyspace_hits_total{sel}[{w}])) / "
           "(sum{by} (rate(redis_keyspace_hits_total{sel}[{w}])) + "
           "sum{by} (rate(redis_keyspace_misses_total{sel}[{w}])))",
           "Redis keyspace hit ratio (redis_exporter counters; playbook alert at < 0.8)", by="instance"),
    Preset("pg_long_tx", "max{by} (pg_stat_activity_max_tx_duration{sel})",
           "longest open transaction in seconds (postgres_exporter; playbook alert at > 30)",
           by="instance, datname"),
]}


def preset_query(name: str, match: str = "", window: str = "5m", by: str | None = None) -> str:
    """The PromQL of preset NAME with label matchers, rate window and grouping."""
    if name not in PRESETS:
        raise WorkbenchError(f"unknown preset {name!r}: one of {', '.join(PRESETS)} (see --list-presets)")
    return PRESETS[name].render(match, window, by)


# -- the store ---------------------------------------------------------------------------------------
def labels_text(labels: Mapping[str, str]) -> str:
    """A series' labels in Prometheus notation, `name{k="v", ...}` with the keys sorted: the text stored in
    `prom_series.labels_text` and printed wherever a series or an alert is named."""
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def save(store: Store, name: str, result: PromResult, *, kind: str, source: str, sha256: str | None = None,
         query: str | None = None, preset: str | None = None, url: str | None = None,
         start_ms: int | None = None, end_ms: int | None = None, step_ms: int | None = None,
         replace: bool = False) -> int:
    """Write RESULT as series set NAME in one ingest; return the ingest id. Refuses an existing NAME
    unless REPLACE."""
    con = store.con
    old = con.execute("SELECT ingest_id FROM prom_series_sets WHERE name = ?", [name]).fetchall()
    if old and not replace:
        raise WorkbenchError(f"series set {name!r} already exists in {store.path}: pass --replace or another --name")
    with store.ingest(kind, source, sha256=sha256, run=name) as ing:
        if old:
            con.execute("DELETE FROM prom_points WHERE series_id IN "
                        "(SELECT series_id FROM prom_series WHERE name = ?)", [name])
            con.execute("DELETE FROM prom_series WHERE name = ?", [name])
            con.execute("DELETE FROM prom_series_sets WHERE name = ?", [name])
        con.execute(
            "INSERT INTO prom_series_sets (ingest_id, name, query, preset, url, result_type, start_ts, end_ts,"
            " step_s, windows, warnings, created_at) VALUES (?, ?, ?, ?, ?, ?, epoch_ms(?::BIGINT)::TIMESTAMPTZ,"
            " epoch_ms(?::BIGINT)::TIMESTAMPTZ, ?, ?, ?, now())",
            [ing.ingest_id, name, query, preset, redact_url(url) if url else None, result.result_type,
             start_ms, end_ms, step_ms / 1000 if step_ms else None, result.windows, result.warnings])
        frames = []
        for s in result.series:
            keys = sorted(s.labels)
            sid = con.execute(
                "INSERT INTO prom_series (ingest_id, name, labels, labels_text, points) VALUES"
                " (?, ?, map(?::VARCHAR[], ?::VARCHAR[]), ?, ?) RETURNING series_id",
                [ing.ingest_id, name, keys, [s.labels[k] for k in keys], labels_text(s.labels), len(s.ts_ms)],
            ).fetchone()[0]
            frames.append(pa.table({"series_id": pa.array([sid] * len(s.ts_ms), pa.int64()),
                                    "ts_ms": pa.array(s.ts_ms, pa.int64()),
                                    "value": pa.array(s.values, pa.float64())}))
        if frames:  # Arrow, not pandas: DuckDB reads a pandas NaN as NULL, Arrow keeps NaN a double
            con.register("_prom_points_in", pa.concat_tables(frames))
            try:
                con.execute("INSERT INTO prom_points SELECT series_id, epoch_ms(ts_ms)::TIMESTAMPTZ, value"
                            " FROM _prom_points_in")
            finally:
                con.unregister("_prom_points_in")
        ing.rows = result.points
        ing.details.update(series=len(result.series), result_type=result.result_type, windows=result.windows)
        for w in result.warnings:
            ing.warn(w)
        return ing.ingest_id


def ingest_file(store: Store, path: str | os.PathLike, name: str, replace: bool = False, *,
                query: str | None = None, preset: str | None = None,
                step_ms: int | None = None) -> tuple[PromResult, bool]:
    """Ingest a saved API response as series set NAME; (result, False) when that file already is NAME.
    QUERY/PRESET/STEP_MS describe it when known (a saved file does not say); start/end come from its
    points."""
    raw = _read_file(path)
    sha = hashlib.sha256(raw).hexdigest()
    result = load_file(path, raw)
    same = store.con.execute(
        "SELECT 1 FROM prom_series_sets s JOIN ingests i USING (ingest_id) WHERE s.name = ? AND i.sha256 = ?",
        [name, sha]).fetchone()
    if same and not replace:
        return result, False
    stamps = [t for ser in result.series for t in ser.ts_ms]
    save(store, name, result, kind="prometheus-file", source=str(path), sha256=sha, replace=replace,
         query=query, preset=preset, step_ms=step_ms, start_ms=min(stamps, default=None),
         end_ms=max(stamps, default=None))
    return result, True


def load_samples(store: Store, sample_dir: Path) -> str:
    """Ingest every saved response in data/samples/prometheus/ (not meta.json) as a series set named
    after its file."""
    files = sorted(p for p in Path(sample_dir).glob("*.json*")
                   if p.suffix in (".json", ".gz") and not p.name.startswith("meta."))
    meta_file = Path(sample_dir) / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    step_ms = parse_duration_ms(meta["step"]) if meta.get("step") else None
    points = 0
    for f in files:
        name = f.name.removesuffix(".gz").removesuffix(".json")
        about = meta.get("series", {}).get(name, {})
        result, _ = ingest_file(store, f, name, replace=True, query=about.get("query"),
                                preset=about.get("preset"), step_ms=step_ms)
        points += result.points
    return f"{len(files)} Prometheus series sets, {points} points"
