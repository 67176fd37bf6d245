"""VoIP: Asterisk (security events of res_security_log, chan_sip and res_pjsip notices) and FreeSWITCH (sofia).

Actions: login_failed (a SIP REGISTER/INVITE whose credentials failed; fields.invalid_user when the account or
endpoint does not exist), login (SuccessfulAuth), sip_acl_rejected (the address is not allowed to register),
sip_acl_fallback (FreeSWITCH fell back to digest auth after an ACL miss: routine), sip_extension_not_found (a call
to an extension the dial plan does not have: toll-fraud scanners dial them by the thousand), sip_challenge (a
digest challenge was sent), sip_security_event (Asterisk's other security events: fields.event).

Addresses: Asterisk's `RemoteAddress="IPV4/UDP/ip/port"` (exactly once per record: the AccountID, SessionID and
Challenge values are the caller's text), `failed for 'ip:port'` (once per line), `Call from '…' (ip:port)`;
FreeSWITCH's `from ip` / `from IP` / `IP ip Rejected` at the fixed ends of its sofia messages.
"""

from __future__ import annotations

import re
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import fields, mark

VOIP = "voip"
_IP = r"[0-9A-Fa-f:.]{2,45}"

# ---------------------------------------------------------------------------------------------- Asterisk
_AST_KV = re.compile(r'(?P<k>[A-Za-z]{1,40})="(?P<v>[^"]*)"')
_AST_REMOTE = re.compile(r"IPV[46]/(?P<transport>[A-Za-z]{2,6})/(?P<ip>" + _IP + r")/(?P<port>\d{1,5})\Z")
_AST_FAILED_FOR = re.compile(r"(?P<what>Registration|Request '(?P<method>[A-Z]{2,12})') from '(?P<from>.*)' failed "
                             r"for '(?P<addr>[^']{2,60})'(?: \(callid: (?P<callid>.*)\))? - (?P<reason>.*)\Z", re.S)
_AST_ADDR = re.compile(r"\[?(?P<ip>" + _IP + r"?)\]?(?::(?P<port>\d{1,5}))?\Z")
_AST_CALL = re.compile(r"Call from '(?P<peer>[^']{0,80})' \((?P<addr>[^()]{2,60})\) to extension '(?P<ext>.*)' "
                       r"rejected because extension not found in context '(?P<ctx>[^']{0,80})'\.?\Z", re.S)
_AST_IAX = re.compile(r"Host (?P<ip>" + _IP + r") failed MD5 authentication for '(?P<user>.*)' \(.*\)\Z", re.S)
_AST_EVENTS_FAILED = {"InvalidPassword": None, "ChallengeResponseFailed": None, "InvalidAccountID": True}
_AST_UNKNOWN_REASONS = ("No matching endpoint found", "No matching peer found", "Not a local domain",
                        "Username/auth name mismatch", "Peer is not supposed to register")
_AST_ACL_REASONS = ("Device does not match ACL", "ACL error")


def _split_addr(text: str) -> tuple[str | None, str | None]:
    m = _AST_ADDR.match(text)
    return (m["ip"], m["port"]) if m else (None, None)


def asterisk_security(body: str, ev: dict[str, Any]) -> bool:
    """`SecurityEvent="…",EventTV="…",…,RemoteAddress="IPV4/UDP/ip/port",…` (res_security_log)."""
    kv: dict[str, str] = {}
    dup: set[str] = set()
    for m in _AST_KV.finditer(body):
        k = m["k"]
        if k in kv:
            dup.add(k)
        kv[k] = m["v"]
    event = kv.get("SecurityEvent")
    if event is None or "SecurityEvent" in dup:
        return False
    ip = port = transport = None
    if "RemoteAddress" not in dup and body.count('RemoteAddress="') == 1:
        r = _AST_REMOTE.match(kv.get("RemoteAddress", ""))
        if r:
            ip, port, transport = r["ip"], r["port"], r["transport"].lower()
    account = kv.get("AccountID")
    user = None if account in (None, "", "<unknown>") else account
    common: dict[str, Any] = {"event": event, "sip_service": kv.get("Service"), "transport": transport,
                              "protocol": "sip", "session_id": (kv.get("SessionID") or "")[:120] or None}
    if event in _AST_EVENTS_FAILED:
        return mark(ev, "login_failed", ip=ip, port=port, user=user, invalid_user=_AST_EVENTS_FAILED[event],
                    **common)
    if event == "SuccessfulAuth":
        return mark(ev, "login", ip=ip, port=port, user=user, **common)
    if event == "FailedACL":
        return mark(ev, "sip_acl_rejected", category=VOIP, outcome="failure", ip=ip, port=port, user=user,
                    acl=kv.get("ACLName"), **common)
    if event == "ChallengeSent":
        return mark(ev, "sip_challenge", category=VOIP, ip=ip, port=port, user=user, **common)
    return mark(ev, "sip_security_event", category=VOIP, ip=ip, port=port, user=user, **common)


def asterisk_message(msg: str, ev: dict[str, Any]) -> bool:
    """The text after Asterisk's `LEVEL[pid][callid]: ` header (syslog and the `messages`/`full` files alike)."""
    i = msg.find('SecurityEvent="')
    if i >= 0:
        return asterisk_security(msg[i:], ev)
    i = msg.find("Call from '")
    if i >= 0:
        m = _AST_CALL.match(msg, i)
        if m:
            ip, port = _split_addr(m["addr"])
            return mark(ev, "sip_extension_not_found", category=VOIP, outcome="failure", ip=ip, port=port,
                        extension=m["ext"][:120], context=m["ctx"], peer=m["peer"] or None, protocol="sip")
    if "' failed for '" in msg:
        i = max(msg.find("Registration from '"), msg.find("Request '"))
        if i >= 0:
            m = _AST_FAILED_FOR.match(msg, i)
            if m:
                ip, port = _split_addr(m["addr"]) if msg.count("' failed for '") == 1 else (None, None)
                reason = m["reason"].strip()
                user = _sip_user(m["from"])
                common: dict[str, Any] = {"protocol": "sip", "sip_method": m["method"] or "REGISTER",
                                          "reason": reason[:200]}
                if reason.startswith(_AST_ACL_REASONS):
                    return mark(ev, "sip_acl_rejected", category=VOIP, outcome="failure", ip=ip, port=port,
                                user=user, **common)
                unknown = reason.startswith(_AST_UNKNOWN_REASONS)
                return mark(ev, "login_failed", ip=ip, port=port, user=user, invalid_user=True if unknown else None,
                            **common)
    i = msg.find("Host ")
    if i >= 0 and " failed MD5 authentication for '" in msg:
        m = _AST_IAX.match(msg, i)
        if m:
            return mark(ev, "login_failed", ip=m["ip"], user=m["user"], protocol="iax2")
    return False


_SIP_URI_USER = re.compile(r"<?sips?:(?P<user>[^@:;>]{1,80})@")


def _sip_user(from_header: str) -> str | None:
    m = _SIP_URI_USER.search(from_header)
    return m["user"] if m else None


# ---------------------------------------------------------------------------------------------- FreeSWITCH
_FS_ACL = re.compile(r"IP (?P<ip>" + _IP + r") Rejected by (?:register )?acl(?: \"(?P<acl>[^\"]{0,80})\")?"
                     r"(?P<rest>\..*)?\Z", re.S)
_FS_NO_USER = re.compile(r"Can't find user \[(?P<user>.*)\] from (?P<ip>" + _IP + r")\s*\Z", re.S)
_FS_AUTH = re.compile(r"SIP auth (?P<what>failure|challenge) \((?P<method>[A-Z]{2,12})\) on sofia profile "
                      r"'(?P<profile>[^']{0,80})' for \[(?P<user>.*)\] from ip (?P<ip>" + _IP + r")\s*\Z", re.S)
_FS_HEAD = re.compile(r"(?:\[(?P<level>[A-Z]{2,10})\] )?(?P<src>sofia[\w.]{0,20}\.c:\d{1,6}) ")


def _user_part(aor: str) -> str:
    return aor.rsplit("@", 1)[0] if "@" in aor else aor


def freeswitch_message(msg: str, ev: dict[str, Any]) -> bool:
    """A sofia message, with or without its `[LEVEL] sofia_reg.c:NNN ` head."""
    h = _FS_HEAD.match(msg)
    body = msg[h.end():] if h else msg
    extra: dict[str, Any] = {"protocol": "sip", "source_file": h["src"] if h else None}
    if body.startswith("IP "):
        m = _FS_ACL.match(body)
        if m:
            fallback = bool(m["rest"]) and "Falling back" in m["rest"]
            return mark(ev, "sip_acl_fallback" if fallback else "sip_acl_rejected", category=VOIP,
                        outcome=None if fallback else "failure", ip=m["ip"], acl=m["acl"], **extra)
    if body.startswith("Can't find user"):
        m = _FS_NO_USER.match(body)
        if m:
            return mark(ev, "login_failed", ip=m["ip"], user=_user_part(m["user"]), invalid_user=True,
                        sip_aor=m["user"][:200], **extra)
    if body.startswith("SIP auth "):
        m = _FS_AUTH.match(body)
        if m:
            if m["what"] == "failure":
                return mark(ev, "login_failed", ip=m["ip"], user=_user_part(m["user"]), sip_method=m["method"],
                            sip_profile=m["profile"], sip_aor=m["user"][:200], **extra)
            return mark(ev, "sip_challenge", category=VOIP, ip=m["ip"], user=_user_part(m["user"]),
                        sip_method=m["method"], **extra)
    return False


# ---------------------------------------------------------------------------------------------- registry
_AST_SYSLOG_HEAD = re.compile(r"(?P<level>[A-Z]{2,10})\[\d{1,10}\](?:\[[^\]]{0,40}\])?:? ")


@extractor("asterisk")
def _asterisk(app: str, msg: str, ev: dict[str, Any]) -> bool:
    h = _AST_SYSLOG_HEAD.match(msg)
    if h:
        ok = asterisk_message(msg[h.end():], ev)
        if ok:
            fields(ev)["level"] = h["level"]
        return ok
    return asterisk_message(msg, ev)


@extractor("freeswitch")
def _freeswitch(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return freeswitch_message(msg, ev)
