"""One industrial record becoming an event, the same way for every sensor (Zeek, Suricata EVE, MMS flow exports):
the normalised columns, the `ot_*` fields the rules and the asset inventory read, and a message that starts with
the protocol and the function so an alert's "why" names what was done."""

from __future__ import annotations

import re
from typing import Any

from store.ot.protocols import Op, is_public
from store.parsers.common import ip_or_none

PROTO_NAMES = {"modbus": "Modbus", "dnp3": "DNP3", "s7comm": "S7comm", "s7comm_plus": "S7comm-plus",
               "cip": "CIP", "enip": "EtherNet/IP", "bacnet": "BACnet", "opcua": "OPC UA", "mms": "MMS",
               "cotp": "COTP", "iec104": "IEC 104"}
_CTRL = re.compile(r"[\x00-\x1f\x7f]")


def clean(value: Any, limit: int = 80) -> str:
    """A wire value for a message: control characters replaced, length capped (the text is the sender's)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text[:limit]
    return _CTRL.sub("?", text)[:limit]


def kv(**pairs: Any) -> str:
    return " ".join(f"{k} {clean(v, 60)}" for k, v in pairs.items() if v not in (None, "", [], "-"))


class OtRecord:
    """An event under construction: `ev` (columns), `rec` (what goes to `fields`), the two ends of the
    conversation (client → server), and `path` (the log or record type the alerts group by)."""

    __slots__ = ("ev", "rec", "path", "src", "dst", "sport", "dport")

    def __init__(self, path: str, rec: dict[str, Any], ev: dict[str, Any], src: str | None, sport: int | None,
                 dst: str | None, dport: int | None) -> None:
        self.path = path
        self.rec = rec
        self.ev = ev
        self.src, self.sport, self.dst, self.dport = ip_or_none(src), sport, ip_or_none(dst), dport

    def addresses(self, src: str | None, dst: str | None) -> None:
        self.src, self.dst = ip_or_none(src), ip_or_none(dst)

    def ends(self) -> str:
        a = f"{self.src or '?'}" + (f":{self.sport}" if self.sport is not None else "")
        b = f"{self.dst or '?'}" + (f":{self.dport}" if self.dport is not None else "")
        return f"{a} → {b}"

    def finish(self, message: str, category: str | None = None, action: str | None = None,
               outcome: str | None = None) -> dict[str, Any]:
        ev, rec = self.ev, self.rec
        if self.src:
            ev["src_ip"] = self.src
        if self.sport is not None:
            ev["src_port"] = self.sport
        if self.dst:
            ev["dst_ip"] = self.dst
        if self.dport is not None:
            rec["dst_port"] = self.dport
        if category:
            ev["category"] = category
        if action:
            ev["action"] = action
        if outcome:
            ev["outcome"] = outcome
        ev["message"] = message
        ev["fields"] = rec
        return ev

    def mark_ics(self, proto: str, direction: str) -> None:
        rec = self.rec
        rec["ot_protocol"] = proto
        rec["ot_direction"] = direction
        rec["ot_link"] = f"{self.path} {self.src or '?'}→{self.dst or '?'}"
        public = next((a for a in (self.src, self.dst) if a and is_public(a)), None)
        if public:
            rec["public_peer"] = public

    def ot(self, proto: str, op: Op | None, direction: str, details: str = "", *, action: str | None = None,
           outcome: str | None = None, meaning: str | None = None) -> dict[str, Any]:
        """Finish an industrial record: protocol, function, direction, link, action, public peer, message."""
        self.mark_ics(proto, direction)
        rec = self.rec
        if op is not None:
            rec["ot_function"] = op.name
            if op.code is not None:
                rec["ot_function_code"] = op.code
        if action is None:
            if op is None:
                action = "ot_response" if direction == "response" else "ot_other"
            else:
                action = "ot_response" if direction == "response" else op.action
        name = PROTO_NAMES.get(proto, proto)
        fn = clean(op.name) if op is not None else "message"
        code = ""
        if op is not None and op.code is not None and str(op.code) not in fn:
            if proto in ("modbus", "dnp3"):
                code = f" (FC {op.code})"
            elif proto in ("s7comm", "cip", "enip"):
                code = f" (0x{op.code:02x})"
        what = meaning or (op.meaning if op is not None else "")
        head = f"{name} {fn}{code}" + (f" {direction}" if direction in ("request", "response") else "")
        text = head + (f": {what}" if what and (direction != "response" or meaning) else "")
        if details:
            text += f"; {details}"
        return self.finish(f"{text}; {self.ends()}", "ics", action, outcome)
