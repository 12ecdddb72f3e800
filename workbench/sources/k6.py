"""k6 outputs into the store: `--out json` (NDJSON, plain or .gz), `--out csv` (plain or .gz),
`--summary-export` files and `handleSummary()` JSON. The format is sniffed from the content.

A run holds one points file per k6 instance (JSON or CSV are two views of the same data: ingest one of
them) plus at most one summary. The fast path hands the whole file to DuckDB's JSON/CSV reader with an
explicit schema and never loads it into Python; only when DuckDB rejects the file does a line-by-line
Python pass find the bad line (and, for a truncated last line, keep every complete line).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import os
import re
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from workbench.errors import WorkbenchError
from workbench.sources import k6_pass
from workbench.store import Ingest, Store, file_sha256, quote_ident, quote_literal

# Tags with typed columns (in k6_tagsets, hence in the k6_samples view): k6 tag name -> column
COMMON_TAGS = {
    "status": "status", "method": "method", "name": "name", "url": "url", "scenario": "scenario",
    "group": "group_name", "expected_response": "expected_response", "check": "check_name",
    "proto": "proto", "error_code": "error_code",
}

# k6's built-in metrics and their documented types (https://grafana.com/docs/k6/latest/using-k6/metrics/reference/)
BUILTIN_TYPES: dict[str, tuple[str, str]] = {
    "vus": ("gauge", "default"), "vus_max": ("gauge", "default"),
    "iterations": ("counter", "default"), "iteration_duration": ("trend", "time"),
    "dropped_iterations": ("counter", "default"), "data_received": ("counter", "data"),
    "data_sent": ("counter", "data"), "checks": ("rate", "default"),
    "http_reqs": ("counter", "default"), "http_req_blocked": ("trend", "time"),
    "http_req_connecting": ("trend", "time"), "http_req_tls_handshaking": ("trend", "time"),
    "http_req_sending": ("trend", "time"), "http_req_waiting": ("trend", "time"),
    "http_req_receiving": ("trend", "time"), "http_req_duration": ("trend", "time"),
    "http_req_failed": ("rate", "default"), "group_duration": ("trend", "time"),
    "ws_connecting": ("trend", "time"), "ws_msgs_received": ("counter", "default"),
    "ws_msgs_sent": ("counter", "default"), "ws_ping": ("trend", "time"),
    "ws_session_duration": ("trend", "time"), "ws_sessions": ("counter", "default"),
    "grpc_req_duration": ("trend", "time"), "grpc_streams": ("counter", "default"),
    "grpc_streams_msgs_received": ("counter", "default"), "grpc_streams_msgs_sent": ("counter", "default"),
    "browser_data_received": ("counter", "data"), "browser_data_sent": ("counter", "data"),
    "browser_http_req_duration": ("trend", "time"), "browser_http_req_failed": ("rate", "default"),
}

SUPPORTED = ("k6 --out json (NDJSON, .gz ok)", "k6 --out csv (.gz ok)", "k6 --summary-export JSON",
             "handleSummary() JSON")

_JSON_SCHEMA = ("{type: 'VARCHAR', metric: 'VARCHAR', data: 'STRUCT(time TIMESTAMPTZ, value DOUBLE, "
                "tags JSON, metadata JSON)'}")
_METRIC_SCHEMA = ("{type: 'VARCHAR', metric: 'VARCHAR', data: 'STRUCT(name VARCHAR, type VARCHAR, "
                  "contains VARCHAR, thresholds VARCHAR[], submetrics JSON)'}")
_TAG_STRUCT = "{" + ",".join(f'"{t}":"VARCHAR"' for t in COMMON_TAGS) + "}"


@dataclass
class FileResult:
    """What one file added to a run."""

    path: str
    format: str
    rows: int = 0
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------------------
def _opener(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return (lambda: gzip.open(path, "rb")) if magic == b"\x1f\x8b" else (lambda: open(path, "rb"))


def sniff(path: str | os.PathLike) -> str:
    """'json' | 'csv' | 'summary-export' | 'handle-summary' from the first bytes, else a WorkbenchError."""
    p = Path(path)
    if not p.exists():
        raise WorkbenchError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise WorkbenchError(f"{p}: empty file (k6 wrote nothing; was the test run with --out?)")
    try:
        with _opener(p)() as f:
            head = f.read(1 << 16)
    except (OSError, EOFError) as e:
        raise WorkbenchError(f"{p}: cannot read ({e}); supported: {', '.join(SUPPORTED)}") from e
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = text.lstrip()
    if not stripped:
        raise WorkbenchError(f"{p}: empty file (no data after decompression)")
    first_line = stripped.splitlines()[0]
    if stripped.startswith("{"):
        try:
            obj = json.loads(first_line)
            if isinstance(obj, dict) and obj.get("type") in ("Point", "Metric") and "data" in obj:
                return "json"
        except json.JSONDecodeError:
            pass
        # a whole-file JSON object: a summary?
        if '"metrics"' in text:
            return _summary_kind(p)
    header = first_line.strip().split(",")
    if {"metric_name", "timestamp", "metric_value"} <= set(header):
        return "csv"
    raise WorkbenchError(f"{p}: not a k6 output I know; supported: {', '.join(SUPPORTED)}")


def _summary_kind(p: Path) -> str:
    obj = _load_json_file(p)
    metrics = obj.get("metrics") if isinstance(obj, dict) else None
    if not isinstance(metrics, dict):
        raise WorkbenchError(f"{p}: JSON without a 'metrics' object; supported: {', '.join(SUPPORTED)}")
    if any(isinstance(m, dict) and "values" in m for m in metrics.values()):
        return "handle-summary"
    return "summary-export"


def _load_json_file(p: Path) -> dict:
    try:
        with _opener(p)() as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"{p}: invalid JSON ({e})") from e
    except RecursionError:
        raise WorkbenchError(f"{p}: JSON nested too deeply to be a k6 summary") from None
    except (EOFError, OSError, zlib.error) as e:
        raise WorkbenchError(f"{p}: cannot read ({_first_line(e)}: truncated or damaged file?)") from None


# --------------------------------------------------------------------------------------------------
# Public entry: ingest files into a run
# --------------------------------------------------------------------------------------------------
def ingest_files(store: Store, paths: list[str | os.PathLike], run: str, *, label: str | None = None,
                 tags: dict[str, str] | None = None, replace: bool = False,
                 skip_bad_lines: bool = False,
                 progress: Callable[[str | os.PathLike], None] | None = None) -> list[FileResult]:
    """Ingest k6 files into RUN, one transaction per file. PROGRESS(path) is called before each file.
    When a file fails, the error names the files of this call that were stored before it."""
    results: list[FileResult] = []
    for path in paths:
        if progress:
            progress(path)
        try:
            results.append(ingest_file(store, Path(path), run, label=label, tags=tags, replace=replace,
                                       skip_bad_lines=skip_bad_lines))
        except WorkbenchError as e:
            stored = [r.path for r in results if not r.skipped]
            if not stored:
                raise
            e.args = (f"{e.args[0]} [stored before it, and kept, in run {run!r}: {', '.join(stored)}; "
                      f"not stored: {path} and any file after it]",)
            raise
    return results


def ingest_file(store: Store, path: Path, run: str, *, label: str | None = None,
                tags: dict[str, str] | None = None, replace: bool = False,
                skip_bad_lines: bool = False) -> FileResult:
    """Ingest one k6 file into RUN (created if missing). Idempotent per (file bytes, run).

    The file's sha256 is computed in a thread while DuckDB loads it; a file the run already holds is
    rolled back and reported as skipped (unless REPLACE, which swaps the old copy for the new one).
    """
    kind = sniff(path)
    result = FileResult(str(path), kind)
    # Let DuckDB insert in parallel without keeping file order (~1.5x faster on 2 cores); samples are
    # always read back by time, never by insertion order. Only for this ingest: reset at the end.
    store.con.execute("SET preserve_insertion_order = false")
    points = kind in ("json", "csv")
    hasher = k6_pass.take(path)
    cleaned: _Cleaned | None = None
    try:
        while True:
            try:
                with store.ingest(f"k6-{kind}", str(path), run=run, label=label) as ing:
                    _ensure_run(store, run, label, tags or {})
                    _load(store, path, kind, run, ing, cleaned, hasher, replace)
                    digests = _digests(store, run, path, hasher, points)
                    previous = store.find_ingest("k6-", run, digests)
                    if previous is not None and not replace:
                        raise _AlreadyIngested(previous)
                    if previous is not None:
                        _delete_ingest(store, previous)
                    store.con.execute("UPDATE ingests SET blake3 = ?, sha256 = ? WHERE ingest_id = ?",
                                      [digests["blake3"], digests["sha256"], ing.ingest_id])
                    if points:
                        _warn_if_duplicate_test(store, run, ing)
                    result.rows = ing.rows
                    result.warnings.extend(ing.warnings)
                return result
            except _AlreadyIngested as e:
                result.skipped = True
                result.warnings.append(f"{path}: already ingested into run {run!r} (ingest {e.args[0]}); "
                                       "nothing to do (use --replace to load it again)")
                return result
            except _Rejected as e:
                # DuckDB refused something (the transaction is rolled back): find the bad lines in
                # Python, keep the good ones in a temp file and load that instead.
                if cleaned is not None:
                    raise WorkbenchError(f"{path}: DuckDB rejected the file even after removing bad lines "
                                         f"({_first_line(e)}); nothing was stored") from None
                cleaned = _clean_copy(path, kind, skip_bad_lines, store.scratch)
    finally:
        try:
            store.con.execute("RESET preserve_insertion_order")   # the transaction has ended by now
        except duckdb.Error:
            pass   # an interrupted ingest: the connection is being given up anyway
        if cleaned is not None:
            cleaned.path.unlink(missing_ok=True)


def _digests(store: Store, run: str, path: Path, hasher: k6_pass.FilePass, points: bool) -> dict[str, str | None]:
    """The file's fingerprints: a points file's BLAKE3, plus its sha256 when RUN holds points files from before
    BLAKE3 (known only by that); a summary's sha256 (it is small)."""
    b3 = hasher.result()
    if not points:
        return {"blake3": None, "sha256": file_sha256(path)}
    return {"blake3": b3, "sha256": file_sha256(path) if _run_has_sha256_points(store, run) else None}


def _run_has_sha256_points(store: Store, run: str) -> bool:
    """Whether RUN holds points files fingerprinted before BLAKE3 (sha256 only): a re-ingest of one of them
    is recognised only by its sha256."""
    return bool(store.con.execute(
        "SELECT count(*) > 0 FROM ingests WHERE kind IN ('k6-json', 'k6-csv') AND run = ? AND blake3 IS NULL "
        "AND sha256 IS NOT NULL AND finished_at IS NOT NULL", [run]).fetchone()[0])


class _AlreadyIngested(Exception):
    """The run already holds these bytes."""


def _load(store: Store, path: Path, kind: str, run: str, ing: Ingest, cleaned: _Cleaned | None,
          hasher: k6_pass.FilePass, replace: bool = False) -> None:
    ing.details["format"] = kind
    if kind in ("summary-export", "handle-summary"):
        _ingest_summary(store, path, run, kind, ing, replace)
        return
    src = cleaned.path if cleaned else path
    if kind == "json":
        _ingest_json_points(store, src, ing)
        hasher.join()
        defs = hasher.metric_lines if cleaned is None else None
        _json_metric_defs(store, src, run, defs)
    else:
        _ingest_csv_points(store, src, run, ing)
    if cleaned:
        ing.warnings.extend(cleaned.warnings)
        ing.details["bad_lines"] = cleaned.bad_lines[:100]
    if ing.rows == 0:
        ing.warn(f"{path}: no data points")


def _ensure_run(store: Store, run: str, label: str | None, tags: dict[str, str]) -> None:
    row = store.con.execute("SELECT label, tags FROM k6_runs WHERE run = ?", [run]).fetchone()
    if row is None:
        store.con.execute("INSERT INTO k6_runs VALUES (?, ?, MAP(?::VARCHAR[], ?::VARCHAR[]), now())",
                          [run, label, list(tags), list(tags.values())])
    elif tags or (label and label != row[0]):
        merged = dict(row[1] or {})
        merged.update(tags)
        store.con.execute("UPDATE k6_runs SET label = coalesce(?, label), tags = MAP(?::VARCHAR[], ?::VARCHAR[])"
                          " WHERE run = ?", [label, list(merged), list(merged.values()), run])


def _delete_ingest(store: Store, ingest_id: int) -> None:
    for table in ("k6_sample_rows", "k6_samples_v1", "k6_summaries"):
        store.con.execute(f"DELETE FROM {table} WHERE ingest_id = ?", [ingest_id])
    store.con.execute("DELETE FROM ingests WHERE ingest_id = ?", [ingest_id])


def _warn_if_duplicate_test(store: Store, run: str, ing: Ingest) -> None:
    """Warn when this file's time range and request count equal points the run already held."""
    if not store.con.execute("SELECT count(*) FROM ingests WHERE run = ? AND kind IN ('k6-json', 'k6-csv') AND "
                             "ingest_id <> ? AND finished_at IS NOT NULL", [run, ing.ingest_id]).fetchone()[0]:
        return   # the run's first points file
    rows = store.con.execute(
        "SELECT ingest_id, date_trunc('second', min(ts)), date_trunc('second', max(ts)),"
        " count(*) FILTER (WHERE metric = 'http_reqs') FROM k6_samples WHERE run = ? GROUP BY ingest_id",
        [run]).fetchall()
    mine = [r for r in rows if r[0] == ing.ingest_id]
    if not mine:
        return
    for other in rows:
        if other[0] != ing.ingest_id and other[1:] == mine[0][1:]:
            ing.warn(f"this file has the same time range and request count ({other[3]}) as ingest "
                     f"{other[0]} in run {run!r}: probably the same test in another format (JSON and CSV "
                     "outputs are the same data; a run needs one points file per k6 instance)")


# --------------------------------------------------------------------------------------------------
# JSON points
# --------------------------------------------------------------------------------------------------
def tag_columns(struct: str) -> str:
    """The typed tag columns, in COMMON_TAGS order, from STRUCT (json_transform of the tags to _TAG_STRUCT);
    '' becomes NULL. The store's tag-set dictionary and the streamed Parquet both use it."""
    return ", ".join(f"nullif({struct}.\"{tag}\", '') AS {col}" for tag, col in COMMON_TAGS.items())


def json_points_select(src: str, json_as: str = "JSON") -> str:
    """SELECT of a k6 JSON file's points in k6_samples' column order, typed tag columns parsed per row (run
    and ingest_id are the first two parameters); JSON_AS VARCHAR keeps tags/metadata as text (for Parquet)."""
    return f"""
        SELECT ?::VARCHAR AS run, ?::BIGINT AS ingest_id, metric, ts, value, {tag_columns('t')},
               CAST(tags AS {json_as}) AS tags, CAST(metadata AS {json_as}) AS metadata
        FROM (SELECT metric, data.time AS ts, data.value AS value, data.tags AS tags,
                     data.metadata AS metadata, json_transform(data.tags, '{_TAG_STRUCT}') AS t
              FROM read_json({src}, format = 'newline_delimited', compression = 'auto',
                             columns = {_JSON_SCHEMA})
              WHERE type = 'Point')
    """


def _json_rows_sql(src: str) -> str:
    """The store's INSERT of a k6 JSON file's points: tags stay the JSON text k6 wrote (parsed once per
    distinct tag set afterwards, by record_tagsets), which is as fast as DuckDB copies the file."""
    return f"""
        INSERT INTO k6_sample_rows
        SELECT ?, metric, data.time, data.value, data.tags, data.metadata
        FROM read_json({src}, format = 'newline_delimited', compression = 'auto', columns = {_JSON_SCHEMA})
        WHERE type = 'Point'
    """


def record_tagsets(con: duckdb.DuckDBPyConnection, ingest_id: int) -> int:
    """Add to k6_tagsets each distinct tags text of INGEST_ID's rows that it lacks, parsed once; returns
    how many were new. Run inside the ingest's transaction (one writer), so entries stay unique."""
    return con.execute(f"""
        INSERT INTO k6_tagsets
        SELECT tags, {tag_columns('t')}
        FROM (SELECT tags, json_transform(tags, '{_TAG_STRUCT}') AS t
              FROM (SELECT DISTINCT tags FROM k6_sample_rows WHERE ingest_id = ? AND tags IS NOT NULL) n
              WHERE NOT EXISTS (SELECT 1 FROM k6_tagsets d WHERE d.tags = n.tags))
    """, [ingest_id]).fetchone()[0]


def _sql_str(path: Path) -> str:
    return quote_literal(str(path))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


class _Rejected(Exception):
    """DuckDB's reader refused the file; the line-by-line pass will find out why."""


_REJECTIONS = (duckdb.InvalidInputException, duckdb.ConstraintException, duckdb.ConversionException,
               duckdb.IOException)
MAX_LINE_BYTES = 32 << 20   # DuckDB's JSON reader refuses longer objects: such a line is a bad line
_TIME_RE = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|z|[+-]\d\d(:?\d\d)?)?")


def _valid_time(text: str | bytes) -> bool:
    """An RFC 3339 time DuckDB can cast (month, day, hour... in range), or epoch digits (CSV)."""
    raw = text.encode() if isinstance(text, str) else text
    if raw.isdigit():
        return True
    if not _TIME_RE.fullmatch(raw.strip()):
        return False
    try:
        dt.datetime.fromisoformat(raw[:19].decode().replace(" ", "T"))
    except ValueError:
        return False
    return True


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)



def _ingest_json_points(store: Store, src: Path, ing: Ingest) -> None:
    try:
        ing.rows = store.con.execute(_json_rows_sql(_sql_str(src)), [ing.ingest_id]).fetchone()[0]
        record_tagsets(store.con, ing.ingest_id)
    except _REJECTIONS as e:
        raise _Rejected(str(e)) from e


def _json_metric_defs(store: Store, src: Path, run: str, defs: list[dict] | None = None) -> None:
    """Record the `Metric` lines' type, thresholds and submetrics (DEFS when already found, else DuckDB reads them)."""
    if defs is None:
        rows = store.con.execute(
            f"SELECT DISTINCT data.name, data.type, data.contains, data.thresholds, CAST(data.submetrics AS VARCHAR)"
            f" FROM read_json({_sql_str(src)}, format = 'newline_delimited', compression = 'auto',"
            f" columns = {_METRIC_SCHEMA}) WHERE type = 'Metric'").fetchall()
        defs = [{"name": n, "type": t, "contains": c, "thresholds": th, "submetrics": json.loads(sub or "null")}
                for n, t, c, th, sub in rows]
    items: dict[str, tuple] = {}
    for d in defs:
        if d.get("name") in items or not d.get("name") or not d.get("type"):
            continue
        subs = [sm["name"] for sm in d.get("submetrics") or [] if isinstance(sm, dict) and "name" in sm]
        items[d["name"]] = (d["name"], d["type"], d.get("contains"), d.get("thresholds") or [], subs)
    _upsert_metrics(store, run, list(items.values()), "json")


def _valid_json_line(line: bytes) -> bool:
    if len(line) > MAX_LINE_BYTES:
        return False
    try:
        obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError):   # bad JSON, bad UTF-8, duplicate keys, absurd nesting
        return False
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), dict):
        return False
    if obj.get("type") == "Metric":
        return True
    data = obj["data"]
    value = data.get("value")
    return (obj.get("type") == "Point" and isinstance(obj.get("metric"), str)
            and isinstance(data.get("time"), str) and _valid_time(data["time"]) and isinstance(value, int | float)
            and not isinstance(value, bool) and (data.get("tags") is None or isinstance(data["tags"], dict)))


@dataclass
class _Cleaned:
    path: Path
    bad_lines: list[int]
    warnings: list[str]


def _valid_csv_line(header: list[str]):
    width, vi, ti = len(header), header.index("metric_value"), header.index("timestamp")

    def valid(line: bytes) -> bool:
        if len(line) > MAX_LINE_BYTES:
            return False
        try:
            row = next(csv.reader([line.decode("utf-8")]))
            float(row[vi])
            return len(row) == width and _valid_time(row[ti]) and bool(row[0])
        except (ValueError, StopIteration, IndexError, UnicodeDecodeError):
            return False

    return valid


def _clean_copy(path: Path, kind: str, skip_bad_lines: bool, scratch: Path | None = None) -> _Cleaned:
    """Copy the valid lines to a temp file (in SCRATCH); a bad last line without a newline is a truncated
    tail (warn, keep the rest); a .gz stream that ends early keeps its complete lines only with
    SKIP_BAD_LINES; any other bad line fails the ingest unless SKIP_BAD_LINES."""
    is_csv = kind == "csv"
    valid = _valid_csv_line(_csv_header(path)) if is_csv else _valid_json_line
    fd, name = tempfile.mkstemp(prefix="k6-clean-", suffix=".csv" if is_csv else ".json", dir=scratch)
    bad: list[int] = []
    last_no = 0
    last_bad_unterminated = False
    cut: str | None = None   # why a compressed stream ended early
    with os.fdopen(fd, "wb") as out, _opener(path)() as f:
        try:
            for no, line in enumerate(f, start=1):
                last_no = no
                if is_csv and no == 1:
                    out.write(line)
                elif not line.strip():
                    continue
                elif valid(line):
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                else:
                    bad.append(no)
                    last_bad_unterminated = not line.endswith(b"\n")
        except (EOFError, OSError, zlib.error) as e:   # a truncated or damaged .gz
            cut = _first_line(e)
    if cut is not None and not skip_bad_lines:
        Path(name).unlink(missing_ok=True)
        raise WorkbenchError(f"{path}:{last_no + 1}: the compressed stream ends there ({cut}: the file is "
                             f"truncated); nothing was stored. Pass --skip-bad-lines to keep the {last_no:,} "
                             "complete lines before it")
    truncated_tail = cut is None and bool(bad) and bad[-1] == last_no and last_bad_unterminated
    middle = bad[:-1] if truncated_tail else bad
    warnings = []
    if middle and not skip_bad_lines:
        Path(name).unlink(missing_ok=True)
        more = f" (and {len(middle) - 1} more)" if len(middle) > 1 else ""
        raise WorkbenchError(f"{path}:{middle[0]}: corrupt line{more}; nothing was stored. Fix or remove "
                             "it, or pass --skip-bad-lines to ingest the valid lines")
    if truncated_tail:
        warnings.append(f"{path}:{last_no}: last line is incomplete (k6 stopped mid-write); ingested the "
                        f"complete lines before it")
    if middle:
        warnings.append(f"{path}: skipped {len(middle)} bad lines (first at line {middle[0]})")
    if cut is not None:
        warnings.append(f"{path}:{last_no + 1}: the compressed stream ends there (truncated file); ingested "
                        "the complete lines before it")
    return _Cleaned(Path(name), bad, warnings)


# --------------------------------------------------------------------------------------------------
# CSV points
# --------------------------------------------------------------------------------------------------
def _csv_header(path: Path) -> list[str]:
    with _opener(path)() as f:
        first = f.readline().decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    return next(csv.reader([first]))


def _csv_time_expr(path: Path) -> str:
    """SQL turning the `timestamp` column into TIMESTAMPTZ, for k6's CSV time formats."""
    with _opener(path)() as f:
        f.readline()
        sample = f.readline().decode("utf-8", errors="replace")
    try:
        ts = next(csv.reader([sample]))[_csv_header(path).index("timestamp")]
    except (StopIteration, IndexError):
        ts = ""
    if re.fullmatch(r"\d+", ts):
        digits = len(ts)
        if digits <= 11:
            return "to_timestamp(CAST(\"timestamp\" AS DOUBLE))"
        if digits <= 14:
            return "make_timestamptz(CAST(\"timestamp\" AS BIGINT) * 1000)"
        if digits <= 17:
            return "make_timestamptz(CAST(\"timestamp\" AS BIGINT))"
        return "make_timestamptz(CAST(\"timestamp\" AS BIGINT) // 1000)"
    return "CAST(\"timestamp\" AS TIMESTAMPTZ)"


def _kv_pairs_sql(col: str) -> str:
    """`k=v&k2=v2` (k6's extra_tags/metadata CSV columns) -> list of {key, value} structs."""
    return (f"list_transform(list_filter(string_split(coalesce(\"{col}\", ''), '&'), lambda s: s <> ''),"
            f" lambda s: {{'key': split_part(s, '=', 1), 'value': substr(s, length(split_part(s, '=', 1)) + 2)}})")


def _check_header(path: Path, header: list[str]) -> None:
    """Column names become tag names (never SQL): each must be non-empty and unique (DuckDB's column
    names ignore case)."""
    seen: set[str] = set()
    for name in header:
        if not name:
            raise WorkbenchError(f"{path}:1: the header has an empty column name; nothing was stored")
        if name.lower() in seen:
            raise WorkbenchError(f"{path}:1: the header names column {name!r} twice; nothing was stored")
        seen.add(name.lower())


def _csv_points_sql(path: Path, header: list[str]) -> str:
    """The INSERT for a k6 CSV. Header names come from the file: each is a quoted identifier or literal
    (quote_ident / quote_literal), never SQL text."""
    _check_header(path, header)
    known = {"metric_name", "timestamp", "metric_value", "extra_tags", "metadata"}
    tag_names = [h for h in header if h not in known]
    pairs = ", ".join(f"{{'key': {quote_literal(t)}, 'value': {quote_ident(t)}}}" for t in tag_names)
    tag_list = f"list_filter([{pairs}], lambda e: e.value IS NOT NULL AND e.value <> '')" if pairs else "[]"
    if "extra_tags" in header:
        tag_list = f"list_concat({tag_list}, {_kv_pairs_sql('extra_tags')})"
    meta = (f"CASE WHEN coalesce(metadata, '') = '' THEN NULL ELSE to_json(map_from_entries("
            f"{_kv_pairs_sql('metadata')})) END") if "metadata" in header else "NULL"
    types = ", ".join(f"{quote_literal(h)}: '{'DOUBLE' if h == 'metric_value' else 'VARCHAR'}'" for h in header)
    return f"""
        INSERT INTO k6_sample_rows
        SELECT ?, metric_name, {_csv_time_expr(path)}, metric_value, to_json(map_from_entries({tag_list})), {meta}
        FROM read_csv({_sql_str(path)}, header = true, compression = 'auto', quote = '"', escape = '"',
                      strict_mode = true, null_padding = false, columns = {{{types}}})
    """


def _ingest_csv_points(store: Store, src: Path, run: str, ing: Ingest) -> None:
    try:
        ing.rows = store.con.execute(_csv_points_sql(src, _csv_header(src)), [ing.ingest_id]).fetchone()[0]
        record_tagsets(store.con, ing.ingest_id)
    except _REJECTIONS as e:
        raise _Rejected(str(e)) from e
    # CSV carries no metric types: built-ins have documented ones; custom ones come from a summary or
    # are inferred (and the summary output says so).
    for (name,) in store.con.execute("SELECT DISTINCT metric FROM k6_sample_rows WHERE ingest_id = ?",
                                     [ing.ingest_id]).fetchall():
        if name in BUILTIN_TYPES:
            mtype, contains = BUILTIN_TYPES[name]
            _upsert_metric(store, run, name, mtype, contains, [], [], "builtin", keep_better=True)
        else:
            mtype = _infer_type(store, ing.ingest_id, name)
            _upsert_metric(store, run, name, mtype, None, [], [], "inferred", keep_better=True)


def _infer_type(store: Store, ingest_id: int, metric: str) -> str:
    only01 = store.con.execute(
        "SELECT bool_and(value IN (0, 1)) FROM k6_sample_rows WHERE ingest_id = ? AND metric = ?",
        [ingest_id, metric]).fetchone()[0]
    return "rate" if only01 else "trend"


_SOURCE_RANK = {"inferred": 0, "builtin": 1, "summary": 2, "json": 3}


def _upsert_metric(store: Store, run: str, name: str, mtype: str, contains: str | None,
                   thresholds: list[str], submetrics: list[str], source: str, keep_better: bool = False) -> None:
    _upsert_metrics(store, run, [(name, mtype, contains, thresholds, submetrics)], source, keep_better)


def _upsert_metrics(store: Store, run: str, items: list[tuple[str, str, str | None, list[str], list[str]]],
                    source: str, keep_better: bool = False) -> None:
    """Record ITEMS (name, type, contains, thresholds, submetrics) for RUN: new metrics in one INSERT; for
    known ones thresholds and submetrics merge, and the type is taken only from an equal or better source
    when KEEP_BETTER."""
    known = {r[0]: r[1:] for r in store.con.execute(
        "SELECT metric, type_source, thresholds, submetrics FROM k6_metrics WHERE run = ?", [run]).fetchall()}
    new = []
    for name, mtype, contains, thresholds, submetrics in items:
        row = known.get(name)
        if row is None:
            new.append([run, name, mtype, contains, list(thresholds), list(submetrics), source])
            continue
        merged_th = sorted(set(thresholds) | set(row[1] or []))
        merged_sub = sorted(set(submetrics) | set(row[2] or []))
        t, c, src = mtype, contains, source
        if keep_better and _SOURCE_RANK[row[0]] >= _SOURCE_RANK[source]:
            t, c, src = None, None, row[0]
        store.con.execute("UPDATE k6_metrics SET type = coalesce(?, type), contains = coalesce(?, contains),"
                          " thresholds = ?, submetrics = ?, type_source = ? WHERE run = ? AND metric = ?",
                          [t, c, merged_th, merged_sub, src, run, name])
    if new:
        values = ", ".join(["(?, ?, ?, ?, ?::VARCHAR[], ?::VARCHAR[], ?)"] * len(new))
        store.con.execute(f"INSERT INTO k6_metrics SELECT * FROM (VALUES {values})", [v for r in new for v in r])


# --------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------
def _legacy_type(stats: dict) -> str:
    keys = set(stats) - {"thresholds"}
    if {"passes", "fails"} & keys:
        return "rate"
    if keys <= {"count", "rate"}:
        return "counter"
    if keys <= {"value", "min", "max"}:
        return "gauge"
    return "trend"


def normalise_summary(obj: dict, kind: str) -> tuple[dict, float | None]:
    """Both summary shapes -> ({metric: {type, contains, values, thresholds: {expr: {ok}}}}, duration_ms)."""
    out: dict[str, dict] = {}
    duration = None
    if kind == "handle-summary":
        duration = (obj.get("state") or {}).get("testRunDurationMs")
        for name, m in obj["metrics"].items():
            thresholds = {expr: {"ok": bool(v.get("ok"))} for expr, v in (m.get("thresholds") or {}).items()}
            values = dict(m.get("values") or {})
            if m.get("type") == "rate" and "rate" in values:   # handleSummary says rate, --summary-export value
                values["value"] = values.pop("rate")
            out[name] = {"type": m.get("type"), "contains": m.get("contains"), "values": values,
                         "thresholds": thresholds}
    else:  # --summary-export: flat stats; thresholds map expr -> true when FAILED
        for name, stats in obj["metrics"].items():
            values = {k: v for k, v in stats.items() if k != "thresholds"}
            thresholds = {expr: {"ok": not failed} for expr, failed in (stats.get("thresholds") or {}).items()}
            base = name.split("{", 1)[0]
            mtype, contains = BUILTIN_TYPES.get(base, (_legacy_type(stats), None))
            out[name] = {"type": mtype, "contains": contains, "values": values, "thresholds": thresholds}
        # counters carry count and rate = count / duration: recover the duration exactly
        for m in out.values():
            v = m["values"]
            if m["type"] == "counter" and v.get("rate") and v.get("count"):
                duration = v["count"] / v["rate"] * 1000.0
                break
    return out, duration


def _ingest_summary(store: Store, path: Path, run: str, kind: str, ing: Ingest,
                    replace: bool) -> None:
    obj = _load_json_file(path)
    try:
        metrics, duration = normalise_summary(obj, kind)
        text = json.dumps(metrics, allow_nan=False)
    except (AttributeError, TypeError, ValueError, KeyError) as e:
        raise WorkbenchError(f"{path}: a k6 summary of an unexpected shape ({type(e).__name__}: {e}); expected "
                             "k6's --summary-export or handleSummary() JSON; nothing was stored") from None
    existing = store.con.execute("SELECT s.ingest_id, i.sha256 FROM k6_summaries s JOIN ingests i USING "
                                 "(ingest_id) WHERE s.run = ?", [run]).fetchone()
    if existing is not None:
        if existing[1] == file_sha256(path) and not replace:
            raise _AlreadyIngested(existing[0])
        if not replace:
            raise WorkbenchError(f"{path}: run {run!r} already has another summary (ingest {existing[0]}); a run "
                                 "holds at most one summary: pass --replace to swap it, or use another --run")
        _delete_ingest(store, existing[0])
    store.con.execute("INSERT INTO k6_summaries VALUES (?, ?, ?, ?, ?)",
                      [run, ing.ingest_id, kind, duration, text])
    trend_stats = (obj.get("options") or {}).get("summaryTrendStats") if isinstance(obj, dict) else None
    if isinstance(trend_stats, list) and trend_stats and all(isinstance(t, str) for t in trend_stats):
        ing.details["summary_trend_stats"] = trend_stats     # what `k6 summary` shows by default
    for name, m in metrics.items():
        if "{" in name:
            continue
        subs = [s for s in metrics if s.startswith(name + "{")]
        # a summary knows the thresholds and submetrics even when the points came from CSV
        _upsert_metric(store, run, name, m["type"] or "trend", m["contains"], list(m["thresholds"]), subs,
                       "summary", keep_better=True)
    ing.rows = len(metrics)


# --------------------------------------------------------------------------------------------------
# Demo samples
# --------------------------------------------------------------------------------------------------
def load_samples(store: Store, sample_dir: Path) -> str:
    """Ingest data/samples/k6/ (SAMPLE_DIR): each `<run>.json.gz` with its `<run>.summary.json`, labels
    and tags from runs.json."""
    d = Path(sample_dir)
    if (d / "k6").is_dir():   # data/samples/ itself
        d = d / "k6"
    runs = []
    manifest = d / "runs.json"
    spec = json.loads(manifest.read_text()) if manifest.exists() else {}
    for points in sorted(d.glob("*.json.gz")):
        run = points.name[: -len(".json.gz")]
        files = [points] + sorted(d.glob(f"{run}.summary.json"))
        meta = spec.get(run, {})
        ingest_files(store, files, run, label=meta.get("label"), tags=meta.get("tags"))
        runs.append(run)
    return f"k6 runs: {', '.join(runs) or 'none'}"

