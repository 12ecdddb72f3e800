"""`workbench report` as a newcomer meets it: the caveat only on bundled samples and lab data, notebooks
found by name from any directory, and each `-p` only for the notebooks that declare it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from cli_runner import run_cli

from workbench.errors import WorkbenchError
from workbench.origin import CAVEAT, LAB, SAMPLE
from workbench.reports import execute_notebook, find_notebook, update_index
from workbench.sources import prometheus as prom_src
from workbench.store import Store, reading, writing

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


def _caveat_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('db = ""\nruns = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Caveat probe"), params,
                nbformat.v4.new_code_cell("from workbench.reports import show_caveat, show_verdict\n"
                                          "show_verdict('probe', True)\nshow_caveat(db, runs)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _origins(db: Path) -> list[tuple]:
    with reading(db) as store:
        return store.con.execute("SELECT run, origin FROM ingests ORDER BY ingest_id").fetchall()


def test_caveat_only_on_samples_and_lab_data(tmp_path, capsys):
    own_file = tmp_path / "cpu.json"
    shutil.copy(SAMPLES / "prometheus" / "lab-pre.cpu.json", own_file)
    own, mixed = tmp_path / "own.duckdb", tmp_path / "mixed.duckdb"
    # the user's own data, through the CLI
    for db in (own, mixed):
        code, _, err = run_cli(capsys, "--db", str(db), "ingest", "prometheus", str(own_file), "--name", "mine")
        assert code == 0, err
    # what `workbench lab run` writes through, and the demo's loaders
    with writing(mixed, files=[own_file], origin=LAB) as store:
        prom_src.ingest_file(store, own_file, "labcpu")
    with Store.open(mixed, files=[SAMPLES], origin=SAMPLE) as store:
        prom_src.ingest_file(store, SAMPLES / "prometheus" / "lab-pre.rps.json", "rps")
    assert _origins(own) == [("mine", None)]
    assert _origins(mixed) == [("mine", None), ("labcpu", LAB), ("rps", SAMPLE)]

    nb = _caveat_notebook(tmp_path / "01_probe.ipynb")
    out = tmp_path / "reports"
    mine = execute_notebook(nb, {"db": str(own), "runs": None}, out)
    assert mine.error is None and mine.caveat == []
    assert CAVEAT not in (out / mine.html).read_text()
    assert CAVEAT not in update_index(out, [mine]).read_text()   # the index says nothing of samples either

    scoped = execute_notebook(nb, {"db": str(mixed), "runs": "mine"}, tmp_path / "r2")
    assert scoped.caveat == []                        # the report's own run is the user's
    lab = execute_notebook(nb, {"db": str(mixed), "runs": "mine,labcpu"}, tmp_path / "r3")
    assert lab.caveat == [LAB] and CAVEAT in (tmp_path / "r3" / lab.html).read_text()
    whole = execute_notebook(nb, {"db": str(mixed), "runs": None}, tmp_path / "r4")
    assert whole.caveat == [LAB, SAMPLE]
    update_index(out, [mine])
    (out / "whole.html").write_text((tmp_path / "r4" / whole.html).read_text())
    whole.name, whole.html = "whole", "whole.html"
    index = update_index(out, [whole]).read_text()   # one of its two reports is on samples and lab data
    assert index.count(CAVEAT) == 1 and index.count("built on bundled samples or lab runs") == 1


def test_stores_from_before_the_mark_get_it_from_the_sample_prefix(tmp_path):
    db = tmp_path / "old.duckdb"
    with Store.open(db) as store:   # as a store before migration 080 was: no origin column
        store.con.execute("ALTER TABLE ingests DROP COLUMN origin")
        store.con.execute("DELETE FROM schema_migrations WHERE version = 80")
        for source in ("sample:snapshot_01.json.gz", "postgresql://db1/app"):
            store.con.execute("INSERT INTO ingests (kind, source, started_at, finished_at, workbench_version) "
                              "VALUES ('postgres', ?, now(), now(), '0')", [source])
    with Store.open(db) as store:
        assert store.con.execute("SELECT source, origin FROM ingests ORDER BY ingest_id").fetchall() == [
            ("sample:snapshot_01.json.gz", SAMPLE), ("postgresql://db1/app", None)]


def test_one_caveat_text():
    import workbench.analysis.cache_metrics as cm
    import workbench.reports as reports

    assert not hasattr(cm, "LAB_NOTE") and not hasattr(reports, "LAB_CAVEAT")
    texts = [p for p in (ROOT / "workbench").rglob("*.py") if "2-core" in p.read_text()]
    assert texts == [ROOT / "workbench" / "origin.py"]
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        assert "not production evidence" not in nb.read_text(), nb.name


# -- notebooks by name, from anywhere ---------------------------------------------------------------------
def test_notebooks_found_by_name_outside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # no notebooks/ here: the checkout's (editable install, PYTHONPATH)
    for name in ("10_load_test", "10_load_test.ipynb", "notebooks/10_load_test.ipynb"):
        assert find_notebook(name) == ROOT / "notebooks" / "10_load_test.ipynb"
    own = tmp_path / "mine.ipynb"
    _caveat_notebook(own)
    assert find_notebook("mine.ipynb") == Path("mine.ipynb")   # a path still is one
    with pytest.raises(WorkbenchError, match=r"^no_such: no such notebook file.*known: 10_load_test, 20_database"):
        find_notebook("no_such")


def test_installed_package_ships_the_notebooks_and_reports_from_any_directory(tmp_path, capsys):
    """A regular (non-editable) install: the package tree the build makes, imported from outside the
    checkout, reports `10_load_test` by name with the user's own data (so without the caveat)."""
    lib = tmp_path / "lib"
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)], cwd=ROOT,
                       capture_output=True, text=True)
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert r.returncode == 0, r.stderr
    shipped = sorted(p.name for p in (lib / "workbench" / "notebooks").glob("*.ipynb"))
    assert shipped == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    db, work = tmp_path / "own.duckdb", tmp_path / "elsewhere"
    work.mkdir()
    code, _, err = run_cli(capsys, "--db", str(db), "ingest", "k6", str(SAMPLES / "k6" / "lab-pre.json.gz"),
                           "--run", "before")
    assert code == 0, err
    env = {**os.environ, "PYTHONPATH": str(lib)}
    r = subprocess.run([sys.executable, "-m", "workbench", "--db", str(db), "report", "10_load_test",
                        "-p", "run", "before", "--out", "reports"], cwd=work, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    [entry] = json.loads((work / "reports" / "index.json").read_text())
    assert entry["notebook"] == str(lib / "workbench" / "notebooks" / "10_load_test.ipynb")
    assert entry["html"] == "10_load_test-before.html" and entry["caveat"] == []
    assert CAVEAT not in (work / "reports" / entry["html"]).read_text()


# -- -p goes where it is declared ---------------------------------------------------------------------------
def _probe(path: Path, params: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), cell,
                nbformat.v4.new_code_cell("from workbench.reports import show_verdict\n"
                                          "show_verdict(repr([k for k in ('db', 'run', 'label', 'sensitivity') "
                                          "if k in globals()]), True)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_each_parameter_goes_only_to_the_notebooks_that_declare_it(tmp_path, capsys):
    a = _probe(tmp_path / "01_runs.ipynb", 'db = ""\nrun = ""')
    b = _probe(tmp_path / "02_labels.ipynb", 'db = ""\nlabel: str = ""')
    out, db = tmp_path / "reports", tmp_path / "none.duckdb"
    code, stdout, err = run_cli(capsys, "--db", str(db), "report", str(a), str(b), "-p", "run", "r1",
                                "-p", "label", "nightly", "--out", str(out))
    assert code == 0, err
    assert "unknown parameter" not in (stdout + err).lower()
    entries = {e["name"]: e for e in json.loads((out / "index.json").read_text())}
    assert set(entries) == {"01_runs-r1", "02_labels-nightly"}   # no foreign value in a file name
    assert entries["01_runs-r1"]["parameters"] == {"db": str(db.resolve()), "run": "r1"}
    assert entries["02_labels-nightly"]["parameters"] == {"db": str(db.resolve()), "label": "nightly"}
    assert entries["01_runs-r1"]["verdict"] == "['db', 'run']"   # nothing else was injected
    assert "nightly" not in (out / "index.html").read_text().split("01_runs")[1].split("</tr>")[0]

    code, _, err = run_cli(capsys, "--db", str(db), "report", str(a), str(b), "-p", "run", "r1",
                           "-p", "sensitivity", "high", "--out", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "-p sensitivity: no notebook given declares it (parameters: 01_runs: db, run; 02_labels: db, label)" in err
