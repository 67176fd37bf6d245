"""FTP servers' own log files: proftpd's SystemLog (ISO timestamp, `host proftpd[pid] …`), vsftpd's vsftpd.log
(`Mon Jun  8 12:08:44 2020 [pid 27245] …`) and SFTPGo's JSON log.

The meaning of each record is shared with the syslog extractors (store/parsers/services/ftp.py).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from store.parsers.common import MONTHS, to_utc
from store.parsers.services.ftp import FTP, proftpd_message, sftpgo_record, vsftpd_message
from store.parsers.services.normalised import iso_time

_PROFTPD = re.compile(r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d{3})?) (?P<host>\S{1,255}) "
                      r"proftpd\[(?P<pid>\d{1,10})\](?:: | )(?P<msg>.*)\Z", re.S)
_VSFTPD = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
                     r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d) (?P<year>\d{4}) \[pid (?P<pid>\d{1,10})\] (?P<msg>.*)\Z",
                     re.S)
_SFTPGO_KEYS = ('"sender":', '"level":')


def _vsftpd_time(m: re.Match[str], received_at: datetime) -> datetime | None:
    month = MONTHS.get(m["mon"])
    if month is None:
        return None
    try:
        return to_utc(datetime(int(m["year"]), month, int(m["day"]), int(m["hh"]), int(m["mi"]), int(m["ss"])),
                      received_at)
    except ValueError:
        return None


class FtpLogParser:
    """proftpd SystemLog, vsftpd.log and SFTPGo JSON lines."""

    name = "ftplog"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        c = text[0]
        if c == "{":
            return self._sftpgo(text, received_at) if all(k in text for k in _SFTPGO_KEYS) else None
        if c.isdigit():
            if " proftpd[" not in text[:300]:
                return None
            m = _PROFTPD.match(text)
            if not m:
                return None
            ev: dict[str, Any] = {"format": "proftpd", "ts": iso_time(m["ts"], received_at), "host": m["host"],
                                  "app": "proftpd", "service": "proftpd", "pid": int(m["pid"]),
                                  "message": m["msg"], "category": FTP}
            proftpd_message(m["msg"], ev)
            return ev
        if c.isupper() and "[pid " in text[:40]:
            v = _VSFTPD.match(text)
            if not v:
                return None
            ev = {"format": "vsftpd", "ts": _vsftpd_time(v, received_at), "app": "vsftpd", "service": "vsftpd",
                  "pid": int(v["pid"]), "message": v["msg"], "category": FTP}
            vsftpd_message(v["msg"], ev)
            return ev
        return None

    def _sftpgo(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if len(text) > 65536:
            return None
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        ev: dict[str, Any] = {"format": "sftpgo", "category": FTP}
        if not sftpgo_record(obj, ev):
            return None
        t = obj.get("time")
        ev["ts"] = iso_time(t, received_at) if isinstance(t, str) else None
        msg = obj.get("message")
        ev["message"] = msg if isinstance(msg, str) else f"{obj.get('sender')} {obj.get('error') or ''}".strip()
        f = ev.setdefault("fields", {})
        for k, v in obj.items():
            if k not in f and k not in ("time", "message") and isinstance(v, (str, int, float, bool)):
                f[k] = v
        return ev
