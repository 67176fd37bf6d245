"""The log files of self-hosted applications, line by line: each application's own header (timestamp, level,
component) and the messages it writes for a login that failed or succeeded. The shapes live in one module per
ecosystem (dotnet_apps, java_apps, php_apps, python_apps, node_apps, go_apps, other_apps); this one dispatches.

Every pattern is anchored to the application's fixed wording. A client address is read only from the position
the application writes it: before any field the client chooses, or — when the application writes the user name
first — from the end of the line, where the address pattern (no space, quote or bracket) cannot be spelled by a
user name, so a forged "from 1.2.3.4" inside the name is never the one taken. Fields the client chooses that
precede the address are restricted to characters that cannot spell the fixed wording (no spaces). Lines of a
known header whose message is not about logins are still returned (timestamp, level, message), so a file keeps
one parser; shapes that other parsers already read well (Apache/nginx error logs) are claimed only for the login
messages.
"""

from __future__ import annotations

import re
from datetime import datetime

from store.parsers.webapps import dotnet_apps, go_apps, java_apps, node_apps, other_apps, php_apps, python_apps
from store.parsers.webapps.dotnet_apps import arr_message, dotnet_message, jellyfin_message
from store.parsers.webapps.event import Event, Shape
from store.parsers.webapps.go_apps import gitea_message
from store.parsers.webapps.java_apps import cas_audit, guacamole_message, keycloak_event
from store.parsers.webapps.node_apps import abs_message, kuma_message, seerr_message
from store.parsers.webapps.other_apps import pbs_message, vaultwarden_message
from store.parsers.webapps.php_apps import firefly_message, magento_event, php_message, zoneminder_message
from store.parsers.webapps.python_apps import sabnzbd_message

__all__ = ["abs_message", "arr_message", "cas_audit", "dotnet_message", "firefly_message", "gitea_message",
           "guacamole_message", "jellyfin_message", "keycloak_event", "kuma_message", "magento_event",
           "parse_app_line", "pbs_message", "php_message", "sabnzbd_message", "seerr_message", "strip_runner_prefix",
           "vaultwarden_message", "zoneminder_message"]

_ANSI = re.compile(r"\x1b\[[0-9;]{0,16}m")
_COMPOSE = re.compile(r"([A-Za-z0-9][\w.-]{0,63}) +\| (.*)", re.S)
_PM2 = re.compile(r"\d\d:\d\d:\d\d \d{1,4}\|[\w.-]{1,64} *\| (.*)", re.S)
MAX_LINE = 64 * 1024

_MODULES = (dotnet_apps, java_apps, python_apps, node_apps, go_apps, php_apps, other_apps)
_DIGIT: tuple[Shape, ...] = tuple(s for m in _MODULES for s in m.DIGIT)
_BRACKET: tuple[Shape, ...] = tuple(s for m in _MODULES for s in m.BRACKET)
_LETTER: tuple[Shape, ...] = tuple(s for m in _MODULES for s in m.LETTER)
_OTHER: dict[str, tuple[Shape, ...]] = {}
for _m in _MODULES:
    for _c, _fs in _m.OTHER.items():
        _OTHER[_c] = _OTHER.get(_c, ()) + _fs


def _shapes(c: str) -> tuple[Shape, ...]:
    if c.isdigit():
        return _DIGIT
    if c == "[":
        return _BRACKET
    if c.isalpha() or c == ":":
        return _LETTER
    return _OTHER.get(c, ())


def strip_runner_prefix(text: str) -> tuple[str, str | None] | None:
    """(line, container) without a `docker compose logs` ("name  | ") or pm2 ("12:00:00 0|app  | ") prefix."""
    m = _COMPOSE.fullmatch(text)
    if m is not None:
        return m[2], m[1]
    m = _PM2.fullmatch(text)
    if m is not None:
        return m[1], None
    return None


def parse_app_line(text: str, received_at: datetime, unwrap: bool = True) -> Event | None:
    """The event of one line of a known application log, or None. `unwrap` also tries the line without a
    runner's prefix (see strip_runner_prefix)."""
    if not text or len(text) > MAX_LINE:
        return None
    if "\x1b" in text:
        text = _ANSI.sub("", text)
        if not text:
            return None
    for shape in _shapes(text[0]):
        ev = shape(text, received_at)
        if ev is not None:
            return ev
    if unwrap and "| " in text:
        inner = strip_runner_prefix(text)
        if inner is not None:
            ev = parse_app_line(inner[0], received_at, unwrap=False)
            if ev is not None:
                if inner[1]:
                    ev.setdefault("fields", {})["container"] = inner[1]
                return ev
    return None
