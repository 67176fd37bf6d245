"""One canonical form for addresses and networks, and the addresses that are never a single remote host.

An IPv4-mapped IPv6 address is the IPv4 address it carries and a scope id is dropped; the IPv4 address a 6to4,
Teredo, NAT64 or IPv4-compatible address stands for is checked too, so no spelling of a protected address
slips past a deny-list.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def canonical_ip(text: str) -> Address:
    """The one form an address is compared and acted on in: an IPv4-mapped IPv6 address is the IPv4 address
    it carries (the kernel delivers it as that), and an IPv6 scope id (`%eth0`) is dropped. ValueError if
    `text` is not an address."""
    addr = ipaddress.ip_address(text.strip())
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.scope_id:
            return ipaddress.IPv6Address(addr.packed)
    return addr


def canonical_network(text: str) -> Network:
    """A network in canonical form (host bits cleared, mapped IPv6 ranges as IPv4, no scope id).
    ValueError with a readable reason for anything that is not an address or CIDR."""
    raw = text.strip()
    try:
        net = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise ValueError(f"{raw[:60]!r} is not an address or network in CIDR form (e.g. 10.0.0.0/24)"
                         + _prefix_hint(raw)) from None
    if isinstance(net, ipaddress.IPv6Network):
        if net.subnet_of(_MAPPED):
            mapped = net.network_address.ipv4_mapped
            assert mapped is not None
            return ipaddress.IPv4Network((mapped, net.prefixlen - 96))
        if net.network_address.scope_id:
            return ipaddress.IPv6Network((ipaddress.IPv6Address(net.network_address.packed), net.prefixlen))
    return net


def _prefix_hint(raw: str) -> str:
    addr, sep, prefix = raw.partition("/")
    if not sep or not prefix.isdigit():
        return ""
    limit = 128 if ":" in addr else 32
    if int(prefix) > limit:
        return f": the prefix /{prefix} is longer than an IPv{4 if limit == 32 else 6} address ({limit} bits)"
    if limit == 32 and addr.count(".") != 3:
        return ": an IPv4 network needs all four parts, e.g. 10.0.0.0/24"
    return ""


def embedded_ipv4(addr: Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address stands for (6to4, Teredo client, NAT64, IPv4-compatible): a
    deny-listed IPv4 address must not be reachable through any of its IPv6 spellings."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return []
    out: list[ipaddress.IPv4Address] = []
    if addr.sixtofour is not None:
        out.append(addr.sixtofour)
    if addr.teredo is not None:
        out.append(addr.teredo[1])
    if any(addr in net for net in _NAT64) or (addr in _V4_COMPATIBLE and int(addr) > 1):
        out.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return out




def special_address(addr: Address) -> str | None:
    """Why an address can never be an attacker's source to act on (it is not one host out there), or None.
    Uses the ipaddress module's own range tables, so both families are covered."""
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    if addr == _BROADCAST:
        return "the broadcast address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_link_local:
        return "a link-local address"
    if isinstance(addr, ipaddress.IPv4Address) and addr in _THIS_NETWORK:
        return "a 'this network' address (0.0.0.0/8)"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "a site-local address"
    if addr.is_reserved:
        return "a reserved address"
    return None


def identities(net: Network) -> list[tuple[Network, str]]:
    """The network itself and every IPv4 address its ends embed (6to4, Teredo, NAT64), with how to say so."""
    out: list[tuple[Network, str]] = [(net, "")]
    for end in dict.fromkeys((net.network_address, net.broadcast_address)):
        for v4 in embedded_ipv4(end):
            out.append((ipaddress.IPv4Network(v4), f" (it embeds {v4})"))
    return out


