"""Durations as people type them: `15s`, `1m`, `1h30m`, `500ms`, `1d`, or plain seconds (`300`, `0.5`).
One parser for every option that takes a duration (--every, --step, --skip, --timeout...). Lowest layer."""

from __future__ import annotations

import re

from workbench.errors import WorkbenchError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000}


def parse_duration_s(text: str | float, *, signed: bool = False, positive: bool = False,
                     example: str = "15s, 1m, 1h30m, 500ms or seconds like 300") -> float:
    """TEXT in seconds. SIGNED allows a leading +/-; POSITIVE refuses zero. Bad input: one-line error."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip()
        sign = 1.0
        if signed and s[:1] in "+-" and s:
            sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:].strip()
        try:
            value = sign * float(s)
            if s.lower() in ("nan", "inf", "infinity") or (value < 0 and not signed):
                raise ValueError
        except ValueError:
            parts = _PART.findall(s)
            if not parts or "".join(n + u for n, u in parts) != s:
                raise WorkbenchError(f"bad duration {text!r}: use e.g. {example}") from None
            value = sign * sum(float(n) * _UNIT_S[u] for n, u in parts)
    if positive and value <= 0:
        raise WorkbenchError(f"bad duration {text!r}: must be positive")
    return value
