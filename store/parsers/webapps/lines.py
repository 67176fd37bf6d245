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

# Terminal colour codes (Immich, Gitea, … colour their console), also as rsyslog (#033) or a shipper (\x1b, \u001b)
# escaped them.
_ANSI = re.compile(r"(?:\x1b|#033|\\x1b|\\u001b)(?:\[[0-9;]{0,16}m|$)")
_COMPOSE = re.compile(r"([A-Za-z0-9][\w.-]{0,63}) +\| (.*)", re.S)
_PM2 = re.compile(r"\d\d:\d\d:\d\d \d{1,4}\|[\w.-]{1,64} *\| (.*)", re.S)
MAX_LINE = 64 * 1024

_SHAPES: dict[str, Shape] = {}
for _module in (dotnet_apps, java_apps, python_apps, node_apps, go_apps, php_apps, other_apps):
    _SHAPES.update(_module.SHAPES)


def _group(*names: str) -> tuple[Shape, ...]:
    return tuple(_SHAPES[n] for n in names)


# A cheap look at the start of a line picks the few shapes worth a full match, so a log that is none of these
# applications (HDFS, Hadoop, …) costs one or two failed prefix matches per line, not thirty.
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d([ T])\d\d:\d\d:\d\d(.?)")
_BY_ISO: dict[tuple[str, str], tuple[Shape, ...]] = {
    (" ", ","): _group("java_comma", "sabnzbd", "odoo"),
    (" ", "."): _group("serilog", "nlog", "emby", "hass", "thehive"),
    (" ", " "): _group("serilog", "hass", "hestia", "emby", "thehive"),
    (" ", ":"): _group("joplin"),
    (" ", "|"): _group("nlog"),
    ("T", "."): _group("kuma", "seerr", "gin", "guacamole", "mealie", "thehive"),
    ("T", ","): _group("guacamole"),
    ("T", "Z"): _group("kuma", "gin", "pbs", "guacamole"),
    ("T", "+"): _group("kuma", "gin", "pbs"),
    ("T", "-"): _group("kuma", "gin", "pbs"),
    ("T", ":"): _group("mealie"),
    ("T", " "): _group("mealie", "thehive"),
}
_DIGIT_OTHER = re.compile(r"(?P<slash>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)|(?P<us>\d\d/\d\d/\d\d,? \d{1,2}:\d\d:\d\d)"
                          r"|(?P<epoch>\d{6,}\.\d+\.\d+ \[)|(?P<clock>\d\d:\d\d:\d\d\.\d{3} \[)"
                          r"|(?P<peer>[0-9A-Fa-f:.]{2,45} - )")
_BY_DIGIT_OTHER: dict[str, tuple[Shape, ...]] = {
    "slash": _group("gitea", "adguard", "filebrowser", "nginx_php"),
    "us": _group("zoneminder"),
    "epoch": _group("webmin"),
    "clock": _group("guacamole"),
    "peer": _group("cpanel_access"),
}
_BRACKET_DATE = _group("vaultwarden", "paperless", "calibre", "monolog", "cpanel_login", "serilog_bracket", "abs")
_IMMICH, _GIN, _THEHIVE, _APACHE = _group("immich"), _group("gin"), _group("thehive"), _group("apache_php")
_QBT, _BASEROW, _REDMINE, _ISPCONFIG = _group("qbittorrent"), _group("baserow"), _group("redmine"), _group("ispconfig")
_LEVEL_SHAPES, _CPANEL_ACCESS = _group("mealie", "uvicorn", "romm"), _group("cpanel_access")
_LEVEL_FIRST = re.compile(r"(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


def _shapes(text: str) -> tuple[Shape, ...]:
    c = text[0]
    if c.isdigit():
        m = _ISO_DATE.match(text)
        if m is not None:
            return _BY_ISO.get((m[1], m[2]), ())
        o = _DIGIT_OTHER.match(text)
        return _BY_DIGIT_OTHER[o.lastgroup or ""] if o is not None else ()
    if c == "[":
        if text[1:5].isdigit():
            return _BRACKET_DATE
        if text.startswith("[Nest] "):
            return _IMMICH
        if text.startswith("[GIN] "):
            return _GIN
        if "] o.t.s.AccessLogFilter [" in text:
            return _THEHIVE
        return _APACHE
    if c == "(":
        return _QBT
    if c == " ":
        return _BASEROW
    if _LEVEL_FIRST.match(text):
        return _LEVEL_SHAPES
    if text[1:4] == ", [":
        return _REDMINE
    if text.startswith("Failed login for user '"):
        return _ISPCONFIG
    if (c == ":" or c in "abcdefABCDEF") and " - " in text[:48]:
        return _CPANEL_ACCESS
    return ()


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
    if "\x1b" in text or "#033[" in text or "\\x1b[" in text or "\\u001b[" in text:
        text = _ANSI.sub("", text)
        if not text:
            return None
    for shape in _shapes(text):
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
