""".NET applications (Serilog and NLog headers): Bitwarden, Ombi, Jellyfin, Emby, and the Servarr family
(Sonarr, Radarr, Prowlarr, Lidarr, Readarr) in their file format.

See store/parsers/webapps/lines.py for the anchoring rules every pattern here follows.
"""

from __future__ import annotations

import re
from datetime import datetime

from store.parsers.webapps.event import IP as _IP
from store.parsers.webapps.event import Event, Shape
from store.parsers.webapps.event import base as _base
from store.parsers.webapps.event import ts as _ts
from store.parsers.webapps.outcome import mark

_SERILOG = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?) ([+-]\d\d:\d\d) \[(\w{3,11})\] (.*)", re.S)
_SERILOG_BRACKET = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?) ([+-]\d\d:\d\d)\] \[(\w{3,11})\] "
                              r"(?:\[\d{1,6}\] )?(?:([\w.`]{1,200}): )?(.*)", re.S)
_BITWARDEN = re.compile(r"Failed login attempt(, 2FA invalid)?\. (" + _IP + r")\s*")
_OMBI = re.compile(r"Failed login attempt by IP: (" + _IP + r")\s*")
_JELLYFIN_DENIED = re.compile(r'Authentication request for "?(.*?)"? has been denied \(IP: "?(' + _IP + r')"?\)\.?')
_JELLYFIN_OK = re.compile(r'Authentication request for "?(.*?)"? has succeeded\.?')
_EMBY = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?) (\w+) ([\w.]{1,100}): (.*)", re.S)
_EMBY_FAIL = re.compile(r"AUTH-ERROR: (" + _IP + r") - Invalid username or password entered\.")
_NLOG = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?)\|(\w{3,11})\|(\w{1,64})\|(.*)", re.S)
_ARR_AUTH = re.compile(r"(Auth-Failure|Auth-Success) ip (" + _IP + r") username '(.*)'")


def dotnet_message(message: str, ev: Event) -> bool:
    """Bitwarden, Ombi and Jellyfin messages (their headers differ; the wording is what tells them apart)."""
    m = _BITWARDEN.fullmatch(message)
    if m is not None:
        mark(ev, "bitwarden", "login_failed", m[2], None, "2FA invalid" if m[1] else "wrong password")
        return True
    m = _OMBI.fullmatch(message)
    if m is not None:
        mark(ev, "ombi", "login_failed", m[1], None)
        return True
    return jellyfin_message(message, ev)


def jellyfin_message(message: str, ev: Event) -> bool:
    m = _JELLYFIN_DENIED.fullmatch(message)
    if m is not None:
        mark(ev, "jellyfin", "login_failed", m[2], m[1])
        return True
    m = _JELLYFIN_OK.fullmatch(message)
    if m is not None:
        mark(ev, "jellyfin", "login", None, m[1])
        return True
    return False


def arr_message(message: str, ev: Event, service: str) -> bool:
    """Sonarr/Radarr/Prowlarr/Lidarr/Readarr (the Servarr code base) `Auth` logger lines."""
    m = _ARR_AUTH.fullmatch(message)
    if m is None:
        return False
    ok = m[1] == "Auth-Success"
    mark(ev, service, "login" if ok else "login_failed", m[2], m[3])
    return True


def _serilog(text: str, received_at: datetime) -> Event | None:
    m = _SERILOG.fullmatch(text)
    if m is None:
        return None
    ev = _base("serilog", _ts(m[1] + m[2], received_at), m[3], m[4])
    dotnet_message(m[4], ev)
    return ev


def _serilog_bracket(text: str, received_at: datetime) -> Event | None:
    m = _SERILOG_BRACKET.fullmatch(text)
    if m is None:
        return None
    ev = _base("serilog", _ts(m[1] + m[2], received_at), m[3], m[5], m[4])
    dotnet_message(m[5], ev)
    return ev


def _emby(text: str, received_at: datetime) -> Event | None:
    if "AUTH-ERROR: " not in text:
        return None
    m = _EMBY.fullmatch(text)
    if m is None:
        return None
    f = _EMBY_FAIL.fullmatch(m[4])
    if f is None:
        return None
    ev = _base("emby", _ts(m[1], received_at), m[2], m[4], m[3])
    return mark(ev, "emby", "login_failed", f[1])


def _nlog(text: str, received_at: datetime) -> Event | None:
    m = _NLOG.fullmatch(text)
    if m is None:
        return None
    ev = _base("nlog", _ts(m[1], received_at), m[2], m[4], m[3])
    if m[3] == "Auth":
        arr_message(m[4], ev, "servarr")
    return ev


# This module's line shapes by name (lines.py decides which to try for a line).
SHAPES: dict[str, Shape] = {
    "serilog": _serilog,
    "serilog_bracket": _serilog_bracket,
    "nlog": _nlog,
    "emby": _emby,
}
