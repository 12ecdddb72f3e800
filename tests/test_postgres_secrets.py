"""A password planted in the DSN (and in statements the server has seen) reaches no string in the store,
no DuckDB WAL, no CLI output and no executed notebook / HTML."""

from __future__ import annotations

import secrets
from pathlib import Path

import nbformat
import papermill
import psycopg
import pytest
from nbconvert import HTMLExporter

from workbench.cli import main as cli_main
from workbench.sources.postgres import take_snapshot, write_snapshot
from workbench.store import Store

pytestmark = pytest.mark.service
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "20_database.ipynb"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        cli_main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out + err


def strings_containing(store_path: Path, needle: str) -> list[str]:
    """Every column of every table, cast to VARCHAR and searched through SQL (storage is compressed)."""
    hits = []
    with Store.open(store_path, read_only=True) as store:
        cols = store.con.execute(
            "SELECT table_name, column_name FROM information_schema.columns c JOIN information_schema.tables t"
            " USING (table_schema, table_name) WHERE t.table_type = 'BASE TABLE'").fetchall()
        assert len(cols) > 100
        for table, col in cols:
            n = store.con.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{col}" AS VARCHAR) LIKE ?',
                                  [f"%{needle}%"]).fetchone()[0]
            if n:
                hits.append(f"{table}.{col}")
    return hits


def test_planted_password_goes_nowhere(pg_server, tmp_path, capsys):
    planted = "Planted-" + secrets.token_hex(8)
    role = "wb_secret"
    pg_server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{planted}'", dbname="postgres")
    pg_server.sql(f"GRANT pg_monitor TO {role}", dbname="postgres")
    # an idle superuser session whose last statement carries the password (visible in pg_stat_activity)
    idle = psycopg.connect(**pg_server.superuser_kwargs(pg_server.dbname), autocommit=True)
    try:
        idle.execute(f"ALTER ROLE {role} PASSWORD '{planted}'")
        dsn = pg_server.dsn_for(pg_server.dbname, password=planted).replace(pg_server.user + ":", role + ":", 1)
        assert planted in dsn
        db = tmp_path / "secret.duckdb"
        logs = []
        code, text = run_cli(capsys, "--db", str(db), "collect", "postgres", "--dsn", dsn, "--label", "s1")
        assert code == 0, text
        logs.append(text)
        pg_server.pgbench("-t", "5", "-c", "1")
        code, text = run_cli(capsys, "--db", str(db), "--debug", "collect", "postgres", "--dsn", dsn,
                             "--every", "0.1s", "--count", "2")
        assert code == 0, text
        logs.append(text)
        # failures echo no password either (wrong password, refused port)
        bad = dsn.replace(planted, planted + "x")
        code, text = run_cli(capsys, "--db", str(db), "collect", "postgres", "--dsn", bad)
        assert code == 2
        logs.append(text)
        code, text = run_cli(capsys, "--db", str(db), "pg", "top", "--format", "json")
        assert code == 0 and '"statements"' in text
        logs.append(text)
        code, text = run_cli(capsys, "--db", str(db), "pg", "top")
        logs.append(text)
        # the password really was there to find: in pg_stat_statements and pg_stat_activity
        seen = pg_server.sql("SELECT count(*) FROM pg_stat_statements WHERE query LIKE %s", (f"%{planted}%",))
        assert seen[0][0] >= 1
        # a snapshot written into a store kept open: its DuckDB WAL is on disk, uncheckpointed
        snap = take_snapshot(dsn)
        assert any("ALTER ROLE" in (a["query"] or "") for a in snap.tables["pg_activity"])
        store = Store.open(db)
        try:
            write_snapshot(store, snap, source=dsn)
            wal = Path(str(db) + ".wal")
            assert wal.exists() and wal.stat().st_size > 0
            assert planted.encode() not in wal.read_bytes()
        finally:
            store.close()
    finally:
        idle.close()
        pg_server.sql(f"DROP ROLE {role}", dbname="postgres")

    assert strings_containing(db, planted) == []
    assert strings_containing(db, "PASSWORD '***'")  # the masked statements are there, masked
    for text in logs:
        assert planted not in text
    # the database notebook executed against that store, and its HTML export
    out_nb = tmp_path / "20_database.out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out_nb), parameters={"db": str(db)},
                               progress_bar=False, cwd=str(tmp_path))
    executed = out_nb.read_text()
    assert "database finding" in executed and "Traceback" not in executed  # it read the store
    html, _ = HTMLExporter().from_notebook_node(nbformat.reads(executed, as_version=4))
    assert planted not in executed and planted not in html
    assert pg_server.password not in executed + html + "".join(logs)
