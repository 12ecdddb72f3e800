"""The Python API (`workbench.open`): every command with a JSON output gives, through the API's
`to_dict()`, exactly what `--format json` prints on the demo store; the tables come out as pandas,
polars and HTML; a writable handle ingests, a read-only one refuses to."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
import polars as pl
import psycopg
import pytest
import yaml
from cli_runner import run_cli

import workbench
from workbench.api import GateResult, ReadOnlyHandle
from workbench.cli import _main
from workbench.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
WINDOW = ("2026-12-02T01:19:00Z", "2026-12-02T01:46:00Z")   # the bundled lab loop's half hour
ROI = {"horizon_months": 12, "discount_rate_annual": 0.10, "one_time_cost": 20000,
       "infrastructure_monthly_before": 10000, "infrastructure_monthly_after": 8000,
       "monthly_revenue": 500000, "revenue_uplift_per_100ms": 0.01, "p95_before_ms": 800, "p95_after_ms": 600}
ROI_MEASURED = {**{k: v for k, v in ROI.items() if not k.startswith("p95_")},
                "one_time_cost": "pert(10000, 20000, 40000)"}


@pytest.fixture(scope="module")
def roi_files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("roi")
    out = {}
    for name, cfg in (("plain", ROI), ("measured", ROI_MEASURED)):
        (d / f"{name}.yml").write_text(yaml.safe_dump(cfg))
        out[name] = str(d / f"{name}.yml")
    return out


# (id, CLI arguments after `--db DB`, the same call on the API); ROI files are filled in per test
CASES = [
    ("ls-runs", ["ls", "runs"], lambda wb, f: wb.ls("runs")),
    ("ls-snapshots", ["ls", "snapshots"], lambda wb, f: wb.ls("snapshots")),
    ("ls-series", ["ls", "series"], lambda wb, f: wb.ls("series")),
    ("ls-ingests", ["ls", "ingests"], lambda wb, f: wb.ls("ingests")),
    ("k6-summary", ["k6", "summary", "--run", "lab-pre"], lambda wb, f: wb.k6_summary("lab-pre")),
    ("k6-summary-stats", ["k6", "summary", "--run", "lab-post", "--trend-stats", "avg,med,p(95),p(99.9),count"],
     lambda wb, f: wb.k6_summary("lab-post", "avg,med,p(95),p(99.9),count")),
    ("pg-top", ["pg", "top"], lambda wb, f: wb.pg_top()),
    ("pg-top-io", ["pg", "top", "--from", "1", "--to", "3", "--by", "io", "--limit", "5"],
     lambda wb, f: wb.pg_top(1, 3, by="io", limit=5)),
    ("pg-health", ["pg", "health", "--fail-on", "never"], lambda wb, f: wb.pg_health()),
    ("redis-stats", ["redis", "stats"], lambda wb, f: wb.redis_stats()),
    ("prom-series", ["prom", "series", "--name", "lab-pre.p95_latency"], lambda wb, f: wb.prom_series("lab-pre.p95_latency")),
    ("compare", ["compare", "--before", "lab-pre", "--after", "lab-post", "--skip", "5s"],
     lambda wb, f: wb.compare("lab-pre", "lab-post", skip="5s")),
    ("compare-tolerance", ["compare", "--before", "lab-pre", "--after", "lab-post", "--tolerance", "p95_ms=3%",
                           "--adjust", "bh", "--strict"],
     lambda wb, f: wb.compare("lab-pre", "lab-post", tolerance=["p95_ms=3%"], adjust="bh", strict=True)),
    ("abtest", ["abtest", "--run", "lab-pre", "--control", "standard", "--treatment", "optimized", "--split", "25"],
     lambda wb, f: wb.abtest("lab-pre", control="standard", treatment="optimized", split=25)),
    ("abtest-prom", ["abtest", "--prom-control", "lab-pre.p95_standard", "--prom-treatment", "lab-pre.p95_optimized"],
     lambda wb, f: wb.abtest(prom_control="lab-pre.p95_standard", prom_treatment="lab-pre.p95_optimized")),
    ("bottlenecks", ["bottlenecks", "--run", "lab-pre"], lambda wb, f: wb.bottlenecks("lab-pre")),
    ("bottlenecks-db", ["bottlenecks", "--sensitivity", "high", "--component", "database", "--limit", "3"],
     lambda wb, f: wb.bottlenecks(sensitivity="high", components=["database"], limit=3)),
    ("alerts", ["alerts", "--start", WINDOW[0], "--end", WINDOW[1], "--no-store"],
     lambda wb, f: wb.alerts(*WINDOW, save=False)),
    ("advise", ["advise", "--no-verify"], lambda wb, f: wb.advise(verify=False)),
    ("roi", ["roi", "--config", "{plain}"], lambda wb, f: wb.roi(f["plain"])),
    ("roi-measured", ["roi", "--config", "{measured}", "--from-compare", "lab-pre..lab-post", "--endpoint", "/api/events",
                      "--draws", "2000"],
     lambda wb, f: wb.roi(f["measured"], from_compare=("lab-pre", "lab-post"), endpoint="/api/events", draws=2000)),
]
# Commands with a JSON output that the demo store cannot exercise here, and where they are tested instead
ELSEWHERE = {"pg explain": "test_live_postgres_collect_top_and_explain (needs a server)",
             "export parquet": "test_writers_equal_the_cli (a writer: one dataset each)",
             "prune": "test_writers_equal_the_cli (a writer: on a copy, --dry-run)",
             "vacuum": "test_writers_equal_the_cli (a writer: on two copies)",
             "lab status": "the lab's processes, not the store (tests/test_lab.py)",
             "lab run": "runs the staging system and k6 (tests/test_lab.py)"}


def _json_commands(group: click.Group, prefix: str = "") -> set[str]:
    out: set[str] = set()
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        full = f"{prefix} {name}".strip()
        if isinstance(cmd, click.Group):
            out |= _json_commands(cmd, full)
        elif any(p.name == "fmt" and "json" in getattr(p.type, "choices", ()) for p in cmd.params):
            out.add(full)
    return out


def test_every_json_command_is_compared():
    groups = {n for n, c in _main.commands.items() if isinstance(c, click.Group)} | {"k6", "pg", "redis", "prom"}
    covered = {" ".join(args[:2]) if args[0] in groups else args[0] for _, args, _ in CASES}
    missing = _json_commands(_main) - covered - set(ELSEWHERE)
    assert not missing, f"commands with --format json but no API comparison: {sorted(missing)}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_to_dict_is_the_cli_json(case, samples_store, roi_files, capsys):
    _, args, call = case
    args = [a.format(**roi_files) for a in args]
    code, out, err = run_cli(capsys, "--db", str(samples_store), *args, "--format", "json")
    assert code in (0, 1), err
    res = call(workbench.open(samples_store), roi_files)
    assert res.to_dict() == json.loads(out)
    if isinstance(res, GateResult):
        assert (code == 0) == res.passed


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_frames_and_html(case, samples_store, roi_files):
    res = case[2](workbench.open(samples_store), roi_files)
    rows = res.records()
    frame, polars = res.to_frame(), res.to_polars()
    assert isinstance(polars, pl.DataFrame)
    assert len(frame) == len(rows) == polars.height and list(frame.columns) == polars.columns
    assert list(frame.index) == list(range(len(rows)))
    page = res._repr_html_()
    assert "<table" in page or not rows
    for col in list(frame.columns)[:3]:
        assert f"<th>{col}</th>" in page.replace(' halign="left"', "")
    assert "Unnamed" not in page and "<th></th>" not in page   # no index column


def test_tables_hold_the_documents_rows(samples_store):
    wb = workbench.open(samples_store)
    top = wb.pg_top("lab-baseline", "lab-pre", limit=5)   # the planted workload: thousands of blocks hit
    assert top.to_frame()["queryid"].tolist() == [s["queryid"] for s in top["statements"]]
    first, page = top["statements"][0], top._repr_html_()
    assert f"<td>{first['queryid']}</td>" in page   # identifiers as they are, counts with separators
    assert f"<td>{first['shared_blks_hit']:,}</td>" in page and first["shared_blks_hit"] >= 1000
    series = wb.prom_series("lab-pre.p95_latency")
    frame = series.to_polars()
    assert frame.height == sum(len(s["points"]) for s in series.to_dict())
    assert frame["ts"].dtype == pl.Datetime("us", "UTC") and frame["value"].dtype == pl.Float64
    cmp = wb.compare("lab-pre", "lab-post")
    assert set(cmp.to_frame()["verdict"]) <= {"improved", "regressed", "no_change", "inconclusive", "missing"}
    assert len(cmp.to_frame("targets")) == len(cmp["targets"]) > 0
    redis = wb.redis_stats().to_frame()
    assert redis["usec"].is_monotonic_decreasing and "command" in redis
    with pytest.raises(KeyError, match="no table 'nope'"):
        cmp.to_frame("nope")
    assert "<h4>compare: lab-pre -&gt; lab-post</h4>" in cmp._repr_html_()


def test_to_dict_is_a_copy(samples_store):
    res = workbench.open(samples_store).ls("runs")
    res.to_dict()[0]["run"] = "changed"
    assert res.to_dict()[0]["run"] != "changed"


def test_read_only_handle_refuses_to_write_and_creates_nothing(tmp_path):
    db = tmp_path / "new.duckdb"
    wb = workbench.open(db)
    for call in (lambda: wb.ingest_k6(SAMPLES / "k6" / "lab-pre.summary.json", "r"),
                 lambda: wb.ingest_redis(SAMPLES / "redis" / "info_01.txt"),
                 lambda: wb.ingest_prometheus(SAMPLES / "prometheus" / "lab-pre.cpu.json", "cpu"),
                 lambda: wb.collect_redis("redis://127.0.0.1:1"),
                 lambda: wb.collect_postgres("postgresql://127.0.0.1:1/x"),
                 lambda: wb.collect_prometheus("http://127.0.0.1:1", "x", query="up", start="now-1h", step="15s"),
                 lambda: wb.alerts(*WINDOW, save=True)):
        with pytest.raises(ReadOnlyHandle, match="read_only=False"):
            call()
    assert not db.exists()


def test_writable_handle_ingests_and_cli_reads_the_same(tmp_path, capsys):
    db = tmp_path / "wb.duckdb"
    wb = workbench.open(db, read_only=False)
    k6 = wb.ingest_k6([SAMPLES / "k6" / "lab-pre.json.gz", SAMPLES / "k6" / "lab-pre.summary.json"], "b",
                      label="baseline", tags={"git_sha": "abc"})
    assert [f["format"] for f in k6["files"]] == ["json", "summary-export"] and k6["files"][0]["rows"] > 10_000
    assert k6.to_frame()["rows"].tolist() == [f["rows"] for f in k6["files"]]
    again = wb.ingest_k6(SAMPLES / "k6" / "lab-pre.json.gz", "b")
    assert again["files"][0]["skipped"] is True
    redis = wb.ingest_redis(SAMPLES / "redis" / "info_01.txt", label="r1")
    assert redis["snapshot"] == 1 and redis["info_rows"] > 100 and not redis.warnings
    assert wb.ingest_redis(SAMPLES / "redis" / "info_01.txt").warnings == [
        f"{SAMPLES / 'redis' / 'info_01.txt'} was already ingested: nothing to do"]
    prom = wb.ingest_prometheus(SAMPLES / "prometheus" / "lab-pre.cpu.json", "cpu")
    served = json.loads((SAMPLES / "prometheus" / "lab-pre.cpu.json").read_text())["data"]["result"]
    assert prom["written"] is True and prom["series"] == len(served)
    assert wb.ingest_prometheus(SAMPLES / "prometheus" / "lab-pre.cpu.json", "cpu")["written"] is False

    runs = workbench.open(db).ls("runs")
    assert runs.to_frame()[["run", "label"]].values.tolist() == [["b", "baseline"]]
    assert runs.to_dict()[0]["tags"] == {"git_sha": "abc"}
    for what in ("runs", "snapshots", "series", "ingests"):
        code, out, err = run_cli(capsys, "--db", str(db), "ls", what, "--format", "json")
        assert code == 0, err
        assert json.loads(out) == workbench.open(db).ls(what).to_dict()
    summary = workbench.open(db).k6_summary("b")
    assert summary["metrics"]["http_reqs"]["count"] > 0


def test_the_handle_holds_no_lock_between_calls(samples_store, tmp_path):
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(samples_store, db)
    reader = workbench.open(db)
    assert reader.ls("runs").to_dict()
    with Store.open(db, wait_s=0) as writer:   # a writer gets the store at once while the handle lives
        writer.con.execute("SELECT 1")
    assert reader.ls("series").to_dict()


def test_the_notebooks_reports_come_from_the_handle_and_release_the_store(samples_store, tmp_path):
    """Each notebook's data comes from one handle method that reads, closes the store, and returns the bundle
    the notebook shows (its verdict first)."""
    import shutil

    from workbench import roi
    from workbench.analysis import compare as cmp
    from workbench.analysis import load_test as lt
    from workbench.analysis.verdict import Verdict

    db = tmp_path / "copy.duckdb"
    shutil.copy(samples_store, db)
    wb = workbench.open(db)
    with Store.open(db, read_only=True) as s:
        pre, post = "lab-pre", "lab-post"
        assert wb.load_test_report(post, pre).report.verdict == lt.load_test_report(s.con, post, pre).verdict
    page = wb.load_test_report()                  # no run: the latest
    reports = [page.report.verdict, wb.database_report().to_snap is not None, wb.cache_report().redis.note is None]
    out = wb.before_after_report(pre, post)
    assert out.have and out.verdict == cmp.compare_verdict(out.result) and set(out.latency["arm"]) == {"before", "after"}
    ab = wb.ab_report(pre, "variant", "standard", "optimized", split=25.0)
    assert ab.have and set(ab.latency["arm"]) == {"standard", "optimized"}
    assert wb.bottleneck_report(pre).report.findings
    res = wb.roi_report(roi.notebook_config(before=pre, after=post))
    assert res.model.measured and isinstance(roi.verdict(res), Verdict)
    assert isinstance(reports[0], Verdict) and all(reports[1:])
    with Store.open(db, wait_s=0) as writer:       # nothing held: a writer gets the store at once
        writer.con.execute("SELECT 1")
    missing = workbench.open(tmp_path / "none.duckdb").before_after_report(pre, post)
    assert not missing.have and missing.verdict.status == "info" and missing.latency is None


def test_writers_equal_the_cli(samples_store, tmp_path, capsys):
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(samples_store, db)
    wb = workbench.open(db, read_only=False)
    code, out, err = run_cli(capsys, "--db", str(db), "prune", "--older-than", "5m", "--keep", "daily", "--dry-run",
                             "--format", "json")
    assert code == 0, err
    cli, api = json.loads(out), wb.prune("5m", keep="daily", dry_run=True).to_dict()
    assert sum(api["snapshots"].values()) > 0   # the samples are older than 5 minutes: something to prune
    assert {k: v for k, v in api.items() if k != "cutoff"} == {k: v for k, v in cli.items() if k != "cutoff"}
    assert abs(dt.datetime.fromisoformat(api["cutoff"]) - dt.datetime.fromisoformat(cli["cutoff"])) < dt.timedelta(
        minutes=5)
    code, out, err = run_cli(capsys, "--db", str(db), "export", "parquet", str(tmp_path / "a"), "--run", "lab-pre",
                             "--format", "json")
    assert code == 0, err
    exported = wb.export_parquet(str(tmp_path / "b"), runs=["lab-pre"])
    cli, api = json.loads(out), exported.to_dict()
    assert cli.pop("dest") == str(tmp_path / "a") and api.pop("dest") == str(tmp_path / "b")
    assert cli.pop("bytes") > 0 and api.pop("bytes") > 0 and cli == api   # file sizes vary with write times
    assert exported.to_frame()["rows"].sum() == sum(api["rows"].values()) > 0
    with pytest.raises(ReadOnlyHandle):
        workbench.open(db).prune("1d")
    other = tmp_path / "other.duckdb"
    shutil.copy(db, other)
    code, out, err = run_cli(capsys, "--db", str(db), "vacuum", "--format", "json")
    assert code == 0, err
    cli, api = json.loads(out), workbench.open(other, read_only=False).vacuum().to_dict()
    assert cli.pop("db") == str(db) and api.pop("db") == str(other) and cli == api and sum(api["rows"].values()) > 0
    with pytest.raises(ReadOnlyHandle):
        workbench.open(db).vacuum()


def test_the_python_api_page_runs(samples_store):
    """docs/python-api.md's examples run on the demo store (those writing a store of their own aside)."""
    import re

    page = (ROOT / "docs" / "python-api.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "read_only=False" not in b]
    assert len(blocks) >= 2
    scope: dict = {}
    for block in blocks:
        exec(compile(block.replace('"data/demo.duckdb"', repr(str(samples_store))), "python-api.md", "exec"), scope)
    assert scope["gate"].passed in (True, False) and len(scope["top"]) == 5
    assert scope["cpu"].columns == ["instance", "job", "ts", "value"]


@pytest.mark.service
def test_live_postgres_collect_top_and_explain(pg_server, tmp_path, capsys):
    """collect_postgres on a writable handle, around a workload; pg_top finds it; pg_explain equals the CLI."""
    db = tmp_path / "pg.duckdb"
    wb = workbench.open(db, read_only=False)
    first = wb.collect_postgres(pg_server.dsn, label="before")
    with psycopg.connect(pg_server.dsn, autocommit=True) as con:
        for i in range(20):
            con.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s", [i + 1]).fetchall()
    second = wb.collect_postgres(pg_server.dsn, label="after", slow_every=0)
    assert second["snapshot"] == first["snapshot"] + 1 and second["statements"] > 0
    assert pg_server.password not in json.dumps(second.to_dict())
    top = workbench.open(db).pg_top()
    row = next(s for s in top["statements"] if "pgbench_accounts" in (s["query"] or ""))
    assert row["calls"] >= 20
    code, out, err = run_cli(capsys, "--db", str(db), "pg", "explain", "--dsn", pg_server.dsn, "--format", "json",
                             "--", str(row["queryid"]))
    assert code == 0, err
    plan = workbench.open(db).pg_explain(row["queryid"], pg_server.dsn)
    assert plan.to_dict() == json.loads(out) and "pgbench_accounts" in plan["plan"]
    assert plan.to_frame()["line"].str.contains("pgbench_accounts").any()


def _contract_shapes() -> dict[str, tuple[set[str], set[str], set[str]]]:
    """docs/contract.md's shapes: command -> (top-level keys, optional ones, keys every list item has)."""
    import re

    text = (ROOT / "docs" / "contract.md").read_text().split("## JSON shapes", 1)[1].split("\n## ", 1)[0]
    out = {}
    for para in re.split(r"\n\s*\n", text):
        m = re.match(r"\*\*`([a-z0-9 ]+)`\*\*", para)
        if not m or "{" not in para:
            continue
        start, depth, keys, optional = para.index("{"), 0, set(), set()
        i = start
        while i < len(para):
            c = para[i]
            depth += c == "{"
            depth -= c == "}"
            if depth == 0:
                break
            k = re.match(r'"(\w+)"(\?)?', para[i:])
            if depth == 1 and k:
                keys.add(k.group(1))
                if k.group(2):
                    optional.add(k.group(1))
                i += k.end()
                continue
            i += 1
        each = re.search(r"each \w+ has `([\w, ]+)`", para)
        out[m.group(1)] = (keys, optional, {k.strip() for k in each.group(1).split(",")} if each else set())
    return out


def _shape_of(args: list[str], shapes: dict) -> str:
    return " ".join(args[:2]) if " ".join(args[:2]) in shapes else args[0]


SHAPED = [c for c in CASES if c[1][0] != "ls"]   # ls prints its table's rows: their keys are the columns


@pytest.mark.parametrize("case", SHAPED, ids=[c[0] for c in SHAPED])
def test_contract_shapes_match_the_commands(case, samples_store, roi_files):
    """Every documented key is printed, nothing undocumented is printed at the top level, and list items carry
    the keys the contract names."""
    shapes = _contract_shapes()
    _, args, call = case
    cmd = _shape_of(args, shapes)
    assert cmd in shapes, f"docs/contract.md has no JSON shape for {cmd}"
    keys, optional, item_keys = shapes[cmd]
    doc = call(workbench.open(samples_store), roi_files).to_dict()
    if isinstance(doc, list):   # prom series: a list of the documented object
        assert doc and all(set(d) == keys for d in doc), (cmd, keys)
        return
    assert keys - optional <= set(doc) <= keys, f"{cmd}: documented {sorted(keys)}, printed {sorted(doc)}"
    lists = [v for v in doc.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if item_keys:
        assert lists and all(item_keys <= set(item) for item in lists[0]), (cmd, item_keys, sorted(lists[0][0]))


def test_every_contract_shape_is_checked():
    shapes = _contract_shapes()
    run = {_shape_of(a, shapes) for _, a, _ in SHAPED}
    assert set(shapes) - run <= {"vacuum"}, f"shapes no case runs: {sorted(set(shapes) - run)}"   # vacuum: a writer
