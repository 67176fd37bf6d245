"""Magento 2 security events: the CrowdSec Magento extension writes them through Monolog
(`[time] crowdsec-events.LEVEL: {"type":"ADMIN_LOGIN_FAILED","ip":"…",…} []`); they become normalised events
(type ADMIN_LOGIN_FAILED → action login_failed, service magento). Other Monolog channels (Laravel, Symfony and
Magento's own logs) are left to the application parsers and the plain fallback. The address is the message's `ip`
key, which the extension fills from the connection; `x-forwarded-for-ip`, a header the client writes, is kept as
a field only.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from store.parsers.common import ip_or_none, level_severity, parse_iso

_LINE = re.compile(
    r"\[(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)\] ([A-Za-z][\w.-]{0,63})\."
    r"(DEBUG|INFO|NOTICE|WARNING|ERROR|CRITICAL|ALERT|EMERGENCY): ?(.*)$",
    re.S,
)
_MAGENTO_ACTIONS = {
    "ADMIN_LOGIN_FAILED": ("login_failed", "authentication", "failure"),
    "CUSTOMER_LOGIN_FAILED": ("login_failed", "authentication", "failure"),
    "ADMIN_LOGIN_SUCCESS": ("login", "authentication", "success"),
    "CUSTOMER_LOGIN_SUCCESS": ("login", "authentication", "success"),
}


class MonologParser:
    """Monolog's line format, `crowdsec-events` channel only."""

    name = "monolog"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if len(text) < 25 or text[0] != "[" or not text[1:5].isdigit() or "] crowdsec-events." not in text[:60]:
            return None
        m = _LINE.match(text)
        if m is None or m[2] != "crowdsec-events":
            return None
        ev: dict[str, Any] = {"format": "monolog", "ts": parse_iso(m[1].replace(" ", "T", 1), received_at),
                              "app": m[2], "message": m[4].strip()}
        sev = level_severity(m[3])
        if sev is not None:
            ev["severity"] = sev
        fields: dict[str, Any] = {"channel": m[2], "level": m[3]}
        ev["fields"] = fields
        self._crowdsec_event(m[4].strip(), ev, fields)
        return ev

    def _crowdsec_event(self, msg: str, ev: dict[str, Any], fields: dict[str, Any]) -> None:
        body = msg
        if body.endswith(" []"):
            body = body[:-3].rstrip()
        if not body.startswith("{") or len(body) > 8192:
            return
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError):
            return
        if not isinstance(obj, dict):
            return
        kind = obj.get("type")
        if not isinstance(kind, str):
            return
        fields["event_type"] = kind
        ev["service"] = "magento"
        ev["message"] = kind
        ip = obj.get("ip")
        if isinstance(ip, str) and ip_or_none(ip):
            ev["src_ip"] = ip
        xff = obj.get("x-forwarded-for-ip")
        if isinstance(xff, str) and xff:
            fields["forwarded_for"] = xff
        mapped = _MAGENTO_ACTIONS.get(kind)
        if mapped is not None:
            ev["action"], ev["category"], ev["outcome"] = mapped
        else:
            ev["action"] = kind.lower()[:40]
            ev["category"] = "web"
