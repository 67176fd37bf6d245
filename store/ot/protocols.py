"""What an industrial protocol's function means, as one normalised `action` for every protocol.

The parsers (Zeek ICSNPP logs, Suricata EVE, MMS flow exports) name the protocol's own function (Modbus
WRITE_SINGLE_REGISTER, DNP3 OPERATE, S7 "PLC Stop", BACnet reinitialize_device, …) in `fields.ot_function` and
classify it here into `action`, so one Sigma rule covers a write in any protocol:

  ot_read              reads and polls (routine)
  ot_write             writes process values: registers, coils, variables, properties, nodes
  ot_control           control commands that act on the process (DNP3 OPERATE/DIRECT_OPERATE, IEC 61850 Oper)
  ot_select            select-before-operate arming (changes nothing on its own)
  ot_program_upload    control logic read out of the controller
  ot_program_download  control logic or firmware written to the controller (download, insert/delete block)
  ot_stop              the controller's program halted (S7 PLC Stop, DNP3 STOP_APPL)
  ot_mode              operating mode or memory control (S7 PLC Control, DNP3 START_APPL)
  ot_restart           device restart (DNP3 COLD/WARM_RESTART, BACnet ReinitializeDevice, CIP Reset)
  ot_comm_control      a device told to stop communicating (BACnet DeviceCommunicationControl, Modbus listen-only)
  ot_block_reporting   spontaneous reporting switched off (DNP3 DISABLE_UNSOLICITED)
  ot_config            configuration changed (set clock, create/delete object, add nodes, save configuration)
  ot_file_transfer     a file opened or written on the device (DNP3 OPEN_FILE, BACnet AtomicWriteFile)
  ot_file_delete       a file deleted on the device
  ot_invoke            a method invoked on the server (OPC UA Call)
  ot_engineering       a vendor engineering/diagnostic channel (Modbus UMAS FC 90, Modbus diagnostics)
  ot_discovery         identification and enumeration requests (Modbus FC 17/43, S7 SZL, List Identity, Who-Is)
  ot_identity          a device reporting its identity (CIP identity, S7 module identity, BACnet I-Am)
  ot_session           session set-up and tear-down
  ot_response          a reply that carries nothing beyond its request
  ot_exception         an error or exception reply
  ot_auth              an authentication exchange
  ot_auth_failure      authentication refused by the device (BACnet password-failure, OPC UA access denied)
  ot_device_restarted  the device reports it has restarted (DNP3 IIN1.7)
  ot_undefined_function an undefined or reserved function code (fuzzing, malformed traffic)
  ot_notification      spontaneous data (unsolicited responses, information reports, COV notifications)
  ot_anomaly           a protocol violation the sensor reported (Zeek weird/analyzer violation, decoder events)

Tables are keyed by the names Zeek, ICSNPP and Suricata print and by numeric code; lookups never raise.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any, TypeVar, cast

# Actions that change something on a device (what an engineering station or HMI sends, what an attacker needs).
COMMAND_ACTIONS = frozenset({
    "ot_write", "ot_control", "ot_program_download", "ot_program_upload", "ot_stop", "ot_mode", "ot_restart",
    "ot_comm_control", "ot_block_reporting", "ot_config", "ot_file_transfer", "ot_file_delete", "ot_invoke",
    "ot_engineering",
})
# Commands only an engineering station should send (an HMI writes set-points; it does not reprogram a PLC).
ENGINEERING_ACTIONS = frozenset({
    "ot_program_download", "ot_program_upload", "ot_stop", "ot_mode", "ot_restart", "ot_comm_control",
    "ot_block_reporting", "ot_config", "ot_file_transfer", "ot_file_delete", "ot_engineering",
})

# Well-known server ports of industrial protocols (the responder's port).
ICS_PORTS: dict[int, str] = {
    502: "modbus", 20000: "dnp3", 102: "s7comm", 44818: "enip", 2222: "enip", 47808: "bacnet", 4840: "opcua",
    2404: "iec104", 34962: "profinet", 34963: "profinet", 34964: "profinet", 1911: "fox", 4911: "fox",
    9600: "omron_fins", 20547: "proconos", 18245: "ge_srtp", 5094: "hart_ip", 1962: "pcworx", 5007: "melsec",
    789: "crimson", 2455: "codesys", 1217: "codesys", 11740: "codesys",
}
# Zeek `conn.log` service names of industrial analyzers → protocol.
ICS_SERVICES: dict[str, str] = {
    "modbus": "modbus", "dnp3": "dnp3", "dnp3_tcp": "dnp3", "dnp3_udp": "dnp3", "s7comm": "s7comm",
    "s7comm-plus": "s7comm_plus", "s7comm_plus": "s7comm_plus", "cotp": "s7comm", "enip": "enip", "cip": "enip",
    "bacnet": "bacnet", "opcua-binary": "opcua", "opcua_binary": "opcua", "iec104": "iec104", "iec60870_5_104":
    "iec104", "profinet": "profinet", "profinet_io_cm": "profinet", "mms": "mms", "iec61850": "mms",
    "genisys": "genisys", "hart_ip": "hart_ip", "omron_fins": "omron_fins", "synchrophasor": "synchrophasor",
    "ge_srtp": "ge_srtp", "roc_plus": "emerson_roc",
}
# How each protocol calls its server side, for the inventory's roles.
SERVER_ROLE: dict[str, str] = {
    "modbus": "PLC", "s7comm": "PLC", "s7comm_plus": "PLC", "enip": "PLC", "cip": "PLC", "omron_fins": "PLC",
    "ge_srtp": "PLC", "melsec": "PLC", "codesys": "PLC", "pcworx": "PLC", "proconos": "PLC",
    "dnp3": "outstation", "iec104": "outstation", "mms": "IED", "bacnet": "controller",
    "opcua": "OPC UA server", "profinet": "IO device", "fox": "controller", "hart_ip": "field device",
}


@dataclass(frozen=True, slots=True)
class Op:
    """One protocol function: its printable name, numeric code (if known), action and meaning."""

    name: str
    code: int | None
    action: str
    meaning: str


F = TypeVar("F", bound=Callable[..., Any])


def _cached(fn: F) -> F:
    """Memoise a pure lookup (a log repeats the same few functions); unhashable input (a crafted JSON value) is
    looked up uncached rather than failing."""
    cached = lru_cache(maxsize=4096)(fn)

    @wraps(fn)
    def lookup(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError:
            return fn(*args, **kwargs)

    return cast(F, lookup)


def _c(text: object) -> int | None:
    """A function code from 5, "5", "0x05", "unknown-156"; None otherwise."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    if not isinstance(text, str) or not text or len(text) > 12:
        return None
    s = text.strip().lower()
    if s.startswith("unknown-"):
        s = s[8:]
    try:
        return int(s, 16) if s.startswith("0x") else int(s) if s.isdigit() else None
    except ValueError:
        return None


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# -- Modbus -------------------------------------------------------------------------------------------------------
_MODBUS: dict[int, tuple[str, str, str]] = {
    1: ("READ_COILS", "ot_read", "reads coils"),
    2: ("READ_DISCRETE_INPUTS", "ot_read", "reads discrete inputs"),
    3: ("READ_HOLDING_REGISTERS", "ot_read", "reads holding registers"),
    4: ("READ_INPUT_REGISTERS", "ot_read", "reads input registers"),
    5: ("WRITE_SINGLE_COIL", "ot_write", "forces one coil (an output) on or off"),
    6: ("WRITE_SINGLE_REGISTER", "ot_write", "writes one holding register (a set-point or parameter)"),
    7: ("READ_EXCEPTION_STATUS", "ot_read", "reads the exception status"),
    8: ("DIAGNOSTICS", "ot_engineering", "diagnostics: sub-functions can restart communications or force "
                                         "listen-only mode"),
    9: ("PROGRAM_484", "ot_program_download", "programs a Modicon 484 controller"),
    11: ("GET_COMM_EVENT_COUNTER", "ot_read", "reads the communication event counter"),
    12: ("GET_COMM_EVENT_LOG", "ot_read", "reads the communication event log"),
    13: ("PROGRAM_584_984", "ot_program_download", "programs a Modicon 584/984 controller"),
    15: ("WRITE_MULTIPLE_COILS", "ot_write", "forces several coils (outputs)"),
    16: ("WRITE_MULTIPLE_REGISTERS", "ot_write", "writes several holding registers"),
    17: ("REPORT_SLAVE_ID", "ot_discovery", "asks the device to identify itself"),
    18: ("PROGRAM_884_U84", "ot_program_download", "programs a Modicon 884/u84 controller"),
    19: ("RESET_COMM_LINK_884_U84", "ot_restart", "resets the communication link"),
    20: ("READ_FILE_RECORD", "ot_read", "reads file records"),
    21: ("WRITE_FILE_RECORD", "ot_file_transfer", "writes file records on the device"),
    22: ("MASK_WRITE_REGISTER", "ot_write", "changes bits of a holding register (AND/OR mask)"),
    23: ("READ_WRITE_MULTIPLE_REGISTERS", "ot_write", "writes registers and reads registers in one request"),
    24: ("READ_FIFO_QUEUE", "ot_read", "reads a FIFO queue"),
    40: ("PROGRAM_CONCEPT", "ot_program_download", "Concept programming of a Modicon controller"),
    43: ("ENCAP_INTERFACE_TRANSPORT", "ot_discovery", "encapsulated interface (Read Device Identification)"),
    90: ("UMAS", "ot_engineering", "Schneider UMAS engineering session (programming, start/stop)"),
    125: ("FIRMWARE_REPLACEMENT", "ot_program_download", "replaces the device firmware"),
    126: ("PROGRAM_584_984_2", "ot_program_download", "programs a Modicon 584/984 controller"),
    127: ("REPORT_LOCAL_ADDRESS", "ot_discovery", "reports the local address"),
}
# Suricata (sawp-modbus) spells function codes its own way; both spellings map to the code.
_MODBUS_NAMES: dict[str, int] = {_key(v[0]): k for k, v in _MODBUS.items()}
_MODBUS_NAMES.update({_key(k): v for k, v in {
    "RdCoils": 1, "RdDiscreteInputs": 2, "RdDiscInp": 2, "RdHoldRegs": 3, "RdInputRegs": 4, "RdInpRegs": 4,
    "WrSingleCoil": 5, "WrSingleReg": 6, "RdExcStatus": 7, "Diagnostic": 8, "Diagnostics": 8, "Program484": 9,
    "GetCommEventCtr": 11, "GetCommEventCounter": 11, "GetCommEventLog": 12, "ProgramController": 13,
    "WrMultCoils": 15, "WrMultRegs": 16, "ReportServerID": 17, "ReportSlaveID": 17, "Program884": 18,
    "ResetCommLink": 19, "RdFileRec": 20, "WrFileRec": 21, "MaskWrReg": 22, "RdWrMultRegs": 23,
    "RdFIFOQueue": 24, "MEI": 43, "EncapsulatedInterfaceTransport": 43,
    "WRITE_COIL": 5, "WRITE_REGISTER": 6, "READ_DEVICE_IDENTIFICATION": 43,
}.items()})
# Modbus FC 8 sub-functions that change the device rather than read a counter.
_MODBUS_DIAG = {
    "restart communications option": ("ot_restart", "restarts the device's communications"),
    "force listen only mode": ("ot_comm_control", "silences the device (listen-only mode)"),
    "clear counters and diagnostic register": ("ot_config", "clears the diagnostic counters"),
    "change ascii input delimiter": ("ot_config", "changes the ASCII input delimiter"),
    "clear overrun counter and flag": ("ot_config", "clears the overrun counter"),
}


@_cached
def modbus_op(func: object, subfunction: str | None = None) -> Op:
    """A Modbus function from a Zeek name (WRITE_SINGLE_COIL, READ_COILS_EXCEPTION, unknown-156), a Suricata
    name (WrSingleReg) or a number; `subfunction` is the FC 8 sub-function name when the log gives it."""
    code: int | None = None
    text = func if isinstance(func, str) else None
    if text is not None:
        base = text[:-10] if text.upper().endswith("_EXCEPTION") else text
        code = _MODBUS_NAMES.get(_key(base))
        if code is None:
            code = _c(base)
    else:
        code = _c(func)
    if code is not None and code >= 128:  # the exception bit: a reply to code - 128
        code -= 128
    known = _MODBUS.get(code) if code is not None else None
    if known is None:
        shown = text or (f"FC {code}" if code is not None else "unknown function")
        if code is not None and (65 <= code <= 72 or 100 <= code <= 110):
            return Op(shown, code, "ot_engineering", "a user-defined (vendor) function code")
        return Op(shown, code, "ot_undefined_function", "an undefined Modbus function code (fuzzing or "
                                                          "malformed traffic)")
    name, action, meaning = known
    if code == 8 and subfunction:
        sub = _MODBUS_DIAG.get(subfunction.strip().lower())
        if sub is not None:
            action, meaning = sub
        elif "return" in subfunction.lower() or "read" in subfunction.lower():
            action, meaning = "ot_read", f"diagnostics: {subfunction} (read-only)"
    return Op(name, code, action, meaning)


# -- DNP3 ---------------------------------------------------------------------------------------------------------
_DNP3: dict[int, tuple[str, str, str]] = {
    0: ("CONFIRM", "ot_response", "confirms a fragment"),
    1: ("READ", "ot_read", "reads outstation data"),
    2: ("WRITE", "ot_write", "writes outstation objects (time, IIN bits, attributes)"),
    3: ("SELECT", "ot_select", "arms a control (select-before-operate)"),
    4: ("OPERATE", "ot_control", "executes a previously selected control (breaker/relay output)"),
    5: ("DIRECT_OPERATE", "ot_control", "executes a control without selecting it first"),
    6: ("DIRECT_OPERATE_NR", "ot_control", "executes a control without selecting it and without a reply"),
    7: ("IMMED_FREEZE", "ot_read", "freezes counters"),
    8: ("IMMED_FREEZE_NR", "ot_read", "freezes counters (no reply)"),
    9: ("FREEZE_CLEAR", "ot_write", "freezes and clears counters"),
    10: ("FREEZE_CLEAR_NR", "ot_write", "freezes and clears counters (no reply)"),
    11: ("FREEZE_AT_TIME", "ot_read", "freezes counters at a time"),
    12: ("FREEZE_AT_TIME_NR", "ot_read", "freezes counters at a time (no reply)"),
    13: ("COLD_RESTART", "ot_restart", "full restart of the outstation"),
    14: ("WARM_RESTART", "ot_restart", "restarts the outstation's application"),
    15: ("INITIALIZE_DATA", "ot_config", "re-initialises data to start-up values"),
    16: ("INITIALIZE_APPL", "ot_mode", "initialises an application"),
    17: ("START_APPL", "ot_mode", "starts an application"),
    18: ("STOP_APPL", "ot_stop", "stops an application on the outstation"),
    19: ("SAVE_CONFIG", "ot_config", "saves the configuration"),
    20: ("ENABLE_UNSOLICITED", "ot_session", "enables unsolicited reporting"),
    21: ("DISABLE_UNSOLICITED", "ot_block_reporting", "disables unsolicited (spontaneous) reporting"),
    22: ("ASSIGN_CLASS", "ot_config", "reassigns points to event classes"),
    23: ("DELAY_MEASURE", "ot_session", "measures the link delay (time sync)"),
    24: ("RECORD_CURRENT_TIME", "ot_session", "records the current time (time sync)"),
    25: ("OPEN_FILE", "ot_file_transfer", "opens a file on the outstation (file transfer)"),
    26: ("CLOSE_FILE", "ot_session", "closes a file"),
    27: ("DELETE_FILE", "ot_file_delete", "deletes a file on the outstation"),
    28: ("GET_FILE_INFO", "ot_read", "reads file information"),
    29: ("AUTHENTICATE_FILE", "ot_auth", "authenticates a file transfer"),
    30: ("ABORT_FILE", "ot_session", "aborts a file transfer"),
    31: ("ACTIVATE_CONFIG", "ot_program_download", "activates a downloaded configuration"),
    32: ("AUTHENTICATE_REQ", "ot_auth", "secure authentication request"),
    33: ("AUTH_REQ_NO_ACK", "ot_auth", "secure authentication request (no reply)"),
    129: ("RESPONSE", "ot_response", "responds to a request"),
    130: ("UNSOLICITED_RESPONSE", "ot_notification", "spontaneous report from the outstation"),
    131: ("AUTHENTICATE_RESP", "ot_auth", "secure authentication response"),
}
_DNP3_NAMES: dict[str, int] = {_key(v[0]): k for k, v in _DNP3.items()}
_DNP3_NAMES.update({"authenticateerr": 32, "authenticatereqnoack": 33, "directoperatenoack": 6,
                    "immedfreezenoack": 8, "freezeclearnoack": 10, "freezeattimenoack": 12})
DNP3_IIN_DEVICE_RESTART = 0x8000  # IIN1.7, as Zeek packs the two IIN octets (IIN1 << 8 | IIN2)


@_cached
def dnp3_op(func: object) -> Op | None:
    """A DNP3 application function from a Zeek/Suricata name or number; None for "-"/absent."""
    code = _DNP3_NAMES.get(_key(func)) if isinstance(func, str) else None
    if code is None:
        code = _c(func)
    if code is None:
        return None
    known = _DNP3.get(code)
    if known is None:
        return Op(str(func) if isinstance(func, str) else f"FC {code}", code, "ot_undefined_function",
                  "an undefined DNP3 function code")
    return Op(known[0], code, known[1], known[2])


# -- S7comm (S7-300/400) ------------------------------------------------------------------------------------------
_S7_JOB: dict[int, tuple[str, str, str]] = {
    0x00: ("CPU services", "ot_engineering", "CPU services"),
    0xF0: ("Setup Communication", "ot_session", "sets up an S7 session"),
    0x04: ("Read Variable", "ot_read", "reads process variables / memory areas"),
    0x05: ("Write Variable", "ot_write", "writes process variables / memory areas"),
    0x1A: ("Request Download", "ot_program_download", "starts downloading a program block into the PLC"),
    0x1B: ("Download Block", "ot_program_download", "downloads a program block into the PLC"),
    0x1C: ("Download Ended", "ot_program_download", "ends a program block download"),
    0x1D: ("Start Upload", "ot_program_upload", "starts reading a program block out of the PLC"),
    0x1E: ("Upload", "ot_program_upload", "reads a program block out of the PLC"),
    0x1F: ("End Upload", "ot_program_upload", "ends a program block upload"),
    0x28: ("PLC Control", "ot_mode", "PLC control service (start/stop, copy RAM to ROM, compress memory)"),
    0x29: ("PLC Stop", "ot_stop", "halts the controller program (PLC STOP)"),
}
_S7_JOB_NAMES = {_key(v[0]): k for k, v in _S7_JOB.items()}
# User-data sub-functions by group (as ICSNPP names them: "Request: CPU Functions" / "Read SZL", …).
_S7_USERDATA: dict[str, tuple[str, str]] = {
    "read szl": ("ot_discovery", "reads the system status list (module identity, state)"),
    "list blocks": ("ot_discovery", "enumerates the program blocks"),
    "list blocks of type": ("ot_discovery", "enumerates the program blocks of a type"),
    "get block info": ("ot_discovery", "reads program block metadata"),
    "read clock": ("ot_read", "reads the PLC clock"),
    "set clock": ("ot_config", "sets the PLC clock"),
    "read clock (following)": ("ot_read", "reads the PLC clock"),
    "set clock (following)": ("ot_config", "sets the PLC clock"),
    "message service": ("ot_session", "registers for alarm messages"),
    "alarm ack": ("ot_config", "acknowledges alarms"),
    "alarm s": ("ot_notification", "alarm notification"),
    "alarm query": ("ot_read", "queries alarms"),
    "diagnostic message": ("ot_notification", "diagnostic message"),
    "plc password": ("ot_auth", "sends the PLC password"),
    "clean session": ("ot_auth", "clears the password session"),
    "request diag data (type 1)": ("ot_engineering", "programmer diagnostics"),
    "request diag data (type 2)": ("ot_engineering", "programmer diagnostics"),
    "variable table": ("ot_engineering", "programmer variable table (force/modify)"),
    "force": ("ot_write", "forces I/O values"),
}


@_cached
def s7_op(code: object, name: str | None, subfunction: str | None = None, function_group: str | None = None
          ) -> Op:
    """An S7comm function: a job function (code 0x05, name "Write Variable") or a user-data sub-function
    ("Read SZL" in "Request: CPU Functions"). For PLC Control the `subfunction` is its PI service or meaning."""
    sub = (subfunction or "").strip()
    if function_group or (name and (name.startswith("Request:") or name.startswith("Response:"))):
        group = function_group or name or ""
        what = _S7_USERDATA.get(sub.lower()) if sub else None
        if what is not None:
            return Op(sub, _c(code), what[0], what[1])
        if "security" in group.lower():
            return Op(sub or group, _c(code), "ot_auth", "security functions (PLC password)")
        if "programmer" in group.lower():
            return Op(sub or group, _c(code), "ot_engineering", "programmer commands")
        if "mode" in group.lower():
            return Op(sub or group, _c(code), "ot_mode", "mode transition")
        return Op(sub or group, _c(code), "ot_read", group.lower())
    num = _c(code)
    if num is None and name:
        num = _S7_JOB_NAMES.get(_key(name))
    known = _S7_JOB.get(num) if num is not None else None
    if known is None:
        return Op(name or (f"0x{num:02x}" if num is not None else "unknown"), num, "ot_undefined_function",
                  "an unknown S7comm function")
    fname, action, meaning = known
    if num == 0x28 and sub:
        low = sub.lower()
        if "_inse" in low or "_dele" in low or "insert" in low or "delete" in low:
            return Op(f"{fname} ({sub})", num, "ot_program_download", "inserts or deletes a program block")
        return Op(f"{fname} ({sub})", num, action, f"PLC control: {sub}")
    return Op(fname, num, action, meaning)


_S7PLUS: dict[str, tuple[str, str]] = {
    "setvariable": ("ot_write", "writes a PLC variable/object"),
    "setmultivariables": ("ot_write", "writes several PLC variables"),
    "getvariable": ("ot_read", "reads a PLC variable"),
    "getmultivariables": ("ot_read", "reads several PLC variables"),
    "getvarsubstreamed": ("ot_read", "reads a variable sub-stream"),
    "setvarsubstreamed": ("ot_program_download", "writes a variable sub-stream (program transfer)"),
    "createobject": ("ot_config", "creates an object (session or program download)"),
    "deleteobject": ("ot_config", "deletes an object"),
    "explore": ("ot_discovery", "explores the PLC's object tree"),
    "getlink": ("ot_read", "resolves a link"),
    "beginsequence": ("ot_session", "begins a sequence"),
    "endsequence": ("ot_session", "ends a sequence"),
    "invoke": ("ot_invoke", "invokes a PLC method"),
}


@_cached
def s7plus_op(code: object, name: str | None) -> Op:
    what = _S7PLUS.get(_key(name or "")) if name else None
    if what is None:
        return Op(name or str(code or "unknown"), _c(code), "ot_read", "S7comm-plus function")
    return Op(name or "", _c(code), what[0], what[1])


# -- CIP / EtherNet/IP --------------------------------------------------------------------------------------------
_CIP: dict[int, tuple[str, str, str]] = {
    0x01: ("Get Attributes All", "ot_read", "reads all attributes of an object"),
    0x02: ("Set Attributes All", "ot_write", "writes all attributes of an object"),
    0x03: ("Get Attribute List", "ot_read", "reads a list of attributes"),
    0x04: ("Set Attribute List", "ot_write", "writes several attributes of an object"),
    0x05: ("Reset", "ot_restart", "resets the device or object"),
    0x06: ("Start", "ot_mode", "starts the object"),
    0x07: ("Stop", "ot_stop", "stops the object"),
    0x08: ("Create", "ot_config", "creates an object instance"),
    0x09: ("Delete", "ot_config", "deletes an object instance"),
    0x0A: ("Multiple Service Packet", "ot_read", "bundles several services"),
    0x0D: ("Apply Attributes", "ot_config", "applies staged attributes"),
    0x0E: ("Get Attribute Single", "ot_read", "reads one attribute"),
    0x10: ("Set Attribute Single", "ot_write", "writes one attribute of an object"),
    0x11: ("Find Next Object Instance", "ot_discovery", "enumerates object instances"),
    0x14: ("Error Response", "ot_exception", "error response"),
    0x15: ("Restore", "ot_config", "restores stored attributes"),
    0x16: ("Save", "ot_config", "saves attributes to non-volatile storage"),
    0x17: ("No Operation", "ot_session", "no operation"),
    0x18: ("Get Member", "ot_read", "reads a member"),
    0x19: ("Set Member", "ot_write", "writes a member"),
    0x1A: ("Insert Member", "ot_write", "inserts a member"),
    0x1B: ("Remove Member", "ot_write", "removes a member"),
    0x1C: ("Group Sync", "ot_session", "group synchronisation"),
    0x4B: ("Execute PCCC", "ot_engineering", "legacy PCCC command (PLC-5/SLC programming and data)"),
    0x4C: ("Read Tag", "ot_read", "reads a Logix tag"),
    0x4D: ("Write Tag", "ot_write", "writes a Logix tag"),
    0x4E: ("Forward Close", "ot_session", "closes a CIP connection"),
    0x4F: ("Read Modify Write Tag", "ot_write", "changes bits of a Logix tag"),
    0x52: ("Read Tag Fragmented", "ot_read", "reads a Logix tag in fragments"),
    0x53: ("Write Tag Fragmented", "ot_write", "writes a Logix tag in fragments"),
    0x54: ("Forward Open", "ot_session", "opens a CIP connection"),
    0x55: ("Get Instance Attribute List", "ot_discovery", "enumerates tags"),
    0x5B: ("Large Forward Open", "ot_session", "opens a CIP connection"),
}
_CIP_NAMES = {_key(v[0]): k for k, v in _CIP.items()}
_CIP_NAMES.update({_key("Set Attributes Single"): 0x10, _key("Get Attributes Single"): 0x0E})


@_cached
def cip_op(code: object, name: str | None) -> Op:
    num = _c(code)
    if num is not None and num >= 0x80:  # reply bit
        num -= 0x80
    if num is None and name:
        num = _CIP_NAMES.get(_key(name))
    known = _CIP.get(num) if num is not None else None
    if known is None:
        shown = name or (f"0x{num:02x}" if num is not None else "unknown")
        return Op(shown, num, "ot_read", "CIP service (vendor-specific or unclassified)")
    return Op(name or known[0], num, known[1], known[2])


_ENIP: dict[int, tuple[str, str, str]] = {
    0x00: ("NOP", "ot_session", "no operation"),
    0x04: ("List Services", "ot_discovery", "lists the services the device supports"),
    0x63: ("List Identity", "ot_discovery", "asks the device to identify itself (discovery)"),
    0x64: ("List Interfaces", "ot_discovery", "lists the device's interfaces"),
    0x65: ("Register Session", "ot_session", "opens an EtherNet/IP session"),
    0x66: ("Unregister Session", "ot_session", "closes an EtherNet/IP session"),
    0x6F: ("Send RR Data", "ot_read", "carries an unconnected CIP request"),
    0x70: ("Send Unit Data", "ot_read", "carries a connected CIP request"),
    0x72: ("Indicate Status", "ot_notification", "status indication"),
    0x73: ("Cancel", "ot_session", "cancel"),
}
_ENIP_NAMES = {_key(v[0]): k for k, v in _ENIP.items()}


@_cached
def enip_op(code: object, name: str | None) -> Op:
    num = _c(code)
    if num is None and name:
        num = _ENIP_NAMES.get(_key(name))
    known = _ENIP.get(num) if num is not None else None
    if known is None:
        return Op(name or str(code or "unknown"), num, "ot_undefined_function", "an unknown EtherNet/IP command")
    return Op(name or known[0], num, known[1], known[2])


# -- BACnet -------------------------------------------------------------------------------------------------------
_BACNET: dict[str, tuple[str, str]] = {
    "reinitialize_device": ("ot_restart", "ReinitializeDevice: cold/warm restart or backup/restore of the "
                                          "controller"),
    "device_communication_control": ("ot_comm_control", "DeviceCommunicationControl: can silence the device"),
    "write_property": ("ot_write", "WriteProperty: changes a point value or configuration"),
    "write_property_multiple": ("ot_write", "WritePropertyMultiple: changes several properties"),
    "write_group": ("ot_write", "WriteGroup: changes the values of a channel group"),
    "atomic_write_file": ("ot_file_transfer", "AtomicWriteFile: writes a file (program, configuration, "
                                              "firmware) on the controller"),
    "atomic_read_file": ("ot_read", "AtomicReadFile: reads a file from the controller"),
    "create_object": ("ot_config", "CreateObject"),
    "delete_object": ("ot_config", "DeleteObject"),
    "add_list_element": ("ot_config", "AddListElement"),
    "remove_list_element": ("ot_config", "RemoveListElement"),
    "life_safety_operation": ("ot_control", "LifeSafetyOperation: silences or resets life-safety (fire) alarms"),
    "vt_open": ("ot_engineering", "VT-Open: opens a remote virtual-terminal (console) session"),
    "vt_data": ("ot_engineering", "VT-Data: virtual-terminal session data"),
    "vt_close": ("ot_session", "VT-Close"),
    "acknowledge_alarm": ("ot_config", "AcknowledgeAlarm: operator alarm acknowledgement"),
    "confirmed_private_transfer": ("ot_engineering", "ConfirmedPrivateTransfer: a vendor-proprietary command"),
    "unconfirmed_private_transfer": ("ot_engineering", "UnconfirmedPrivateTransfer: a vendor-proprietary "
                                                       "command"),
    "you_are": ("ot_config", "You-Are: assigns a device identity/address"),
    "who_is": ("ot_discovery", "Who-Is: device discovery"),
    "who_has": ("ot_discovery", "Who-Has: object discovery"),
    "who_am_i": ("ot_discovery", "Who-Am-I"),
    "i_am": ("ot_identity", "I-Am: a device announces itself"),
    "i_have": ("ot_identity", "I-Have: a device announces an object"),
    "time_synchronization": ("ot_session", "TimeSynchronization"),
    "utc_time_synchronization": ("ot_session", "UTCTimeSynchronization"),
}


@_cached
def bacnet_op(service: str | None) -> Op | None:
    if not service or service == "-":
        return None
    s = service.strip().lower().replace("-", "_")
    if s.endswith("_request"):
        s = s[:-8]
    what = _BACNET.get(s)
    if what is None:
        if s.startswith(("read_", "get_", "subscribe_")) or s.endswith("_ack"):
            return Op(service, None, "ot_read", "reads properties or subscribes")
        if "notification" in s or s.startswith("unconfirmed_"):
            return Op(service, None, "ot_notification", "notification")
        if "router" in s or s in ("reject", "abort"):
            return Op(service, None, "ot_session", "network or error PDU")
        return Op(service, None, "ot_read", "BACnet service")
    return Op(s, None, what[0], what[1])


# -- OPC UA -------------------------------------------------------------------------------------------------------
_OPCUA: dict[str, tuple[str, str]] = {
    "write": ("ot_write", "writes node attributes (process values)"),
    "call": ("ot_invoke", "invokes a method on the server (can run control actions)"),
    "addnodes": ("ot_config", "adds nodes to the server address space"),
    "deletenodes": ("ot_config", "deletes nodes from the server address space"),
    "addreferences": ("ot_config", "adds references to the address space"),
    "deletereferences": ("ot_config", "deletes references from the address space"),
    "historyupdate": ("ot_write", "updates history"),
    "registerserver": ("ot_config", "registers a server"),
    "registerserver2": ("ot_config", "registers a server"),
    "opensecurechannel": ("ot_session", "opens a secure channel"),
    "closesecurechannel": ("ot_session", "closes a secure channel"),
    "createsession": ("ot_session", "creates a session"),
    "activatesession": ("ot_auth", "activates a session (authenticates the user)"),
    "closesession": ("ot_session", "closes a session"),
    "getendpoints": ("ot_discovery", "lists the server's endpoints and security policies"),
    "findservers": ("ot_discovery", "lists servers"),
    "findserversonnetwork": ("ot_discovery", "lists servers on the network"),
}


@_cached
def opcua_op(service: str | None) -> Op | None:
    if not service or service == "-":
        return None
    s = _key(service)
    for suffix in ("request", "response"):
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)]
            break
    what = _OPCUA.get(s)
    if what is None:
        return Op(service, None, "ot_read", "OPC UA service")
    return Op(service, None, what[0], what[1])


# -- IEC 61850 MMS ------------------------------------------------------------------------------------------------
MMS_PDU = {0: "confirmed-request", 1: "confirmed-response", 2: "confirmed-error", 3: "unconfirmed",
           4: "reject", 5: "cancel-request", 6: "cancel-response", 7: "cancel-error", 8: "initiate-request",
           9: "initiate-response", 10: "initiate-error", 11: "conclude-request", 12: "conclude-response",
           13: "conclude-error"}
MMS_SERVICE = {0: "status", 1: "getNameList", 2: "identify", 3: "rename", 4: "read", 5: "write",
               6: "getVariableAccessAttributes", 7: "defineNamedVariable", 11: "defineNamedVariableList",
               12: "getNamedVariableListAttributes", 13: "deleteNamedVariableList", 26: "initiateDownloadSequence",
               27: "downloadSegment", 28: "terminateDownloadSequence", 29: "initiateUploadSequence",
               30: "uploadSegment", 31: "terminateUploadSequence", 32: "requestDomainDownload",
               33: "requestDomainUpload", 34: "loadDomainContent", 35: "storeDomainContent", 36: "deleteDomain",
               37: "getDomainAttributes", 38: "createProgramInvocation", 39: "deleteProgramInvocation",
               40: "start", 41: "stop", 42: "resume", 43: "reset", 44: "kill",
               45: "getProgramInvocationAttributes", 72: "fileOpen", 73: "fileRead", 74: "fileClose",
               75: "fileRename", 76: "fileDelete", 77: "fileDirectory"}
_MMS_SERVICE_ACTION: dict[int, str] = {
    0: "ot_read", 1: "ot_read", 2: "ot_discovery", 3: "ot_config", 4: "ot_read", 5: "ot_write", 6: "ot_read",
    7: "ot_session", 11: "ot_session", 12: "ot_read", 13: "ot_session", 26: "ot_program_download",
    27: "ot_program_download", 28: "ot_program_download", 29: "ot_program_upload", 30: "ot_program_upload",
    31: "ot_program_upload", 32: "ot_program_download", 33: "ot_program_upload", 34: "ot_program_download",
    35: "ot_program_upload", 36: "ot_config", 37: "ot_read", 38: "ot_config", 39: "ot_config", 40: "ot_mode",
    41: "ot_stop", 42: "ot_mode", 43: "ot_restart", 44: "ot_stop", 45: "ot_read", 72: "ot_file_transfer",
    73: "ot_read", 74: "ot_session", 75: "ot_config", 76: "ot_file_delete", 77: "ot_read",
}
_MMS_MEANING = {
    0: "reads the server status", 1: "lists names (domains, variables, lists)", 2: "asks the server to identify "
    "itself", 4: "reads variables", 5: "writes variables", 6: "reads a variable's definition",
    7: "defines a named variable (client session set-up)", 11: "defines a data set (client report set-up)",
    12: "reads a named variable list's definition", 13: "deletes a data set (client report set-up)",
    26: "downloads a domain (program/configuration)",
    32: "downloads a domain (program/configuration)", 33: "uploads a domain", 40: "starts a program invocation",
    41: "stops a program invocation", 43: "resets a program invocation", 44: "kills a program invocation",
    72: "opens a file", 76: "deletes a file",
}
_MMS_PDU_ACTION = {2: "ot_exception", 3: "ot_notification", 4: "ot_exception", 5: "ot_session",
                   6: "ot_session", 7: "ot_exception", 8: "ot_session", 9: "ot_session", 10: "ot_exception",
                   11: "ot_session", 12: "ot_session", 13: "ot_exception"}


@_cached
def mms_op(pdu: int | None, service: int | None, item: str | None = None) -> Op:
    """An MMS PDU: requests by service; IEC 61850 writes told apart by what they write (report control blocks
    are client housekeeping, control objects operate the process, anything else changes a setting)."""
    pdu_name = MMS_PDU.get(pdu, f"pdu-{pdu}") if pdu is not None else "pdu"
    if pdu == 1:
        replied = MMS_SERVICE.get(service or -1, f"service-{service}")
        return Op(f"{replied} response", None, "ot_response", "responds to a request")
    if pdu != 0:
        return Op(pdu_name, None, _MMS_PDU_ACTION.get(pdu or -1, "ot_undefined_function"),
                  "a PDU type that is not defined" if pdu not in MMS_PDU else "")
    sname = MMS_SERVICE.get(service if service is not None else -1)
    if sname is None:
        return Op(f"service-{service}", service, "ot_undefined_function", "an unknown MMS service")
    action = _MMS_SERVICE_ACTION.get(service or 0, "ot_read")
    meaning = _MMS_MEANING.get(service or 0, f"MMS {sname}")
    if service == 5:
        obj = item or ""
        if "$RP$" in obj or "$BR$" in obj or "$LG$" in obj or "$GO$" in obj:
            action, meaning = "ot_session", "configures a report/log control block (the client's subscription)"
        elif "$CO$" in obj:
            action, meaning = "ot_control", "operates a control object (IEC 61850 Oper/Select/Cancel)"
        else:
            meaning = "writes a data attribute (setting or set-point)"
    return Op(sname, service, action, meaning)


# -- addresses ----------------------------------------------------------------------------------------------------
_PUBLIC: dict[str, bool] = {}


def is_public(addr: str | None) -> bool:
    """A globally routable unicast address (not private, loopback, link-local, multicast, documentation…)."""
    if not addr:
        return False
    known = _PUBLIC.get(addr)
    if known is not None:
        return known
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        ok = bool(ip.is_global) and not ip.is_multicast
    except ValueError:
        ok = False
    if len(_PUBLIC) >= 65536:
        _PUBLIC.clear()
    _PUBLIC[addr] = ok
    return ok
