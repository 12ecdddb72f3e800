"""Secret redaction for DSNs, URLs and free text. Imports nothing from the package (lowest layer)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# key=value pairs in libpq DSNs and similar config strings
_KV_SECRET = re.compile(
    r"(?i)\b(password|passwd|pwd|token|secret|api[_-]?key|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)"
)
# user:password@ in any URL-ish string
# (the password may itself hold '@': it runs to the last '@' before the host)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/@\s:]*):([^/\s]*)@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
# names of settings/parameters whose values are secrets
SECRET_NAME = re.compile(r"(?i)(pass|pwd|secret|token|key|credential|auth|private)")


def secrets_in(text: str) -> list[str]:
    """The secret values inside TEXT: URL passwords and key=value secrets (the same patterns
    redact_text masks), so they can also be masked wherever they appear on their own."""
    found = [m.group(3) for m in _URL_USERINFO.finditer(text)]
    found += [m.group(2).strip("'") for m in _KV_SECRET.finditer(text)]
    return [s for s in found if s and s != MASK]


def at_in_password(url: str) -> bool:
    """Whether URL's userinfo holds a raw '@' (user:p@ss@host): libpq would read the password up to the
    first '@' and the rest as the host, so messages would quote part of the password."""
    m = _URL_USERINFO.match(url.strip())
    return bool(m) and "@" in m.group(3)


def redact_url(url: str) -> str:
    """Return URL with any password in its userinfo replaced by ***."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return redact_text(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:   # a bad port (99999) or netloc: the text patterns still mask the password
        return redact_text(url)
    user = parts.username or ""
    netloc = f"{user}:{MASK}@{host}" if user else f":{MASK}@{host}"
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def redact_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Mask password=..., user:pass@ URLs, bearer tokens and any literal SECRETS in TEXT."""
    out = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", text)
    out = _KV_SECRET.sub(lambda m: f"{m.group(1)}={MASK}", out)
    out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", out)
    for s in secrets:
        if s and len(s) >= 3:
            out = out.replace(s, MASK)
    return out

