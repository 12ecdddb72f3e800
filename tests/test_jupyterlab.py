"""JupyterLab as an entry point: `make lab` serves the notebooks on loopback, and one notebook runs through the
server's own kernel (REST for the session, the kernel's websocket channel for each cell); and notebooks are
committed without outputs, so their diffs show code only."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from workbench.lab.common import free_port

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c.get("outputs") or
                                                                                  c.get("execution_count"))]
        assert not dirty, f"{nb.name}: cells {dirty} carry outputs; clear them (Edit > Clear All Outputs) before committing"


def _execute(ws, code: str, timeout_s: float = 120) -> tuple[str, list[dict]]:
    """Run CODE on the kernel behind WS; (reply status, the iopub messages of that request)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({"header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                                   "msg_type": "execute_request", "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                        "content": {"code": code, "silent": False, "store_history": True,
                                    "user_expressions": {}, "allow_stdin": False}}))
    iopub, status, deadline = [], None, time.monotonic() + timeout_s
    idle = False
    while (status is None or not idle) and time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["channel"] == "shell" and msg["msg_type"] == "execute_reply":
            status = msg["content"]["status"]
        elif msg["channel"] == "iopub":
            iopub.append(msg)
            idle = idle or (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle")
    return status or "timeout", iopub


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to `make lab`'s process group (make and the server), SIGKILL after 30 s."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait_s)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.timeout(300)
def test_make_lab_serves_the_notebooks_and_runs_one_through_its_kernel(tmp_path):
    import websocket

    from workbench.demo import build_demo_store

    build_demo_store(ROOT / "data" / "demo.duckdb", ROOT / "data" / "samples")   # what `make demo` leaves
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    env.pop("MPLBACKEND", None)   # the suite's Agg would hide the figures an analyst sees inline
    log = (tmp_path / "lab.log").open("w")
    venv = Path(os.sys.executable).parent.parent   # the environment running the tests
    proc = subprocess.Popen(["make", "-s", "lab", f"JUPYTER_PORT={port}", f"VENV={venv}"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    try:
        deadline, page = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"{base}/lab", headers=auth, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert page is not None and page.status_code == 200, (tmp_path / "lab.log").read_text()[-2000:]
        assert "JupyterLab" in page.text
        assert httpx.get(f"{base}/api/contents/notebooks", timeout=10).status_code == 403   # no token, no data

        listing = httpx.get(f"{base}/api/contents/notebooks", headers=auth, timeout=10).json()
        assert {c["name"] for c in listing["content"]} >= {nb.name for nb in NOTEBOOKS}
        path = "notebooks/30_cache_and_metrics.ipynb"
        nb = httpx.get(f"{base}/api/contents/{path}", headers=auth, timeout=10).json()
        assert nb["type"] == "notebook" and nb["content"]["cells"]

        session = httpx.post(f"{base}/api/sessions", headers=auth, timeout=60,
                             json={"path": path, "type": "notebook", "kernel": {"name": "python3"}}).json()
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{session['kernel']['id']}/channels",
                                         header=[f"Authorization: token {token}"], timeout=120)
        try:
            outputs = []
            for cell in nb["content"]["cells"]:
                if cell["cell_type"] != "code":
                    continue
                status, iopub = _execute(ws, cell["source"])
                errors = [m["content"] for m in iopub if m["msg_type"] == "error"]
                assert status == "ok" and not errors, (cell["source"][:200], errors)
                outputs += [m for m in iopub if m["msg_type"] in ("display_data", "execute_result", "stream")]
        finally:
            ws.close()
        text = json.dumps([m["content"] for m in outputs])
        assert "image/png" in text, "the notebook drew no figure"
        assert "hit ratio" in text.lower(), "the cache verdict is missing"
        httpx.delete(f"{base}/api/sessions/{session['id']}", headers=auth, timeout=30)
    finally:
        _stop(proc)
        log.close()
    time.sleep(0.5)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/lab", timeout=2)
