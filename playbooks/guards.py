"""Deny-lists (never target this host, its gateway, management networks, protected OT assets, protected
accounts/services) and the fixed registry of preconditions re-checked before anything runs."""

from __future__ import annotations

import getpass
import ipaddress
import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbooks.actions import ACTIONS, ActionContext
from playbooks.addresses import Network, canonical_ip, canonical_network, identities, special_address
from playbooks.config import PlaybookConfig
from playbooks.params import network_or_host


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


_LOCAL_CACHE: dict[str, tuple[float, set[str]]] = {}
_LOCAL_TTL_S = 60.0


def _cached(key: str, fn: Callable[[], set[str]]) -> set[str]:
    """Interface addresses change rarely; probing them costs a process, so keep them for a minute."""
    now = time.monotonic()
    hit = _LOCAL_CACHE.get(key)
    if hit is None or now - hit[0] > _LOCAL_TTL_S:
        hit = (now, fn())
        _LOCAL_CACHE[key] = hit
    return set(hit[1])


def _local_addresses() -> set[str]:
    found = {"127.0.0.1", "::1"}
    ip = shutil.which("ip")
    if ip:
        try:
            out = subprocess.run([ip, "-j", "addr", "show"], capture_output=True, timeout=3, check=False).stdout
            for iface in json.loads(out or b"[]"):
                for info in iface.get("addr_info", []):
                    if info.get("local"):
                        found.add(str(info["local"]))
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    except OSError:
        pass
    return found


def _default_gateways() -> set[str]:
    gws: set[str] = set()
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) > 2 and cols[1] == "00000000" and cols[2] != "00000000":
                gws.add(str(ipaddress.IPv4Address(int(cols[2], 16).to_bytes(4, "little"))))
    except (OSError, ValueError):
        pass
    try:
        for line in Path("/proc/net/ipv6_route").read_text().splitlines():
            cols = line.split()
            if len(cols) > 4 and cols[0] == "0" * 32 and cols[1] == "00" and cols[4] != "0" * 32:
                gws.add(str(ipaddress.IPv6Address(bytes.fromhex(cols[4]))))
    except (OSError, ValueError):
        pass
    return gws


def _nets(values: list[str]) -> tuple[list[Network], set[str]]:
    """Networks and host names from config entries. A malformed network raises ValueError: a typo in a
    deny-list must stop the program, never silently protect nothing (config loading names the key first)."""
    nets: list[Network] = []
    names: set[str] = set()
    for v in values:
        entry = network_or_host(v)
        if isinstance(entry, str):
            names.add(entry)
        else:
            nets.append(entry)
    return nets, names


ALWAYS_PROTECTED_USERS = frozenset({"root"})
@dataclass
class DenyLists:
    """Named lists a target may never be in. Built once from config (plus local detection)."""

    self_nets: list[Network] = field(default_factory=list)
    gateway_nets: list[Network] = field(default_factory=list)
    management_nets: list[Network] = field(default_factory=list)
    protected_nets: list[Network] = field(default_factory=list)
    protected_hosts: set[str] = field(default_factory=set)
    own_hosts: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    protect_system_accounts: bool = True

    @classmethod
    def from_config(cls, cfg: PlaybookConfig) -> DenyLists:
        selfs = list(cfg.self_addresses)
        gws = list(cfg.gateways)
        if cfg.detect_local:
            selfs += sorted(_cached("self", _local_addresses))
            gws += sorted(_cached("gateways", _default_gateways))
        prot_nets, prot_names = _nets(cfg.protected_assets)
        users = set(ALWAYS_PROTECTED_USERS) | set(cfg.protected_users)
        try:
            users.add(getpass.getuser())  # the analyst's own account
        except Exception:
            pass
        if os.environ.get("SUDO_USER"):
            users.add(os.environ["SUDO_USER"])  # the analyst behind sudo
        hostname = socket.gethostname().lower()
        return cls(
            self_nets=_local_nets(selfs), gateway_nets=_local_nets(gws), management_nets=_nets(cfg.management_nets)[0],
            protected_nets=prot_nets, protected_hosts=prot_names,
            own_hosts={hostname, hostname.split(".")[0], "localhost", "localhost.localdomain", "ip6-localhost",
                       "ip6-loopback"},
            users=users, services={s.lower() for s in cfg.protected_services},
            protect_system_accounts=cfg.protect_system_accounts,
        )

    def is_protected_asset(self, value: str) -> bool:
        try:
            net = canonical_network(value)
        except ValueError:
            return value.lower() in self.protected_hosts
        return any(face.overlaps(p) for face, _ in identities(net) for p in self.protected_nets
                   if p.version == face.version)

    def _network_violation(self, ptype: str, text: str) -> str | None:
        net = canonical_network(text)
        for face, how in identities(net):
            for label, nets in (("this host's own address", self.self_nets), ("a default gateway", self.gateway_nets),
                                ("a management network", self.management_nets),
                                ("a protected OT asset", self.protected_nets)):
                for p in nets:
                    if p.version == face.version and face.overlaps(p):
                        return f"{text} is {label} ({p}){how}"
        if ptype == "cidr" and net.prefixlen < (16 if net.version == 4 else 48):
            return f"{text} is too wide to block"
        for face, how in identities(net):
            # A permitted network is at most a /16 (IPv4) or /48 (IPv6), so it lies wholly inside any special
            # range it touches: looking at both ends is enough.
            for end in (face.network_address, face.broadcast_address):
                if why := special_address(end):
                    return f"{text} is {why}{how}: never a single remote host to act on"
        return None

    def _user_violation(self, name: str) -> str | None:
        if name in self.users:
            return f"user {name} is protected (root, the analyst's own account or [playbooks] protected_users)"
        if self.protect_system_accounts and (uid := _system_uid(name)) is not None:
            return f"user {name} is a system account (uid {uid}): services run as it; never locked"
        return None

    def violation(self, ptype: str, value: Any) -> str | None:
        """Why `value` may not be targeted, or None."""
        text = str(value)
        if ptype in ("ip", "cidr"):
            return self._network_violation(ptype, text)
        if ptype == "host":
            try:
                canonical_ip(text)
            except ValueError:
                pass
            else:  # a host parameter written as an address gets the address rules
                return self._network_violation("ip", text)
            low = text.lower()
            if low in self.own_hosts:
                return f"{text} is this host"
            if low in self.protected_hosts:
                return f"{text} is a protected OT asset"
            return None
        if ptype == "user":
            return self._user_violation(text)
        if ptype == "service":
            base = text.lower().removesuffix(".service")
            if base in self.services or text.lower() in self.services:
                return f"service {text} is protected"
            return None
        return None


def _local_nets(values: list[str]) -> list[Network]:
    """Detected local addresses are kernel output, not config: an odd entry is skipped, not fatal."""
    out: list[Network] = []
    for v in values:
        try:
            out.append(canonical_network(v))
        except ValueError:
            continue
    return out


def _uid_min() -> int:
    try:
        for line in Path("/etc/login.defs").read_text().splitlines():
            cols = line.split()
            if len(cols) >= 2 and cols[0] == "UID_MIN" and cols[1].isdigit():
                return int(cols[1])
    except OSError:
        pass
    return 1000


def _system_uid(name: str) -> int | None:
    """The uid of a local system account (below UID_MIN, or nobody-like at the top), else None."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except (KeyError, OSError):
        return None
    return uid if uid < _uid_min() or uid >= 65534 else None


@dataclass
class CheckContext:
    config: PlaybookConfig
    deny: DenyLists
    params: Mapping[str, Any]
    action_ctx: ActionContext
    source: str = ""  # who chose the playbook: llm | offline_rules | rules | analyst


def _probe(ctx: CheckContext, action: str, args: Mapping[str, Any]) -> int:
    """Run a read-only registry action and return its exit code (127 if it cannot run)."""
    spec = ACTIONS[action]
    assert not spec.mutating, "preconditions may only run read-only actions"
    cmd = spec.build(args, ctx.action_ctx)
    argv = [*ctx.config.exec_prefix, *cmd.argv] if spec.privileged else list(cmd.argv)
    try:
        return subprocess.run(argv, input=cmd.stdin, capture_output=True, timeout=10, check=False,
                              env=child_env()).returncode
    except (OSError, subprocess.SubprocessError):
        return 127


def child_env() -> dict[str, str]:
    """A minimal environment for child processes: no secrets, no proxies, our package importable."""
    from playbooks.actions import PROJECT_ROOT

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "HOME")}
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


def check_binary_available(args: Mapping[str, Any], ctx: CheckContext) -> CheckResult:
    name = str(args.get("name", ""))
    path = shutil.which(name)
    return CheckResult(f"binary_available({name})", path is not None, path or f"{name} not found on PATH")


_BLOCK_CHECKS = {"nft": "nft.get_element", "iptables": "iptables.check_drop", "hosts_deny": "hosts_deny.check"}


def check_not_already_blocked(args: Mapping[str, Any], ctx: CheckContext) -> CheckResult:
    ip = ctx.params.get(str(args.get("param", "ip")))
    method = str(args.get("method", "nft"))
    name = f"not_already_blocked({ip}, {method})"
    if method not in _BLOCK_CHECKS:
        return CheckResult(name, False, f"unknown method {method}")
    if method == "hosts_deny":
        # A plain file read: no process needed (same line format the helper writes).
        from playbooks.tools.hosts_deny import _line

        path = Path(ctx.config.hosts_deny_path)
        try:
            present = _line(str(ip)) in path.read_text().splitlines()
        except FileNotFoundError:
            present = False
        except OSError as exc:
            return CheckResult(name, False, f"cannot read {path}: {exc.strerror}")
        return CheckResult(name, not present, "already blocked" if present else "not blocked yet")
    if not shutil.which("nft" if method == "nft" else "iptables"):
        return CheckResult(name, True, f"{method} not installed; nothing blocked yet")
    rc = _probe(ctx, _BLOCK_CHECKS[method], {"ip": ip})
    return CheckResult(name, rc != 0, "already blocked" if rc == 0 else "not blocked yet")


def check_user_exists(args: Mapping[str, Any], ctx: CheckContext) -> CheckResult:
    user = str(ctx.params.get(str(args.get("param", "user")), ""))
    try:
        pwd.getpwnam(user)
        return CheckResult(f"user_exists({user})", True, "account exists")
    except KeyError:
        return CheckResult(f"user_exists({user})", False, "no such local account")


def check_configured(args: Mapping[str, Any], ctx: CheckContext) -> CheckResult:
    key = str(args.get("key", ""))
    value = getattr(ctx.config, key, None)
    return CheckResult(f"configured({key})", bool(value), "set" if value else f"{key} is not configured")


def check_writable(args: Mapping[str, Any], ctx: CheckContext) -> CheckResult:
    key = str(args.get("key", ""))
    value = getattr(ctx.config, key, None)
    if not value:
        return CheckResult(f"writable({key})", False, f"{key} is not configured")
    path = Path(value)
    target = path if path.is_dir() else path.parent
    while not target.exists() and target != target.parent:
        target = target.parent
    ok = os.access(target, os.W_OK)
    return CheckResult(f"writable({key})", ok, f"{target} {'is' if ok else 'is not'} writable")


def check_not_protected_asset(args: Mapping[str, Any], ctx: CheckContext) -> CheckResult:
    value = str(ctx.params.get(str(args.get("param", "")), ""))
    bad = ctx.deny.is_protected_asset(value)
    return CheckResult(f"not_protected_asset({value})", not bad, "protected OT asset" if bad else "not protected")


def check_account_compromised(args: Mapping[str, Any], ctx: CheckContext) -> CheckResult:
    """Containment of an account needs proof it is the attacker's now, or an analyst's own choice: the
    account that only *received* failed logins is the victim."""
    from playbooks.evidence import compromised_accounts

    user = str(ctx.params.get(str(args.get("param", "user")), ""))
    name = f"account_compromised({user})"
    if ctx.source == "analyst":
        return CheckResult(name, True, "chosen explicitly by the analyst")
    if user in compromised_accounts(ctx.action_ctx.evidence):
        return CheckResult(name, True, "a login succeeded after failed logins for it from the same address")
    return CheckResult(name, False, "no successful login after failures for this account in the cited evidence "
                                    "(failures alone make it the victim); an analyst may still choose it")


PRECONDITIONS: dict[str, Callable[[Mapping[str, Any], CheckContext], CheckResult]] = {
    "binary_available": check_binary_available,
    "not_already_blocked": check_not_already_blocked,
    "user_exists": check_user_exists,
    "configured": check_configured,
    "writable": check_writable,
    "not_protected_asset": check_not_protected_asset,
    "account_compromised": check_account_compromised,
}
