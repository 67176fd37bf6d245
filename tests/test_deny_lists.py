"""Deny-lists cannot be slipped past: every loopback, unspecified, broadcast, multicast, link-local and reserved
address is refused, IPv6 spellings of a protected IPv4 address (mapped, 6to4, NAT64, IPv4-compatible, with a
scope id) are refused like the address itself, and a malformed network in config stops the program by name
instead of protecting nothing. Through the real `vigil` CLI, plus property tests of the guard itself."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks.addresses import canonical_ip
from playbooks.config import PlaybookConfig
from playbooks.guards import DenyLists
from playbooks.params import ParamError, coerce

from .conftest import ROOT, vigil_cmd

GOOD_CONFIG = '[playbooks]\nmanagement_nets = ["10.0.0.0/24"]\nprotected_assets = ["192.168.50.0/24"]\n'


def vigil(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*vigil_cmd(), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ), check=False)


def dry_run(config: Path, ip: str) -> subprocess.CompletedProcess[str]:
    return vigil("playbooks", "dry-run", "--config", str(config), "block_ip_nft", "--param", f"ip={ip}",
                 "--param", "duration=3600")


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "vigil.toml"
    path.write_text(GOOD_CONFIG)
    return path


@pytest.mark.parametrize(("ip", "why"), [
    ("127.0.0.53", "loopback"),  # systemd-resolved's stub: loopback is a /8, not one address
    ("::ffff:10.0.0.1", "a management network (10.0.0.0/24)"),
    ("::ffff:192.168.50.7", "a protected OT asset (192.168.50.0/24)"),
    ("0.0.0.0", "unspecified"),
    ("255.255.255.255", "broadcast"),
    ("224.0.0.1", "multicast"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("2002:a00:1::1", "it embeds 10.0.0.1"),  # 6to4 spelling of a management address
    ("64:ff9b::a00:1", "it embeds 10.0.0.1"),  # NAT64 spelling
])
def test_dry_run_refuses_special_and_disguised_protected_addresses(config: Path, ip: str, why: str) -> None:
    r = dry_run(config, ip)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "ACCEPTED" not in out and "REJECTED" in out
    assert "deny-list:" in out and why in out, out


def test_an_ordinary_public_address_is_still_accepted_in_any_spelling(config: Path) -> None:
    """The control: the guard refuses special addresses, not addresses in general. A mapped spelling of a
    public address is acted on as the IPv4 address the kernel sees."""
    for ip in ("203.0.113.9", "::ffff:203.0.113.9"):
        r = dry_run(config, ip)
        assert r.returncode == 0 and "ACCEPTED" in r.stdout, r.stdout + r.stderr
        steps = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("step ban:")]
        assert len(steps) == 1 and "203.0.113.9" in steps[0] and "::ffff" not in r.stdout, r.stdout


@pytest.mark.parametrize("command", [
    ("doctor", "--config", "{cfg}"),
    ("playbooks", "dry-run", "--config", "{cfg}", "block_ip_nft", "--param", "ip=10.0.0.5"),
    ("run", "--headless", "--config", "{cfg}", "--watch", "/dev/null"),
])
@pytest.mark.parametrize(("key", "value"), [
    ("management_nets", "10.0.0.0/33"),
    ("management_nets", "10.0.0/24"),
    ("protected_assets", "192.168.1.300"),
    ("protected_users", "not a user"),
])
def test_malformed_deny_list_entry_in_config_is_refused_by_key(tmp_path: Path, command: tuple[str, ...],
                                                              key: str, value: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[playbooks]\n{key} = ["{value}"]\n')
    r = vigil(*(str(bad) if arg == "{cfg}" else arg for arg in command), timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert f"playbooks.{key}[0]" in out and value in out and str(bad) in out, out
    assert "Traceback" not in out and "ACCEPTED" not in out
    assert len([ln for ln in out.splitlines() if value in ln]) == 1  # one line says it


def test_a_mapped_network_in_config_protects_the_ipv4_addresses(tmp_path: Path) -> None:
    deny = DenyLists.from_config(PlaybookConfig(management_nets=["::ffff:10.9.0.0/120"], detect_local=False))
    assert deny.violation("ip", "10.9.0.5") and deny.violation("ip", coerce("ip", "::ffff:10.9.0.5"))
    assert deny.violation("ip", "10.9.1.5") is None


def test_scope_ids_are_dropped_and_mapped_addresses_become_ipv4() -> None:
    assert coerce("ip", "::ffff:203.0.113.9") == "203.0.113.9"
    assert coerce("ip", "2001:db8::1%eth0") == "2001:db8::1"
    assert coerce("cidr", "::ffff:203.0.113.0/120") == "203.0.113.0/24"
    with pytest.raises(ParamError):
        coerce("ip", "10.0.0.0/33")


_DENY = DenyLists.from_config(PlaybookConfig(management_nets=["10.0.0.0/24"], protected_assets=["192.168.50.0/24"],
                                             detect_local=False))


def _is_special(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (addr.is_loopback or addr.is_unspecified or addr.is_multicast or addr.is_link_local or addr.is_reserved
            or addr == ipaddress.IPv4Address("255.255.255.255"))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_every_special_address_is_refused_whatever_its_family(addr: ipaddress.IPv4Address | ipaddress.IPv6Address
                                                              ) -> None:
    canon = canonical_ip(str(addr))
    if _is_special(canon):
        assert _DENY.violation("ip", str(canon)) is not None, canon


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=255), st.sampled_from(["10.0.0", "192.168.50"]))
def test_no_ipv6_spelling_reaches_a_protected_ipv4_address(last: int, net: str) -> None:
    v4 = ipaddress.IPv4Address(f"{net}.{last}")
    n = int(v4)
    spellings = [f"::ffff:{v4}", str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1)),
                 str(ipaddress.IPv6Address((0x0064FF9B << 96) | n)), f"::{v4}"]
    for text in spellings:
        assert _DENY.violation("ip", coerce("ip", text)) is not None, text
    assert _DENY.violation("host", str(v4)) is not None  # an address given as a host name is still an address
