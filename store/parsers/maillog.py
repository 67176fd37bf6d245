"""Mail servers' own log files: exim's mainlog/rejectlog, Microsoft Exchange protocol logs (SMTP receive, IMAP4,
POP3), Zimbra's mailbox.log/audit.log, nginx's mail proxy (its error log) and Mailu's admin log (the
auth rate limiter: action auth_rate_limited).

The meaning of each record is shared with the syslog extractors (store/parsers/services/mail.py); this module
reads the envelopes. Returns None quickly for anything else: every format here starts with a digit or `#`, and
nginx error lines that are not about the mail proxy are left to the web parsers.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from typing import Any

from store.parsers.services.mail import EMAIL, exim_message, mailu_message
from store.parsers.services.normalised import iso_time, mark

_EXIM = re.compile(r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?(?: [+-]\d{4})?) (?P<msg>.*)\Z", re.S)
_EXCHANGE = re.compile(r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,7})?Z),")
_ZIMBRA = re.compile(r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<level>[A-Z]{3,5}) {1,2}"
                     r"\[(?P<thread>[^\]]{0,300})\] (?:\[(?P<ctx>.*?)\] )?(?P<comp>[A-Za-z][\w.-]{0,60}) - "
                     r"(?P<msg>.*)\Z", re.S)
_NGINX = re.compile(r"(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>[a-z]{3,6})\] (?P<pid>\d{1,10})#\d{1,10}: "
                    r"(?:\*(?P<cid>\d{1,20}) )?(?P<msg>.*)\Z", re.S)

# ---------------------------------------------------------------------------------------------- exchange
_ENDPOINT = re.compile(r"(?P<ip>[0-9A-Fa-f:.]{2,45}):(?P<port>\d{1,5})\Z")
_SMTP_AUTH_FAILED = ("535 5.7.3 Authentication unsuccessful", "535 5.7.8", "535 Authentication")


def _endpoint(text: str) -> tuple[str | None, str | None]:
    m = _ENDPOINT.match(text.strip().strip("[]"))
    if not m:
        return None, None
    ip = m["ip"]
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    return ip, m["port"]


def _exchange(text: str, ts: datetime | None) -> dict[str, Any] | None:
    try:
        cols = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        return None
    ev: dict[str, Any] = {"format": "exchange", "ts": ts, "app": "exchange", "service": "exchange",
                          "category": EMAIL, "message": text}
    if len(cols) in (9, 10) and _ENDPOINT.match(cols[5].strip()):
        # SMTP receive: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,
        # data,context
        ip, port = _endpoint(cols[5])
        event, data = cols[6], cols[7]
        common: dict[str, Any] = {"protocol": "smtp", "connector": cols[1][:120], "session": cols[2][:40]}
        ev["message"] = data
        if event == ">" and data.startswith(_SMTP_AUTH_FAILED):
            mark(ev, "login_failed", ip=ip, port=port, reason=data[:200], **common)
        elif event == "+":
            mark(ev, "connect", ip=ip, port=port, **common)
        elif event == "-":
            mark(ev, "disconnect", ip=ip, port=port, **common)
        else:
            mark(ev, None, ip=ip, port=port, smtp_event=event, **common)
        return ev
    if len(cols) in (12, 13) and _ENDPOINT.match(cols[4].strip()):
        # IMAP4/POP3: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,command,parameters,context,
        # puid
        ip, port = _endpoint(cols[4])
        user = cols[5] or None
        command = cols[9].strip().lower()
        context = cols[11]
        proto = "imap" if cols[3].strip().endswith((":143", ":993")) else "pop3" if cols[3].strip().endswith(
            (":110", ":995")) else None
        ev["message"] = f"{cols[9]} {cols[10]}".strip() + (" " + context if context else "")
        common = {"protocol": proto, "command": command, "session": cols[1][:40]}
        if "AuthFailed" in context or "LogonDenied" in context:
            mark(ev, "login_failed", ip=ip, port=port, user=user, reason=context[:200], **common)
        elif command in ("login", "authenticate", "auth", "pass") and (" OK " in context or "+OK" in context):
            mark(ev, "login", ip=ip, port=port, user=user, **common)
        else:
            mark(ev, None, ip=ip, port=port, user=user, **common)
        return ev
    return None


# ---------------------------------------------------------------------------------------------- zimbra
_ZM_AUTH_FAILED = re.compile(r"(?:handler exception: )?authentication failed for \[(?P<user>.*)\](?:, |\s*\(| )?"
                             r"(?P<reason>[^\[\]]*?)\)?;?\s*\Z", re.S)
_ZM_AUDIT = re.compile(r"cmd=Auth; account=(?P<user>[^;]{0,256});(?P<rest>.*)\Z", re.S)
_ZM_UNKNOWN = ("account not found", "no such account")


def _zimbra_address(ctx: str | None) -> tuple[str | None, bool]:
    """oip (the original client, set by Zimbra's proxy) else ip, each only when it occurs once."""
    if not ctx:
        return None, False
    pairs = [p.split("=", 1) for p in ctx.split(";") if "=" in p]
    keys = [k.strip() for k, _ in pairs]
    for key in ("oip", "ip"):
        n = keys.count(key)
        if n == 1:
            return next(v for k, v in pairs if k.strip() == key), False
        if n > 1:
            return None, True
    return None, False


def _zimbra(m: re.Match[str], received_at: datetime) -> dict[str, Any]:
    ev: dict[str, Any] = {"format": "zimbra", "ts": iso_time(m["ts"], received_at), "app": "zimbra",
                          "service": "zimbra", "category": EMAIL, "message": m["msg"],
                          "fields": {"level": m["level"], "component": m["comp"]}}
    ip, ambiguous = _zimbra_address(m["ctx"])
    msg = m["msg"]
    comp = m["comp"]
    proto = {"imap": "imap", "pop": "pop3", "pop3": "pop3", "lmtp": "lmtp"}.get(comp.lower(), "soap")
    if "oproto=smtp" in (m["ctx"] or ""):
        proto = "smtp"
    extra: dict[str, Any] = {"protocol": proto, "ambiguous_address": ambiguous or None}
    a = _ZM_AUTH_FAILED.search(msg) if "authentication failed for [" in msg else None
    if a:
        reason = a["reason"].strip(" ,;()")
        unknown = reason.lower().startswith(_ZM_UNKNOWN)
        mark(ev, "login_failed", ip=ip, user=a["user"], reason=reason[:200] or None,
             invalid_user=True if unknown else None, **extra)
        return ev
    au = _ZM_AUDIT.search(msg)
    if au:
        if "error=" in au["rest"]:
            mark(ev, "login_failed", ip=ip, user=au["user"].strip(), reason=au["rest"].strip()[:200], **extra)
        else:
            mark(ev, "login", ip=ip, user=au["user"].strip(), **extra)
        return ev
    mark(ev, None, ip=ip, **extra)
    return ev


# ---------------------------------------------------------------------------------------------- nginx mail
_NG_CLIENT = re.compile(r", client: (?P<ip>[0-9A-Fa-f:.]{2,45})(?: using starttls)?, server: (?P<server>\S{1,120})")
_NG_LOGIN = re.compile(r', login: "(?P<user>.*?)"(?:, upstream: \S+)?\s*\Z', re.S)
_NG_CONNECTED = re.compile(r"client (?P<ip>[0-9A-Fa-f:.]{2,45}):(?P<port>\d{1,5}) connected to (?P<server>\S{1,120})\Z")
_MAIL_PORTS = {"25": "smtp", "465": "smtp", "587": "smtp", "143": "imap", "993": "imap", "110": "pop3",
               "995": "pop3"}


def _nginx_mail(m: re.Match[str], received_at: datetime) -> dict[str, Any] | None:
    msg = m["msg"]
    if msg.startswith("client ") and " connected to " in msg:
        c = _NG_CONNECTED.match(msg)
        if not c:
            return None
        ev = _nginx_event(m, received_at, c["server"])
        mark(ev, "connect", ip=c["ip"], port=c["port"], **_proto(c["server"]))
        return ev
    resolving = "while in resolving client address" in msg
    if msg.startswith("client login failed"):
        if "while in http auth state" not in msg:
            return None
    elif not (msg.startswith(("client logged in", "proxied session done")) or resolving):
        return None
    clients = list(_NG_CLIENT.finditer(msg))
    if not clients:
        return None
    ip = clients[0]["ip"] if len(clients) == 1 else None
    server = clients[0]["server"].rstrip(",")
    u = _NG_LOGIN.search(msg) if len(clients) == 1 else None
    user = u["user"] if u else None
    ev = _nginx_event(m, received_at, server)
    extra: dict[str, Any] = {**_proto(server), "ambiguous_address": True if len(clients) > 1 else None}
    if msg.startswith("client login failed"):
        q = msg.find('"')
        reason = msg[q + 1:msg.find('"', q + 1)] if q >= 0 else None
        mark(ev, "login_failed", ip=ip, user=user, reason=reason, **extra)
    elif msg.startswith("client logged in"):
        mark(ev, "login", ip=ip, user=user, **extra)
    elif resolving:
        mark(ev, None, category=EMAIL, ip=ip, **extra)
    else:
        mark(ev, "disconnect", category=EMAIL, ip=ip, user=user, **extra)
    return ev


def nginx_mail_line(text: str, received_at: datetime) -> dict[str, Any] | None:
    """An nginx error-log line about the mail proxy, or None (the web error reader asks this first: under the
    chain's move-to-front either reader may see the line first, and the mail proxy's lines are mail events)."""
    m = _NGINX.match(text)
    return _nginx_mail(m, received_at) if m else None


def _proto(server: str) -> dict[str, Any]:
    port = server.rsplit(":", 1)[-1]
    return {"protocol": _MAIL_PORTS.get(port), "server": server}


def _nginx_event(m: re.Match[str], received_at: datetime, server: str) -> dict[str, Any]:
    ts = iso_time(m["ts"].replace("/", "-"), received_at)
    return {"format": "nginx-mail", "ts": ts, "app": "nginx", "service": "nginx-mail", "category": EMAIL,
            "pid": int(m["pid"]), "message": m["msg"],
            "fields": {"level": m["level"], "connection": int(m["cid"]) if m["cid"] else None}}


def _mailu(text: str, received_at: datetime) -> dict[str, Any] | None:
    ev: dict[str, Any] = {"format": "mailu", "app": "mailu-admin", "service": "mailu"}
    ts = mailu_message(text, ev)
    if ts is None:
        return None  # other Flask applications write the same envelope
    ev["ts"] = iso_time(ts, received_at)
    return ev


class MailLogParser:
    """exim mainlog, Exchange protocol logs, Zimbra mailbox/audit logs, nginx mail proxy lines."""

    name = "maillog"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        c = text[0]
        if c == "[":
            return _mailu(text, received_at) if text[1:2].isdigit() else None
        if c == "#":
            if text.startswith(("#Software: Microsoft Exchange", "#Fields: date-time,connector-id",
                                "#Fields: dateTime,sessionId", "#Log-type:", "#Date: ", "#Version: ")):
                return {"format": "exchange", "app": "exchange", "service": "exchange", "message": text}
            return None
        if not c.isdigit() or len(text) < 20:
            return None
        sep = text[4]
        if sep == "/":
            return nginx_mail_line(text, received_at)
        if sep != "-":
            return None
        if text[10] == "T":
            m = _EXCHANGE.match(text)
            return _exchange(text, iso_time(m["ts"], received_at)) if m else None
        if text[19:20] == ",":
            z = _ZIMBRA.match(text)
            return _zimbra(z, received_at) if z else None
        m = _EXIM.match(text)
        if not m:
            return None
        ev: dict[str, Any] = {"format": "exim", "app": "exim", "service": "exim", "category": EMAIL,
                              "message": m["msg"]}
        if not exim_message(m["msg"], ev):
            return None
        ts = m["ts"]
        if len(ts) > 19 and ts[-6] == " ":
            ts = ts[:-6] + ts[-5:]  # log_timezone: "2022-06-29 16:04:05 +0200"
        ev["ts"] = iso_time(ts, received_at)
        return ev
