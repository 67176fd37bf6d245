"""ArcSight CEF and IBM QRadar LEEF 1.0/2.0 payloads, bare or inside a syslog envelope.

Security appliances (firewalls, IDS, OT gateways) speak these; we map the common keys (src, dst, ports,
users) to columns and keep the header and every extension key in `fields`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.common import epoch_to_utc, ip_or_none, parse_iso, port_or_none

_HDR = r"([^|\\]*(?:\\.[^|\\]*)*)\|"
_CEF_HEADER = re.compile(r"CEF: ?(\d+(?:\.\d+)?)\|" + _HDR * 6 + r"(.*)", re.S)
# A key is a run of key characters preceded by start or a space and followed by an '='. Key characters never
# include '\', so an escaped "\=" inside a value can never end a key.
_CEF_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\-\[\]]+)=")
_CEF_HEADER_UNESCAPE = re.compile(r"\\([|\\])")
_CEF_VALUE_UNESCAPE = re.compile(r"\\([=\\nr|])")
# Some LEEF 1.0 senders omit the pipe after the event id and go straight to the TAB-separated attributes.
_LEEF_HEADER = re.compile(r"LEEF: ?([12]\.0)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|\t]*)(?:\||(?=\t)|$)(.*)", re.S)

_CEF_WORD_SEVERITY = {"unknown": None, "low": 5, "medium": 4, "high": 3, "very-high": 2, "very high": 2}

CEF_COLUMNS = {"src": "src_ip", "spt": "src_port", "dst": "dst_ip", "suser": "user"}
LEEF_COLUMNS = {"src": "src_ip", "srcPort": "src_port", "dst": "dst_ip", "usrName": "user"}


def _cef_header_unescape(s: str) -> str:
    return _CEF_HEADER_UNESCAPE.sub(r"\1", s) if "\\" in s else s


def _cef_value_unescape(s: str) -> str:
    if "\\" not in s:
        return s
    return _CEF_VALUE_UNESCAPE.sub(lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), s)


def cef_severity(value: str) -> int | None:
    """CEF severity (0–10 or Low/Medium/High/Very-High) → syslog severity 0–7."""
    v = value.strip()
    if v.isdigit() and len(v) <= 2:
        n = int(v)
        if n > 10:
            return None
        return 5 if n <= 3 else 4 if n <= 6 else 3 if n <= 8 else 2
    return _CEF_WORD_SEVERITY.get(v.lower())


def parse_cef_extension(ext: str) -> dict[str, str]:
    """`k=v k2=v with spaces` → {k: v}; values end where the next key starts (looking back from '=')."""
    return _cef_extension(ext)[0]


def _cef_extension(ext: str) -> tuple[dict[str, str], set[str]]:
    """The extension's keys and values, and the keys that appear more than once."""
    out: dict[str, str] = {}
    twice: set[str] = set()
    keys = list(_CEF_KEY.finditer(ext))
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(ext)
        if m[1] in out:
            twice.add(m[1])
        out[m[1]] = _cef_value_unescape(ext[m.end():end].rstrip(" "))
    return out, twice


def _apply_columns(ev: dict[str, Any], ext: dict[str, str], mapping: dict[str, str],
                   twice: set[str]) -> str | None:
    """Map keys to columns; returns why some were not. A mapped key given twice (a device that did not escape
    '=' in a user-supplied value lets that value add keys) is left out: either copy could be the forged one."""
    withheld = sorted(k for k in mapping if k in twice)
    for key, col in mapping.items():
        v = ext.get(key)
        if not v or key in twice:
            continue
        if col == "src_port":
            p = port_or_none(v)
            if p is not None:
                ev[col] = p
        elif col in ("src_ip", "dst_ip"):
            ip = ip_or_none(v)
            if ip is not None:
                ev[col] = ip
        else:
            ev[col] = v
    return f"{', '.join(withheld)} given twice; not mapped" if withheld else None


def parse_cef(payload: str, ev: dict[str, Any]) -> bool:
    """Fill `ev` from a `CEF:…` payload; False if it is not CEF after all."""
    m = _CEF_HEADER.match(payload)
    if m is None:
        return False
    ext, twice = _cef_extension(m[8])
    sev = cef_severity(m[7])
    if sev is not None:
        ev["severity"] = sev
    name = _cef_header_unescape(m[6])
    ev["message"] = ext.get("msg") or name
    ev["category"] = ext.get("cat") or "security"
    ambiguous = _apply_columns(ev, ext, CEF_COLUMNS, twice)
    rt = ext.get("rt")
    if rt and rt.isdigit():
        ts = epoch_to_utc(int(rt))
        if ts is not None:
            ev["ts"] = ts
    outcome = (ext.get("outcome") or ext.get("categoryOutcome") or "").strip("/").lower()
    if outcome in ("success", "failure"):
        ev["outcome"] = outcome
    fields = ev.get("fields") or {}
    fields["cef"] = {
        "version": m[1],
        "vendor": _cef_header_unescape(m[2]),
        "product": _cef_header_unescape(m[3]),
        "device_version": _cef_header_unescape(m[4]),
        "signature_id": _cef_header_unescape(m[5]),
        "name": name,
        "severity": m[7],
    }
    fields["ext"] = ext
    if ambiguous:
        fields["ambiguous"] = ambiguous
    ev["fields"] = fields
    ev["format"] = "cef"
    return True


def _leef_delimiter(spec: str) -> str | None:
    s = spec.strip()
    if not s:
        return None
    if len(s) == 1:
        return s
    low = s.lower()
    if low.startswith("0x"):
        low = low[2:]
    elif low.startswith("x"):
        low = low[1:]
    if 1 <= len(low) <= 4:
        try:
            return chr(int(low, 16))
        except ValueError:
            return None
    return None


def parse_leef(payload: str, ev: dict[str, Any], received_at: datetime) -> bool:
    """Fill `ev` from a `LEEF:1.0|…` or `LEEF:2.0|…|delim|…` payload; False if it is not LEEF."""
    m = _LEEF_HEADER.match(payload)
    if m is None:
        return False
    version, rest = m[1], m[6]
    delim = "\t"
    if version == "2.0":
        spec, bar, attrs = rest.partition("|")
        d = _leef_delimiter(spec) if bar else None
        if d is not None:
            delim, rest = d, attrs
        elif bar and not spec:
            rest = attrs
    attrs_d: dict[str, str] = {}
    twice: set[str] = set()
    for part in rest.split(delim):
        k, eq, v = part.partition("=")
        k = k.strip()
        if eq and k:
            if k in attrs_d:
                twice.add(k)
            attrs_d[k] = v
    ambiguous = _apply_columns(ev, attrs_d, LEEF_COLUMNS, twice)
    sev = attrs_d.get("sev")
    if sev and sev.strip().isdigit():
        s = cef_severity(sev)
        if s is not None:
            ev["severity"] = s
    ev["category"] = attrs_d.get("cat") or "security"
    ev["message"] = attrs_d.get("msg") or m[5]
    dev_time = attrs_d.get("devTime")
    if dev_time:
        # Epoch millis, or a date whose pattern is in devTimeFormat; ISO-like ones are read directly.
        ts = epoch_to_utc(int(dev_time)) if dev_time.isdigit() and len(dev_time) < 20 else parse_iso(
            dev_time[:40], received_at)
        if ts is not None:
            ev["ts"] = ts
    fields = ev.get("fields") or {}
    fields["leef"] = {"version": version, "vendor": m[2], "product": m[3], "product_version": m[4],
                      "event_id": m[5]}
    fields["ext"] = attrs_d
    if ambiguous:
        fields["ambiguous"] = ambiguous
    ev["fields"] = fields
    ev["format"] = "leef"
    return True


def parse_payload(payload: str, ev: dict[str, Any], received_at: datetime) -> bool:
    if payload.startswith("CEF:"):
        return parse_cef(payload, ev)
    if payload.startswith("LEEF:"):
        return parse_leef(payload, ev, received_at)
    return False


class CefLeefParser:
    """Bare CEF/LEEF lines (no syslog envelope), e.g. a file a SIEM connector wrote."""

    name = "cefleef"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not (text.startswith("CEF:") or text.startswith("LEEF:")):
            return None
        ev: dict[str, Any] = {}
        if not parse_payload(text, ev, received_at):
            return None
        return ev
