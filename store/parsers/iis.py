"""Microsoft IIS access logs (W3C extended format).

The columns are whatever the last `#Fields:` directive of the file named; a file read from its middle uses IIS's
default set (date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer)
sc-status sc-substatus sc-win32-status time-taken). IIS writes one space between columns and encodes spaces inside
values (`+` in the agent, %20 in the URI), so a value the client sent cannot shift the columns; a line whose
column count differs from the directive, or whose method, status or client address is not one, is not IIS.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.common import ip_or_none, parse_iso, port_or_none
from store.parsers.webcommon import HTTP_METHODS, int_or_none, set_status

_DEFAULT = ["date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port", "cs-username", "c-ip",
            "cs(User-Agent)", "cs(Referer)", "sc-status", "sc-substatus", "sc-win32-status", "time-taken"]
_HEAD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
_NEEDED = ("date", "time", "cs-method", "cs-uri-stem", "c-ip", "sc-status")


def _dash(v: str | None) -> str | None:
    return None if v in (None, "-", "") else v


class IisParser:
    """W3C extended lines; remembers the file's `#Fields:` directive (one parser instance per source)."""

    name = "iis"

    def __init__(self) -> None:
        self._fields: list[str] = _DEFAULT

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        if text[0] == "#":
            if text.startswith("#Fields: "):
                names = text[len("#Fields: "):].split()
                if all(n in names for n in _NEEDED) and len(names) <= 64:
                    self._fields = names
                    return {"format": "iis", "app": "iis", "service": "iis", "message": text}
            if text.startswith(("#Software: Microsoft Internet Information Services", "#Version: 1.0", "#Date: ")):
                return {"format": "iis", "app": "iis", "service": "iis", "message": text}
            return None
        if _HEAD.match(text) is None:
            return None
        values = text.split(" ")
        if len(values) != len(self._fields):
            return None
        row = dict(zip(self._fields, values, strict=True))
        method, status, client = row.get("cs-method"), row.get("sc-status"), row.get("c-ip")
        if method not in HTTP_METHODS or status is None or not (status.isdigit() and len(status) == 3):
            return None
        ip = ip_or_none(client)
        if ip is None:
            return None
        ev: dict[str, Any] = {"format": "iis", "app": "iis", "service": "iis", "category": "web", "src_ip": ip,
                              "ts": parse_iso(f"{row['date']}T{row['time']}+00:00", received_at)}
        query = _dash(row.get("cs-uri-query"))
        path = row["cs-uri-stem"] + ("?" + query if query else "")
        st = int(status)
        ua = _dash(row.get("cs(User-Agent)"))
        fields: dict[str, Any] = {
            "method": method, "path": path, "protocol": _dash(row.get("cs-version")), "status": st,
            "bytes": int_or_none(row.get("sc-bytes")), "user_agent": ua.replace("+", " ") if ua else None,
            "referer": _dash(row.get("cs(Referer)")), "vhost": _dash(row.get("cs-host")) or _dash(row.get("s-ip")),
        }
        port = port_or_none(row.get("s-port"))
        if port is not None:
            fields["dst_port"] = port
        sub = row.get("sc-substatus")
        if sub and sub.isdigit():
            fields["substatus"] = int(sub)
        user = _dash(row.get("cs-username"))
        if user:
            ev["user"] = user
        ev["fields"] = fields
        set_status(ev, st)
        ev["message"] = " ".join(x for x in (method, path, fields["protocol"]) if x)
        return ev
