"""What an optimisation is worth: monthly benefit, payback, NPV, IRR and ROI, with their uncertainty.

The model (docs/roi.md has the formulas and the evidence table):

    infrastructure saving = before - after | a saving given directly | before x (CPU share x CPU % +
                            memory share x memory %) / 100
    revenue effect        = monthly_revenue x revenue_uplift_per_100ms x (p95 before - p95 after) / 100 ms
                            (or monthly_revenue x conversion_uplift_pct / 100: a measured conversion change)
    monthly benefit       = infrastructure saving + revenue effect - monthly_operational_cost_change
    cash flows            = month 0: -one_time_cost (undiscounted); months 1..H: monthly benefit
    NPV                   = sum over t of cash flow_t / (1 + r)^t, r = (1 + discount_rate_annual)^(1/12) - 1

Every numeric input is a number or a distribution (`triangular(low, mode, high)`, `normal(mean, sd)`,
`lognormal(median, sigma)`, `uniform(low, high)`, `pert(low, mode, high)`). The headline numbers put
every input at its median; a seeded, vectorised Monte Carlo gives P10/P50/P90 and P(NPV > 0), and the
tornado swings one input at a time over its P10-P90 with the rest at their medians.

`from_compare` takes the measured p95 change and its interval from the store through
`workbench.analysis.compare.compare_runs` (the function `workbench compare` runs), and the measured
CPU/memory change where Prometheus series cover the runs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.analysis.rounding import change_vs_target
from workbench.analysis.verdict import Verdict
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# -- latency-to-revenue evidence -----------------------------------------------------------------------
# Fraction of revenue per 100 ms of latency saved. Each row: what was measured, where, and how much
# weight it bears. The presets below are distributions built from these rows.
EVIDENCE: list[dict[str, str]] = [
    {"source": "Bing controlled experiments (Kohavi et al., 'Online Controlled Experiments at Large Scale', "
               "KDD 2013; Schurman & Brutlag, Velocity 2009)",
     "finding": "a 100 ms speed-up raised revenue by about 0.6%; injected 0.5-2 s delays cut revenue per user "
                "by 1.2-4.3%",
     "kind": "controlled experiment (randomised, large traffic)",
     "strength": "strong for that site and era; small effects; site-specific, and effects change as sites change"},
    {"source": "Google search delay experiments (Brutlag, 'Speed Matters for Google Web Search', 2009)",
     "finding": "100-400 ms of injected delay cut searches per user by 0.2-0.6%, persisting after the delay "
                "was removed",
     "kind": "controlled experiment (randomised)",
     "strength": "strong for engagement, indirect for revenue (searches, not sales)"},
    {"source": "Deloitte for Google, 'Milliseconds Make Millions' (2020)",
     "finding": "0.1 s faster mobile site speed went with +8.4% retail conversion (+10.1% travel) across 37 brands",
     "kind": "observational (no randomisation)",
     "strength": "weak for causation: confounded by brand and site changes; mobile page load, not API p95"},
    {"source": "Amazon, '100 ms of latency costs 1% of sales' (attributed to Greg Linden, 2006 talk)",
     "finding": "100 ms = 1% of sales",
     "kind": "anecdote (no published study or method)",
     "strength": "weakest: widely repeated, never published; use as an upper reference, not evidence"},
]

# elasticity preset -> (distribution text, what it assumes)
ELASTICITY_PRESETS: dict[str, tuple[str, str]] = {
    "conservative": ("pert(0, 0.002, 0.006)",
                     "the low end of the controlled experiments, allowing no effect: API p95 is not page load"),
    "published": ("pert(0.002, 0.005, 0.01)",
                  "the controlled experiments' range (0.2-1% per 100 ms), most likely about Bing's 0.5-0.6%"),
    "optimistic": ("pert(0.005, 0.01, 0.084)",
                   "the Amazon anecdote as most likely, up to the observational Deloitte figure"),
}
DEFAULT_ELASTICITY = "conservative"

# -- the inputs ----------------------------------------------------------------------------------------
NUMERIC_KEYS: dict[str, str] = {
    "horizon_months": "months the benefit is counted over (a whole number, > 0)",
    "discount_rate_annual": "annual discount rate, e.g. 0.10",
    "one_time_cost": "engineering cost, paid in month 0",
    "monthly_operational_cost_change": "extra running cost per month (negative: a saving)",
    "infrastructure_monthly_before": "infrastructure cost per month before the change",
    "infrastructure_monthly_after": "infrastructure cost per month after the change",
    "infrastructure_monthly_saving": "infrastructure saving per month, given directly",
    "cpu_reduction_pct": "CPU usage reduction in % (15 = 15% less)",
    "memory_reduction_pct": "memory usage reduction in %",
    "cpu_cost_share": "fraction of infrastructure_monthly_before that CPU drives (0..1)",
    "memory_cost_share": "fraction of infrastructure_monthly_before that memory drives (0..1)",
    "monthly_revenue": "revenue per month that the latency/conversion effect applies to",
    "revenue_uplift_per_100ms": "fraction of revenue gained per 100 ms of p95 saved (your own A/B result)",
    "conversion_uplift_pct": "a measured conversion change in % (replaces the latency route)",
    "p95_before_ms": "p95 latency before (ms)",
    "p95_after_ms": "p95 latency after (ms)",
}
OTHER_KEYS: dict[str, str] = {
    "elasticity": f"latency-to-revenue preset: {'|'.join(ELASTICITY_PRESETS)}",
    "from_compare": "{before: RUN[,RUN], after: RUN[,RUN], endpoint: NAME}: measured p95 (and CPU/memory)",
    "draws": "Monte Carlo draws (default 100000)",
    "seed": "Monte Carlo seed (default 0)",
}
DEFAULTS: dict[str, float] = {"horizon_months": 12, "discount_rate_annual": 0.10, "one_time_cost": 0.0,
                              "monthly_operational_cost_change": 0.0}
DRAWS, SEED = 100_000, 0
Z90 = 1.2815515655446004   # standard normal P90: the P10-P90 swing of the tornado


# -- distributions -------------------------------------------------------------------------------------
DIST_ARGS = {"triangular": ("low", "mode", "high"), "normal": ("mean", "sd"), "lognormal": ("median", "sigma"),
             "uniform": ("low", "high"), "pert": ("low", "mode", "high"), "fixed": ("value",)}


@dataclass(frozen=True)
class Dist:
    """A number or a distribution of one input: kind in DIST_ARGS, params in that order."""

    kind: str
    params: tuple[float, ...]

    @property
    def fixed(self) -> bool:
        return self.kind == "fixed"

    def __str__(self) -> str:
        if self.fixed:
            return f"{self.params[0]:g}"
        return f"{self.kind}({', '.join(f'{p:g}' for p in self.params)})"

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        p = self.params
        if self.kind == "fixed":
            return np.full(n, p[0])
        if self.kind == "triangular":
            return rng.triangular(p[0], p[1], p[2], n)
        if self.kind == "normal":
            return rng.normal(p[0], p[1], n)
        if self.kind == "lognormal":
            return rng.lognormal(math.log(p[0]), p[1], n)
        if self.kind == "uniform":
            return rng.uniform(p[0], p[1], n)
        a, b = self._pert_ab()
        return p[0] + (p[2] - p[0]) * rng.beta(a, b, n)

    def _pert_ab(self) -> tuple[float, float]:
        lo, mode, hi = self.params
        return 1 + 4 * (mode - lo) / (hi - lo), 1 + 4 * (hi - mode) / (hi - lo)

    def ppf(self, q: float) -> float:
        """The input's q-quantile (median: q = 0.5)."""
        p = self.params
        if self.kind == "fixed":
            return p[0]
        from scipy import stats as st

        if self.kind == "triangular":
            return float(st.triang.ppf(q, (p[1] - p[0]) / (p[2] - p[0]), loc=p[0], scale=p[2] - p[0]))
        if self.kind == "normal":
            return float(st.norm.ppf(q, p[0], p[1]))
        if self.kind == "lognormal":
            return float(p[0] * math.exp(p[1] * st.norm.ppf(q)))
        if self.kind == "uniform":
            return p[0] + q * (p[1] - p[0])
        a, b = self._pert_ab()
        return float(p[0] + (p[2] - p[0]) * st.beta.ppf(q, a, b))

    def support(self) -> tuple[float, float]:
        p = self.params
        if self.kind == "fixed":
            return p[0], p[0]
        if self.kind in ("triangular", "pert"):
            return p[0], p[2]
        if self.kind == "uniform":
            return p[0], p[1]
        if self.kind == "lognormal":
            return 0.0, math.inf
        return -math.inf, math.inf


_DIST_RE = re.compile(r"^\s*([a-z]+)\s*\(([^()]*)\)\s*$")


def parse_value(key: str, value: Any, where: str = "roi config") -> Dist:
    """A number, 'kind(a, b[, c])' or {kind: [a, b, c]} -> Dist, checked; errors name KEY."""
    if isinstance(value, bool):
        raise ConfigError(where, key, f"expected a number or a distribution, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ConfigError(where, key, f"expected a finite number, got {value!r}")
        return Dist("fixed", (float(value),))
    if isinstance(value, str):
        m = _DIST_RE.match(value)
        if not m:
            try:
                return Dist("fixed", (float(value),))
            except ValueError:
                raise ConfigError(where, key, f"{value!r} is neither a number nor a distribution such as "
                                              "triangular(10, 20, 40)") from None
        kind, raw = m.group(1), [a for a in m.group(2).split(",") if a.strip()]
    elif isinstance(value, dict) and len(value) == 1:
        kind, raw = next(iter(value.items()))
        raw = raw if isinstance(raw, list) else [raw]
    else:
        raise ConfigError(where, key, f"expected a number or a distribution such as pert(10, 20, 40), got {value!r}")
    if kind not in DIST_ARGS or kind == "fixed":
        raise ConfigError(where, key, f"unknown distribution {kind!r} (use {', '.join(list(DIST_ARGS)[:-1])})")
    names = DIST_ARGS[kind]
    try:
        args = tuple(float(a) for a in raw)
    except (TypeError, ValueError):
        raise ConfigError(where, key, f"{kind}({', '.join(names)}) needs numbers, got {raw!r}") from None
    if len(args) != len(names) or not all(math.isfinite(a) for a in args):
        raise ConfigError(where, key, f"{kind} takes {len(names)} finite numbers ({', '.join(names)}), got {len(args)}")
    d = Dist(kind, args)
    shown = f"{kind}({', '.join(f'{a:g}' for a in args)})"
    if kind in ("triangular", "pert") and not (args[0] <= args[1] <= args[2] and args[0] < args[2]):
        raise ConfigError(where, key, f"{shown} needs low <= mode <= high and low < high")
    if kind == "uniform" and not args[0] < args[1]:
        raise ConfigError(where, key, f"{shown} needs low < high")
    if kind == "normal" and not args[1] > 0:
        raise ConfigError(where, key, f"{shown} needs sd > 0")
    if kind == "lognormal" and not (args[0] > 0 and args[1] > 0):
        raise ConfigError(where, key, f"{shown} needs median > 0 and sigma > 0")
    return d


class ConfigError(WorkbenchError):
    """A bad ROI config: one line naming the file and the key."""

    def __init__(self, where: str, key: str, problem: str):
        super().__init__(f"{where}: {key}: {problem}")
        self.key = key


# -- the config ----------------------------------------------------------------------------------------
@dataclass
class Model:
    """A checked ROI config: inputs as Dists, the horizon, the revenue route and where the numbers came from."""

    inputs: dict[str, Dist]
    horizon_months: int
    elasticity: str | None = None                 # the preset used for revenue_uplift_per_100ms, if any
    from_compare: dict[str, Any] | None = None
    draws: int = DRAWS
    seed: int = SEED
    notes: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)   # from_compare's numbers
    success: list[dict[str, Any]] = field(default_factory=list)

    @property
    def uncertain(self) -> list[str]:
        return [k for k, d in self.inputs.items() if not d.fixed]


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (a mapping of the keys in NUMERIC_KEYS / OTHER_KEYS)."""
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise WorkbenchError(f"cannot read ROI config {path}: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise WorkbenchError(f"{path}:{line} not valid YAML ({str(e).splitlines()[0]})") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WorkbenchError(f"{path}: expected a YAML mapping (horizon_months: 12, one_time_cost: 20000, ...)")
    return data


def build_model(config: dict[str, Any], where: str = "roi config") -> Model:
    """Check CONFIG (a dict as in a YAML file) and turn it into a Model; errors name the key."""
    known = set(NUMERIC_KEYS) | set(OTHER_KEYS)
    for key in config:
        if key not in known:
            close = [k for k in known if k.split("_")[0] == str(key).split("_")[0]]
            hint = f" (did you mean {', '.join(sorted(close))}?)" if close else f" (known keys: {', '.join(sorted(known))})"
            raise ConfigError(where, str(key), f"unknown key{hint}")
    cfg = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}

    h = cfg["horizon_months"]
    if isinstance(h, bool) or not isinstance(h, int | float) or h != int(h) or not 0 < h <= 600:
        raise ConfigError(where, "horizon_months", f"must be a whole number of months from 1 to 600, got {h!r}")
    inputs = {k: parse_value(k, cfg[k], where) for k in NUMERIC_KEYS if k in cfg and k != "horizon_months"}

    def has(*keys: str) -> bool:
        return all(k in inputs for k in keys)

    def low(key: str) -> float:
        return inputs[key].support()[0]

    if inputs["discount_rate_annual"].support()[0] <= -1:
        raise ConfigError(where, "discount_rate_annual", "must stay above -1 (e.g. 0.10 for 10% a year)")
    for key in ("one_time_cost", "infrastructure_monthly_before", "infrastructure_monthly_after", "monthly_revenue",
                "p95_before_ms", "p95_after_ms"):
        if key in inputs and inputs[key].fixed and low(key) < 0:
            raise ConfigError(where, key, f"must not be negative, got {inputs[key]}")
    for key in ("cpu_cost_share", "memory_cost_share"):
        if key in inputs:
            lo, hi = inputs[key].support()
            if lo < 0 or hi > 1:
                raise ConfigError(where, key, f"is a fraction of infrastructure cost: keep it within 0..1, got {inputs[key]}")

    # infrastructure: one route only
    routes = [name for name, keys in (("before/after", ("infrastructure_monthly_after",)),
                                      ("saving", ("infrastructure_monthly_saving",)),
                                      ("shares", ("cpu_cost_share",)), ("shares", ("memory_cost_share",)))
              if has(*keys)]
    if len(set(routes)) > 1:
        raise ConfigError(where, "infrastructure_monthly_after" if "before/after" in routes else "infrastructure_monthly_saving",
                          "give one infrastructure route: before and after, a saving, or cost shares with "
                          "CPU/memory reductions")
    if has("infrastructure_monthly_after") and not has("infrastructure_monthly_before"):
        raise ConfigError(where, "infrastructure_monthly_before", "missing: infrastructure_monthly_after needs it")
    for share, pct in (("cpu_cost_share", "cpu_reduction_pct"), ("memory_cost_share", "memory_reduction_pct")):
        if has(share) and not has("infrastructure_monthly_before"):
            raise ConfigError(where, "infrastructure_monthly_before", f"missing: {share} is a share of it")
        if has(share) and not has(pct) and not config.get("from_compare"):
            raise ConfigError(where, pct, f"missing: {share} needs the {pct} it applies to")

    # revenue: the latency route or a measured conversion change
    elasticity = cfg.get("elasticity")
    if elasticity is not None and elasticity not in ELASTICITY_PRESETS:
        raise ConfigError(where, "elasticity", f"unknown preset {elasticity!r} (use {'|'.join(ELASTICITY_PRESETS)})")
    if elasticity is not None and has("revenue_uplift_per_100ms"):
        raise ConfigError(where, "elasticity", "give a preset or your own revenue_uplift_per_100ms, not both")
    latency = has("p95_before_ms") or has("p95_after_ms") or bool(config.get("from_compare"))
    for key in ("revenue_uplift_per_100ms", "conversion_uplift_pct"):
        if has(key) and not has("monthly_revenue"):
            raise ConfigError(where, "monthly_revenue", f"missing: {key} is a fraction of it (add monthly_revenue)")
    if elasticity is not None and not has("monthly_revenue"):
        raise ConfigError(where, "monthly_revenue", "missing: the elasticity preset is a fraction of it")
    if has("conversion_uplift_pct") and (has("revenue_uplift_per_100ms") or elasticity is not None):
        raise ConfigError(where, "conversion_uplift_pct",
                          "a measured conversion change replaces the latency route: drop revenue_uplift_per_100ms/elasticity")
    if not config.get("from_compare") and has("p95_before_ms") != has("p95_after_ms"):
        missing = "p95_after_ms" if has("p95_before_ms") else "p95_before_ms"
        raise ConfigError(where, missing, "missing: the latency change needs p95_before_ms and p95_after_ms")
    for key in ("revenue_uplift_per_100ms", "elasticity"):
        if (has(key) or (key == "elasticity" and config.get(key))) and not latency:
            raise ConfigError(where, "p95_before_ms", f"missing: {key} needs the latency change "
                              "(p95_before_ms and p95_after_ms, or from_compare)")
    notes, preset = [], None
    if latency and has("monthly_revenue") and not has("conversion_uplift_pct") and not has("revenue_uplift_per_100ms"):
        elasticity = preset = elasticity or DEFAULT_ELASTICITY
        inputs["revenue_uplift_per_100ms"] = parse_value("elasticity", ELASTICITY_PRESETS[elasticity][0], where)
        notes.append(f"revenue per 100 ms of p95: the {elasticity!r} preset {ELASTICITY_PRESETS[elasticity][0]} "
                     f"({ELASTICITY_PRESETS[elasticity][1]})")

    fc = config.get("from_compare")
    if fc is not None:
        if not isinstance(fc, dict) or not fc.get("before") or not fc.get("after"):
            raise ConfigError(where, "from_compare", "needs before: RUN and after: RUN (endpoint: NAME optional)")
        extra = set(fc) - {"before", "after", "endpoint", "skip", "until", "scenario"}
        if extra:
            raise ConfigError(where, f"from_compare.{sorted(extra)[0]}", "unknown key (use before, after, endpoint, "
                              "skip, until, scenario)")
        for key in ("p95_before_ms", "p95_after_ms"):
            if has(key):
                raise ConfigError(where, key, "from_compare measures it: drop p95_before_ms/p95_after_ms")

    draws, seed = cfg.get("draws", DRAWS), cfg.get("seed", SEED)
    if isinstance(draws, bool) or not isinstance(draws, int) or not 100 <= draws <= 10_000_000:
        raise ConfigError(where, "draws", f"a whole number from 100 to 10,000,000, got {draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(where, "seed", f"a whole number >= 0, got {seed!r}")
    return Model(inputs, int(h), preset, dict(fc) if fc else None, draws, seed, notes)


# -- the arithmetic ------------------------------------------------------------------------------------
def monthly_rate(annual: np.ndarray | float) -> np.ndarray:
    """The monthly discount rate equivalent to ANNUAL: (1 + annual)^(1/12) - 1."""
    return np.power(1.0 + np.asarray(annual, dtype=float), 1.0 / 12.0) - 1.0


def annuity_factor(r: np.ndarray, months: int) -> np.ndarray:
    """Sum over t = 1..months of (1 + r)^-t (= months where r = 0)."""
    r = np.asarray(r, dtype=float)
    safe = np.where(r == 0, 1.0, r)
    return np.where(r == 0, float(months), (1.0 - np.power(1.0 + safe, -months)) / safe)


def evaluate(v: dict[str, np.ndarray], horizon: int) -> dict[str, np.ndarray]:
    """The model on arrays of input values (one entry per draw): benefit parts, NPV, payback, ROI."""
    n = len(next(iter(v.values())))

    def get(key: str) -> np.ndarray:
        return v[key] if key in v else np.zeros(n)

    if "infrastructure_monthly_saving" in v:
        infra = v["infrastructure_monthly_saving"]
    elif "infrastructure_monthly_after" in v:
        infra = v["infrastructure_monthly_before"] - v["infrastructure_monthly_after"]
    elif "cpu_cost_share" in v or "memory_cost_share" in v:
        infra = get("infrastructure_monthly_before") * (get("cpu_cost_share") * get("cpu_reduction_pct")
                                                         + get("memory_cost_share") * get("memory_reduction_pct")) / 100
    else:
        infra = np.zeros(n)
    if "conversion_uplift_pct" in v:
        revenue = v["monthly_revenue"] * v["conversion_uplift_pct"] / 100
    elif "revenue_uplift_per_100ms" in v:
        revenue = v["monthly_revenue"] * v["revenue_uplift_per_100ms"] * (v["p95_before_ms"] - v["p95_after_ms"]) / 100
    else:
        revenue = np.zeros(n)
    benefit = infra + revenue - get("monthly_operational_cost_change")
    cost = get("one_time_cost")
    npv = -cost + benefit * annuity_factor(monthly_rate(get("discount_rate_annual")), horizon)
    with np.errstate(divide="ignore", invalid="ignore"):
        payback = np.where(benefit > 0, np.where(cost > 0, cost / benefit, 0.0), np.nan)
        roi = np.where(cost > 0, (benefit * horizon - cost) / cost * 100, np.nan)
    return {"infrastructure_saving": infra, "revenue_effect": revenue, "monthly_benefit": benefit, "npv": npv,
            "payback_months": payback, "roi_pct": roi, "cumulative_benefit": benefit * horizon}


def irr_monthly(cost: float, benefit: float, horizon: int) -> float | None:
    """The monthly rate i with -cost + benefit x annuity_factor(i, horizon) = 0 (bisection), or None
    when there is no sign change (no cost, or no positive benefit)."""
    if cost <= 0 or benefit <= 0:
        return None
    lo, hi = -0.999999, benefit / cost + 1.0    # the PV of the benefits falls with i; below 1/i it is < cost
    with np.errstate(over="ignore"):            # near i = -1 the factor overflows to inf: still "> cost"
        for _ in range(200):
            mid = (lo + hi) / 2
            if -cost + benefit * float(annuity_factor(np.array(mid), horizon)) > 0:
                lo = mid
            else:
                hi = mid
    return (lo + hi) / 2


def cash_flows(cost: float, benefit: float, annual_rate: float, horizon: int) -> pd.DataFrame:
    """Month 0..H: cash flow, cumulative, discount factor and discounted cumulative (the payback chart)."""
    import pandas as pd

    months = np.arange(horizon + 1)
    flow = np.where(months == 0, -cost, benefit)
    disc = np.power(1.0 + float(monthly_rate(annual_rate)), -months)
    return pd.DataFrame({"month": months, "cash_flow": flow, "cumulative": np.cumsum(flow),
                         "discount_factor": disc, "discounted_cumulative": np.cumsum(flow * disc)})


# -- measured changes ----------------------------------------------------------------------------------
def from_compare(con: duckdb.DuckDBPyConnection, before: str, after: str, endpoint: str = "all",
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The measured p95 change of ENDPOINT (and CPU/memory where Prometheus series exist) between runs,
    via `compare.compare_runs` — the numbers `workbench compare` prints, intervals included.

    Returns {p95: {endpoint, before_ms, after_ms, change_pct, ci_low_pct, ci_high_pct, alpha},
    p95_after_ms: Dist (lognormal with that interval, or fixed when compare gives none),
    cpu_change_pct, memory_change_pct, targets (compare's success-metric rows), notes}.
    """
    from workbench.analysis import compare as cmp

    options = options or {}
    opts = cmp.Options(skip_s=cmp.parse_duration(options.get("skip")) or 0.0,
                       until_s=cmp.parse_duration(options.get("until")), scenario=options.get("scenario") or None)
    result = cmp.compare_runs(con, before, after, opts)
    rows = {r["endpoint"]: r for r in result["results"] if r["metric"] == "p95_ms"}
    notes = list(result.get("notes", []))
    name = _endpoint(endpoint, list(rows))
    if name != endpoint:
        notes.append(f"endpoint {endpoint!r} is k6's request name {name!r}")
    row = rows[name]
    alpha = float(result.get("options", {}).get("alpha", 0.05))
    lo, hi = row.get("ci_low_pct"), row.get("ci_high_pct")
    if lo is not None and hi is not None and lo > -100:
        from scipy.stats import norm

        z = float(norm.ppf(1 - alpha / 2))
        lr, hr = math.log1p(lo / 100), math.log1p(hi / 100)
        med, sigma = row["before"] * math.exp((lr + hr) / 2), (hr - lr) / (2 * z)
        after_dist = Dist("lognormal", (med, sigma)) if sigma > 0 else Dist("fixed", (row["after"],))
    else:
        after_dist = Dist("fixed", (row["after"],))
        notes.append(f"compare gives no interval for {name} p95: the measured value is used as a fixed number")
    res = {r["metric"]: r["change_pct"] for r in result.get("resources", []) if r.get("change_pct") is not None}
    return {"p95": {"endpoint": name, "before_ms": row["before"], "after_ms": row["after"],
                    "change_pct": row["change_pct"], "ci_low_pct": lo, "ci_high_pct": hi, "alpha": alpha},
            "p95_before_ms": Dist("fixed", (row["before"],)), "p95_after_ms": after_dist,
            "cpu_change_pct": res.get("cpu"), "memory_change_pct": res.get("memory"),
            "targets": result.get("targets", []), "before": result["before"], "after": result["after"],
            "notes": notes}


def _endpoint(wanted: str, names: list[str]) -> str:
    if wanted in names:
        return wanted
    tail = [n for n in names if n != "all" and wanted.rstrip("/").rsplit("/", 1)[-1] == n]
    if len(tail) == 1:
        return tail[0]
    raise WorkbenchError(f"from_compare: endpoint {wanted!r} has no p95 row in compare "
                         f"(endpoints: {', '.join(names) or 'none'})")


def success_checks(model: Model, measured: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The playbook's success targets (P95 -20%, RPS +30%, 5xx -50%, CPU/memory -20%) against the measured
    changes: compare's own target rows when runs were compared, then the p95 and CPU/memory inputs for
    what compare did not measure; met is None where nothing was measured."""
    from workbench.analysis import compare as cmp

    checks = [dict(t) for t in measured["targets"]] if measured else []
    seen = {t["metric"] for t in checks}
    ins, rows = model.inputs, []
    if "p95_ms" not in seen and "p95_before_ms" in ins and "p95_after_ms" in ins:
        b, a = ins["p95_before_ms"].ppf(0.5), ins["p95_after_ms"].ppf(0.5)
        rows.append({"endpoint": "all", "metric": "p95_ms", "before": b, "after": a,
                     "change_pct": (a / b - 1) * 100 if b else None})
    for metric in cmp.RESOURCE_METRICS:
        if metric not in seen and f"{metric}_reduction_pct" in ins:
            pct = -ins[f"{metric}_reduction_pct"].ppf(0.5)
            rows.append({"endpoint": "all", "metric": metric, "before": 100.0, "after": 100.0 + pct, "change_pct": pct})
    targets = [dict(t) for t in cmp.PLAYBOOK_TARGETS] + [
        {"endpoint": "all", "metric": m, "change_pct": -20.0, "required": False} for m in cmp.RESOURCE_METRICS]
    checks += cmp.evaluate_targets([t for t in targets if t["metric"] not in seen], rows)
    return [{"metric": t["metric"], "endpoint": t.get("endpoint", "all"), "target_change_pct": t["target_change_pct"],
             "change_pct": t.get("change_pct"), "met": t.get("met")} for t in checks]


# -- the result ----------------------------------------------------------------------------------------
@dataclass
class RoiResult:
    """Headline numbers (inputs at their medians), the Monte Carlo spread and the tornado."""

    model: Model
    point: dict[str, float | None]
    cash_flows: pd.DataFrame
    draws: dict[str, np.ndarray] | None = None
    tornado: list[dict[str, Any]] = field(default_factory=list)

    @property
    def monthly_benefit(self) -> float:
        return self.point["monthly_benefit"]

    @property
    def npv(self) -> float:
        return self.point["npv"]

    def percentiles(self, key: str = "npv") -> tuple[float, float, float] | None:
        if self.draws is None:
            return None
        x = self.draws[key]
        x = x[np.isfinite(x)]
        if x.size == 0:
            return None
        p10, p50, p90 = np.percentile(x, [10, 50, 90])
        return float(p10), float(p50), float(p90)

    def to_dict(self) -> dict[str, Any]:
        """The `workbench roi --format json` shape (docs/contract.md) plus inputs, evidence and checks."""
        p = self.point
        out: dict[str, Any] = {k: p[k] for k in ("monthly_benefit", "npv", "payback_months", "roi_pct", "irr_annual")}
        out.update(cumulative_benefit=p["cumulative_benefit"], infrastructure_saving=p["infrastructure_saving"],
                   revenue_effect=p["revenue_effect"], one_time_cost=p["one_time_cost"],
                   horizon_months=self.model.horizon_months, discount_rate_annual=p["discount_rate_annual"],
                   pays_back_within_horizon=(p["payback_months"] is not None
                                             and p["payback_months"] <= self.model.horizon_months))
        if self.draws is not None:
            npv = self.percentiles("npv")
            out.update(npv_p10=npv[0], npv_p50=npv[1], npv_p90=npv[2],
                       prob_npv_positive=float(np.mean(self.draws["npv"] > 0)), tornado=self.tornado)
            mb = self.percentiles("monthly_benefit")
            pb = self.draws["payback_months"]
            out.update(monthly_benefit_p10=mb[0], monthly_benefit_p50=mb[1], monthly_benefit_p90=mb[2],
                       prob_payback_within_horizon=float(np.mean(pb <= self.model.horizon_months)),
                       draws=self.model.draws, seed=self.model.seed)
        out["inputs"] = {k: str(d) for k, d in self.model.inputs.items()}
        out["elasticity"] = self.model.elasticity
        out["measured"] = self.model.measured or None
        out["success_metrics"] = self.model.success
        out["cash_flows"] = self.cash_flows.to_dict(orient="records")
        out["notes"] = self.model.notes
        return out

    def to_frame(self) -> pd.DataFrame:
        """The cash flows by month (month 0 = the one-time cost)."""
        return self.cash_flows.copy()

    def summary(self) -> str:
        """A plain-language paragraph a stakeholder can forward."""
        return stakeholder_summary(self)

    def __repr__(self) -> str:
        pb = self.point["payback_months"]
        return (f"RoiResult(monthly_benefit={self.monthly_benefit:,.0f}, npv={self.npv:,.0f}, "
                f"payback_months={'never' if pb is None else f'{pb:.2f}'})")


def _point(model: Model) -> dict[str, float | None]:
    med = {k: np.array([d.ppf(0.5)]) for k, d in model.inputs.items()}
    ev = evaluate(med, model.horizon_months)
    pt: dict[str, float | None] = {k: _num(a[0]) for k, a in ev.items()}
    cost = float(med["one_time_cost"][0])
    i = irr_monthly(cost, float(ev["monthly_benefit"][0]), model.horizon_months)
    pt["irr_annual"] = None if i is None else (1 + i) ** 12 - 1
    pt["one_time_cost"] = cost
    pt["discount_rate_annual"] = float(med["discount_rate_annual"][0])
    pt["monthly_operational_cost_change"] = float(med["monthly_operational_cost_change"][0])
    return pt


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def simulate(model: Model, draws: int | None = None, seed: int | None = None) -> dict[str, np.ndarray]:
    """The seeded, vectorised Monte Carlo: every input drawn DRAWS times (in NUMERIC_KEYS order)."""
    n = draws or model.draws
    rng = np.random.default_rng(model.seed if seed is None else seed)
    values = {k: model.inputs[k].sample(rng, n) for k in NUMERIC_KEYS if k in model.inputs}
    return evaluate(values, model.horizon_months)


def tornado(model: Model) -> list[dict[str, Any]]:
    """Each uncertain input at its P10 and P90 with the rest at their medians: NPV at each end, by swing."""
    med = {k: np.array([d.ppf(0.5)]) for k, d in model.inputs.items()}
    rows = []
    for key in model.uncertain:
        d = model.inputs[key]
        lo, hi = d.ppf(0.10), d.ppf(0.90)
        npv = [float(evaluate({**med, key: np.array([x])}, model.horizon_months)["npv"][0]) for x in (lo, hi)]
        rows.append({"input": key, "distribution": str(d), "p10": lo, "p90": hi, "npv_at_p10": npv[0],
                     "npv_at_p90": npv[1], "swing": abs(npv[1] - npv[0])})
    return sorted(rows, key=lambda r: -r["swing"])


def run(config: dict[str, Any] | Model, con: duckdb.DuckDBPyConnection | None = None, where: str = "roi config",
        draws: int | None = None, seed: int | None = None) -> RoiResult:
    """Check CONFIG, fetch from_compare's measurements from the store (CON), and evaluate: headline
    numbers at the inputs' medians, plus Monte Carlo and tornado when any input is a distribution."""
    model = config if isinstance(config, Model) else build_model(config, where)
    if draws is not None:
        model.draws = draws
    if seed is not None:
        model.seed = seed
    measured = None
    if model.from_compare:
        if con is None:
            raise WorkbenchError(f"{where}: from_compare needs the store (pass --db or run from the project)")
        fc = model.from_compare
        measured = from_compare(con, fc["before"], fc["after"], fc.get("endpoint") or "all",
                                {k: fc[k] for k in ("skip", "until", "scenario") if k in fc})
        model.inputs["p95_before_ms"] = measured["p95_before_ms"]
        model.inputs["p95_after_ms"] = measured["p95_after_ms"]
        model.notes += measured.pop("notes")
        for m in ("cpu", "memory"):
            pct = measured[f"{m}_change_pct"]
            if pct is not None and f"{m}_cost_share" in model.inputs and f"{m}_reduction_pct" not in model.inputs:
                model.inputs[f"{m}_reduction_pct"] = Dist("fixed", (-pct,))
                model.notes.append(f"{m}_reduction_pct {-pct:.1f}: measured from Prometheus ({m} series)")
        for m in ("cpu", "memory"):
            if f"{m}_cost_share" in model.inputs and f"{m}_reduction_pct" not in model.inputs:
                model.notes.append(f"{m}_cost_share is given but no {m} series covers the runs: that saving counts as 0")
        model.measured = {k: v for k, v in measured.items() if k in ("p95", "cpu_change_pct", "memory_change_pct",
                                                                      "before", "after")}
        # keep the key order the sampler uses stable
        model.inputs = {k: model.inputs[k] for k in NUMERIC_KEYS if k in model.inputs}
    if "cpu_reduction_pct" in model.inputs and not any(k in model.inputs for k in ("cpu_cost_share",)):
        model.notes.append("cpu_reduction_pct is checked against the success target but not priced: give "
                           "infrastructure_monthly_before and cpu_cost_share to price it")
    model.success = success_checks(model, measured)
    point = _point(model)
    flows = cash_flows(point["one_time_cost"], point["monthly_benefit"], point["discount_rate_annual"],
                       model.horizon_months)
    if not model.uncertain:
        return RoiResult(model, point, flows)
    return RoiResult(model, point, flows, simulate(model), tornado(model))


# -- words ---------------------------------------------------------------------------------------------
def _money(x: float | None) -> str:
    if x is None:
        return "n/a"
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.0f}"


def stakeholder_summary(res: RoiResult) -> str:
    """What the change is worth, how sure we are and what it rests on, in plain words (Markdown)."""
    p, m = res.point, res.model
    pb = p["payback_months"]
    parts = [f"**Worth:** about {_money(p['monthly_benefit'])} a month "
             f"({_money(p['infrastructure_saving'])} infrastructure, {_money(p['revenue_effect'])} revenue effect"
             + (f", less {_money(p.get('monthly_operational_cost_change'))} running cost" if
                p.get("monthly_operational_cost_change") else "") + "). "
             f"Over {m.horizon_months} months at {p['discount_rate_annual']:.0%} a year, the net present value is "
             f"{_money(p['npv'])} after a one-time cost of {_money(p['one_time_cost'])}; "
             + ("it never pays back." if pb is None else
                f"it pays back in {pb:.1f} months." if pb <= m.horizon_months else
                f"it pays back in {pb:.1f} months, after the {m.horizon_months}-month horizon.")]
    if res.draws is not None:
        lo, mid, hi = res.percentiles("npv")
        prob = float(np.mean(res.draws["npv"] > 0))
        top = res.tornado[0]["input"] if res.tornado else None
        parts.append(f"**How sure:** across {m.draws:,} simulated scenarios the NPV is between {_money(lo)} and "
                     f"{_money(hi)} in 8 of 10 (median {_money(mid)}); the chance it is positive is {prob:.0%}."
                     + (f" The input that moves it most is `{top}`." if top else ""))
    if m.measured.get("p95"):
        q = m.measured["p95"]
        ci = ("" if q["ci_low_pct"] is None else
              f" ({1 - q['alpha']:.0%} interval {q['ci_low_pct']:+.1f}% to {q['ci_high_pct']:+.1f}%)")
        parts.append(f"**Measured:** p95 of {q['endpoint']} went from {q['before_ms']:.1f} ms to "
                     f"{q['after_ms']:.1f} ms, {q['change_pct']:+.1f}%{ci}, between runs {m.measured['before']} and "
                     f"{m.measured['after']}. A load test stands for production only as far as its traffic, data and "
                     "hardware do: check that before relying on these numbers.")
    if "revenue_uplift_per_100ms" in m.inputs and p["revenue_effect"]:
        basis = (f"the {m.elasticity!r} evidence preset" if m.elasticity else "the team's own figure")
        parts.append(f"**Rests on:** revenue per 100 ms of p95 from {basis} "
                     f"({m.inputs['revenue_uplift_per_100ms']}); the published links between latency and revenue "
                     "are small, site-specific experiments or weaker observational and anecdotal figures.")
    elif "conversion_uplift_pct" in m.inputs:
        parts.append(f"**Rests on:** a conversion change of {m.inputs['conversion_uplift_pct']}%, as given.")
    met = [s for s in m.success if s["met"] is not None]
    if met:
        parts.append("**Success targets:** " + "; ".join(
            f"{s['metric']} ({s['endpoint']}) {s['target_change_pct']:+g}% {'met' if s['met'] else 'missed'} "
            f"({change_vs_target(s['change_pct'], s['target_change_pct'])})" for s in met) + ".")
    return "\n\n".join(parts)


def verdict(res: RoiResult) -> Verdict:
    """The report's one-line verdict: NPV (and its P10-P90), payback; ok when even P10 of NPV is positive,
    not ok when even P90 is negative (or the fixed NPV is), undecided between."""
    p = res.point
    pb = p["payback_months"]
    back = "never pays back" if pb is None else f"pays back in {pb:.1f} months"
    if res.draws is None:
        return Verdict.judged(p["npv"] > 0, f"NPV {_money(p['npv'])} over {res.model.horizon_months} months; {back}")
    lo, _, hi = res.percentiles("npv")
    ok = True if lo > 0 else False if hi < 0 else None
    return Verdict.judged(ok, f"NPV {_money(p['npv'])} (P10 {_money(lo)} to P90 {_money(hi)}) over "
                              f"{res.model.horizon_months} months; {back}; P(NPV > 0) = {np.mean(res.draws['npv'] > 0):.0%}")


def outputs_markdown(res: RoiResult) -> str:
    """The headline outputs (and percentiles) as a Markdown list, money with thousands separators."""
    d = res.to_dict()
    keys = ["monthly_benefit", "cumulative_benefit", "npv", "payback_months", "roi_pct", "irr_annual"]
    keys += [k for k in ("npv_p10", "npv_p50", "npv_p90", "prob_npv_positive") if k in d]
    return "\n".join(f"- **{k}**: {'n/a' if d[k] is None else f'{d[k]:,.2f}'}" for k in keys)


def evidence_frame() -> pd.DataFrame:
    """The latency-to-revenue evidence table, and the presets built on it."""
    import pandas as pd

    return pd.DataFrame(EVIDENCE)


def presets_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([{"preset": k, "revenue per 100 ms": v[0], "assumes": v[1]}
                         for k, v in ELASTICITY_PRESETS.items()])


def notebook_config(config: str = "", before: str = "", after: str = "", endpoint: str = "all",
                    **inline: Any) -> dict[str, Any]:
    """The notebook's parameters -> a config: the YAML file CONFIG if given, else the INLINE values (empty
    strings and None dropped). With BEFORE and AFTER runs the measurements replace the inline p95,
    CPU/memory and conversion figures (revenue then follows the elasticity preset); without them a
    conversion figure replaces the preset."""
    cfg = load_config(config) if config else {k: v for k, v in inline.items() if v not in ("", None)}
    if before and after:
        for key in ("p95_before_ms", "p95_after_ms", "conversion_uplift_pct", "cpu_reduction_pct",
                    "memory_reduction_pct"):
            cfg.pop(key, None)
        cfg["from_compare"] = {**(cfg.get("from_compare") or {}), "before": before, "after": after,
                               "endpoint": endpoint or "all"}
    elif not config and "conversion_uplift_pct" in cfg:
        cfg.pop("elasticity", None)
    return cfg
