"""Access logs of proxies and load balancers with their own line formats: AWS Application Load Balancer, AWS
CloudFront (standard logs, tab-separated), Nginx Proxy Manager (its proxy-host and default-host formats), NPMplus
and Zoraxy.

Each format is anchored at the start of the line and the client address is read from the field the software
writes it in. Fields the client controls that come before that field (the Host header in NPM and Zoraxy, the
request in ALB) cannot contain the separators the patterns rely on (a Host header has no spaces; ALB, NPM and
CloudFront escape or encode quotes, spaces and tabs), so they cannot move it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from store.parsers.access import _timestamp as clf_timestamp
from store.parsers.common import ip_or_none, parse_iso, port_or_none
from store.parsers.webcommon import absolute_target, int_or_none, set_status, split_request

_Q = r'"((?:[^"\\]|\\.)*)"'
_ALB = re.compile(
    r"(https?|h2|wss?|grpcs?) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\S+) (\S+):(\d{1,5}) (\S+) "
    r"(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (\d{3}|-) (\d{3}|-) (\d+|-) (\d+|-) " + _Q + " " + _Q + r"(?: (.*))?",
    re.S,
)
_CLF_TIME = r"\[(\d{1,2})/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})\] "
_NPM = re.compile(
    _CLF_TIME + r"(?:(\S+) (\d{3}|-) )?(\d{3}) - ([A-Z]{1,20}) (https?) (\S+) " + _Q
    + r" \[Client ([^\]\s]+)\] \[Length (\d+)\] \[Gzip [^\]\s]+\](?: \[Sent-to ([^\]\s]+)\])? " + _Q + " " + _Q
    + r"\s*$",
    re.S,
)
_NPMPLUS = re.compile(
    _CLF_TIME + r"(\S+) (\S+) ([\d.]+|-) " + _Q + r" (\d{3}) (\d+) (\d+) (\S+) (.*)$", re.S,
)
_ZORAXY = re.compile(
    r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\] \[router:([^\]\s]*)\] "
    r"\[origin:([^\]\s]*)\] \[client: ([^\]\s]+)\] \[useragent: (.*)\] ([A-Z]{1,20}) (\S+) (\d{3})$",
    re.S,
)
_CF_DATE = re.compile(r"\d{4}-\d\d-\d\d\t\d\d:\d\d:\d\d\t")


def _alb(text: str, received_at: datetime) -> dict[str, Any] | None:
    m = _ALB.match(text)
    if m is None:
        return None
    ev: dict[str, Any] = {"format": "aws-alb", "app": "aws-alb", "service": "aws-alb", "category": "web",
                          "ts": parse_iso(m[2], received_at)}
    ip = ip_or_none(m[4])
    fields: dict[str, Any] = {"type": m[1], "elb": m[3]}
    if ip is not None:
        ev["src_ip"] = ip
        port = port_or_none(m[5])
        if port is not None:
            ev["src_port"] = port
    request = m[14]
    split_request(request, fields)
    if fields.get("path"):
        fields["path"] = absolute_target(fields["path"], fields)
    st = int_or_none(m[10])
    fields["status"] = st
    fields["target_status"] = int_or_none(m[11])
    fields["bytes"] = int_or_none(m[13])
    fields["user_agent"] = None if m[15] == "-" else m[15]
    ev["fields"] = fields
    set_status(ev, st)
    # The request line as an origin server would log it (path, not the absolute URL the balancer saw).
    ev["message"] = " ".join(str(x) for x in (fields.get("method"), fields.get("path"), fields.get("protocol")) if x) \
        or request
    return ev


def _npm(text: str, received_at: datetime) -> dict[str, Any] | None:
    m = _NPM.match(text)
    if m is None:
        return None
    ev: dict[str, Any] = {"format": "nginx-proxy-manager", "app": "nginx", "service": "nginx", "category": "web",
                          "ts": clf_timestamp(*m.group(1, 2, 3, 4, 5, 6, 7))}
    st = int(m[10])
    fields: dict[str, Any] = {"method": m[11], "path": m[14], "protocol": None, "status": st,
                              "bytes": int_or_none(m[16]), "vhost": m[13], "scheme": m[12]}
    if m[8] not in (None, "-"):
        fields["cache"] = m[8]
    if m[9] not in (None, "-"):
        fields["upstream_status"] = int(m[9])
    if m[17]:
        fields["upstream"] = m[17]
    fields["user_agent"] = None if m[18] == "-" else m[18]
    fields["referer"] = None if m[19] == "-" else m[19]
    ip = ip_or_none(m[15])
    if ip is not None:
        ev["src_ip"] = ip
    else:
        fields["client"] = m[15]
    ev["fields"] = fields
    set_status(ev, st)
    ev["message"] = f"{m[11]} {m[14]}"
    return ev


def _npmplus(text: str, received_at: datetime) -> dict[str, Any] | None:
    m = _NPMPLUS.match(text)
    if m is None:
        return None
    ip = ip_or_none(m[9])
    if ip is None:
        return None
    ev: dict[str, Any] = {"format": "npmplus", "app": "nginx", "service": "nginx", "category": "web",
                          "ts": clf_timestamp(*m.group(1, 2, 3, 4, 5, 6, 7)), "src_ip": ip}
    fields: dict[str, Any] = {"vhost": m[8]}
    request = m[11]
    split_request(request, fields)
    st = int(m[12])
    fields["status"] = st
    fields["bytes"] = int_or_none(m[13])
    fields["referer"] = None if m[15] == "-" else m[15]
    ua = m[16].strip()
    fields["user_agent"] = None if ua in ("", "-") else ua
    ev["fields"] = fields
    set_status(ev, st)
    ev["message"] = request
    return ev


def _zoraxy(text: str, received_at: datetime) -> dict[str, Any] | None:
    m = _ZORAXY.match(text)
    if m is None:
        return None
    ev: dict[str, Any] = {"format": "zoraxy", "app": "zoraxy", "service": "zoraxy", "category": "web",
                          "ts": parse_iso(m[1], received_at)}
    ip = ip_or_none(m[4])
    fields: dict[str, Any] = {"router": m[2], "vhost": m[3], "method": m[6], "path": m[7], "protocol": None}
    if ip is not None:
        ev["src_ip"] = ip
    else:
        fields["client"] = m[4]
    st = int(m[8])
    fields["status"] = st
    fields["user_agent"] = m[5] or None
    ev["fields"] = fields
    set_status(ev, st)
    ev["message"] = f"{m[6]} {m[7]}"
    return ev


def _cloudfront(text: str, received_at: datetime) -> dict[str, Any] | None:
    if _CF_DATE.match(text) is None:
        return None
    parts = text.split("\t")
    if len(parts) < 24:
        return None
    ip = ip_or_none(parts[4])
    ev: dict[str, Any] = {"format": "aws-cloudfront", "app": "cloudfront", "service": "cloudfront",
                          "category": "web", "ts": parse_iso(f"{parts[0]}T{parts[1]}+00:00", received_at)}
    if ip is not None:
        ev["src_ip"] = ip
    query = parts[11]
    path = parts[7] + ("?" + query if query not in ("", "-") else "")
    st = int_or_none(parts[8])
    fields: dict[str, Any] = {
        "method": parts[5], "path": path, "protocol": parts[23] if parts[23] != "-" else None, "status": st,
        "vhost": parts[15] if parts[15] != "-" else parts[6], "edge": parts[2],
        "referer": None if parts[9] == "-" else unquote(parts[9]),
        # CloudFront URL-encodes the agent (spaces as %20, sometimes twice).
        "user_agent": None if parts[10] == "-" else unquote(unquote(parts[10])),
        "bytes": int_or_none(parts[3]),
    }
    ev["fields"] = fields
    set_status(ev, st)
    ev["message"] = " ".join(x for x in (parts[5], path, fields["protocol"]) if x)
    return ev


class WebProxyParser:
    """ALB, CloudFront, Nginx Proxy Manager, NPMplus and Zoraxy access lines."""

    name = "webproxy"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if len(text) < 30:
            return None
        c = text[0]
        if c == "[":
            return _npm(text, received_at) or _npmplus(text, received_at)
        if c in "hgw":
            return _alb(text, received_at)
        if c.isdigit():
            if text[4] == "/":
                return _zoraxy(text, received_at)
            if text[4] == "-" and "\t" in text[:40]:
                return _cloudfront(text, received_at)
        return None
