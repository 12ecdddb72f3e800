"""Where a report's numbers come from: the store's ingests (source, sha256 or BLAKE3 fingerprint, time) and the
versions of the workbench, k6, PostgreSQL and Redis, as far as the store records them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench import __version__
from workbench.errors import WorkbenchError
from workbench.redact import redact_text
from workbench.store import open_if_exists

MAX_INGESTS = 200


@dataclass
class Provenance:
    """The footer's facts; `note` says why there are none (no store, store busy)."""

    store: str | None
    ingests: list[dict[str, Any]] = field(default_factory=list)
    more: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    note: str | None = None


def _distinct(con: Any, sql: str) -> list[str]:
    try:
        return [str(r[0]) for r in con.execute(sql).fetchall() if r[0] not in (None, "")]
    except Exception:   # a table from a later migration is absent in an older store: that version is unknown
        return []


def _k6_versions(con: Any) -> list[str]:
    """k6 versions where the store holds one: a run tag or an ingest detail named k6_version."""
    found = _distinct(con, "SELECT DISTINCT json_extract_string(tags, '$.k6_version') FROM k6_runs")
    found += _distinct(con, "SELECT DISTINCT json_extract_string(details, '$.k6_version') FROM ingests")
    return sorted(set(found))


def collect(db: str | None, secrets: list[str] | tuple[str, ...] = ()) -> Provenance:
    """The provenance of DB (read-only; a missing or busy store gives a note, never an error)."""
    versions = {"workbench": __version__}
    if not db:
        return Provenance(None, versions=versions, note="no store was given")
    try:
        store = open_if_exists(db)
    except WorkbenchError as e:
        return Provenance(db, versions=versions, note=f"store not readable now: {redact_text(str(e), secrets)}")
    if store is None:
        return Provenance(db, versions=versions, note="the store does not exist")
    try:
        con = store.con
        total = con.execute("SELECT count(*) FROM ingests").fetchone()[0]
        rows = con.execute("SELECT ingest_id, kind, source, coalesce('sha256 ' || sha256, 'blake3 ' || blake3), run, "
                           "label, rows, started_at FROM ingests "
                           " ORDER BY started_at DESC, ingest_id DESC LIMIT ?",
                           [MAX_INGESTS]).fetchall()
        ingests = []
        for (iid, kind, source, fingerprint, run, label, n, at) in rows:
            ingests.append({"id": iid, "kind": kind, "source": redact_text(source or "", secrets),
                            "fingerprint": fingerprint, "run": run, "label": redact_text(label or "", secrets) or None,
                            "rows": n, "at": at})
        wb = sorted(set(_distinct(con, "SELECT DISTINCT workbench_version FROM ingests")) - {__version__})
        if wb:
            versions["workbench (at ingest)"] = ", ".join(wb)
        for name, found in (("k6", _k6_versions(con)),
                            ("PostgreSQL", _distinct(con, "SELECT DISTINCT server_version FROM pg_snapshots")),
                            ("Redis", _distinct(con, "SELECT DISTINCT server_version FROM redis_snapshots"))):
            versions[name] = ", ".join(found) if found else "not recorded in the store"
        return Provenance(db, ingests, max(0, total - len(ingests)), versions)
    finally:
        store.close()
