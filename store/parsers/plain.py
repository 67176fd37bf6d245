"""Fallback for application logs: a timestamp anchored at the start of the line, then level and component.

Covers the common shapes (ISO 8601, `Mmm dd hh:mm:ss`, loghub HDFS `yymmdd hhmmss`, BGL and Thunderbird
records, Spark `yy/mm/dd`, Apache and nginx error logs, Android logcat). Timestamps are only ever taken
from the anchored prefix, never searched for inside the text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.common import (
    MONTHS,
    epoch_to_utc,
    infer_year,
    ip_or_none,
    level_severity,
    parse_iso,
    port_or_none,
    to_utc,
)
from store.parsers.syslog import SyslogParser

_LEVEL_WORDS = (
    r"TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|CRIT|CRITICAL|FATAL|ALERT|EMERG|PANIC"
    r"|Trace|Debug|Info|Notice|Warn|Warning|Error|Severe|Critical|Fatal"
)
# After the timestamp: optional separators, an optional level, an optional [thread], an optional component.
_TAIL = re.compile(
    r"[\s,\-|]*(?:(?P<pid>\d{1,10}) +)?(?:(?P<level>" + _LEVEL_WORDS + r")\b[\s:]*)?"
    r"(?:\[(?P<thread>[^\]]{0,200})\]\s*)?"
    r"(?:(?P<comp>[A-Za-z_][\w.$\-/]{0,200}(?:\[\d+\])?):\s+)?(?P<msg>.*)",
    re.S,
)
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)?")
_MMM = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2})(?: (\d{4}))? (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?= |$)")
_HDFS = re.compile(r"(\d\d)(\d\d)(\d\d) (\d\d)(\d\d)(\d\d) ")
_SPARK = re.compile(r"(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) ")
_NGINX_ERR = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[(\w+)\] (?:(\d+)#\d+: )?")
_APACHE_ERR = re.compile(
    r"\[(?:[A-Z][a-z]{2}) ([A-Z][a-z]{2}) (\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? (\d{4})\] "
    r"\[(?:([\w]*):)?(\w+)\] (?:\[pid (\d+)(?::tid \d+)?\] )?(?:\[client ([^\]\s]+?)(?::(\d+))?\] )?"
)
_BGL = re.compile(
    r"(\S+) (\d{9,10}) (\d{4})\.(\d\d)\.(\d\d) (\S+) (\d{4})-(\d\d)-(\d\d)-(\d\d)\.(\d\d)\.(\d\d)\.(\d{1,6}) "
    r"(\S+) (\w+) (\w+) (\w+) ?"
)
_THUNDERBIRD = re.compile(r"(\S+) (\d{9,10}) (\d{4})\.(\d\d)\.(\d\d) (\S+) (?=[A-Z][a-z]{2} {1,2}\d)")
_HEALTHAPP = re.compile(r"(\d{4})(\d\d)(\d\d)-(\d{1,2}):(\d{1,2}):(\d{1,2}):(\d{1,3})\|([^|]*)\|(\d+)\|")
_PROXIFIER = re.compile(r"\[(\d\d)\.(\d\d) (\d\d):(\d\d):(\d\d)\] (\S+)(?: \*\d+)? - ")
_ANDROID = re.compile(r"(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) +(\d+) +(\d+) ([VDIWEFA]) ([^:]*?): ")



def _frac(s: str | None) -> int:
    return int(s[:6].ljust(6, "0")) if s else 0


def _dt(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, received_at: datetime) -> datetime | None:
    try:
        return to_utc(datetime(y, mo, d, h, mi, s, us), received_at)
    except ValueError:
        return None


class PlainParser:
    """Lines with a recognisable leading timestamp; None for anything else (the chain stores it raw)."""

    name = "plain"
    # Never promoted to the front of a chain: it would shadow the specific parsers behind it.
    fallback = True

    def __init__(self) -> None:
        self._syslog = SyslogParser()

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        c = text[0]
        if c.isdigit():
            return self._digit(text, received_at)
        if c == "[":
            return self._apache_error(text, received_at)
        if c == "-" or c.isupper():
            if c.isupper():
                m = _MMM.match(text)
                if m:
                    month = MONTHS.get(m[1])
                    if month is not None:
                        h, mi, s = int(m[4]), int(m[5]), int(m[6])
                        if m[3]:
                            ts = _dt(int(m[3]), month, int(m[2]), h, mi, s, _frac(m[7]), received_at)
                        else:
                            ts = infer_year(month, int(m[2]), h, mi, s, received_at, _frac(m[7]))
                        return self._tail(text, m.end(), ts, "plain", received_at)
            return self._bgl(text, received_at)
        return None

    def _tail(self, text: str, pos: int, ts: datetime | None, fmt: str, received_at: datetime,
              ev: dict[str, Any] | None = None) -> dict[str, Any]:
        if ev is None:
            ev = {}
        ev["format"] = fmt
        ev["ts"] = ts
        m = _TAIL.match(text, pos)
        if m is None:  # the pattern can always match; kept for type-checkers
            ev["message"] = text[pos:].strip()
            return ev
        fields: dict[str, Any] = ev.get("fields") or {}
        level = m["level"]
        if level:
            sev = level_severity(level)
            if sev is not None and "severity" not in ev:
                ev["severity"] = sev
            fields["level"] = level
        if m["pid"] and "pid" not in ev:
            ev["pid"] = int(m["pid"])
        if m["thread"]:
            fields["thread"] = m["thread"]
        comp = m["comp"]
        msg = m["msg"]
        if comp and "app" not in ev:
            ev["app"] = comp
        ev["message"] = msg
        if fields:
            ev["fields"] = fields
        return ev

    def _digit(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        m = _ISO.match(text)
        if m:
            frac = _frac(m[7])
            ts = _dt(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), frac, received_at)
            if ts is not None and m[8]:
                ts = parse_iso(text[: m.end()].replace(",", "."), received_at) or ts
            return self._tail(text, m.end(), ts, "plain", received_at)
        m = _NGINX_ERR.match(text)
        if m:
            ts = _dt(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), 0, received_at)
            ev: dict[str, Any] = {"app": "nginx", "fields": {"level": m[7]}}
            sev = level_severity(m[7])
            if sev is not None:
                ev["severity"] = sev
            if m[8]:
                ev["pid"] = int(m[8])
            ev.update(format="nginx-error", ts=ts, message=text[m.end():])
            return ev
        m = _HDFS.match(text)
        if m:
            ts = _dt(2000 + int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), 0, received_at)
            if ts is not None:
                return self._tail(text, m.end(), ts, "plain", received_at)
        m = _SPARK.match(text)
        if m:
            ts = _dt(2000 + int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), 0, received_at)
            if ts is not None:
                return self._tail(text, m.end(), ts, "plain", received_at)
        m = _HEALTHAPP.match(text)
        if m:
            ts = _dt(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), int(m[7]) * 1000,
                     received_at)
            return {"format": "plain", "ts": ts, "app": m[8] or None, "pid": int(m[9]) if len(m[9]) < 19 else None,
                    "message": text[m.end():]}
        m = _ANDROID.match(text)
        if m:
            ts = infer_year(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), received_at,
                            int(m[6]) * 1000)
            ev = {"format": "android", "ts": ts, "pid": int(m[7]), "app": m[10].strip() or None,
                  "severity": level_severity(m[9]), "message": text[m.end():],
                  "fields": {"tid": int(m[8]), "level": m[9]}}
            return ev
        return None

    def _apache_error(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        m = _APACHE_ERR.match(text)
        if m is None:
            p = _PROXIFIER.match(text)
            if p is None:
                return None
            ts = infer_year(int(p[1]), int(p[2]), int(p[3]), int(p[4]), int(p[5]), received_at)
            return {"format": "plain", "ts": ts, "app": p[6], "message": text[p.end():]}
        month = MONTHS.get(m[1])
        ts = None
        if month is not None:
            ts = _dt(int(m[7]), month, int(m[2]), int(m[3]), int(m[4]), int(m[5]), _frac(m[6]), received_at)
        ev: dict[str, Any] = {"format": "apache-error", "ts": ts, "app": "apache", "category": "web",
                              "message": text[m.end():]}
        fields: dict[str, Any] = {"level": m[9]}
        if m[8]:
            fields["module"] = m[8]
        sev = level_severity(m[9])
        if sev is not None:
            ev["severity"] = sev
        if m[10]:
            ev["pid"] = int(m[10])
        if m[11]:
            ip = ip_or_none(m[11])
            if ip:
                ev["src_ip"] = ip
                port = port_or_none(m[12])
                if port is not None:
                    ev["src_port"] = port
        ev["fields"] = fields
        return ev

    def _bgl(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        m = _BGL.match(text)
        if m:
            ts = _dt(int(m[7]), int(m[8]), int(m[9]), int(m[10]), int(m[11]), int(m[12]), _frac(m[13]),
                     received_at)
            if ts is None:
                ts = epoch_to_utc(int(m[2]))
            sev = level_severity(m[17])
            ev: dict[str, Any] = {
                "format": "bgl", "ts": ts, "host": m[6], "app": m[16], "message": text[m.end():],
                "fields": {"label": m[1], "type": m[15], "level": m[17]},
            }
            if sev is not None:
                ev["severity"] = sev
            return ev
        m = _THUNDERBIRD.match(text)
        if m:
            inner = self._syslog.parse(text[m.end():], received_at)
            if inner is None:
                inner = {"message": text[m.end():]}
            # The record's epoch carries the year the syslog part lacks.
            ts = epoch_to_utc(int(m[2]))
            inner["ts"] = ts or inner.get("ts")
            inner["format"] = "thunderbird"
            fields = inner.get("fields") or {}
            fields.update(label=m[1], node=m[6])
            inner["fields"] = fields
            return inner
        return None

