"""Remote-access daemons besides OpenSSH: Dropbear (embedded SSH server) and Samba's authentication audit lines.

Dropbear actions: login_failed (`Bad password attempt for 'USER' from ADDR:PORT`, the PAM variant, and `Login
attempt for nonexistent user [ 'USER'] from ADDR:PORT` — Dropbear writes one line per attempt, so an unknown
account is login_failed with fields.invalid_user), login (`Password auth succeeded` / `Pubkey auth succeeded`),
max_attempts (`Exit before auth from <ADDR:PORT>: Max auth tries reached …`), disconnect (other pre-auth exits;
fields.preauth "true"), connect (`Child connection from ADDR:PORT`).

Samba (smbd's auth_log, `Auth: [SMB2,(null)] user [DOM]\\[USER] at [TIME] with [NTLMv2] status [NT_STATUS_…]
workstation [W] remote host [ipv4:ADDR:PORT] mapped to …`): login_failed (status other than NT_STATUS_OK;
fields.invalid_user for NT_STATUS_NO_SUCH_USER), login (NT_STATUS_OK).

Addresses: Dropbear writes the peer last (`… from ADDR:PORT`, or `<ADDR:PORT>` right after `Exit before auth
from`), after the quoted user name the client chose, so the address is read at the end of the line, where a user
name cannot reach. Samba's user and workstation names are the client's text in brackets; a line with more than one
`remote host [ipvN:…]` names no address.
"""

from __future__ import annotations

import re
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import AUTH, mark

_ADDR = r"\[?([0-9A-Fa-f:.]{2,45}?)\]?:(\d{1,5})"
_DB_FAILED = re.compile(r"Bad (?:PAM )?password attempt for '(.*)' from " + _ADDR + r"\s*\Z", re.S)
_DB_NOUSER = re.compile(r"Login attempt for nonexistent user(?: '(.*)')? from " + _ADDR + r"\s*\Z", re.S)
_DB_OK = re.compile(r"(?:Password|Pubkey|PAM password) auth succeeded for '(.*)' (?:with (?:key|\S{1,40} key) .*? )?"
                    r"from " + _ADDR + r"\s*\Z", re.S)
_DB_EXIT = re.compile(r"Exit before auth from <" + _ADDR + r">: (.*)\Z", re.S)
_DB_MAX_USER = re.compile(r"\(user '(.*)', \d{1,6} fails?\): Max auth tries reached|Max auth tries reached - user "
                          r"'(.*)'", re.S)
_DB_CHILD = re.compile(r"Child connection from " + _ADDR + r"\s*\Z")


def dropbear_message(msg: str, ev: dict[str, Any]) -> bool:
    ev["service"] = "dropbear"
    m = _DB_FAILED.match(msg)
    if m:
        return mark(ev, "login_failed", ip=m[2], port=m[3], user=m[1] or None, protocol="ssh")
    m = _DB_NOUSER.match(msg)
    if m:
        return mark(ev, "login_failed", ip=m[2], port=m[3], user=m[1] or None, protocol="ssh", invalid_user=True)
    m = _DB_OK.match(msg)
    if m:
        return mark(ev, "login", ip=m[2], port=m[3], user=m[1] or None, protocol="ssh")
    m = _DB_EXIT.match(msg)
    if m:
        reason = m[3]
        if "Max auth tries reached" in reason:
            u = _DB_MAX_USER.search(reason)
            user = (u[1] or u[2]) if u else None
            return mark(ev, "max_attempts", ip=m[1], port=m[2], user=user, protocol="ssh", reason=reason[:200])
        return mark(ev, "disconnect", category=AUTH, ip=m[1], port=m[2], preauth="true", reason=reason[:200])
    m = _DB_CHILD.match(msg)
    if m:
        return mark(ev, "connect", category=AUTH, ip=m[1], port=m[2])
    return False


@extractor("dropbear")
def _dropbear(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return dropbear_message(msg, ev)


_SMB = re.compile(r"\s*Auth: \[([\w,() -]{1,60})\] user \[(.*)\]\\\[(.*)\] at \[[^\]]{0,80}\] with \[([^\]]{0,40})\] "
                  r"status \[(NT_STATUS_\w{1,60})\] workstation \[(.*)\] remote host \[ipv[46]:" + _ADDR +
                  r"\] (?:mapped to|became) ", re.S)


def samba_auth_message(msg: str, ev: dict[str, Any]) -> bool:
    if "Auth: [" not in msg[:20]:
        return False
    m = _SMB.match(msg)
    if m is None:
        return False
    ev["service"] = "samba"
    one = msg.count("remote host [ipv") == 1
    ip, port = (m[7], m[8]) if one else (None, None)
    status = m[5]
    common: dict[str, Any] = {"protocol": m[1].split(",", 1)[0].lower(), "auth_method": m[4] or None,
                              "status": status, "domain": m[2][:120] or None, "workstation": m[6][:120] or None}
    if not one:
        common["ambiguous"] = True
    if status == "NT_STATUS_OK":
        return mark(ev, "login", ip=ip, port=port, user=m[3] or None, **common)
    return mark(ev, "login_failed", ip=ip, port=port, user=m[3] or None,
                invalid_user=True if status == "NT_STATUS_NO_SUCH_USER" else None, **common)


@extractor("smbd", "samba", "samba-dcerpcd", "winbindd")
def _samba(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return samba_auth_message(msg, ev)
