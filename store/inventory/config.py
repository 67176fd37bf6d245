"""What the site says about its OT assets (`[assets]` in the config): criticality per address or network, the
hosts expected to send commands, the site's own networks, and how long the inventory learns what is normal."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CRITICALITY_LEVELS = ("low", "medium", "high", "critical")


def parse_network(text: str) -> Network:
    """`10.0.0.5` or `10.0.0.0/24` (IPv6 too); ValueError naming the value otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an address or CIDR network") from None


def _addr(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _inside(addr: str, nets: list[Network]) -> bool:
    if not nets:
        return False
    ip = _addr(addr)
    return ip is not None and any(ip.version == n.version and ip in n for n in nets)


@dataclass
class InventoryConfig:
    criticality: list[tuple[Network, str]] = field(default_factory=list)  # most specific network wins
    engineering_stations: list[Network] = field(default_factory=list)
    hmis: list[Network] = field(default_factory=list)
    site_networks: list[Network] = field(default_factory=list)  # inside the site even if globally routable
    learning_hours: float = 24.0  # 0: learning ends only when told (`vigil assets learn --end`)
    max_assets: int = 50_000
    _cache: dict[str, tuple[str | None, bool, bool, bool]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_values(cls, criticality: dict[str, str] | None = None, engineering_stations: list[str] | None = None,
                    hmis: list[str] | None = None, site_networks: list[str] | None = None,
                    learning_hours: float = 24.0, max_assets: int = 50_000) -> InventoryConfig:
        """Raises ValueError naming the bad entry (the app's config loader turns it into a ConfigError)."""
        crit: list[tuple[Network, str]] = []
        for key, level in (criticality or {}).items():
            if level not in CRITICALITY_LEVELS:
                raise ValueError(f"criticality of {key!r}: {level!r} is not one of {', '.join(CRITICALITY_LEVELS)}")
            crit.append((parse_network(key), level))
        crit.sort(key=lambda c: -c[0].prefixlen)
        return cls(criticality=crit, engineering_stations=[parse_network(x) for x in engineering_stations or []],
                   hmis=[parse_network(x) for x in hmis or []],
                   site_networks=[parse_network(x) for x in site_networks or []], learning_hours=learning_hours,
                   max_assets=max_assets)

    @property
    def commanders_configured(self) -> bool:
        return bool(self.engineering_stations or self.hmis)

    def _lookup(self, addr: str) -> tuple[str | None, bool, bool, bool]:
        """(criticality, engineering station, HMI, inside the site) of an address, cached: events repeat them."""
        got = self._cache.get(addr)
        if got is None:
            level = None
            if self.criticality:
                ip = _addr(addr)
                if ip is not None:
                    level = next((lv for net, lv in self.criticality if ip.version == net.version and ip in net),
                                 None)
            got = (level, _inside(addr, self.engineering_stations), _inside(addr, self.hmis),
                   _inside(addr, self.site_networks))
            if len(self._cache) > 65536:
                self._cache.clear()
            self._cache[addr] = got
        return got

    def criticality_of(self, addr: str) -> str | None:
        return self._lookup(addr)[0]

    def is_engineering_station(self, addr: str) -> bool:
        return self._lookup(addr)[1]

    def is_hmi(self, addr: str) -> bool:
        return self._lookup(addr)[2]

    def inside_site(self, addr: str) -> bool:
        return self._lookup(addr)[3]

    def describe(self) -> dict[str, Any]:
        return {"criticality": {str(n): lv for n, lv in self.criticality},
                "engineering_stations": [str(n) for n in self.engineering_stations],
                "hmis": [str(n) for n in self.hmis], "site_networks": [str(n) for n in self.site_networks],
                "learning_hours": self.learning_hours}
