"""JSON access logs of web servers and proxies: Caddy (its access logger and the Coraza WAF handler), Traefik
(`accessLog.format: json`), Cloudflare (Logpush HTTP requests) and platforms that forward a web server's syslog
line inside a JSON envelope (Upsun / Platform.sh: `{"message": "frontend.0 nginx: <access line>", …}`).

Each shape is recognised by keys its software always writes, checked on the raw text before decoding, so other
JSON lines cost one substring test and fall through to the generic JSON parser. The client address is the key the
server fills from the connection (Caddy `client_ip` — the address after its trusted-proxy handling — else
`remote_ip`; Traefik `ClientHost`; Cloudflare `ClientIP`, the connecting address its edge saw), never a
request header the client wrote; Coraza's message starts with `[client "ADDR"]`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from store.parsers.access import AccessLogParser
from store.parsers.common import epoch_to_utc, ip_or_none, level_severity, parse_iso, port_or_none
from store.parsers.jsonl import MAX_DEPTH, too_deep
from store.parsers.webcommon import set_status
from store.parsers.weberror import nginx_syslog_message

_CORAZA_CLIENT = re.compile(r'\[client "([0-9A-Fa-f:.]{2,45})"\] Coraza: (Warning|Access denied)')
_CORAZA_FIELD = {k: re.compile(r'\[' + k + r' "((?:[^"\\]|\\.){0,2000})"\]') for k in ("id", "msg", "uri", "severity")}
_WRAPPED = re.compile(r"(?:(\S{1,128}) )?(nginx|apache2|httpd|openresty|angie)(?:\[\d{1,10}\])?: (.*)", re.S)


def _header(headers: Any, name: str) -> str | None:
    if not isinstance(headers, dict):
        return None
    v = headers.get(name)
    if isinstance(v, list) and v and isinstance(v[0], str):
        return v[0]
    return v if isinstance(v, str) else None


def _caddy(obj: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    ev: dict[str, Any] = {"format": "caddy", "app": "caddy", "service": "caddy", "category": "web"}
    ts = obj.get("ts")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        ev["ts"] = epoch_to_utc(ts)
    elif isinstance(ts, str):
        ev["ts"] = parse_iso(ts, received_at)
    got = obj.get("request")
    req: dict[str, Any] = got if isinstance(got, dict) else {}
    fields: dict[str, Any] = {"logger": obj.get("logger")}
    ip = ip_or_none(req.get("client_ip") if isinstance(req.get("client_ip"), str) else None) or ip_or_none(
        req.get("remote_ip") if isinstance(req.get("remote_ip"), str) else None)
    if ip is not None:
        ev["src_ip"] = ip
        port = port_or_none(req.get("remote_port"))
        if port is not None and req.get("client_ip") in (None, req.get("remote_ip")):
            ev["src_port"] = port
    for key, name in (("method", "method"), ("uri", "path"), ("proto", "protocol"), ("host", "vhost")):
        v = req.get(key)
        if isinstance(v, str):
            fields[name] = v
    headers = req.get("headers")
    fields["user_agent"] = _header(headers, "User-Agent")
    fields["referer"] = _header(headers, "Referer")
    status = obj.get("status")
    st = status if isinstance(status, int) and not isinstance(status, bool) else None
    fields["status"] = st
    size = obj.get("size")
    fields["bytes"] = size if isinstance(size, int) and not isinstance(size, bool) else None
    user = obj.get("user_id")
    if isinstance(user, str) and user:
        ev["user"] = user
    sev = level_severity(obj.get("level"))
    set_status(ev, st)
    if st is None and sev is not None:
        ev["severity"] = sev
    ev["fields"] = fields
    method, path, proto = fields.get("method"), fields.get("path"), fields.get("protocol")
    ev["message"] = " ".join(str(x) for x in (method, path, proto) if x) or str(obj.get("msg") or "")
    return ev


def _coraza(obj: dict[str, Any], received_at: datetime) -> dict[str, Any] | None:
    msg = obj.get("msg")
    if not isinstance(msg, str):
        return None
    m = _CORAZA_CLIENT.match(msg)
    ev: dict[str, Any] = {"format": "caddy", "app": "caddy", "service": "coraza", "category": "web",
                          "message": msg}
    ts = obj.get("ts")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        ev["ts"] = epoch_to_utc(ts)
    fields: dict[str, Any] = {"logger": obj.get("logger"), "waf": "coraza"}
    if m is None:
        ev["fields"] = fields
        return ev
    ip = ip_or_none(m[1])
    if ip is not None:
        ev["src_ip"] = ip
    ev["action"] = "waf_block" if m[2] == "Access denied" else "waf_alert"
    for key, name in (("id", "rule_id"), ("msg", "rule_msg"), ("uri", "path"), ("severity", "rule_severity")):
        f = _CORAZA_FIELD[key].search(msg, m.end())
        if f is not None:
            fields[name] = f[1]
    sev = level_severity(obj.get("level"))
    if sev is not None:
        ev["severity"] = sev
    ev["fields"] = fields
    return ev


def _traefik(obj: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    ev: dict[str, Any] = {"format": "traefik", "app": "traefik", "service": "traefik", "category": "web"}
    for key in ("time", "StartUTC", "StartLocal"):
        v = obj.get(key)
        if isinstance(v, str):
            ts = parse_iso(v, received_at)
            if ts is not None:
                ev["ts"] = ts
                break
    host = obj.get("ClientHost")
    ip = ip_or_none(host if isinstance(host, str) else None)
    if ip is not None:
        ev["src_ip"] = ip
        port = port_or_none(obj.get("ClientPort"))
        if port is not None:
            ev["src_port"] = port
    fields: dict[str, Any] = {}
    for key, name in (("RequestMethod", "method"), ("RequestPath", "path"), ("RequestProtocol", "protocol"),
                      ("RequestHost", "vhost"), ("RouterName", "router"), ("ServiceName", "backend")):
        v = obj.get(key)
        if isinstance(v, str) and v != "-":
            fields[name] = v
    status = obj.get("DownstreamStatus")
    st = status if isinstance(status, int) and not isinstance(status, bool) else None
    fields["status"] = st
    size = obj.get("DownstreamContentSize")
    fields["bytes"] = size if isinstance(size, int) and not isinstance(size, bool) else None
    ua = obj.get("request_User-Agent")
    fields["user_agent"] = ua if isinstance(ua, str) else None
    ref = obj.get("request_Referer")
    fields["referer"] = ref if isinstance(ref, str) else None
    user = obj.get("ClientUsername")
    if isinstance(user, str) and user not in ("", "-"):
        ev["user"] = user
    set_status(ev, st)
    ev["fields"] = fields
    ev["message"] = " ".join(str(fields[k]) for k in ("method", "path", "protocol") if fields.get(k))
    return ev


def _cloudflare(obj: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    ev: dict[str, Any] = {"format": "cloudflare", "app": "cloudflare", "service": "cloudflare", "category": "web"}
    for key in ("EdgeStartTimestamp", "EdgeEndTimestamp"):
        v = obj.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            ev["ts"] = epoch_to_utc(v)
            break
        if isinstance(v, str):
            ev["ts"] = parse_iso(v, received_at)
            break
    ip = obj.get("ClientIP")
    if isinstance(ip, str) and ip_or_none(ip):
        ev["src_ip"] = ip
    fields: dict[str, Any] = {}
    for key, name in (("ClientRequestMethod", "method"), ("ClientRequestURI", "path"),
                      ("ClientRequestProtocol", "protocol"), ("ClientRequestHost", "vhost"),
                      ("ClientRequestUserAgent", "user_agent"), ("ClientRequestReferer", "referer"),
                      ("WAFAction", "waf_action"), ("SecurityAction", "waf_action")):
        v = obj.get(key)
        if isinstance(v, str) and v:
            fields[name] = v
    status = obj.get("EdgeResponseStatus")
    st = status if isinstance(status, int) and not isinstance(status, bool) else None
    fields["status"] = st
    size = obj.get("EdgeResponseBytes")
    fields["bytes"] = size if isinstance(size, int) and not isinstance(size, bool) else None
    verdict = fields.get("waf_action")
    if verdict in ("block", "drop"):
        ev["action"] = "waf_block"
        fields["waf"] = "cloudflare"
    elif verdict in ("challenge", "jschallenge", "managedChallenge", "managed_challenge", "log"):
        ev["action"] = "waf_alert"
        fields["waf"] = "cloudflare"
    set_status(ev, st)
    ev["fields"] = fields
    ev["message"] = " ".join(str(fields[k]) for k in ("method", "path", "protocol") if fields.get(k))
    return ev


class WebJsonParser:
    """Caddy, Traefik and JSON-wrapped web server lines; None for every other line (cheap substring tests)."""

    name = "webjson"

    def __init__(self) -> None:
        self._access = AccessLogParser()

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or text[0] != "{":
            return None
        head = text[:400]
        if '"logger":"http.' in head or '"logger": "http.' in head:
            kind = "caddy"
        elif '"ClientHost"' in text and '"RequestPath"' in text:
            kind = "traefik"
        elif '"ClientIP"' in text and '"ClientRequestURI"' in text:
            kind = "cloudflare"
        elif '"message"' in text and ("nginx" in text or "apache" in text or "httpd" in text):
            kind = "wrapped"
        else:
            return None
        if too_deep(text, MAX_DEPTH):
            return None
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict):
            return None
        if kind == "caddy":
            logger = obj.get("logger")
            if isinstance(logger, str) and logger.startswith("http.handlers.waf"):
                return _coraza(obj, received_at)
            if isinstance(logger, str) and logger.startswith("http.log.access") and isinstance(
                    obj.get("request"), dict):
                return _caddy(obj, received_at)
            return None
        if kind == "traefik":
            return _traefik(obj, received_at)
        if kind == "cloudflare":
            return _cloudflare(obj, received_at)
        return self._wrapped(obj, received_at)

    def _wrapped(self, obj: dict[str, Any], received_at: datetime) -> dict[str, Any] | None:
        msg = obj.get("message")
        if not isinstance(msg, str):
            return None
        m = _WRAPPED.fullmatch(msg)
        if m is None:
            return None
        payload = m[3]
        ev = self._access.parse(payload, received_at)
        if ev is None:
            ev = {"message": payload}
            if not nginx_syslog_message(payload, ev, received_at):
                return None
            ev.setdefault("format", "nginx-error")
        else:
            ev["format"] = "access"
        if m[1]:
            ev["host"] = m[1]
        ev["app"] = m[2]
        ev["service"] = "apache" if m[2] in ("apache2", "httpd") else m[2]
        if ev.get("ts") is None:
            ts = obj.get("timestamp")
            if isinstance(ts, (int, float)) and not isinstance(ts, bool):
                ev["ts"] = epoch_to_utc(ts)
        return ev

