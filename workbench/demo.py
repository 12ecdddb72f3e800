"""`workbench demo`: rebuild a store from data/samples/ and execute every notebook into reports/.

Each source contributes `load_samples(store, sample_dir)` which ingests its bundled real captures from
`data/samples/<source>/`. The demo never touches the user's default store.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

# source name -> "module:function" taking (store, sample_dir) and returning a short description
SAMPLE_LOADERS: dict[str, str] = {
    "k6": "workbench.sources.k6:load_samples",
    "postgres": "workbench.sources.postgres:load_samples",
    "redis": "workbench.sources.redis:load_samples",
    "prometheus": "workbench.sources.prometheus:load_samples",
}


def sample_loader(source: str) -> Callable | None:
    """The loader for SOURCE, or None while that source has no samples support yet."""
    module, func = SAMPLE_LOADERS[source].split(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError):
        return None


def samples_dir() -> Path:
    """data/samples/ of the checkout (the demo runs from the project root)."""
    return Path("data/samples")
