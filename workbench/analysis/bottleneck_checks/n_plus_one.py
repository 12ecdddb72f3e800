"""N+1 suspects: a cheap, frequent statement whose call count tracks one endpoint's request count.

Over the snapshots taken during a run (e.g. every 10 s), each interval has a call delta per statement
and a request count per endpoint (k6 samples whose time falls in the interval). A statement called
about k times per request of endpoint E rises and falls with E's traffic: its calls correlate with E's
requests across the intervals, and calls / requests is k. Other statements (pgbench, background jobs)
do not follow E. The correlation's p-value lowers the confidence; ties go to the endpoint with the
higher correlation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from workbench.analysis.bottleneck_checks import Finding, finding, volume_confidence
from workbench.analysis.bottleneck_checks.database import statement_label

MAX_MEAN_MS = 2.0            # "tiny": an N+1 statement is cheap per call; its count is the problem
MIN_CALLS = 50               # over the whole window
MIN_INTERVALS = 3            # a correlation needs at least three points
MIN_CORRELATION = {"low": 0.95, "medium": 0.9, "high": 0.8}


def n_plus_one(calls: pd.DataFrame, requests: pd.DataFrame, statements: pd.DataFrame,
               sensitivity: str) -> list[Finding]:
    """CALLS: intervals x queryid call deltas; REQUESTS: the same intervals x endpoint request counts;
    STATEMENTS: the window's statement deltas (queryid, query, calls, mean_exec_time_ms)."""
    out: list[Finding] = []
    if calls is None or requests is None or calls.empty or requests.empty or len(calls) < MIN_INTERVALS:
        return out
    requests = requests.reindex(calls.index).fillna(0.0)
    total_calls = float(calls.to_numpy().sum())
    meta = statements.drop_duplicates("queryid").set_index("queryid") if statements is not None else pd.DataFrame()
    for qid in calls.columns:
        c = calls[qid].to_numpy(dtype="float64")
        if c.sum() < MIN_CALLS or np.ptp(c) == 0 or qid not in meta.index:
            continue
        mean_ms = float(meta.at[qid, "mean_exec_time_ms"])
        if not mean_ms < MAX_MEAN_MS:
            continue
        best = None
        for ep in requests.columns:
            q = requests[ep].to_numpy(dtype="float64")
            if q.sum() <= 0 or np.ptp(q) == 0:
                continue
            r, p = stats.pearsonr(c, q)
            if best is None or r > best[1]:
                best = (ep, float(r), float(p), float(c[q > 0].sum() / q.sum()))
        if best is None or best[1] < MIN_CORRELATION[sensitivity]:
            continue
        ep, r, p, per_request = best
        f = finding("database", "n_plus_one", f"{statement_label(meta.loc[qid].to_dict() | {'queryid': qid})}"
                    f" — N+1 suspect for endpoint {ep}", per_request, sensitivity,
                    impact=c.sum() / total_calls if total_calls else 0.0,
                    confidence=(1.0 - p) * volume_confidence(len(c), 6, 0.3),
                    evidence={"queryid": qid, "endpoint": ep, "calls_per_request": per_request,
                              "correlation": r, "p_value": p, "intervals": len(c), "calls": float(c.sum()),
                              "requests": float(requests[ep].sum()), "mean_exec_time_ms": mean_ms})
        if f is not None:
            out.append(f)
    return out
