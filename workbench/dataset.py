"""The store as an open table layout: hive-partitioned, zstd-compressed Parquet that DuckDB, Spark and
Trino read (docs/scale.md is the contract: directories, columns, types, partition keys, units).

- `export_parquet(store, dest)` writes every store table, one *unit* at a time (a k6 ingest, a
  PostgreSQL or Redis snapshot, a Prometheus series set). File names derive from the unit's key, so a
  repeated or interrupted export rewrites the same files; a unit's manifest entry
  (`_manifest/<hash>.json`) is written last and makes the next export skip it (idempotent, incremental).
- `attach(store, dest)` turns a store without rows of its own into views over a dataset, so every
  command and notebook reads it unchanged.

DEST is a directory or an `s3://bucket/prefix` URL. DuckDB writes the files (into DEST, or into a local
staging directory that is then uploaded with pyarrow's S3 filesystem; credentials come from the usual
AWS environment or profile chain and are never stored or logged).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from workbench import __version__
from workbench.errors import WorkbenchError
from workbench.schema import SERVER_KEY_SQL
from workbench.store import Store, quote_ident, utcnow

MANIFEST_DIR = "_manifest"
FAMILIES = ("k6", "postgres", "redis", "prometheus")
# Partition keys by table (every other table is one file per unit, unpartitioned)
PARTITIONS: dict[str, tuple[str, ...]] = {"k6_samples": ("run", "metric"), "prom_points": ("name", "date")}
SNAPSHOT_PARENTS = {"pg_": "pg_snapshots", "redis_": "redis_snapshots"}
NOT_EXPORTED = {"schema_migrations", "dataset_attachments", "store_meta"}   # about this store, not data
# Views a store keeps over tables of its own: the Parquet layout holds the view's rows (k6_samples: the
# points with typed tag columns), the store's tables behind it are how one machine stores them fast.
OWN_VIEWS: dict[str, tuple[str, ...]] = {"k6_samples": ("k6_sample_rows", "k6_samples_v1")}
# ... and the tables behind them, with the dictionary they join: not in the layout
STORE_ONLY = {t for tables in OWN_VIEWS.values() for t in tables} | {"k6_tagsets"}


# -- destinations -----------------------------------------------------------------------------------
@dataclass
class Dest:
    """A dataset's location: a local directory or s3://bucket/prefix."""

    url: str

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def fs(self) -> tuple[Any, str]:
        """(pyarrow filesystem, root path inside it)."""
        import pyarrow.fs as pafs

        if not self.is_s3:
            return pafs.LocalFileSystem(), str(Path(self.url).resolve())
        bucket_prefix = self.url[len("s3://"):].rstrip("/")
        kwargs: dict[str, Any] = {}
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:   # an S3-compatible server (MinIO, moto, Ceph...)
            scheme, _, host = endpoint.partition("://")
            kwargs.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        # credentials: the AWS SDK's default chain (environment, shared profile, instance role)
        return pafs.S3FileSystem(**kwargs), bucket_prefix

    def read_text(self, rel: str) -> str | None:
        fs, root = self.fs()
        try:
            with fs.open_input_stream(f"{root}/{rel}") as f:
                return f.read().decode()
        except (FileNotFoundError, OSError):
            return None

    def write_text(self, rel: str, text: str) -> None:
        fs, root = self.fs()
        path = f"{root}/{rel}"
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as f:
            f.write(text.encode())

    def list_files(self, rel: str = "") -> list[str]:
        """Paths (relative to the root) of every file under REL."""
        import pyarrow.fs as pafs

        fs, root = self.fs()
        base = f"{root}/{rel}".rstrip("/")
        try:
            infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except OSError as e:
            raise WorkbenchError(f"cannot list {self.url}: {str(e).splitlines()[0]}") from e
        return sorted(i.path[len(root) + 1:] for i in infos if i.type == pafs.FileType.File)

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A local directory that DuckDB writes into; for S3 it is uploaded (and removed) at the end."""
        if not self.is_s3:
            root = Path(self.url)
            root.mkdir(parents=True, exist_ok=True)
            yield root
            return
        tmp = Path(tempfile.mkdtemp(prefix="workbench-export-"))
        try:
            yield tmp
            import pyarrow.fs as pafs

            fs, root = self.fs()
            try:
                pafs.copy_files(str(tmp), root, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
            except OSError as e:
                raise WorkbenchError(f"cannot write to {self.url}: {str(e).splitlines()[0]} (check the bucket "
                                     "exists and AWS credentials / AWS_ENDPOINT_URL are set)") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _q(text: str) -> str:
    """A SQL string literal (paths only: DuckDB's COPY targets cannot be bound parameters)."""
    return "'" + text.replace("'", "''") + "'"


def unit_key(run: str, blake3: str | None, sha256: str | None = None) -> str:
    """A k6 file's unit key: its run and BLAKE3, else (fingerprinted before BLAKE3) its sha256 or ingest id."""
    return f"k6:{run}:blake3:{blake3}" if blake3 else f"k6:{run}:{sha256}"


def unit_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# -- units ------------------------------------------------------------------------------------------
@dataclass
class Unit:
    """One exportable piece of the store: its key, family and the WHERE clauses selecting its rows."""

    family: str
    key: str
    label: str
    at: dt.datetime | None
    ingest_ids: list[int]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        return unit_hash(self.key)


@dataclass
class ExportResult:
    dest: str
    units_written: int = 0
    units_skipped: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"dest": self.dest, "units_written": self.units_written, "units_skipped": self.units_skipped,
                "rows": self.rows, "files": self.files, "bytes": self.bytes, "warnings": self.warnings}


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """The store's tables as the Parquet layout has them (OWN_VIEWS in, STORE_ONLY out) -> (column, type)."""
    rows = con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = 'main' AND (table_name IN (SELECT table_name FROM "
                       "information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema = 'main') "
                       "OR table_name IN (SELECT unnest(?::VARCHAR[]))) ORDER BY table_name, ordinal_position",
                       [list(OWN_VIEWS)]).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for t, c, ty in rows:
        if t not in STORE_ONLY:
            out.setdefault(t, []).append((c, ty))
    return out


def _units(con: duckdb.DuckDBPyConnection, families: set[str], runs: list[str] | None,
           since: dt.datetime | None) -> list[Unit]:
    out: list[Unit] = []
    if "k6" in families:
        rows = con.execute(
            "SELECT i.ingest_id, i.run, i.blake3, i.sha256, coalesce(s.started_at, i.started_at) FROM ingests i "
            "LEFT JOIN (SELECT ingest_id, min(ts) AS started_at FROM k6_samples GROUP BY ingest_id) s "
            "USING (ingest_id) WHERE i.kind LIKE 'k6-%' AND i.finished_at IS NOT NULL ORDER BY i.ingest_id"
        ).fetchall()
        for iid, run, b3, sha, at in rows:
            if runs is not None and run not in runs:
                continue
            out.append(Unit("k6", unit_key(run, b3, sha or str(iid)), f"k6 run {run} ingest {iid}", at, [iid],
                            {"run": run}))
    # a unit's identity is the manifest's key: its text stays as first written, or a dataset exported
    # before would take its snapshots again
    for family, parent, ident in (("postgres", "pg_snapshots", "coalesce(system_identifier, '') || ':' || host || "
                                   "':' || port || '/' || dbname"),
                                  ("redis", "redis_snapshots", "address || ':' || coalesce(run_id, '')")):
        if family in families:
            for sid, iid, who, at in con.execute(f"SELECT snapshot_id, ingest_id, {ident}, taken_at FROM {parent} "
                                                 "ORDER BY snapshot_id").fetchall():
                out.append(Unit(family, f"{family}:{who}:{at.isoformat()}", f"{family} snapshot {sid}", at, [iid],
                                {"snapshot_id": sid}))
    if "prometheus" in families:
        for iid, name, at, sha in con.execute(
                "SELECT p.ingest_id, p.name, p.created_at, i.sha256 FROM prom_series_sets p "
                "JOIN ingests i USING (ingest_id) ORDER BY p.ingest_id").fetchall():
            out.append(Unit("prometheus", f"prometheus:{name}:{sha or at.isoformat()}", f"prometheus set {name}", at,
                            [iid], {"ingest_id": iid}))
    if since is not None:
        out = [u for u in out if u.at is not None and u.at >= since]
    return out


def _select(table: str, cols: list[tuple[str, str]], unit: Unit) -> tuple[str, list[Any]] | None:
    """SELECT of TABLE's rows belonging to UNIT (portable types), or None when the table is not the unit's."""
    exprs = []
    for c, ty in cols:
        t = ty.upper()
        if t == "JSON":
            exprs.append(f'CAST("{c}" AS VARCHAR) AS "{c}"')
        elif t == "HUGEINT":
            exprs.append(f'CAST("{c}" AS BIGINT) AS "{c}"')
        else:
            exprs.append(f'"{c}"')
    names = {c for c, _ in cols}
    body = ", ".join(exprs)
    if table == "ingests":
        return f"SELECT {body} FROM ingests WHERE ingest_id IN (SELECT unnest(?::BIGINT[]))", [unit.ingest_ids]
    f = unit.family
    if f == "k6" and table.startswith("k6_"):
        if "ingest_id" in names:
            return f"SELECT {body} FROM {table} WHERE ingest_id = ?", [unit.ingest_ids[0]]
        return None   # run-level tables (k6_runs, k6_metrics) are written per run
    for prefix, parent in SNAPSHOT_PARENTS.items():
        if f == ("postgres" if prefix == "pg_" else "redis") and table.startswith(prefix):
            sid = unit.params["snapshot_id"]
            if table == parent:
                return f"SELECT {body} FROM {table} WHERE snapshot_id = ?", [sid]
            if "snapshot_id" in names:
                return (f"SELECT {body}, strftime(p.taken_at, '%Y-%m-%d') AS date FROM {table} JOIN "
                        f"(SELECT snapshot_id, taken_at FROM {parent}) p USING (snapshot_id) WHERE snapshot_id = ?",
                        [sid])
            if "first_snapshot_id" in names:
                return f"SELECT {body} FROM {table} WHERE first_snapshot_id = ?", [sid]
            return None
    if f == "prometheus" and table.startswith("prom_"):
        iid = unit.params["ingest_id"]
        if table == "prom_points":
            return (f"SELECT {', '.join('p.' + e for e in exprs)}, s.name, strftime(p.ts, '%Y-%m-%d') AS date "
                    "FROM prom_points p JOIN prom_series s USING (series_id) WHERE s.ingest_id = ?", [iid])
        if "ingest_id" in names:
            return f"SELECT {body} FROM {table} WHERE ingest_id = ?", [iid]
    return None


def _copy(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], root: Path, table: str, stem: str,
          partitions: tuple[str, ...]) -> int:
    """COPY one SELECT to ROOT/TABLE as zstd Parquet (hive-partitioned when PARTITIONS); rows written."""
    target = root / table
    if partitions:   # one pass: an empty result writes no file
        target.mkdir(parents=True, exist_ok=True)
        return con.execute(f"COPY ({sql}) TO {_q(str(target))} (FORMAT parquet, COMPRESSION zstd, "
                           f"PARTITION_BY ({', '.join(partitions)}), FILENAME_PATTERN {_q(stem + '_{i}')}, "
                           "OVERWRITE_OR_IGNORE true)", params).fetchone()[0]
    n = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]   # small tables: no empty files
    if not n:
        return 0
    target.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({sql}) TO {_q(str(target / (stem + '.parquet')))} (FORMAT parquet, COMPRESSION zstd)",
                params)
    return n


def _partitions(table: str, cols: list[tuple[str, str]]) -> tuple[str, ...]:
    if table in PARTITIONS:
        return PARTITIONS[table]
    if any(table.startswith(p) for p in SNAPSHOT_PARENTS) and table not in SNAPSHOT_PARENTS.values() and \
            any(c == "snapshot_id" for c, _ in cols):
        return ("date",)
    return ()


def manifest(dest: str | Dest) -> dict[str, dict]:
    """The dataset's manifest: unit hash -> entry (key, family, tables, rows, written_at)."""
    d = dest if isinstance(dest, Dest) else Dest(str(dest))
    out = {}
    for rel in d.list_files(MANIFEST_DIR):
        text = d.read_text(rel)
        if text:
            entry = json.loads(text)
            out[entry["hash"]] = entry
    return out


def export_parquet(store: Store, dest: str, families: list[str] | None = None, runs: list[str] | None = None,
                   since: dt.datetime | None = None) -> ExportResult:
    """Write the store's units that DEST's manifest does not hold yet (see the module docstring)."""
    fams = set(families or (["k6"] if runs else FAMILIES))
    unknown = fams - set(FAMILIES)
    if unknown:
        raise WorkbenchError(f"--tables {', '.join(sorted(unknown))}: choose from {', '.join(FAMILIES)}")
    d = Dest(dest)
    con = store.con
    if con.execute("SELECT count(*) FROM dataset_attachments").fetchone()[0]:
        raise WorkbenchError(f"store {store.path} reads an attached dataset; export from the store that holds the "
                             "rows (or copy the dataset's files)")
    tables = _tables(con)
    result = ExportResult(dest)
    known = {t for t in tables if t in NOT_EXPORTED or t.startswith(("k6_", "pg_", "redis_", "prom_"))
             or t == "ingests"}
    for t in sorted(set(tables) - known):
        result.warnings.append(f"table {t} has no place in the Parquet layout yet: not exported")
    done = manifest(d)
    units = _units(con, fams, runs, since)
    todo = [u for u in units if u.hash not in done]
    result.units_skipped = len(units) - len(todo)
    if runs:
        missing = sorted(set(runs) - {r[0] for r in con.execute("SELECT run FROM k6_runs").fetchall()})
        if missing:
            raise WorkbenchError(f"no run {', '.join(map(repr, missing))} in store {store.path}")
    entries = []
    with d.staging() as root:
        for unit in todo:
            written: dict[str, int] = {}
            for table, cols in tables.items():
                if table not in known or table in NOT_EXPORTED:
                    continue
                sel = _select(table, cols, unit)
                if sel is None:
                    continue
                n = _copy(con, sel[0], sel[1], root, table, "u" + unit.hash, _partitions(table, cols))
                if n:
                    written[table] = n
                    result.rows[table] = result.rows.get(table, 0) + n
            entries.append({"hash": unit.hash, "key": unit.key, "family": unit.family, "label": unit.label,
                            "rows": written, "written_at": utcnow().isoformat(), "workbench_version": __version__})
        for run in sorted({u.params["run"] for u in todo if u.family == "k6"}):
            _write_run_tables(con, tables, root, run, result)
        if d.is_s3:
            files = list(root.rglob("*.parquet"))
            result.files, result.bytes = len(files), sum(p.stat().st_size for p in files)
    # manifest entries last: a unit counts as exported only once its files are in place
    for e in entries:
        d.write_text(f"{MANIFEST_DIR}/{e['hash']}.json", json.dumps(e, indent=1))
    result.units_written = len(entries)
    if not d.is_s3:
        files = list(Path(dest).rglob("*.parquet"))
        result.files, result.bytes = len(files), sum(p.stat().st_size for p in files)
    return result


def _write_run_tables(con: duckdb.DuckDBPyConnection, tables: dict, root: Path, run: str,
                      result: ExportResult) -> None:
    """k6_runs and k6_metrics rows of RUN, one file per run (rewritten: they merge as instances arrive)."""
    for table in ("k6_runs", "k6_metrics"):
        cols = tables[table]
        sel = f"SELECT {', '.join(chr(34) + c + chr(34) for c, _ in cols)} FROM {table} WHERE run = ?"
        n = _copy(con, sel, [run], root, table, "r" + unit_hash("run:" + run), ())
        result.rows[table] = result.rows.get(table, 0) + n


# -- attach -----------------------------------------------------------------------------------------
# Tables read through a de-duplicating view: several writers (instances streamed side by side, re-exports)
# may each hold a run's row.
# columns the store gained after a dataset may have been written, derived from the dataset's own columns
DERIVED = {("pg_snapshots", "server_key"): SERVER_KEY_SQL}
_DEDUP = {
    "k6_runs": "SELECT run, any_value(label) AS label, any_value(tags) AS tags, min(created_at) AS created_at "
               "FROM {src} GROUP BY run",
    "k6_metrics": "SELECT run, metric, arg_max(type, rank) AS type, arg_max(contains, rank) AS contains, "
                  "list_sort(list_distinct(flatten(list(coalesce(thresholds, []))))) AS thresholds, "
                  "list_sort(list_distinct(flatten(list(coalesce(submetrics, []))))) AS submetrics, "
                  "arg_max(type_source, rank) AS type_source FROM (SELECT *, CASE type_source WHEN 'json' THEN 3 "
                  "WHEN 'summary' THEN 2 WHEN 'builtin' THEN 1 ELSE 0 END AS rank FROM {src}) GROUP BY run, metric",
}


def parquet_source(dest: str, table: str, keys: list[str] | tuple[str, ...] = ()) -> str:
    """The DuckDB table function reading TABLE of the dataset at DEST (partition KEYS read as text)."""
    opts = "hive_partitioning = true, union_by_name = true"
    if keys:
        opts += ", hive_types = {" + ", ".join(f"'{k}': VARCHAR" for k in keys) + "}"
    return f"read_parquet({_q(dest.rstrip('/') + '/' + table + '/**/*.parquet')}, {opts})"


def dataset_tables(dest: str) -> dict[str, list[str]]:
    """Tables present in the dataset at DEST (directories holding Parquet files) -> their partition keys."""
    out: dict[str, list[str]] = {}
    for p in Dest(dest).list_files():
        if p.endswith(".parquet") and not p.startswith((".", "_")):
            parts = p.split("/")
            out.setdefault(parts[0], [seg.split("=", 1)[0] for seg in parts[1:-1] if "=" in seg])
    return dict(sorted(out.items()))


def attach_views(con: duckdb.DuckDBPyConnection, dest: str, tables: dict[str, list[str]] | None = None) -> list[str]:
    """Replace each of the store's tables that DEST holds with a view over DEST's files (same columns, same
    types). Other views (k6_points, redis_snapshot_stats...) read through them unchanged."""
    dest = dest if dest.startswith("s3://") else str(Path(dest).resolve())
    if dest.startswith("s3://"):
        raise WorkbenchError(f"{dest}: attaching s3:// needs DuckDB's httpfs extension, which is not installed "
                             "here; sync the dataset to a directory (aws s3 sync) and attach that")
    present = tables if tables is not None else dataset_tables(dest)
    base = _tables(con)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    done = []
    for table, keys in present.items():
        if table in base:
            cols = base[table]
        elif table in views:   # attached before: the view knows the columns
            cols = [(r[0], r[1]) for r in con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position", [table]).fetchall()]
        else:
            continue
        if table in base:
            n = sum(con.execute(f'SELECT count(*) FROM "{own}"').fetchone()[0] for own in OWN_VIEWS.get(table, [table]))
            if n:
                raise WorkbenchError(f"store table {table} holds {n} rows of its own: attach into a new store "
                                     "(workbench --db fleet.duckdb attach DEST)")
        src = parquet_source(dest, table, keys)   # partition values stay text (a run named 2024 too)
        if table in _DEDUP:
            src = f"({_DEDUP[table].format(src=src)})"
        have = {d[0] for d in con.execute(f"SELECT * FROM {src} LIMIT 0").description}
        # a column added to the store after the dataset was written reads as NULL (ingests.origin) or as
        # the migration derived it (pg_snapshots.server_key)
        exprs = ", ".join(f'CAST({quote_ident(c) if c in have else DERIVED.get((table, c), "NULL")} AS {ty}) '
                          f'AS {quote_ident(c)}' for c, ty in cols)
        if table in base and table not in OWN_VIEWS:
            con.execute(f'DROP TABLE "{table}"')
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT {exprs} FROM {src}')
        done.append(table)
    return done


def attach(store: Store, dest: str) -> list[str]:
    """`workbench attach DEST`: views over the dataset in this store, recorded in dataset_attachments."""
    d = Dest(dest)
    if not d.is_s3 and not Path(dest).is_dir():
        raise WorkbenchError(f"{dest}: no such directory (export or stream a dataset there first)")
    present = dataset_tables(dest)
    if not present:
        raise WorkbenchError(f"{dest}: no Parquet tables found (expected e.g. {dest}/k6_samples/run=.../*.parquet)")
    con = store.con
    prior = con.execute("SELECT dest FROM dataset_attachments").fetchall()
    resolved = str(Path(dest).resolve())
    if prior and prior[0][0] != resolved:
        raise WorkbenchError(f"store {store.path} already reads {prior[0][0]}; use a new store for {dest}")
    con.execute("BEGIN TRANSACTION")
    try:
        done = attach_views(con, dest, present)
        con.execute("DELETE FROM dataset_attachments")
        con.execute("INSERT INTO dataset_attachments VALUES (?, ?, ?)", [resolved, done, utcnow()])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return done


def open_dataset(dest: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose store tables and views read the dataset at DEST (for
    `--parquet DEST` without a store)."""
    from workbench.store import migrations

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for _, _, sql in migrations():
        con.execute(sql)
    attach_views(con, dest)
    return con


def attached_dest(con: duckdb.DuckDBPyConnection) -> str | None:
    """The dataset this store reads, if any."""
    try:
        row = con.execute("SELECT dest FROM dataset_attachments LIMIT 1").fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None
