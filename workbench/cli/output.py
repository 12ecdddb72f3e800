"""Output formats shared by commands: `--format table|json|csv` declared once."""

from __future__ import annotations

import json
import math
import re
import sys
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from workbench.results import jsonable

console = Console()
err_console = Console(stderr=True)


def format_option(*choices: str, default: str = "table") -> Callable:
    """Decorator adding `--format` with the given choices (default: table, json)."""
    choices = choices or ("table", "json")
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                        help="Output format.")


def print_json(data: Any) -> None:
    """JSON to stdout (numbers stay numbers; what `Result.to_dict()` returns)."""
    sys.stdout.write(json.dumps(jsonable(data), indent=2) + "\n")


def print_table(rows: Iterable[dict], columns: list[str] | None = None, title: str | None = None,
                wrap: Iterable[str] = (), headers: dict[str, str] | None = None) -> None:
    """Dict rows as a table that stays readable at the terminal's width (80 columns in CI logs): only the
    free-text columns named in WRAP wrap, at word boundaries; every other cell stays on one line, so a word
    or a p-value is never split. When even that is too wide, each row is printed as a block of `column  value`
    lines instead. HEADERS renames columns for display."""
    rows = list(rows)
    columns = columns or (list(rows[0]) if rows else [])
    names = [(headers or {}).get(c, c) for c in columns]
    cells = [[fmt_cell(r.get(c)) for c in columns] for r in rows]
    wrap = set(wrap)
    widths = [max([len(n)] + [len(line) for cell in cells for line in cell[i].splitlines() or [""]])
              for i, n in enumerate(names)]
    fixed = sum(min(w, _WRAP_MIN) if c in wrap else w for c, w in zip(columns, widths, strict=True))
    if rows and fixed + 3 * (len(columns) - 1) > console.width:
        _print_records(names, cells, title)
        return
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left", show_edge=False)
    for c, n in zip(columns, names, strict=True):
        text = c in wrap
        table.add_column(n, overflow="fold", no_wrap=not text,
                         justify="left" if text or not _numeric(rows, c) else "right")
    for row in cells:
        table.add_row(*row)
    console.print(table)


_WRAP_MIN = 24   # a wrapped text column narrower than this reads badly: print records instead


def _print_records(names: list[str], cells: list[list[str]], title: str | None) -> None:
    """ROWS one block each: the first cell as the block's heading, then `name  value` lines."""
    if title:
        console.print(title, highlight=False, soft_wrap=True)
    pad = max(len(n) for n in names[1:]) if len(names) > 1 else 0
    for row in cells:
        console.print(f"{names[0]} {row[0]}" if row[0] else names[0], highlight=False, soft_wrap=True, style="bold")
        indent = " " * (pad + 4)
        width = max(console.width - len(indent), 20)
        for n, v in zip(names[1:], row[1:], strict=True):
            if v != "":   # long values wrap at word boundaries under their own column, never past the width
                lines = [piece for part in v.splitlines() for piece in textwrap.wrap(part, width) or [""]]
                console.print(f"  {n:<{pad}}  {lines[0]}", highlight=False, soft_wrap=True)
                for line in lines[1:]:
                    console.print(indent + line, highlight=False, soft_wrap=True)


def _numeric(rows: list[dict], column: str) -> bool:
    values = [r.get(column) for r in rows if r.get(column) is not None]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def fmt_cell(v: Any) -> str:
    """One cell as text: floats to 4 significant digits, tags as `k=v k=v`, ISO times to the second."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.6g}"
    if isinstance(v, dict):
        return " ".join(f"{k}={fmt_cell(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(fmt_cell(x) for x in v)
    if isinstance(v, str) and _ISO.match(v):
        return _ISO.sub(r"\1 \2", v)
    return str(v)


# an ISO time with fractions of a second and/or a UTC offset: shown as `YYYY-MM-DD HH:MM:SS` (UTC in the store)
_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(?:\+00:00|Z)?$")


def warn(message: str) -> None:
    """A one-line warning on stderr."""
    err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


def info(message: str) -> None:
    """A one-line note on stderr (stdout stays clean for --format json)."""
    err_console.print(message, highlight=False, soft_wrap=True)
