"""Engines that compute the workbench's heavy aggregations somewhere other than the store's DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from workbench.errors import WorkbenchError

ENGINES = ("duckdb", "spark")


@dataclass
class Source:
    """Where a command reads: CON (DuckDB: the store, or views over --parquet DEST) and DEST (the Parquet
    dataset Spark reads; None for the store's own tables)."""

    con: duckdb.DuckDBPyConnection
    dest: str | None


@contextmanager
def open_source(db: str | None, engine: str, parquet: str | None) -> Iterator[Source]:
    """The store (read-only), or with --parquet DEST an in-memory DuckDB reading DEST; for Spark the
    dataset is --parquet DEST or the one the store has attached."""
    from workbench.dataset import attached_dest, open_dataset
    from workbench.store import reading

    if parquet:
        con = open_dataset(parquet)
        try:
            yield Source(con, parquet)
        finally:
            con.close()
        return
    with reading(db) as store:
        dest = attached_dest(store.con)
        if engine == "spark" and dest is None:
            raise WorkbenchError(f"--engine spark reads a Parquet dataset: `workbench attach DEST` into "
                                 f"{store.path} first, or pass --parquet DEST")
        yield Source(store.con, dest)


def points_engine(engine: str, source: Source) -> Any:
    """The k6 points engine for `k6_summary` (None: DuckDB over CON)."""
    if engine == "spark":
        from workbench.engines.spark import SparkPoints

        return SparkPoints(source.dest)
    return None
