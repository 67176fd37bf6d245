"""Helpers the service families share to fill the normalised columns of one event.

`mark` sets action, outcome, category, src_ip, src_port, user and `fields` in one call. An address reaches
`src_ip` only through `address()`: a validated IP (IPv4-mapped IPv6 written the way IPv4 is, so one client is one
group whatever the service's socket family), never a host name. `single()` is the ambiguity rule every family
applies: when a line holds more than one candidate address at the position the service writes it (an attacker put
one into a user name, a file name or a header), the line names no address at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from store.parsers.common import ip_or_none, parse_iso, port_or_none

AUTH = "authentication"
_MAPPED = "::ffff:"


def address(text: str | None) -> str | None:
    """`text` as an IP address, `::ffff:1.2.3.4` → `1.2.3.4`, brackets stripped; None for anything else."""
    if not text:
        return None
    if text[0] == "[" and text[-1] == "]":
        text = text[1:-1]
    if text[:7].lower() == _MAPPED and "." in text:
        text = text[7:]
    return ip_or_none(text)


def single(candidates: Iterable[str | None]) -> str | None:
    """The one distinct valid address among `candidates`; None when there is none or more than one."""
    found: set[str] = set()
    for c in candidates:
        ip = address(c)
        if ip is not None:
            found.add(ip)
            if len(found) > 1:
                return None
    return found.pop() if found else None


def fields(ev: dict[str, Any]) -> dict[str, Any]:
    f = ev.get("fields")
    if not isinstance(f, dict):
        f = ev["fields"] = {}
    return f


def mark(ev: dict[str, Any], action: str | None, *, outcome: str | None = None, category: str | None = None,
         ip: str | None = None, port: object = None, user: str | None = None, **extra: Any) -> bool:
    """Fill the normalised columns; `ip` must already be the address the service wrote at its fixed position.

    Returns True so extractors can `return mark(...)`.
    """
    if action is not None:
        ev["action"] = action
    if outcome is not None:
        ev["outcome"] = outcome
    if category is not None:
        ev["category"] = category
    elif action in ("login_failed", "login", "invalid_user", "max_attempts"):
        ev["category"] = AUTH
    if action == "login_failed" and outcome is None:
        ev["outcome"] = "failure"
    elif action == "login" and outcome is None:
        ev["outcome"] = "success"
    addr = address(ip)
    if addr is not None:
        ev["src_ip"] = addr
    p = port_or_none(port)
    if p is not None and addr is not None:
        ev["src_port"] = p
    if user:
        ev["user"] = user[:256]
    if extra:
        f = fields(ev)
        for k, v in extra.items():
            if v is not None:
                f[k] = v
    return True


def iso_time(text: str, received_at: datetime) -> datetime | None:
    """ISO-ish `YYYY-MM-DD[ T]HH:MM:SS[.,frac][zone]` as written by the services here → aware UTC, or None."""
    return parse_iso(text.replace(",", ".", 1) if "," in text else text, received_at)
