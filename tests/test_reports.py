"""The report pipeline: papermill execution, secret scrubbing of notebook and HTML, the index page."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat

from workbench.reports import execute_notebook, scrub_params, secret_values, update_index

SECRET = "s3cr3t-Pa55word"
TOKEN = "tok_9f8e7d6c5b4a"


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('dsn = ""\napi_token = ""\nrun = "x"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Planted secrets report"),
        params,
        nbformat.v4.new_code_cell("from workbench.reports import show_verdict\n"
                                  "print('connecting with', dsn)\nprint(api_token)\n"
                                  "show_verdict(f'run {run} looks fine', True)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_secrets_never_reach_notebook_or_html(tmp_path):
    nb = _notebook(tmp_path / "01_planted.ipynb")
    params = {"dsn": f"postgresql://app:{SECRET}@127.0.0.1:5999/db", "api_token": TOKEN, "run": "r1"}
    out = tmp_path / "reports"
    rep = execute_notebook(nb, params, out)
    assert rep.error is None and rep.verdict == "run r1 looks fine" and rep.ok is True
    for f in out.iterdir():
        text = f.read_text()
        assert SECRET not in text and TOKEN not in text, f
    kept = json.loads((out / f"{rep.name}.ipynb").read_text())
    assert kept["metadata"]["papermill"]["parameters"]["api_token"] == "***"
    assert "postgresql://app:***@127.0.0.1:5999/db" in json.dumps(kept)   # still useful, minus the password
    index = update_index(out, [rep])
    html = index.read_text()
    assert "Planted secrets report" in html and "run r1 looks fine" in html and SECRET not in html


def test_secret_detection():
    assert set(secret_values({"dsn": "host=h password=abc123 dbname=x", "my_token": "t0k3n", "n": 3})) == {
        "abc123", "t0k3n"}
    assert scrub_params({"password": "x", "url": "http://u:p@h/"}) == {"password": "***", "url": "http://u:***@h/"}


def test_failing_notebook_is_reported_and_gates(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Broken"), nbformat.v4.new_code_cell("1/0")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "02_broken.ipynb"
    nbformat.write(nb, path)
    r = subprocess.run([sys.executable, "-m", "workbench", "--db", str(tmp_path / "x.duckdb"), "report", str(path),
                        "--out", str(tmp_path / "rep")], capture_output=True, text=True)
    assert r.returncode == 1
    assert "ZeroDivisionError" in r.stderr
    assert (tmp_path / "rep" / "02_broken.html").exists()
    entry = json.loads((tmp_path / "rep" / "index.json").read_text())[0]
    assert entry["ok"] is False and "ZeroDivisionError" in entry["verdict"]


def test_secret_detection_follows_the_redaction_patterns():
    """Every form redact_text masks is also found as a literal secret (pwd=, sslpassword=, URLs)."""
    found = secret_values({"dsn": "host=h pwd=s3cr3t", "x": "host=h sslpassword=zz9zz", "u": "redis://:pw0rd@h:1"})
    assert set(found) == {"s3cr3t", "zz9zz", "pw0rd"}
