"""Syslog lines as real senders and rsyslog files emit them: RFC 5424, RFC 3164 and its variants.

3164 "as emitted" means: RFC 3339 time in a 3164 header, no PRI (file lines), missing host, tag without colon,
double spaces, space-padded days. The payload then goes to the auth or CEF/LEEF extractors. This is the
hottest parser (syslog-over-file is the most common input), so it is one regex and a few branches.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from store.parsers.auth import extract_auth, wants_auth
from store.parsers.cefleef import parse_payload
from store.parsers.common import MONTHS, infer_year_with_margin, parse_iso
from store.parsers.services import extract_service

_BSD = re.compile(
    r"(?:<(\d{1,3})>)?"
    r"(?:(([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?)"
    r"|(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?))"
    r" +(?:([^\s\[\]]*[^\s:\[\]]) +)?"  # host: optional, never ends in ':' (then it is the tag)
    r"([^\s\[:]{1,128})(?:\[([^\]\s]{0,128})\])?(:)? ?(.*)",
    re.S,
)
# File lines whose tag contains spaces ("Microsoft Word[14463]:", "syslogd 1.4.1:"), tried from the tag on.
_SPACED_TAG = re.compile(r"([^\[:]{1,64}?)(?:\[(\d{1,10})\])?: ?(.*)", re.S)
_PRI = re.compile(r"<(\d{1,3})>")
_R5424 = re.compile(r"<(\d{1,3})>1 (\S{1,64}) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) ")
_SD_ELEMENT = re.compile(r'\[([^\s\]="]{1,64})((?: +[^\s\]="]{1,32}="(?:[^"\\]|\\.)*")*) *\]', re.S)
_SD_PARAM = re.compile(r'([^\s\]="]{1,32})="((?:[^"\\]|\\.)*)"', re.S)
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')
_ONE_HOUR = timedelta(hours=1)
_MISSING = object()


def _pri(ev: dict[str, Any], pri: str) -> bool:
    n = int(pri)
    if n > 191:
        return False
    ev["facility"] = n >> 3
    ev["severity"] = n & 7
    return True


def parse_structured_data(sd: str) -> tuple[dict[str, dict[str, str]], str] | None:
    """`[id k="v"]…` at the start of `sd` → ({id: {k: v}}, rest after the SD); None if malformed."""
    out: dict[str, dict[str, str]] = {}
    pos = 0
    n = len(sd)
    while pos < n and sd[pos] == "[":
        m = _SD_ELEMENT.match(sd, pos)
        if m is None:
            return None
        params: dict[str, str] = {}
        for pm in _SD_PARAM.finditer(m[2]):
            v = pm[2]
            params[pm[1]] = _SD_UNESCAPE.sub(r"\1", v) if "\\" in v else v
        out[m[1]] = params
        pos = m.end()
    return out, sd[pos:]


class SyslogParser:
    """RFC 5424 and RFC 3164-as-emitted, with or without PRI; auth and CEF/LEEF payloads extracted.

    Keeps a small cache of timestamp text → datetime (a file has many lines per second). Year inference
    depends on `received_at`, so the cache is only valid within one hour of receive time and is only
    filled when the inferred year cannot change within that hour. One instance per chain (not shared
    between threads).
    """

    name = "syslog"

    def __init__(self) -> None:
        self._ra: datetime | None = None
        self._ra_key: tuple[object, ...] = ()
        self._ts_cache: dict[str, datetime | None] = {}

    def _timestamp(self, received_at: datetime, bsd: str | None, mon: str | None, day: str, hh: str, mi: str,
                   ss: str, frac: str | None, iso: str | None) -> datetime | None:
        if received_at is not self._ra:
            self._ra = received_at
            key = (received_at.year, received_at.month, received_at.day, received_at.hour, received_at.tzinfo)
            if key != self._ra_key:
                self._ra_key = key
                self._ts_cache.clear()
        if iso is not None:
            ts = self._ts_cache.get(iso, _MISSING)
            if ts is _MISSING:
                ts = parse_iso(iso, received_at)
                if len(self._ts_cache) < 4096:
                    self._ts_cache[iso] = ts
            return ts  # type: ignore[return-value]
        ts = self._ts_cache.get(bsd, _MISSING)  # type: ignore[arg-type]
        if ts is not _MISSING:
            return ts  # type: ignore[return-value]
        month = MONTHS.get(mon) if mon else None
        if month is None:
            return None
        ts, margin = infer_year_with_margin(month, int(day), int(hh), int(mi), int(ss), received_at,
                                            int(frac.ljust(6, "0")) if frac else 0)
        # Cache only when the year cannot flip for another receive time in the same hour.
        if margin > _ONE_HOUR and len(self._ts_cache) < 4096:
            self._ts_cache[bsd] = ts  # type: ignore[index]
        return ts

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        c = text[0]
        if c == "<":
            m5 = _R5424.match(text)
            if m5 is not None:
                return self._rfc5424(text, m5, received_at)
        elif not (c.isdigit() or c in MONTHS_FIRST):
            return None
        m = _BSD.match(text)
        if m is None:
            if c == "<":
                return self._pri_only(text, received_at)
            return None
        pri, bsd, mon, day, hh, mi, ss, frac, iso, host, app, pid, colon, msg = m.groups()
        if pri is None and colon is None and pid is None:
            # A file line without PRI must look like "host tag:"/"tag[pid]"; otherwise it is plain text.
            mt = _SPACED_TAG.match(text, m.start(11))
            if mt is None:
                return None
            app, pid, msg = mt[1], mt[2], mt[3]
        ev: dict[str, Any] = {"format": "rfc3164"}
        if pri is not None and not _pri(ev, pri):
            return self._pri_only(text, received_at)
        if mon is not None and mon not in MONTHS:
            return None if pri is None else self._pri_only(text, received_at)
        ev["ts"] = self._timestamp(received_at, bsd, mon, day, hh, mi, ss, frac, iso)
        if host is not None:
            ev["host"] = host
        ev["app"] = app
        if pid:
            if pid.isdigit() and len(pid) < 19:
                ev["pid"] = int(pid)
            else:
                ev["fields"] = {"procid": pid}
        if msg and msg[0] == " ":
            msg = msg.lstrip(" ")
        ev["message"] = msg
        if (app == "CEF" or app == "LEEF") and colon:
            # "host CEF:0|…" reads as a tag "CEF"; the payload is the tag plus the message.
            payload = app + ":" + msg
            if parse_payload(payload, ev, received_at):
                ev["app"] = None
            else:
                ev["message"] = payload
            return ev
        if wants_auth(app, msg):
            extract_auth(app, msg, ev)
        elif msg.startswith("CEF:") or msg.startswith("LEEF:"):
            parse_payload(msg, ev, received_at)
        else:
            extract_service(app, msg, ev)
        return ev

    def _pri_only(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        # RFC 3164 §4.3.3: a PRI without a recognisable header; everything after PRI is the message.
        m = _PRI.match(text)
        if m is None:
            return None
        ev: dict[str, Any] = {"format": "rfc3164"}
        if not _pri(ev, m[1]):
            return None
        msg = text[m.end():]
        ev["message"] = msg
        if msg.startswith("CEF:") or msg.startswith("LEEF:"):
            parse_payload(msg, ev, received_at)
        return ev

    def _rfc5424(self, text: str, m: re.Match[str], received_at: datetime) -> dict[str, Any] | None:
        ev: dict[str, Any] = {"format": "rfc5424"}
        if not _pri(ev, m[1]):
            return None
        ts, host, app, procid, msgid = m[2], m[3], m[4], m[5], m[6]
        problems: list[str] = []
        if ts != "-":
            t = self._timestamp(received_at, None, None, "", "", "", "", None, ts)
            if t is None:
                problems.append(f"bad RFC 5424 timestamp {ts[:40]!r}")
            ev["ts"] = t
        if host != "-":
            ev["host"] = host
        if app != "-":
            ev["app"] = app
        fields: dict[str, Any] = {}
        if procid != "-":
            if procid.isdigit() and len(procid) < 19:
                ev["pid"] = int(procid)
            else:
                fields["procid"] = procid
        if msgid != "-":
            fields["msgid"] = msgid
        rest = text[m.end():]
        if rest.startswith("-"):
            msg = rest[1:]
        elif rest.startswith("["):
            parsed = parse_structured_data(rest)
            if parsed is None:
                problems.append("malformed RFC 5424 structured data")
                msg = rest
            else:
                fields["sd"], msg = parsed
        else:
            problems.append("RFC 5424 structured data missing")
            msg = rest
        if msg.startswith(" "):
            msg = msg.lstrip(" ")
        if msg.startswith("\ufeff"):
            msg = msg[1:]
        ev["message"] = msg
        if fields:
            ev["fields"] = fields
        if problems:
            ev["parse_error"] = "; ".join(problems)
        if app != "-" and wants_auth(app, msg):
            extract_auth(app, msg, ev)
        elif msg.startswith("CEF:") or msg.startswith("LEEF:"):
            parse_payload(msg, ev, received_at)
        elif app != "-":
            extract_service(app, msg, ev)
        return ev


MONTHS_FIRST = frozenset(k[0] for k in MONTHS)
