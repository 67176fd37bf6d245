"""Syslog lines as real senders and rsyslog files emit them: RFC 5424, RFC 3164 and its variants.

3164 "as emitted" means: RFC 3339 time in a 3164 header, no PRI (file lines), missing host, tag without colon,
double spaces, space-padded days. The payload then goes to the auth or CEF/LEEF extractors. This is the
hottest parser (syslog-over-file is the most common input), so it is one regex and a few branches.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.auth import extract_auth, wants_auth
from store.parsers.cefleef import parse_payload
from store.parsers.common import MONTHS, infer_year, parse_iso

_BSD = re.compile(
    r"(?:<(\d{1,3})>)?"
    r"(?:([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?"
    r"|(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?))"
    r" +(?:([^\s\[\]]*[^\s:\[\]]) +)?"  # host: optional, never ends in ':' (then it is the tag)
    r"([^\s\[:]{1,128})(?:\[([^\]\s]{0,128})\])?(:)? ?(.*)",
    re.S,
)
_PRI = re.compile(r"<(\d{1,3})>")
_R5424 = re.compile(r"<(\d{1,3})>1 (\S{1,64}) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) ")
_SD_ELEMENT = re.compile(r'\[([^\s\]="]{1,64})((?: +[^\s\]="]{1,32}="(?:[^"\\]|\\.)*")*) *\]', re.S)
_SD_PARAM = re.compile(r'([^\s\]="]{1,32})="((?:[^"\\]|\\.)*)"', re.S)
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')


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
    """RFC 5424 and RFC 3164-as-emitted, with or without PRI; auth and CEF/LEEF payloads extracted."""

    name = "syslog"

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
        pri, mon, colon = m[1], m[2], m[12]
        if pri is None and colon is None and m[11] is None:
            # A file line without PRI must look like "host tag:"/"tag[pid]"; otherwise it is plain text.
            return None
        ev: dict[str, Any] = {"format": "rfc3164"}
        if pri is not None and not _pri(ev, pri):
            return self._pri_only(text, received_at)
        if mon is not None:
            month = MONTHS.get(mon)
            if month is None:
                return None if pri is None else self._pri_only(text, received_at)
            frac = m[7]
            ev["ts"] = infer_year(month, int(m[3]), int(m[4]), int(m[5]), int(m[6]), received_at,
                                  int(frac.ljust(6, "0")) if frac else 0)
        else:
            ev["ts"] = parse_iso(m[8], received_at)
        host = m[9]
        if host is not None:
            ev["host"] = host
        app = m[10]
        ev["app"] = app
        pid = m[11]
        if pid:
            if pid.isdigit() and len(pid) < 19:
                ev["pid"] = int(pid)
            else:
                ev["fields"] = {"procid": pid}
        msg = m[13]
        if msg and msg[0] == " ":
            msg = msg.lstrip(" ")
        ev["message"] = msg
        if app == "CEF" or app == "LEEF":
            if colon and parse_payload(app + ":" + msg, ev, received_at):
                ev["app"] = None
            return ev
        if wants_auth(app, msg):
            extract_auth(app, msg, ev)
        elif msg.startswith("CEF:") or msg.startswith("LEEF:"):
            parse_payload(msg, ev, received_at)
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
        problems = []
        if ts != "-":
            t = parse_iso(ts, received_at)
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
        return ev


MONTHS_FIRST = frozenset(k[0] for k in MONTHS)
