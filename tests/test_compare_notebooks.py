"""notebooks/40_before_after and 50_ab_test: committed clean, execute on the bundled samples and with no data."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from workbench.sources.k6 import load_samples
from workbench.store import Store

ROOT = Path(__file__).resolve().parent.parent
NB40 = ROOT / "notebooks" / "40_before_after.ipynb"
NB50 = ROOT / "notebooks" / "50_ab_test.ipynb"


def outputs_text(path: Path) -> tuple[str, int]:
    nb = nbformat.read(path, as_version=4)
    parts, images = [], 0
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert o.get("output_type") != "error", o
            data = o.get("data", {})
            images += "image/png" in data
            parts.append(o.get("text", "") + json.dumps(data.get("text/plain", "")) + json.dumps(data.get("text/markdown", "")))
    return "\n".join(parts), images


@pytest.mark.parametrize("nb,params", [(NB40, ("db", "before", "after")),
                                       (NB50, ("db", "run", "variant_tag", "control", "treatment"))])
def test_committed_clean_with_parameters_first(nb: Path, params: tuple[str, ...]) -> None:
    book = nbformat.read(nb, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert 'db = "data/demo.duckdb"' in code[0].source
    for name in params:
        assert f"{name} =" in code[0].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("nb") / "demo.duckdb"
    with Store.open(db) as store:
        load_samples(store, ROOT / "data" / "samples")
    return db


def test_before_after_notebook_on_samples(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "40.ipynb"
    pm.execute_notebook(str(NB40), str(out), parameters={"db": str(sample_db), "before": "before", "after": "after"},
                        cwd=str(ROOT), progress_bar=False, kernel_name="python3")
    text, images = outputs_text(out)
    assert "events p95_ms -3" in text and "Gate: passed" in text
    assert "Target all p95_ms -20%" in text
    assert images >= 3  # ECDFs, violins, forest plot


def test_ab_notebook_on_samples(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "50.ipynb"
    pm.execute_notebook(str(NB50), str(out), parameters={"db": str(sample_db)}, cwd=str(ROOT), progress_bar=False,
                        kernel_name="python3")
    text, images = outputs_text(out)
    assert "SRM check passed" in text and "optimized vs standard: improved" in text
    assert images >= 3


@pytest.mark.parametrize("nb", [NB40, NB50])
def test_notebooks_without_data(nb: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(nb), str(out), parameters={"db": str(tmp_path / "missing.duckdb")}, cwd=str(tmp_path),
                        progress_bar=False, kernel_name="python3")
    assert "No data" in outputs_text(out)[0]
