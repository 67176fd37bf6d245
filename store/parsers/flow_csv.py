"""Flow-probe CSV exports with a header line: one row per PDU with `srcIP;dstIP;srcPort;dstPort…` and, for IEC 61850
MMS, `MMS Type;MMS Service;Invoke Id;Domain Id;Item Id;Object Class` (the IPFIX MMS probe of Brno University of
Technology's ICS datasets).

The header line is the source's schema (a metadata event, like a Zeek header). Each row becomes one event with
src_ip = the client and dst_ip = the server of the association (the endpoint on the well-known ICS port, 102 for
MMS), whichever way the packet went; `fields.ot_direction` is the PDU's (request, response, unsolicited) and
`fields.ot_reversed` marks a request sent by the server or a response sent by the client — a role the association
never has in normal operation. `TimeStamp` is a time of day only: the event time is that time on the day the line
is received (the previous day when that would put it more than 12 hours ahead); `Relative Time` is kept.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from store.ot.protocols import ICS_PORTS, mms_op
from store.parsers.common import ip_or_none, port_or_none
from store.parsers.ot_record import OtRecord, clean, kv

_ALIASES = {
    "srcip": "src", "sourceip": "src", "sourceipv4address": "src", "saddr": "src",
    "dstip": "dst", "destinationip": "dst", "destinationipv4address": "dst", "daddr": "dst",
    "srcport": "sport", "sourceport": "sport", "sourcetransportport": "sport",
    "dstport": "dport", "destinationport": "dport", "destinationtransportport": "dport",
    "timestamp": "time", "time": "time", "relativetime": "rel", "iplen": "len",
    "mmstype": "mms_type", "mmsservice": "mms_service", "invokeid": "invoke", "domainid": "domain",
    "itemid": "item", "objectclass": "object_class",
}
_HEADER_HINTS = ("srcIP", "srcip", "src_ip", "sourceIP", "sourceIPv4Address")
_REQUESTS = frozenset({0, 5, 8, 11})
_RESPONSES = frozenset({1, 2, 6, 7, 9, 10, 12, 13})
_HALF_DAY = timedelta(hours=12)
_ONE_DAY = timedelta(days=1)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _int(v: str) -> int | None:
    v = v.strip()
    return int(v) if v.isdigit() and len(v) < 12 else None


class FlowCsvParser:
    """Keeps its source's header; claims nothing until it has seen one."""

    name = "flowcsv"

    def __init__(self) -> None:
        self._sep = ";"
        self._cols: list[str] | None = None

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if self._cols is None or (text[:1].isalpha() and any(h in text for h in _HEADER_HINTS)):
            if not any(h in text for h in _HEADER_HINTS):
                return None
            return self._header(text)
        values = text.split(self._sep)
        if len(values) != len(self._cols):
            return None
        row = {c: v for c, v in zip(self._cols, values, strict=True) if c}
        return _row_event(row, received_at)

    def _header(self, text: str) -> dict[str, Any] | None:
        for sep in (";", ",", "\t"):
            parts = text.split(sep)
            if len(parts) < 4:
                continue
            cols = [_ALIASES.get(_norm(p), "") for p in parts]
            if "src" in cols and "dst" in cols:
                self._sep, self._cols = sep, cols
                return {"format": "flowcsv", "service": "ipfix", "category": "metadata", "action": "log_header",
                        "message": text, "fields": {"columns": parts}}
        return None


def _when(text: str | None, received_at: datetime) -> datetime | None:
    if not text:
        return None
    try:
        hms, _, frac = text.strip().partition(".")
        h, m, s = (int(x) for x in hms.split(":"))
        micro = int(frac[:6].ljust(6, "0")) if frac.isdigit() else 0
        ts = received_at.replace(hour=h, minute=m, second=s, microsecond=micro)
    except (ValueError, TypeError):
        return None
    return ts - _ONE_DAY if ts - received_at > _HALF_DAY else ts


def _row_event(row: dict[str, str], received_at: datetime) -> dict[str, Any] | None:
    src, dst = ip_or_none(row.get("src", "").strip()), ip_or_none(row.get("dst", "").strip())
    if src is None or dst is None:
        return None
    sport, dport = port_or_none(row.get("sport", "").strip()), port_or_none(row.get("dport", "").strip())
    # The server is the endpoint on the ICS port: the association's client → server, whichever way this PDU went.
    server_side = dport in ICS_PORTS or sport not in ICS_PORTS
    client, cport, server, sport_srv = (src, sport, dst, dport) if server_side else (dst, dport, src, sport)
    rec: dict[str, Any] = {}
    ev: dict[str, Any] = {"format": "flowcsv", "service": "ipfix", "app": "mms" if "mms_type" in row else "flow"}
    ts = _when(row.get("time"), received_at)
    if ts is not None:
        ev["ts"] = ts
    rel = row.get("rel", "").strip()
    if rel:
        try:
            rec["rel_time"] = float(rel)
        except ValueError:
            pass
    rec["packet_src"], rec["packet_dst"] = src, dst
    length = _int(row.get("len", ""))
    if length is not None:
        rec["ip_len"] = length
    r = OtRecord(ev["app"], rec, ev, client, cport, server, sport_srv)
    if "mms_type" not in row:
        proto = ICS_PORTS.get(sport_srv or -1)
        if proto is None:
            return r.finish(f"flow {r.ends()}", "network", "connection")
        r.mark_ics(proto, "transaction")
        return r.finish(f"flow {r.ends()}", "ics", "connection")
    pdu, service = _int(row.get("mms_type", "")), _int(row.get("mms_service", ""))
    invoke = _int(row.get("invoke", ""))
    domain, item = row.get("domain", "").strip(), row.get("item", "").strip()
    op = mms_op(pdu, service, item)
    direction = "request" if pdu in _REQUESTS else "response" if pdu in _RESPONSES else "unsolicited"
    from_server = not server_side
    if (direction == "request" and from_server) or (direction == "response" and not from_server):
        rec["ot_reversed"] = True
    if pdu is not None:
        rec["mms_pdu"] = pdu
    if service is not None:
        rec["mms_service"] = service
    if invoke is not None:
        rec["ot_invoke_id"] = invoke
    if domain:
        rec["mms_domain"] = domain
    if item:
        rec["mms_item"] = item
        rec["ot_object"] = f"{domain}/{item}" if domain else item
    if row.get("object_class", "").strip():
        rec["mms_object_class"] = row["object_class"].strip()
    details = kv(domain=clean(domain, 60) or None, item=clean(item, 80) or None, invoke=invoke)
    if rec.get("ot_reversed"):
        details += f" (a {direction} sent by the {'server' if from_server else 'client'})"
    return r.ot("mms", op, direction, details)
