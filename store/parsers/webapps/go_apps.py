"""Go applications: Gitea/Forgejo, Gotify (Gin request log), File Browser, AdGuard Home.

See store/parsers/webapps/lines.py for the anchoring rules every pattern here follows.
"""

from __future__ import annotations

import re
from datetime import datetime

from store.parsers.common import to_utc
from store.parsers.webapps.addresses import canonical_ip, host_of
from store.parsers.webapps.event import IP as _IP
from store.parsers.webapps.event import Event, Shape
from store.parsers.webapps.event import base as _base
from store.parsers.webapps.event import ts as _ts
from store.parsers.webapps.outcome import mark

_GITEA = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.\d{1,6})? (\S+) \[([A-Z])\] (?:\[[\w-]{1,40}\] )?"
                    r"(.*)", re.S)
_GITEA_FAIL = re.compile(r"Failed authentication attempt for (\S+) from (\[[0-9A-Fa-f:.]{2,45}\]:\d{1,5}|"
                         r"[0-9.]{7,15}:\d{1,5}|" + _IP + r"): (.*)", re.S)
_GIN = re.compile(r"\[GIN\] (\d{4})/(\d\d)/(\d\d) - (\d\d):(\d\d):(\d\d) \| +(\d{3}) \| +(\S+) \| +(" + _IP
                  + r") \| +([A-Z]{3,10}) +\"(.*)\"", re.S)
_GIN_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) \| +(\d{3}) \| +(\S+) \| +("
                      + _IP + r") \| +([A-Z]{3,10}) +\"(.*)\"", re.S)
_FILEBROWSER = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) (/\S*): (\d{3}) (" + _IP + r") (.*)", re.S)
_ADGUARD = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? \[(\w+)\] (.*)", re.S)
_ADGUARD_FAIL = re.compile(r"POST \S+ /control/login: from ip (" + _IP + r"): invalid username or password")
_ADGUARD_OK = re.compile(r'auth: user "(.*)" successfully logged in from ip (' + _IP + r")", re.S)


def _slash_ts(m: re.Match[str], received_at: datetime, frac: str | None = None) -> datetime | None:
    try:
        return to_utc(datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]),
                               int((frac or "0")[:6].ljust(6, "0"))), received_at)
    except ValueError:
        return None


def gitea_message(message: str, ev: Event) -> bool:
    m = _GITEA_FAIL.fullmatch(message)
    if m is None:
        return False
    reason = "unknown user" if m[3].startswith("user does not exist") else m[3].split(" [", 1)[0]
    # Gitea names cannot hold a space, but the name tried can: a second " from " makes the address ambiguous.
    ip = host_of(m[2]) if message.count(" from ") == 1 else None
    mark(ev, "gitea", "login_failed", ip, m[1], reason)
    return True


def _gitea(text: str, received_at: datetime) -> Event | None:
    if "Failed authentication attempt for " not in text:
        return None
    m = _GITEA.fullmatch(text)
    if m is None:
        return None
    ev = _base("gitea", _slash_ts(m, received_at), m[8], m[9], "gitea")
    return ev if gitea_message(m[9], ev) else None


def _gin(text: str, received_at: datetime) -> Event | None:
    """Gin's request log (Gotify): `[GIN] date - time | status | duration | client | method "path"`; Gotify 2.4+
    writes an RFC 3339 time instead of the `[GIN]` prefix."""
    m = _GIN.fullmatch(text)
    if m is not None:
        ts, status, duration, client, method, path = _slash_ts(m, received_at), m[7], m[8], m[9], m[10], m[11]
    else:
        m = _GIN_ISO.fullmatch(text)
        if m is None:
            return None
        ts, status, duration, client, method, path = _ts(m[1], received_at), m[2], m[3], m[4], m[5], m[6]
    ev = _base("gin", ts, None, f"{method} {path}")
    ev["category"] = "web"
    ev["fields"] = {"method": method, "path": path, "status": int(status), "duration": duration}
    if status == "401":
        return mark(ev, "gotify", "login_failed", client, None, "HTTP 401")
    ip = canonical_ip(client)
    if ip:
        ev["src_ip"] = ip
    return ev


def _filebrowser(text: str, received_at: datetime) -> Event | None:
    m = _FILEBROWSER.fullmatch(text)
    if m is None:
        return None
    ev = _base("filebrowser", _slash_ts(m, received_at), None, text[20:], "filebrowser")
    ev["category"] = "web"
    ev["fields"] = {"path": m[7], "status": int(m[8])}
    if m[7] == "/api/login" and m[8] in ("401", "403"):
        return mark(ev, "filebrowser", "login_failed", m[9], None, f"HTTP {m[8]}")
    ip = canonical_ip(m[9])
    if ip:
        ev["src_ip"] = ip
    return ev


def _adguard(text: str, received_at: datetime) -> Event | None:
    if "/control/login" not in text and "successfully logged in" not in text:
        return None
    m = _ADGUARD.fullmatch(text)
    if m is None:
        return None
    ev = _base("adguardhome", _slash_ts(m, received_at, m[7]), m[8], m[9], "adguardhome")
    # AdGuard writes the request's Host header after the method, which the client chooses: the address is only
    # taken from "from ip", which AdGuard resolves itself.
    f = _ADGUARD_FAIL.fullmatch(m[9])
    if f is not None:
        return mark(ev, "adguardhome", "login_failed", f[1])
    o = _ADGUARD_OK.fullmatch(m[9])
    if o is not None:
        return mark(ev, "adguardhome", "login", o[2], o[1])
    return None


# This module's line shapes by name (lines.py decides which to try for a line).
SHAPES: dict[str, Shape] = {
    "gin": _gin,
    "gitea": _gitea,
    "adguard": _adguard,
    "filebrowser": _filebrowser,
}
