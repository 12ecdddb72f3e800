"""Generic plans and hypothetical indexes, in the collector's read-only session (statement and lock timeouts).

A statement from pg_stat_statements is normalised (`$1` for each constant), so it has no values to plan
with: its *generic* plan is the one that does not depend on them. PostgreSQL 16+ explains it directly
(`EXPLAIN (GENERIC_PLAN)`); before 16 the statement is PREPAREd and explained with
`plan_cache_mode = force_generic_plan` and NULL arguments. EXPLAIN without ANALYZE executes nothing.

The statement text comes from the server's own pg_stat_statements; it is executed only as EXPLAIN, only
after pglast parsed it as exactly one SELECT, UPDATE or DELETE, and only in a read-only session.

Hypothetical indexes (hypopg) live in this backend's memory only: `hypopg_create_index` takes the
CREATE INDEX text as a bind parameter, built with psycopg's identifier quoting; `hypopg_reset()` drops
them. Nothing on the server changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql as pgsql

from workbench.errors import WorkbenchError
from workbench.sources.pg_predicates import column_uses
from workbench.sources.postgres import connect

EXPLAINABLE = ("select", "update", "delete")
# pg_stat_statements replaces the string of a typed literal (`interval '30 days'`) by a parameter, which
# leaves `interval $2`: not valid SQL. As a cast (`$2::interval`) it plans the same way.
TYPED_PARAM = re.compile(r"\b(interval|timestamptz|timestamp|date|timetz|time|numeric|uuid|jsonb|json|inet|cidr)"
                         r"\s+(\$\d+)\b", re.IGNORECASE)


def typed_params(query: str) -> str:
    """QUERY with each normalised typed literal (`interval $2`) written as a cast (`$2::interval`)."""
    return TYPED_PARAM.sub(lambda m: f"{m.group(2)}::{m.group(1)}", query)


@dataclass
class Plan:
    """A generic plan: its total cost and the text EXPLAIN prints."""

    cost: float
    text: str


class Explainer:
    """One read-only session that explains statements generically and tries hypothetical indexes."""

    def __init__(self, dsn: str | None = None, **timeouts: int):
        self.con = connect(dsn, **timeouts)
        self.con.autocommit = True      # each EXPLAIN on its own; the session stays read-only
        self.version = self.con.info.server_version
        self._n = 0
        if self.version < 160000:
            self.con.execute("SET plan_cache_mode = force_generic_plan")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plans -------------------------------------------------------------------------------------------
    def generic_plan(self, query: str) -> Plan:
        """The generic plan of QUERY (one SELECT/UPDATE/DELETE, `$n` parameters allowed)."""
        query = typed_params(query)
        parsed = column_uses(query)
        if parsed.kind not in EXPLAINABLE:
            raise WorkbenchError(f"only SELECT, UPDATE and DELETE are explained, not a {parsed.kind} statement")
        try:
            if self.version >= 160000:
                doc = self._one(f"EXPLAIN (GENERIC_PLAN, FORMAT JSON) {query}")
                text = self._text(f"EXPLAIN (GENERIC_PLAN) {query}")
            else:
                self._n += 1
                name = f"workbench_explain_{self._n}"
                self.con.execute(f"PREPARE {name} AS {query}")
                try:
                    args = "(" + ", ".join(["NULL"] * parsed.params) + ")" if parsed.params else ""
                    doc = self._one(f"EXPLAIN (FORMAT JSON) EXECUTE {name}{args}")
                    text = self._text(f"EXPLAIN EXECUTE {name}{args}")
                finally:
                    self.con.execute(f"DEALLOCATE {name}")
        except (pgerrors.QueryCanceled, pgerrors.LockNotAvailable) as e:
            raise WorkbenchError(f"EXPLAIN timed out: {str(e).splitlines()[0]}") from e
        except psycopg.Error as e:
            raise WorkbenchError(f"EXPLAIN failed: {str(e).splitlines()[0]}") from e
        return Plan(float(doc[0]["Plan"]["Total Cost"]), text)

    def _one(self, statement: str) -> Any:
        row = self.con.execute(statement).fetchone()[0]
        return json.loads(row) if isinstance(row, str) else row

    def _text(self, statement: str) -> str:
        return "\n".join(r[0] for r in self.con.execute(statement).fetchall())

    # -- hypopg --------------------------------------------------------------------------------------------
    def hypopg_version(self) -> str | None:
        """hypopg's version when the extension is created in this database, else None."""
        row = self.con.execute("SELECT extversion FROM pg_extension WHERE extname = 'hypopg'").fetchone()
        return row[0] if row else None

    def hypopg_missing_reason(self) -> str:
        """Why hypopg cannot be used here, with the fix."""
        avail = self.con.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'hypopg'").fetchone()
        db = self.con.info.dbname
        if avail:
            return (f"hypopg {avail[0]} is available but not created in database {db}: a DBA runs "
                    "CREATE EXTENSION hypopg; there (the advisor never changes the server)")
        major = self.version // 10000
        return (f"the hypopg extension is not installed on this server: install it (Debian: postgresql-{major}-hypopg) "
                f"and run CREATE EXTENSION hypopg; in database {db}")

    def with_index(self, query: str, table: str, columns: tuple[str, ...]) -> tuple[Plan, float]:
        """QUERY's generic plan with a hypothetical btree index on TABLE (COLUMNS); and that index's
        estimated size in bytes. The hypothetical index is dropped before returning."""
        schema, _, rel = table.rpartition(".")
        target = pgsql.Identifier(schema, rel) if schema else pgsql.Identifier(rel)
        ddl = pgsql.SQL("CREATE INDEX ON {} ({})").format(
            target, pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns)).as_string(self.con)
        try:
            oid = self.con.execute("SELECT indexrelid FROM hypopg_create_index(%s)", [ddl]).fetchone()[0]
            try:
                size = float(self.con.execute("SELECT hypopg_relation_size(%s)", [oid]).fetchone()[0])
                return self.generic_plan(query), size
            finally:
                self.con.execute("SELECT hypopg_reset()")
        except psycopg.Error as e:
            raise WorkbenchError(f"hypopg could not try {ddl}: {str(e).splitlines()[0]}") from e


def explain(dsn: str | None, query: str, **timeouts: int) -> Plan:
    """One statement's generic plan (`workbench pg explain`)."""
    with Explainer(dsn, **timeouts) as ex:
        return ex.generic_plan(query)


def top_plans(dsn: str | None, statements: list[tuple[int, str]], n: int = 5, **timeouts: int) -> list[dict[str, Any]]:
    """Generic plans of the first N (queryid, query) pairs that can be explained; a statement that cannot
    (a utility statement, another database's table, no text) gets its reason instead of a plan."""
    out: list[dict[str, Any]] = []
    with Explainer(dsn, **timeouts) as ex:
        for queryid, query in statements[:n]:
            try:
                plan = ex.generic_plan(query)
                out.append({"queryid": queryid, "query": query, "cost": plan.cost, "plan": plan.text})
            except WorkbenchError as e:
                out.append({"queryid": queryid, "query": query, "cost": None, "plan": None, "why": str(e)})
    return out


def statement_plans(dsn: str | None, top: Any, n: int = 5) -> list[dict[str, Any]]:
    """`top_plans` for the first N statements of TOP (a frame with queryid and query, most time first)."""
    if top is None or len(top) == 0:
        return []
    pairs = [(int(q), t) for q, t in zip(top["queryid"], top["query"], strict=True) if isinstance(t, str)]
    return top_plans(dsn, pairs, n)


def plans_markdown(plans: list[dict[str, Any]]) -> str:
    """The plans as Markdown for a report: each statement's text, then its plan (or why there is none)."""
    return "\n\n".join(f"**{p['queryid']}** `{p['query'][:120]}`\n\n```\n{p['plan'] or '(' + p['why'] + ')'}\n```"
                         for p in plans)
