"""Client addresses as self-hosted applications write them: one address, `ip:port`, `[v6]:port`, IPv4-mapped
IPv6, or a forwarded chain ("client, proxy, …").

A forwarded chain mixes what the client sent (X-Forwarded-For is a request header: its left part is whatever the
client chose) with what the site's own proxies appended (its right part). The client is therefore taken the way
nginx's realip module does with the private ranges trusted (`real_ip_recursive on`): the rightmost address that
is not internal; when every hop is internal, the leftmost. A chain with anything but addresses in it is not
trusted at all. Limit, stated: an insider behind no proxy can still prepend an address of their choosing.
"""

from __future__ import annotations

import ipaddress
import re

from store.parsers.common import is_ip

# Hops treated as the site's own: RFC 1918, loopback, link-local, CGNAT, IPv6 ULA/link-local/loopback.
_INTERNAL = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
    "::1/128", "fc00::/7", "fe80::/10",
))
_HOST_PORT = re.compile(r"\[([0-9A-Fa-f:.]{2,45})\]:(\d{1,5})|([0-9.]{7,15}):(\d{1,5})")
MAX_CHAIN = 16


def canonical_ip(text: str | None) -> str | None:
    """The address as written, or None if `text` is not exactly one address. `::ffff:a.b.c.d` → `a.b.c.d` (the
    same client logs both ways depending on the socket family, and must be counted as one)."""
    if not text:
        return None
    if text[0] == "[" and text[-1] == "]":
        text = text[1:-1]
    if not is_ip(text):
        return None
    if text[:7].lower() == "::ffff:" and "." in text:
        v4 = text[7:]
        return v4 if is_ip(v4) else text
    return text


def host_of(text: str | None) -> str | None:
    """Address of `ip`, `ip:port` or `[v6]:port`; None for anything else."""
    if not text:
        return None
    ip = canonical_ip(text)
    if ip is not None:
        return ip
    m = _HOST_PORT.fullmatch(text)
    if m is None:
        return None
    return canonical_ip(m[1] or m[3])


def is_internal(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in _INTERNAL if net.version == addr.version)


def client_from_chain(entries: list[str]) -> str | None:
    """The client of a forwarded chain written left (client's claim) to right (nearest hop); see module doc."""
    if not entries or len(entries) > MAX_CHAIN:
        return None
    ips: list[str] = []
    for e in entries:
        ip = host_of(e.strip())
        if ip is None:
            return None
        ips.append(ip)
    for ip in reversed(ips):
        if not is_internal(ip):
            return ip
    return ips[0]


def client_from_list(text: str) -> str | None:
    """`client_from_chain` over a comma-separated list ("a, b, c")."""
    return client_from_chain(text.split(","))
