"""Where the API listens: `PORT`, `HOST:PORT` or `[IPv6]:PORT`; loopback unless an address is given."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


class ApiAddressError(ValueError):
    """A listen address the API cannot use; the message names the value and the expected form."""


@dataclass(frozen=True)
class ApiAddress:
    host: str
    port: int

    @property
    def exposed(self) -> bool:
        """True when other machines can reach it (an operator's explicit choice; the token then crosses the
        network in clear text, so a tunnel or a TLS proxy belongs in front)."""
        return not ipaddress.ip_address(self.host).is_loopback

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}"


def parse_api_address(text: str) -> ApiAddress:
    raw = text.strip()
    form = "expected PORT, HOST:PORT or [IPv6]:PORT (e.g. 127.0.0.1:8765)"
    if raw.startswith("["):
        host, sep, port_text = raw[1:].partition("]:")
        if not sep:
            raise ApiAddressError(f"invalid API address {text!r}: {form}")
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    elif raw.isdigit():
        host, port_text = "127.0.0.1", raw
    else:
        raise ApiAddressError(f"invalid API address {text!r}: {form}")
    host = host or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        raise ApiAddressError(f"invalid API address {text!r}: the host must be an IP address "
                              "(127.0.0.1, ::1, or an interface address)") from None
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ApiAddressError(f"invalid API address {text!r}: the port must be a number 0-65535")
    return ApiAddress(host, int(port_text))
