"""notebooks/40_before_after and 50_ab_test: committed clean, execute on the bundled samples and with no data."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from workbench.analysis import compare as cmp
from workbench.sources.k6 import load_samples
from workbench.store import Store, open_if_exists

ROOT = Path(__file__).resolve().parent.parent
NB40 = ROOT / "notebooks" / "40_before_after.ipynb"
RUNS = json.loads((ROOT / "data" / "samples" / "k6" / "runs.json").read_text())   # the lab loop's runs
PRE, POST = (next(r for r, m in RUNS.items() if m["tags"]["optimization"] == o) for o in ("pre", "post"))
EVENTS = "/api/events"
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


def _events_p95(db_or_con) -> str:
    """'/api/events p95_ms -NN.N%' as compare words it, from a second computation over the same runs."""
    if isinstance(db_or_con, Path):
        with Store.open(db_or_con, read_only=True) as store:
            return _events_p95(store.con)
    row = next(r for r in cmp.compare_runs(db_or_con, PRE, POST)["results"]
               if (r["endpoint"], r["metric"]) == (EVENTS, "p95_ms"))
    assert row["verdict"] == "improved" and row["change_pct"] < -20
    return f"{EVENTS} p95_ms {row['change_pct']:.1f}%"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("nb") / "demo.duckdb"
    with Store.open(db) as store:
        load_samples(store, ROOT / "data" / "samples")
    return db


def test_before_after_notebook_on_samples(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "40.ipynb"
    pm.execute_notebook(str(NB40), str(out), parameters={"db": str(sample_db), "before": PRE, "after": POST},
                        cwd=str(ROOT), progress_bar=False, kernel_name="python3")
    text, images = outputs_text(out)
    assert _events_p95(sample_db) in text and "Gate: passed" in text
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


# -- the functions the notebooks call (workbench.analysis.compare) --------------------------------------
@pytest.fixture
def con(sample_db: Path):
    with Store.open(sample_db, read_only=True) as store:
        yield store.con


def test_open_store_finds_db_from_notebooks_dir_or_says_none(sample_db: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_if_exists(tmp_path / "missing.duckdb") is None
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wb.duckdb").write_bytes(sample_db.read_bytes())
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")   # how papermill runs the notebooks
    store = open_if_exists("data/wb.duckdb")
    assert store is not None and store.read_only and store.path == Path("..") / "data" / "wb.duckdb"
    store.close()
    assert open_if_exists("data/other.duckdb") is None


def test_notebook_options_from_string_parameters() -> None:
    o = cmp.notebook_options("30s", "-1m", "")
    assert (o.skip_s, o.until_s, o.scenario) == (30.0, -60.0, None)
    o = cmp.notebook_options("0s", "", "browse")
    assert (o.skip_s, o.until_s, o.scenario) == (0.0, None, "browse")


def test_before_after_outcome_on_samples(con) -> None:
    out = cmp.before_after_outcome(con, PRE, POST, cmp.notebook_options(), "", "x.duckdb")
    assert out.have and out.verdict.ok is True and out.hint == ""
    assert (out.verdict.technical, out.verdict.ok) == cmp.verdict_text(out.result)
    assert out.verdict.headline == cmp.compare_verdict(out.result).headline and "faster" in out.verdict.headline
    assert _events_p95(con) in out.verdict.technical and out.verdict.technical.endswith("Gate: passed.")
    assert out.result["before"] == PRE and out.result["after"] == POST


def test_before_after_outcome_without_data(con) -> None:
    out = cmp.before_after_outcome(None, "pre", "post", db="wb.duckdb")
    assert not out.have and out.verdict.ok is None
    assert out.verdict.headline == "No data: runs 'pre' / 'post' are not in wb.duckdb."
    assert "`-p before RUN -p after RUN`" in out.hint
    out = cmp.before_after_outcome(con, PRE, "nope", db="wb.duckdb")   # one arm missing
    assert not out.have and "'nope'" in out.verdict.headline


def test_abtest_outcome_on_samples_and_without_data(con) -> None:
    out = cmp.abtest_outcome(con, PRE, "variant", "standard", "optimized", cmp.notebook_options(), 25.0)
    assert out.have and out.verdict.ok is True and out.result["srm"]["passed"]
    assert out.verdict.technical.startswith("optimized vs standard: improved all p95_ms") and f"{EVENTS} p50_ms -" in out.verdict.technical
    out = cmp.abtest_outcome(None, PRE, "variant", "standard", "optimized", db="wb.duckdb")
    assert not out.have and out.verdict.headline == f"No data: run '{PRE}' is not in wb.duckdb."
    # a stored run without the variant value: the analysis error becomes the reason, not a traceback
    out = cmp.abtest_outcome(con, PRE, "variant", "standard", "fast", db="wb.duckdb")
    assert not out.have and out.verdict.ok is None
    assert out.verdict.headline.startswith(f"No data: run '{PRE}': no requests with variant=fast") and "optimized" in out.verdict.headline
    assert "`-p run RUN -p variant_tag TAG" in out.hint


def test_latency_frames_name_the_arms(con) -> None:
    lat = cmp.before_after_latency(con, PRE, POST, cmp.notebook_options())
    assert list(lat.columns) == ["arm", "endpoint", "latency_ms"]
    assert list(lat["arm"].unique()) == ["before", "after"]
    endpoints = {r["endpoint"] for r in cmp.compare_runs(con, PRE, POST)["results"]} - {"all"}
    assert set(lat["endpoint"]) == endpoints and EVENTS in endpoints and (lat["latency_ms"] > 0).all()
    ab = cmp.ab_latency(con, PRE, "variant", "standard", "optimized", cmp.notebook_options())
    counts = ab["arm"].value_counts()
    assert list(ab["arm"].unique()) == ["standard", "optimized"]
    assert 0.15 < counts["optimized"] / counts.sum() < 0.35   # the playbook flag's 25% split


def test_results_table_columns(con) -> None:
    ba = cmp.compare_runs(con, PRE, POST, cmp.notebook_options())
    t = cmp.results_table(ba)
    assert list(t.columns[:4]) == ["endpoint", "metric", "before", "after"] and "p_value" in t
    assert list(t.columns) == [c for c in cmp.TABLE_COLUMNS if c in t]   # table order kept
    assert len(t) == len(ba["results"]) and "n_before" not in t
    ab = cmp.abtest_run(con, PRE, "variant", "standard", "optimized", cmp.notebook_options(), 25.0)
    t = cmp.results_table(ab, p_value=False)
    assert list(t.columns[:4]) == ["endpoint", "metric", "standard", "optimized"]
    assert "p_value" not in t and "p_adjusted" in t
    assert t["optimized"].tolist() == [r["after"] for r in ab["results"]]


def test_targets_frame_and_notes(con) -> None:
    ba = cmp.compare_runs(con, PRE, POST, cmp.notebook_options(), cmp.load_targets(None))
    tg = cmp.targets_frame(ba)
    assert len(tg) == 3 and set(tg["metric"]) == {"p95_ms", "rps", "rate_5xx"}
    assert tg.set_index("metric").loc["p95_ms", "met"]
    assert cmp.targets_frame({"targets": []}).empty
    notes = cmp.notes_markdown(ba)
    assert ba["arrival_rate"] and notes[-1].startswith("Arrival-rate executor: `")   # the lab's k6 runs
    assert all(n.startswith("> ") for n in notes[:-1]) and "one run per arm" in notes[0]
    assert cmp.notes_markdown({"notes": ["a"], "arrival_rate": {"before": {"target_rate": 50.0}}}) == [
        "> a", "Arrival-rate executor: `{'before': {'target_rate': 50.0}}`"]


def test_srm_markdown() -> None:
    srm = {"counts": {"standard": 3000, "optimized": 1000}, "expected_split_pct": {"standard": 75.0, "optimized": 25.0},
           "p_value": 0.98765, "passed": True}
    assert cmp.srm_markdown({"srm": srm}) == ("SRM check passed: standard 3,000 (75.0%, planned 75%), "
                                              "optimized 1,000 (25.0%, planned 25%); p = 0.988.")
    srm.update(counts={"standard": 2000, "optimized": 2000}, p_value=1.2e-50, passed=False)
    text = cmp.srm_markdown({"srm": srm})
    assert text.startswith("SRM check **FAILED — sample ratio mismatch**: standard 2,000 (50.0%, planned 75%)")
    assert text.endswith("p = 1.2e-50.")
