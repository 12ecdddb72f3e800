"""`workbench export parquet` and `workbench attach`: the bundled samples go out as partitioned Parquet and
come back through views with the same numbers; exports are idempotent and incremental."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from fixtures.parquet import assert_same

from workbench.analysis import compare as cmp
from workbench.analysis.k6_summary import k6_summary
from workbench.cli import main as wb_main
from workbench.cli.groups import main as cli
from workbench.dataset import MANIFEST_DIR, NOT_EXPORTED, _tables, export_parquet
from workbench.errors import WorkbenchError
from workbench.store import Store


def _json(db: Path, *args: str) -> dict:
    res = CliRunner().invoke(cli, ["--db", str(db), *args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_layout_is_partitioned_and_complete(samples_store, samples_dataset):
    files = sorted(str(p.relative_to(samples_dataset)) for p in samples_dataset.rglob("*.parquet"))
    assert any(f.startswith("k6_samples/run=before/metric=http_req_duration/") for f in files)
    assert any(f.startswith("prom_points/name=cpu/date=") for f in files)
    assert any(f.startswith("pg_statements/date=") for f in files)
    # every store table has a place in the layout (a new table must be added to it, see docs/scale.md)
    with Store.open(samples_store, read_only=True) as store:
        tables = set(_tables(store.con)) - NOT_EXPORTED
        counts = {t: store.con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    exported = {f.split("/")[0] for f in files}
    assert {t for t, n in counts.items() if n} <= exported
    # zstd, and the partition keys are directories, not columns in the files
    meta = duckdb.sql(f"SELECT DISTINCT compression FROM parquet_metadata('{samples_dataset}/k6_samples/**/*.parquet')")
    assert {r[0].upper() for r in meta.fetchall()} == {"ZSTD"}
    k6_file = next(f for f in files if f.startswith("k6_samples/"))
    cols = {r[0] for r in duckdb.sql(f"SELECT name FROM parquet_schema('{samples_dataset / k6_file}')").fetchall()}
    assert {"ts", "value", "status", "tags"} <= cols and not {"run", "metric"} & cols


def test_attach_gives_the_same_numbers(samples_store, samples_dataset, tmp_path):
    fleet = tmp_path / "fleet.duckdb"
    res = CliRunner().invoke(cli, ["--db", str(fleet), "attach", str(samples_dataset)])
    assert res.exit_code == 0, res.output
    for args in (["k6", "summary", "--run", "before"], ["k6", "summary", "--run", "after"], ["pg", "top"],
                 ["redis", "stats"], ["ls", "runs"]):
        assert_same(_json(fleet, *args), _json(samples_store, *args))
    with Store.open(fleet, read_only=True) as a, Store.open(samples_store, read_only=True) as b:
        assert_same(cmp.compare_runs(a.con, "before", "after"), cmp.compare_runs(b.con, "before", "after"))


def test_export_is_idempotent_and_incremental(samples_store, tmp_path):
    db = tmp_path / "s.duckdb"
    shutil.copy(samples_store, db)
    dest = tmp_path / "ds"
    with Store.open(db) as store:
        first = export_parquet(store, str(dest), runs=["before"])
        # run `before` is two ingests (its points file and its summary): two units
        assert first.units_written == 2 and first.rows["k6_samples"] > 200_000 and first.rows["k6_summaries"] == 1
        before_files = {p: p.stat().st_mtime_ns for p in dest.rglob("*.parquet")}
        again = export_parquet(store, str(dest), runs=["before"])
        assert again.units_written == 0 and again.units_skipped == 2
        assert {p: p.stat().st_mtime_ns for p in dest.rglob("*.parquet")} == before_files
        more = export_parquet(store, str(dest))   # the rest: run after, snapshots, series sets
        assert more.units_skipped == 2 and more.units_written > 10
        # run before's points were not written again
        assert all(p.stat().st_mtime_ns == t for p, t in before_files.items() if "run=before" in str(p))
    manifest = [json.loads(p.read_text()) for p in (dest / MANIFEST_DIR).glob("*.json")]
    assert len(manifest) == 2 + more.units_written
    assert {m["family"] for m in manifest} == {"k6", "postgres", "redis", "prometheus"}


def test_attach_refuses_a_store_with_rows(samples_store, samples_dataset):
    with Store.open(samples_store) as store, pytest.raises(WorkbenchError, match="holds .* rows of its own"):
        from workbench.dataset import attach

        attach(store, str(samples_dataset))


def test_export_errors_are_one_line(samples_store, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        wb_main(["--db", str(samples_store), "export", "parquet", str(tmp_path / "x"), "--run", "nope"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "no run 'nope'" in err
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").rglob("*.parquet"))
    with Store.open(samples_store, read_only=True) as store:
        assert k6_summary(store.con, "before")["metrics"]
