"""Security meaning of sshd, sudo, su, login and PAM messages: who, from where, what, success or failure.

Applied by the syslog (and plain) parsers after the envelope, keyed by the program name. Dispatches on the
message's first word so each line runs at most a couple of precompiled regexes.
"""

from __future__ import annotations

import re
from typing import Any

from store.parsers.common import ip_or_none, port_or_none

AUTH = "authentication"
PRIV = "privilege"

# Programs whose messages we read; the key is the tag without any "(pam_unix)" suffix.
AUTH_APPS = frozenset({"sshd", "sshd-session", "sudo", "su", "login", "pam", "doas"})

_USER = r"(.*?)"
_ACCEPTED = re.compile(r"Accepted (\S+) for " + _USER + r" from (\S+) port (\d+)(?: (\w+))?(?:: (.*))?")
_FAILED = re.compile(r"Failed (\S+) for (invalid user )?" + _USER + r" from (\S+) port (\d+)")
_INVALID = re.compile(r"Invalid user " + _USER + r" from (\S+?)(?: port (\d+))?\s*$")
_CLOSED = re.compile(
    r"Connection (?:closed|reset) by (?:(authenticating|invalid) user " + _USER + r" )?(\S+?)(?: port (\d+))?"
    r"(?: \[preauth\])?\s*$"
)
_DISCONNECTED = re.compile(
    r"Disconnected from (?:(authenticating|invalid) )?(?:user " + _USER + r" )?(\S+?)(?: port (\d+))?"
    r"(?: \[preauth\])?\s*$"
)
_RECEIVED_DISC = re.compile(r"Received disconnect from (\S+?)(?: port (\d+))?: ?(\d+): ?(.*)")
_MAX_ATTEMPTS = re.compile(
    r"(?:error: )?maximum authentication attempts exceeded for (invalid user )?" + _USER
    + r" from (\S+) port (\d+)"
)
_TOO_MANY = re.compile(r"Disconnecting(?: (?:authenticating|invalid) user (\S+) (\S+) port (\d+))?: "
                       r"Too many authentication failures(?: for (?:invalid user )?(\S+))?")
_REVERSE = re.compile(r"reverse mapping checking getaddrinfo for (\S+) \[([^\]]+)\] failed")
_ADDRESS_MAPS = re.compile(r"Address (\S+) maps to (\S+), but this does not map back")
_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*?)\]?\s*$")
_NO_IDENT = re.compile(r"Did not receive identification string from (\S+?)(?: port (\d+))?\s*$")
_NEGOTIATE = re.compile(r"(?:fatal: )?Unable to negotiate with (\S+?)(?: port (\d+))?: (.*)")
_USERAUTH_REQ = re.compile(r"input_userauth_request: invalid user (.*?) \[preauth\]")
_BAD_PROTOCOL = re.compile(r"Bad protocol version identification '(.*)' from (\S+?)(?: port (\d+))?\s*$", re.S)
_NOT_ALLOWED = re.compile(r"User (\S+) from (\S+) not allowed because (.*)")
_PAM_ERROR = re.compile(r"error: PAM: (.*?) for (illegal user |invalid user )?(\S+) from (\S+)")
_FROM_IP_PORT = re.compile(r" from (\S+) port (\d+)")
_PAM_PREFIX = re.compile(r"pam_unix\(([^:)]*):(\w+)\): ?(.*)", re.S)
_PAM_SESSION = re.compile(
    r"session (opened|closed) for user ([^\s(]+)(?:\(uid=\d+\))?(?: by ([^\s(]*)(?:\(uid=(\d+)\))?)?"
)
_PAM_MORE = re.compile(r"PAM (\d+) more authentication failures?;(.*)")
_PAM_MORE_BARE = re.compile(r"(\d+) more authentication failures?;(.*)")
_KV = re.compile(r"(\w+)=(\S*)")
_SU_FAILED = re.compile(r"FAILED SU \(to (\S+)\) (\S+) on (\S+)")
_SU_OK = re.compile(r"(?:Successful su for (\S+) by (\S+)|\(to (\S+)\) (\S+) on (\S+))")
_SU_BAD = re.compile(r"BAD SU (\S+) to (\S+)(?: on (\S+))?")
_SU_PLUSMINUS = re.compile(r"([+-]) (\S+) (\S+?):(\S+)\s*$")
_LOGIN_FAILED = re.compile(
    r"FAILED LOGIN \(?(\d+)\)? (?:on|ON) '?(\S*?)'? (?:FROM '?(\S*?)'? )?FOR '?(.*?)'?, (.*)"
)
_LOGIN_OK = re.compile(r"(?:ROOT LOGIN +(?:on|ON) '?(\S*?)'?|LOGIN ON (\S+) BY (\S+))")
_SOLARIS_ID = re.compile(r"\[ID \d+ [\w.]+\] ")


def _fields(ev: dict[str, Any]) -> dict[str, Any]:
    f = ev.get("fields")
    if f is None:
        f = ev["fields"] = {}
    return f


def _user(u: str | None) -> str | None:
    # sshd logs an empty user name as "Invalid user  from …"; store NULL, not "".
    return u if u else None


def _set(ev: dict[str, Any], action: str, outcome: str | None, category: str = AUTH,
         user: str | None = None, ip: str | None = None, port: str | None = None) -> None:
    ev["category"] = category
    if outcome is not None:
        ev["outcome"] = outcome
    if user:
        ev["user"] = user
    if ip is not None:
        addr = ip_or_none(ip)
        if addr is not None:
            ev["src_ip"] = addr
            p = port_or_none(port)
            if p is not None:
                ev["src_port"] = p
        elif ip and ip != "UNKNOWN":
            _fields(ev)["rhost"] = ip
    _fields(ev)["action"] = action


def _sshd(msg: str, ev: dict[str, Any]) -> None:
    sp = msg.find(" ")
    first = msg[:sp] if sp > 0 else msg
    m: re.Match[str] | None
    if first == "Accepted":
        m = _ACCEPTED.match(msg)
        if m:
            _set(ev, "login", "success", user=m[2], ip=m[3], port=m[4])
            f = ev["fields"]
            f["method"] = m[1]
            if m[6]:
                f["key"] = m[6]
            return
    elif first == "Failed":
        m = _FAILED.match(msg)
        if m:
            _set(ev, "login", "failure", user=_user(m[3]), ip=m[4], port=m[5])
            f = ev["fields"]
            f["method"] = m[1]
            if m[2]:
                f["invalid_user"] = True
            return
    elif first == "Invalid":
        m = _INVALID.match(msg)
        if m:
            _set(ev, "invalid_user", "failure", user=_user(m[1]), ip=m[2], port=m[3])
            return
    elif first == "Connection":
        m = _CLOSED.match(msg)
        if m:
            _set(ev, "disconnect", None, user=_user(m[2]), ip=m[3], port=m[4])
            if m[1] == "invalid":
                ev["fields"]["invalid_user"] = True
            if msg.endswith("[preauth]"):
                ev["fields"]["preauth"] = True
            return
    elif first == "Disconnected":
        m = _DISCONNECTED.match(msg)
        if m:
            _set(ev, "disconnect", None, user=_user(m[2]), ip=m[3], port=m[4])
            if msg.endswith("[preauth]"):
                ev["fields"]["preauth"] = True
            return
    elif first == "Received" or msg.startswith("error: Received disconnect"):
        m = _RECEIVED_DISC.search(msg)
        if m:
            _set(ev, "disconnect", None, ip=m[1], port=m[2])
            ev["fields"]["reason_code"] = int(m[3]) if len(m[3]) < 6 else m[3]
            return
    elif first == "error:" or first == "maximum":
        m = _MAX_ATTEMPTS.match(msg)
        if m:
            _set(ev, "max_auth_attempts", "failure", user=_user(m[2]), ip=m[3], port=m[4])
            if m[1]:
                ev["fields"]["invalid_user"] = True
            return
        m = _PAM_ERROR.match(msg)
        if m:
            _set(ev, "login", "failure", user=_user(m[3]), ip=m[4])
            ev["fields"]["reason"] = m[1]
            if m[2]:
                ev["fields"]["invalid_user"] = True
            return
    elif first == "User":
        m = _NOT_ALLOWED.match(msg)
        if m:
            _set(ev, "not_allowed", "failure", user=m[1], ip=m[2])
            ev["fields"]["reason"] = m[3]
            return
    elif first == "Disconnecting:" or first == "Disconnecting":
        m = _TOO_MANY.match(msg)
        if m:
            _set(ev, "max_auth_attempts", "failure", user=_user(m[1] or m[4]), ip=m[2], port=m[3])
            return
    elif first == "reverse":
        m = _REVERSE.match(msg)
        if m:
            _set(ev, "break_in_attempt", "failure", ip=m[2])
            ev["fields"]["rdns"] = m[1]
            return
    elif first == "Address":
        m = _ADDRESS_MAPS.match(msg)
        if m:
            _set(ev, "break_in_attempt", "failure", ip=m[1])
            ev["fields"]["rdns"] = m[2]
            return
    elif first == "message":
        m = _REPEATED.match(msg)
        if m:
            _sshd(m[2], ev)
            _fields(ev)["repeated"] = int(m[1]) if len(m[1]) < 10 else None
            return
    elif first == "Did":
        m = _NO_IDENT.match(msg)
        if m:
            _set(ev, "no_identification", "failure", ip=m[1], port=m[2])
            return
    elif first == "fatal:" or first == "Unable":
        m = _NEGOTIATE.match(msg)
        if m:
            _set(ev, "negotiation_failed", "failure", ip=m[1], port=m[2])
            return
    elif first == "Bad":
        m = _BAD_PROTOCOL.match(msg)
        if m:
            _set(ev, "bad_protocol", "failure", ip=m[2], port=m[3])
            ev["fields"]["banner"] = m[1][:200]
            return
    elif first == "input_userauth_request:":
        m = _USERAUTH_REQ.match(msg)
        if m:
            _set(ev, "userauth_request", "failure", user=_user(m[1].strip()))
            ev["fields"]["invalid_user"] = True
            return
    elif first == "PAM":
        m = _PAM_MORE.match(msg)
        if m:
            _pam_failure_kv(m[2], ev, "sshd")
            ev["fields"]["count"] = int(m[1]) + 1 if len(m[1]) < 10 else None
            return
    elif first.startswith("pam_unix("):
        _pam(msg, ev)
        return
    # Anything else from sshd is still an authentication event; keep the peer when it is stated plainly.
    ev["category"] = AUTH
    m = _FROM_IP_PORT.search(msg)
    if m:
        ip = ip_or_none(m[1])
        if ip:
            ev["src_ip"] = ip
            p = port_or_none(m[2])
            if p is not None:
                ev["src_port"] = p


def _pam_failure_kv(rest: str, ev: dict[str, Any], service: str) -> None:
    kv = dict(_KV.findall(rest))
    user = kv.get("user") or kv.get("ruser") or None
    if service in ("sudo", "su"):
        _set(ev, service, "failure", category=PRIV, user=user or kv.get("logname") or None)
        if kv.get("rhost"):
            ip = ip_or_none(kv["rhost"])
            if ip:
                ev["src_ip"] = ip
    else:
        _set(ev, "auth_failure", "failure", user=user, ip=kv.get("rhost") or None)
    f = ev["fields"]
    if kv.get("ruser") and kv.get("ruser") != user:
        f["ruser"] = kv["ruser"]
    if kv.get("tty"):
        f["tty"] = kv["tty"]


def _pam_body(service: str, kind: str, rest: str, ev: dict[str, Any]) -> None:
    f = _fields(ev)
    f["pam_service"] = service
    priv = service in ("sudo", "su", "su-l", "doas")
    if rest.startswith("authentication failure"):
        _pam_failure_kv(rest, ev, "su" if service == "su-l" else service)
        return
    if rest.startswith("session "):
        m = _PAM_SESSION.match(rest)
        if m:
            target, by = m[2], m[3]
            if m[1] == "opened":
                if priv and by:
                    _set(ev, "su" if service in ("su", "su-l") else service, "success", category=PRIV, user=by)
                    ev["fields"]["target_user"] = target
                else:
                    _set(ev, "session_opened", "success", user=target)
                    if by:
                        ev["fields"]["by_user"] = by
            else:
                _set(ev, "session_closed", None, category=PRIV if priv else AUTH, user=target)
            return
    m = _PAM_MORE_BARE.match(rest)
    if m:
        _pam_failure_kv(m[2], ev, service)
        ev["fields"]["count"] = int(m[1]) + 1 if len(m[1]) < 10 else None
        return
    if rest.startswith("check pass; user unknown"):
        _set(ev, "unknown_user", "failure")
        return
    ev["category"] = PRIV if priv else AUTH


def _pam(msg: str, ev: dict[str, Any]) -> None:
    m = _PAM_PREFIX.match(msg)
    if m:
        _pam_body(m[1], m[2], m[3], ev)
    else:
        ev["category"] = AUTH


def _sudo(msg: str, ev: dict[str, Any]) -> None:
    if msg.startswith("pam_unix("):
        _pam(msg, ev)
        return
    user, sep, rest = msg.partition(" : ")
    if not sep or " " in user.strip():
        ev["category"] = PRIV
        if "authentication failure" in msg or "incorrect password" in msg:
            _set(ev, "sudo", "failure", category=PRIV)
        return
    user = user.strip()
    parts = rest.split(" ; ")
    f = _fields(ev)
    status = None
    for i, part in enumerate(parts):
        key, eq, value = part.partition("=")
        if not eq or " " in key:
            if i == 0:
                status = part
            continue
        if key == "COMMAND":
            # The command is last and may itself contain " ; ": keep the remainder whole.
            f["command"] = " ; ".join([value] + parts[i + 1:])
            break
        if key == "USER":
            f["target_user"] = value
        elif key in ("TTY", "PWD", "TSID", "ENV", "GROUP"):
            f[key.lower()] = value
    _set(ev, "sudo", "failure" if status else "success", category=PRIV, user=user)
    if status:
        f["status"] = status.strip()


def _su(msg: str, ev: dict[str, Any]) -> None:
    if msg.startswith("pam_unix("):
        _pam(msg, ev)
        return
    m = _SU_FAILED.match(msg)
    if m:
        _set(ev, "su", "failure", category=PRIV, user=m[2])
        ev["fields"].update(target_user=m[1], tty=m[3])
        return
    m = _SU_BAD.match(msg)
    if m:
        _set(ev, "su", "failure", category=PRIV, user=m[1])
        ev["fields"]["target_user"] = m[2]
        return
    m = _SU_OK.match(msg)
    if m:
        if m[1]:
            _set(ev, "su", "success", category=PRIV, user=m[2])
            ev["fields"]["target_user"] = m[1]
        else:
            _set(ev, "su", "success", category=PRIV, user=m[4])
            ev["fields"].update(target_user=m[3], tty=m[5])
        return
    m = _SU_PLUSMINUS.match(msg)
    if m:
        _set(ev, "su", "success" if m[1] == "+" else "failure", category=PRIV, user=m[3])
        ev["fields"].update(target_user=m[4], tty=m[2])
        return
    if "authentication failure" in msg.lower():
        _set(ev, "su", "failure", category=PRIV)
        return
    ev["category"] = PRIV


def _login(msg: str, ev: dict[str, Any]) -> None:
    if msg.startswith("pam_unix("):
        _pam(msg, ev)
        return
    m = _LOGIN_FAILED.match(msg)
    if m:
        _set(ev, "login", "failure", user=_user(m[4]), ip=m[3] or None)
        ev["fields"]["tty"] = m[2]
        return
    m = _LOGIN_OK.match(msg)
    if m:
        _set(ev, "login", "success", user="root" if m[1] is not None else m[3])
        ev["fields"]["tty"] = m[1] or m[2]
        return
    ev["category"] = AUTH


def extract_auth(app: str, msg: str, ev: dict[str, Any]) -> None:
    """Fill src_ip/src_port/user/category/outcome and fields["action"] from an auth program's message.

    `app` is the syslog tag; "sshd(pam_unix)" style tags (old PAM) mean the message is a bare PAM body.
    Unknown messages only get a category. Never raises on well-typed input.
    """
    if msg.startswith("[ID "):
        m = _SOLARIS_ID.match(msg)
        if m:
            msg = msg[m.end():]
    paren = app.find("(")
    if paren > 0:
        service = app[:paren]
        if app.startswith("(pam_unix)", paren):
            _pam_body(service, "", msg, ev)
            return
        app = service
    if app == "sshd" or app == "sshd-session":
        _sshd(msg, ev)
    elif app == "sudo" or app == "doas":
        _sudo(msg, ev)
    elif app == "su":
        _su(msg, ev)
    elif app == "login":
        _login(msg, ev)
    else:
        _pam(msg, ev)


def wants_auth(app: str | None, msg: str) -> bool:
    """Cheap test: should `extract_auth` see this message?"""
    if not app:
        return False
    if app in AUTH_APPS:
        return True
    paren = app.find("(")
    if paren > 0 and app[:paren] in AUTH_APPS:
        return True
    return msg.startswith("pam_unix(") or app.endswith("(pam_unix)")
