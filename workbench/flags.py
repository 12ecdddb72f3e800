"""The playbook's `PerformanceFeatureFlag`, reproduced bit for bit so analysts can re-bucket users.

JavaScript semantics kept: strings are hashed by UTF-16 code unit (`charCodeAt`, so astral characters
count as two surrogates), `(hash << 5) - hash + c` wraps to a 32-bit signed integer (`hash & hash`),
`Math.abs` turns -2**31 into 2**31, then `% 100`.
"""

from __future__ import annotations


def _to_int32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _js_string(value: object) -> str:
    """String conversion as JavaScript's `+` would do it for the ids analysts have (str, int, float)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def js_hash(text: str) -> int:
    """`PerformanceFeatureFlag.hash`: the Java-style string hash, Math.abs'd (0 .. 2**31)."""
    h = 0
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        c = data[i] | (data[i + 1] << 8)
        h = _to_int32(_to_int32(h << 5) - h + c)
    return abs(h)


def bucket_of(user_id: object, flag_name: str) -> int:
    """The user's bucket 0..99 for FLAG_NAME (`hash(userId + flagName) % 100`)."""
    return js_hash(_js_string(user_id) + flag_name) % 100


def bucket(user_id: object, flag_name: str, percentage: float = 50) -> bool:
    """`new PerformanceFeatureFlag(flag_name, percentage).isEnabled(user_id)`."""
    return bucket_of(user_id, flag_name) < percentage
