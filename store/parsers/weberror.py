"""Web server error logs: nginx (and its forks: OpenResty, Angie, Nginx Proxy Manager), Apache httpd and LiteSpeed,
with the messages that matter for detection normalised (failed HTTP authentication, rate limiting, files not
found, requests the server refused to parse, ModSecurity and NAXSI verdicts). Actions: see webcommon.py.

Where the client address comes from (log text is attacker-controlled; the address is only ever taken from the
position the server writes it in):
- nginx ends every request-related message with `, client: ADDR, server: NAME, request: "…"`. The message before
  it can carry client text (a user name, a file path) and so can the request after it, so a line with more than
  one `, client: ADDR, server: ` gets no address at all.
- Apache and LiteSpeed write the connection's address in the header, before the message (`[client ADDR:PORT]`,
  `[ADDR:PORT-…]`); nothing the client sends comes before it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from store.parsers.common import MONTHS, ip_or_none, level_severity, port_or_none, to_utc
from store.parsers.maillog import nginx_mail_line
from store.parsers.webcommon import split_request

_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a receive time that only says "naive times are UTC"

# --- nginx ---------------------------------------------------------------------------------------------------
_NGINX_HEAD = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[([a-z]+)\] (\d+)#(\d+): (?:\*(\d+) )?")
# The same message sent to syslog by nginx itself has no date: "*12 open() … , client: …".
_NGINX_SYSLOG_HEAD = re.compile(r"(?:\[([a-z]+)\] (\d+)#(\d+): )?\*(\d+) ")
_NGINX_CLIENT = re.compile(r", client: ([0-9A-Fa-f:.]{2,45}|unix:), server: ")
_NGINX_REQUEST = re.compile(r', server: [^,]*, request: "((?:[^"\\]|\\.)*)"')
_NGINX_HOST = re.compile(r'", host: "([^"\s]{1,255})"')
_NGINX_AUTH = re.compile(r'user "([^"]{0,256})"(?:: password mismatch| was not found in "[^"]*")(?=, client: )')
_NGINX_LIMIT = re.compile(r'limiting (requests|connections)(?:, excess: [\d.]+)? by zone "([^"]{0,128})"')
_NGINX_NOT_FOUND = re.compile(r'(?:open\(\) "[^"]*" failed \(2: No such file or directory\)|"[^"]*" is not found '
                              r"\(2: No such file or directory\))(?=, client: )")
_NGINX_FORBIDDEN = re.compile(r"(?:access forbidden by rule|directory index of \"[^\"]*\" is forbidden)(?=, client: )")
_NGINX_INVALID = re.compile(r"client sent (?:invalid|unknown|too long|invalid host)")
_MODSEC_ID = re.compile(r'\[id "(\d{1,10})"\]')
_MODSEC_MSG = re.compile(r'\[msg "((?:[^"\\]|\\.){0,300})"\]')
_MODSEC_SEV = re.compile(r'\[severity "([^"]{0,20})"\]')
_MODSEC_URI = re.compile(r'\[uri "((?:[^"\\]|\\.){0,2000})"\]')


def nginx_message(msg: str, ev: dict[str, Any]) -> None:
    """Normalise one nginx error message (what follows `pid#tid: *cid `) into `ev`."""
    fields: dict[str, Any] = ev.setdefault("fields", {}) or {}
    ev["fields"] = fields
    ev["category"] = "web"
    candidates = _NGINX_CLIENT.findall(msg)
    at = msg.find(", client: ")
    if len(candidates) == 1:
        ip = ip_or_none(candidates[0])
        if ip is not None:
            ev["src_ip"] = ip
        at = msg.find(", client: " + candidates[0] + ", server: ")
    elif len(candidates) > 1:
        fields["ambiguous_client"] = True
    if len(candidates) == 1:
        rq = _NGINX_REQUEST.match(msg, at + len(", client: ") + len(candidates[0]))
        if rq is not None:
            split_request(rq[1], fields)
            host = _NGINX_HOST.search(msg, rq.end() - 1)
            if host is not None:
                fields["vhost"] = host[1]
    text = msg[:at] if at >= 0 else msg
    if "ModSecurity: " in text:
        _modsec(text, ev, fields)
        return
    if text.startswith("NAXSI_FMT: "):
        # NAXSI blocks unless in learning mode; "block=1" says it did.
        ev["action"] = "waf_block" if "&block=1" in text else "waf_alert"
        ev["service"] = "naxsi"
        fields["waf"] = "naxsi"
        return
    m = _NGINX_AUTH.match(msg)
    if m is not None:
        ev.update(category="authentication", outcome="failure", action="login_failed", user=m[1])
        fields["auth"] = "basic"
        fields["reason"] = "password mismatch" if "password mismatch" in m[0] else "unknown user"
        return
    m = _NGINX_LIMIT.match(text)
    if m is not None:
        ev["action"] = "rate_limited"
        fields["limit"] = m[1]
        fields["zone"] = m[2]
        return
    if _NGINX_NOT_FOUND.match(msg):
        ev["action"] = "not_found"
    elif _NGINX_FORBIDDEN.match(msg):
        ev["action"] = "forbidden"
    elif _NGINX_INVALID.match(text):
        ev["action"] = "invalid_request"


def _modsec(text: str, ev: dict[str, Any], fields: dict[str, Any]) -> None:
    blocked = "Access denied" in text[:200]
    ev["action"] = "waf_block" if blocked else "waf_alert"
    ev["service"] = "modsecurity"
    fields["waf"] = "modsecurity"
    for key, rx in (("rule_id", _MODSEC_ID), ("rule_msg", _MODSEC_MSG), ("rule_severity", _MODSEC_SEV)):
        m = rx.search(text)
        if m is not None:
            fields[key] = m[1]
    if fields.get("path") is None:
        m = _MODSEC_URI.search(text)
        if m is not None:
            fields["path"] = m[1]


def parse_nginx_error(text: str, received_at: datetime) -> dict[str, Any] | None:
    m = _NGINX_HEAD.match(text)
    if m is None:
        return None
    mail = nginx_mail_line(text, received_at)
    if mail is not None:
        return mail
    ts = _dt(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), 0, received_at)
    ev: dict[str, Any] = {"format": "nginx-error", "app": "nginx", "service": "nginx", "ts": ts,
                          "pid": int(m[8]) if len(m[8]) < 19 else None,
                          "fields": {"level": m[7]}}
    if m[10]:
        ev["fields"]["connection"] = int(m[10]) if len(m[10]) < 19 else m[10]
    sev = level_severity(m[7])
    if sev is not None:
        ev["severity"] = sev
    msg = text[m.end():]
    ev["message"] = msg
    nginx_message(msg, ev)
    return ev


def nginx_syslog_message(msg: str, ev: dict[str, Any], received_at: datetime | None = None) -> bool:
    """An nginx error message inside a syslog line (with or without nginx's own date)."""
    inner = parse_nginx_error(msg, received_at or _UTC_EPOCH) if msg[:1].isdigit() else None
    if inner is not None:
        fields = ev.get("fields") or {}
        fields.update(inner.pop("fields", None) or {})
        inner.pop("format", None)
        inner.pop("app", None)
        if ev.get("ts") is not None:
            inner.pop("ts", None)
        ev.update(inner)
        ev["fields"] = fields
        return True
    m = _NGINX_SYSLOG_HEAD.match(msg)
    if m is None or ", client: " not in msg:
        return False
    ev["message"] = msg[m.end():]
    nginx_message(msg[m.end():], ev)
    ev["service"] = ev.get("service") or "nginx"
    return True


# --- Apache httpd --------------------------------------------------------------------------------------------
_APACHE_HEAD = re.compile(
    r"\[(?:[A-Z][a-z]{2}) ([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? (\d{4})\] "
    r"\[(?:([\w-]*):)?(\w+)\] (?:\[pid (\d+)(?::tid \d+)?\] )?(?:\([-\d]+\)[^\[\]]{0,120}: )?"
    r"(?:\[(?:client|remote) ([^\]\s]+?)(?::(\d+))?\] )?"
)
_APACHE_AUTH = re.compile(r"(?:AH0161[78]: )?user (.{0,256}?)(?:: authentication failure for \".*\": Password Mismatch"
                          r"| not found: .*)$")
_APACHE_INVALID = re.compile(r"(?:AH00126: Invalid URI in request |AH10244: invalid URI path \()(.*?)\)?$")
_APACHE_NOT_FOUND = re.compile(r"(?:AH00128: )?File does not exist: ")
_APACHE_FORBIDDEN = re.compile(r"AH01630: client denied by server configuration: |AH01797: client denied ")


def parse_apache_error(text: str, received_at: datetime) -> dict[str, Any] | None:
    m = _APACHE_HEAD.match(text)
    if m is None:
        return None
    month = MONTHS.get(m[1])
    ts = None
    if month is not None:
        frac = int(m[6][:6].ljust(6, "0")) if m[6] else 0
        ts = _dt(int(m[7]), month, int(m[2]), int(m[3]), int(m[4]), int(m[5]), frac, received_at)
    msg = text[m.end():]
    ev: dict[str, Any] = {"format": "apache-error", "ts": ts, "app": "apache", "service": "apache",
                          "category": "web", "message": msg}
    fields: dict[str, Any] = {"level": m[9]}
    if m[8]:
        fields["module"] = m[8]
    sev = level_severity(m[9])
    if sev is not None:
        ev["severity"] = sev
    if m[10] and len(m[10]) < 19:
        ev["pid"] = int(m[10])
    if m[11]:
        ip = ip_or_none(m[11])
        if ip:
            ev["src_ip"] = ip
            port = port_or_none(m[12])
            if port is not None:
                ev["src_port"] = port
    ev["fields"] = fields
    if "ModSecurity: " in msg[:300]:
        # mod_security2 repeats the client ("[client ::1] ModSecurity: …"): the header's address stands.
        _modsec(msg, ev, fields)
        return ev
    a = _APACHE_AUTH.match(msg)
    if a is not None:
        ev.update(category="authentication", outcome="failure", action="login_failed", user=a[1])
        fields["auth"] = m[8] or "basic"
        fields["reason"] = "password mismatch" if "Password Mismatch" in msg else "unknown user"
        return ev
    inv = _APACHE_INVALID.match(msg)
    if inv is not None:
        ev["action"] = "invalid_request"
        if msg.startswith("AH00126"):
            split_request(inv[1].rstrip(), fields)
        else:
            fields["path"] = inv[1]
    elif _APACHE_NOT_FOUND.match(msg):
        ev["action"] = "not_found"
    elif _APACHE_FORBIDDEN.match(msg):
        ev["action"] = "forbidden"
    return ev


# --- LiteSpeed / OpenLiteSpeed -------------------------------------------------------------------------------
# Only lines about a connection (`[ADDR:PORT-…#vhost]` after the pid): the server's other lines share a header
# shape with too many applications to claim them.
_LSWS_HEAD = re.compile(
    r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? \[([A-Z]+)\] \[(\d+)\] "
    r"\[([0-9A-Fa-f:.]{2,45}):(\d+)[-:#][^\]]{0,200}\] "
)
_LSWS_ADMIN_FAIL = re.compile(r"(?:\[STDERR\] )?\[WebAdmin Console\] Failed Login Attempt - username:(\S{0,256})")
_LSWS_AUTH_FAIL = re.compile(r"User '(.{0,256}?)' failed to authenticate\.?$")


def parse_litespeed_error(text: str, received_at: datetime) -> dict[str, Any] | None:
    m = _LSWS_HEAD.match(text)
    if m is None:
        return None
    frac = int(m[7][:6].ljust(6, "0")) if m[7] else 0
    ts = _dt(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), frac, received_at)
    msg = text[m.end():]
    ev: dict[str, Any] = {"format": "litespeed-error", "app": "litespeed", "service": "litespeed", "ts": ts,
                          "category": "web", "message": msg, "fields": {"level": m[8]}}
    if len(m[9]) < 19:
        ev["pid"] = int(m[9])
    sev = level_severity(m[8])
    if sev is not None:
        ev["severity"] = sev
    ip = ip_or_none(m[10])
    if ip is not None:
        ev["src_ip"] = ip
        port = port_or_none(m[11])
        if port is not None:
            ev["src_port"] = port
    a = _LSWS_ADMIN_FAIL.match(msg) or _LSWS_AUTH_FAIL.search(msg)
    if a is not None:
        ev.update(category="authentication", outcome="failure", action="login_failed", user=a[1])
        ev["fields"]["auth"] = "webadmin" if "WebAdmin" in msg[:40] else "basic"
    return ev


def _dt(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, received_at: datetime) -> datetime | None:
    try:
        return to_utc(datetime(y, mo, d, h, mi, s, us), received_at)
    except ValueError:
        return None


class WebErrorParser:
    """nginx, Apache httpd and LiteSpeed error logs (each header anchored at the start of the line)."""

    name = "weberror"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if len(text) < 20:
            return None
        c = text[0]
        if c == "[":
            return parse_apache_error(text, received_at)
        if not c.isdigit():
            return None
        if text[4] == "/":
            return parse_nginx_error(text, received_at)
        if text[4] == "-":
            return parse_litespeed_error(text, received_at)
        return None
