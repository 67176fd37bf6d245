"""Pieces every web-server parser shares: splitting a request line, a status into outcome and severity, and the
normalised event vocabulary of web servers, proxies and WAFs.

Actions set by the web parsers (besides login_failed for failed HTTP authentication, category authentication):
`rate_limited` (the server refused a request over a configured rate or connection limit), `not_found` (an error
log's "file does not exist"), `forbidden` (denied by the server's configuration), `invalid_request` (a request the
server could not parse: bad URI, bad method, TLS on a plain port), `waf_alert` (a WAF rule matched: ModSecurity,
Coraza, NAXSI) and `waf_block` (the WAF denied the request).
"""

from __future__ import annotations

from typing import Any

# Methods a request line may start with; anything else is a probe of another protocol or garbage.
HTTP_METHODS = frozenset({
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PROPFIND", "PROPPATCH",
    "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "MKCALENDAR", "ACL", "PURGE",
})


def split_request(request: str, fields: dict[str, Any]) -> None:
    """`METHOD target HTTP/x` into method, path and protocol (as access.py does); anything else is kept whole."""
    method, sp, rest = request.partition(" ")
    if sp:
        path, sp2, proto = rest.rpartition(" ")
        protocol: str | None = proto
        if not sp2 or not proto.startswith("HTTP/"):
            path, protocol = rest, None
        fields["method"] = method
        fields["path"] = path
        fields["protocol"] = protocol
    else:
        fields["method"] = None
        fields["path"] = None
        fields["protocol"] = None
        fields["request"] = request


def absolute_target(target: str, fields: dict[str, Any]) -> str:
    """A proxy or load balancer logs `scheme://host:port/path`: keep the path, the host goes to `vhost`."""
    for scheme in ("https://", "http://", "wss://", "ws://"):
        if target[:len(scheme)].lower() == scheme:
            rest = target[len(scheme):]
            cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
            host, path = rest[:cut], rest[cut:] or "/"
            if path.startswith("?"):
                path = "/" + path
            if host.startswith("["):
                end = host.find("]")
                name = host[1:end] if end > 0 else host
                port = host[end + 2:] if end > 0 and host[end + 1:end + 2] == ":" else ""
            else:
                name, _, port = host.partition(":")
            fields["vhost"] = name
            if port.isdigit() and len(port) <= 5:
                fields["vhost_port"] = int(port)
            return path
    return target


def set_status(ev: dict[str, Any], status: int | None) -> None:
    """Outcome and syslog severity from an HTTP status, as the access-log parser sets them."""
    if status is None:
        return
    ev["outcome"] = "failure" if status >= 400 else "success"
    ev["severity"] = 3 if status >= 500 else 4 if status >= 400 else 6


def int_or_none(text: str | None) -> int | None:
    if text is None or not text.isdigit() or len(text) > 18:
        return None
    return int(text)
