"""Palo Alto Networks PAN-OS CSV log records (THREAT, TRAFFIC, …), bare or behind a syslog header:
`[<PRI>][TIME HOST ]1,2023/07/06 08:11:40,SERIAL,THREAT,vulnerability,…,SRC,DST,NATSRC,NATDST,RULE,…`.

Actions: ids_alert (a THREAT record of severity medium, high or critical: vulnerability exploit, spyware, virus,
flood, scan; category `intrusion_detection`; fields.threat is the signature name and id, fields.severity,
fields.threat_action what the firewall did), ids_event (threat records below medium), fw_drop / fw_accept (TRAFFIC
records: action deny/drop/reset-* vs allow, category `firewall`, with dst_ip and fields.dst_port).

Addresses: the source address column (8th) of the documented layout, read by a CSV reader that honours quotes
(the URL/file-name column is the client's text and is quoted; a comma inside it never shifts the columns).
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from typing import Any

from store.parsers.common import MONTHS, infer_year
from store.parsers.services.normalised import address, iso_time, mark

_KINDS = "THREAT|TRAFFIC|SYSTEM|CONFIG|GLOBALPROTECT|AUTHENTICATION|USERID|HIPMATCH|CORRELATION|DECRYPTION|TUNNEL"
_HEAD = re.compile(r"(?:<\d{1,3}>\d? ?)?(?:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:?\d\d)?)|"
                   r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d))? ?(?:([\w.:-]{1,255}) )?"
                   r"(?=\d{1,3},\d{4}/\d\d/\d\d \d\d:\d\d:\d\d,[\w-]{1,40},(?:" + _KINDS + r"),)")
_PAN_TIME = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d:\d\d:\d\d)\Z")
_SERIOUS = ("medium", "high", "critical")
_DROP = ("deny", "drop", "drop-icmp", "drop-all-packets", "reset-client", "reset-server", "reset-both", "block",
         "block-url", "block-ip", "sinkhole")


class PanOsParser:
    """PAN-OS CSV syslog records."""

    name = "panos"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or not (text[0].isdigit() or text[0] in "<JFMASOND"):
            return None
        h = _HEAD.match(text)
        if h is None:
            return None
        try:
            cols = next(csv.reader([text[h.end():]]))
        except (csv.Error, StopIteration):
            return None
        if len(cols) < 30:
            return None
        ts = None
        if h[1]:
            ts = iso_time(h[1], received_at)
        elif h[2] and MONTHS.get(h[2]):
            ts = infer_year(MONTHS[h[2]], int(h[3]), int(h[4]), int(h[5]), int(h[6]), received_at)
        if ts is None:
            t = _PAN_TIME.match(cols[6]) or _PAN_TIME.match(cols[1])
            ts = iso_time(f"{t[1]}-{t[2]}-{t[3]} {t[4]}", received_at) if t else None
        kind, sub = cols[3], cols[4]
        ev: dict[str, Any] = {"format": "panos", "app": "pan-os", "service": "panos", "ts": ts,
                              "host": h[7] or None, "message": text[h.end():][:2000],
                              "fields": {"log_type": kind, "subtype": sub, "serial": cols[2][:40],
                                         "rule": cols[11][:120] or None, "application": cols[14][:60] or None}}
        dst = address(cols[8])
        port = cols[25] if cols[25].isdigit() and len(cols[25]) <= 5 else None
        if kind == "THREAT" and len(cols) > 34:
            severity = cols[34].lower()
            if dst:
                ev["dst_ip"] = dst
            mark(ev, "ids_alert" if severity in _SERIOUS else "ids_event", category="intrusion_detection",
                 ip=cols[7], port=cols[24], dst_port=int(port) if port else None, threat=cols[32][:200] or None,
                 severity=severity[:20] or None, threat_action=cols[30][:40] or None, threat_category=cols[33][:60])
        elif kind == "TRAFFIC":
            act = cols[30].lower()
            verdict = "fw_drop" if act in _DROP else "fw_accept" if act == "allow" else None
            if dst:
                ev["dst_ip"] = dst
            mark(ev, verdict, category="firewall", outcome="failure" if verdict == "fw_drop" else None, ip=cols[7],
                 port=cols[24], dst_port=int(port) if port else None, protocol=cols[29][:10] or None)
        else:
            mark(ev, None, category="network")
        return ev
