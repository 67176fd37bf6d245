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
    assert not medium_plus(run_rules(case_text("cowrie_telnet-bf")[:3]))


def test_refused_dns_requests() -> None:
    assert medium_plus(by_rule(run_rules(case_text("bind9-refused")), "dns.refused_requests")) == {
        "src_ip=104.219.136.31"}
    # bind9-logs: four refusals from one client in a minute (a misconfigured resolver) stay quiet.
    assert not medium_plus(run_rules(case_text("bind9-logs")))


def test_openvpn_handshake_failures() -> None:
    lines = case_text("openvpn-bf")
    assert medium_plus(by_rule(run_rules(lines), "vpn.handshake_bruteforce")) == {"src_ip=192.168.1.31"}
    assert not medium_plus(run_rules(lines[:3]))


def test_port_scans_through_three_firewalls() -> None:
    # CrowdSec hub test cases pf-scan-multi-port and mikrotik-scan-multi_ports (MIT).
    assert medium_plus(by_rule(run_rules(case_text("pf-scan-multi-port")), "net.port_scan")) == {"src_ip=10.0.2.2"}
    mt = case_text("mikrotik-scan-multi_ports")
    assert medium_plus(by_rule(run_rules(mt), "net.port_scan")) == {"src_ip=36.97.161.219"}
    ports = {line.rsplit(":", 1)[1].split(",")[0] for line in mt}
    assert len(ports) >= 15
    # A netfilter LOG line per port, fourteen distinct ports: below the threshold.
    nf = [f"Jun  8 14:34:{s:02d} h kernel: [5.{s}] DROP IN=eth0 OUT= SRC=203.0.113.9 DST=192.0.2.1 PROTO=TCP "
          f"SPT=40000 DPT={1000 + s}" for s in range(14)]
    assert not medium_plus(run_rules(nf))
    nf.append("Jun  8 14:34:59 h kernel: [5.99] DROP IN=eth0 OUT= SRC=203.0.113.9 DST=192.0.2.1 PROTO=TCP "
              "SPT=40000 DPT=8080")
    assert medium_plus(by_rule(run_rules(nf), "net.port_scan")) == {"src_ip=203.0.113.9"}


def test_windows_and_kubernetes() -> None:
    # CrowdSec hub test cases windows-bf, k8s-audit-pod-exec-file, k8s-audit-priv-pod-file, palo-alto-threat (MIT).
    assert medium_plus(by_rule(run_rules(case_text("windows-bf")), "auth.bruteforce")) == {"src_ip=192.168.9.212"}
    assert not medium_plus(run_rules(case_text("windows-bf")[:4]))
    assert medium_plus(run_rules(case_text("k8s-audit-pod-exec-file"))) == {"src_ip=192.168.49.1"}
    priv = by_rule(run_rules(case_text("k8s-audit-priv-pod-file")), "k8s.privileged_pod")
    assert [h.severity for h in priv] == ["high"]
    assert medium_plus(run_rules(case_text("palo-alto-threat"))) == {"src_ip=1.2.3.2", "src_ip=1.2.3.6"}
    assert medium_plus(by_rule(run_rules(case_text("fortinet-vpn-bf")), "auth.bruteforce")) == {"src_ip=192.168.0.1"}


def test_kubernetes_service_account_refusal_alerts() -> None:
    import json

    base = json.loads(case_text("k8s-audit-pod-exec-file")[0])
    sa = dict(base, user={"username": "system:serviceaccount:default:web"}, responseStatus={"code": 403},
              objectRef={"resource": "secrets"}, verb="list")
    assert medium_plus(by_rule(run_rules([json.dumps(sa)]), "k8s.service_account_forbidden")) == {
        "src_ip=192.168.49.1"}
    user = dict(sa, user={"username": "alice"})
    assert not medium_plus(run_rules([json.dumps(user)]))


def test_openvpn_failures_of_both_kinds_add_up() -> None:
    # OpenVPN's own log lines (the shapes of CrowdSec hub test case openvpn-bf, MIT): two refused certificates and
    # two HMAC failures from one address within a minute.
    lines = ["2024-12-15 14:12:12 198.51.100.8:45321 VERIFY ERROR: depth=0, error=certificate has expired: CN=x",
             "2024-12-15 14:12:20 198.51.100.8:45322 TLS Auth Error: Auth Username/Password verification failed "
             "for peer",
             "2024-12-15 14:12:30 198.51.100.8:45323 TLS Error: incoming packet authentication failed from "
             "[AF_INET]198.51.100.8:45323",
             "2024-12-15 14:12:40 198.51.100.8:45324 TLS Error: TLS handshake failed"]
    assert medium_plus(by_rule(run_rules(lines), "vpn.handshake_bruteforce")) == {"src_ip=198.51.100.8"}
    assert not medium_plus(run_rules(lines[:3]))


def test_kubernetes_refusals_of_both_kinds_add_up() -> None:
    import json

    base = json.loads(case_text("k8s-audit-pod-exec-file")[0])
    recs = []
    for i, code in enumerate((401, 403, 401, 403, 403)):
        recs.append(json.dumps(dict(base, user={"username": "bob"}, responseStatus={"code": code},
                                    objectRef={"resource": "secrets"}, verb="list", auditID=str(i),
                                    stageTimestamp=f"2023-05-17T15:08:3{i}.000000Z")))
    assert medium_plus(by_rule(run_rules(recs), "k8s.forbidden_burst")) == {"src_ip=192.168.49.1"}
    assert not medium_plus(run_rules(recs[:4]))
