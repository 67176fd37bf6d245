"""logfmt lines (`key=value key="quoted value" …`, as Go's logrus and slog, Grafana and many others write them)
and the self-hosted applications that log in it: Authelia, Grafana, Miniflux, Navidrome.

Keys are structural: a value is either bare (no space, quote or `=`) or a quoted string with escapes, so text
inside a value (a user name, a path) can never become a key. A line is logfmt only if the whole line tokenises;
a key given twice is dropped (ambiguous). Addresses come only from the named keys each application writes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.common import level_severity, parse_iso
from store.parsers.webapps.addresses import host_of
from store.parsers.webapps.outcome import mark

_PAIR = re.compile(r'\s*([A-Za-z_][\w.\-/@]{0,63})=("(?:[^"\\]|\\.)*"|[^\s"=]*)(?=\s|$)')
_ESCAPE = re.compile(r'\\(["\\nrt])')
_UNESCAPED = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_TS_KEYS = ("time", "ts", "t", "timestamp")
_MSG_KEYS = ("msg", "message")
_LEVEL_KEYS = ("level", "lvl")
_ADDRESS_KEYS = ("remote_ip", "client_ip", "remote_addr", "remoteAddr", "src_ip", "clientIP")
MAX_PAIRS = 64

_AUTHELIA_FAIL = re.compile(r"Unsuccessful (1FA|2FA|TOTP|Duo|U2F|WebAuthn|OpenID Connect) authentication attempt "
                            r"by user '(.*)'(?:: (.*))?", re.S)
_AUTHELIA_OK = re.compile(r"Successful (1FA|2FA|TOTP|Duo|U2F|WebAuthn) authentication attempt made by user '(.*)'",
                          re.S)
_AUTHELIA_NO_USER = re.compile(r"Error occurred getting details for user with username input '(.*)' which "
                               r"usually indicates they do not exist", re.S)
_NAVIDROME_LOGIN = re.compile(r"HTTP: POST \S*/auth/login")


def tokenize(text: str) -> dict[str, str] | None:
    """All pairs of a logfmt line, or None when the line is not entirely logfmt."""
    out: dict[str, str] = {}
    dup: set[str] = set()
    pos, n = 0, len(text)
    while pos < n:
        m = _PAIR.match(text, pos)
        if m is None:
            if text[pos:].strip():
                return None
            break
        key, raw = m[1], m[2]
        if raw.startswith('"'):
            raw = raw[1:-1]
            if "\\" in raw:
                raw = _ESCAPE.sub(lambda e: _UNESCAPED[e[1]], raw)
        if key in out:
            dup.add(key)
        out[key] = raw
        pos = m.end()
        if len(out) > MAX_PAIRS:
            return None
    for key in dup:
        del out[key]
    return out if len(out) >= 3 else None


def _first(kv: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = kv.get(k)
        if v is not None:
            return v
    return None


def parse_logfmt(text: str, received_at: datetime) -> dict[str, Any] | None:
    """A logfmt line with a message and a level or time; the known applications' logins recognised."""
    if "=" not in text[:40]:
        return None
    kv = tokenize(text)
    if kv is None:
        return None
    msg = _first(kv, _MSG_KEYS)
    level = _first(kv, _LEVEL_KEYS)
    ts_text = _first(kv, _TS_KEYS)
    if msg is None or (level is None and ts_text is None):
        return None
    ev: dict[str, Any] = {"format": "logfmt", "message": msg}
    if ts_text:
        ev["ts"] = parse_iso(ts_text[:40], received_at)
    sev = level_severity(level) if level else None
    if sev is not None:
        ev["severity"] = sev
    fields = {k: v for k, v in kv.items() if k not in _MSG_KEYS and k not in _TS_KEYS and k != "stack"}
    ev["fields"] = fields
    if not recognise(kv, msg, ev):
        ip = _single_address(kv)
        if ip is not None:
            ev["src_ip"] = ip
    return ev


def _single_address(kv: dict[str, str]) -> str | None:
    """The client address when the record names exactly one (several differing ones: ambiguous, none)."""
    found = {host_of(kv[k]) for k in _ADDRESS_KEYS if k in kv}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def recognise(kv: dict[str, Any], msg: str, ev: dict[str, Any]) -> bool:
    """Authentication semantics of one key/value record (logfmt, or the same apps' JSON output)."""
    path = kv.get("path")
    remote_ip = kv.get("remote_ip")
    if isinstance(remote_ip, str) and isinstance(path, str) and path.startswith("/api/"):
        m = _AUTHELIA_FAIL.fullmatch(msg)
        if m is not None:
            mark(ev, "authelia", "login_failed", remote_ip, m[2], m[3] or "wrong password", factor=m[1])
            return True
        m = _AUTHELIA_NO_USER.fullmatch(msg)
        if m is not None:
            # Some Authelia versions log only this line for an unknown account, others also an "Unsuccessful …"
            # line: counted as an attempt either way (an unknown-user attempt then weighs double at worst).
            mark(ev, "authelia", "login_failed", remote_ip, m[1], "unknown user")
            return True
        m = _AUTHELIA_OK.fullmatch(msg)
        if m is not None:
            mark(ev, "authelia", "login", remote_ip, m[2], factor=m[1])
            return True
    remote_addr = kv.get("remote_addr")
    if isinstance(remote_addr, str) and "logger" in kv:
        if msg == "Invalid username or password":
            mark(ev, "grafana", "login_failed", remote_addr, _str(kv.get("uname")), _str(kv.get("error")))
            return True
        error = _str(kv.get("error")) or ""
        if msg == "Unauthorized" and ("password" in error or "not found" in error or "identity" in error):
            mark(ev, "grafana", "login_failed", remote_addr, _str(kv.get("uname")), error)
            return True
        if msg == "Successful Login":
            mark(ev, "grafana", "login", remote_addr, _str(kv.get("User")) or _str(kv.get("uname")))
            return True
    client_ip = kv.get("client_ip")
    if isinstance(client_ip, str):
        if _truthy(kv.get("authentication_failed")):
            error = _str(kv.get("error")) or ""
            reason = "unknown user" if "unable to find this user" in error else error or None
            mark(ev, "miniflux", "login_failed", client_ip, _str(kv.get("username")), reason)
            return True
        if _truthy(kv.get("authentication_successful")):
            mark(ev, "miniflux", "login", client_ip, _str(kv.get("username")))
            return True
    remote = kv.get("remoteAddr")
    if isinstance(remote, str) and _NAVIDROME_LOGIN.match(msg) and str(kv.get("httpStatus")) == "401":
        mark(ev, "navidrome", "login_failed", remote, None, "HTTP 401 on /auth/login")
        return True
    return False


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _truthy(v: Any) -> bool:
    return v is True or v == "true"
