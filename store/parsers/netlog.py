"""Network services' own log files, read without a syslog header: Endlessh's stdout log (`ISO ACCEPT host=…`;
endlessh-go writes glog's `I0613 10:22:21.684962  1 client.go:58] ACCEPT host=…`),
BIND 9 channel files (`19-Oct-2022 05:34:02.425 client …`) and OpenVPN's log file (`2024-12-15 14:12:12 ADDR:PORT
…` or the classic `Sun Dec 15 14:12:12 2024 ADDR:PORT …`).

Each shape is claimed only when the service's reader recognises the message after the time stamp, so other
`timestamp text` logs are left to the parsers after this one. The meaning of every message is shared with the
syslog extractors (store/parsers/services/honeypot.py, dns.py, vpn.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.common import MONTHS, infer_year
from store.parsers.services.dns import BIND_TIME, bind_message
from store.parsers.services.firewall import FIREWALL, mikrotik_message, netfilter_message
from store.parsers.services.honeypot import endlessh_message
from store.parsers.services.normalised import iso_time
from store.parsers.services.remote_access import dropbear_message, samba_auth_message
from store.parsers.services.vpn import openvpn_message

_ISO = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) ")
_CLASSIC = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d:\d\d:\d\d) (\d{4}) ")
_GLOG = re.compile(r"[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? +\d{1,10} [\w.-]{1,64}:\d{1,6}\] ")
_RFC3164 = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) ")
# After the time: the sending device (address or name), then RouterOS topics or a UniFi rule tag.
_DEVICE = re.compile(r"([\w.:-]{1,255}) (?:\1 )?(?:((?:[a-z]{2,16},){1,6}[a-z]{2,16}) |(?=\[[\w-]{1,64}\] ))")
_PROXMOX = re.compile(r"\d{1,6} \d \S{1,64} (\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d:\d\d:\d\d) ([+-]\d{4}) ")
# Dropbear's messages as a bare file holds them (a container's stderr, a log without syslog header).
_DROPBEAR_BARE = ("Bad password attempt for '", "Bad PAM password attempt for '", "Login attempt for nonexistent user",
                  "Exit before auth from <", "Password auth succeeded for '", "Pubkey auth succeeded for '",
                  "Child connection from ")
_ENDLESSH_VERBS = ("ACCEPT host=", "CLOSE host=")


class NetServiceLogParser:
    """Endlessh, BIND 9 and OpenVPN log files."""

    name = "netlog"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        if text[0] in "BLEPC" and text.startswith(_DROPBEAR_BARE):
            return self._dropbear(text)
        if not text[0].isdigit() and text[0] not in "JFMASONDTWIE ":
            return None
        if text[0] in "A " and text.lstrip(" ").startswith("Auth: ["):
            return self._samba(text)
        m: re.Match[str] | None = None
        if text[0] in "IWEF" and text[1:2].isdigit():
            return self._glog(text, received_at)
        if text[0] in "JFMASOND":
            r = _RFC3164.match(text)
            month = MONTHS.get(r[1]) if r else None
            if r is not None and month is not None:
                rest = text[r.end():]
                if _DEVICE.match(rest) is None:  # most syslog lines: no year to infer
                    return None
                ts3164 = infer_year(month, int(r[2]), int(r[3]), int(r[4]), int(r[5]), received_at)
                return self._device(ts3164, rest)
        if text[0].isdigit():
            p = _PROXMOX.match(text)
            if p:
                month = MONTHS.get(p[2])
                ts = iso_time(f"{p[3]}-{month or 1:02d}-{p[1]} {p[4]}{p[5]}", received_at) if month else None
                body = text[p.end():]
                pve: dict[str, Any] = {"ts": ts, "message": body, "format": "pve-firewall", "app": "pve-firewall"}
                return pve if netfilter_message(body, pve) else None
            b = BIND_TIME.match(text)
            if b:
                return self._bind(b, text, received_at)
            m = _ISO.match(text)
            if m is None:
                return None
            ts, msg = iso_time(m[1], received_at), text[m.end():]
        else:
            c = _CLASSIC.match(text)
            month = MONTHS.get(c[1]) if c else None
            if c is None or month is None:
                return None
            ts = iso_time(f"{c[4]}-{month:02d}-{int(c[2]):02d} {c[3]}", received_at)
            msg = text[c.end():]
        ev: dict[str, Any] = {"ts": ts, "message": msg}
        if m is not None and (dev := self._device(ts, msg)) is not None:
            return dev
        if msg.startswith(_ENDLESSH_VERBS) and endlessh_message(msg, ev):
            ev.update(format="endlessh", app="endlessh")
            return ev
        if openvpn_message(msg, ev):
            ev.update(format="openvpn", app="openvpn")
            return ev
        return None

    def _device(self, ts: datetime | None, rest: str) -> dict[str, Any] | None:
        d = _DEVICE.match(rest)
        if d is None:
            return None
        msg = rest[d.end():]
        ev: dict[str, Any] = {"ts": ts, "host": d[1], "message": msg}
        if d[2]:
            ev.update(format="mikrotik", app="routeros", fields={"topics": d[2]})
            return ev if mikrotik_message(d[2], msg, ev) else None
        if not netfilter_message(msg, ev):
            return None
        ev.update(format="unifi", app="unifi", service="unifi", category=FIREWALL)
        return ev

    def _dropbear(self, text: str) -> dict[str, Any] | None:
        ev: dict[str, Any] = {"message": text.strip(), "format": "dropbear", "app": "dropbear"}
        return ev if dropbear_message(text.strip(), ev) else None

    def _samba(self, text: str) -> dict[str, Any] | None:
        ev: dict[str, Any] = {"message": text.strip(), "format": "samba", "app": "smbd"}
        return ev if samba_auth_message(text, ev) else None

    def _glog(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        g = _GLOG.match(text)
        msg = text[g.end():] if g else ""
        if g is None or not msg.startswith(_ENDLESSH_VERBS):
            return None
        micro = int((g[6] or "0").ljust(6, "0"))
        ts = infer_year(int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]), received_at, micro) \
            if 1 <= int(g[1]) <= 12 and 1 <= int(g[2]) <= 31 else None
        ev: dict[str, Any] = {"ts": ts, "message": msg}
        if not endlessh_message(msg, ev):
            return None
        ev.update(format="endlessh", app="endlessh-go")
        return ev

    def _bind(self, b: re.Match[str], text: str, received_at: datetime) -> dict[str, Any] | None:
        month = MONTHS.get(b[2])
        if month is None:
            return None
        frac = f".{b[7]}" if b[7] else ""
        msg = text[b.end():]
        ev: dict[str, Any] = {"ts": iso_time(f"{b[3]}-{month:02d}-{b[1]} {b[4]}:{b[5]}:{b[6]}{frac}", received_at),
                              "message": msg, "format": "bind", "app": "named"}
        if not bind_message(msg, ev):
            # BIND's other channel lines (start-up, zone loading, …) are still BIND's.
            ev.update(service="bind", category="dns")
        return ev
