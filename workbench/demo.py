"""`workbench demo`: rebuild a store from data/samples/ and plan the notebooks to execute into reports/.

Each source contributes `load_samples(store, source_dir)`, which ingests its bundled real captures
from `source_dir` = `data/samples/<source>/`. The demo only ever deletes a store it made itself (marked
`made_by = workbench demo` in store_meta); any other existing file is refused and left untouched.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import duckdb

from workbench.errors import WorkbenchError
from workbench.origin import SAMPLE
from workbench.store import DEMO_DB, Store, foreign_file_kind, reading

DEMO_MARK = ("made_by", "workbench demo")

# source name -> "module:function" taking (store, data/samples/<source>) and returning a short description
SAMPLE_LOADERS: dict[str, str] = {
    "k6": "workbench.sources.k6:load_samples",
    "postgres": "workbench.sources.postgres:load_samples",
    "redis": "workbench.sources.redis:load_samples",
    "prometheus": "workbench.sources.prometheus:load_samples",
}

# notebook stem -> parameter sets the demo executes it with (db is added). The samples are one short
# `workbench lab` loop: run lab-pre (the lab as planted), the fixes the findings named, run lab-post.
# "span": LABEL stands for the first to the last snapshot carrying LABEL (ids from the store; SPANS).
DEMO_REPORTS: dict[str, list[dict]] = {
    "10_load_test": [{"run": "lab-post", "baseline": "lab-pre"}, {"run": "lab-pre", "baseline": ""}],
    "20_database": [{"span": run, "label": run} for run in ("lab-pre", "lab-post")],
    "30_cache_and_metrics": [{"span": run, "prom_names": f"{run}.redis_hit_ratio,{run}.p95_latency,{run}.rps"}
                             for run in ("lab-pre", "lab-post")],
    "40_before_after": [{"before": "lab-pre", "after": "lab-post"}],
    "50_ab_test": [{"run": "lab-pre", "variant_tag": "variant", "control": "standard", "treatment": "optimized",
                    "split": 25.0}],
    "60_bottlenecks": [{"run": "lab-pre", "sensitivity": "medium"}],
    "70_roi": [{"before": "lab-pre", "after": "lab-post", "endpoint": "/api/events"}],
}

# notebook stem -> (its snapshot-id parameters, the query giving a label's first and last snapshot id)
SPANS: dict[str, tuple[str, str, str]] = {
    "20_database": ("from_snap", "to_snap",
                    "SELECT min(snapshot_id), max(snapshot_id) FROM pg_snapshots WHERE label = ?"),
    "30_cache_and_metrics": ("redis_from", "redis_to",
                             "SELECT min(snapshot_id), max(snapshot_id) FROM redis_snapshots WHERE label = ?"),
}


def sample_loader(source: str) -> Callable | None:
    """The loader for SOURCE, or None while that source has no samples support."""
    module, func = SAMPLE_LOADERS[source].split(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError):
        return None


def made_by_demo(db: Path, samples: Path) -> bool:
    """Whether DB is a store the demo made: marked so, or (stores from before the mark) a workbench store
    whose every ingest came from SAMPLES. A missing file is not."""
    if not db.exists() or foreign_file_kind(db):
        return False
    try:
        con = duckdb.connect(str(db), read_only=True, config={"enable_external_access": False})
    except duckdb.Error as e:
        if "Conflicting lock" in str(e):
            raise WorkbenchError(f"{db} is busy (another process holds it): close it and run the demo again") from e
        return False
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "store_meta" in tables:
            row = con.execute("SELECT value FROM store_meta WHERE key = ?", [DEMO_MARK[0]]).fetchone()
            if row and row[0] == DEMO_MARK[1]:
                return True
        if not {"schema_migrations", "ingests"} <= tables:
            return False
        sources = [r[0] for r in con.execute("SELECT source FROM ingests").fetchall()]
    finally:
        con.close()
    root = samples.resolve()
    return bool(sources) and all(s.startswith("sample:") or Path(s).resolve().is_relative_to(root)
                                 for s in sources)


def build_demo_store(db: Path | None = None, samples: Path | None = None,
                     progress: Callable[[str], None] | None = None) -> tuple[Path, list[str]]:
    """Rebuild DB (default data/demo.duckdb) from SAMPLES (default data/samples). DB must be missing or a
    store the demo made; anything else is refused (exit 2) and left untouched."""
    db = Path(db or DEMO_DB)
    samples = Path(samples or "data/samples")
    if db.exists() or db.is_symlink():
        if not made_by_demo(db, samples):
            raise WorkbenchError(f"{db} exists and was not made by `workbench demo`: left it untouched; give "
                                 "the demo a new path with --db, or move that file away")
        for p in (db, db.with_name(db.name + ".wal")):
            p.unlink(missing_ok=True)
    loaded = []
    with Store.open(db, files=[samples], origin=SAMPLE) as store:
        store.mark(*DEMO_MARK)
        for source in SAMPLE_LOADERS:
            loader = sample_loader(source)
            if loader is None or not (samples / source).exists():
                continue
            if progress:
                progress(f"loading {source} samples ...")
            loaded.append(loader(store, samples / source))
    return db, loaded


def demo_plan(db: Path, notebooks_dir: Path = Path("notebooks")) -> list[tuple[Path, dict]]:
    """(notebook, parameters) pairs for every numbered notebook, with the demo's parameter sets; a "span"
    becomes the first and last snapshot ids of its label in DB (refused when DB holds none)."""
    plan = []
    with reading(db) as store:
        for nb in sorted(notebooks_dir.glob("[0-9]*.ipynb")):
            for params in DEMO_REPORTS.get(nb.stem, [{}]):
                params = dict(params)
                if "span" in params:
                    first_param, last_param, sql = SPANS[nb.stem]
                    label = params.pop("span")
                    first, last = store.con.execute(sql, [label]).fetchone()
                    if first is None:
                        raise WorkbenchError(f"{db}: no snapshot labelled {label!r} for {nb.name}: rebuild the "
                                             "store with `workbench demo` from data/samples/")
                    params.update({first_param: int(first), last_param: int(last)})
                plan.append((nb, {"db": str(db.resolve()), **params}))
    return plan
