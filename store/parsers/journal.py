"""systemd journal export as JSON (`journalctl -o json`, one object per line): the record becomes the event the
same program's syslog line gives. MESSAGE goes to the same per-program readers the syslog parser calls (sshd/PAM in
store.parsers.auth, the service extractors in store.parsers.services, CEF/LEEF payloads), with SYSLOG_IDENTIFIER
(else _COMM) as the program, so an sshd failure has the same src_ip, user and action either way. A kernel audit
record journald collected itself (_TRANSPORT=audit) gives the event of its audit.log line (store.parsers.auditd).

Trust: a journal record's keys without a leading underscore are written by the logging client, and any program
may add keys of its own (`logger --journald`, sd_journal_send). None of them ever supplies an address, a user or
an action: those come only from MESSAGE, read by the program's own reader at the position the program writes
them. Of the other keys only journald's own trusted metadata (`_SYSTEMD_UNIT`, `_TRANSPORT`, `_UID`, `_EXE`, …)
is kept in `fields`, under names of its own that no reader or rule treats as an address.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from store.parsers.auditd import parse_record
from store.parsers.auth import extract_auth, wants_auth
from store.parsers.cefleef import parse_payload
from store.parsers.services import extract_service

# journald's trusted metadata (set by journald from the kernel, never by the client) → `fields` key.
_KEEP = {"_SYSTEMD_UNIT": "unit", "_TRANSPORT": "transport", "_UID": "uid", "_GID": "gid", "_EXE": "exe",
         "_COMM": "comm", "_CMDLINE": "cmdline", "_BOOT_ID": "boot_id"}
_MAX_MESSAGE = 65536
# The keys whose value is read; one given twice has two readings (the decoder silently keeps the last).
_READ_KEYS = ("MESSAGE", "SYSLOG_IDENTIFIER", "_COMM", "_TRANSPORT", "_AUDIT_TYPE_NAME", "_AUDIT_ID")


def repeated_read_keys(text: str) -> frozenset[str]:
    """Top-level keys of `_READ_KEYS` the object's text gives more than once (journalctl never does)."""
    if "\\u" not in text and not any(text.count(f'"{k}"') > 1 for k in _READ_KEYS):
        return frozenset()
    top: list[frozenset[str]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        top.append(frozenset(k for k in _READ_KEYS if keys.count(k) > 1))
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return frozenset()
    return top[-1] if top else frozenset()  # the outermost object is decoded last


def is_journal(obj: dict[str, Any]) -> bool:
    return "__REALTIME_TIMESTAMP" in obj and "MESSAGE" in obj


def _text(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    # journalctl writes a MESSAGE that is not valid UTF-8 as an array of byte values.
    if isinstance(v, list) and len(v) <= _MAX_MESSAGE and all(isinstance(b, int) and 0 <= b < 256 for b in v):
        return bytes(v).decode("utf-8", "replace")
    return None


def _small_int(v: Any) -> int | None:
    if isinstance(v, str) and v.isdigit() and len(v) < 19:
        return int(v)
    return None


def _ts(v: Any) -> datetime | None:
    us = _small_int(v)
    if us is None:
        return None
    try:
        return datetime.fromtimestamp(us / 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _audit(obj: dict[str, Any], msg: str, ev: dict[str, Any]) -> bool:
    # journald's own copy of a kernel audit record (_TRANSPORT=audit, set by journald): MESSAGE is "TYPE body";
    # the record's serial and time are trusted keys. Rebuilt as the audit.log line, it is read by the same reader.
    name, serial = obj.get("_AUDIT_TYPE_NAME"), _small_int(obj.get("_AUDIT_ID"))
    us = _small_int(obj.get("_SOURCE_REALTIME_TIMESTAMP")) or _small_int(obj.get("__REALTIME_TIMESTAMP"))
    if not isinstance(name, str) or serial is None or us is None or not msg.startswith(name + " "):
        return False
    record = f"type={name} msg=audit({us // 1_000_000}.{us // 1000 % 1000:03d}:{serial}): {msg[len(name) + 1:]}"
    return parse_record(record, ev)


def journal_event(obj: dict[str, Any], received_at: datetime, repeated: frozenset[str] = frozenset()
                  ) -> dict[str, Any]:
    ev: dict[str, Any] = {"format": "journal"}
    ts = _ts(obj.get("__REALTIME_TIMESTAMP"))
    if ts is not None:
        ev["ts"] = ts
    host = obj.get("_HOSTNAME")
    if isinstance(host, str) and host:
        ev["host"] = host
    app = obj.get("SYSLOG_IDENTIFIER")
    if not (isinstance(app, str) and app):
        app = obj.get("_COMM")
    app = app if isinstance(app, str) and app else None
    if app is not None:
        ev["app"] = app
    pid = _small_int(obj.get("SYSLOG_PID"))
    if pid is None:
        pid = _small_int(obj.get("_PID"))
    if pid is not None:
        ev["pid"] = pid
    prio = _small_int(obj.get("PRIORITY"))
    if prio is not None and prio <= 7:
        ev["severity"] = prio
    fac = _small_int(obj.get("SYSLOG_FACILITY"))
    if fac is not None and fac <= 23:
        ev["facility"] = fac
    msg = _text(obj.get("MESSAGE"))
    if msg is None:
        ev["parse_error"] = "journal MESSAGE is neither text nor bytes"
        msg = ""
    msg = msg[:_MAX_MESSAGE]
    ev["message"] = msg
    if repeated:
        ev["parse_error"] = f"journal key(s) {', '.join(sorted(repeated))} given twice; message not read"
    # The same dispatch as the syslog parser's, so the two inputs cannot drift apart.
    if repeated or (obj.get("_TRANSPORT") == "audit" and _audit(obj, msg, ev)):
        pass
    elif app is not None and wants_auth(app, msg):
        extract_auth(app, msg, ev)
    elif msg.startswith("CEF:") or msg.startswith("LEEF:"):
        parse_payload(msg, ev, received_at)
    elif app is not None:
        extract_service(app, msg, ev)
    meta = {name: obj[key] for key, name in _KEEP.items() if isinstance(obj.get(key), str)}
    if meta:
        fields = ev.get("fields")
        if not isinstance(fields, dict):
            fields = {}
        for name, value in meta.items():
            fields.setdefault("journal_" + name if name in fields else name, value)
        ev["fields"] = fields
    return ev
