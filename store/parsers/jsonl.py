"""JSON lines: a generic mapping of common keys, plus named profiles for Wazuh alerts.json and Zabbix export.

Nesting is bounded before decoding (a hostile 100k-deep line must not reach the recursive decoder) and a
truncated object is stored raw with a parse error rather than dropped.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from store.parsers.common import epoch_to_utc, ip_or_none, level_severity, parse_iso, port_or_none
from store.parsers.eve import eve_event, is_eve
from store.parsers.journal import is_journal, journal_event, repeated_read_keys
from store.parsers.syslog import SyslogParser
from store.parsers.webapps.jsonapps import recognise_json
from store.parsers.zeek import json_record_event

MAX_DEPTH = 64
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)

TS_KEYS = ("timestamp", "@timestamp", "time", "ts", "datetime", "date", "eventTime", "__REALTIME_TIMESTAMP")
HOST_KEYS = ("host", "hostname", "_HOSTNAME", "computer", "Computer")
APP_KEYS = ("app", "application", "program", "service", "SYSLOG_IDENTIFIER", "logger", "source")
MSG_KEYS = ("message", "msg", "MESSAGE", "log", "text")
LEVEL_KEYS = ("level", "severity", "log.level", "levelname", "PRIORITY", "loglevel")
# Structural keys only (a JSON value cannot forge a key); the first present wins.
SRC_IP_KEYS = ("src_ip", "srcip", "source_ip", "client_ip", "remote_addr", "ip", "remote_ip", "remoteAddr",
               "remote_address", "clientIp", "clientIP", "client_address", "visitor_ip", "ipAddress", "ip_address")
USER_KEYS = ("user", "username", "user_name", "usr")
_WATCHED_KEYS = SRC_IP_KEYS + USER_KEYS

# Zabbix trigger severity 0–5 → syslog severity.
ZABBIX_SEVERITY = {0: 6, 1: 6, 2: 4, 3: 3, 4: 2, 5: 1}


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _finite_float(text: str) -> float | str:
    # 1e400 decodes to inf, which is not JSON either: keep the number's text.
    v = float(text)
    return v if v - v == 0 else text


def _without_surrogates(obj: Any) -> Any:
    if isinstance(obj, str):
        return _LONE_SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, list):
        return [_without_surrogates(v) for v in obj]
    if isinstance(obj, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in obj.items()}
    return obj


def _constant_as_text(name: str) -> str:
    # NaN/Infinity are accepted by Python's decoder but are not JSON; keep them as text so `fields` stays valid.
    return name


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True if brackets nest deeper than `limit` (strings ignored). Cheap unless the line is bracket-heavy."""
    if text.count("{") + text.count("[") <= limit:
        return False
    depth = 0
    for ch in _STRINGS.sub("", text):
        if ch == "{" or ch == "[":
            depth += 1
            if depth > limit:
                return True
        elif ch == "}" or ch == "]":
            depth -= 1
    return False


def _scalar_str(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return None


def _json_ts(v: Any, received_at: datetime) -> datetime | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return epoch_to_utc(v)
    if isinstance(v, str) and v:
        if v.isdigit():
            return epoch_to_utc(int(v)) if len(v) < 21 else None
        return parse_iso(v[:64], received_at)
    return None


def _pop_first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in obj:
            return obj.pop(k)
    return None


def _repeated_keys(text: str) -> frozenset[str]:
    """Top-level address/user keys the object gives twice. The decoder keeps the last copy; a logger that
    pasted a client's text into its JSON unescaped lets that text add one, so neither copy can be trusted."""
    # Cheap test first; a key spelled with \u escapes would not be counted, so those lines take the slow one.
    if "\\u" not in text and not any(text.count(f'"{k}"') > 1 for k in _WATCHED_KEYS):
        return frozenset()
    seen: list[frozenset[str]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        seen.append(frozenset(k for k in _WATCHED_KEYS if keys.count(k) > 1))
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs, parse_constant=_constant_as_text, parse_float=_finite_float)
    except (ValueError, RecursionError):
        return frozenset()
    return seen[-1] if seen else frozenset()  # the outermost object is decoded last


def _generic(obj: dict[str, Any], received_at: datetime, repeated: frozenset[str] = frozenset()) -> dict[str, Any]:
    ev: dict[str, Any] = {"format": "json"}
    rest = dict(obj)
    ts_v = _pop_first(rest, TS_KEYS)
    if ts_v is not None:
        ts = _json_ts(ts_v, received_at)
        if ts is None:
            rest["timestamp"] = ts_v
        ev["ts"] = ts
    host = _pop_first(rest, HOST_KEYS)
    if isinstance(host, dict):
        name = host.get("name") or host.get("hostname")
        if isinstance(name, str):
            ev["host"] = name
        rest["host"] = host
    elif _scalar_str(host) is not None:
        ev["host"] = _scalar_str(host)
    elif host is not None:
        rest["host"] = host
    app = _pop_first(rest, APP_KEYS)
    if _scalar_str(app) is not None:
        ev["app"] = _scalar_str(app)
    elif app is not None:
        rest["app"] = app
    msg = _pop_first(rest, MSG_KEYS)
    if _scalar_str(msg) is not None:
        ev["message"] = _scalar_str(msg)
    elif msg is not None:
        rest["message"] = msg
    level = _pop_first(rest, LEVEL_KEYS)
    sev = level_severity(level)
    if sev is not None:
        ev["severity"] = sev
    if level is not None:
        rest["level"] = level
    ambiguous = []
    ip_key = next((k for k in SRC_IP_KEYS if k in rest), None)
    ip = _pop_first(rest, SRC_IP_KEYS)
    if ip_key in repeated:
        rest["src_ip"] = ip
        ambiguous.append(ip_key)
    elif isinstance(ip, str) and ip_or_none(ip):
        ev["src_ip"] = ip
    elif ip is not None:
        rest["src_ip"] = ip
    user_key = next((k for k in USER_KEYS if k in rest), None)
    user = _pop_first(rest, USER_KEYS)
    if user_key in repeated:
        rest["user"] = user
        ambiguous.append(user_key)
    elif isinstance(user, str):
        ev["user"] = user
    elif user is not None:
        rest["user"] = user
    if ambiguous:
        rest["ambiguous"] = f"{', '.join(ambiguous)} given twice; not mapped"
    if "_PID" in rest:
        pid = rest["_PID"]
        if isinstance(pid, str) and pid.isdigit() and len(pid) < 19:
            ev["pid"] = int(pid)
    ev["fields"] = rest or None
    return ev


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    v = parent.get(key)
    return v if isinstance(v, dict) else {}


def _wazuh(obj: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    ev: dict[str, Any] = {"format": "wazuh", "category": "security"}
    ts = obj.get("timestamp")
    if isinstance(ts, str):
        ev["ts"] = parse_iso(ts, received_at)
    agent = _obj(obj, "agent")
    if isinstance(agent.get("name"), str):
        ev["host"] = agent["name"]
    rule = _obj(obj, "rule")
    decoder = _obj(obj, "decoder")
    data = _obj(obj, "data")
    if isinstance(rule.get("description"), str):
        ev["message"] = rule["description"]
    if isinstance(decoder.get("name"), str):
        ev["app"] = decoder.get("parent") if isinstance(decoder.get("parent"), str) else decoder["name"]
    level = rule.get("level")
    if isinstance(level, int) and not isinstance(level, bool):
        # Wazuh levels 0–15(16): ≥12 critical, ≥10 error, ≥7 warning, ≥4 notice, else info.
        ev["severity"] = (2 if level >= 12 else 3 if level >= 10 else 4 if level >= 7
                          else 5 if level >= 4 else 6)
    ip = data.get("srcip")
    if isinstance(ip, str) and ip_or_none(ip):
        ev["src_ip"] = ip
    port = port_or_none(data.get("srcport"))
    if port is not None:
        ev["src_port"] = port
    dst = data.get("dstip")
    if isinstance(dst, str) and ip_or_none(dst):
        ev["dst_ip"] = dst
    user = data.get("dstuser") or data.get("srcuser")
    if isinstance(user, str) and user:
        ev["user"] = user
    full_log = obj.get("full_log")
    disputed = _recheck_peer(ev, full_log, received_at) if isinstance(full_log, str) and full_log else None
    groups = rule["groups"] if isinstance(rule.get("groups"), list) else []
    gset = {g for g in groups if isinstance(g, str)}
    if gset & {"authentication_failed", "authentication_failures", "invalid_login"}:
        ev["category"], ev["outcome"] = "authentication", "failure"
    elif "authentication_success" in gset:
        ev["category"], ev["outcome"] = "authentication", "success"
    fields: dict[str, Any] = {
        "rule": {k: rule[k] for k in ("id", "level", "groups", "mitre", "firedtimes", "pci_dss", "gdpr")
                 if k in rule},
        "full_log": obj.get("full_log"),
        "location": obj.get("location"),
        "decoder": decoder or None,
        "alert_id": obj.get("id"),
        "agent": agent or None,
    }
    if data:
        fields["data"] = data
    for k in ("manager", "cluster", "syscheck", "previous_output", "predecoder"):
        if k in obj:
            fields[k] = obj[k]
    ev["fields"] = {k: v for k, v in fields.items() if v is not None}
    if disputed:
        ev["fields"]["ambiguous"] = disputed
    return ev


def _recheck_peer(ev: dict[str, Any], full_log: str, received_at: datetime) -> str | None:
    """Wazuh's own decoders read sshd's address with unanchored patterns ("Failed … for (\\S+) from (\\S+)"), so a
    crafted user name moves it. Where our parser reads the original line as an auth program's, its address (or
    its refusal to name one) replaces Wazuh's srcip; returns the note when they disagree."""
    own = SyslogParser().parse(full_log[:65536], received_at)
    own_fields = (own or {}).get("fields") or {}
    if not own or not isinstance(own_fields.get("action"), str):
        return None
    theirs, ours = ev.get("src_ip"), own.get("src_ip")
    if theirs is None or theirs == ours:
        return None
    ev.pop("src_ip", None)
    ev.pop("src_port", None)
    if ours:
        ev["src_ip"] = ours
        if own.get("src_port") is not None:
            ev["src_port"] = own["src_port"]
    return (f"Wazuh's srcip {theirs} is not the address the original line's own tail names "
            f"({ours or 'none it can be sure of'}); that one is used")


def _zabbix(obj: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    ev: dict[str, Any] = {"format": "zabbix", "category": "monitoring", "app": "zabbix"}
    clock, ns = obj.get("clock"), obj.get("ns")
    if isinstance(clock, int) and not isinstance(clock, bool):
        nsv = ns if isinstance(ns, int) and not isinstance(ns, bool) and 0 <= ns < 10**9 else 0
        ts = epoch_to_utc(clock)
        if ts is not None:
            ev["ts"] = ts.replace(microsecond=nsv // 1000)
    fields = {k: v for k, v in obj.items() if k not in ("clock", "ns")}
    value = obj.get("value")
    hosts = obj.get("hosts")
    if "itemid" in obj:
        fields["kind"] = "item"
        host = obj.get("host")
        if isinstance(host, dict) and isinstance(host.get("host"), str):
            ev["host"] = host["host"]
        name = obj.get("name")
        ev["message"] = f"{name if isinstance(name, str) else obj['itemid']} = {value}"
    elif value == 1 and "eventid" in obj:
        fields["kind"] = "problem"
        if isinstance(obj.get("name"), str):
            ev["message"] = obj["name"]
        sev = obj.get("severity")
        if isinstance(sev, int) and sev in ZABBIX_SEVERITY:
            ev["severity"] = ZABBIX_SEVERITY[sev]
        if isinstance(hosts, list) and hosts:
            # Zabbix 5.0+ exports {host, name} objects; 4.x exported visible names as plain strings.
            h = hosts[0].get("host") if isinstance(hosts[0], dict) else hosts[0]
            if isinstance(h, str):
                ev["host"] = h
        ev["outcome"] = "failure"
    elif value == 0 and "p_eventid" in obj:
        fields["kind"] = "recovery"
        ev["message"] = f"recovery of problem {obj['p_eventid']}"
        ev["outcome"] = "success"
        ev["severity"] = 6
    else:
        fields["kind"] = "other"
    ev["fields"] = fields
    return ev


def detect_profile(obj: dict[str, Any]) -> str:
    if isinstance(obj.get("rule"), dict) and ("agent" in obj or "manager" in obj) and "timestamp" in obj:
        return "wazuh"
    if "clock" in obj and "ns" in obj and ("eventid" in obj or "itemid" in obj or "p_eventid" in obj):
        return "zabbix"
    if is_eve(obj):
        return "suricata"
    if is_journal(obj):
        return "journal"
    if "_path" in obj or ("uid" in obj and "id.orig_h" in obj):
        return "zeek"
    return "json"


PROFILES = {"json": _generic, "wazuh": _wazuh, "zabbix": _zabbix, "suricata": eve_event, "zeek": json_record_event,
            "journal": journal_event}


class JsonLinesParser:
    """One JSON object per line. `profile` forces a mapping; None picks one per object."""

    def __init__(self, name: str = "json", profile: str | None = None) -> None:
        self.name = name
        self._profile = profile

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        s = text.lstrip()
        if not s.startswith("{"):
            return None
        if too_deep(s):
            return {"format": "json", "message": text,
                    "parse_error": f"JSON nested deeper than {MAX_DEPTH} levels; stored raw"}
        try:
            obj = json.loads(s, parse_constant=_constant_as_text, parse_float=_finite_float)
        except (ValueError, RecursionError) as exc:
            return {"format": "json", "message": text, "parse_error": f"invalid JSON ({exc}); stored raw"}
        if _SURROGATE_ESCAPE.search(s):
            # "\udc80" decodes to a lone surrogate, which cannot be stored as UTF-8 text downstream.
            obj = _without_surrogates(obj)
        if not isinstance(obj, dict):
            return {"format": "json", "message": text, "parse_error": "JSON line is not an object"}
        profile = self._profile or detect_profile(obj)
        try:
            if profile == "journal":
                return journal_event(obj, received_at, repeated_read_keys(s))
            if profile == "json" or profile not in PROFILES:
                repeated = _repeated_keys(s)
                ev = _generic(obj, received_at, repeated)
                # An address or user key given twice has two readings: no application's meaning is read then.
                if profile == "json" and not repeated:
                    recognise_json(obj, ev, received_at)
                return ev
            return PROFILES[profile](obj, received_at)
        except (TypeError, ValueError, AttributeError) as exc:
            if profile == "journal":  # the generic mapping would read client-written keys as an address
                return {"format": "journal", "message": text, "parse_error": f"journal record: {type(exc).__name__}"}
            # A profile met a shape it does not know: keep the object, generically mapped.
            ev = _generic(obj, received_at, _repeated_keys(s))
            ev["parse_error"] = f"{profile} profile: {type(exc).__name__}: {exc}"
            return ev
