"""Web servers and proxies that log to syslog/journald: nginx and its forks, Apache httpd, HAProxy, Caddy and
Traefik. The payload is the server's own access or error line, parsed exactly as the standalone formats are
(access.py, weberror.py, webjson.py), so a rule sees the same fields whichever way the line arrived.

HAProxy's HTTP log: `ADDR:PORT [accept date] frontend backend/server timers status bytes cookies termination
conns queues {captured headers} "request"`. The address is the first field; everything the client controls
(captured headers, the request) comes after it. Actions: see store/parsers/webcommon.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from store.parsers.access import AccessLogParser
from store.parsers.access import _timestamp as clf_timestamp
from store.parsers.common import ip_or_none, port_or_none
from store.parsers.services import extractor
from store.parsers.webcommon import int_or_none, set_status, split_request
from store.parsers.weberror import nginx_syslog_message, parse_apache_error
from store.parsers.webjson import WebJsonParser

_ACCESS = AccessLogParser()
_JSON = WebJsonParser()
_RECEIVED = datetime(1970, 1, 1, tzinfo=UTC)  # only its zone is read: the payloads carry their own offsets
_HAPROXY = re.compile(
    r"([0-9A-Fa-f:.]{2,45}):(\d{1,5}) \[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)\.\d{3}\] "
    r"(\S+) (\S+)/(\S+) ([-\d]+/[-\d]+/[-\d]+/[-\d]+/\+?[-\d]+) (-?\d{1,3}) \+?(\d+) \S+ \S+ (\S{4}) "
    r"[\d/+]+ [\d/]+ (?:\{[^}]*\} ){0,2}\"((?:[^\"\\]|\\.)*)\"?\s*$",
    re.S,
)


def _merge(ev: dict[str, Any], sub: dict[str, Any]) -> None:
    """Put a parsed payload into the syslog event: the payload's fields win, the header's extras stay."""
    fields = dict(ev.get("fields") or {})
    fields.update(sub.pop("fields", None) or {})
    sub.pop("format", None)
    if sub.get("ts") is None:
        sub.pop("ts", None)
    for key in ("app", "host"):
        sub.pop(key, None)
    ev.update(sub)
    ev["fields"] = fields


@extractor("nginx", "openresty", "angie", "tengine", "apache", "apache2", "httpd", "lighttpd")
def web_server(app: str, msg: str, ev: dict[str, Any]) -> bool:
    sub = _ACCESS.parse(msg, _RECEIVED)
    name = app.lower().split("/")[-1].split("[")[0]
    service = "apache" if name in ("apache", "apache2", "httpd") else name
    if sub is not None:
        _merge(ev, sub)
        ev["service"] = service
        return True
    if service == "apache" and msg.startswith("["):
        sub = parse_apache_error(msg, _RECEIVED)
        if sub is not None:
            _merge(ev, sub)
            return True
    if msg.startswith("{"):
        sub = _JSON.parse(msg, _RECEIVED)
        if sub is not None:
            _merge(ev, sub)
            return True
    if nginx_syslog_message(msg, ev, _RECEIVED):
        ev["service"] = service
        return True
    return False


@extractor("caddy", "traefik")
def json_web_server(app: str, msg: str, ev: dict[str, Any]) -> bool:
    if not msg.startswith("{"):
        return False
    sub = _JSON.parse(msg, _RECEIVED)
    if sub is None:
        return False
    _merge(ev, sub)
    return True


@extractor("haproxy")
def haproxy(app: str, msg: str, ev: dict[str, Any]) -> bool:
    m = _HAPROXY.match(msg)
    if m is None:
        return False
    fields = dict(ev.get("fields") or {})
    ip = ip_or_none(m[1])
    if ip is None:
        return False
    ev["src_ip"] = ip
    port = port_or_none(m[2])
    if port is not None:
        ev["src_port"] = port
    if ev.get("ts") is None:
        # HAProxy's accept date has no zone: only used when the syslog header had no time either.
        ev["ts"] = clf_timestamp(m[3], m[4], m[5], m[6], m[7], m[8], "+0000")
    fields.update(frontend=m[9], backend=m[10], server=m[11], timers=m[12], termination=m[15])
    split_request(m[16], fields)
    st = int(m[13]) if m[13].isdigit() else None
    fields["status"] = st
    fields["bytes"] = int_or_none(m[14])
    ev["fields"] = fields
    ev.update(category="web", service="haproxy", message=m[16])
    set_status(ev, st)
    return True
