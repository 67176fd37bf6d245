"""Node.js applications: Uptime Kuma and Dockge, Overseerr/Jellyseerr, Immich, Joplin Server, Audiobookshelf.

See store/parsers/webapps/lines.py for the anchoring rules every pattern here follows.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from store.parsers.common import to_utc
from store.parsers.webapps.addresses import canonical_ip
from store.parsers.webapps.event import IP as _IP
from store.parsers.webapps.event import Event, Shape
from store.parsers.webapps.event import base as _base
from store.parsers.webapps.event import ts as _ts
from store.parsers.webapps.outcome import mark

_KUMA = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) \[([\w-]{1,40})\] (\w+): (.*)",
                   re.S)
_KUMA_FAIL = re.compile(r"(Incorrect username or password|Invalid token provided) for user (.*)\. IP=(" + _IP + r")",
                        re.S)
_KUMA_OK = re.compile(r"Successfully logged in user (.*)\. IP=(" + _IP + r")", re.S)
_SEERR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z) \[(\w+)\]\[([\w ]{1,40})\]: (.*)", re.S)
_SEERR_FAIL = re.compile(r"(Failed sign-in attempt using invalid \w+ password|Failed login attempt from user with "
                         r"incorrect \w+ credentials|Failed login attempt from user without \w+ credentials) (\{.*\})",
                         re.S)
_IMMICH = re.compile(r"\[Nest\] (\d+) +- (\d\d)/(\d\d)/(\d{4}), (\d{1,2}):(\d\d):(\d\d)(?: (AM|PM))? +(\w+) "
                     r"\[([\w.]{1,100})\] (.*)", re.S)
_IMMICH_FAIL = re.compile(r"Failed login attempt for user (.*) from ip address (" + _IP + r")", re.S)
_JOPLIN = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): (?:\[(\w+)\] )?App: (.*)", re.S)
_JOPLIN_ERROR = re.compile(r"(\d{3}): ([A-Z]{3,10}) (\S+): (" + _IP + r"): Invalid username or password: (\{.*\})",
                           re.S)
_JOPLIN_ACCESS = re.compile(r"(" + _IP + r"): (\d+) B: ([A-Z]{3,10}) (\S+) \((\d{3})\) \((\d+)ms\)")
_ABS_TEXT = re.compile(r"\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?)\] (\w+): (.*)", re.S)
_ABS_FAIL = re.compile(r'\[Auth\] Failed login attempt for username "(.*)" from ip (' + _IP + r") \(([^()]{0,80})\)",
                       re.S)
_ABS_OK = re.compile(r'\[Auth\] User "(.*)" logged in from ip (' + _IP + r")", re.S)


def kuma_message(message: str, ev: Event, service: str) -> bool:
    m = _KUMA_FAIL.fullmatch(message)
    if m is not None:
        mfa = m[1].startswith("Invalid token")
        mark(ev, service, "login_failed", m[3], m[2], "invalid 2FA token" if mfa else "wrong password")
        return True
    m = _KUMA_OK.fullmatch(message)
    if m is not None:
        mark(ev, service, "login", m[2], m[1])
        return True
    return False


def _kuma(text: str, received_at: datetime) -> Event | None:
    m = _KUMA.fullmatch(text)
    if m is None:
        return None
    # Dockge (the same author's compose manager) logs whole seconds; Uptime Kuma logs milliseconds.
    service = "uptime-kuma" if m[2] else "dockge"
    ev = _base("uptime-kuma", _ts(m[1], received_at), m[4], m[5], m[3])
    if m[3] == "AUTH":
        kuma_message(m[5], ev, service)
    return ev


def seerr_message(message: str, ev: Event) -> bool:
    """Overseerr/Jellyseerr: the address and account are keys of the JSON object the line ends with."""
    m = _SEERR_FAIL.fullmatch(message)
    if m is None:
        return False
    try:
        obj = json.loads(m[2])
    except ValueError:
        return False
    if not isinstance(obj, dict):
        return False
    account = obj.get("account")
    acct: dict[str, Any] = account if isinstance(account, dict) else obj
    ip, user = acct.get("ip"), acct.get("email")
    mark(ev, "overseerr", "login_failed", ip if isinstance(ip, str) else None,
         user if isinstance(user, str) else None, m[1])
    return True


def _seerr(text: str, received_at: datetime) -> Event | None:
    m = _SEERR.fullmatch(text)
    if m is None:
        return None
    ev = _base("overseerr", _ts(m[1], received_at), m[2], m[4], m[3])
    seerr_message(m[4], ev)
    return ev


def _immich(text: str, received_at: datetime) -> Event | None:
    m = _IMMICH.fullmatch(text)
    if m is None:
        return None
    hour = int(m[5])
    if m[8] == "PM" and hour < 12:
        hour += 12
    elif m[8] == "AM" and hour == 12:
        hour = 0
    try:
        ts: datetime | None = to_utc(datetime(int(m[4]), int(m[2]), int(m[3]), hour, int(m[6]), int(m[7])),
                                     received_at)
    except ValueError:
        ts = None
    ev = _base("immich", ts, m[9], m[11], m[10])
    f = _IMMICH_FAIL.fullmatch(m[11])
    if f is not None:
        mark(ev, "immich", "login_failed", f[2], f[1])
    return ev


def _joplin(text: str, received_at: datetime) -> Event | None:
    m = _JOPLIN.fullmatch(text)
    if m is None:
        return None
    ev = _base("joplin", _ts(m[1], received_at), m[2], m[3], "joplin")
    e = _JOPLIN_ERROR.fullmatch(m[3])
    if e is not None:
        user = None
        try:
            obj = json.loads(e[5])
            user = obj.get("email") if isinstance(obj, dict) and isinstance(obj.get("email"), str) else None
        except ValueError:
            pass
        return mark(ev, "joplin", "login_failed", e[4], user, f"HTTP {e[1]} on {e[3]}")
    a = _JOPLIN_ACCESS.fullmatch(m[3])
    if a is not None:
        ev["category"] = "web"
        ev.setdefault("fields", {}).update(method=a[3], path=a[4], status=int(a[5]))
        # The API's failures are logged by the error line above; the web form's only here.
        if a[3] == "POST" and a[4] == "/login" and a[5] == "403":
            return mark(ev, "joplin", "login_failed", a[1], None, "HTTP 403 on /login")
        ip = canonical_ip(a[1])
        if ip:
            ev["src_ip"] = ip
    return ev


def abs_message(message: str, ev: Event) -> bool:
    m = _ABS_FAIL.fullmatch(message)
    if m is not None:
        mark(ev, "audiobookshelf", "login_failed", m[2], m[1], m[3])
        return True
    m = _ABS_OK.fullmatch(message)
    if m is not None:
        mark(ev, "audiobookshelf", "login", m[2], m[1])
        return True
    return False


def _abs_text(text: str, received_at: datetime) -> Event | None:
    if "[Auth] " not in text:
        return None
    m = _ABS_TEXT.fullmatch(text)
    if m is None:
        return None
    ev = _base("audiobookshelf", _ts(m[1], received_at), m[2], m[3], "audiobookshelf")
    return ev if abs_message(m[3], ev) else None


# This module's line shapes by name (lines.py decides which to try for a line).
SHAPES: dict[str, Shape] = {
    "joplin": _joplin,
    "kuma": _kuma,
    "seerr": _seerr,
    "immich": _immich,
    "abs": _abs_text,
}
