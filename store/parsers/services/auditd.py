"""Audit records forwarded to syslog by the audit dispatcher (`audispd: node=h type=USER_AUTH msg=audit(…): …`,
`audisp-syslog: type=…`): the same reader as bare audit.log lines (store.parsers.auditd), after the syslog header.
"""

from __future__ import annotations

from typing import Any

from store.parsers.auditd import parse_record
from store.parsers.services import extractor


@extractor("audispd", "audisp-syslog", "audisp", "audit", "auditd")
def audit_record(app: str, msg: str, ev: dict[str, Any]) -> bool:
    if not (msg.startswith("type=") or msg.startswith("node=")):
        return False
    syslog_ts = ev.get("ts")
    if not parse_record(msg, ev):
        return False
    if ev.get("ts") is None:
        ev["ts"] = syslog_ts
    return True
