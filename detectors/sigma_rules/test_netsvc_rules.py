"""Honeypot, DNS and VPN rules on real lines: CrowdSec hub test cases (MIT, crowdsecurity/hub; named at each use)."""

from __future__ import annotations

from detectors.sigma_rules.conftest import by_rule, run_rules
from tests.hub_cases import case_text


def medium_plus(hits: list) -> set[str]:
    return {h.entity for h in hits if h.severity in ("medium", "high", "critical")}


def test_repeated_honeypot_contact() -> None:
    hits = run_rules(case_text("endlessh-logs"))
    # 49.88.112.72 keeps coming back; the one-off scanners of the same file do not alert.
    assert medium_plus(hits) == {"src_ip=49.88.112.72"}
    assert medium_plus(by_rule(run_rules(case_text("cowrie_telnet-bf")), "honeypot.repeated_contact")) == {
        "src_ip=1.1.1.1"}
    assert not medium_plus(run_rules(case_text("cowrie_telnet-bf")[:4]))


def test_refused_dns_requests() -> None:
    assert medium_plus(by_rule(run_rules(case_text("bind9-refused")), "dns.refused_requests")) == {
        "src_ip=104.219.136.31"}
    # bind9-logs: four refusals from one client in a minute (a misconfigured resolver) stay quiet.
    assert not medium_plus(run_rules(case_text("bind9-logs")))


def test_openvpn_handshake_failures() -> None:
    lines = case_text("openvpn-bf")
    assert medium_plus(by_rule(run_rules(lines), "vpn.handshake_bruteforce")) == {"src_ip=192.168.1.31"}
    assert not medium_plus(run_rules(lines[:3]))
