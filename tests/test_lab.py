"""`workbench lab`: the missing-package error, and the whole loop end to end through the CLI's JSON.

The end-to-end test starts the real lab (PostgreSQL 15, Redis, the Starlette API, Prometheus, the
exporters, k6) on free loopback ports in a temp dir, runs `lab run --short`, reads the verdicts with
`compare`, `abtest` and `redis stats --format json`, and checks that `lab down` leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_postgres_secrets import strings_containing

from workbench.lab.common import port_open
from workbench.lab.requirements import pg_bin_dir
from workbench.lab.stack import alive, start_ticks

ROOT = Path(__file__).resolve().parent.parent
WORKBENCH = str(Path(sys.executable).parent / "workbench")


def _wb(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _path_without(tmp_path: Path, missing: set[str]) -> str:
    """A PATH directory with links to the lab's Debian binaries except MISSING (a machine without them)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("redis-server", "prometheus", "prometheus-redis-exporter", "prometheus-postgres-exporter"):
        real = shutil.which(name)
        if name not in missing and real:
            (bin_dir / name).symlink_to(real)
    return str(bin_dir)


@pytest.mark.parametrize("missing,pg_bin,expected", [
    ({"redis-server"}, None, "apt-get install -y redis-server`"),
    ({"redis-server", "prometheus"}, "/nonexistent/pg15/bin", "apt-get install -y postgresql-15 prometheus redis-server`"),
])
def test_lab_up_without_packages_fails_fast_with_the_install_line(tmp_path, missing, pg_bin, expected):
    lab = tmp_path / "lab"
    env = {"PATH": _path_without(tmp_path, missing), "WORKBENCH_PG_BIN": pg_bin or str(pg_bin_dir())}
    elapsed = []
    for _ in range(3):   # the best of three: other jobs on a shared machine can stall any one start
        t0 = time.monotonic()
        res = _wb("lab", "up", "--dir", str(lab), env=env, timeout=30)
        elapsed.append(time.monotonic() - t0)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lab up: missing Debian package"), res.stderr
    sudo = "" if os.geteuid() == 0 else "sudo "
    assert f"`{sudo}{expected}" in lines[0]
    assert "make lab-deps" in lines[0]
    assert not lab.exists(), "nothing may start (or be written) before the check"
    assert min(elapsed) < 1.0, f"took {', '.join(f'{t:.2f}' for t in elapsed)} s"


def _json(res: subprocess.CompletedProcess, ok=(0,)) -> dict:
    assert res.returncode in ok, res.stderr[-3000:]
    return json.loads(res.stdout)


def _row(result: dict, endpoint: str, metric: str) -> dict:
    return next(r for r in result["results"] if r["endpoint"] == endpoint and r["metric"] == metric)


def _lab_processes(pg_dir: str) -> list[int]:
    """Pids of any process whose command line mentions the lab's PostgreSQL directory."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if pg_dir.encode() in (p / "cmdline").read_bytes():
                    out.append(int(p.name))
            except OSError:
                pass
    return out


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.timeout(420)
def test_lab_loop_end_to_end(tmp_path):
    lab, db, reports = tmp_path / "lab", tmp_path / "lab.duckdb", tmp_path / "reports"
    common = ["--dir", str(lab)]
    try:
        up = _wb("lab", "up", "--short", *common)
        assert up.returncode == 0, up.stderr[-3000:]
        status = _json(_wb("lab", "status", "--format", "json", *common))
        assert status["up"] and {"postgres", "redis", "api", "prometheus"} <= set(status["services"])
        pg_dir = str((lab / "postgres").resolve())
        recorded = json.loads((lab / "state.json").read_text())["processes"]   # pids with their start times

        run = _wb("--db", str(db), "lab", "run", "--short", "--out", str(reports), "--format", "json", *common)
        outcome = _json(run)
        assert outcome["before"] == ["lab-pre"] and outcome["after"] == ["lab-post"]
        fixes = outcome["fixes"]   # chosen from the findings and the advisor, applied statistics-first
        index = [f for f in fixes if f.startswith("index security_events_")]   # the advisor's, verified
        assert "analyze public.security_events" in fixes and index, fixes
        assert fixes.index("analyze public.security_events") < fixes.index(index[0]), fixes
        assert fixes[-2:] == ["permissions_join", "cache_warming"], fixes
        assert "http_req_duration" in run.stderr and "p(95)<1000" in run.stderr   # k6's own summary

        cmp = _json(_wb("--db", str(db), "compare", "--before", "lab-pre", "--after", "lab-post", "--format", "json"),
                    ok=(0, 1))
        events = _row(cmp, "/api/events", "p95_ms")
        assert events["verdict"] == "improved", events
        assert events["ci_high_pct"] < 0, events

        ab = _json(_wb("--db", str(db), "abtest", "--run", "lab-pre", "--variant-tag", "variant", "--control",
                       "standard", "--treatment", "optimized", "--split", "25", "--format", "json"), ok=(0, 1))
        assert ab["srm"]["passed"], ab["srm"]
        ab_events = _row(ab, "/api/events", "p50_ms")
        assert ab_events["after"] < ab_events["before"] and ab_events["verdict"] == "improved", ab_events

        top = {}
        for arm in ("lab-pre", "lab-post"):
            found = _json(_wb("--db", str(db), "bottlenecks", "--run", arm, "--component", "database",
                              "--format", "json"))["findings"]
            top[arm] = " ".join(found[0]["item"].split()) if found else ""
        events_statement = "FROM security_events WHERE created_at > now() - interval"
        assert events_statement in top["lab-pre"], top      # the unindexed events statement leads before ...
        assert events_statement not in top["lab-post"], top  # ... and no longer after the index

        snaps = outcome["snapshots"]
        hit = {}
        for arm in ("lab-pre", "lab-post"):
            ids = snaps[arm]["redis"]
            stats = _json(_wb("--db", str(db), "redis", "stats", "--from", str(ids[0]), "--to", str(ids[-1]),
                              "--format", "json"))
            hit[arm] = stats["hit_ratio"]
        assert hit["lab-post"] > hit["lab-pre"], hit
        assert len(outcome["reports"]) >= 5 and all(Path(r).exists() for r in outcome["reports"])

        password = json.loads((lab / "state.json").read_text())["pg"]["password"]   # the lab's own secret
        assert strings_containing(db, password) == []
        assert not any(password in Path(r).read_text() for r in outcome["reports"])
        assert password not in run.stdout + run.stderr
    finally:
        down = _wb("lab", "down", *common)
    assert down.returncode == 0, down.stderr
    for name, proc in recorded.items():   # gone, or an exit status its parent has not collected yet
        assert not alive(proc), f"{name} (pid {proc['pid']}) still runs"
        assert not port_open(proc["port"]), f"{name}'s port {proc['port']} still listens"
    assert _lab_processes(pg_dir) == []
    assert not Path(pg_dir).exists()


def test_down_stops_only_the_recorded_processes(tmp_path):
    """A recorded pid whose start time differs (reused by another program) is left alone; ours is stopped."""
    from workbench.lab.stack import LabState, down

    ours, other = subprocess.Popen(["sleep", "60"]), subprocess.Popen(["sleep", "60"])
    try:
        LabState(dir=tmp_path, processes={
            "api": {"pid": ours.pid, "start_ticks": start_ticks(ours.pid), "port": None, "log": None},
            "redis": {"pid": other.pid, "start_ticks": start_ticks(other.pid) - 1, "port": None, "log": None},
        }).save()
        assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
        assert down(tmp_path) == ["api"]
        assert ours.wait(5) is not None
        assert other.poll() is None, "a process the lab did not start was signalled"
        assert not (tmp_path / "state.json").exists()
    finally:
        for p in (ours, other):
            p.kill()
            p.wait()


def test_a_failing_step_is_named_and_the_lab_left_alone(tmp_path):
    """PostgreSQL not listening (a crashed lab server): the error names the step and says the lab is still up."""
    from workbench.lab.common import free_port
    from workbench.lab.loop import Plan, StepFailed, run_loop
    from workbench.lab.stack import LabState

    state = LabState(dir=tmp_path, pg={"port": free_port(), "user": "lab", "password": "pw", "dbname": "lab",
                                       "socket_dir": str(tmp_path)}, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    steps: list[str] = []
    with pytest.raises(StepFailed, match=r"at step 'baseline snapshots': .*the lab is still up"):
        run_loop(state, Plan(db=str(tmp_path / "wb.duckdb")), say=lambda s: None, step=steps.append)
    assert steps == ["baseline snapshots"]


def test_fixes_follow_the_findings_and_the_advisor():
    """Each fix is named by a finding (the index by the advisor, for that statement's queryid); findings the lab
    cannot fix are said, not silently mapped to a planted fix."""
    from workbench.analysis.advisor import AdvicePlan, IndexAdvice
    from workbench.analysis.bottleneck_checks import Finding
    from workbench.lab.loop import fixes_for

    def finding(component, check, item, value=1.0, **evidence):
        return Finding(component, check, item, value, 0.1, "", 0.5, 0.5, 1.0, evidence)

    ix = IndexAdvice("public.security_events", ("severity_level", "created_at"), [11, 12], ["q1", "q2"], 10, 5.0,
                     True, saving=0.9)
    plan = AdvicePlan("h:1/lab", 1, 2, 0.5, True, None, indexes=[ix])
    found = [finding("cache", "hit_ratio", "Redis 127.0.0.1:1 keyspace hit ratio", 0.4),
             finding("database", "statement_time", "SELECT ... events", queryid=11),
             finding("database", "statement_time", "SELECT ... events again", queryid=12),
             finding("database", "statement_time", "SELECT ... other", queryid=99),
             finding("database", "stale_stats", "public.security_events", 0.9),
             finding("database", "n_plus_one", "SELECT permission_name ...", endpoint="/api/users/{id}",
                     calls_per_request=4.0),
             finding("database", "n_plus_one", "SELECT x ...", endpoint="/api/other")]
    fixes, notes = fixes_for(found, plan)
    assert [f.name for f in fixes] == ["analyze public.security_events", f"index {ix.name}", "permissions_join",
                                       "cache_warming"]
    assert [f.name for f in fixes_for(found, None)[0]] == ["analyze public.security_events", "permissions_join",
                                                           "cache_warming"]   # indexes wait for the advisor
    assert any("queryid 99" in n for n in notes) and any("/api/other" in n for n in notes)
    assert fixes_for([], plan) == ([], [])
    no_advice, notes = fixes_for(found[1:2], AdvicePlan("h:1/lab", 1, 2, 0.5, False, "no hypopg"))
    assert no_advice == [] and "advisor proposes none" in notes[0]
