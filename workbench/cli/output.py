"""Output formats shared by commands: `--format table|json|csv` declared once."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click
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


def print_table(rows: Iterable[dict], columns: list[str] | None = None, title: str | None = None) -> None:
    """A rich table of dict rows."""
    rows = list(rows)
    columns = columns or (list(rows[0]) if rows else [])
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*[fmt_cell(r.get(c)) for c in columns])
    console.print(table)


def fmt_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.6g}"
    return str(v)


def warn(message: str) -> None:
    """A one-line warning on stderr."""
    err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


def info(message: str) -> None:
    """A one-line note on stderr (stdout stays clean for --format json)."""
    err_console.print(message, highlight=False, soft_wrap=True)
