"""FortiGate (FortiOS) key=value log records, bare, behind FortiOS's syslog `<PRI>` or a relay's header:
`date=2024-10-14 time=13:46:40 … type="event" subtype="vpn" action="ssl-login-fail" remip=… user="…"`.

Actions: login_failed (SSL-VPN or IPsec XAuth login failure, an administrator login failure; fields.reason is
FortiOS's reason, fields.invalid_user when it says the user is unknown), login (the matching successes),
fw_drop / fw_accept (traffic records: action deny/drop/block vs accept/close/…, with dst_ip and fields.dst_port,
category `firewall`), ids_alert (utm records of subtype ips/anomaly of severity medium or above, category
`intrusion_detection`; ids_event below that).

Addresses: only the key FortiOS writes the peer in for that record kind (`remip` for VPN logins, `srcip` for
admin logins and traffic). Values are read by a quote-aware tokenizer: a user name holding ` remip=…` stays
inside its quotes, and a key that occurs twice is dropped (ambiguous), so it names no address.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.services.normalised import address, iso_time, mark
from store.parsers.webapps.logfmt import tokenize

# `<PRI>` alone (FortiOS's own syslog), or a relay's RFC 3164 / ISO time and host before the record.
_HEAD = re.compile(r"(?:<\d{1,3}>)?(?:(?:[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[\d:.+Z-]{8,30}) "
                   r"[\w.:-]{1,255} )?(date=\d{4}-\d\d-\d\d time=\d\d:\d\d:\d\d )")
_FAIL = ("ssl-login-fail", "tunnel-down-fail", "login-fail", "auth-logon-fail")
_OK = ("ssl-login", "tunnel-up")
_DROP = ("deny", "drop", "block", "blocked", "dropped", "reset", "server-rst", "client-rst")
_PASS = ("accept", "close", "timeout", "start", "ip-conn", "pass", "allow", "passthrough")


class FortiGateParser:
    """FortiOS `date=… time=… logid=… type=…` records."""

    name = "fortigate"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or (text[0] not in "d<JFMASOND" and not text[0].isdigit()) or "date=" not in text[:300]:
            return None
        h = _HEAD.match(text)
        if h is None:
            return None
        kv = tokenize(text[h.start(1):].rstrip())
        if kv is None or "type" not in kv or "date" not in kv:
            return None
        tz = kv.get("tz", "")
        zone = tz if re.fullmatch(r"[+-]\d{4}", tz) else ""
        ev: dict[str, Any] = {"format": "fortigate", "app": "fortigate", "service": "fortinet",
                              "ts": iso_time(f"{kv['date']} {kv.get('time', '')}{zone}", received_at),
                              "host": (kv.get("devname") or "")[:255] or None,
                              "message": (kv.get("msg") or kv.get("logdesc") or "")[:2000]}
        self._meaning(kv, ev)
        fields = ev.setdefault("fields", {})
        for k in ("type", "subtype", "logid", "level", "logdesc", "vd"):
            if kv.get(k):
                fields.setdefault(k, kv[k][:200])
        return ev

    def _meaning(self, kv: dict[str, str], ev: dict[str, Any]) -> None:
        kind, sub, action = kv.get("type", ""), kv.get("subtype", ""), kv.get("action", "").lower()
        user = kv.get("user") or None
        user = None if user in ("N/A", "") else user
        reason = (kv.get("reason") or "")[:200] or None
        if kind == "event" and sub == "vpn":
            if action in _FAIL or (action.endswith("login") and kv.get("status") == "failure"):
                mark(ev, "login_failed", ip=kv.get("remip"), user=user, reason=reason, protocol="vpn",
                     invalid_user=True if reason and "unknown_user" in reason else None)
            elif action in _OK and kv.get("status", "success") == "success":
                mark(ev, "login", ip=kv.get("remip"), user=user, protocol="vpn")
            else:
                mark(ev, None, category="vpn", ip=kv.get("remip"), user=user, reason=reason)
        elif kind == "event" and sub == "system" and action == "login":
            status = kv.get("status", "")
            mark(ev, "login_failed" if status == "failed" else "login" if status == "success" else None,
                 ip=kv.get("srcip"), user=user, reason=reason, protocol=(kv.get("ui") or "")[:40] or None)
        elif kind == "traffic":
            verdict = "fw_drop" if action in _DROP else "fw_accept" if action in _PASS else None
            dst = kv.get("dstip")
            port = kv.get("dstport", "")
            mark(ev, verdict, category="firewall", outcome="failure" if verdict == "fw_drop" else None,
                 ip=kv.get("srcip"), port=kv.get("srcport"),
                 dst_port=int(port) if port.isdigit() and len(port) <= 5 else None,
                 protocol=(kv.get("service") or "")[:40] or None)
            if dst and "src_ip" in ev:
                d = address(dst)
                if d:
                    ev["dst_ip"] = d
        elif kind == "utm" and sub in ("ips", "anomaly"):
            serious = kv.get("severity", "").lower() in ("medium", "high", "critical")
            mark(ev, "ids_alert" if serious else "ids_event", category="intrusion_detection", ip=kv.get("srcip"),
                 signature=(kv.get("attack") or "")[:200] or None, severity=kv.get("severity"))
        else:
            mark(ev, None, category="network")
