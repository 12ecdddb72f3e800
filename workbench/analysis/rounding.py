"""Figures rounded for display without contradicting the decision they sit beside."""

from __future__ import annotations

import math


def change_vs_target(change_pct: float | None, target_pct: float | None, decimals: int = 1) -> str:
    """A change in % signed, with DECIMALS, or more digits when rounding would put it on the other side of
    (or onto) TARGET_PCT: -19.98 against -20 reads "-19.98%", never "-20.0%" beside "missed"."""
    if change_pct is None or not math.isfinite(change_pct):
        return "n/a"
    if target_pct is None:
        return f"{change_pct:+.{decimals}f}%"
    for d in range(decimals, 7):
        shown = float(f"{change_pct:+.{d}f}")
        if (shown > target_pct) == (change_pct > target_pct) and (shown < target_pct) == (change_pct < target_pct):
            return f"{change_pct:+.{d}f}%"
    return f"{change_pct:+.12g}%"
