"""notebooks/30_cache_and_metrics.ipynb executes headless on the bundled Redis samples and with no data."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm

from workbench.analysis import cache_metrics as cm
from workbench.origin import SAMPLE
from workbench.sources.redis import load_samples
from workbench.store import Store

ROOT = Path(__file__).resolve().parent.parent
NB = ROOT / "notebooks" / "30_cache_and_metrics.ipynb"


def outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            parts.append(o.get("text", "") + json.dumps(data.get("text/markdown", ""))
                         + (data.get("text/plain", "") if "application/vnd.workbench.verdict+json" in data else ""))
    return "\n".join(parts)


def test_notebook_is_committed_clean_with_parameters_first():
    nb = nbformat.read(NB, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    for name in ("db", "redis_from", "redis_to", "prom_names"):
        assert f"{name} =" in code[0].source


def test_notebook_code_is_thin():
    """Logic lives in workbench.analysis.cache_metrics / workbench.plots.cache; cells only call it."""
    code = [c.source for c in nbformat.read(NB, as_version=4).cells if c.cell_type == "code"]
    assert all(len(src.splitlines()) <= 12 for src in code)
    assert not any(line.lstrip().startswith(("def ", "class ")) for src in code for line in src.splitlines())
    assert "show_verdict(verdict)" in code[2] and "workbench.open(db).cache_report(" in code[1]


def test_notebook_on_samples(tmp_path):
    db = tmp_path / "demo.duckdb"
    with Store.open(db, origin=SAMPLE) as store:   # as the demo loads them: the caveat applies
        load_samples(store, ROOT / "data" / "samples" / "redis")
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(NB), str(out), parameters={"db": str(db)}, cwd=str(ROOT), progress_bar=False,
                        kernel_name="python3")
    text = outputs_text(out)
    verdict = cm.cache_verdict(cm.load_report(db))   # the same verdict, computed outside the notebook
    assert verdict.headline.startswith("Cache hit ratio") and "80%" in verdict.headline and verdict.headline in text
    assert all(line in text for line in verdict.details if "`" not in line)
    assert "No Prometheus series stored" in text
    assert "not how a production system performs" in text   # the samples' caveat (workbench.origin.CAVEAT)


def test_notebook_without_a_store(tmp_path):
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(NB), str(out), parameters={"db": str(tmp_path / "missing.duckdb")},
                        cwd=str(tmp_path), progress_bar=False, kernel_name="python3")
    assert "No data" in outputs_text(out)
