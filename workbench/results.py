"""The one result type of the Python API (`workbench.open(...)`): the command's JSON document, its
main table as pandas or polars (through Arrow), and an HTML table for Jupyter.

pandas, pyarrow and polars are imported on first use, so holding a result costs nothing until a
frame is asked for."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

HTML_ROWS = 50   # rows shown by _repr_html_; to_frame() has them all


def jsonable(obj: Any) -> Any:
    """OBJ with numpy/pandas scalars as Python numbers, times as ISO-8601, NaN/Inf as None, tuples as
    lists: what `--format json` prints (and so what `Result.to_dict()` returns)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def _arrow_column(values: list[Any]) -> pa.Array:
    """One column: native Arrow types where they fit, else text (mappings as JSON)."""
    import pyarrow as pa

    if not any(isinstance(v, dict) for v in values):
        try:
            return pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
    return pa.array([None if v is None else json.dumps(v) if isinstance(v, dict | list) else str(v)
                     for v in values], type=pa.string())


class Result:
    """What a `Workbench` method returns.

    `to_dict()` is the command's `--format json` document; `to_frame()` / `to_polars()` / `to_arrow()`
    its main table (or, given TABLE, another list in the document, e.g. `to_frame("targets")`);
    `warnings` what the command would print as warnings; `raw` the analysis object behind it.
    """

    def __init__(self, command: str, data: Any, *, table: str | None = None,
                 rows: Callable[[Any], list[dict]] | None = None, title: str | None = None,
                 warnings: list[str] | None = None, raw: Any = None, columns: list[str] | None = None):
        self.command = command
        self._data = jsonable(data)
        self._table = table
        self._rows = rows
        self.title = title or command
        self.warnings = list(warnings or [])
        self.raw = raw
        self._columns = columns   # the main table's columns, also when it has no rows

    # -- the document --------------------------------------------------------------------------
    def to_dict(self) -> Any:
        """The command's JSON document (a dict, or a list for `ls` and `prom_series`): exactly what
        `workbench ... --format json` prints, parsed."""
        return json.loads(json.dumps(self._data))   # a copy the caller may change

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    # -- tables --------------------------------------------------------------------------------
    def records(self, table: str | None = None) -> list[dict]:
        """The rows of the main table (or of the document's list TABLE) as dicts."""
        if table is not None:
            if not isinstance(self._data, dict) or table not in self._data:
                keys = sorted(self._data) if isinstance(self._data, dict) else []
                raise KeyError(f"{self.command} has no table {table!r}; its document has: {', '.join(keys)}")
            return _as_rows(self._data[table], table)
        if self._rows is not None:
            return self._rows(self._data)
        if self._table is not None:
            return _as_rows(self._data.get(self._table), self._table)
        if isinstance(self._data, list):
            return _as_rows(self._data, "item")
        return [{k: v for k, v in self._data.items() if not isinstance(v, dict | list)}]

    def to_arrow(self, table: str | None = None) -> pa.Table:
        """The table as a pyarrow Table (the form pandas and polars are built from)."""
        import pyarrow as pa

        rows = self.records(table)
        columns: dict[str, None] = dict.fromkeys(self._columns or []) if table is None else {}
        for r in rows:
            columns.update(dict.fromkeys(r))
        return pa.table({c: _arrow_column([r.get(c) for r in rows]) if rows else pa.array([], pa.null())
                         for c in columns})

    def to_frame(self, table: str | None = None) -> pd.DataFrame:
        """The table as a pandas DataFrame (a plain RangeIndex, one column per field)."""
        return self.to_arrow(table).to_pandas()

    def to_polars(self, table: str | None = None) -> pl.DataFrame:
        """The table as a polars DataFrame, built from the Arrow table without a copy."""
        import polars as pl

        return pl.from_arrow(self.to_arrow(table))

    # -- display -------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        frame = self.to_frame()
        head = f"<h4>{html.escape(self.title)}</h4>"
        scalars = self._data if isinstance(self._data, dict) else {}
        facts = [(k, v) for k, v in scalars.items() if not isinstance(v, dict | list) and v is not None]
        if facts and (self._table is not None or self._rows is not None):
            head += "<p>" + "; ".join(f"<b>{html.escape(str(k))}</b> {html.escape(_cell(v))}" for k, v in facts) + "</p>"
        for w in self.warnings:
            head += f"<p>warning: {html.escape(w)}</p>"
        more = len(frame) - HTML_ROWS
        body = frame.head(HTML_ROWS).to_html(index=False, na_rep="", border=0, formatters={
            c: _cell for c in frame.columns if frame[c].dtype.kind in "fiu" and not _is_id(str(c))})
        tail = f"<p>… {more:,} more rows (to_frame() has them all)</p>" if more > 0 else ""
        return head + (body if len(frame.columns) else "<p>(no rows)</p>") + tail

    def __repr__(self) -> str:
        n = len(self.records())
        return f"<workbench {self.command} result: {n} row{'s' if n != 1 else ''}; to_dict() / to_frame() / to_polars()>"


def _is_id(column: str) -> bool:
    """An identifier column (queryid, snapshot, ingest_id...): its digits are shown as they are."""
    return column.endswith("id") or column in ("snapshot", "from", "to", "dbid", "userid")


def _cell(v: Any) -> str:
    """A number as people read it: thousands separators, 4 significant digits below 1,000."""
    if hasattr(v, "item") and not isinstance(v, str | bytes):   # numpy scalars from the frame
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, float) and math.isnan(v):
        return ""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _as_rows(value: Any, key_name: str) -> list[dict]:
    """A list of dicts as is; a dict of dicts as rows with the key in column KEY_NAME; scalars in `value`."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [{key_name: k, **v} if isinstance(v, dict) else {key_name: k, "value": v} for k, v in value.items()]
    return [v if isinstance(v, dict) else {"value": v} for v in value]
