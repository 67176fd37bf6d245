"""Windows event records as XML, one per line (`<Event xmlns=…><System>…<EventID>4625</EventID>…</System>
<EventData><Data Name="…">…</Data>…</EventData></Event>`, as wevtutil, Event Viewer copies — optionally led by
`- ` — and log shippers write them).

Security-log logons become the normalised authentication actions, so the generic brute-force, spraying and
success-after-failures rules count them like any other service's: 4625 login_failed (fields.invalid_user when
the status says the account does not exist), 4771 (Kerberos pre-authentication failed) login_failed, 4624 login
(network and remote-interactive logons that name an address). Other events keep their EventID in fields.event_id.

Addresses: only the `IpAddress` data item Windows fills from the connection (`-` or `::1` when local); the item
values are XML-escaped by the writer, so a user name can never close its element and plant another one, and a
record that repeats a data name names no address.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.services.normalised import iso_time, mark

_EVENT = re.compile(r"(?:- )?<Event xmlns=['\"]http://schemas\.microsoft\.com/win/2004/08/events/event['\"]>")
_EVENT_ID = re.compile(r"<EventID(?: Qualifiers=['\"]\d{0,10}['\"])?>(\d{1,6})</EventID>")
_TIME = re.compile(r"<TimeCreated SystemTime=['\"]([0-9T:.+Z-]{10,40})['\"]")
_COMPUTER = re.compile(r"<Computer>([^<]{1,255})</Computer>")
_PROVIDER = re.compile(r"<Provider Name=['\"]([^'\"<]{1,128})['\"]")
_DATA = re.compile(r"<Data Name=['\"]([A-Za-z]{1,64})['\"](?:>([^<]{0,4096})</Data>|\s*/>)")
_UNKNOWN_USER = ("0xc0000064", "0xC0000064")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}
_ENTITY = re.compile(r"&(?:lt|gt|quot|apos|amp);")


def _text(value: str) -> str:
    return _ENTITY.sub(lambda m: _ENTITIES[m[0]], value) if "&" in value else value


class WindowsEventXmlParser:
    """One Windows event's XML per line."""

    name = "winevent"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or text[0] not in "<-" or _EVENT.match(text) is None:
            return None
        eid = _EVENT_ID.search(text)
        if eid is None:
            return None
        data: dict[str, str] = {}
        dup: set[str] = set()
        for m in _DATA.finditer(text):
            if m[1] in data:
                dup.add(m[1])
            data[m[1]] = _text(m[2] or "")
        for k in dup:
            del data[k]
        t = _TIME.search(text)
        host = _COMPUTER.search(text)
        provider = _PROVIDER.search(text)
        ev: dict[str, Any] = {"format": "winevent", "ts": iso_time(t[1], received_at) if t else None,
                              "host": host[1] if host else None, "app": provider[1] if provider else "windows",
                              "service": "windows", "message": text[:4000]}
        code = int(eid[1])
        extra: dict[str, Any] = {"event_id": code, "logon_type": data.get("LogonType"), "status": data.get("Status"),
                 "sub_status": data.get("SubStatus"), "workstation": data.get("WorkstationName")}
        ip = data.get("IpAddress")
        ip = None if ip in (None, "-", "") else ip
        user = data.get("TargetUserName") or None
        user = None if user == "-" else user
        domain = data.get("TargetDomainName")
        if code == 4625:
            unknown = data.get("SubStatus") in _UNKNOWN_USER or data.get("Status") in _UNKNOWN_USER
            mark(ev, "login_failed", ip=ip, port=data.get("IpPort"), user=user, domain=domain,
                 invalid_user=True if unknown else None, protocol="windows", **extra)
        elif code == 4771:
            mark(ev, "login_failed", ip=ip, port=data.get("IpPort"), user=user, protocol="kerberos", **extra)
        elif code == 4624 and ip and ip not in ("::1", "127.0.0.1"):
            mark(ev, "login", ip=ip, port=data.get("IpPort"), user=user, domain=domain, protocol="windows", **extra)
        else:
            mark(ev, None, event_id=code)
        return ev
