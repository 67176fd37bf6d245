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
from store.parsers.services.honeypot import endlessh_message
from store.parsers.services.normalised import iso_time
from store.parsers.services.vpn import openvpn_message

_ISO = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) ")
_CLASSIC = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d:\d\d:\d\d) (\d{4}) ")
_GLOG = re.compile(r"[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? +\d{1,10} [\w.-]{1,64}:\d{1,6}\] ")
_ENDLESSH_VERBS = ("ACCEPT host=", "CLOSE host=")


class NetServiceLogParser:
    """Endlessh, BIND 9 and OpenVPN log files."""

    name = "netlog"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or not text[0].isdigit() and text[0] not in "MTWFSIE":
            return None
        if text[0] in "IWEF" and text[1:2].isdigit():
            return self._glog(text, received_at)
        if text[0].isdigit():
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
        if msg.startswith(_ENDLESSH_VERBS) and endlessh_message(msg, ev):
            ev.update(format="endlessh", app="endlessh")
            return ev
        if openvpn_message(msg, ev):
            ev.update(format="openvpn", app="openvpn")
            return ev
        return None

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
