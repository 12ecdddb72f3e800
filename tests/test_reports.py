"""The report pipeline: papermill execution, secret scrubbing of notebook and HTML, the index page."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import nbformat
import pandas as pd

from workbench.analysis.plain import (
    bottleneck_verdict,
    compare_headline,
    database_verdict,
    load_test_headline,
)
from workbench.analysis.verdict import Verdict
from workbench.reports import Report, execute_notebook, scrub_params, secret_values, update_index
from workbench.tables import format_table, header, number

SECRET = "s3cr3t-Pa55word"
TOKEN = "tok_9f8e7d6c5b4a"


def _write_notebook(path, title: str, parameters: str, cells: list):
    """PATH: a notebook with the markdown TITLE, a `parameters` cell, then CELLS; returns PATH."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(title), params, *cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _notebook(path):
    return _write_notebook(path, "# Planted secrets report", 'dsn = ""\napi_token = ""\nrun = "x"', [
        nbformat.v4.new_code_cell("from workbench.reports import show_verdict\n"
                                  "print('connecting with', dsn)\nprint(api_token)\n"
                                  "show_verdict(f'run {run} looks fine', True)")])


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
    assert "IPKernelApp" not in r.stdout + r.stderr     # the kernel's start-up warnings stay out of the output
    assert (tmp_path / "rep" / "02_broken.html").exists()
    entry = json.loads((tmp_path / "rep" / "index.json").read_text())[0]
    assert entry["ok"] is False and "ZeroDivisionError" in entry["verdict"]


def test_secret_detection_follows_the_redaction_patterns():
    """Every form redact_text masks is also found as a literal secret (pwd=, sslpassword=, URLs)."""
    found = secret_values({"dsn": "host=h pwd=s3cr3t", "x": "host=h sslpassword=zz9zz", "u": "redis://:pw0rd@h:1"})
    assert set(found) == {"s3cr3t", "zz9zz", "pw0rd"}


# -- the stakeholder's page --------------------------------------------------------------------------
def _plot_notebook(path):
    return _write_notebook(path, "# Latency page\n\nWhat this page answers.", 'db = ""', [
        nbformat.v4.new_code_cell(
            "%matplotlib inline\nimport warnings\nimport matplotlib.pyplot as plt\n"
            "import pandas as pd\nfrom IPython.display import display\n"
            "from workbench.reports import show_verdict\nfrom workbench.tables import show_table\n"
            "show_verdict('Checkout got 39% faster', True, technical='p95_ms -39.2% (95% CI -42.7% to -35.4%)')\n"
            "warnings.warn('stderr noise quoting source')"),
        nbformat.v4.new_markdown_cell("## Latency\n\nThe chart, then the table."),
        nbformat.v4.new_code_cell("plt.plot([1, 2, 3]); plt.show()\n"
                                  "show_table(pd.DataFrame({'endpoint': ['a'], 'p95_ms': [1234.5678]}))"),
        nbformat.v4.new_markdown_cell("## Second section")])


def test_report_page_is_self_contained_with_title_verdict_toc_and_provenance(tmp_path):
    db = tmp_path / "wb.duckdb"
    r = subprocess.run([sys.executable, "-m", "workbench", "--db", str(db), "ingest", "k6",
                        "data/samples/k6/lab-post.summary.json", "--run", "after"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    sha = hashlib.sha256(open("data/samples/k6/lab-post.summary.json", "rb").read()).hexdigest()
    rep = execute_notebook(_plot_notebook(tmp_path / "03_page.ipynb"), {"db": str(db), "run": "after"},
                           tmp_path / "out")
    page = (tmp_path / "out" / rep.html).read_text()
    assert rep.verdict == "Checkout got 39% faster" and rep.technical.startswith("p95_ms -39.2%")
    assert "<script" not in page and "<link" not in page and "http://" not in page and "https://" not in page
    assert re.search(r'<img [^>]*src="data:image/png;base64,', page)
    # title block, then the verdict (headline, technical line), then the contents, then the notebook
    order = [page.index(s) for s in ('<header class="title"><h1>Latency page</h1>', "run <b>after</b>",
                                     '<p class="headline">✔ Checkout got 39% faster',
                                     '<p class="technical">p95_ms -39.2%', '<nav class="toc">',
                                     "What this page answers.", '<footer class="provenance"')]
    assert order == sorted(order)
    assert page.count("Checkout got 39% faster") == 1     # moved to the top, not shown twice
    assert '<a href="#Latency">Latency</a>' in page and '<a href="#Second-section">Second section</a>' in page
    assert "stderr noise" not in page and "show_verdict" not in page and "import" not in page
    assert "1,235" in page and "p95 (ms)" in page          # the table helper's formatting
    # provenance: the ingest's fingerprint and source, the versions
    assert sha[:12] in page and "data/samples/k6/lab-post.summary.json" in page
    assert "workbench 0.1.0" in page and "PostgreSQL not recorded in the store" in page


def test_index_lists_newest_first(tmp_path):
    (tmp_path / "a.html").write_text("a")
    (tmp_path / "b.html").write_text("b")
    old = Report("a", "Old", "a.ipynb", "a.html", {}, "2026-01-01T00:00:00+00:00", "old one", True)
    new = Report("b", "New", "b.ipynb", "b.html", {}, "2026-02-01T00:00:00+00:00", "new one", False)
    page = update_index(tmp_path, [old, new]).read_text()
    assert page.index("New") < page.index("Old")
    assert [e["name"] for e in json.loads((tmp_path / "index.json").read_text())] == ["b", "a"]


# -- tables ----------------------------------------------------------------------------------------------
def test_format_table_reads_like_a_report():
    df = pd.DataFrame({"queryid": [1234567890123456789, 42], "query": ["SELECT " + "x, " * 40 + "y FROM t", "SELECT 1"],
                       "calls": [1234567.0, 3.0], "mean_exec_time_ms": [0.000123456, 12345.678],
                       "hit_ratio": [0.98765, float("nan")], "verdict": ["regressed", "improved"]},
                      index=[7, 8])
    out = format_table(df).to_html()
    heads = re.findall(r'<th [^>]*class="col_heading[^"]*"[^>]*>([^<]*)</th>', out)
    assert heads == ["query", "calls", "mean exec time (ms)", "hit ratio", "verdict", "queryid"]   # queryid last
    assert ">1,234,567<" in out and ">12,346<" in out and ">0.000123<" in out
    assert ">98.8%<" in out and ">–<" in out
    assert "row_heading" not in out and ">7<" not in out                                       # no index
    assert "#ffebe9" in out and "#dafbe1" in out                                               # coloured rows
    assert "pre-wrap" in out and "#6e7781" in out                                              # wrapped / greyed


def test_number_rounding():
    assert [number(v) for v in (1234567, 0.5, 3.14159, 42.123, 123.456, 98765.4, 0.0, None, float("nan"))] == [
        "1,234,567", "0.500", "3.14", "42.1", "123.5", "98,765", "0", "–", "–"]
    assert header("p95_ms") == "p95 (ms)" and header("change_pct") == "change (%)" and header("calls") == "calls"


# -- plain-language headline -----------------------------------------------------------------------------
def _row(endpoint, metric, change, lo, hi, verdict):
    return {"endpoint": endpoint, "metric": metric, "change_pct": change, "ci_low_pct": lo, "ci_high_pct": hi,
            "verdict": verdict}


def test_compare_headline_in_plain_words():
    result = {"results": [_row("/api/events", "p95_ms", -39.2, -41.4, -37.6, "improved"),
                          _row("/api/events", "p50_ms", -30.0, -32.0, -28.0, "improved"),
                          _row("all", "p95_ms", -27.6, -32.2, -22.7, "improved"),
                          _row("login", "p95_ms", 1.0, -3.0, 4.0, "inconclusive")],
              "targets": [{"met": True}, {"met": True}, {"met": False}, {"met": None}]}
    assert compare_headline(result) == ("/api/events got 39% faster at p95 (38–41%); all requests got 28% faster "
                                        "at p95 (23–32%); nothing got measurably worse; 2 of 3 playbook "
                                        "targets met")
    result["results"].append(_row("login", "error_rate", 50.0, 20.0, 80.0, "regressed"))
    result["targets"] = []
    assert compare_headline(result).endswith("; login: 50% more errors (20–80%)")
    assert compare_headline({"results": [], "srm": {"passed": False}}).startswith("The A/B split is broken")


def test_load_test_headline_in_plain_words():
    from types import SimpleNamespace

    endpoints = pd.DataFrame({"endpoint": ["events", "all"], "requests": [100, 20527], "p95_ms": [40.0, 31.04],
                              "error_rate": [0.0, 0.0102]})
    thresholds = pd.DataFrame({"metric": ["http_req_duration", "checks"], "ok": [True, False]})
    comparison = pd.DataFrame({"endpoint": ["all"], "p95_ms_change_pct": [-27.6]})
    rep = SimpleNamespace(run="after", baseline="before", endpoints=endpoints, thresholds=thresholds,
                          comparison=comparison)
    assert load_test_headline(rep) == ("The load test FAILED 1 of 2 thresholds: 20,527 requests, 95% answered within "
                                       "31.0 ms, 1.0% failed; 28% faster at p95 than before")
    rep.thresholds = thresholds.assign(ok=True)
    assert load_test_headline(rep).startswith("The load test passed all 2 thresholds:")


def test_database_and_bottleneck_headlines_in_plain_words():
    from types import SimpleNamespace

    top = pd.DataFrame({"time_share": [0.4962], "query": ["SELECT count(*), max(created_at) FROM events WHERE "
                                                           "account_id = $1"]})
    db = SimpleNamespace(to_snap=3, top=SimpleNamespace(statements=top), verdict=lambda: ["top", "a", "b"],
                         headline=lambda: ("2 database finding(s); top statement takes 50% …", None))
    assert database_verdict(db) == Verdict("info", "One statement takes 50% of the database's time (SELECT count(*), "
                                               "max(created_at) FROM events WHER…); 2 more findings to review",
                                           "2 database finding(s); top statement takes 50% …")
    f = [SimpleNamespace(component=c, check="seq_scan", item=f"table t{i}") for i, c in
         enumerate(["database", "api", "database"])]
    bundle = SimpleNamespace(report=SimpleNamespace(findings=f), headline=lambda: ("3 finding(s) …", None))
    assert bottleneck_verdict(bundle).headline == ("3 possible bottlenecks (2 database, 1 api); the biggest: database "
                                             "seq scan, table t0")
    bundle.report.findings = []
    assert bottleneck_verdict(bundle) == Verdict("info", "3 finding(s) …")
