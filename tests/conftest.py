"""Test configuration. Real services are started by the fixture modules in tests/fixtures/ (one each),
on loopback ports of their own, in temporary directories, and stopped at the end of the session.
A service test never skips: a missing server binary is a failure (run `make services`)."""

import os

import pytest

pytest_plugins = [
    "fixtures.k6",
    "fixtures.postgres",
    "fixtures.redis",
    "fixtures.prometheus",
]

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def tmp_db(tmp_path):
    """Path of a fresh (not yet created) store in a temp dir."""
    return tmp_path / "wb.duckdb"
