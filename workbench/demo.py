"""`workbench demo`: rebuild a store from data/samples/ and plan the notebooks to execute into reports/.

Each source contributes `load_samples(store, source_dir)`, which ingests its bundled real captures
from `source_dir` = `data/samples/<source>/`. The demo never touches the user's default store.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from workbench.store import DEMO_DB, Store

# source name -> "module:function" taking (store, data/samples/<source>) and returning a short description
SAMPLE_LOADERS: dict[str, str] = {
    "k6": "workbench.sources.k6:load_samples",
    "postgres": "workbench.sources.postgres:load_samples",
    "redis": "workbench.sources.redis:load_samples",
    "prometheus": "workbench.sources.prometheus:load_samples",
}

# notebook stem -> parameter sets the demo executes it with (db is added)
DEMO_REPORTS: dict[str, list[dict]] = {
    "10_load_test": [{"run": "after", "baseline": "before"}, {"run": "before", "baseline": ""}],
    "20_database": [{}],
    "30_cache_and_metrics": [{}],
    "40_before_after": [{"before": "before", "after": "after"}],
    "50_ab_test": [{"run": "before", "variant_tag": "variant", "control": "standard", "treatment": "optimized"}],
    "60_bottlenecks": [{"sensitivity": "medium"}],
    "70_roi": [{"before": "before", "after": "after", "endpoint": "events"}],
}


def sample_loader(source: str) -> Callable | None:
    """The loader for SOURCE, or None while that source has no samples support."""
    module, func = SAMPLE_LOADERS[source].split(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError):
        return None


def build_demo_store(db: Path | None = None, samples: Path | None = None,
                     progress: Callable[[str], None] | None = None) -> tuple[Path, list[str]]:
    """Delete and rebuild DB (default data/demo.duckdb) from SAMPLES (default data/samples)."""
    db = Path(db or DEMO_DB)
    samples = Path(samples or "data/samples")
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    loaded = []
    with Store.open(db) as store:
        for source in SAMPLE_LOADERS:
            loader = sample_loader(source)
            if loader is None or not (samples / source).exists():
                continue
            if progress:
                progress(f"loading {source} samples ...")
            loaded.append(loader(store, samples / source))
    return db, loaded


def demo_plan(db: Path, notebooks_dir: Path = Path("notebooks")) -> list[tuple[Path, dict]]:
    """(notebook, parameters) pairs for every numbered notebook, with the demo's parameter sets."""
    plan = []
    for nb in sorted(notebooks_dir.glob("[0-9]*.ipynb")):
        for params in DEMO_REPORTS.get(nb.stem, [{}]):
            plan.append((nb, {"db": str(db.resolve()), **params}))
    return plan
