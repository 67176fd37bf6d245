"""Apache/nginx access logs in the combined and common formats (the defaults of both servers), plus the
virtual-host variants that put the server name first: Apache's `vhost_combined` (`%v:%p %h %l %u …`), nginx
configs that log `$host $remote_addr - $remote_user …` and BunkerWeb's `$host $remote_addr - $request_id
$remote_user …`.

Request text is attacker-controlled: kept as logged (Apache's `\\xNN` escapes stay escaped), never evaluated.
The client address is read from its position only: the first field, or — when the line has one or two more
fields before the time than the standard format — the second, and then only when that second field is an
address and the third is the literal `-` ident those formats always write (a Host header or a user name the
client chose cannot move it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from store.parsers.common import MONTHS, ip_or_none, tz_from_offset

_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_TAIL = (r"\[(\d{1,2})/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)(?:\.\d+)? ([+-]\d{4})\] "
         + _QUOTED + r" (\d{3}|-) (\d+|-)(?: " + _QUOTED + r" " + _QUOTED + r")?(.*)")
_ACCESS = re.compile(r"(\S+) (\S+) (\S+) " + _TAIL, re.S)
# vhost client - user [time] …   and   vhost client - request_id user [time] …
_ACCESS_VHOST = re.compile(r"(\S+) (\S+) (-) (?:(\S+) )?(\S+) " + _TAIL, re.S)
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
        fields: dict[str, Any] = {}
        ev: dict[str, Any] = {"format": "access", "category": "web"}
        m = _ACCESS.match(text)
        if m is not None:
            client, ident, user, at = m[1], m[2], m[3], 4
        else:
            m = _ACCESS_VHOST.match(text)
            if m is None or ip_or_none(m[2]) is None:
                return None
            fields["vhost"] = m[1]
            if m[4] is not None:
                fields["request_id"] = m[4]
            client, ident, user, at = m[2], m[3], m[5], 6
        ip = ip_or_none(client)
        if ip is not None:
            ev["src_ip"] = ip
        else:
            fields["client"] = client
        if user != "-":
            ev["user"] = user
        if ident != "-":
            fields["ident"] = ident
        ev["ts"] = _timestamp(*m.group(at, at + 1, at + 2, at + 3, at + 4, at + 5, at + 6))
        request, status, size, ref, ua, extra = m.group(at + 7, at + 8, at + 9, at + 10, at + 11, at + 12)
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
        st = int(status) if status != "-" else None
        fields["status"] = st
        fields["bytes"] = int(size) if size != "-" and len(size) < 19 else None
        if ref is not None:
            fields["referer"] = None if ref == "-" else ref
            fields["user_agent"] = None if ua == "-" else ua
        if extra:
            fields["extra"] = extra.strip()
        ev["fields"] = fields
        if st is not None:
            ev["outcome"] = "failure" if st >= 400 else "success"
            ev["severity"] = 3 if st >= 500 else 4 if st >= 400 else 6
        ev["message"] = request
        return ev
