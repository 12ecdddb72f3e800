"""Tables a stakeholder reads: one formatter for every DataFrame a notebook shows.

`format_table(df)` returns a pandas Styler with no index, units in the headers (`p95_ms` -> "p95 (ms)"),
thousands separators, sensible rounding, fractions as percentages, "–" for missing values, long text
wrapped, `queryid` moved last and greyed, and bad rows (a `verdict` of regressed/missing, a `severity` of
warning/critical, an `ok`/`met`/`passed` of False, or the rows of `bad=`) coloured. `show_table` displays it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

MISSING = "–"
# column-name suffix -> unit shown in the header
UNITS = {"_ms": "ms", "_us": "µs", "_usec": "µs", "_s": "s", "_pct": "%", "_pp": "pp", "_bytes": "bytes",
         "_mb": "MB", "_kb": "kB"}
FRACTION = re.compile(r"(?i)(ratio|rate|share|fraction)(_|$)|^rate_|_rate_")
SECONDARY = ("queryid",)
WRAP_AT = 60
CODE_COLUMNS = ("query", "statement", "sql", "command", "plan")
BAD_WORDS = {"regressed", "missing", "critical", "warning", "failed", "✘ failed", "fail"}
GOOD_WORDS = {"improved", "passed", "✔ passed", "pass"}
BAD_BG, GOOD_BG = "background-color:#ffebe9", "background-color:#dafbe1"


def header(col: Any) -> str:
    """`p95_ms` -> "p95 (ms)", `change_pct` -> "change (%)", `total_exec_time_ms` -> "total exec time (ms)"."""
    name = str(col)
    for suffix, unit in UNITS.items():
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} ({unit})"
    return name.replace("_", " ")


def number(v: Any, digits: int = 3) -> str:
    """A number as a reader wants it: integers with separators, floats rounded to DIGITS significant
    digits (at most 1 decimal from 100 up, none from 1,000 up), '–' for missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (hasattr(v, "is_integer") and isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        return f"{int(v):,}"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:,.1f}"
    if a == 0:
        return "0"
    if a < 1e-4:
        return f"{x:.2g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(a)))
    return f"{x:,.{min(decimals, 6)}f}"


def whole_number(v: Any) -> str:
    """A count stored as a float (1200.0) as "1,200"."""
    return number(int(v)) if isinstance(v, int | float) and math.isfinite(v) else number(v)


def percent(v: Any) -> str:
    """A fraction (0.0123) as a percentage ("1.23%"), '–' for missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return MISSING
    x = 100 * float(v)
    return f"{x:.2f}%" if abs(x) < 10 else f"{x:.1f}%"


def _is_fraction(name: str, s: pd.Series) -> bool:
    if not FRACTION.search(name) or not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    vals = s.dropna()
    return not vals.empty and bool(((vals >= 0) & (vals <= 1)).all())


def _bad_rows(df: pd.DataFrame, bad: Sequence[bool] | pd.Series | None) -> tuple[list[bool], list[bool]]:
    n = len(df)
    worse, better = [False] * n, [False] * n
    for col in df.columns:
        name = str(col).lower()
        if name in ("verdict", "severity", "status", "state", "result") or name.endswith("_verdict"):
            words = df[col].astype(str).str.strip().str.lower()
            worse = [w or x in BAD_WORDS for w, x in zip(worse, words, strict=True)]
            better = [b or x in GOOD_WORDS for b, x in zip(better, words, strict=True)]
        elif name in ("ok", "met", "passed"):
            for i, v in enumerate(df[col]):
                if isinstance(v, str):
                    worse[i] = worse[i] or v.strip().lower() in BAD_WORDS
                    better[i] = better[i] or v.strip().lower() in GOOD_WORDS
                elif v is not None and not pd.isna(v):
                    worse[i] = worse[i] or not bool(v)
    if bad is not None:
        worse = [w or bool(b) for w, b in zip(worse, list(bad), strict=True)]
    better = [b and not w for b, w in zip(better, worse, strict=True)]
    return worse, better


def format_table(df: pd.DataFrame, bad: Sequence[bool] | pd.Series | None = None,
                 percent_cols: Sequence[str] = (), max_rows: int | None = None,
                 caption: str | None = None) -> Any:
    """DF as a formatted Styler (see the module docstring). BAD marks extra rows to colour red;
    PERCENT_COLS are shown as percentages even when their names do not say so."""
    if df.index.name is not None or isinstance(df.index, pd.MultiIndex):
        df = df.reset_index()
    df = df.reset_index(drop=True)
    if max_rows is not None:
        df = df.head(max_rows)
        bad = None if bad is None else list(bad)[:max_rows]
    cols = [c for c in df.columns if str(c) not in SECONDARY] + [c for c in df.columns if str(c) in SECONDARY]
    df = df[cols]
    worse, better = _bad_rows(df, bad)
    formats: dict[Any, Any] = {}
    wrap, secondary = [], []
    for col in df.columns:
        s = df[col]
        if str(col) in SECONDARY:
            formats[col] = lambda v: MISSING if v is None or v != v else str(v)
            secondary.append(col)
        elif str(col) in percent_cols or _is_fraction(str(col), s):
            formats[col] = percent
        elif pd.api.types.is_datetime64_any_dtype(s):
            formats[col] = lambda v: MISSING if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S")
        elif pd.api.types.is_bool_dtype(s):
            formats[col] = lambda v: "yes" if v else "no"
        elif pd.api.types.is_numeric_dtype(s):
            vals = s.dropna()
            whole = pd.api.types.is_float_dtype(s) and not vals.empty and bool((vals == vals.round()).all())
            formats[col] = whole_number if whole else number
        else:
            formats[col] = lambda v: MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else (
                number(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v))
            if s.astype(str).str.len().max() > WRAP_AT if len(s) else False:
                wrap.append(col)
    renamed = {c: header(c) for c in df.columns}
    shown = df.rename(columns=renamed)
    styler = shown.style.format({renamed[c]: f for c, f in formats.items()}).hide(axis="index")
    numeric = [renamed[c] for c in df.columns if formats[c] in (number, whole_number, percent)]
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right", "font-variant-numeric": "tabular-nums"})
    if wrap:
        styler = styler.set_properties(subset=[renamed[c] for c in wrap], **{
            "white-space": "normal", "overflow-wrap": "break-word", "min-width": "8em", "max-width": "36em",
            "text-align": "left"})
    code = [renamed[c] for c in wrap if str(c).lower() in CODE_COLUMNS]
    if code:
        styler = styler.set_properties(subset=code, **{"white-space": "pre-wrap", "font-family": "ui-monospace, monospace",
                                                       "font-size": "0.85em", "min-width": "18em"})
    if secondary:
        styler = styler.set_properties(subset=[renamed[c] for c in secondary],
                                       **{"color": "#6e7781", "font-size": "0.8em"})
    if any(worse) or any(better):
        styler = styler.apply(lambda row: [BAD_BG if worse[row.name] else GOOD_BG if better[row.name] else ""]
                              * len(row), axis=1)
    styler = styler.set_table_attributes('class="wb-table"')
    if caption:
        styler = styler.set_caption(caption)
    return styler


def show_table(df: pd.DataFrame, **kwargs: Any) -> None:
    """Display DF formatted by `format_table` (keyword arguments are passed on)."""
    from IPython.display import display

    display(format_table(df, **kwargs))
