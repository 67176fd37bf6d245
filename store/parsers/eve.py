"""Suricata EVE JSON: alerts, flows, anomalies, the industrial app-layer records (dnp3, modbus, enip) and the
common ones (dns, http, tls, …).

`service` is suricata and `app` the record's `event_type` (Sigma `product: suricata, service: <event_type>`).
src_ip/src_port and dst_ip + `fields.dst_port` are the record's `src_ip`/`dest_ip` — for app-layer records
Suricata writes the flow's direction (client → server) on requests and replies alike. Industrial records get the
same `ot_*` fields and `action` vocabulary as Zeek's (store.ot.protocols), so one rule covers both sensors.
Alerts keep their signature, id and severity flat in `fields` (`signature`, `signature_id`, `alert_severity`,
`alert_category`); an alert about an industrial protocol (its app_proto, port or signature) is category ics.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from store.ot.protocols import ICS_PORTS, ICS_SERVICES, Op, cip_op, dnp3_op, enip_op, modbus_op
from store.parsers.common import parse_iso, port_or_none
from store.parsers.ot_record import OtRecord, clean, kv

# Suricata's event types (a record naming one of these, with its payload or the EVE header keys, is EVE).
EVE_TYPES = frozenset({
    "alert", "anomaly", "flow", "netflow", "dns", "http", "http2", "tls", "fileinfo", "smtp", "ssh", "stats",
    "drop", "dnp3", "modbus", "enip", "smb", "nfs", "ftp", "ftp_data", "tftp", "ikev2", "krb5", "dhcp", "snmp",
    "sip", "rfb", "mqtt", "rdp", "quic", "pgsql", "websocket", "ldap", "arp", "dcerpc", "frame", "bittorrent_dht",
    "pop3", "imap", "doh2", "mdns", "llmnr",
})
_HEADER_KEYS = ("src_ip", "dest_ip", "flow_id", "pcap_cnt", "in_iface", "app_proto")
_ICS_WORDS = ("modbus", "dnp3", "enip", "cip", "s7", "bacnet", "iec104", "iec-104", "opc", "scada", "plc")


def is_eve(obj: dict[str, Any]) -> bool:
    et = obj.get("event_type")
    if isinstance(et, str):
        return et in EVE_TYPES and (isinstance(obj.get(et), dict) or any(k in obj for k in _HEADER_KEYS))
    alert = obj.get("alert")
    return et is None and isinstance(alert, dict) and ("signature_id" in alert or "signature" in alert)


class EveParser:
    """One EVE record per line (it must come before the generic JSON parser)."""

    name = "suricata"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text.startswith("{") or ('"event_type"' not in text and '"signature_id"' not in text):
            return None
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict) or not is_eve(obj):
            return None
        return eve_event(obj, received_at)


def _obj(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _d(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def eve_event(obj: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    """The event for one EVE record (also used by the generic JSON parser when a `.json` file is hinted)."""
    rec = dict(obj)
    et = rec.pop("event_type", None)
    if not isinstance(et, str):
        et = "alert"
    ev: dict[str, Any] = {"format": "suricata", "service": "suricata", "app": et}
    ts = rec.pop("timestamp", None)
    if isinstance(ts, str):
        when = parse_iso(ts[:40], received_at)
        if when is not None:
            ev["ts"] = when
    src, dst = rec.pop("src_ip", None), rec.pop("dest_ip", None)
    r = OtRecord(et, rec, ev, src if isinstance(src, str) else None, port_or_none(rec.pop("src_port", None)),
                 dst if isinstance(dst, str) else None, port_or_none(rec.pop("dest_port", None)))
    handler = _HANDLERS.get(et, _other)
    try:
        return handler(r)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        out = r.finish(f"Suricata {clean(et)} record; {r.ends()}", "network")
        out["parse_error"] = f"suricata {et}: {type(exc).__name__}: {exc}"[:300]
        return out


def _proto_of(r: OtRecord) -> str | None:
    app = r.rec.get("app_proto")
    if isinstance(app, str) and app.lower() in ICS_SERVICES:
        return ICS_SERVICES[app.lower()]
    return ICS_PORTS.get(r.dport) if r.dport is not None else None


def _alert(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    alert = _obj(rec.get("alert"))
    sig = alert.get("signature")
    sid = alert.get("signature_id")
    sev = alert.get("severity")
    rec["signature"] = sig
    rec["signature_id"] = sid
    if isinstance(sev, int) and not isinstance(sev, bool):
        rec["alert_severity"] = sev
    if alert.get("category"):
        rec["alert_category"] = alert["category"]
    if alert.get("action"):
        rec["alert_action"] = alert["action"]
    text = f"Suricata alert [{clean(sid)}] {clean(sig or '(no signature)', 120)}"
    proto = _proto_of(r)
    if proto is None and isinstance(sig, str):
        low = sig.lower()
        proto = next((ICS_SERVICES.get(w, w) for w in _ICS_WORDS if w in low), None)
    if proto is not None:
        r.mark_ics(proto, "transaction")
        r.rec["ot_function"] = f"alert {sid}"
        return r.finish(f"{text} ({proto}); {r.ends()}", "ics", "ids_alert")
    return r.finish(f"{text}; {r.ends()}", "ids", "ids_alert")


def _anomaly(r: OtRecord) -> dict[str, Any]:
    a = _obj(r.rec.get("anomaly"))
    what = kv(type=a.get("type"), event=a.get("event"), layer=a.get("layer"))
    proto = _proto_of(r)
    if proto is not None:
        return r.ot(proto, Op(str(a.get("event") or "anomaly"), None, "ot_anomaly", "protocol anomaly"),
                    "transaction", what, action="ot_anomaly")
    return r.finish(f"Suricata anomaly {what}; {r.ends()}", "network", "protocol_anomaly")


def _flow(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    f = _obj(rec.get("flow"))
    msg = (f"flow {clean(rec.get('proto', '?'))}/{clean(rec.get('app_proto', '-'))} {r.ends()} "
           + kv(state=f.get("state"), reason=f.get("reason"), to_server=f.get("pkts_toserver"),
                to_client=f.get("pkts_toclient")))
    proto = _proto_of(r)
    if proto is None:
        return r.finish(msg.strip(), "network", "connection")
    r.mark_ics(proto, "transaction")
    return r.finish(msg.strip(), "ics", "connection")


def _dnp3(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    d = _obj(rec.get("dnp3"))
    kind = str(d.get("type") or "")
    app = _obj(d.get("application"))
    op = dnp3_op(app.get("function_code"))
    indicators = _d(d, "iin", "indicators") or _d(d, "response", "iin", "indicators") or []
    restarted = isinstance(indicators, list) and "device_restart" in indicators
    objs = _list(app.get("objects"))
    details = []
    for o in objs[:3]:
        if isinstance(o, dict):
            details.append(f"g{o.get('group')}v{o.get('variation')}")
            pts = _list(o.get("points"))
            for p in pts[:2]:
                if isinstance(p, dict) and "index" in p:
                    details.append(f"index {p['index']}" + (f" tcc {p['tcc']}" if "tcc" in p else ""))
                    rec.setdefault("ot_object", f"g{o.get('group')} index {p['index']}")
                if isinstance(p, dict) and "filename" in p:
                    details.append(f"file {clean(p['filename'], 60)}")
    if d.get("src") is not None:
        rec["ot_unit"] = d.get("dst") if kind == "request" else d.get("src")
    if indicators:
        details.append("iin " + ",".join(str(i) for i in indicators[:4]))
    text = " ".join(details)
    if kind == "request":
        return r.ot("dnp3", op, "request", text)
    op = op or Op("RESPONSE", 129, "ot_response", "responds")
    direction = "unsolicited" if kind == "unsolicited_response" or op.code == 130 else "response"
    if restarted:
        return r.ot("dnp3", op, direction, text, action="ot_device_restarted",
                    meaning="IIN1.7 DEVICE_RESTART set: the outstation has restarted")
    return r.ot("dnp3", op, direction, text, action="ot_notification" if direction == "unsolicited"
                else "ot_response")


def _modbus(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    m = _obj(rec.get("modbus"))
    req = _obj(m.get("request"))
    resp = _obj(m.get("response"))
    part = req or resp
    code = part.get("function_raw")
    func = code if isinstance(code, int) else part.get("function_code")
    op = modbus_op(func) if func is not None else Op("message", None, "ot_other", "")
    access = str(part.get("access_type") or "")
    if op.action in ("ot_undefined_function", "ot_read") and "WRITE" in access.upper():
        op = Op(op.name, op.code, "ot_write", f"writes ({access})")
    unit = req.get("unit_id", m.get("id"))
    if unit is not None:
        rec["ot_unit"] = unit
    write = _obj(req.get("write"))
    if write.get("address") is not None:
        rec["ot_register"] = write["address"]
    details = kv(unit=unit, access=access or None, address=write.get("address"))
    exc = resp.get("exception_code") or resp.get("error_flags") not in (None, "NONE") and resp.get("error_flags")
    if resp and exc:
        return r.ot("modbus", op, "response", details, action="ot_exception", outcome="failure")
    direction = "request" if req else "response" if resp else "transaction"
    return r.ot("modbus", op, "transaction" if req and resp else direction, details)


def _enip(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    e = _obj(rec.get("enip"))
    req = _obj(e.get("request"))
    resp = _obj(e.get("response"))
    cip = _obj(req.get("cip"))
    identity = resp.get("identity") if isinstance(resp.get("identity"), dict) else None
    if cip.get("service"):
        op = cip_op(None, str(cip["service"]))
        proto = "cip"
        if cip.get("class_name"):
            rec["ot_object"] = cip["class_name"]
    else:
        cmd = req.get("command") or resp.get("command")
        op = enip_op(None, str(cmd).replace("_", " ")) if cmd else Op("message", None, "ot_read", "")
        proto = "enip"
    if identity:
        rec["ot_identity"] = {k: identity[k] for k in ("vendor_id", "product_name", "revision", "serial",
                                                       "device_type", "product_code") if k in identity}
        return r.ot(proto, op, "transaction", kv(vendor=identity.get("vendor_id"),
                                                 product=identity.get("product_name"),
                                                 revision=identity.get("revision")), action="ot_identity",
                    meaning="device identity disclosed")
    status = resp.get("status")
    if resp and status not in (None, "success", "Success"):
        return r.ot(proto, op, "response", kv(status=status), action="ot_exception", outcome="failure")
    return r.ot(proto, op, "request" if req else "response" if resp else "transaction",
                kv(**{"class": cip.get("class_name")}))


def _http(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    h = _obj(rec.get("http"))
    for src, dst in (("http_method", "method"), ("url", "path"), ("status", "status"),
                     ("http_user_agent", "user_agent"), ("hostname", "vhost"), ("http_refer", "referer"),
                     ("length", "bytes")):
        if h.get(src) is not None:
            rec[dst] = h[src]
    msg = f"{clean(h.get('http_method', '?'))} {clean(h.get('url', '?'), 200)} {h.get('status', '-')}"
    return r.finish(f"HTTP {msg}; {r.ends()}", "web", "http_request")


def _dns(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    d = _obj(rec.get("dns"))
    name = d.get("rrname")
    if isinstance(d.get("queries"), list) and d["queries"] and isinstance(d["queries"][0], dict):
        name = name or d["queries"][0].get("rrname")
    if name is not None:
        rec["query"] = name
    if d.get("rrtype") is not None:
        rec["record_type"] = d["rrtype"]
    return r.finish(f"DNS {clean(d.get('type', 'query'))} {clean(name or '?', 200)} "
                    f"{clean(d.get('rrtype', ''))} {clean(d.get('rcode', ''))}".rstrip() + f"; {r.ends()}",
                    "dns", "dns_query")


def _tls(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    t = _obj(rec.get("tls"))
    if t.get("sni"):
        rec["server_name"] = t["sni"]
    return r.finish(f"TLS {clean(t.get('version', '?'))} sni {clean(t.get('sni', '-'), 120)}; {r.ends()}",
                    "tls", "tls_handshake")


def _other(r: OtRecord) -> dict[str, Any]:
    proto = _proto_of(r)
    et = r.path
    if proto is not None:
        return r.ot(proto, Op(et, None, "ot_other", f"Suricata {et} record"), "transaction", action="ot_other")
    return r.finish(f"Suricata {clean(et)} record; {r.ends()}", "metadata" if et == "stats" else "network", et)


_HANDLERS = {"alert": _alert, "anomaly": _anomaly, "flow": _flow, "netflow": _flow, "dnp3": _dnp3,
             "modbus": _modbus, "enip": _enip, "http": _http, "dns": _dns, "tls": _tls}
