"""What every application-line shape shares: the address pattern it captures with (always validated after), the
event it starts from, and timestamp parsing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from store.parsers.common import level_severity, parse_iso

Event = dict[str, Any]
Shape = Callable[[str, datetime], Event | None]

# Characters of an IPv4/IPv6 address; what a pattern captures with it is checked with addresses.canonical_ip.
IP = r"[0-9A-Fa-f:.]{2,45}"


def ts(text: str, received_at: datetime) -> datetime | None:
    """ISO 8601 in any of the spellings applications use (space or T, comma or dot, offset or not)."""
    return parse_iso(text, received_at)


def base(fmt: str, when: datetime | None, level: str | None, message: str, app: str | None = None) -> Event:
    """A line's event before any login semantics: format, time, level (as severity and `fields.level`), app."""
    ev: Event = {"format": fmt, "ts": when, "message": message}
    if app:
        ev["app"] = app
    if level:
        sev = level_severity(level)
        if sev is not None:
            ev["severity"] = sev
        ev["fields"] = {"level": level}
    return ev
