"""PHP and panel applications: Baikal and BookStack (through the Apache/nginx error log), Firefly III and Magento
(Monolog), ZoneMinder, cPanel/WHM, HestiaCP, ISPConfig.

See store/parsers/webapps/lines.py for the anchoring rules every pattern here follows.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from store.parsers.common import MONTHS, parse_iso, to_utc
from store.parsers.webapps.addresses import canonical_ip
from store.parsers.webapps.event import IP as _IP
from store.parsers.webapps.event import Event, Shape
from store.parsers.webapps.event import base as _base
from store.parsers.webapps.event import ts as _ts
from store.parsers.webapps.outcome import mark

_APACHE_ERR = re.compile(r"\[\w{3} (\w{3}) (\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? (\d{4})\] \[([\w]*):(\w+)\] "
                         r"\[pid (\d+)(?::tid \d+)?\] \[client (" + _IP + r")(?::(\d{1,5}))?\] (.*)", re.S)
# nginx writes the PHP message unescaped before "client:": only the two login messages, whose user names cannot
# hold a space or a quote, are read, so the first `" while reading …, client:` is nginx's own.
_NGINX_ERR = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[(\w+)\] \d+#\d+: \*\d+ FastCGI sent in stderr: "
                        r'"PHP message: (Failed login for [^\s\'"]+|user [^\s"]+ authentication failure for Baikal)" '
                        r"while reading (?:response header from upstream|upstream), client: (" + _IP + r"), server: ")
_BAIKAL = re.compile(r"(?:AH01071: Got error ')?(?:PHP message: )?user (\S+|\(name stripped-out\)) authentication "
                     r"failure for Baikal'?(?:, referer: .*)?", re.S)
_BOOKSTACK = re.compile(r"(?:AH01071: Got error ')?(?:PHP message: )?Failed login for ([^\s'\"]+)'?"
                        r"(?:, referer: .*)?", re.S)
_MONOLOG = re.compile(r"\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d:?\d\d)?)\] ([\w-]{1,64})\."
                      r"([A-Z]{3,9}): (.*)", re.S)
_FIREFLY_FAIL = re.compile(r'AUDIT: Login failed\. Attempt for user "(.*)" failed\. \((' + _IP
                           + r') -> ([A-Z]{3,7}):(\S+)\)', re.S)
_FIREFLY_TRY = re.compile(r'AUDIT: User is trying to login using "(.*)" \((' + _IP + r') -> ([A-Z]{3,7}):(\S+)\)',
                          re.S)
_FIREFLY_MFA = re.compile(r"AUDIT: MFA failure count is set to (\d+)\. \((" + _IP + r") \((.*)\) -> ([A-Z]{3,7}):"
                          r"(\S+)\)", re.S)
_MAGENTO = re.compile(r"(\{.*\}) \[\]", re.S)
_ZONEMINDER = re.compile(r"(\d\d)/(\d\d)/(\d\d),? (\d{1,2}):(\d\d):(\d\d)(?: (AM|PM)(?: [A-Z]{2,5})?)?\.(\d{6}) "
                         r"web_php\[(\d+)\]\.([A-Z]{3}) \[(" + _IP + r")\] \[(.*)\] at (\S+) line (\d+)", re.S)
_ZM_NO_USER = re.compile(r"Could not retrieve user (.*) details", re.S)
_ZM_DENIED = re.compile(r'Login denied for user "(.*)"', re.S)
_ZM_OK = re.compile(r'Login successful for user "(.*)"', re.S)
_CPANEL_LOGIN = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ([+-]\d{4})\] (\w+) \[(\w{1,32})\] (" + _IP
                           + r") - (\S+) \"([^\"]*)\" (FAILED LOGIN|DEFERRED LOGIN|NEW) (\w{1,32}): (.*)", re.S)
_CPANEL_ACCESS = re.compile(r"(" + _IP + r") - (\S+) \[(\d\d)/(\d\d)/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})\] "
                            r'"([A-Z]{3,10}) (\S+) HTTP/[\d.]{1,3}" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)" "([^"]*)" '
                            r'"([^"]*)" (\d{1,5})')
_HESTIA = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+) (" + _IP + r") (failed to login|successfully logged in)")
_ISPCONFIG = re.compile(r"Failed login for user '(.*)' from (" + _IP + r") at (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)",
                        re.S)


def php_message(message: str, ev: Event, ip: str | None) -> bool:
    """Baikal and BookStack write one PHP message per failed login; the web server's log gives the client."""
    m = _BAIKAL.fullmatch(message)
    if m is not None:
        user = None if m[1].startswith("(") else m[1]
        mark(ev, "baikal", "login_failed", ip, user)
        return True
    m = _BOOKSTACK.fullmatch(message)
    if m is not None:
        mark(ev, "bookstack", "login_failed", ip, m[1])
        return True
    return False


def _apache_php(text: str, received_at: datetime) -> Event | None:
    if "authentication failure for Baikal" not in text and "Failed login for " not in text:
        return None
    m = _APACHE_ERR.fullmatch(text)
    if m is None:
        return None
    month = MONTHS.get(m[1])
    ts = None
    if month is not None:
        try:
            ts = to_utc(datetime(int(m[7]), month, int(m[2]), int(m[3]), int(m[4]), int(m[5]),
                                 int((m[6] or "0")[:6].ljust(6, "0"))), received_at)
        except ValueError:
            ts = None
    ev = _base("apache-error", ts, m[9], m[13])
    return ev if php_message(m[13], ev, apache_client(m[11])) else None


def apache_client(text: str) -> str | None:
    """Apache's `[client a.b.c.d:port]` / `[client v6:port]` (the port is always written after a colon)."""
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and len(port) <= 5:
        ip = canonical_ip(host)
        if ip is not None:
            return ip
    return canonical_ip(text)


def _nginx_php(text: str, received_at: datetime) -> Event | None:
    if "FastCGI sent in stderr" not in text:
        return None
    m = _NGINX_ERR.match(text)
    if m is None:
        return None
    try:
        ts: datetime | None = to_utc(datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6])),
                                     received_at)
    except ValueError:
        ts = None
    ev = _base("nginx-error", ts, m[7], text[m.start(8) - len("PHP message: "):])
    # The user name may itself hold `" while reading …, client: …`, and the request, host and referer that follow
    # nginx's own `client:` are the client's too: a line with two is ambiguous and names no address.
    client = m[9] if text.count(", client: ") == 1 else None
    return ev if php_message("PHP message: " + m[8], ev, client) else None


def firefly_message(message: str, ev: Event) -> bool:
    m = _FIREFLY_FAIL.fullmatch(message)
    if m is not None:
        mark(ev, "fireflyiii", "login_failed", m[2], m[1], "wrong password")
        return True
    m = _FIREFLY_MFA.fullmatch(message)
    if m is not None:
        mark(ev, "fireflyiii", "login_failed", m[2], m[3], "MFA failed", factor="mfa")
        return True
    m = _FIREFLY_TRY.fullmatch(message)
    if m is not None:
        mark(ev, "fireflyiii", "login_attempt", m[2], m[1])
        return True
    return False


def magento_event(payload: str, ev: Event) -> bool:
    """The CrowdSec Magento extension's JSON record: its `ip` is the client the extension resolved."""
    try:
        obj = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return False
    kind = obj["type"]
    ip = obj.get("ip") if isinstance(obj.get("ip"), str) else None
    extra = {k: obj[k] for k in ("payment_method", "bouncer_agent", "x-forwarded-for-ip")
             if isinstance(obj.get(k), str)}
    if kind == "PAYMENT_FAILED":
        mark(ev, "magento", "payment_failed", ip, None, event_type=kind, **_safe_keys(extra))
    elif "LOGIN_FAILED" in kind or "LOGIN_FAILURE" in kind:
        mark(ev, "magento", "login_failed", ip, None, event_type=kind)
    else:
        ev["service"] = "magento"
        ev.setdefault("fields", {})["event_type"] = kind
    return True


def _safe_keys(d: dict[str, Any]) -> dict[str, Any]:
    return {k.replace("-", "_"): v for k, v in d.items()}


def _monolog(text: str, received_at: datetime) -> Event | None:
    m = _MONOLOG.fullmatch(text)
    if m is None:
        return None
    ev = _base("monolog", _ts(m[1], received_at), m[3], m[4], m[2])
    if m[2] == "crowdsec-events":
        j = _MAGENTO.fullmatch(m[4].strip())
        if j is not None:
            magento_event(j[1], ev)
    elif m[4].startswith("AUDIT: "):
        firefly_message(m[4], ev)
    return ev


def zoneminder_message(ip: str, message: str, ev: Event) -> bool:
    m = _ZM_DENIED.fullmatch(message)
    if m is not None:
        mark(ev, "zoneminder", "login_failed", ip, m[1], "wrong password")
        return True
    m = _ZM_NO_USER.fullmatch(message)
    if m is not None:
        mark(ev, "zoneminder", "login_failed", ip, m[1], "unknown user")
        return True
    m = _ZM_OK.fullmatch(message)
    if m is not None:
        mark(ev, "zoneminder", "login", ip, m[1])
        return True
    return False


def _zoneminder(text: str, received_at: datetime) -> Event | None:
    if " web_php[" not in text:
        return None
    m = _ZONEMINDER.fullmatch(text)
    if m is None:
        return None
    hour = int(m[4])
    if m[7] == "PM" and hour < 12:
        hour += 12
    elif m[7] == "AM" and hour == 12:
        hour = 0
    try:
        ts: datetime | None = to_utc(datetime(2000 + int(m[3]), int(m[1]), int(m[2]), hour, int(m[5]), int(m[6]),
                                              int(m[8])), received_at)
    except ValueError:
        ts = None
    ev = _base("zoneminder", ts, m[10], m[12], "web_php")
    ev["pid"] = int(m[9])
    zoneminder_message(m[11], m[12], ev)
    return ev


def _cpanel_login(text: str, received_at: datetime) -> Event | None:
    m = _CPANEL_LOGIN.fullmatch(text)
    if m is None:
        return None
    ev = _base("cpanel", _ts(m[1] + m[2], received_at), m[3], m[10], m[4])
    ev["fields"]["request"] = m[7]
    if m[8] != "FAILED LOGIN":
        return mark(ev, "cpanel", "login", m[5], m[6]) if m[8] == "NEW" else ev
    reason = m[10]
    if reason.startswith("brute force attempt"):
        return mark(ev, "cpanel", "lockout", m[5], m[6], reason)
    return mark(ev, "cpanel", "login_failed", m[5], m[6], reason)


def _cpanel_access(text: str, received_at: datetime) -> Event | None:
    m = _CPANEL_ACCESS.fullmatch(text)
    if m is None:
        return None
    try:
        ts: datetime | None = parse_iso(f"{m[5]}-{m[3]}-{m[4]}T{m[6]}:{m[7]}:{m[8]}{m[9]}", received_at)
    except ValueError:
        ts = None
    ev: Event = {"format": "cpanel-access", "ts": ts, "app": "cpanel", "service": "cpanel", "category": "web",
                 "message": f"{m[10]} {m[11]}"}
    ip = canonical_ip(m[1])
    if ip:
        ev["src_ip"] = ip
    if m[2] != "-":
        ev["user"] = m[2]
    status = int(m[12])
    ev["outcome"] = "failure" if status >= 400 else "success"
    ev["fields"] = {"method": m[10], "path": m[11], "status": status, "bytes": None if m[13] == "-" else int(m[13]),
                    "referer": None if m[14] == "-" else m[14], "user_agent": None if m[15] == "-" else m[15],
                    "port": int(m[18])}
    return ev


def _hestia(text: str, received_at: datetime) -> Event | None:
    m = _HESTIA.fullmatch(text)
    if m is None:
        return None
    ev = _base("hestiacp", _ts(m[1], received_at), None, text[20:], "hestiacp")
    ok = m[4] == "successfully logged in"
    return mark(ev, "hestiacp", "login" if ok else "login_failed", m[3], m[2])


def _ispconfig(text: str, received_at: datetime) -> Event | None:
    m = _ISPCONFIG.fullmatch(text)
    if m is None:
        return None
    ev = _base("ispconfig", _ts(m[3], received_at), None, text, "ispconfig")
    return mark(ev, "ispconfig", "login_failed", m[2], m[1])


# This module's line shapes by name (lines.py decides which to try for a line).
SHAPES: dict[str, Shape] = {
    "hestia": _hestia,
    "nginx_php": _nginx_php,
    "zoneminder": _zoneminder,
    "cpanel_access": _cpanel_access,
    "monolog": _monolog,
    "cpanel_login": _cpanel_login,
    "apache_php": _apache_php,
    "ispconfig": _ispconfig,
}
