"""Databases: MySQL/MariaDB, PostgreSQL (and PgBouncer), Microsoft SQL Server, MongoDB, CouchDB.

Actions: login_failed (fields.invalid_user when the account does not exist, fields.reason), login, connect,
db_aborted_connection (a client dropped before authenticating: port scanners), db_protocol_error (a malformed
startup packet), db_not_found (CouchDB 404s: fields.path), db_request (other CouchDB requests).

Addresses:
- MySQL/MariaDB: `'user'@'host' (using password: …)` at the end of the line; the user name is the client's text
  and comes first, so only the last `'@'…'` before the fixed tail names the host.
- SQL Server: `[CLIENT: ip]` at the end of the line.
- PostgreSQL writes the client where `log_line_prefix` puts it: an address that starts the line, `%r`/`%h`
  positions before the first `user@db`, or a `client=`/`host=` value. The user and database names are the client's
  text, so a prefix whose candidates disagree, or a user name that itself looks like an address or holds spaces,
  names no address. `no pg_hba.conf entry for host "ip"` and `connection received: host=ip` state it in the message.
- MongoDB (JSON): attr.remote; CouchDB: the peer column, only when the line has exactly its 13 columns.
"""

from __future__ import annotations

import re
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import address, mark

DB = "database"
_IP = r"[0-9A-Fa-f:.]{2,45}"

# ---------------------------------------------------------------------------------------------- MySQL / MariaDB
_MY_DENIED = re.compile(r"Access denied for user '(?P<user>.*)'@'(?P<host>[^']{0,255})' "
                        r"\(using password: (?P<pw>YES|NO)\)\.?\s*\Z", re.S)
_MY_ABORTED = re.compile(r"Aborted connection (?P<id>\d{1,20}) to db: '(?P<db>.*)' user: '(?P<user>.*)' "
                         r"host: '(?P<host>[^']{0,255})' \((?P<reason>[^()]{0,200})\)\.?\s*\Z", re.S)
_MY_BLOCKED = re.compile(r"Host '(?P<host>[^']{0,255})' is blocked because of many connection errors")


def mysql_message(msg: str, ev: dict[str, Any], service: str = "mysql") -> bool:
    """The text of one MySQL/MariaDB error-log (or general-log `Connect`) record, from "Access denied" on."""
    i = msg.find("Access denied for user '")
    if i >= 0:
        m = _MY_DENIED.match(msg, i)
        if m:
            return mark(ev, "login_failed", ip=m["host"], user=m["user"], using_password=m["pw"] == "YES",
                        client_host=None if address(m["host"]) else m["host"][:255], protocol=service)
    i = msg.find("Aborted connection ")
    if i >= 0:
        m = _MY_ABORTED.match(msg, i)
        if m:
            unauth = m["user"] == "unauthenticated"
            return mark(ev, "db_aborted_connection" if unauth else "disconnect", category=DB, ip=m["host"],
                        user=None if unauth else m["user"], reason=m["reason"], protocol=service)
    m = _MY_BLOCKED.search(msg)
    if m:
        return mark(ev, "db_host_blocked", category=DB, ip=m["host"], protocol=service)
    return False


# ---------------------------------------------------------------------------------------------- PostgreSQL
_PG_SEVERITY = re.compile(r"(?:^|(?<=[\s:\]]))(?P<sev>LOG|FATAL|ERROR|WARNING|PANIC|NOTICE|INFO|DETAIL|HINT"
                          r"|STATEMENT|CONTEXT|DEBUG[1-5]?|LOCATION):  ?")
_PG_AUTH_FAILED = re.compile(r'(?P<method>[\w-]{1,20}) authentication failed for user "(?P<user>.*)"\s*\Z', re.S)
_PG_NO_ROLE = re.compile(r'role "(?P<user>.*)" does not exist\s*\Z', re.S)
_PG_HBA = re.compile(r'no pg_hba\.conf entry for (?:replication connection from )?host "(?P<ip>' + _IP
                     + r')", user "(?P<user>.*?)", (?:database "(?P<db>.*)", )?(?P<enc>[^",]{0,60})\s*\Z', re.S)
_PG_RECEIVED = re.compile(r"connection received: host=(?P<ip>" + _IP + r")(?: port=(?P<port>\d{1,5}))?\s*\Z")
_PG_AUTHORIZED = re.compile(r"connection authorized: user=(?P<user>\S{1,256}) (?:database=(?P<db>\S{0,256}))?")
_PG_PROTOCOL = ("invalid length of startup packet", "incomplete startup packet", "unsupported frontend protocol",
                "could not receive data from client", "invalid startup packet layout")
_PG_IP4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
_PG_IP6 = re.compile(r"(?<![\w:.])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w:.])")
_PG_KEYED = re.compile(r"(?:^|(?<=[\s,\[]))(?:client|host|remote_host|rhost)=(?P<ip>" + _IP
                       + r")(?:\(\d{1,5}\)|:\d{1,5})?(?=[\s,\]]|$)")
_PG_LEADING = re.compile(r"(?P<ip>" + _IP + r")(?:\(\d{1,5}\))? (?=\d{4}-\d\d-\d\d)")
_PGB = re.compile(r"C-0x[0-9a-f]{1,16}: (?P<db>\S{0,256})/(?P<user>\S{0,256})@(?P<ip>" + _IP
                  + r"):(?P<port>\d{1,5}) (?P<text>.*)\Z", re.S)


def _prefix_candidates(prefix: str) -> set[str]:
    """Addresses `log_line_prefix` put in `prefix` at a position the client cannot reach (see module doc)."""
    # Both readings at once: `client=`/`host=` values anywhere, and positional addresses before the first
    # `user@db`. A database or application name can imitate either; then they disagree and none is taken.
    found: set[str] = set()
    for m in _PG_KEYED.finditer(prefix):
        ip = address(m["ip"])
        if ip:
            found.add(ip)
    at = prefix.find("@")
    head = prefix if at < 0 else prefix[:at]
    for rx in (_PG_IP4, _PG_IP6):
        for m in rx.finditer(head):
            end = m.end(1)
            if end < len(head) and head[end] == "@":
                continue
            ip = address(m[1])
            if ip:
                found.add(ip)
    return found


def _unsafe_name(name: str | None) -> bool:
    return bool(name) and (any(ch.isspace() for ch in name or "") or bool(_PG_IP4.search(name or ""))
                           or ":" in (name or "") or "@" in (name or "") or "=" in (name or ""))


def postgres_line(text: str, ev: dict[str, Any]) -> bool:
    """A PostgreSQL (or PgBouncer) log record: prefix (whatever log_line_prefix made of it), severity, message."""
    sev = _PG_SEVERITY.search(text)
    if sev is None:
        return False
    prefix = text[:sev.start()]
    msg = text[sev.end():]
    severity = sev["sev"]
    lead = _PG_LEADING.match(prefix)
    cands = {address(lead["ip"])} - {None} if lead else _prefix_candidates(prefix)
    ip: str | None = next(iter(cands)) if len(cands) == 1 else None
    extra: dict[str, Any] = {"level": severity, "protocol": "postgresql"}
    if len(cands) > 1:
        extra["ambiguous_address"] = True
    return postgres_message(severity, msg, ip, ev, extra, from_prefix=True)


def postgres_message(severity: str, msg: str, ip: str | None, ev: dict[str, Any], extra: dict[str, Any],
                     from_prefix: bool = False) -> bool:
    """Classify one PostgreSQL message. `ip` came from the log_line_prefix (`from_prefix`: then a user name that
    looks like an address voids it) or from a structured log's own column."""
    if severity in ("DETAIL", "HINT", "STATEMENT", "CONTEXT", "LOCATION"):
        # The second line of a record: the first one carried its meaning.
        return mark(ev, None, category=DB, ip=ip, **extra)
    b = _PGB.match(msg) if msg.startswith("C-0x") else None
    if b:
        if "authentication failed" in b["text"] or "password authentication" in b["text"]:
            return mark(ev, "login_failed", ip=b["ip"], port=b["port"], user=b["user"], database=b["db"][:256],
                        reason=b["text"][:200], **{**extra, "protocol": "pgbouncer"})
        if b["text"].startswith("login attempt"):
            return mark(ev, "login", ip=b["ip"], port=b["port"], user=b["user"], database=b["db"][:256],
                        **{**extra, "protocol": "pgbouncer"})
        return mark(ev, None, category=DB, ip=b["ip"], port=b["port"], user=b["user"], **extra)
    m = _PG_AUTH_FAILED.match(msg)
    if m:
        user = m["user"]
        return mark(ev, "login_failed", ip=None if from_prefix and _unsafe_name(user) else ip, user=user,
                    auth_method=m["method"], **extra)
    m = _PG_NO_ROLE.match(msg)
    if m:
        user = m["user"]
        return mark(ev, "login_failed", ip=None if from_prefix and _unsafe_name(user) else ip, user=user,
                    invalid_user=True, reason="role does not exist", **extra)
    m = _PG_HBA.match(msg)
    if m:
        hba_ip = address(m["ip"])
        if ip is not None and hba_ip != ip:
            hba_ip = None  # the prefix and the message disagree
        return mark(ev, "login_failed", ip=hba_ip, user=m["user"], database=m["db"], reason="no pg_hba.conf entry",
                    **extra)
    m = _PG_RECEIVED.match(msg)
    if m:
        return mark(ev, "connect", category=DB, ip=m["ip"], port=m["port"], **extra)
    m = _PG_AUTHORIZED.match(msg)
    if m:
        return mark(ev, "login", ip=None if from_prefix and _unsafe_name(m["user"]) else ip, user=m["user"],
                    database=m["db"], **extra)
    if msg.startswith(_PG_PROTOCOL):
        return mark(ev, "db_protocol_error", category=DB, ip=ip, reason=msg[:200], **extra)
    return mark(ev, None, category=DB, ip=ip if not _PG_AUTH_FAILED.search(msg) else None, **extra)


# ---------------------------------------------------------------------------------------------- SQL Server
_MSSQL_LOGIN = re.compile(r"Login failed for user '(?P<user>.*)'\. ?(?:Reason: (?P<reason>.*?)\.?)? ?"
                          r"\[CLIENT: (?P<ip>[^\]\s]{1,60})\]\s*\Z", re.S)
_MSSQL_OK = re.compile(r"Login succeeded for user '(?P<user>.*)'\..*\[CLIENT: (?P<ip>[^\]\s]{1,60})\]\s*\Z", re.S)


def mssql_message(msg: str, ev: dict[str, Any]) -> bool:
    i = msg.find("Login failed for user '")
    if i >= 0:
        m = _MSSQL_LOGIN.match(msg, i)
        if m:
            reason = (m["reason"] or "").strip()
            unknown = "Could not find a login matching the name provided" in reason
            return mark(ev, "login_failed", ip=m["ip"], user=m["user"], reason=reason[:200] or None,
                        invalid_user=True if unknown else None, protocol="mssql")
    i = msg.find("Login succeeded for user '")
    if i >= 0:
        m = _MSSQL_OK.match(msg, i)
        if m:
            return mark(ev, "login", ip=m["ip"], user=m["user"], protocol="mssql")
    return False


# ---------------------------------------------------------------------------------------------- MongoDB
_MONGO_REMOTE = re.compile(r"\[?(?P<ip>" + _IP + r"?)\]?:(?P<port>\d{1,5})\Z")
_MONGO_TEXT_FAIL = re.compile(r"(?:SASL (?P<mech>\S{1,30}) )?[Aa]uthentication failed for (?P<user>.*) on "
                              r"(?P<db>\S{1,256}) from client (?P<ip>" + _IP + r"):(?P<port>\d{1,5}) ; (?P<err>.*)\Z",
                              re.S)


def _remote(value: object) -> tuple[str | None, str | None]:
    if not isinstance(value, str):
        return None, None
    m = _MONGO_REMOTE.match(value)
    return (m["ip"], m["port"]) if m else (None, None)


def mongodb_record(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    """One MongoDB 4.4+ structured log record (already decoded)."""
    t = obj.get("t")
    if not (isinstance(t, dict) and "$date" in t and isinstance(obj.get("c"), str) and "msg" in obj):
        return False
    ev["app"] = "mongod"
    ev["service"] = "mongodb"
    a = obj.get("attr")
    attr: dict[str, Any] = a if isinstance(a, dict) else {}
    m = obj.get("msg")
    msg = m if isinstance(m, str) else ""
    ip, port = _remote(attr.get("remote") or attr.get("client"))
    user = attr.get("principalName") or attr.get("user")
    user = user if isinstance(user, str) else None
    extra: dict[str, Any] = {"protocol": "mongodb", "component": obj.get("c"), "mongo_id": obj.get("id"),
             "auth_database": attr.get("authenticationDatabase") if isinstance(
                 attr.get("authenticationDatabase"), str) else None,
             "mechanism": attr.get("mechanism") if isinstance(attr.get("mechanism"), str) else None}
    if msg == "Authentication failed":
        e = attr.get("error")
        err = e if isinstance(e, str) else ""
        return mark(ev, "login_failed", ip=ip, port=port, user=user, reason=err[:200] or None,
                    invalid_user=True if err.startswith("UserNotFound") else None, **extra)
    if msg in ("Authentication succeeded", "Successfully authenticated"):
        return mark(ev, "login", ip=ip, port=port, user=user, **extra)
    if msg == "Connection accepted":
        return mark(ev, "connect", category=DB, ip=ip, port=port, **extra)
    if msg == "Connection ended":
        return mark(ev, "disconnect", category=DB, ip=ip, port=port, **extra)
    return mark(ev, None, category=DB, ip=ip, port=port, **extra)


def mongodb_text(msg: str, ev: dict[str, Any]) -> bool:
    """MongoDB before 4.4: `SASL SCRAM-SHA-1 authentication failed for u on admin from client ip:port ; Error`."""
    if msg.count(" from client ") != 1:
        return False
    m = _MONGO_TEXT_FAIL.search(msg)
    if not m:
        return False
    return mark(ev, "login_failed", ip=m["ip"], port=m["port"], user=m["user"], auth_database=m["db"],
                mechanism=m["mech"], reason=m["err"][:200], invalid_user=True if "UserNotFound" in m["err"] else None,
                protocol="mongodb")


# ---------------------------------------------------------------------------------------------- CouchDB
# `[notice] ts node <pid> reqid Host Peer User Method Path Code ok|… Time` (chttpd's access record).
_COUCH = re.compile(r"\[(?P<level>[a-z]{3,9})\] (?P<ts>\d{4}-\d\d-\d\dT\S{8,40}) (?P<node>\S{1,255}) "
                    r"<(?P<pid>[\d.]{1,40})> (?P<req>\S{1,64}) (?P<rest>.*)\Z", re.S)


def couchdb_line(text: str, ev: dict[str, Any]) -> bool:
    m = _COUCH.match(text)
    if not m:
        return False
    ev["app"] = "couchdb"
    ev["service"] = "couchdb"
    ev["fields"] = {"level": m["level"], "node": m["node"]}
    cols = m["rest"].split(" ")
    if len(cols) != 8 or not cols[5].isdigit() or len(cols[5]) != 3:
        # Not an access record, or the Host header or user name held spaces: no column can be trusted.
        ev["message"] = m["rest"]
        return True
    host, peer, user, method, path, code = cols[:6]
    status = int(code)
    user_v = None if user in ("undefined", "") else user
    common: dict[str, Any] = {"method": method, "path": path[:2048], "status": status, "vhost": host[:255],
                              "protocol": "http"}
    ev["message"] = f"{method} {path} {code}"
    if status == 401:
        return mark(ev, "login_failed", ip=peer, user=user_v, **common)
    if status == 404:
        return mark(ev, "db_not_found", category=DB, outcome="failure", ip=peer, user=user_v, **common)
    return mark(ev, "db_request", category=DB, outcome="failure" if status >= 400 else "success", ip=peer,
                user=user_v, **common)


# ---------------------------------------------------------------------------------------------- registry
@extractor("mysql", "mariadb")
def _mysql(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return mysql_message(msg, ev, "mariadb" if app.lower().startswith("mariadb") else "mysql")


@extractor("postgresql", "pgbouncer")
def _postgres(app: str, msg: str, ev: dict[str, Any]) -> bool:
    # syslog adds "[3-1] " (record and line numbers) before the prefix.
    if msg.startswith("[") and "] " in msg[:24]:
        msg = msg[msg.index("] ") + 2:]
    return postgres_line(msg, ev)


@extractor("mongod", "mongodb")
def _mongod(app: str, msg: str, ev: dict[str, Any]) -> bool:
    if msg.startswith("{") and len(msg) < 65536:
        import json

        try:
            obj = json.loads(msg)
        except ValueError:
            return False
        return isinstance(obj, dict) and mongodb_record(obj, ev)
    return mongodb_text(msg, ev)


@extractor("couchdb")
def _couchdb(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return couchdb_line(msg, ev)
