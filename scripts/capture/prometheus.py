"""Capture tests/data/prometheus/: edge-case responses from a real Prometheus 2.42 scraping two lab target
apps every second, saved byte for byte for the offline parser tests.

    python scripts/capture/prometheus.py --test-data

The bundled data/samples/prometheus/ ranges come from the lab loop instead (scripts/capture/lab.py).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from workbench.lab.common import LOOPBACK, free_port
from workbench.lab.prometheus import serve_closing, start_prometheus
from workbench.lab.target import TargetApp


def capture_test_responses(dest: Path) -> None:
    """Edge-case responses from a real Prometheus for the offline parser tests (tests/data/prometheus):
    NaN/±Inf, vector, scalar, string, raw matrix with per-series timestamps, a scrape gap, warnings with
    no data (failing remote read), and error envelopes (bad PromQL, over 11,000 points)."""
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wb-prom-edge-"))
    ports = {"a": free_port(), "b": free_port()}
    targets = {k: serve_closing(TargetApp("before", seed=i), p) for i, (k, p) in enumerate(ports.items())}
    server = start_prometheus(work, {"api": [f"{LOOPBACK}:{p}" for p in ports.values()]})
    try:
        for p in ports.values():
            httpx.get(f"http://{LOOPBACK}:{p}/api/events?user=u1")
        time.sleep(9)
        t0 = int(time.time())
        targets["b"].shutdown()
        targets["b"].server_close()
        time.sleep(4)
        targets["b"] = serve_closing(TargetApp("before", seed=9), ports["b"])
        httpx.get(f"http://{LOOPBACK}:{ports['b']}/api/events?user=u1")
        time.sleep(4)
        end = int(time.time()) - 1

        def save(name: str, endpoint: str, **params: object) -> None:
            resp = httpx.get(f"{server.url}/api/v1/{endpoint}", params=params, timeout=30)
            (dest / f"{name}.json").write_bytes(resp.content)

        specials = ('label_replace(vector(1)/0, "v", "pos", "", "") or label_replace(vector(-1)/0, "v", "neg",'
                    ' "", "") or label_replace(vector(0)/0, "v", "nan", "", "")')
        save("range_specials", "query_range", query=specials, start=end - 4, end=end, step=1)
        save("range_gap", "query_range", query='http_requests_total{handler="/api/events"}', start=t0 - 3,
             end=end, step=1)
        save("instant_vector", "query", query="up")
        save("instant_scalar", "query", query="1/0")
        save("instant_string", "query", query='"hello"')
        save("instant_raw_matrix", "query", query="up[4s]")
        save("range_warnings_empty", "query_range", query='up{remote="broken"}', start=end - 4, end=end, step=1)
        save("error_bad_data", "query_range", query="sum(rate(up[5m])", start=end - 4, end=end, step=1)
        save("error_too_many_points", "query_range", query="vector(1)", start=end - 5 * 3600, end=end, step=1)
    finally:
        server.stop()
        for t in targets.values():
            t.shutdown()
            t.server_close()


if __name__ == "__main__":
    import sys

    root = Path(__file__).resolve().parents[2]
    if sys.argv[1:] != ["--test-data"]:
        sys.exit("usage: python scripts/capture/prometheus.py --test-data  (data/samples/ comes from "
                 "scripts/capture_samples.py)")
    capture_test_responses(root / "tests" / "data" / "prometheus")
