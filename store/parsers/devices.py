"""Network devices' own messages — Cisco ASA/PIX/IOS (`%ASA-6-605004: …`), IPS signatures, Juniper RT_IDS/RT_SCREEN
and IDP, Snort/Suricata fast-log lines, and the login failures appliances write — normalised to category, action
and the address the device reports.

Devices put the attacker's address in fixed places of fixed messages; an account name the client typed can hold
anything ("user '192.0.2.10'", "for user x from 192.0.2.10"). So an address is taken only from the message's
fixed position — the `[src:port -> dst:port]` tail of a signature, ASA's `from ADDR/PORT to`, or an address
that ends the message after any user text — and never from before an account name's text.
Runs after the line's parser when the message carries a device keyword (a cheap test first).
"""

from __future__ import annotations

import re
from typing import Any

# The cheap test; the vectorised parser uses the same pattern to leave these lines to the per-line chain.
DEVICE_HINT = (r"%[A-Z][A-Z0-9_]{1,24}-\d-[A-Z0-9_]{2,40}|RT_IDS|RT_SCREEN|IDP_ATTACK_LOG_EVENT|"
               r"\[\*\*\] \[\d+:\d+:\d+\]|(?i:login denied|enable password incorrect|locked out on exceeding|"
               r"authentication failed for user|invalid login attempt|shunned packet)")
_HINT = re.compile(DEVICE_HINT)
_MNEMONIC = re.compile(r"%(?P<fac>[A-Z][A-Z0-9_]{1,24})-(?P<sev>\d)-(?P<mn>[A-Z0-9_]{2,40}): ?(?P<text>.*)", re.S)
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_FLOW_TAIL = re.compile(rf"\[?(?P<src>{_IPV4}):(?P<sp>\d{{1,5}}) -> (?P<dst>{_IPV4}):(?P<dp>\d{{1,5}})\]?\s*\Z")
_ASA_FROM_TO = re.compile(rf"\A(?P<head>[^\"']*?) from (?:\S+:)?(?P<src>{_IPV4})(?:/(?P<sp>\d{{1,5}}))? to "
                          rf"(?:\S+:)?(?P<dst>{_IPV4})")
_USER_MARK = re.compile(r"(?i)\buser(?:name)?\b|\blogin name\b")
_TAIL_PEER = re.compile(rf"(?i)\b(?:from|source|src)\b[\s:=]*(?:host\s+)?['\"(\[]?(?P<src>{_IPV4})['\")\]]?"
                        r"(?:[/:]\d{1,5})?[\s.!\])]*\Z")
_FIRST_IP = re.compile(rf"(?<![\d.])({_IPV4})(?![\d.])")
_JUNIPER_KV = re.compile(rf"\bsource(?:-address)?[:=] ?\"?(?P<src>{_IPV4})\"?[,\s]")

# (regex on the message, category, action, outcome)
_KINDS: list[tuple[re.Pattern[str], str, str, str | None]] = [
    (re.compile(r"%IPS-\d-SIGNATURE|\bRT_IDS\b|RT_SCREEN_|IDP_ATTACK_LOG_EVENT|\[\*\*\] \[\d+:\d+:\d+\]|"
                r"Deny IP due to Land Attack|Deny IP teardrop|Deny protocol (?:connection spoof|reverse path check)|"
                r"%ASA-\d-401004|Shunned packet|Received ARP response collision"),
     "intrusion_detection", "ids_alert", None),
    (re.compile(r"(?i)(?:Login|Administrator login) denied|enable password incorrect|locked out on exceeding|"
                r"authentication failed for user|Invalid login attempt"),
     "authentication", "login_failed", "failure"),
]


def device_event(ev: dict[str, Any]) -> bool:
    """Fill category/action/src_ip for a device message; True if it was one. Leaves what a parser set."""
    app = ev.get("app") or ""
    msg = ev.get("message") or ""
    text = f"{app}: {msg}" if app.startswith("%") else msg
    if not _HINT.search(text[:4096]):
        return False
    text = text[:4096]
    kind = next(((cat, act, out) for rx, cat, act, out in _KINDS if rx.search(text)), None)
    if kind is None:
        return False
    category, action, outcome = kind
    ev.setdefault("category", category)
    if ev.get("action") is None:
        ev["action"] = action
        # What the device reader concluded, apart from a service parser's own reading of the same words (a
        # PostgreSQL "password authentication failed for user" is the database's login failure, not a device's).
        _fields(ev).setdefault("device", action)
    if outcome and ev.get("outcome") is None:
        ev["outcome"] = outcome
    m = _MNEMONIC.search(text)
    if m:
        _fields(ev).setdefault("mnemonic", f"{m['fac']}-{m['sev']}-{m['mn']}")
    if ev.get("src_ip") is None:
        src = _device_peer(m["text"] if m else text)
        if src is not None:
            ev["src_ip"] = src
    return True


def _fields(ev: dict[str, Any]) -> dict[str, Any]:
    fields = ev.get("fields")
    if not isinstance(fields, dict):
        fields = ev["fields"] = {} if fields is None else {"_fields": fields}
    return fields


def _device_peer(text: str) -> str | None:
    """The address a device reports: a signature's flow tail, ASA's "from A to B" before any quoted account text,
    a key the device writes (source:), else the first address before any account name or one that ends the
    message after it. Never an address inside what the client typed."""
    m = _FLOW_TAIL.search(text)
    if m:
        return m["src"]
    m = _ASA_FROM_TO.match(text)
    if m and not _USER_MARK.search(m["head"]):
        return m["src"]
    m = _JUNIPER_KV.search(text)
    if m:
        return m["src"]
    mark = _USER_MARK.search(text)
    m = _FIRST_IP.search(text, 0, mark.start() if mark else len(text))
    if m:
        return m.group(1)
    if mark:
        m2 = _TAIL_PEER.search(text, mark.end())
        if m2:
            return m2["src"]
    return None
