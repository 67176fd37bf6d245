"""Security meaning of sshd, sudo, su, login and PAM messages: who, from where, what, success or failure.

Applied by the syslog (and plain) parsers after the envelope, keyed by the program name. Dispatches on the
message's first word so each line runs at most a couple of precompiled regexes.

User names (and a few other fields: certificate IDs, PAM's user=) are chosen by whoever connects, so they may
contain " from 192.0.2.10 port 22" or "rhost=192.0.2.10". The address is therefore always read from the part
of the line the daemon writes after them — anchored at the end of the line, as fail2ban's sshd filter does —
or from PAM's fixed key order; a line where that still leaves two readings gets no address at all and says
why in fields["ambiguous"].
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
# sshd's "<verb> <method> for [invalid user ]<user> from <addr> port <n> ssh2[: <info>]". The user is free text
# and comes first, so the address is the one whose tail reaches the end of the line (or the ": " that opens
# sshd's own info about a key). Candidates for it are scanned with _PEER; see _login_peer.
_LOGIN_HEAD = re.compile(r"(Failed|Accepted|Postponed|Partial) (\S+) for ")
_PEER = re.compile(r" from (\S+) port (\d+)(?: (\w+))?(?: \[preauth\])?(?=\s*\Z|:)")
# Methods after which sshd never writes an info part: for these the last candidate that ends the line is
# sshd's own, whatever the user name held. Others (publickey, hostbased) may end with a certificate ID the
# client chose, so there only a single candidate is trusted.
NO_INFO_METHODS = frozenset({"password", "none", "keyboard-interactive", "keyboard-interactive/pam"})
_INVALID_PREFIXES = ("invalid user ", "illegal user ")
_INVALID = re.compile(r"(?:Invalid|Illegal) user " + _USER + r" from (\S+?)(?: port (\d+))?\s*\Z")
_CLOSED = re.compile(
    r"Connection (?:closed|reset) by (?:(authenticating|invalid) user " + _USER + r" )?(\S+?)(?: port (\d+))?"
    r"(?: \[preauth\])?\s*\Z"
)
_DISCONNECTED = re.compile(
    r"Disconnected from (?:(authenticating|invalid) )?(?:user " + _USER + r" )?(\S+?)(?: port (\d+))?"
    r"(?: \[preauth\])?\s*\Z"
)
_RECEIVED_DISC = re.compile(r"(?:error: )?Received disconnect from (?:(\S+) port (\d+)|(\S+)):(?: ?(\d+):)? ?(.*)",
                            re.S)
_MAX_ATTEMPTS = re.compile(r"(?:error: )?maximum authentication attempts exceeded for ")
# Greedy user, then sshd's fixed tail to the end of the line: the last "… <addr> port <n>" is sshd's.
_TOO_MANY = re.compile(r"Disconnecting (?:authenticating|invalid) user (.*) (\S+) port (\d+): "
                       r"Too many authentication failures(?: \[preauth\])?\s*\Z", re.S)
_TOO_MANY_OLD = re.compile(r"Disconnecting: Too many authentication failures(?: for (?:invalid user )?(\S+))?")
_REVERSE = re.compile(r"reverse mapping checking getaddrinfo for (\S+) \[([^\]]+)\] failed")
_ADDRESS_MAPS = re.compile(r"Address (\S+) maps to (\S+), but this does not map back")
_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*?)\]?\s*$")
_NO_IDENT = re.compile(r"Did not receive identification string from (\S+?)(?: port (\d+))?\s*$")
_NEGOTIATE = re.compile(r"(?:fatal: )?Unable to negotiate with (\S+?)(?: port (\d+))?: (.*)")
_USERAUTH_REQ = re.compile(r"input_userauth_request: invalid user (.*?) \[preauth\]")
_BAD_PROTOCOL = re.compile(r"Bad protocol version identification '(.*)' from (\S+?)(?: port (\d+))?\s*$", re.S)
_NOT_ALLOWED = re.compile(r"User (.*) from (\S+) not allowed because (.+?)\s*\Z", re.S)
_PAM_ERROR = re.compile(r"error: PAM: (.*?) for (illegal user |invalid user )?(.*) from (\S+)(?: via \S+)?"
                        r"(?: \[preauth\])?\s*\Z", re.S)
# Messages whose peer sshd states before any text a client chose (the address is not searched for elsewhere).
_PEER_FIRST = re.compile(r"(?:(?:error|fatal): )?(?:[A-Za-z_]+(?: [A-Za-z_]+)*: )?Connection from (\S+) port (\d+)"
                         r"(?: on \S+ port \d+(?: rdomain \S*)?\s*\Z|:)")
_TIMEOUT = re.compile(r"(?:fatal: )?Timeout before authentication for (?:connection from )?(\S+) port (\d+)\s*\Z")
# OpenSSH ≥ 8.x: a client that sent no valid SSH banner ("banner exchange: Connection from A port N: invalid format").
_BANNER = re.compile(r"(?:error: )?banner exchange: Connection from (\S+) port (\d+): (.{1,200}?)"
                     r"(?: \[preauth\])?\s*\Z", re.S)
# tcp_wrappers (hosts.deny) refusing a connection: "refused connect from <name> (<address>)". The name is the peer's
# reverse DNS, which its owner chooses, so only the parenthesised address that ends the line is read, and a name
# holding a parenthesis or a space (no real host name does) leaves the line without an address.
_REFUSED = re.compile(r"refused connect from (\S+) \(([0-9A-Fa-f:.]{2,45})\)\s*\Z")
_SESSION = re.compile(r"(?:Starting session: .*? for |Close session: user )(.*) from (\S+) port (\d+) id \d+\s*\Z",
                      re.S)
_PAM_PREFIX = re.compile(r"pam_unix\(([^:)]*):(\w+)\): ?(.*)", re.S)
_PAM_SESSION = re.compile(
    r"session (opened|closed) for user ([^\s(]+)(?:\(uid=\d+\))?(?: by ([^\s(]*)(?:\(uid=(\d+)\))?)?"
)
_PAM_MORE = re.compile(r"PAM (\d+) more authentication failures?(;.*)", re.S)
_PAM_MORE_BARE = re.compile(r"(\d+) more authentication failures?(;.*)", re.S)
# pam_unix writes "logname= uid= euid= tty= ruser= rhost=" then, last, "  user=": every value before user= has
# no spaces, so rhost is read at its place in that order; user= is free text to the end of the line.
_PAM_FIXED = re.compile(r"; ?logname=(\S*) uid=(\S*) euid=(\S*) tty=(\S*) ruser=(\S*) rhost=(\S*)"
                        r"(?: +user=(.*?))?\s*\Z", re.S)
_KV = re.compile(r"(\w+)=(\S*)")
_PAM_USER_KEY = re.compile(r"(?:^|[ ;])user=")
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


def _withhold(ev: dict[str, Any], why: str) -> None:
    """Two readings of the line name different peers: store none, and say so."""
    ev.pop("src_ip", None)
    ev.pop("src_port", None)
    _fields(ev)["ambiguous"] = why


class _Peer:
    """What _login_peer read: the user text before the address, the address, its port and sshd's info."""

    __slots__ = ("user", "ip", "port", "info")

    def __init__(self, user: str, ip: str, port: str, info: str | None) -> None:
        self.user, self.ip, self.port, self.info = user, ip, port, info


_AMBIGUOUS = "no single 'from <address> port <n>' is certainly sshd's; address withheld"


def _login_peer(msg: str, start: int, no_info: bool) -> _Peer | str | None:
    """The peer of a line whose client-chosen user name starts at `start`: None when the line has no
    `from <addr> port <n>` tail, a reason (str) when no single one can be sshd's.

    sshd's own "from <addr> port <n>" is always a candidate: it follows the user and ends the line or opens
    the ": <info>" part. After a method that never has an info part only the candidate ending the line is
    sshd's (any other is inside the user name). Otherwise a single candidate is sshd's; with several, the
    user name (before it) or a certificate ID in the info (after it) forged the others.
    """
    cands = list(_PEER.finditer(msg, start))
    if not cands:
        return None
    m = cands[-1]
    if no_info:
        if msg[m.end():].strip():
            return _AMBIGUOUS
    elif len(cands) > 1:
        return _AMBIGUOUS
    rest = msg[m.end():]
    info = rest[2:] if rest.startswith(": ") else None
    return _Peer(msg[start:m.start()], m[1], m[2], info)


def _sshd_login(msg: str, ev: dict[str, Any], verb: str, method: str, pos: int) -> bool:
    """Failed/Accepted/Postponed/Partial lines after "<verb> <method> for "; False if the tail is not sshd's."""
    no_info = method in NO_INFO_METHODS
    invalid = msg.startswith(_INVALID_PREFIXES, pos)
    peer = _login_peer(msg, pos + 13, no_info) if invalid else None
    if peer is None:
        # "for invalid user from …" (one space) reads as a user named "invalid user".
        invalid = False
        peer = _login_peer(msg, pos, no_info)
    if peer is None:
        return False
    if verb in ("Postponed", "Partial"):
        # Steps of one login, not an outcome: only the peer is kept.
        ev["category"] = AUTH
        if isinstance(peer, _Peer):
            _set_peer(ev, peer.ip, peer.port)
        return True
    outcome = "success" if verb == "Accepted" else "failure"
    if isinstance(peer, str):
        _set(ev, "login", outcome)
    else:
        _set(ev, "login", outcome, user=_user(peer.user), ip=peer.ip, port=peer.port)
    f = ev["fields"]
    f["method"] = method
    if isinstance(peer, str):
        _withhold(ev, peer)
    elif verb == "Accepted" and peer.info:
        f["key"] = peer.info
    if invalid:
        f["invalid_user"] = True
    return True


def _set_peer(ev: dict[str, Any], ip: str, port: str | None) -> None:
    addr = ip_or_none(ip)
    if addr is not None:
        ev["src_ip"] = addr
        p = port_or_none(port)
        if p is not None:
            ev["src_port"] = p


def _max_attempts(msg: str, ev: dict[str, Any], pos: int) -> None:
    invalid = msg.startswith("invalid user ", pos)
    peer = _login_peer(msg, pos + 13, True) if invalid else None
    if peer is None:
        invalid = False
        peer = _login_peer(msg, pos, True)
    if isinstance(peer, _Peer):
        _set(ev, "max_auth_attempts", "failure", user=_user(peer.user), ip=peer.ip, port=peer.port)
    else:
        # No sshd tail at all (a cut or odd line): still the event, never an address read from the user.
        _set(ev, "max_auth_attempts", "failure")
        if peer is not None:
            _withhold(ev, peer)
    if invalid:
        ev["fields"]["invalid_user"] = True


def _bad_banner(msg: str, ev: dict[str, Any]) -> bool:
    m = _BANNER.match(msg)
    if m is None:
        return False
    _set(ev, "bad_banner", "failure", ip=m[1], port=m[2])
    ev["fields"]["reason"] = m[3]
    return True


def _sshd(msg: str, ev: dict[str, Any]) -> None:
    sp = msg.find(" ")
    first = msg[:sp] if sp > 0 else msg
    m: re.Match[str] | None
    if first in ("Failed", "Accepted", "Postponed", "Partial"):
        m = _LOGIN_HEAD.match(msg)
        if m and _sshd_login(msg, ev, m[1], m[2], m.end()):
            return
    elif first == "Invalid" or first == "Illegal":
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
        # The peer comes first; the reason after it is the client's text.
        m = _RECEIVED_DISC.match(msg)
        if m:
            _set(ev, "disconnect", None, ip=m[1] or m[3], port=m[2])
            if m[4]:
                ev["fields"]["reason_code"] = int(m[4]) if len(m[4]) < 6 else m[4]
            return
    elif first == "error:" or first == "maximum":
        m = _MAX_ATTEMPTS.match(msg)
        if m:
            _max_attempts(msg, ev, m.end())
            return
        m = _PAM_ERROR.match(msg)
        if m:
            _set(ev, "login", "failure", user=_user(m[3]), ip=m[4])
            ev["fields"]["reason"] = m[1]
            if m[2]:
                ev["fields"]["invalid_user"] = True
            return
        if _bad_banner(msg, ev):
            return
    elif first == "User":
        m = _NOT_ALLOWED.match(msg)
        if m:
            _set(ev, "not_allowed", "failure", user=_user(m[1]), ip=m[2])
            ev["fields"]["reason"] = m[3]
            return
    elif first == "Disconnecting:" or first == "Disconnecting":
        m = _TOO_MANY.match(msg)
        if m:
            _set(ev, "max_auth_attempts", "failure", user=_user(m[1]), ip=m[2], port=m[3])
            return
        m = _TOO_MANY_OLD.match(msg)
        if m:
            _set(ev, "max_auth_attempts", "failure", user=_user(m[1]))
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
    elif first == "banner":
        if _bad_banner(msg, ev):
            return
    elif first == "refused":
        m = _REFUSED.match(msg)
        if m:
            if "(" in m[1] or ")" in m[1]:
                _set(ev, "refused_connect", "failure")
                _withhold(ev, "the peer's name imitates the address part; address withheld")
            else:
                _set(ev, "refused_connect", "failure", ip=m[2])
                ev["fields"]["rdns"] = m[1][:255]
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
    # Anything else from sshd is still an authentication event. Its peer is kept only from messages where
    # sshd states it before (or after, anchored) any client text: elsewhere " from <addr> port <n>" may sit
    # inside a banner, a key ID or a user name.
    ev["category"] = AUTH
    m = _TIMEOUT.match(msg)
    if m:
        # LoginGraceTime ran out: the client held the connection open without authenticating.
        _set(ev, "auth_timeout", "failure", ip=m[1], port=m[2])
        return
    m = _PEER_FIRST.match(msg)
    if m:
        _set_peer(ev, m[1], m[2])
        return
    m = _SESSION.match(msg)
    if m:
        _set_peer(ev, m[2], m[3])


def _pam_failure_kv(rest: str, ev: dict[str, Any], service: str) -> None:
    """PAM's key=value tail ("; logname=… rhost=…  user=…"): fixed order where pam_unix wrote it, else keys,
    and no address (or user) at all when a second "rhost=" leaves two readings."""
    twice = rest.count("rhost=") > 1
    ambiguous: str | None = None
    m = _PAM_FIXED.match(rest)
    if m:
        logname, tty, ruser, rhost, user_v = m[1], m[4], m[5], m[6], m[7] or ""
        # Values before rhost= have no spaces, so its place is certain where ruser= is empty: sshd never sets
        # it. Other services may take ruser from the client (rlogin), and a ruser holding " rhost=… " can pose
        # as an empty one: there a second "rhost=" leaves two readings.
        if twice and (ruser or service != "sshd"):
            ambiguous = "'rhost=' twice and ruser= may be the client's; address withheld"
    else:
        # user= is still last: what follows it is the user's text, never keys.
        u = _PAM_USER_KEY.search(rest)
        pairs = _KV.findall(rest, 0, u.start() if u else len(rest))
        kv = dict(pairs)
        if twice or len(kv) < len(pairs):
            ambiguous = "a PAM key given twice; address withheld"
        logname, tty, ruser = kv.get("logname", ""), kv.get("tty", ""), kv.get("ruser", "")
        rhost, user_v = kv.get("rhost", ""), rest[u.end():].strip() if u else ""
    # Which text is the user is as uncertain as the address when the keys repeat.
    user = None if ambiguous else user_v or ruser or None
    if ambiguous:
        rhost = ""
    if service in ("sudo", "su"):
        _set(ev, service, "failure", category=PRIV, user=user or logname or None)
        if rhost:
            ip = ip_or_none(rhost)
            if ip:
                ev["src_ip"] = ip
    else:
        _set(ev, "auth_failure", "failure", user=user, ip=rhost or None)
    f = ev["fields"]
    if ruser and ruser != user:
        f["ruser"] = ruser
    if tty:
        f["tty"] = tty
    if ambiguous:
        f["ambiguous"] = ambiguous


def _pam_body(service: str, kind: str, rest: str, ev: dict[str, Any]) -> None:
    f = _fields(ev)
    f["pam_service"] = service
    priv = service in ("sudo", "su", "su-l", "doas")
    if rest.startswith("authentication failure"):
        _pam_failure_kv(rest[22:], ev, "su" if service == "su-l" else service)
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
