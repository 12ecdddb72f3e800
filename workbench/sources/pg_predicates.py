"""Which columns a statement filters, joins and sorts on, read with PostgreSQL's own parser (pglast).

`column_uses(sql, tables)` parses a (normalised, `$1`-style) statement and returns, per table, the
columns compared with `=` / `IN` (equality), with `<`, `>`, `BETWEEN` (range), used in JOIN conditions
(join) and in ORDER BY (sort). Only AND-ed conditions count (an OR needs another kind of index).
Unqualified columns are attributed to the one table of the FROM clause, or to the one table in TABLES
(table -> its column names) that has a column of that name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from workbench.errors import WorkbenchError

KINDS = ("eq", "join", "range", "sort")
_RANGE_OPS = {"<", ">", "<=", ">="}


@dataclass
class TableUse:
    """The columns of one table a statement uses, by kind, in the order they appear."""

    table: str                       # as resolved: schema.relname when TABLES knew it, else as written
    eq: list[str] = field(default_factory=list)
    join: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    sort: list[str] = field(default_factory=list)

    def add(self, kind: str, column: str) -> None:
        cols = getattr(self, kind)
        if column not in cols:
            cols.append(column)


@dataclass
class ParsedStatement:
    """A parsed statement: its kind (select/update/delete/other), parameter count and per-table uses."""

    kind: str
    params: int
    uses: dict[str, TableUse]


def parse(sql: str) -> list:
    """pglast's raw statements; a WorkbenchError when the text does not parse."""
    import pglast

    try:
        return list(pglast.parse_sql(sql))
    except pglast.parser.ParseError as e:
        raise WorkbenchError(f"cannot parse statement: {e}") from e


def _resolver(tables: Mapping[str, set[str]] | None):
    tables = tables or {}
    by_rel: dict[str, list[str]] = {}
    for full in tables:
        by_rel.setdefault(full.split(".")[-1], []).append(full)

    def resolve(schema: str | None, rel: str) -> str:
        if schema:
            return f"{schema}.{rel}"
        found = by_rel.get(rel, [])
        if len(found) == 1:
            return found[0]
        if f"public.{rel}" in found:
            return f"public.{rel}"
        return rel

    return resolve


def _fields(colref) -> list[str] | None:
    from pglast import ast

    out = []
    for f in colref.fields:
        if not isinstance(f, ast.String):
            return None   # a * or an indirection
        out.append(f.sval)
    return out


class _Scope:
    """The tables of one FROM clause (alias -> table) and the conditions found in it."""

    def __init__(self, resolve, tables: Mapping[str, set[str]]):
        self.resolve = resolve
        self.tables = tables
        self.alias: dict[str, str] = {}
        self.order: list[str] = []

    def add_range(self, rv) -> None:
        table = self.resolve(rv.schemaname, rv.relname)
        self.alias[rv.alias.aliasname if rv.alias else rv.relname] = table
        if table not in self.order:
            self.order.append(table)

    def column(self, colref) -> tuple[str, str] | None:
        f = _fields(colref)
        if not f:
            return None
        if len(f) >= 2:
            table = self.alias.get(f[-2]) or self.resolve(f[-3] if len(f) >= 3 else None, f[-2])
            return (table, f[-1]) if table in self.order else None
        col = f[0]
        if len(self.order) == 1:
            return self.order[0], col
        having = [t for t in self.order if col in self.tables.get(t, set())]
        return (having[0], col) if len(having) == 1 else None


def column_uses(sql: str, tables: Mapping[str, set[str]] | None = None) -> ParsedStatement:
    """Parse SQL (one statement) and collect its equality / join / range / sort columns per table."""
    from pglast import ast

    stmts = parse(sql)
    if len(stmts) != 1:
        raise WorkbenchError(f"expected one statement, found {len(stmts)}")
    root = stmts[0].stmt
    kind = {ast.SelectStmt: "select", ast.UpdateStmt: "update", ast.DeleteStmt: "delete"}.get(type(root), "other")
    resolve = _resolver(tables)
    tables = tables or {}
    uses: dict[str, TableUse] = {}
    params = 0

    def use(table: str) -> TableUse:
        return uses.setdefault(table, TableUse(table))

    def from_item(scope: _Scope, node) -> None:
        if isinstance(node, ast.RangeVar):
            scope.add_range(node)
        elif isinstance(node, ast.JoinExpr):
            from_item(scope, node.larg)
            from_item(scope, node.rarg)
            if node.quals is not None:
                conds.append(node.quals)
        elif isinstance(node, ast.RangeSubselect) and node.subquery is not None:
            statement(node.subquery)

    def condition(scope: _Scope, node) -> None:
        if isinstance(node, ast.BoolExpr):
            if node.boolop == 0:   # AND
                for a in node.args:
                    condition(scope, a)
            return
        if not isinstance(node, ast.A_Expr):
            return
        op = node.name[-1].sval if node.name else ""
        left = scope.column(node.lexpr) if isinstance(node.lexpr, ast.ColumnRef) else None
        right = scope.column(node.rexpr) if isinstance(node.rexpr, ast.ColumnRef) else None
        k = node.kind
        if k == 0 and op == "=" and left and right and left[0] != right[0]:
            use(left[0]).add("join", left[1])
            use(right[0]).add("join", right[1])
        elif k == 0 and op == "=":
            for c in (left, right):
                if c and not (left and right):
                    use(c[0]).add("eq", c[1])
        elif k == 0 and op in _RANGE_OPS:
            for c in (left, right):
                if c and not (left and right):
                    use(c[0]).add("range", c[1])
        elif k == 6 and left:      # IN (...)
            use(left[0]).add("eq", left[1])
        elif k in (10, 11, 12, 13) and left:  # BETWEEN variants
            use(left[0]).add("range", left[1])
        elif k == 1 and left and op == "=":   # = ANY($1)
            use(left[0]).add("eq", left[1])

    conds: list = []

    def statement(node) -> None:
        scope = _Scope(resolve, tables)
        local: list = []
        if isinstance(node, ast.SelectStmt):
            if node.larg is not None:   # UNION / INTERSECT / EXCEPT
                statement(node.larg)
                statement(node.rarg)
                return
            for item in node.fromClause or ():
                before = len(conds)
                from_item(scope, item)
                local += conds[before:]
            if node.whereClause is not None:
                local.append(node.whereClause)
            for s in node.sortClause or ():
                if isinstance(s.node, ast.ColumnRef):
                    c = scope.column(s.node)
                    if c:
                        use(c[0]).add("sort", c[1])
        elif isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
            scope.add_range(node.relation)
            for item in (node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause) or ():
                before = len(conds)
                from_item(scope, item)
                local += conds[before:]
            if node.whereClause is not None:
                local.append(node.whereClause)
        for c in local:
            condition(scope, c)

    statement(root)

    def count_params(node) -> None:
        nonlocal params
        if isinstance(node, ast.ParamRef):
            params = max(params, node.number)
            return
        if isinstance(node, ast.Node):
            for name in node.__slots__:
                count_params(getattr(node, name, None))
        elif isinstance(node, list | tuple):
            for x in node:
                count_params(x)

    count_params(root)
    return ParsedStatement(kind, params, uses)
