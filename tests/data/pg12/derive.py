"""Derive tests/data/pg12/catalog.json from a PostgreSQL 12 source tree (a git repository).

    python tests/data/pg12/derive.py GIT_DIR [REF] > tests/data/pg12/catalog.json

Reads, at REF (default HEAD), `src/backend/catalog/system_views.sql` (the output columns of each view
the collector reads; `SELECT *` resolved through the view or set-returning function it selects from),
`src/include/catalog/pg_proc.dat` (the OUT arguments of those functions, e.g. pg_lock_status),
`src/include/catalog/pg_index.h` (pg_index's columns) and `contrib/pg_stat_statements/` (the
pg_stat_statements function's OUT arguments in the extension's base script, parsed as
tests/data/pgss/derive.py parses them; later upgrade scripts up to the control file's default_version
must not redefine it). Nothing is built or run from the tree.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("pgss_derive", Path(__file__).parent.parent / "pgss" / "derive.py")
pgss_derive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pgss_derive)

VIEWS = ["pg_stat_user_tables", "pg_statio_user_tables", "pg_stat_user_indexes", "pg_statio_user_indexes",
         "pg_stat_database", "pg_stat_activity", "pg_sequences", "pg_stats", "pg_locks", "pg_settings"]
# Columns later servers have and 12 lacks (checked against the derived lists below), with the version
# that added them: the collector must not ask a 12 server for them.
ADDED_LATER = {"pg_stat_user_tables.n_ins_since_vacuum": 13, "pg_stat_activity.leader_pid": 13,
               "pg_stat_activity.query_id": 14, "pg_stat_database.session_time": 14, "pg_locks.waitstart": 14,
               "pg_index.indnullsnotdistinct": 15, "pg_stat_user_tables.last_seq_scan": 16,
               "pg_stat_statements.toplevel": 14, "pg_stat_statements.total_exec_time": 13,
               "pg_stat_statements.wal_bytes": 13}


def show(git_dir: str, ref: str, path: str) -> str:
    return subprocess.run(["git", "-C", git_dir, "show", f"{ref}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def _split_top(text: str) -> list[str]:
    """TEXT split on commas outside parentheses."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


def _select_list(body: str) -> tuple[str, str]:
    """A view body's select list and what follows its top-level FROM."""
    m = re.match(r"\s*SELECT\s", body, re.I)
    assert m, body[:80]
    depth, i = 0, m.end()
    while i < len(body):
        ch = body[i]
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and re.match(r"\bFROM\b", body[i:i + 5], re.I) and not body[i - 1].isalnum() \
                and body[i - 1] != "_":
            return body[m.end():i], body[i + 4:]
        i += 1
    raise ValueError("no FROM")


def _column_name(item: str) -> str:
    m = re.search(r"\bAS\s+(\w+)\s*$", item, re.I)
    if m:
        return m.group(1).lower()
    return re.split(r"\.", item.strip())[-1].lower()


def _proc_out_names(proc_dat: str, name: str) -> list[str]:
    entry = re.search(r"proname => '" + re.escape(name) + r"'.*?prosrc => '[^']*' \}", proc_dat, re.S)
    assert entry, name
    names = re.search(r"proargnames => '\{([^}]*)\}'", entry.group(0)).group(1).split(",")
    modes = re.search(r"proargmodes => '\{([^}]*)\}'", entry.group(0)).group(1).split(",")
    return [n for n, m in zip(names, modes, strict=True) if m in ("o", "b", "t")]


def view_columns(sql: str, proc_dat: str, view: str) -> list[str]:
    m = re.search(r"CREATE (?:OR REPLACE )?VIEW " + re.escape(view) + r"\b[^\n]*?\bAS\b(.*?);\s*\n", sql, re.S)
    assert m, view
    select, rest = _select_list(m.group(1))
    if select.strip() == "*":
        src = re.match(r"\s*(\w+)(\(\))?", rest)
        return _proc_out_names(proc_dat, src.group(1)) if src.group(2) else view_columns(sql, proc_dat, src.group(1))
    return [_column_name(item) for item in _split_top(select)]


def struct_columns(header: str, catalog: str) -> list[str]:
    body = re.search(r"CATALOG\(" + catalog + r",.*?\{(.*?)\}\s*FormData", header, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return [m.group(1) for m in re.finditer(r"^\s*\w+\s+(\w+)(?:\[[^\]]*\])?\s*(?:BKI_\w+(?:\([^)]*\))?\s*)*;",
                                            body, re.M)]


def pgss_columns(git_dir: str, ref: str) -> tuple[str, list[str]]:
    """The default extension version and the OUT columns of its pg_stat_statements function."""
    d = "contrib/pg_stat_statements"
    version = re.search(r"default_version = '([\d.]+)'", show(git_dir, ref, f"{d}/pg_stat_statements.control")).group(1)
    files = subprocess.run(["git", "-C", git_dir, "ls-tree", "--name-only", ref, f"{d}/"], check=True,
                           capture_output=True, text=True).stdout.split()
    def num(v: str) -> list[int]:
        return [int(x) for x in v.split(".")]

    base = max((f for f in files if re.fullmatch(rf"{d}/pg_stat_statements--[\d.]+\.sql", f)),
               key=lambda f: num(re.search(r"--([\d.]+)\.sql", f).group(1)))
    base_version = re.search(r"--([\d.]+)\.sql", base).group(1)
    text = show(git_dir, ref, base)
    for f in files:   # no upgrade script from the base version up to the default may redefine the function
        m = re.fullmatch(rf"{d}/pg_stat_statements--([\d.]+)--([\d.]+)\.sql", f)
        if m and num(m.group(1)) >= num(base_version) and num(m.group(2)) <= num(version):
            assert "CREATE FUNCTION pg_stat_statements(" not in show(git_dir, ref, f), f
    return version, [name for name, _ in pgss_derive.columns(text)]


def derive(git_dir: str, ref: str = "HEAD") -> dict:
    sql = show(git_dir, ref, "src/backend/catalog/system_views.sql")
    proc = show(git_dir, ref, "src/include/catalog/pg_proc.dat")
    configure = show(git_dir, ref, "configure.in")
    version = re.search(r"AC_INIT\(\[PostgreSQL\], \[([\d.]+)\]", configure).group(1)
    major, minor = (int(x) for x in version.split("."))
    views = {v: view_columns(sql, proc, v) for v in VIEWS}
    views["pg_index"] = struct_columns(show(git_dir, ref, "src/include/catalog/pg_index.h"), "pg_index")
    pgss_version, views["pg_stat_statements"] = pgss_columns(git_dir, ref)
    for col in ADDED_LATER:
        view, name = col.split(".")
        assert name not in views[view], col
    commit = subprocess.run(["git", "-C", git_dir, "rev-parse", ref], check=True, capture_output=True,
                            text=True).stdout.strip()
    return {"server_version": version, "server_version_num": major * 10000 + minor, "pgss_version": pgss_version,
            "source": {"tree": f"PostgreSQL {version} release tree", "commit": commit,
                       "files": ["src/backend/catalog/system_views.sql", "src/include/catalog/pg_proc.dat",
                                 "src/include/catalog/pg_index.h", "contrib/pg_stat_statements/"]},
            "views": views, "added_later": ADDED_LATER}


if __name__ == "__main__":
    print(json.dumps(derive(*sys.argv[1:3]), indent=1))
