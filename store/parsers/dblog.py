"""Databases' own log files: the MySQL/MariaDB error log (and the general log's `Connect` records), PostgreSQL's
stderr log (any `log_line_prefix`), csvlog and jsonlog, SQL Server's ERRORLOG and its Windows Application events
18456/18453/18454 as XML, MongoDB's JSON and text logs and CouchDB's log.

The meaning of each record is shared with the syslog extractors (store/parsers/services/database.py).
"""

from __future__ import annotations

import csv
import html
import json
import re
from datetime import datetime
from typing import Any

from store.parsers.services.database import (
    DB,
    couchdb_line,
    mongodb_record,
    mongodb_text,
    mssql_message,
    mysql_message,
    postgres_line,
    postgres_message,
)
from store.parsers.services.normalised import iso_time, mark

_MY = re.compile(
    r"(?:(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)(?:T| {1,2})(?P<h>\d{1,2}):(?P<mi>\d\d):(?P<s>\d\d)(?P<frac>\.\d{1,6})?"
    r"(?P<tz>Z|[+-]\d\d:\d\d)?|(?P<yy>\d\d)(?P<mo2>\d\d)(?P<d2>\d\d) {1,2}(?P<h2>\d{1,2}):(?P<mi2>\d\d):(?P<s2>\d\d))"
    r"\s+(?:(?P<thread>\d{1,20})\s+)?(?P<rest>(?:\[(?:Note|Warning|ERROR|Error|System|Info|Debug)\]|Connect\s"
    r"|Query\s|Quit|Init DB\s).*)\Z", re.S)
_PG_TS = re.compile(r"(?:(?P<lead>[0-9A-Fa-f:.]{2,45})(?:\(\d{1,5}\))? )?(?P<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d"
                    r"(?:\.\d{1,6})?)(?: ?(?P<tz>[A-Z]{2,5}|[+-]\d\d(?::?\d\d)?))?")
# PostgreSQL's stderr log writes two spaces after the severity; a syslog header (`host tag[pid]: `) is not a prefix.
_PG_MARK = re.compile(r"(?:LOG|FATAL|ERROR|WARNING|PANIC|NOTICE|INFO|DETAIL|HINT|STATEMENT|CONTEXT|DEBUG[1-5]?"
                      r"|LOCATION):  ")
_SYSLOG_HEAD = re.compile(r"\S{10,40} \S{1,255} [^\s\[\]:]{1,128}(?:\[\d{1,10}\])?: ")
_MSSQL = re.compile(r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d\d) (?P<src>Logon|Server|Backup|spid\d{1,6}s?) +"
                    r"(?P<msg>.*)\Z", re.S)
_XML_PROVIDER = re.compile(r"<Provider Name=['\"](?P<p>MSSQLSERVER|MSSQL\$[^'\"<>]{1,64})['\"]")
_XML_EVENTID = re.compile(r"<EventID(?: [^>]{0,100})?>(?P<id>\d{1,6})</EventID>")
_XML_TIME = re.compile(r"<TimeCreated SystemTime=['\"](?P<t>[^'\"<>]{10,40})['\"]")
_XML_COMPUTER = re.compile(r"<Computer>(?P<c>[^<]{1,255})</Computer>")
_XML_EVENTDATA = re.compile(r"<EventData>(?P<d>.*?)</EventData>", re.S)
_XML_DATA = re.compile(r"<Data(?: Name=['\"][^'\"<>]{0,64}['\"])?(?:>(?P<v>[^<]*)</Data>|\s*/>)")
_XML_CLIENT = re.compile(r"\s*\[CLIENT: (?P<ip>[^\]\s]{1,60})\]\s*")
_COUCH_LEVELS = ("[notice] ", "[info] ", "[error] ", "[warning] ", "[debug] ", "[critical] ", "[alert] ",
                 "[emergency] ")
_UTC_NAMES = ("UTC", "GMT", "Z")


def _colon_tz(ts: str) -> str:
    """`…+0000` → `…+00:00` (MongoDB's text log writes the offset without a colon)."""
    if len(ts) > 5 and ts[-5] in "+-" and ts[-4:].isdigit():
        return ts[:-2] + ":" + ts[-2:]
    return ts


def _pg_zone(ts: str) -> str:
    """`2021-09-28 09:22:18.536 UTC` → an ISO text with offset; other zone names are left to the receiver's zone."""
    head, sep, zone = ts.rpartition(" ")
    if sep and zone.isalpha():
        return head + ("+00:00" if zone in _UTC_NAMES else "")
    return ts


def _mysql_ts(m: re.Match[str], received_at: datetime) -> datetime | None:
    if m["y"]:
        iso = f"{m['y']}-{m['mo']}-{m['d']}T{int(m['h']):02d}:{m['mi']}:{m['s']}{m['frac'] or ''}{m['tz'] or ''}"
    else:
        iso = f"20{m['yy']}-{m['mo2']}-{m['d2']}T{int(m['h2']):02d}:{m['mi2']}:{m['s2']}"
    return iso_time(iso, received_at)


_MONGO_TEXT = re.compile(r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:?\d\d)?) "
                         r"(?P<sev>[FEWID]\d?) (?P<comp>[A-Z_-]{1,20}) +\[(?P<ctx>[^\]]{1,60})\] (?P<msg>.*)\Z", re.S)
_PG_CSV = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})? ?[A-Z]{0,5}[+-]?[\d:]{0,5},")
_PG_SEVERITIES = frozenset({"LOG", "FATAL", "ERROR", "WARNING", "PANIC", "NOTICE", "INFO", "DEBUG", "DEBUG1",
                            "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5"})
_PG_PID = re.compile(r"\[(?P<pid>\d{1,10})\]")
_PID_CACHE = 4096


class DatabaseLogParser:
    """MySQL/MariaDB, PostgreSQL, SQL Server (ERRORLOG and XML events), MongoDB JSON and CouchDB log lines.

    PostgreSQL's default prefixes (`%m [%p] `, Debian's `%m [%p] %q%u@%d `) carry no client address, but with
    log_connections on, each backend's first record is `connection received: host=ip`. The parser remembers that
    address per backend pid (per source, bounded) and lends it to the same backend's later login records.
    """

    name = "dblog"

    def __init__(self) -> None:
        self._pg_clients: dict[str, tuple[str, int | None]] = {}

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        c = text[0]
        if c == "{":
            if '"$date"' in text[:60]:
                return self._mongodb(text, received_at)
            return self._pg_json(text, received_at) if '"error_severity"' in text else None
        if c == "<":
            return self._mssql_event(text, received_at) if text.startswith("<Event") else None
        if c == "[":
            return self._couchdb(text, received_at) if text.startswith(_COUCH_LEVELS) else None
        if not (c.isdigit() or c in "abcdefABCDEF:"):
            return None
        if c.isdigit():
            m = _MSSQL.match(text)
            if m:
                ev: dict[str, Any] = {"format": "mssql", "ts": iso_time(m["ts"], received_at), "app": "mssql",
                                      "service": "mssql", "category": DB, "message": m["msg"],
                                      "fields": {"source": m["src"]}}
                mssql_message(m["msg"], ev)
                return ev
            mt = _MONGO_TEXT.match(text) if text[10:11] == "T" else None
            if mt:
                ev = {"format": "mongodb", "ts": iso_time(_colon_tz(mt["ts"]), received_at), "app": "mongod",
                      "service": "mongodb", "category": DB, "message": mt["msg"],
                      "fields": {"level": mt["sev"], "component": mt["comp"], "context": mt["ctx"]}}
                mongodb_text(mt["msg"], ev)
                return ev
            my = _MY.match(text)
            # MySQL 5.6+ and MariaDB write the thread id after an ISO stamp; only 5.5's YYMMDD stamp has none.
            if my and (my["thread"] or my["yy"]):
                ev = {"format": "mysql", "ts": _mysql_ts(my, received_at), "app": "mysqld", "service": "mysql",
                      "category": DB, "message": my["rest"]}
                if my["thread"]:
                    ev["fields"] = {"thread": int(my["thread"])}
                mysql_message(my["rest"], ev)
                return ev
        return self._postgres(text, received_at)

    def _postgres(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if _PG_CSV.match(text):
            return self._pg_csv(text, received_at)
        if _PG_MARK.search(text) is None or _SYSLOG_HEAD.match(text):
            return None
        m = _PG_TS.match(text)
        if not m or (m["lead"] is not None and ":" not in m["lead"] and "." not in m["lead"]):
            return None
        ev: dict[str, Any] = {"format": "postgresql", "app": "postgres", "service": "postgresql", "category": DB}
        if not postgres_line(text, ev):
            return None
        self._backend_address(text, ev)
        tz = m["tz"]
        ts = m["ts"]
        if tz in _UTC_NAMES:
            ts += "+00:00"
        elif tz and tz[0] in "+-":
            ts += tz if ":" in tz or len(tz) == 3 else tz[:3] + ":" + tz[3:]
        ev["ts"] = iso_time(ts, received_at)
        sev = text.find(":  ")
        ev["message"] = text[sev + 3:] if sev >= 0 else text
        return ev

    def _pg_structured(self, ts: str | None, severity: str, msg: str, ip: str | None, port: object, user: object,
                       pid: object, received_at: datetime, fmt: str) -> dict[str, Any] | None:
        if severity not in _PG_SEVERITIES:
            return None
        ev: dict[str, Any] = {"format": fmt, "app": "postgres", "service": "postgresql", "category": DB,
                              "ts": iso_time(_pg_zone(ts), received_at) if ts else None, "message": msg}
        extra: dict[str, Any] = {"level": severity, "protocol": "postgresql",
                                 "backend_pid": pid if isinstance(pid, int) else None}
        postgres_message(severity, msg, ip, ev, extra)
        if ev.get("src_ip") and port is not None:
            mark(ev, None, ip=ev["src_ip"], port=port)
        if ev.get("user") is None and isinstance(user, str) and user:
            ev["user"] = user[:256]
        return ev

    def _pg_csv(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        # csvlog: log_time,user_name,database_name,process_id,connection_from,session_id,session_line_num,
        # command_tag,session_start_time,virtual_transaction_id,transaction_id,error_severity,sql_state_code,
        # message,… — fixed columns, quoted by PostgreSQL, so a user name cannot shift the client's column.
        try:
            cols = next(csv.reader([text]))
        except (csv.Error, StopIteration):
            return None
        if len(cols) < 14:
            return None
        host, _, port = cols[4].rpartition(":") if cols[4].rfind(":") > cols[4].rfind("]") else (cols[4], "", "")
        pid = int(cols[3]) if cols[3].isdigit() and len(cols[3]) < 10 else None
        return self._pg_structured(cols[0], cols[11], cols[13], host.strip("[]") or None, port or None, cols[1], pid,
                                   received_at, "postgresql-csv")

    def _pg_json(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        # jsonlog (PostgreSQL 15+): one object per record with remote_host/remote_port keys.
        if len(text) > 262144:
            return None
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        sev, msg, ts = obj.get("error_severity"), obj.get("message"), obj.get("timestamp")
        if not (isinstance(sev, str) and isinstance(msg, str)):
            return None
        host = obj.get("remote_host")
        return self._pg_structured(ts if isinstance(ts, str) else None, sev, msg,
                                   host if isinstance(host, str) else None, obj.get("remote_port"), obj.get("user"),
                                   obj.get("pid"), received_at, "postgresql-json")

    def _backend_address(self, text: str, ev: dict[str, Any]) -> None:
        sev = _PG_MARK.search(text)
        prefix = text[:sev.start()] if sev else ""
        at = prefix.find("@")
        # Only a pid written before the client's user@db text: a user name cannot stand in for it.
        p = _PG_PID.search(prefix if at < 0 else prefix[:at])
        if p is None:
            return
        pid = p["pid"]
        action = ev.get("action")
        if action == "connect" and ev.get("src_ip"):
            cache = self._pg_clients
            cache.pop(pid, None)
            if len(cache) >= _PID_CACHE:
                cache.pop(next(iter(cache)))
            cache[pid] = (ev["src_ip"], ev.get("src_port"))
        elif action in ("login_failed", "login") and not ev.get("src_ip"):
            f = ev.get("fields") or {}
            known = self._pg_clients.get(pid)
            if known is not None and not f.get("ambiguous_address"):
                ev["src_ip"] = known[0]
                if known[1] is not None:
                    ev["src_port"] = known[1]
                f["address_from"] = "connection received"
                ev["fields"] = f

    def _mongodb(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if len(text) > 262144:
            return None
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        ev: dict[str, Any] = {"format": "mongodb", "category": DB}
        if not mongodb_record(obj, ev):
            return None
        t = obj["t"].get("$date")
        ev["ts"] = iso_time(t, received_at) if isinstance(t, str) else None
        ev["message"] = obj.get("msg") if isinstance(obj.get("msg"), str) else None
        s = obj.get("s")
        if isinstance(s, str):
            ev.setdefault("fields", {})["level"] = s
        return ev

    def _couchdb(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        ev: dict[str, Any] = {"format": "couchdb", "category": DB}
        if not couchdb_line(text, ev):
            return None
        ts = text.split(" ", 2)[1]
        ev["ts"] = iso_time(ts, received_at)
        return ev

    def _mssql_event(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        p = _XML_PROVIDER.search(text)
        e = _XML_EVENTID.search(text)
        if not p or not e:
            return None
        event_id = int(e["id"])
        d = _XML_EVENTDATA.search(text)
        data = [html.unescape(x["v"] or "") for x in _XML_DATA.finditer(d["d"])] if d else []
        t = _XML_TIME.search(text)
        comp = _XML_COMPUTER.search(text)
        ev: dict[str, Any] = {"format": "wineventlog", "app": p["p"], "service": "mssql", "category": DB,
                              "ts": iso_time(t["t"], received_at) if t else None,
                              "host": comp["c"] if comp else None, "fields": {"event_id": event_id}}
        clients = [c for c in (_XML_CLIENT.fullmatch(x) for x in data) if c]
        ip = clients[0]["ip"] if len(clients) == 1 else None
        user = data[0] if data else None
        reason = next((x.strip() for x in data[1:] if x.strip().startswith("Reason:")), None)
        ev["message"] = " ".join(x.strip() for x in data)[:1000] or None
        if event_id == 18456:
            unknown = bool(reason) and "Could not find a login matching the name provided" in (reason or "")
            mark(ev, "login_failed", ip=ip, user=user, reason=reason[7:].strip()[:200] if reason else None,
                 invalid_user=True if unknown else None, protocol="mssql")
        elif event_id in (18453, 18454, 18455):
            mark(ev, "login", ip=ip, user=user, protocol="mssql")
        else:
            mark(ev, None, ip=ip, protocol="mssql")
        return ev
