"""A tolerant parser for the text of Redis / Valkey `INFO` (2.8 to 7.x, Valkey 8+).

It never raises on text: whatever it cannot read is kept as a row with its text. What it handles:

- CRLF or LF line ends, a leading RESP bulk-length line (`$4050`) as `redis-cli --no-raw` or a raw
  socket capture leaves it, blank lines;
- section headers (`# Server`, `#Server`, `# Key Size`): names kept as written;
- values containing `:` (paths, IPv6 `::1`), split on the first colon only, except keys such as
  `cmdstat_host:` (the `HOST:` pseudo-command), whose line is `cmdstat_host::calls=...`;
- keys containing `|` (`cmdstat_config|get`);
- `k=v,k=v` maps (commandstats, keyspace, replicas, modules) as one row per field, repeated fields
  kept in order;
- numbers: integers, decimals, `93.04%` (number 93.04), human sizes `1.04M` (bytes, 1024-based);
  strings that only look numeric (`redis_git_sha1:00000000`, ids with leading zeros) stay text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Fields that are identifiers even when they happen to be all digits.
TEXT_KEYS = frozenset({
    "redis_git_sha1", "redis_build_id", "run_id", "master_replid", "master_replid2", "redis_version",
    "valkey_version", "valkey_release_stage", "server_name", "os", "gcc_version", "executable",
    "config_file", "mem_allocator", "process_supervised", "master_host", "role", "redis_mode",
})
_NUM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LEADING_ZERO = re.compile(r"[+-]?0\d")
_HUMAN = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<u>[BKMGTP])")
_UNITS = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_MAP_FIELD = re.compile(r"[A-Za-z_][\w.|\-]*=")
_LINE = re.compile(r"(?P<key>[^:]*):(?P<extra>:)?(?P<rest>.*)", re.S)


@dataclass(frozen=True)
class InfoRow:
    """One long-form row: the section as written, the INFO key, the map field (None for a plain value)."""

    line_no: int
    section: str
    key: str
    field: str | None
    item_no: int | None
    value_text: str
    value_num: float | None


@dataclass
class Info:
    """A parsed INFO text: rows in order, plus lookups for the scalar fields."""

    rows: list[InfoRow] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The text of the first plain (non-map) value of KEY."""
        for r in self.rows:
            if r.key == key and r.field is None:
                return r.value_text
        return default

    def num(self, key: str) -> float | None:
        """The number of the first plain value of KEY, if it is one."""
        for r in self.rows:
            if r.key == key and r.field is None:
                return r.value_num
        return None

    def map(self, key: str) -> dict[str, str]:
        """The k=v fields of KEY (first occurrence of each field)."""
        out: dict[str, str] = {}
        for r in self.rows:
            if r.key == key and r.field is not None:
                out.setdefault(r.field, r.value_text)
        return out

    @property
    def server_name(self) -> str:
        """`valkey` when the server says so (server_name / valkey_version), else `redis`."""
        name = self.get("server_name")
        if name:
            return name.strip().lower()
        return "valkey" if self.get("valkey_version") else "redis"

    @property
    def version(self) -> str | None:
        return self.get("valkey_version") or self.get("redis_version")

    @property
    def run_id(self) -> str | None:
        return self.get("run_id")


def parse_number(key: str, text: str) -> float | None:
    """The numeric value of TEXT for KEY, or None when it is (or only looks like) text."""
    t = text.strip()
    if not t or key in TEXT_KEYS:
        return None
    try:
        if _NUM.fullmatch(t):
            if _LEADING_ZERO.match(t):
                return None  # 00000000, 0123: an id, not a number
            return float(t)
        if t.endswith("%") and _NUM.fullmatch(t[:-1]):
            return float(t[:-1])
        m = _HUMAN.fullmatch(t)
        if m:
            return float(m.group("n")) * _UNITS[m.group("u")]
    except (ValueError, OverflowError):
        return None
    return None


def _split_map(value: str) -> list[tuple[str, str]] | None:
    """[(field, value)] when VALUE is a k=v,k=v map, else None."""
    if not _MAP_FIELD.match(value):
        return None
    items = []
    for part in value.split(","):
        if "=" not in part:
            if not items:
                return None
            # a comma inside a value (e.g. a module option list): glue it back
            f, v = items[-1]
            items[-1] = (f, f"{v},{part}")
            continue
        f, _, v = part.partition("=")
        items.append((f, v))
    return items


def _key_value(line: str) -> tuple[str, str]:
    m = _LINE.fullmatch(line)
    if m is None:
        return line.strip(), ""
    key, rest = m.group("key"), m.group("rest")
    if m.group("extra"):
        if _MAP_FIELD.match(rest) and key.startswith(("cmdstat_", "latency_percentiles_usec_", "errorstat_")):
            key += ":"  # `cmdstat_host::calls=1,...`: the command is `host:`
        else:
            rest = ":" + rest
    return key.strip(), rest.strip()


def parse_info(text: str | bytes) -> Info:
    """Parse INFO text into long-form rows. Never raises on any input."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    info = Info()
    section = ""
    first = True
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if first and re.fullmatch(r"\$-?\d+", line):
            first = False
            continue  # RESP bulk-string length before the text
        first = False
        if line.startswith("#"):
            section = line.lstrip("#").strip()
            info.sections.append(section)
            continue
        key, value = _key_value(line)
        items = _split_map(value)
        if items is None:
            info.rows.append(InfoRow(no, section, key, None, None, value, parse_number(key, value)))
            continue
        for i, (f, v) in enumerate(items):
            info.rows.append(InfoRow(no, section, key, f, i, v, parse_number(f, v)))
    return info
