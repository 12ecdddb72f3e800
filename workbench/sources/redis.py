"""Redis / Valkey snapshots: `INFO everything` (or `ALL`) and `SLOWLOG GET` from a live server, or a
saved `redis-cli INFO` file, written to the store as one snapshot each.

Identity: the address (host:port, never user or password) and the server's `run_id`. The collector only
sends INFO and SLOWLOG GET (read-only; nothing on the server changes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from workbench.errors import WorkbenchError
from workbench.redact import redact_text, redact_url
from workbench.sources.redis_info import Info, parse_info
from workbench.store import Store, utcnow

if TYPE_CHECKING:
    import redis

SLOWLOG_ENTRIES = 128


@dataclass
class Snapshot:
    """What one snapshot stored: its id, where from, and how many INFO / slowlog rows."""

    snapshot_id: int | None
    address: str
    run_id: str | None
    info_rows: int
    slowlog_rows: int
    skipped: bool = False


_URL_FORM = "use redis[s]://[user:password@]host:port[/db] or unix:///path/to/socket"


def redis_url(url: str | None) -> str:
    """--url, else $REDIS_URL; an error when neither is set."""
    url = url or os.environ.get("REDIS_URL")
    if not url:
        raise WorkbenchError("no Redis URL: pass --url redis://HOST:PORT or set REDIS_URL")
    address_of(url)   # a malformed URL is refused before the store is opened (or created)
    return url


def address_of(url: str) -> str:
    """host:port of a redis:// / rediss:// / unix:// URL, without credentials."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return f"unix:{parts.path}"
        return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    except ValueError as e:
        raise WorkbenchError(f"bad Redis URL {redact_url(url)}: {e}; {_URL_FORM}") from e


def taken_at(info: Info, fallback: dt.datetime | None = None) -> dt.datetime:
    """The server's own clock (`server_time_usec`, Redis 6.2+) when present, else FALLBACK or now."""
    usec = info.num("server_time_usec")
    if usec:
        try:
            return dt.datetime.fromtimestamp(usec / 1e6, dt.UTC)
        except (ValueError, OverflowError, OSError):
            raise WorkbenchError(f"server_time_usec:{info.get('server_time_usec')} is not a time (microseconds "
                                 "since 1970); nothing was stored") from None
    return fallback or utcnow()


# Keys one of which any INFO text has (Server, Clients, Memory, Stats or Replication sections)
KNOWN_KEYS = frozenset({"redis_version", "valkey_version", "run_id", "uptime_in_seconds", "connected_clients",
                        "used_memory", "keyspace_hits", "total_commands_processed", "role"})


def not_info_reason(data: bytes, info: Info) -> str | None:
    """Why DATA is not the text of a Redis INFO reply, or None when it looks like one: text (no NUL
    bytes, UTF-8), `# Section` headers and `key:value` lines, with at least one key INFO always has."""
    if b"\x00" in data:
        return "binary data or UTF-16 text, not the UTF-8 text redis-cli writes"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 text (byte {e.start})"
    if not info.sections:
        return "no `# Section` header lines"
    if not any(r.key in KNOWN_KEYS and r.field is None for r in info.rows):
        return f"none of the keys INFO always has ({', '.join(sorted(KNOWN_KEYS)[:4])}, ...)"
    lines = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for no, line in enumerate(lines, start=1):
        line = line.strip()
        if line and not line.startswith("#") and ":" not in line and not re.fullmatch(r"\$-?\d+", line):
            return f"line {no} is not `key:value`"
    return None


def _slowlog_rows(entries: list[dict], secrets: tuple[str, ...]) -> list[tuple]:
    try:
        return _slowlog_rows_of(entries, secrets)
    except (AttributeError, TypeError, KeyError, ValueError, OverflowError, OSError) as e:
        raise WorkbenchError(f"slowlog: an entry of an unexpected shape ({type(e).__name__}: {e}); expected a "
                             "list of {id, start_time, duration, command}; nothing was stored") from None


def _slowlog_rows_of(entries: list[dict], secrets: tuple[str, ...]) -> list[tuple]:
    if not isinstance(entries, list):
        raise TypeError(f"a JSON {type(entries).__name__}, not a list")
    rows = []
    for e in entries:
        cmd = e.get("command")
        if isinstance(cmd, list | tuple):
            cmd = " ".join(c.decode(errors="replace") if isinstance(c, bytes) else str(c) for c in cmd)
        elif isinstance(cmd, bytes):
            cmd = cmd.decode(errors="replace")
        started = e.get("start_time")
        rows.append((
            int(e["id"]),
            dt.datetime.fromtimestamp(int(started), dt.UTC) if started is not None else None,
            int(e["duration"]) if e.get("duration") is not None else None,
            redact_text(str(cmd or ""), secrets),
            _text(e.get("client_address")),
            _text(e.get("client_name")),
        ))
    return rows


def _text(v: Any) -> str | None:
    if v is None:
        return None
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def write_snapshot(store: Store, info: Info, *, source: str, address: str, source_kind: str,
                   info_section: str, label: str | None = None, slowlog: list[dict] | None = None,
                   sha256: str | None = None, when: dt.datetime | None = None,
                   secrets: tuple[str, ...] = (), own_calls: OwnCalls | None = None) -> Snapshot:
    """Store one parsed INFO (+ slowlog entries) as a snapshot, in one ingest transaction."""
    kind = "redis" if source_kind == "live" else "redis-file"
    with store.ingest(kind, source, sha256=sha256, label=label) as ing:
        sid = store.con.execute(
            "INSERT INTO redis_snapshots (ingest_id, taken_at, label, source_kind, address, run_id, server_name,"
            " server_version, redis_mode, info_section, uptime_s, own_calls_before, own_calls_after)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING snapshot_id",
            [ing.ingest_id, taken_at(info, when), label, source_kind, address, info.run_id, info.server_name,
             info.version, info.get("redis_mode") or info.get("server_mode"), info_section,
             info.num("uptime_in_seconds"),
             json.dumps(own_calls.before) if own_calls else None,
             json.dumps(own_calls.after) if own_calls else None],
        ).fetchone()[0]
        rows = [(sid, r.line_no, r.section, r.key, r.field, r.item_no, redact_text(r.value_text, secrets),
                 r.value_num) for r in info.rows]
        if rows:
            store.con.executemany("INSERT INTO redis_info VALUES (?,?,?,?,?,?,?,?)", rows)
        slow = _slowlog_rows(slowlog or [], secrets)
        if slow:
            store.con.executemany("INSERT INTO redis_slowlog VALUES (?,?,?,?,?,?,?)", [(sid, *r) for r in slow])
        if not info.rows:
            ing.warn(f"{source}: no INFO fields found")
        ing.rows = len(rows) + len(slow)
        ing.details.update(snapshot_id=sid, address=address, run_id=info.run_id, server=info.server_name,
                           version=info.version)
    return Snapshot(sid, address, info.run_id, len(rows), len(slow))


# -- live --------------------------------------------------------------------------------------------
@dataclass
class OwnCalls:
    """Commands the collector sent (commandstats names -> calls): before INFO was read, and after."""

    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)


def connect(url: str, *, ca_file: str | None = None, insecure: bool = False,
            timeout_s: float = 5.0) -> redis.Redis:
    """A redis-py client for URL (redis://, rediss:// TLS, unix://; ACL user/password in the URL).
    It sends no CLIENT SETINFO on connect, so the collector's own commands are known (OwnCalls)."""
    import redis

    # RESP2 (no HELLO) and no CLIENT SETINFO: the handshake is AUTH / SELECT only, as OwnCalls records
    kwargs: dict[str, Any] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s, "protocol": 2}
    try:
        from redis.driver_info import DriverInfo  # redis-py 7.1+
        kwargs["driver_info"] = DriverInfo(name=None, lib_version=None)
    except ImportError:
        kwargs.update(lib_name=None, lib_version=None)
    if url.startswith("rediss://"):
        if ca_file:
            kwargs["ssl_ca_certs"] = ca_file
        if insecure:
            kwargs["ssl_cert_reqs"] = "none"
    try:
        client = redis.Redis.from_url(url, **kwargs)
    except ValueError as e:
        raise WorkbenchError(f"bad Redis URL {redact_url(url)}: {e}; {_URL_FORM}") from e
    client.set_response_callback("INFO", lambda response, **kw: response)  # keep INFO's raw text
    return client


def fetch(url: str, *, ca_file: str | None = None, insecure: bool = False,
          own: OwnCalls | None = None) -> tuple[str, str, list[dict]]:
    """(INFO text, which section was asked, slowlog entries) from the server at URL; OWN, when given, is
    filled with the commands this sent around the INFO that was read."""
    import redis

    addr = address_of(url)
    client = connect(url, ca_file=ca_file, insecure=insecure)
    own = own if own is not None else OwnCalls()
    parts = urlsplit(url)
    if parts.password or parts.username:
        own.before["auth"] = 1
    if (client.connection_pool.connection_kwargs.get("db") or 0) != 0:
        own.before["select"] = 1
    try:
        text, section = "", "everything"
        try:
            text = _decode(client.execute_command("INFO", "everything"))
        except redis.ResponseError:
            text = ""
        if "# Server" not in text and "redis_version" not in text:  # before 7.0: no `everything`
            section = "all"
            own.before["info"] = 1   # the refused INFO everything ran before the INFO that was read
            text = _decode(client.execute_command("INFO", "all"))
        own.after["info"] = 1
        try:
            own.after["slowlog|get"] = own.after["slowlog"] = 1   # commandstats name: 7.0+ | before
            slowlog = client.slowlog_get(SLOWLOG_ENTRIES)
        except redis.ResponseError:
            slowlog = []
        return text, section, slowlog
    except redis.AuthenticationError as e:
        raise WorkbenchError(f"Redis at {addr} refused the credentials ({e}): check the user/password in "
                             "--url or REDIS_URL") from e
    except redis.ResponseError as e:
        msg = str(e)
        hint = "authenticate with redis://USER:PASSWORD@HOST:PORT" if "NOAUTH" in msg or "NOPERM" in msg \
            else "check the server"
        raise WorkbenchError(f"Redis at {addr} answered an error: {redact_text(msg)}: {hint}") from e
    except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
        msg = redact_text(str(e))
        if "CERTIFICATE_VERIFY_FAILED" in msg:
            hint = "pass the server's CA with --ca-file FILE (or --insecure for a lab server)"
        elif url.startswith("redis://") and ("reset by peer" in msg or "Connection closed" in msg):
            hint = "if the server speaks TLS, use rediss://"
        else:
            hint = "check --url / REDIS_URL and that the server is up"
        raise WorkbenchError(f"cannot reach Redis at {addr}: {msg} ({hint})") from e
    finally:
        client.close()


def _decode(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, str):
        return v
    raise WorkbenchError(f"unexpected INFO reply of type {type(v).__name__}")


def collect(store: Store, url: str, *, label: str | None = None, ca_file: str | None = None,
            insecure: bool = False) -> Snapshot:
    """Take one snapshot of the server at URL into STORE."""
    own = OwnCalls()
    text, section, slowlog = fetch(url, ca_file=ca_file, insecure=insecure, own=own)
    secrets = tuple(p for p in [urlsplit(url).password] if p)
    return write_snapshot(store, parse_info(text), source=redact_url(url), address=address_of(url),
                          source_kind="live", info_section=section, label=label, slowlog=slowlog,
                          secrets=secrets, own_calls=own)


# -- files -------------------------------------------------------------------------------------------
def ingest_file(store: Store, path: str | os.PathLike, *, label: str | None = None, server: str | None = None,
                slowlog_path: str | os.PathLike | None = None) -> Snapshot:
    """Ingest a saved `redis-cli INFO [ALL]` text (optionally its `SLOWLOG GET` as JSON); once per file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise WorkbenchError(f"cannot read {p}: {e.strerror}") from e
    sha = hashlib.sha256(data).hexdigest()
    info = parse_info(data)
    address = server or f"file:{info.get('tcp_port') or '?'}"
    if store.find_ingest("redis-file", None, {"sha256": sha}) is not None:
        return Snapshot(None, address, info.run_id, 0, 0, skipped=True)
    reason = not_info_reason(data, info)
    if reason:
        raise WorkbenchError(f"{p}: not a Redis INFO text ({reason}); expected the output of "
                             "`redis-cli INFO ALL`; nothing was stored")
    slowlog = []
    if slowlog_path:
        try:
            slowlog = json.loads(Path(slowlog_path).read_text())
        except (OSError, ValueError, RecursionError) as e:
            raise WorkbenchError(f"cannot read slowlog JSON {slowlog_path}: {e}") from e
    try:
        return write_snapshot(store, info, source=str(p), address=address, source_kind="file",
                              info_section="file", label=label, slowlog=slowlog, sha256=sha)
    except WorkbenchError as e:
        raise WorkbenchError(f"{slowlog_path if str(e).startswith('slowlog') else p}: {e}") from None


def load_samples(store: Store, sample_dir: Path) -> str:
    """Ingest data/samples/redis/: info_NN.txt (+ slowlog_NN.json) in order, server from meta.json."""
    meta_path = sample_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    files = sorted(sample_dir.glob("info_*.txt"))
    labels = meta.get("labels", {})
    for f in files:
        slow = f.with_name(f.name.replace("info_", "slowlog_").replace(".txt", ".json"))
        ingest_file(store, f, label=labels.get(f.name), server=meta.get("address"),
                    slowlog_path=slow if slow.exists() else None)
    return f"redis: {len(files)} INFO snapshots"
