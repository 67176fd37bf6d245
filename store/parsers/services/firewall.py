"""Packet filters' per-packet log lines: Linux netfilter (`kernel: [..] PREFIX IN=… SRC=… DST=… PROTO=… SPT=…
DPT=…`, also UniFi and Proxmox prefixes), pfSense/OPNsense `filterlog` CSV records, and MikroTik RouterOS
firewall topics (`… proto TCP (SYN), SRC:PORT->DST:PORT, len 40`, plus its `login failure for user … from ADDR
via winbox` line).

Actions (category `firewall`): fw_drop (a packet the filter dropped, rejected or blocked — for netfilter and
MikroTik log rules, whose verdict is not logged, unless the administrator's prefix says the packet was accepted),
fw_accept (a logged packet that passed). fields: dst_port, protocol, direction, interface, prefix (the
administrator's log prefix). dst_ip is the packet's destination. login_failed for MikroTik's login failures.
WireGuard's kernel debug lines (category `vpn`): tls_failure (a handshake initiation or response that did not
verify: the same pre-authentication failure OpenVPN's tls-auth reports), vpn_spoofed_source (a peer's packet
with an inner source address it is not allowed).

Addresses: these lines are written by the filter from packet headers, never by the remote side's text, so the
packet's source is read at its fixed key (`SRC=`), CSV column or `src:port->` position. A line that repeats a key
(a spoofed log prefix holding `SRC=`) names no address.
"""

from __future__ import annotations

import re
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import address, mark

FIREWALL = "firewall"
_IP = r"[0-9A-Fa-f:.]{2,45}"

# ------------------------------------------------------------------------------------------------------ netfilter
_NF_KEYS = re.compile(r"(?<![\w=])(IN|OUT|SRC|DST|PROTO|SPT|DPT)=(\S{0,64})")
_NF_START = re.compile(r"(?:^|\s)((?:IN|OUT)=)")
_UPTIME = re.compile(r"\[ {0,12}\d{1,12}\.\d{1,9}\] ?")
_ACCEPT_WORDS = re.compile(r"(?i)accept|allow|-A-|\bpass|\baudit\b")


def _verdict(prefix: str) -> str:
    return "fw_accept" if _ACCEPT_WORDS.search(prefix) else "fw_drop"


def netfilter_message(msg: str, ev: dict[str, Any]) -> bool:
    """A netfilter LOG/NFLOG line; False for other kernel messages (cheap test for ` SRC=` first)."""
    if " SRC=" not in msg:
        return False
    u = _UPTIME.match(msg)
    body = msg[u.end():] if u else msg
    nf = _NF_START.search(body)
    if nf is None:
        return False
    start = nf.start(1)
    prefix = body[:start].strip()
    kv: dict[str, str] = {}
    for m in _NF_KEYS.finditer(body[start:]):
        if m[1] in kv and m[1] not in ("IN", "OUT"):
            kv[m[1]] = ""  # repeated: ambiguous (SPT/DPT repeat only inside ICMP errors' quoted packet)
            continue
        kv.setdefault(m[1], m[2])
    if "SRC" not in kv or "DST" not in kv:
        return False
    dst = address(kv["DST"])
    if dst:
        ev["dst_ip"] = dst
    proto = (kv.get("PROTO") or "").lower() or None
    return mark(ev, _verdict(prefix), category=FIREWALL, outcome="failure" if _verdict(prefix) == "fw_drop" else None,
                ip=kv["SRC"] or None, port=kv.get("SPT"), dst_port=_port(kv.get("DPT")), protocol=proto,
                interface=kv.get("IN") or None, prefix=prefix[:120] or None)


def _port(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) <= 5 and int(text) <= 65535 else None


# WireGuard answers nothing to a bad handshake, so the kernel's debug line is all there is of a probe.
_WG = re.compile(r"(?:\[ {0,12}\d{1,12}\.\d{1,9}\] ?)?wireguard: ([\w.-]{1,32}): (Invalid handshake initiation|"
                 r"Invalid handshake response|Packet has unallowed src IP \(" + _IP + r"\)) from (?:peer \d{1,10} \()?"
                 r"\[?(" + _IP + r"?)\]?:(\d{1,5})\)?\s*\Z")


def wireguard_message(msg: str, ev: dict[str, Any]) -> bool:
    m = _WG.match(msg)
    if m is None:
        return False
    ev["service"] = "wireguard"
    if m[2].startswith("Invalid"):
        return mark(ev, "tls_failure", outcome="failure", category="vpn", ip=m[3], port=m[4], interface=m[1],
                    reason=m[2], protocol="wireguard")
    return mark(ev, "vpn_spoofed_source", outcome="failure", category="vpn", ip=m[3], port=m[4], interface=m[1],
                protocol="wireguard")


@extractor("kernel")
def _kernel(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return netfilter_message(msg, ev) or ("wireguard: " in msg[:40] and wireguard_message(msg, ev))


# ------------------------------------------------------------------------------------------------------ pf
def filterlog_message(msg: str, ev: dict[str, Any]) -> bool:
    """pfSense/OPNsense filterlog CSV: rule,sub,anchor,tracker,iface,reason,action,dir,ipver,… (IPv4 and IPv6
    put the protocol, addresses and ports at different columns)."""
    f = msg.strip().split(",")
    if len(f) < 17 or f[8] not in ("4", "6") or f[6] not in ("pass", "block", "match", "reject", "scrub"):
        return False
    if f[8] == "4":
        proto, src, dst, rest = f[16].lower(), f[18] if len(f) > 19 else "", f[19] if len(f) > 19 else "", f[20:]
    else:
        proto, src, dst, rest = f[12].lower(), f[15], f[16], f[17:]
    ports = proto in ("tcp", "udp") and len(rest) >= 2
    dip = address(dst)
    if dip:
        ev["dst_ip"] = dip
    action = "fw_accept" if f[6] == "pass" else "fw_drop"
    return mark(ev, action, category=FIREWALL, outcome="failure" if action == "fw_drop" else None, ip=src,
                port=rest[0] if ports else None, dst_port=_port(rest[1]) if ports else None, protocol=proto or None,
                interface=f[4][:32] or None, direction=f[7] or None, rule=f[3][:32] or None)


@extractor("filterlog")
def _filterlog(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return filterlog_message(msg, ev)


# ------------------------------------------------------------------------------------------------------ MikroTik
# `[prefix ]chain: in:IF out:IF, [connection-state:…,] [src-mac …,] proto P[ (FLAGS)], SRC[:PORT]->DST[:PORT], …`
_MT_FW = re.compile(r"(?:(\S{1,64}) )?([\w-]{1,32}): in:(\S{0,64}) out:(.{0,64}?), (?:connection-state:\S{1,40},? )?"
                    r"(?:src-mac [0-9a-fA-F:]{17},? )?proto (\w{1,16})(?: \([^)]{0,40}\))?, "
                    r"\[?(" + _IP + r"?)\]?(?::(\d{1,5}))?->\[?(" + _IP + r"?)\]?(?::(\d{1,5}))?, ")
_MT_LOGIN = re.compile(r"(?:AUTH_FAILED: )?login:? failure for user (.*) from (" + _IP + r") via ([\w-]{1,32})\s*\Z",
                       re.S)


def mikrotik_message(topics: str, msg: str, ev: dict[str, Any]) -> bool:
    """One RouterOS message after its `topic,topic` tag."""
    ev["service"] = "mikrotik"
    if "firewall" in topics.split(","):
        m = _MT_FW.match(msg)
        if m is None:
            return mark(ev, None, category=FIREWALL)
        prefix = m[1] or ""
        dip = address(m[8])
        if dip:
            ev["dst_ip"] = dip
        action = _verdict(prefix)
        return mark(ev, action, category=FIREWALL, outcome="failure" if action == "fw_drop" else None, ip=m[6],
                    port=m[7], dst_port=_port(m[9]), protocol=m[5].lower(), interface=m[3] or None,
                    chain=m[2], prefix=prefix or None)
    login = _MT_LOGIN.match(msg)
    if login:
        return mark(ev, "login_failed", ip=login[2], user=login[1][:256] or None, protocol=login[3])
    return mark(ev, None)


# RouterOS set to log without topics: the syslog tag is the firewall chain (`input: in:ether1 out:…, …`).
@extractor("input", "forward", "output", "prerouting", "postrouting")
def _routeros_chain(app: str, msg: str, ev: dict[str, Any]) -> bool:
    if not msg.startswith("in:"):
        return False
    return mikrotik_message("firewall", f"{app.strip()}: {msg}", ev)
