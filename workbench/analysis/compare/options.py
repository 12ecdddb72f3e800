"""What `compare` and `abtest` are asked: the metrics and the playbook's targets, the steady-state window,
tolerances, run lists and targets files (all parsed with one-line errors)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from workbench import gate
from workbench.durations import parse_duration_s
from workbench.errors import WorkbenchError

METRICS = ("p50_ms", "p95_ms", "p99_ms", "rps", "error_rate", "rate_5xx")

QUANTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}

HIGHER_IS_BETTER = {"rps"}

PROPORTIONS = {"error_rate", "rate_5xx"}



# The playbook's success metrics (reported, not enforced, unless a targets file says required)
PLAYBOOK_TARGETS = [
    {"endpoint": "all", "metric": "p95_ms", "change_pct": -20.0, "required": False},
    {"endpoint": "all", "metric": "rps", "change_pct": 30.0, "required": False},
    {"endpoint": "all", "metric": "rate_5xx", "change_pct": -50.0, "required": False},
]



RESOURCE_METRICS = ("cpu", "memory")   # Prometheus presets whose series compare reports per arm

MIN_REQUESTS = 20

MIN_ACTIVE_WINDOWS = 10   # fewer busy windows than this: no drift-aware interval (requests in a burst)



@dataclass
class Options:
    """What is compared: steady-state window, scenario, significance level, adjustment."""

    skip_s: float = 0.0
    until_s: float | None = None      # offset from the run's start; negative = from its end
    scenario: str | None = None
    alpha: float = 0.05
    adjust: str = "holm"              # holm | bh | none
    windows: int = 40                 # time windows per run (drift-aware SEs work on window sums)
    tolerance: dict[str, Tolerance] = field(default_factory=dict)   # metric -> tolerance (else the defaults)
    auto_tolerance: dict[tuple[str, str], Tolerance] | None = None  # learned from baseline runs
    run_sd: float = 0.02              # assumed run-to-run sd (log scale) when each arm has one run
    min_tail: int = gate.MIN_TAIL     # requests above a quantile in each arm before it gets a p-value
    strict: bool = False              # the gate also fails on inconclusive rows
    allow_missing: bool = False       # endpoints in one arm only do not fail the gate



def parse_duration(text: str | float | None) -> float | None:
    """'30s', '2m', '1m30s', '500ms', '-30s' or a number of seconds -> seconds (None when not given)."""
    if text is None or text == "":
        return None
    return parse_duration_s(text, signed=True, example="30s, 2m, 1m30s or 500ms")



def split_runs(spec: str | list[str]) -> list[str]:
    runs = list(dict.fromkeys(r.strip() for r in (spec.split(",") if isinstance(spec, str) else spec) if r.strip()))
    if not runs:
        raise WorkbenchError("no run given: pass RUN or RUN,RUN,...")
    return runs



def split_arms(before: str | list[str], after: str | list[str]) -> tuple[list[str], list[str]]:
    """(before runs, after runs); the same set on both sides is allowed (every difference is then 0),
    a run in both of two different sets is not: its run effect would sit on both sides of the difference,
    which the random-effects model takes for independent runs."""
    rb, ra = split_runs(before), split_runs(after)
    shared = [r for r in rb if r in ra]
    if shared and set(rb) != set(ra):
        raise WorkbenchError(f"run(s) {', '.join(shared)} in both --before and --after: give each arm its own runs "
                             "(or the very same runs on both sides, which compares a set with itself)")
    return rb, ra



@dataclass
class Tolerance:
    """A metric's practical-change tolerance: REL_PCT of the baseline, plus ABS_PP percentage points
    for proportions (error_rate, rate_5xx)."""

    rel_pct: float
    abs_pp: float = 0.0

    def text(self, metric: str) -> str:
        if metric in PROPORTIONS:
            return f"±({self.abs_pp:g}pp + {self.rel_pct:g}%)"
        return f"±{self.rel_pct:g}%"

    def bounds(self, metric: str, before: float | None) -> tuple[float, float]:
        """(low, high) on the test scale: log ratio for latency and rps, difference for proportions."""
        if metric in PROPORTIONS:
            t = self.abs_pp / 100 + self.rel_pct / 100 * (before or 0.0)
            return -t, t
        return math.log1p(-min(self.rel_pct, 99.0) / 100), math.log1p(self.rel_pct / 100)



DEFAULT_TOLERANCE = {"p50_ms": Tolerance(5.0), "p95_ms": Tolerance(5.0), "p99_ms": Tolerance(5.0),
                     "rps": Tolerance(5.0), "error_rate": Tolerance(10.0, 0.1), "rate_5xx": Tolerance(10.0, 0.1)}



AUTO_TOLERANCE_K = 3.0      # --tolerance auto: this many baseline run-to-run sds

AUTO_TOLERANCE_FLOOR_PCT = 1.0



def parse_tolerances(specs: list[str] | tuple[str, ...] | dict | None) -> dict[str, Tolerance]:
    """'p95_ms=5%', 'error_rate=0.2pp+10%', 'rps=8' (percent) -> {metric: Tolerance}; a dict (targets
    file) maps metric -> the same strings. 'auto' is handled by the caller."""
    out: dict[str, Tolerance] = {}
    items = specs.items() if isinstance(specs, dict) else [str(s).split("=", 1) for s in specs or []]
    for item in items:
        if len(item) != 2 or item[0].strip() not in METRICS:
            raise WorkbenchError(f"--tolerance {'='.join(map(str, item))}: use METRIC=5% or METRIC=0.2pp+10% "
                                 f"with METRIC one of {', '.join(METRICS)}")
        metric, text = item[0].strip(), str(item[1]).replace(" ", "")
        m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)pp)?\+?(?:(\d+(?:\.\d+)?)%?)?", text)
        if not text or m is None or (m.group(1) is None and m.group(2) is None):
            raise WorkbenchError(f"--tolerance {metric}={text}: use a percentage (5%) or, for rates, "
                                 "points plus a percentage (0.2pp+10%)")
        out[metric] = Tolerance(float(m.group(2) or 0.0), float(m.group(1) or 0.0))
    return out



def _read_yaml(path: str) -> Any:
    import yaml

    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except OSError as e:
        raise WorkbenchError(f"cannot read targets file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise WorkbenchError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e
    except UnicodeDecodeError as e:
        raise WorkbenchError(f"{path}: not a YAML text file (byte {e.start} is not UTF-8)") from None



def load_targets(path: str | None) -> list[dict[str, Any]]:
    """A YAML list of {metric, change_pct, endpoint: all, required: true} (or a mapping whose `targets:`
    holds it); None -> the playbook's, reported but not required."""
    if path is None:
        return [dict(t) for t in PLAYBOOK_TARGETS]
    data = _read_yaml(path)
    if isinstance(data, dict):
        data = data.get("targets", [] if "tolerance" in data else None)
    if not isinstance(data, list):
        raise WorkbenchError(f"{path}: expected a YAML list of targets (- metric: p95_ms, change_pct: -20)")
    out = []
    for i, t in enumerate(data, 1):
        if not isinstance(t, dict) or t.get("metric") not in METRICS + RESOURCE_METRICS or "change_pct" not in t:
            raise WorkbenchError(f"{path}: target {i} needs metric (one of {', '.join(METRICS + RESOURCE_METRICS)}) "
                                 "and change_pct")
        out.append({"endpoint": str(t.get("endpoint", "all")), "metric": t["metric"],
                    "change_pct": float(t["change_pct"]), "required": bool(t.get("required", True))})
    return out



def load_tolerances(path: str | None) -> dict[str, Tolerance]:
    """The `tolerance:` mapping of a targets file ({p95_ms: 5%, error_rate: 0.2pp+10%}); {} without one."""
    if path is None:
        return {}
    data = _read_yaml(path)
    if not isinstance(data, dict) or "tolerance" not in data:
        return {}
    if not isinstance(data["tolerance"], dict):
        raise WorkbenchError(f"{path}: tolerance must be a mapping, e.g. tolerance: {{p95_ms: 5%}}")
    try:
        return parse_tolerances(data["tolerance"])
    except WorkbenchError as e:
        raise WorkbenchError(f"{path}: {e}") from e



def notebook_options(skip: str | float | None = "0s", until: str | float | None = "",
                     scenario: str | None = "") -> Options:
    """Options from the notebooks' string parameters ('' = not given)."""
    return Options(skip_s=parse_duration(skip) or 0.0, until_s=parse_duration(until), scenario=scenario or None)
