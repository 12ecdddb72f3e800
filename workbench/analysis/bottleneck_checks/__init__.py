"""Bottleneck detectors, one module per component. Each detector takes frames the analysis modules
already compute (statement deltas, table stats, Redis period stats, k6 endpoint tables, Prometheus sets)
and returns `Finding`s scored by the one table in `rules`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from workbench.analysis.bottleneck_checks.rules import RULES, score
from workbench.results import jsonable


@dataclass
class Finding:
    """One ranked bottleneck: what, where, how bad (score and its factors), the evidence and the remedy."""

    component: str
    check: str
    item: str
    value: float
    threshold: float
    unit: str
    impact: float
    severity: float
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)
    recommendation: str = ""
    weight: float = 1.0

    @property
    def score(self) -> float:
        return score(self.impact, self.severity, self.confidence, self.weight)

    def to_dict(self) -> dict[str, Any]:
        """The contract's finding shape (component, item, score, evidence, threshold, recommendation) plus the
        check, the value and the factors."""
        return {"component": self.component, "check": self.check, "item": self.item, "score": self.score,
                "factors": {"impact": _round(self.impact), "severity": _round(self.severity),
                            "confidence": _round(self.confidence), "weight": self.weight},
                "value": _round(self.value), "unit": self.unit, "threshold": self.threshold,
                "evidence": {k: jsonable(v) for k, v in self.evidence.items()},
                "recommendation": self.recommendation}


def _round(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 4)


def finding(component: str, check: str, item: str, value: float, sensitivity: str, *, impact: float,
            confidence: float = 1.0, evidence: dict[str, Any] | None = None,
            recommendation: str | None = None) -> Finding | None:
    """A Finding for COMPONENT:CHECK when VALUE passes the sensitivity's threshold, else None."""
    rule = RULES[f"{component}:{check}"]
    if value is None or not rule.fires(float(value), sensitivity):
        return None
    return Finding(rule.component, rule.check, item, float(value), rule.threshold(sensitivity), rule.unit,
                   _clip(impact), rule.severity(float(value)), _clip(confidence), dict(evidence or {}),
                   recommendation or rule.recommendation, rule.weight)


def _clip(x: float) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if not math.isfinite(x) else min(max(x, 0.0), 1.0)


def volume_confidence(n: float, full: float, floor: float = 0.2) -> float:
    """Confidence from the amount of evidence: FLOOR at none, 1 from FULL observations on (linear)."""
    if n is None or not math.isfinite(float(n)) or n <= 0:
        return floor
    return min(1.0, floor + (1 - floor) * float(n) / full)


def rate_confidence(events: float, trials: float, threshold: float, floor: float = 0.2) -> float:
    """Confidence that a rate (misses / lookups, failures / requests) is really above THRESHOLD: one minus
    the one-sided binomial test's p-value (H0: rate <= threshold), at least FLOOR."""
    from scipy.stats import binom

    if not trials or trials <= 0:
        return floor
    k, n = int(round(events)), int(round(trials))
    p = float(binom.sf(k - 1, n, min(max(threshold, 1e-12), 1.0))) if k > 0 else 1.0
    return max(floor, 1.0 - p)
