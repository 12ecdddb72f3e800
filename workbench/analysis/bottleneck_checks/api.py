"""API detectors over one k6 run: p95 against the SLO, errors and their spikes, failing checks and
thresholds, and endpoints whose latency grows with load (the slope of latency against concurrent RPS)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from workbench.analysis.bottleneck_checks import Finding, finding, rate_confidence, volume_confidence
from workbench.analysis.bottleneck_checks.rules import RULES

MIN_BUCKET_REQUESTS = 5
MIN_BUCKETS = 4
SLOPE_MAX_P = {"low": 0.01, "medium": 0.05, "high": 0.1}


def _endpoints(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["endpoint"] != "all"] if table is not None and not table.empty else pd.DataFrame()


def slo(endpoints: pd.DataFrame, sensitivity: str, run: str = "") -> list[Finding]:
    """Endpoints whose p95 is over the SLO (ENDPOINTS: `load_test.endpoint_table`)."""
    eps = _endpoints(endpoints)
    total = float(eps["requests"].sum()) if not eps.empty else 0.0
    out = []
    for r in eps.to_dict("records"):
        f = finding("api", "p95_slo", f"endpoint {r['endpoint']}", float(r["p95_ms"]), sensitivity,
                    impact=r["requests"] / total if total else 0.0,
                    confidence=volume_confidence(r["requests"], 100, 0.3),
                    evidence={"run": run, "requests": int(r["requests"]), "p50_ms": r["p50_ms"],
                              "p95_ms": r["p95_ms"], "p99_ms": r["p99_ms"], "rps": r["rps"]})
        if f is not None:
            out.append(f)
    return out


def errors(endpoints: pd.DataFrame, peaks: pd.DataFrame | None, sensitivity: str, run: str = "") -> list[Finding]:
    """Error and 5xx rates per endpoint; a spike (PEAKS: endpoint, peak_error_rate, peak_at over 10-s
    buckets) fires with lower confidence when the run's overall rate stays under the threshold."""
    eps = _endpoints(endpoints)
    total = float(eps["requests"].sum()) if not eps.empty else 0.0
    peak = peaks.set_index("endpoint") if peaks is not None and not peaks.empty else pd.DataFrame()
    out = []
    for r in eps.to_dict("records"):
        rate = max(float(r.get("error_rate") or 0), float(r.get("rate_5xx") or 0))
        ev = {"run": run, "requests": int(r["requests"]), "error_rate": r.get("error_rate"), "rate_5xx": r.get("rate_5xx")}
        if r["endpoint"] in peak.index:
            ev.update(peak_error_rate=peak.at[r["endpoint"], "peak_error_rate"], peak_at=peak.at[r["endpoint"], "peak_at"])
        impact = r["requests"] / total if total else 0.0
        limit = RULES["api:errors"].threshold(sensitivity)
        f = finding("api", "errors", f"endpoint {r['endpoint']} errors", rate, sensitivity, impact=impact,
                    confidence=rate_confidence(rate * r["requests"], r["requests"], limit), evidence=ev)
        if f is None and ev.get("peak_error_rate") is not None:
            f = finding("api", "errors", f"endpoint {r['endpoint']} error spike", float(ev["peak_error_rate"]),
                        sensitivity, impact=impact, confidence=0.5, evidence=ev)
        if f is not None:
            out.append(f)
    return out


def checks(checks_table: pd.DataFrame, thresholds: pd.DataFrame, sensitivity: str, run: str = "") -> list[Finding]:
    """Failing k6 checks (`load_test.checks_table`) and crossed thresholds (`load_test.thresholds_frame`)."""
    out = []
    if checks_table is not None and not checks_table.empty:
        total = float((checks_table["passes"] + checks_table["fails"]).sum())
        for r in checks_table.to_dict("records"):
            n = float(r["passes"] + r["fails"])
            f = finding("api", "checks", f"check {r['check']!r}", float(r["fails"]) / n if n else 0.0, sensitivity,
                        impact=n / total if total else 0.0,
                        confidence=rate_confidence(r["fails"], n, RULES["api:checks"].threshold(sensitivity)),
                        evidence={"run": run, "passes": int(r["passes"]), "fails": int(r["fails"])})
            if f is not None:
                out.append(f)
    if thresholds is not None and not thresholds.empty:
        for r in thresholds[~thresholds["ok"].astype(bool)].to_dict("records"):
            f = finding("api", "thresholds", f"k6 threshold {r['metric']}: {r['threshold']}", 1.0, sensitivity,
                        impact=1.0, evidence={"run": run, "metric": r["metric"], "threshold": r["threshold"]})
            if f is not None:
                out.append(f)
    return out


def latency_slope(buckets: pd.DataFrame, sensitivity: str, run: str = "") -> list[Finding]:
    """Endpoints whose median latency rises with the run's concurrent RPS.

    BUCKETS: one row per (time bucket, endpoint): endpoint, requests, p50_ms, total_rps (all endpoints'
    requests per second in the bucket). Per endpoint, an OLS fit of p50_ms on total_rps; the value is the
    relative growth over the observed load range, slope x (max - min RPS) / fitted latency at min RPS."""
    out = []
    if buckets is None or buckets.empty:
        return out
    total = float(buckets["requests"].sum())
    for ep, g in buckets.groupby("endpoint"):
        g = g[g["requests"] >= MIN_BUCKET_REQUESTS]
        if len(g) < MIN_BUCKETS or np.ptp(g["total_rps"].to_numpy()) == 0:
            continue
        fit = stats.linregress(g["total_rps"].to_numpy(float), g["p50_ms"].to_numpy(float))
        lo, hi = float(g["total_rps"].min()), float(g["total_rps"].max())
        base = fit.intercept + fit.slope * lo
        if fit.slope <= 0 or base <= 0 or fit.pvalue > SLOPE_MAX_P[sensitivity]:
            continue
        growth = fit.slope * (hi - lo) / base
        f = finding("api", "latency_slope", f"endpoint {ep} latency vs load", growth, sensitivity,
                    impact=float(g["requests"].sum()) / total if total else 0.0,
                    confidence=(1 - fit.pvalue) * volume_confidence(len(g), 10, 0.3),
                    evidence={"run": run, "slope_ms_per_rps": fit.slope, "p_value": fit.pvalue, "r": fit.rvalue,
                              "rps_range": [lo, hi], "p50_ms_at_min_rps": base,
                              "p50_ms_at_max_rps": fit.intercept + fit.slope * hi, "buckets": len(g)})
        if f is not None:
            out.append(f)
    return out
