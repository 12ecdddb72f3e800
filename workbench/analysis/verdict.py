"""The one shape of a report's conclusion: every notebook shows a `Verdict` first, and the index lists it.

status is "pass" (good news), "fail" (a threshold, target, gate or budget missed) or "info" (nothing to
judge, or not decided); headline is the plain-language sentence a manager reads in ten seconds;
technical is the line with the numbers and their intervals; details are the findings under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUSES = {True: "pass", False: "fail", None: "info"}


@dataclass(frozen=True)
class Verdict:
    """A report's conclusion: status, plain-language headline, technical line, details."""

    status: str
    headline: str
    technical: str | None = None
    details: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES.values():
            raise ValueError(f"verdict status {self.status!r}: one of {', '.join(STATUSES.values())}")

    @classmethod
    def judged(cls, ok: bool | None, headline: str, technical: str | None = None,
               details: list[str] | tuple[str, ...] = ()) -> Verdict:
        """A verdict from OK: True pass, False fail, None info."""
        return cls(STATUSES[None if ok is None else bool(ok)], headline, technical or None, tuple(details))

    @property
    def ok(self) -> bool | None:
        """True for pass, False for fail, None for info."""
        return {v: k for k, v in STATUSES.items()}[self.status]

    def details_markdown(self) -> str:
        """The details as a Markdown bullet list ('' without any)."""
        return "\n".join(f"- {x}" for x in self.details)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "ok": self.ok, "headline": self.headline, "technical": self.technical,
                "details": list(self.details)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        """The inverse of `to_dict` (also reads the older {text, ok, technical} payload of saved reports)."""
        if "status" in d:
            return cls(d["status"], d.get("headline") or "", d.get("technical"), tuple(d.get("details") or ()))
        return cls.judged(d.get("ok"), d.get("text") or "", d.get("technical"))
