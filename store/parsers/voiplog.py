"""VoIP servers' own log files: Asterisk's `messages`/`full`/`security` logs (`[Dec 21 12:57:01] NOTICE[123]…`,
`[2021-12-21 12:57:01.123] SECURITY[77]…`) and FreeSWITCH's freeswitch.log (`2023-03-06 15:13:23.504993 96.80%
[WARNING] sofia_reg.c:3223 …`, optionally led by a call UUID).

The meaning of each record is shared with the syslog extractors (store/parsers/services/voip.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.common import MONTHS, infer_year
from store.parsers.services.normalised import iso_time
from store.parsers.services.voip import VOIP, asterisk_message, freeswitch_message

_ASTERISK = re.compile(
    r"\[(?:(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)|(?P<iso>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    r"(?:\.\d{1,6})?))\] (?P<level>[A-Z]{2,10})\[(?P<pid>\d{1,10})\](?:\[(?P<callid>[^\]]{0,60})\])?:? (?P<msg>.*)\Z",
    re.S)
_FREESWITCH = re.compile(
    r"(?:(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) )?(?P<ts>\d{4}-\d\d-\d\d "
    r"\d\d:\d\d:\d\d(?:\.\d{1,6})?)(?: (?P<cpu>\d{1,3}\.\d\d)%)? \[(?P<level>[A-Z]{2,10})\] (?P<msg>.*)\Z", re.S)
_SOURCE = re.compile(r"[\w.-]{1,60}\.(?:c|cpp):\d{1,6} ")


class VoipLogParser:
    """Asterisk log files and FreeSWITCH's freeswitch.log."""

    name = "voiplog"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        c = text[0]
        if c == "[":
            m = _ASTERISK.match(text)
            return self._asterisk(m, received_at) if m else None
        if c.isdigit() or c in "abcdef":
            f = _FREESWITCH.match(text)
            # FreeSWITCH names its source file after the level; other "ts [LEVEL] text" logs are not claimed.
            if f and (f["cpu"] or f["uuid"] or _SOURCE.match(f["msg"])):
                return self._freeswitch(f, received_at)
        return None

    def _asterisk(self, m: re.Match[str], received_at: datetime) -> dict[str, Any]:
        if m["iso"]:
            ts = iso_time(m["iso"], received_at)
        else:
            month = MONTHS.get(m["mon"] or "")
            hh, mi, ss = (int(x) for x in m["hms"].split(":"))
            ts = infer_year(month, int(m["day"]), hh, mi, ss, received_at) if month else None
        ev: dict[str, Any] = {"format": "asterisk", "ts": ts, "app": "asterisk", "service": "asterisk",
                              "category": VOIP, "pid": int(m["pid"]), "message": m["msg"],
                              "fields": {"level": m["level"], "call_id": m["callid"] or None}}
        asterisk_message(m["msg"], ev)
        return ev

    def _freeswitch(self, m: re.Match[str], received_at: datetime) -> dict[str, Any] | None:
        msg = m["msg"]
        ev: dict[str, Any] = {"format": "freeswitch", "ts": iso_time(m["ts"], received_at), "app": "freeswitch",
                              "service": "freeswitch", "category": VOIP, "message": msg,
                              "fields": {"level": m["level"], "call_uuid": m["uuid"], "cpu_idle": m["cpu"]}}
        freeswitch_message(msg, ev)
        return ev
