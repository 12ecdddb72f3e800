"""`workbench ingest k6 FILE... --run RUN --to-parquet DEST`: k6 outputs straight into the Parquet layout.

For points files too large for a store: DuckDB streams each NDJSON file (plain or .gz) through the same
SELECT as the store's ingest into `DEST/k6_samples/run=RUN/metric=M/`, with a bounded buffer pool, so
memory stays flat whatever the file's size. Each file is one unit named after its bytes' BLAKE3: files of
several k6 instances land side by side (concurrent processes too), and a file already in DEST's manifest
is skipped. Summary files are small: they go through an in-memory store and `export_parquet`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from workbench import __version__
from workbench.dataset import MANIFEST_DIR, Dest, export_parquet, manifest, unit_hash, unit_key
from workbench.errors import WorkbenchError
from workbench.redact import redact_url
from workbench.sources import k6, k6_pass
from workbench.store import Store, file_sha256, quote_literal, utcnow, writer_memory

STREAM_MEMORY_ENV = "WORKBENCH_STREAM_MEMORY"   # the streaming connection's buffer pool (default 384MB)


def _connect(tmp: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = {quote_literal(writer_memory(STREAM_MEMORY_ENV, '384MB'))}")
    con.execute("SET preserve_insertion_order = false")
    # partitioned writes buffer rows per open partition outside the buffer pool: flush them early
    con.execute("SET partitioned_write_flush_threshold = 65536")
    con.execute(f"SET temp_directory = {k6._sql_str(tmp)}")
    return con


def stream_files(paths: list[str | os.PathLike], run: str, dest: str, *, label: str | None = None,
                 tags: dict[str, str] | None = None, skip_bad_lines: bool = False) -> list[k6.FileResult]:
    """Write each k6 file's rows for RUN into the dataset at DEST; returns one FileResult per file."""
    d = Dest(dest)
    done = manifest(d)
    results = []
    summaries = []
    for path in map(Path, paths):
        kind = k6.sniff(path)
        if kind in ("summary-export", "handle-summary"):
            summaries.append(path)
            continue
        if kind != "json":
            raise WorkbenchError(f"{path}: --to-parquet streams k6 JSON output (--out json); for CSV use "
                                 "`workbench ingest k6` into a store, then `workbench export parquet`")
        results.append(_stream_json(path, run, d, done, label, tags or {}, skip_bad_lines))
    if summaries:
        results.extend(_summaries(summaries, run, dest, label, tags or {}))
    return results


def _stream_json(path: Path, run: str, d: Dest, done: dict, label: str | None, tags: dict[str, str],
                 skip_bad_lines: bool) -> k6.FileResult:
    result = k6.FileResult(str(path), "json")
    started = utcnow()
    hasher = k6_pass.take(path)   # one pass: BLAKE3 + the `Metric` lines
    legacy = any(e.get("key", "").startswith(f"k6:{run}:") and ":blake3:" not in e["key"] for e in done.values())
    digests = {"blake3": hasher.result(), "sha256": file_sha256(path) if legacy else None}   # files from before
    key = unit_key(run, digests["blake3"])
    h = unit_hash(key)
    if h in done or (digests["sha256"] and unit_hash(unit_key(run, None, digests["sha256"])) in done):
        result.skipped = True
        result.warnings.append(f"{path}: already in {d.url} for run {run!r}; nothing to do")
        return result
    ingest_id = int(digests["blake3"][:15], 16)   # stable across writers; a store's own ingest ids are small
    with d.staging() as root:
        tmp = Path(tempfile.mkdtemp(prefix="workbench-spill-"))   # DuckDB's spill files, this process only
        con = _connect(tmp)
        cleaned = None
        try:
            src = path
            while True:
                target = root / "k6_samples"
                target.mkdir(parents=True, exist_ok=True)
                try:
                    con.execute(
                        f"COPY ({k6.json_points_select(k6._sql_str(src), 'VARCHAR')}) TO {k6._sql_str(target)} "
                        f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (run, metric), "
                        f"FILENAME_PATTERN 'u{h}_{{i}}', OVERWRITE_OR_IGNORE true)", [run, ingest_id])
                    break
                except k6._REJECTIONS:
                    if cleaned is not None:
                        raise WorkbenchError(f"{path}: DuckDB rejected the file even after removing bad lines") from None
                    cleaned = k6._clean_copy(path, "json", skip_bad_lines)
                    result.warnings.extend(cleaned.warnings)
                    src = cleaned.path
            rows = con.execute(f"SELECT count(*) FROM read_parquet({k6._sql_str(target)} || '/*/*/u{h}_*.parquet')"
                               ).fetchone()[0]
            defs = hasher.metric_lines if cleaned is None else None
            if defs is None:
                defs = [{"name": n, "type": t, "contains": c, "thresholds": th,
                         "submetrics": json.loads(sub or "null")}
                        for n, t, c, th, sub in con.execute(
                            f"SELECT DISTINCT data.name, data.type, data.contains, data.thresholds, "
                            f"CAST(data.submetrics AS VARCHAR) FROM read_json({k6._sql_str(src)}, "
                            f"format = 'newline_delimited', compression = 'auto', columns = {k6._METRIC_SCHEMA}) "
                            "WHERE type = 'Metric'").fetchall()]
            _small_tables(con, root, h, run, label, tags, defs, path, digests, ingest_id, rows, started)
        finally:
            con.close()
            if cleaned is not None:
                cleaned.path.unlink(missing_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
    entry = {"hash": h, "key": key, "family": "k6", "label": f"k6 run {run} file {path.name} (streamed)",
             "rows": {"k6_samples": rows}, "written_at": utcnow().isoformat(), "workbench_version": __version__}
    d.write_text(f"{MANIFEST_DIR}/{h}.json", json.dumps(entry, indent=1))
    result.rows = rows
    if rows == 0:
        result.warnings.append(f"{path}: no data points")
    return result


def _small_tables(con: duckdb.DuckDBPyConnection, root: Path, h: str, run: str, label: str | None,
                  tags: dict[str, str], defs: list[dict], path: Path, digests: dict[str, str | None],
                  ingest_id: int, rows: int,
                  started) -> None:
    """k6_runs, k6_metrics and ingests rows of one streamed file (attach de-duplicates runs and metrics)."""
    con.execute("CREATE TEMP TABLE runs AS SELECT ?::VARCHAR AS run, ?::VARCHAR AS label, "
                "MAP(?::VARCHAR[], ?::VARCHAR[]) AS tags, ?::TIMESTAMPTZ AS created_at",
                [run, label, list(tags), list(tags.values()), started])
    seen, mrows = set(), []
    for m in defs:
        if not m.get("name") or not m.get("type") or m["name"] in seen:
            continue
        seen.add(m["name"])
        subs = [s["name"] for s in m.get("submetrics") or [] if isinstance(s, dict) and "name" in s]
        mrows.append((run, m["name"], m["type"], m.get("contains"), list(m.get("thresholds") or []), subs, "json"))
    con.execute("CREATE TEMP TABLE metrics (run VARCHAR, metric VARCHAR, type VARCHAR, contains VARCHAR, "
                "thresholds VARCHAR[], submetrics VARCHAR[], type_source VARCHAR)")
    if mrows:
        con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?)", mrows)
    con.execute("CREATE TEMP TABLE ing AS SELECT ?::BIGINT AS ingest_id, 'k6-json' AS kind, ?::VARCHAR AS source, "
                "?::VARCHAR AS sha256, ?::VARCHAR AS blake3, ?::VARCHAR AS run, ?::VARCHAR AS label, "
                "?::BIGINT AS rows, ?::TIMESTAMPTZ AS started_at, ?::TIMESTAMPTZ AS finished_at, "
                "?::VARCHAR AS workbench_version, ?::VARCHAR AS details",
                [ingest_id, redact_url(str(path)), digests["sha256"], digests["blake3"], run, label, rows, started,
                 utcnow(), __version__,
                 json.dumps({"format": "json", "streamed": True})])
    for table, tmp in (("k6_runs", "runs"), ("k6_metrics", "metrics"), ("ingests", "ing")):
        (root / table).mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY {tmp} TO {k6._sql_str(root / table / f'u{h}.parquet')} (FORMAT parquet, COMPRESSION zstd)")


def _summaries(paths: list[Path], run: str, dest: str, label: str | None,
               tags: dict[str, str]) -> list[k6.FileResult]:
    """Summary files through an in-memory store, then exported like a store's run."""
    store = Store(duckdb.connect(), Path(":memory:"), read_only=False)
    try:
        store.con.execute("SET TimeZone = 'UTC'")
        store.migrate()
        results = k6.ingest_files(store, paths, run, label=label, tags=tags)
        export_parquet(store, dest, ["k6"], [run])
    finally:
        store.close()
    return results

