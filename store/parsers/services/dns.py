"""DNS servers: BIND 9 (`named`), through syslog or its own channel files (`DD-Mon-YYYY HH:MM:SS.mmm …`).

Actions (category `dns`): dns_denied (the server refused a client by policy: a query or a cache lookup outside
allow-query/allow-recursion, a zone transfer, a dynamic update; fields.request is query|axfr|update, fields.query
the `name/type/class` asked), dns_query (query logging: fields.query, fields.qtype).

Address: BIND writes `client [@0x…] ADDR#PORT` before anything the client chose (the query name that follows in
parentheses and quotes is the client's text), so the address is read there and nowhere else.
"""

from __future__ import annotations

import re
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import mark

DNS = "dns"
# BIND's own time stamp when its channel has print-time (also inside syslog lines when both are on).
BIND_TIME = re.compile(r"(\d{2})-([A-Z][a-z]{2})-(\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d{3}))? ")
_CLIENT = re.compile(r"(?:[a-z][a-z-]{0,30}: )?(?:(?:critical|error|warning|notice|info|debug(?: \d{1,2})?|dynamic): )?"
                     r"client (?:@0x[0-9a-fA-F]{1,16} )?([0-9A-Fa-f:.]{2,45})#(\d{1,5})"
                     r"(?: \((?:[^)\\]|\\.){0,1100}\))?(?: \[ECS [^\]]{0,64}\])?: (?:view [^:\s]{1,64}: )?(.*)\Z", re.S)
_DENIED = re.compile(r"(query(?: \(cache\))?|zone transfer|update|notify) '([^']{0,1100})' denied", re.S)
_NOTAUTH = re.compile(r"bad zone transfer request: '([^']{0,1100})': non-authoritative zone", re.S)
_QUERY = re.compile(r"query: (\S{1,1100}) (?:IN|CH|HS|ANY|CLASS\d+) (\S{1,16}) ")
_KIND = {"query": "query", "query (cache)": "query", "zone transfer": "axfr", "update": "update", "notify": "notify"}


def bind_message(msg: str, ev: dict[str, Any]) -> bool:
    """A named message (after any time stamp of BIND's own); False when it is not about a client."""
    m = _CLIENT.match(msg)
    if m is None:
        return False
    ev["service"] = "bind"
    ip, port, text = m[1], m[2], m[3]
    d = _DENIED.match(text)
    if d:
        return mark(ev, "dns_denied", outcome="failure", category=DNS, ip=ip, port=port, request=_KIND[d[1]],
                    query=d[2][:255], cache=True if d[1].endswith("(cache)") else None)
    d = _NOTAUTH.match(text)
    if d:
        return mark(ev, "dns_denied", outcome="failure", category=DNS, ip=ip, port=port, request="axfr",
                    query=d[1][:255], reason="not authoritative")
    q = _QUERY.match(text)
    if q:
        return mark(ev, "dns_query", category=DNS, ip=ip, port=port, query=q[1][:255], qtype=q[2])
    return mark(ev, None, category=DNS, ip=ip, port=port)


@extractor("bind", "bind9")
def _named(app: str, msg: str, ev: dict[str, Any]) -> bool:
    t = BIND_TIME.match(msg)
    return bind_message(msg[t.end():] if t else msg, ev)
