"""Apache/nginx access logs in the combined and common formats (the defaults of both servers).

Request text is attacker-controlled: kept as logged (Apache's `\\xNN` escapes stay escaped), never evaluated.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from store.parsers.common import MONTHS, ip_or_none, tz_from_offset

_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_ACCESS = re.compile(
    r"(\S+) (\S+) (\S+) \[(\d{1,2})/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)(?:\.\d+)? ([+-]\d{4})\] "
    + _QUOTED + r" (\d{3}|-) (\d+|-)(?: " + _QUOTED + r" " + _QUOTED + r")?(.*)",
    re.S,
)
_TS_CACHE: dict[tuple[str, ...], datetime | None] = {}


def _timestamp(day: str, mon: str, year: str, hh: str, mm: str, ss: str, off: str) -> datetime | None:
    key = (day, mon, year, hh, mm, ss, off)
    ts = _TS_CACHE.get(key, False)
    if ts is not False:
        return ts  # type: ignore[return-value]
    month = MONTHS.get(mon)
    tz = tz_from_offset(off)
    if month is None or tz is None:
        ts = None
    else:
        try:
            ts = datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz).astimezone(UTC)
        except ValueError:
            ts = None
    if len(_TS_CACHE) > 4096:
        _TS_CACHE.clear()
    _TS_CACHE[key] = ts
    return ts


class AccessLogParser:
    """`host ident user [time] "request" status bytes ["referer" "user-agent"]`."""

    name = "access"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        if text[0] == '"' and text[-1] == '"' and len(text) > 2:
            # The scanner dataset wraps every line in one extra pair of quotes.
            text = text[1:-1]
        m = _ACCESS.match(text)
        if m is None:
            return None
        ev: dict[str, Any] = {"format": "access", "category": "web"}
        client = m[1]
        ip = ip_or_none(client)
        fields: dict[str, Any] = {}
        if ip is not None:
            ev["src_ip"] = ip
        else:
            fields["client"] = client
        user = m[3]
        if user != "-":
            ev["user"] = user
        if m[2] != "-":
            fields["ident"] = m[2]
        ts = _timestamp(m[4], m[5], m[6], m[7], m[8], m[9], m[10])
        ev["ts"] = ts
        request = m[11]
        method, sp, rest = request.partition(" ")
        if sp:
            path, sp2, protocol = rest.rpartition(" ")
            if not sp2 or not protocol.startswith("HTTP/"):
                path, protocol = rest, None
            fields["method"] = method
            fields["path"] = path
            fields["protocol"] = protocol
        else:
            # "-" (no request) or a raw TLS/binary probe the server logged escaped.
            fields["method"] = None
            fields["path"] = None
            fields["protocol"] = None
            fields["request"] = request
        status = m[12]
        st = int(status) if status != "-" else None
        fields["status"] = st
        size = m[13]
        fields["bytes"] = int(size) if size != "-" and len(size) < 19 else None
        ref = m[14]
        if ref is not None:
            fields["referer"] = None if ref == "-" else ref
            ua = m[15]
            fields["user_agent"] = None if ua == "-" else ua
        extra = m[16]
        if extra:
            fields["extra"] = extra.strip()
        ev["fields"] = fields
        if st is not None:
            ev["outcome"] = "failure" if st >= 400 else "success"
            ev["severity"] = 3 if st >= 500 else 4 if st >= 400 else 6
        ev["message"] = request
        return ev
