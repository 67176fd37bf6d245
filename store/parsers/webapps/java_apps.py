"""Java applications: Keycloak events, Apereo CAS audit trail, Apache Guacamole, Stirling-PDF, TheHive's access log.

See store/parsers/webapps/lines.py for the anchoring rules every pattern here follows.
"""

from __future__ import annotations

import re
from datetime import datetime

from store.parsers.webapps.addresses import canonical_ip, client_from_list
from store.parsers.webapps.event import IP as _IP
from store.parsers.webapps.event import Event, Shape
from store.parsers.webapps.event import base as _base
from store.parsers.webapps.event import ts as _ts
from store.parsers.webapps.outcome import mark

_JAVA_COMMA = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) +(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL) +(.*)",
                         re.S)
_KEYCLOAK = re.compile(r"\[([\w.$]{1,200})\] \(([^()]{0,200})\) (.*)", re.S)
_CAS = re.compile(r"\[([\w.$]{1,200})\] - (.*)", re.S)
_STIRLING = re.compile(r"([\w.$]{1,200}) \[([^\]]{0,200})\] (.*)", re.S)
_KEYCLOAK_PAIR = re.compile(r"(\w+)=(\"(?:[^\"\\]|\\.)*\"|[^,]*)(?:, |$)")
_KEYCLOAK_FAILURES = frozenset({"user_not_found", "invalid_user_credentials", "invalid_authentication",
                                "user_disabled", "user_temporarily_disabled", "invalid_totp", "invalid_otp"})
_CAS_AUDIT = re.compile(r"\|(AUTHENTICATION_FAILED|AUTHENTICATION_SUCCESS)")
_GUAC = re.compile(r"(?:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.,]\d{3}Z?)|(\d\d:\d\d:\d\d\.\d{3})) \[([^\]]{1,100})\] +"
                   r"(TRACE|DEBUG|INFO|WARN|ERROR) +([\w.$]{1,200}) - (.*)", re.S)
_GUAC_FAIL = re.compile(r'Authentication attempt from (\[[0-9A-Fa-f:., ]{2,400}\]|' + _IP
                        + r') for user "(.*)" failed\.', re.S)
_GUAC_OK = re.compile(r'User "(.*)" successfully authenticated from (\[[0-9A-Fa-f:., ]{2,400}\]|' + _IP + r')\.',
                      re.S)
_STIRLING_FAIL = re.compile(r"Failed login attempt from IP: \[?(" + _IP + r")\]?")
_STIRLING_PASSWORD = re.compile(r"Invalid password for user: (.*) from IP: (" + _IP + r")", re.S)
_THEHIVE = re.compile(r"(?:(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,6})?) )?\[(\w+)\] o\.t\.s\.AccessLogFilter "
                      r"\[([^\]]{0,100})\] (" + _IP + r") ([A-Z]{3,7}) (\S+) took (\d+)ms and returned (\d{3}) "
                      r"(\d+) bytes")


def keycloak_event(message: str, ev: Event) -> bool:
    """`type=LOGIN_ERROR, realmId=…, clientId=…, userId=…, ipAddress=…, error=…, …, username=…`. clientId and
    username are the client's; a line naming `ipAddress=` or `username=` twice is not trusted."""
    if not message.startswith("type=") or message.count("ipAddress=") != 1:
        return False
    pairs: dict[str, str] = {}
    for m in _KEYCLOAK_PAIR.finditer(message):
        v = m[2]
        pairs.setdefault(m[1], v[1:-1] if v.startswith('"') and v.endswith('"') and len(v) > 1 else v)
    kind = pairs.get("type", "").strip('"')
    ip = pairs.get("ipAddress")
    user = pairs.get("username") if message.count("username=") == 1 else None
    error = pairs.get("error", "")
    if kind == "LOGIN_ERROR":
        if error in _KEYCLOAK_FAILURES or error.startswith("invalid_user"):
            mark(ev, "keycloak", "login_failed", ip, user, error, realm=pairs.get("realmId"))
        else:
            mark(ev, "keycloak", "login_error", ip, user, error, realm=pairs.get("realmId"))
        return True
    if kind == "LOGIN":
        mark(ev, "keycloak", "login", ip, user, realm=pairs.get("realmId"))
        return True
    return False


def cas_audit(message: str, ev: Event) -> bool:
    """Apereo CAS audit trail: `…|ACTION|principal|client ip|server ip`; read from the right (the principal is
    the client's and may contain `|`; then the record does not parse)."""
    if message.count("|AUTHENTICATION_") != 1:
        return False
    head, _, rest = message.rpartition("|")  # server ip
    head, _, client = head.rpartition("|")
    head, _, principal = head.rpartition("|")
    m = _CAS_AUDIT.search(head)
    if m is None or m.end() != len(head):
        return False
    ok = m[1] == "AUTHENTICATION_SUCCESS"
    mark(ev, "cas", "login" if ok else "login_failed", client, principal, server_ip=canonical_ip(rest))
    return True


def _guac_client(addr: str) -> str | None:
    if addr.startswith("["):
        return client_from_list(addr[1:-1])
    return canonical_ip(addr)


def guacamole_message(message: str, ev: Event) -> bool:
    m = _GUAC_FAIL.fullmatch(message)
    if m is not None:
        mark(ev, "guacamole", "login_failed", _guac_client(m[1]), m[2])
        return True
    m = _GUAC_OK.fullmatch(message)
    if m is not None:
        mark(ev, "guacamole", "login", _guac_client(m[2]), m[1])
        return True
    return False


_JAVA_AUTH_WORDS = ("type=LOGIN", "type=\"LOGIN", "|AUTHENTICATION_", "AuthenticationFailureHandler", "AuthController")


def _java_comma(text: str, received_at: datetime) -> Event | None:
    # Only login lines are claimed: the other lines of these logs read the same through the plain parser.
    if not any(w in text for w in _JAVA_AUTH_WORDS):
        return None
    m = _JAVA_COMMA.fullmatch(text)
    if m is None:
        return None
    ts, level, rest = _ts(m[1], received_at), m[2], m[3]
    k = _KEYCLOAK.fullmatch(rest)
    if k is not None:
        ev = _base("keycloak", ts, level, k[3], k[1])
        if k[1] in ("org.keycloak.events", "org.key.events"):
            keycloak_event(k[3], ev)
        return ev
    c = _CAS.fullmatch(rest)
    if c is not None:
        ev = _base("java", ts, level, c[2], c[1])
        cas_audit(c[2], ev)
        return ev
    s = _STIRLING.fullmatch(rest)
    if s is not None and s[1].endswith(("AuthenticationFailureHandler", "AuthController")):
        ev = _base("java", ts, level, s[3], s[1])
        f = _STIRLING_FAIL.fullmatch(s[3])
        if f is not None:
            return mark(ev, "stirling-pdf", "login_failed", f[1])
        p = _STIRLING_PASSWORD.fullmatch(s[3])
        if p is not None:
            return mark(ev, "stirling-pdf", "login_failed", p[2], p[1], "wrong password")
        return ev
    return None


def _guacamole(text: str, received_at: datetime) -> Event | None:
    m = _GUAC.fullmatch(text)
    if m is None:
        return None
    ts = _ts(m[1], received_at) if m[1] else None
    ev = _base("logback", ts, m[4], m[6], m[5])
    guacamole_message(m[6], ev)
    return ev


def _thehive(text: str, received_at: datetime) -> Event | None:
    if "o.t.s.AccessLogFilter" not in text:
        return None
    m = _THEHIVE.fullmatch(text)
    if m is None:
        return None
    ev = _base("thehive", _ts(m[1], received_at) if m[1] else None, m[2], text[m.start(4):], "thehive")
    ev["category"] = "web"
    ev["fields"] = {"level": m[2], "method": m[5], "path": m[6], "status": int(m[8]), "duration_ms": int(m[7])}
    ip = canonical_ip(m[4])
    if ip:
        ev["src_ip"] = ip
    if m[8] == "401" and m[5] == "POST" and m[6] in ("/api/v1/login", "/api/login"):
        mark(ev, "thehive", "login_failed", m[4], None, "HTTP 401 on login")
    return ev


# This module's line shapes by name (lines.py decides which to try for a line).
SHAPES: dict[str, Shape] = {
    "java_comma": _java_comma,
    "guacamole": _guacamole,
    "thehive": _thehive,
}
