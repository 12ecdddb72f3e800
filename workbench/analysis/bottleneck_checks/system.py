"""System detectors over the Prometheus `cpu` and `memory` presets: a process near its host's capacity.

The presets measure CPU seconds per second and resident bytes per (job, instance); the capacity
(cores, memory bytes) is not in those series, so it is a parameter: by default this machine's, which
is right for the lab (everything on one host) and is marked as an assumption in the evidence and the
confidence otherwise.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from workbench.analysis.bottleneck_checks import Finding, finding

ASSUMED_CONFIDENCE = 0.6


def host_capacity() -> tuple[float, float]:
    """(cores, memory bytes) of this machine."""
    cores = float(os.cpu_count() or 1)
    try:
        mem = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        mem = float("nan")
    return cores, mem


def saturation(frame: pd.DataFrame, kind: str, sensitivity: str, capacity: float, assumed: bool,
               set_name: str = "") -> list[Finding]:
    """FRAME: a `series_frame` (ts, value, labels) of a cpu or memory set, already cut to the window.
    The value judged is each series' 95th percentile over the window divided by CAPACITY."""
    out: list[Finding] = []
    if frame is None or frame.empty or not capacity or not np.isfinite(capacity):
        return out
    check = "cpu" if kind == "cpu" else "memory"
    for labels, g in frame.groupby("labels"):
        v = g["value"].replace([np.inf, -np.inf], np.nan).dropna()
        if v.empty:
            continue
        p95 = float(np.percentile(v, 95))
        f = finding("system", check, f"{check.upper() if check == 'cpu' else 'memory'} of {labels}",
                    p95 / capacity, sensitivity, impact=1.0,
                    confidence=ASSUMED_CONFIDENCE if assumed else 1.0,
                    evidence={"series_set": set_name, "p95": p95, "max": float(v.max()), "capacity": capacity,
                              "capacity_assumed": assumed, "points": int(len(v))})
        if f is not None:
            out.append(f)
    return out
