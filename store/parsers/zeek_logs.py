"""What a Zeek record means: one event per record, with the ICS protocols' functions named and classified.

Every record becomes `service` zeek, `app` = the log's path (conn, modbus, dnp3_control, …; Sigma `product: zeek,
service: <path>` routes on it), src_ip/src_port = the connection's originator (`id.orig_h/p`, the client that
opened the conversation, whatever the packet direction of the row) and dst_ip + `fields.dst_port` = its responder.
Industrial records get `category` ics and, in `fields`: `ot_protocol`, `ot_function` (the protocol's own name for
what was asked), `ot_function_code`, `ot_direction` (request | response | transaction | unsolicited), unit,
object, register or node where logged, and `ot_link` ("<path> client→server", what OT alerts are grouped by).
`action` is the normalised meaning from store.ot.protocols (ot_write, ot_control, ot_stop, …) for the requesting
row; replies are ot_response unless they carry meaning of their own (exceptions, password failures, identities,
a restart indication). `message` starts with the protocol and function, so an alert's "why" names it.

Addresses come only from the connection id columns Zeek writes (or, for records without one, the columns that
name hosts: known_* `host`, files `tx_hosts/rx_hosts`); any other value is the wire's text and never an address.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from store.ot.protocols import (
    DNP3_IIN_DEVICE_RESTART,
    ICS_PORTS,
    ICS_SERVICES,
    Op,
    bacnet_op,
    cip_op,
    dnp3_op,
    enip_op,
    modbus_op,
    opcua_op,
    s7_op,
    s7plus_op,
)
from store.parsers.common import epoch_to_utc, ip_or_none, parse_iso, port_or_none
from store.parsers.ot_record import PROTO_NAMES, OtRecord
from store.parsers.ot_record import clean as _clean
from store.parsers.ot_record import kv as _kv

KNOWN_LOGS = frozenset({
    "conn", "weird", "notice", "files", "analyzer", "analyzer_debug", "dpd", "known_hosts", "known_services",
    "known_modbus", "known_devices", "software", "modbus", "modbus_detailed", "modbus_mask_write_register",
    "modbus_read_write_multiple_registers", "modbus_register_change", "dnp3", "dnp3_control", "dnp3_objects",
    "s7comm", "s7comm_plus", "s7comm_upload_download", "s7comm_read_szl", "s7comm_known_devices", "cotp", "cip",
    "cip_io", "cip_identity", "enip", "bacnet", "bacnet_discovery", "bacnet_property", "bacnet_device_control",
    "opcua_binary", "dns", "http", "ssl", "x509", "ssh", "smb_files", "dce_rpc",
})
_MASKED = "XXXXXXXXXX.XXXXXX"
_AUTH_ERRORS = frozenset({"password-failure", "password_failure", "passwordfailure"})
_OPCUA_AUTH_BAD = ("baduseraccessdenied", "badidentitytoken", "badusersignatureinvalid", "badsecuritychecksfailed",
                   "badcertificate", "badidentitychangenotsupported")


def zeek_ts(value: Any, received_at: datetime) -> datetime | None:
    """A Zeek `ts`: epoch seconds (TSV text or JSON number) or ISO 8601 (JSON with ISO timestamps)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return epoch_to_utc(value)
    if isinstance(value, str) and value and value != _MASKED:
        if value[0].isdigit() and "-" not in value and "X" not in value:
            try:
                return epoch_to_utc(float(value))
            except ValueError:
                return None
        return parse_iso(value[:40], received_at) if "-" in value else None
    return None


def header_event(text: str, directive: str, path: str | None) -> dict[str, Any]:
    """A header line: metadata of its source, kept (lines are never dropped) but outside every detection."""
    return {"format": "zeek", "service": "zeek", "category": "metadata", "action": "log_header", "message": text,
            "fields": {"zeek_directive": directive, "zeek_path": path}}


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _direction(rec: dict[str, Any]) -> str:
    """request/response from ICSNPP's `is_orig` (T: the packet went client→server)."""
    v = rec.get("is_orig")
    if v is True or v == "T":
        return "request"
    if v is False or v == "F":
        return "response"
    return "transaction"


def _values(v: Any) -> str | None:
    if isinstance(v, list):
        shown = ",".join(str(x) for x in v[:8]) + ("…" if len(v) > 8 else "")
        return shown
    return None if v is None else str(v)


# -- conn and friends -----------------------------------------------------------------------------------------------
def _ics_proto(service: Any, port: int | None) -> str | None:
    if isinstance(service, str) and service not in ("", "-"):
        for s in service.split(","):
            p = ICS_SERVICES.get(s.strip().lower())
            if p:
                return p
    return ICS_PORTS.get(port) if port is not None else None


def _conn(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    service = rec.get("service")
    proto = _ics_proto(service, r.dport)
    msg = (f"connection {rec.get('proto', '?')}/{_clean(service) if service not in (None, '') else '-'} "
           f"{r.ends()} state {rec.get('conn_state', '?')}")
    if proto is None:
        return r.finish(msg, "network", "connection")
    r.mark_ics(proto, "transaction")
    name = PROTO_NAMES.get(proto, proto)
    return r.finish(f"{name} port connection ({msg})", "ics", "connection")


def _weird(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    name = str(rec.get("name", "?"))
    proto = next((p for p in ("modbus", "dnp3", "s7comm", "enip", "cip", "bacnet", "opcua", "mms", "iec104")
                  if p in name.lower()), None) or (ICS_PORTS.get(r.dport) if r.dport is not None else None)
    msg = f"Zeek weird {_clean(name)}" + (f" ({_clean(rec['addl'])})" if rec.get("addl") not in (None, "") else "")
    if proto is None:
        return r.finish(f"{msg}; {r.ends()}", "network", "weird")
    return r.ot(proto, Op(name, None, "ot_anomaly", "protocol anomaly"), "transaction", action="ot_anomaly",
                meaning=msg)


def _analyzer(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    cause = str(rec.get("cause", ""))
    name = str(rec.get("analyzer_name") or rec.get("analyzer") or "?")
    proto = ICS_SERVICES.get(name.lower()) or (ICS_PORTS.get(r.dport) if r.dport is not None else None)
    reason = rec.get("failure_reason")
    msg = f"{_clean(name)} analyzer {cause}" + (f": {_clean(reason, 120)}" if reason else "")
    action = "ot_anomaly" if cause == "violation" else "analyzer_state"
    if proto is None:
        return r.finish(f"{msg}; {r.ends()}", "network", "protocol_violation" if cause == "violation" else action)
    return r.ot(proto, Op(f"analyzer {cause}", None, action, msg), "transaction", action=action, meaning=msg)


def _known_modbus(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    host = ip_or_none(_s(rec.get("host")))
    kind = str(rec.get("device_type", ""))
    server = "SLAVE" in kind.upper() or "SERVER" in kind.upper()
    if server:
        r.dst = host
    else:
        r.src = host
    role = "Modbus server (PLC)" if server else "Modbus client (master)"
    r.path = "known_modbus"
    ev = r.ot("modbus", Op(kind or "known device", None, "ot_identity", role), "transaction",
              action="ot_identity", meaning=f"{host} seen as {role}")
    ev["fields"]["ot_role"] = "server" if server else "client"
    return ev


def _known_services(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    host = ip_or_none(_s(rec.get("host")))
    port = port_or_none(rec.get("port_num"))
    services = rec.get("service")
    proto = _ics_proto(",".join(services) if isinstance(services, list) else services, port)
    r.dst, r.dport = host, port
    if proto is None:
        return r.finish(f"known service {_clean(services)} on {host}:{port}", "network", "known_service")
    ev = r.ot(proto, Op("known service", None, "ot_identity", "serves"), "transaction", action="ot_identity",
              meaning=f"{host} serves {PROTO_NAMES.get(proto, proto)} on port {port}")
    ev["fields"]["ot_role"] = "server"
    return ev


def _known_hosts(r: OtRecord) -> dict[str, Any]:
    r.src = ip_or_none(_s(r.rec.get("host")))
    return r.finish(f"known host {r.src}", "network", "known_host")


def _files(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    tx, rx = rec.get("tx_hosts"), rec.get("rx_hosts")
    tx1 = tx[0] if isinstance(tx, list) and len(tx) == 1 else _s(tx)
    rx1 = rx[0] if isinstance(rx, list) and len(rx) == 1 else _s(rx)
    r.addresses(_s(tx1), _s(rx1))
    source = str(rec.get("source", ""))
    proto = ICS_SERVICES.get(source.lower())
    size = rec.get("seen_bytes")
    msg = f"file over {_clean(source)} {r.ends()} ({size} bytes, {_clean(rec.get('mime_type') or '-')})"
    if proto is None:
        return r.finish(msg, "file", "file_transfer")
    return r.ot(proto, Op("file transfer", None, "ot_file_transfer", "a file moved over an ICS protocol"),
                "transaction", meaning=msg)


# -- Modbus ---------------------------------------------------------------------------------------------------------
def _modbus(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    func = rec.get("func")
    op = modbus_op(func)
    pdu = rec.get("pdu_type")
    direction = "request" if pdu == "REQ" else "response" if pdu == "RESP" else "transaction"
    exc = rec.get("exception")
    details = _kv(unit=rec.get("unit"), exception=exc)
    if exc or (isinstance(func, str) and func.upper().endswith("_EXCEPTION")):
        return r.ot("modbus", op, direction, details, action="ot_exception", outcome="failure",
                    meaning=f"exception reply {exc or ''} ({op.meaning})")
    return r.ot("modbus", op, direction, details)


def _modbus_detailed(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    sub = rec.get("request_subfunction_code") or rec.get("response_subfunction_code")
    op = modbus_op(rec.get("func"), _s(sub))
    values = _values(rec.get("request_values"))
    details = _kv(unit=rec.get("unit"), address=rec.get("address"), quantity=rec.get("quantity"), values=values,
                  subfunction=sub, mei=rec.get("mei_type"), exception=rec.get("exception_code"))
    if rec.get("mei_type") and "identification" in str(rec["mei_type"]).lower():
        op = Op(op.name, op.code, "ot_discovery", "Read Device Identification")
    if rec.get("address") is not None:
        rec["ot_register"] = rec["address"]
    if rec.get("unit") is not None:
        rec["ot_unit"] = rec["unit"]
    if rec.get("exception_code"):
        return r.ot("modbus", op, "transaction", details, action="ot_exception", outcome="failure",
                    meaning=f"exception reply ({op.meaning})")
    return r.ot("modbus", op, "transaction", details)


def _modbus_mask(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = modbus_op(rec.get("func"))
    rr = rec.get("request_response")
    direction = "request" if rr == "REQUEST" else "response" if rr == "RESPONSE" else _direction(rec)
    details = _kv(unit=rec.get("unit"), address=rec.get("address") or rec.get("write_start_address"),
                  and_mask=rec.get("and_mask"), or_mask=rec.get("or_mask"),
                  values=_values(rec.get("write_registers")))
    if rec.get("address") is not None:
        rec["ot_register"] = rec["address"]
    elif rec.get("write_start_address") is not None:
        rec["ot_register"] = rec["write_start_address"]
    return r.ot("modbus", op, direction, details)


def _modbus_register_change(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    rec["ot_register"] = rec.get("register")
    op = Op("register change", None, "ot_notification", "a polled register changed value")
    return r.ot("modbus", op, "transaction", _kv(register=rec.get("register"), old=rec.get("old_val"),
                                                 new=rec.get("new_val")))


# -- DNP3 -----------------------------------------------------------------------------------------------------------
_ROUTINE = frozenset({"ot_read", "ot_response", "ot_notification", "ot_session", "ot_select"})


def _dnp3(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    req = dnp3_op(rec.get("fc_request"))
    reply = dnp3_op(rec.get("fc_reply"))
    iin = rec.get("iin")
    details = _kv(reply=rec.get("fc_reply") if req is not None else None, iin=iin)
    restarted = isinstance(iin, int) and bool(iin & DNP3_IIN_DEVICE_RESTART)
    if req is None:
        op = reply or Op("RESPONSE", 129, "ot_response", "responds")
        direction = "unsolicited" if op.code == 130 else "response"
        action = "ot_notification" if op.code == 130 else "ot_response"
    else:
        op, direction, action = req, "transaction", req.action
    if restarted and action in _ROUTINE:
        return r.ot("dnp3", op, direction, details, action="ot_device_restarted",
                    meaning=f"IIN1.7 DEVICE_RESTART set (iin 0x{iin:04x}): the outstation has restarted")
    return r.ot("dnp3", op, direction, details, action=action)


def _dnp3_control(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = dnp3_op(rec.get("function_code")) or Op("?", None, "ot_other", "")
    direction = _direction(rec)
    if op.code == 129:
        direction = "response"
    if rec.get("index_number") is not None:
        rec["ot_object"] = f"{rec.get('block_type', 'point')} {rec['index_number']}"
    details = _kv(block=rec.get("block_type"), index=rec.get("index_number"), code=rec.get("trip_control_code"),
                  operation=rec.get("operation_type"), status=rec.get("status_code"))
    status = rec.get("status_code")
    if direction == "response" and status not in (None, "Success", "-"):
        return r.ot("dnp3", op, direction, details, action="ot_exception", outcome="failure")
    return r.ot("dnp3", op, direction, details)


def _dnp3_objects(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = dnp3_op(rec.get("function_code")) or Op("?", None, "ot_other", "")
    direction = _direction(rec)
    if op.code in (129, 130):
        direction = "response" if op.code == 129 else "unsolicited"
    rec["ot_object"] = rec.get("object_type")
    return r.ot("dnp3", op, direction, _kv(object=rec.get("object_type"), count=rec.get("object_count"),
                                           low=rec.get("range_low"), high=rec.get("range_high")))


# -- S7comm ---------------------------------------------------------------------------------------------------------
def _s7comm(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    rosctr = str(rec.get("rosctr_name") or "")
    fname = _s(rec.get("function_name"))
    userdata = rosctr == "User-Data"
    if userdata:
        op = s7_op(rec.get("subfunction_code"), fname, _s(rec.get("subfunction_name")), function_group=fname)
    else:
        pi = " ".join(str(rec[k]) for k in ("subfunction_code", "subfunction_name") if rec.get(k))
        op = s7_op(rec.get("function_code"), fname, pi or None)
    if userdata:
        direction = "response" if (fname or "").startswith("Response") else "request"
    else:
        direction = "request" if rosctr == "Job-Request" else "response" if rosctr else _direction(rec)
    err = rec.get("error_class")
    details = _kv(error=err if err not in (None, "No error") else None, code=rec.get("error_code")
                  if err not in (None, "No error") else None)
    if direction == "response" and err not in (None, "No error", ""):
        action = "ot_auth_failure" if op.action == "ot_auth" else "ot_exception"
        return r.ot("s7comm", op, direction, details, action=action, outcome="failure")
    return r.ot("s7comm", op, direction, details)


def _s7comm_plus(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    opcode = str(rec.get("opcode_name") or "")
    op = s7plus_op(rec.get("function_code"), _s(rec.get("function_name")))
    if opcode == "Notification":
        return r.ot("s7comm_plus", Op("Notification", None, "ot_notification", "cyclic notification"),
                    "unsolicited")
    direction = "request" if opcode == "Request" else "response" if opcode == "Response" else _direction(rec)
    return r.ot("s7comm_plus", op, direction)


def _s7comm_upload_download(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = s7_op(None, _s(rec.get("function_name")))
    rosctr = str(rec.get("rosctr") or rec.get("rosctr_name") or "")
    direction = "request" if rosctr == "Job-Request" else "response" if rosctr else _direction(rec)
    if rec.get("filename"):
        rec["ot_object"] = rec["filename"]
    details = _kv(block=rec.get("block_type"), number=rec.get("block_number"), file=rec.get("filename"),
                  filesystem=rec.get("destination_filesystem"), length=rec.get("blocklength"))
    return r.ot("s7comm", op, direction, details)


def _s7comm_read_szl(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    method = str(rec.get("method") or "")
    direction = "request" if method == "Request" else "response" if method == "Response" else _direction(rec)
    op = Op("Read SZL", None, "ot_discovery", "reads the system status list (module identity, state)")
    return r.ot("s7comm", op, direction, _kv(szl=rec.get("szl_id"), name=rec.get("szl_id_name")),
                action="ot_identity" if direction == "response" else "ot_discovery")


def _s7comm_known_devices(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    rec["ot_identity"] = {k: rec[k] for k in ("automation_system_name", "module_name", "plant_name",
                                              "module_serial") if rec.get(k) not in (None, "")}
    op = Op("S7 identity", None, "ot_identity", "module identity read")
    return r.ot("s7comm", op, "transaction", _kv(module=rec.get("module_name"), serial=rec.get("module_serial"),
                                                 system=rec.get("automation_system_name")), action="ot_identity")


def _cotp(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = Op(str(rec.get("pdu_name") or "COTP"), None, "ot_session", "ISO transport")
    return r.ot("cotp", op, _direction(rec), action="ot_session")


# -- EtherNet/IP and CIP --------------------------------------------------------------------------------------------
def _cip(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = cip_op(rec.get("cip_service_code"), _s(rec.get("cip_service")))
    d = str(rec.get("direction") or "")
    direction = "request" if d == "request" else "response" if d == "response" else _direction(rec)
    cls = rec.get("class_name") or rec.get("class_id")
    if cls is not None:
        rec["ot_object"] = f"{cls}" + (f"/{rec['instance_id']}" if rec.get("instance_id") is not None else "")
    details = _kv(**{"class": f"{rec.get('class_id', '?')} ({_clean(rec.get('class_name', '?'))})"
                     if rec.get("class_id") is not None else None},
                  instance=rec.get("instance_id"), attribute=rec.get("attribute_id"),
                  status=rec.get("cip_status") if rec.get("cip_status") not in (None, "Success") else None)
    if direction == "response" and rec.get("cip_status") not in (None, "Success", "-"):
        return r.ot("cip", op, direction, details, action="ot_exception", outcome="failure")
    return r.ot("cip", op, direction, details)


def _cip_io(r: OtRecord) -> dict[str, Any]:
    op = Op("implicit I/O", None, "ot_notification", "cyclic I/O data")
    return r.ot("cip", op, "transaction", _kv(connection=r.rec.get("connection_id")), action="ot_notification")


def _cip_identity(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    rec["ot_identity"] = {k: rec[k] for k in ("vendor_name", "device_type_name", "product_name", "revision",
                                              "serial_number", "product_code") if rec.get(k) not in (None, "")}
    op = Op("CIP identity", None, "ot_identity", "device identity")
    return r.ot("cip", op, "response", _kv(vendor=rec.get("vendor_name"), product=rec.get("product_name"),
                                           revision=rec.get("revision"), serial=rec.get("serial_number")),
                action="ot_identity", meaning="device identity disclosed")


def _enip(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = enip_op(rec.get("enip_command_code"), _s(rec.get("enip_command")))
    direction = _direction(rec)
    status = rec.get("enip_status")
    if direction == "response" and status not in (None, "Success", "-"):
        return r.ot("enip", op, direction, _kv(status=status), action="ot_exception", outcome="failure")
    return r.ot("enip", op, direction)


# -- BACnet ---------------------------------------------------------------------------------------------------------
_BACNET_REPLY = frozenset({"COMPLEX_ACK", "SIMPLE_ACK", "ERROR_PDU", "REJECT_PDU", "ABORT_PDU", "SEGMENT_ACK"})


def _bacnet(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    pdu = str(rec.get("pdu_type") or "")
    op = bacnet_op(_s(rec.get("pdu_service"))) or Op(pdu or "?", None, "ot_session", "BACnet PDU")
    result = rec.get("result_code")
    direction = "response" if pdu in _BACNET_REPLY else "request" if "REQUEST" in pdu else _direction(rec)
    details = _kv(invoke=rec.get("invoke_id"), result=result)
    if pdu in ("ERROR_PDU", "REJECT_PDU", "ABORT_PDU"):
        if isinstance(result, str) and result.lower() in _AUTH_ERRORS:
            return r.ot("bacnet", op, "response", details, action="ot_auth_failure", outcome="failure",
                        meaning=f"{op.name} refused: wrong password")
        return r.ot("bacnet", op, "response", details, action="ot_exception", outcome="failure")
    if op.action == "ot_identity":
        return r.ot("bacnet", op, "unsolicited", details)
    return r.ot("bacnet", op, direction, details)


def _bacnet_discovery(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = bacnet_op(_s(rec.get("pdu_service"))) or Op("?", None, "ot_discovery", "")
    if op.action == "ot_identity":
        rec["ot_identity"] = {k: rec[k] for k in ("vendor", "object_name", "device_id_number", "instance_number")
                              if rec.get(k) not in (None, "")}
    details = _kv(vendor=rec.get("vendor"), object=rec.get("object_type"), instance=rec.get("instance_number"),
                  name=rec.get("object_name"), range=rec.get("range"))
    return r.ot("bacnet", op, "unsolicited" if op.action == "ot_identity" else "request", details)


def _bacnet_property(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    service = str(rec.get("pdu_service") or "")
    s = service.lower()
    if s.startswith("write-property"):
        op = Op(service, None, "ot_write", "changes a point value or configuration")
        direction = "request"
    elif s.endswith("-ack") or s.startswith("error"):
        op = Op(service, None, "ot_response", "")
        direction = "response"
    else:
        op = Op(service, None, "ot_read", "reads a property")
        direction = "request"
    obj = rec.get("object_type")
    if obj is not None:
        rec["ot_object"] = f"{obj} {rec.get('instance_number', '?')} {rec.get('property', '')}".strip()
    details = _kv(object=obj, instance=rec.get("instance_number"), property=rec.get("property"),
                  value=rec.get("value") if direction == "request" else None)
    return r.ot("bacnet", op, direction, details)


def _bacnet_device_control(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    op = bacnet_op(_s(rec.get("pdu_service"))) or Op("?", None, "ot_other", "")
    result, code = rec.get("result"), rec.get("result_code")
    is_request = _direction(rec) == "request" or (result is None and code is None)
    if not is_request:
        details = _kv(result=result, code=code)
        if isinstance(code, str) and code.lower() in _AUTH_ERRORS:
            return r.ot("bacnet", op, "response", details, action="ot_auth_failure", outcome="failure",
                        meaning=f"{op.name} refused: wrong password")
        if result == "ERROR":
            return r.ot("bacnet", op, "response", details, action="ot_exception", outcome="failure")
        return r.ot("bacnet", op, "response", details)
    has_password = "password" in rec
    if has_password:
        rec["cleartext_password"] = True
    details = _kv(state=rec.get("device_state"), duration=rec.get("time_duration"))
    if has_password:
        details += " (password sent in clear text)"
    return r.ot("bacnet", op, "request", details)


# -- OPC UA ---------------------------------------------------------------------------------------------------------
def _opcua_binary(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    kind = str(rec.get("msg_type") or "")
    if kind == "MSG":
        service = _s(rec.get("req_identifier_str")) or _s(rec.get("res_identifier_str"))
        op = opcua_op(service) or Op("MSG", None, "ot_read", "")
        op = Op(op.name.removesuffix("Request").removesuffix("Response"), None, op.action, op.meaning)
        return r.ot("opcua", op, "transaction")
    policy = _s(rec.get("sec_policy_uri"))
    if kind == "OPN":
        weak = policy is not None and policy.endswith("#None")
        if weak:
            rec["ot_security"] = "none"
        return r.ot("opcua", Op("OpenSecureChannel", None, "ot_session", "opens a secure channel"), "transaction",
                    _kv(policy=policy.rsplit("#", 1)[-1] if policy else None) + (" (no signing, no encryption)"
                                                                                 if weak else ""))
    if kind == "ERR":
        return r.ot("opcua", Op("Error", None, "ot_exception", "error message"), "response",
                    _kv(error=rec.get("error"), reason=rec.get("reason")), action="ot_exception", outcome="failure")
    return r.ot("opcua", Op({"HEL": "Hello", "ACK": "Acknowledge", "CLO": "CloseSecureChannel"}.get(kind, kind),
                            None, "ot_session", "transport"), "transaction", action="ot_session")


_OPCUA_LOGS = {
    "write": "Write", "call": "Call", "call_input_args": "Call", "add_nodes": "AddNodes", "delete_nodes": "DeleteNodes",
    "add_references": "AddReferences", "delete_references": "DeleteReferences", "activate_session": "ActivateSession",
    "create_session": "CreateSession", "close_session": "CloseSession", "opensecure_channel": "OpenSecureChannel",
    "get_endpoints": "GetEndpoints", "browse": "Browse", "read": "Read", "create_subscription": "CreateSubscription",
    "create_monitored_items": "CreateMonitoredItems",
}


def _opcua_service_log(r: OtRecord) -> dict[str, Any]:
    rec = r.rec
    sub = r.path[len("opcua_binary_"):]
    service = next((v for k, v in sorted(_OPCUA_LOGS.items(), key=lambda kv: -len(kv[0])) if sub.startswith(k)),
                   None)
    direction = _direction(rec)
    if sub == "status_code_detail":
        status = str(rec.get("sub_code_str") or rec.get("status_code") or "")
        sev = str(rec.get("severity_str") or "")
        src = _s(rec.get("source_str")) or "?"
        op = opcua_op(src) or Op(src, None, "ot_read", "")
        if "Bad" in sev:
            bad = status.lower().replace("_", "")
            action = "ot_auth_failure" if bad.startswith(_OPCUA_AUTH_BAD) else "ot_exception"
            return r.ot("opcua", op, "response", _kv(status=status), action=action, outcome="failure")
        return r.ot("opcua", op, "response", _kv(status=status))
    found = opcua_op(service) if service else None
    op = found if found is not None else Op(sub, None, "ot_read", "OPC UA service detail")
    node = rec.get("node_id_string") or rec.get("node_id_numeric")
    if node is not None:
        rec["ot_object"] = f"ns={rec.get('node_id_namespace_idx', 0)};{node}"
    details = _kv(node=node, attribute=rec.get("attribute_id_str"), user=rec.get("ext_obj_user_name"),
                  policy=rec.get("security_policy_uri") or rec.get("user_token_sec_policy_uri"))
    return r.ot("opcua", op, direction, details)


# -- generic --------------------------------------------------------------------------------------------------------
def _generic(r: OtRecord) -> dict[str, Any]:
    proto = next((p for p in ("modbus", "dnp3", "s7comm", "enip", "cip", "bacnet", "opcua", "iec104", "mms",
                              "profinet", "hart_ip", "omron_fins", "ge_srtp", "genisys", "synchrophasor", "roc_plus",
                              "bsap", "ethercat", "c1222") if r.path.startswith(p)), None)
    if proto is None and r.dport is not None:
        proto = ICS_PORTS.get(r.dport)
    if proto is None:
        return r.finish(f"Zeek {r.path} record; {r.ends()}", "network")
    return r.ot(proto, Op(r.path, None, "ot_other", f"{r.path} record"), _direction(r.rec), action="ot_other")


HANDLERS: dict[str, Callable[[OtRecord], dict[str, Any]]] = {
    "conn": _conn, "weird": _weird, "analyzer": _analyzer, "analyzer_debug": _analyzer, "dpd": _analyzer,
    "known_modbus": _known_modbus, "known_services": _known_services, "known_hosts": _known_hosts, "files": _files,
    "modbus": _modbus, "modbus_detailed": _modbus_detailed, "modbus_mask_write_register": _modbus_mask,
    "modbus_read_write_multiple_registers": _modbus_mask, "modbus_register_change": _modbus_register_change,
    "dnp3": _dnp3, "dnp3_control": _dnp3_control, "dnp3_objects": _dnp3_objects,
    "s7comm": _s7comm, "s7comm_plus": _s7comm_plus, "s7comm_upload_download": _s7comm_upload_download,
    "s7comm_read_szl": _s7comm_read_szl, "s7comm_known_devices": _s7comm_known_devices, "cotp": _cotp,
    "cip": _cip, "cip_io": _cip_io, "cip_identity": _cip_identity, "enip": _enip,
    "bacnet": _bacnet, "bacnet_discovery": _bacnet_discovery, "bacnet_property": _bacnet_property,
    "bacnet_device_control": _bacnet_device_control, "opcua_binary": _opcua_binary,
}


def _record(path: str, rec: dict[str, Any], received_at: datetime, schema: str) -> OtRecord:
    ev: dict[str, Any] = {"format": "zeek", "service": "zeek", "app": path}
    ts = rec.pop("ts", None)
    if ts is not None:
        when = zeek_ts(ts, received_at)
        if when is not None:
            ev["ts"] = when
    src, dst = _s(rec.pop("id.orig_h", None)), _s(rec.pop("id.resp_h", None))
    sport, dport = port_or_none(rec.pop("id.orig_p", None)), port_or_none(rec.pop("id.resp_p", None))
    if schema != "header":
        rec["zeek_schema"] = schema
    return OtRecord(path, rec, ev, src, sport, dst, dport)


def zeek_event(path: str | None, rec: dict[str, Any], received_at: datetime, schema: str) -> dict[str, Any]:
    """The event for one Zeek record of log `path` (values already typed: numbers, booleans, lists)."""
    name = path or "zeek"
    r = _record(name, rec, received_at, schema)
    handler = HANDLERS.get(name)
    if handler is None:
        handler = _opcua_service_log if name.startswith("opcua_binary_") else _generic
    try:
        return handler(r)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # A value of a shape the handler does not expect: keep the record, say so.
        ev = r.finish(f"Zeek {name} record; {r.ends()}", "network")
        ev["parse_error"] = f"zeek {name}: {type(exc).__name__}: {exc}"[:300]
        return ev
