"""The passive asset inventory in memory: every address seen serving or speaking an industrial protocol, what it
serves, whom it talks to, which functions it was asked or sent, its identity when a record disclosed one, and a
role inferred from all that (a server is a PLC, outstation, IED… by protocol; a client that programs, stops or
reconfigures devices is an engineering station; one that polls and writes set-points is an HMI).

What was seen during the learning period is the baseline; after it, the first talker, function, protocol or
write target a server never had in its baseline is marked on the event that shows it (once), which is what the
OT Sigma rules match. Sets are capped so a flood of spoofed talkers cannot grow an asset without bound.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store.ot.protocols import COMMAND_ACTIONS, ENGINEERING_ACTIONS, SERVER_ROLE

TRANSPORTS = frozenset({"cotp"})  # carries another protocol; says nothing about the role
MAX_SET = 512  # per asset and set (peers, talkers, functions, write targets)
ROLE_ENGINEERING = "engineering station"
ROLE_HMI = "HMI"


@dataclass
class Asset:
    address: str
    first_seen: datetime
    last_seen: datetime
    served: Counter[str] = field(default_factory=Counter)  # protocol → events as the server
    spoken: Counter[str] = field(default_factory=Counter)  # protocol → events as the client
    sent: Counter[str] = field(default_factory=Counter)  # action → requests sent as a client
    functions: set[str] = field(default_factory=set)  # "proto:function" it was asked (server) since first seen
    talkers: set[str] = field(default_factory=set)  # clients that talked to it
    peers: set[str] = field(default_factory=set)  # everyone it talked to, either way
    write_targets: set[str] = field(default_factory=set)  # "proto:object" written on it
    baseline: dict[str, set[str]] = field(default_factory=lambda: {"functions": set(), "talkers": set(),
                                                                   "protocols": set(), "write_targets": set()})
    identity: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    commands: int = 0  # commands received (as a server)
    configured_role: str | None = None

    def role(self) -> str:
        if self.configured_role:
            return self.configured_role
        served = [(n, p) for p, n in self.served.items() if p not in TRANSPORTS]
        if served:
            return SERVER_ROLE.get(max(served)[1], "server")
        if any(self.sent[a] for a in ENGINEERING_ACTIONS):
            return ROLE_ENGINEERING
        if self.spoken:
            return ROLE_HMI
        return "unknown"

    def protocols(self) -> list[str]:
        return sorted(set(self.served) | set(self.spoken))


def _add(s: set[str], value: str) -> bool:
    """Add to a capped set; True when it was new (a full set takes nothing more and reports nothing new)."""
    if value in s or len(s) >= MAX_SET:
        return False
    s.add(value)
    return True


class AssetBook:
    """Assets by address, the learning state, and the changes since the last save."""

    def __init__(self, max_assets: int = 50_000) -> None:
        self.assets: dict[str, Asset] = {}
        self.max_assets = max_assets
        self.dropped = 0  # addresses not recorded because the inventory was full
        self.dirty: set[str] = set()

    def get(self, address: str, when: datetime) -> tuple[Asset | None, bool]:
        """The asset for `address` (created if new: second value True), or None when the inventory is full."""
        a = self.assets.get(address)
        if a is not None:
            return a, False
        if len(self.assets) >= self.max_assets:
            self.dropped += 1
            return None, False
        a = self.assets[address] = Asset(address, when, when)
        return a, True

    def observe(self, *, client: str | None, server: str | None, proto: str, function: str | None,
                action: str, direction: str, target: str | None, when: datetime, learning: bool,
                identity: dict[str, Any] | None = None, server_only: bool = False) -> dict[str, Any]:
        """Record one industrial event; return the marks for it (what is new since the baseline)."""
        marks: dict[str, Any] = {}
        asks = direction in ("request", "transaction", "unsolicited")
        srv = cli = None
        if server:
            srv, created = self.get(server, when)
            if srv is not None:
                if created and not learning:
                    marks["new_asset"] = server
                self._touch(srv, when)
                srv.served[proto] += 1
                if identity:
                    srv.identity.update({k: v for k, v in identity.items() if v not in (None, "")})
        if client and not server_only:
            cli, created = self.get(client, when)
            if cli is not None:
                if created and not learning and "new_asset" not in marks:
                    marks["new_asset"] = client
                self._touch(cli, when)
                cli.spoken[proto] += 1
                if asks:
                    cli.sent[action] += 1
        if srv is not None and cli is not None:
            _add(srv.peers, cli.address)
            _add(cli.peers, srv.address)
            fresh_pair = _add(srv.talkers, cli.address)
            if learning:
                _add(srv.baseline["talkers"], cli.address)
            elif fresh_pair and cli.address not in srv.baseline["talkers"]:
                marks["new_talker"] = cli.address
        if srv is not None:
            if learning:
                _add(srv.baseline["protocols"], proto)
            elif srv.served[proto] == 1 and proto not in srv.baseline["protocols"] and "new_asset" not in marks:
                marks["new_protocol"] = proto
            if function and asks and direction != "unsolicited" and proto not in TRANSPORTS:
                key = f"{proto}:{function}"
                fresh = _add(srv.functions, key)
                if learning:
                    _add(srv.baseline["functions"], key)
                elif fresh and key not in srv.baseline["functions"]:
                    marks["new_function"] = function
                if action in COMMAND_ACTIONS:
                    srv.commands += 1
            if target and action in ("ot_write", "ot_control") and asks:
                key = f"{proto}:{target}"
                fresh = _add(srv.write_targets, key)
                if learning:
                    _add(srv.baseline["write_targets"], key)
                elif fresh and key not in srv.baseline["write_targets"]:
                    marks["new_write_target"] = target
        return marks

    def _touch(self, a: Asset, when: datetime) -> None:
        a.events += 1
        if when > a.last_seen:
            a.last_seen = when
        if when < a.first_seen:
            a.first_seen = when
        self.dirty.add(a.address)

    def take_dirty(self) -> list[Asset]:
        out = [self.assets[a] for a in sorted(self.dirty) if a in self.assets]
        self.dirty.clear()
        return out
