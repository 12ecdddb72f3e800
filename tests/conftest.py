"""Test configuration. Real services are started by the fixture modules in tests/fixtures/ (one each),
on loopback ports of their own, in temporary directories, and stopped at the end of the session.
A service test never skips: a missing server binary is a failure (run `make services`).

With `--nbval-lax`, the notebooks run against data/demo.duckdb, rebuilt here from data/samples/
first."""

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "fixtures.k6",
    "fixtures.postgres",
    "fixtures.redis",
    "fixtures.prometheus",
    "fixtures.parquet",
]

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    opt = session.config.getoption
    notebooks = opt("nbval_lax", default=False) or opt("nbval", default=False)
    if notebooks and not hasattr(session.config, "workerinput"):
        from workbench.demo import build_demo_store

        build_demo_store(ROOT / "data" / "demo.duckdb", ROOT / "data" / "samples")


@pytest.fixture(autouse=True)
def _close_figures():
    """Plot tests make figures; close them after each test so memory does not grow over the suite."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def tmp_db(tmp_path):
    """Path of a fresh (not yet created) store in a temp dir."""
    return tmp_path / "wb.duckdb"


@pytest.fixture
def store_before(tmp_db):
    """store_before(VERSION): a DuckDB connection to tmp_db holding the schema as it was before migration
    VERSION (as a store written by an older workbench has it); close it before Store.open upgrades it."""
    import duckdb

    from workbench.store import migrations

    def make(version: int) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(tmp_db))
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
                    "applied_at TIMESTAMPTZ)")
        for v, name, sql in migrations():
            if v < version:
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [v, name])
        return con

    return make
