"""Packet filters: netfilter (kernel, UniFi, Proxmox), pfSense/OPNsense filterlog, MikroTik RouterOS, and WireGuard's
kernel lines. Real lines from the CrowdSec hub test cases (MIT, crowdsecurity/hub; case named at each use); a
property test plants addresses in the administrator's log prefix and the MikroTik login name."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse, parse_all, parsed_lines


def test_every_address_the_hub_parsers_assert_for_packet_filters_is_found() -> None:
    cases = {"iptables-logs", "pf-logs", "pfsense-rfc5424-filterlog", "mikrotik-logs", "proxmox-iptables-logs",
             "unifi-logs", "wireguard-logs"}
    checked = 0
    for case, line_no, asserted, ev in parsed_lines("network"):
        if case not in cases or asserted.get("source_ip") is None:
            continue
        if case == "unifi-logs" and line_no == 4:  # an sshd line in UniFi's own shape: not a packet
            continue
        checked += 1
        assert ev.get("src_ip") == asserted["source_ip"], (case, line_no, ev)
    assert checked >= 25


def test_netfilter_pf_and_mikrotik_fields() -> None:
    # CrowdSec hub test cases iptables-logs, pf-scan-multi-port, mikrotik-scan-multi_ports, proxmox-iptables-logs.
    nf = parse(case_text("iptables-logs")[0])
    assert (nf["action"], nf["src_ip"], nf["dst_ip"], nf["fields"]["dst_port"], nf["fields"]["protocol"]) == (
        "fw_drop", "195.54.160.107", "51.15.166.67", 8123, "tcp")
    pf = parse_all(case_text("pf-scan-multi-port"))
    assert {e["src_ip"] for e in pf} == {"10.0.2.2"} and len({e["fields"]["dst_port"] for e in pf}) >= 15
    mt = parse_all(case_text("mikrotik-scan-multi_ports"))
    assert {(e["service"], e["action"], e["src_ip"]) for e in mt} == {("mikrotik", "fw_drop", "36.97.161.219")}
    pve = parse_all(case_text("proxmox-iptables-logs"))
    assert [e.get("action") for e in pve][:3] == ["fw_drop", "fw_accept", "fw_drop"]  # policy DROP / ACCEPT / REJECT


def test_an_icmp_error_quoting_another_packet_names_no_source() -> None:
    ev = parse("Jun  8 14:34:33 h kernel: [5.1] DROP IN=eth0 OUT= SRC=203.0.113.1 DST=198.51.100.2 PROTO=ICMP "
               "TYPE=3 CODE=3 [SRC=198.51.100.2 DST=192.0.2.10 PROTO=UDP SPT=53 DPT=4444 ]")
    assert ev.get("src_ip") is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.lists(st.sampled_from(list("ab:= ,->[]") + [" SRC=192.0.2.10 ", " from 192.0.2.10 via ssh",
                                                          "192.0.2.10:22->", "DST=192.0.2.10"]),
                     max_size=10).map("".join))
def test_planted_text_never_supplies_the_address(name: str) -> None:
    login = parse(f"2023-03-19T12:34:09.757188+01:00 10.120.127.1 system,error,critical login failure for user "
                  f"{name} from 198.51.100.7 via winbox")
    assert login.get("src_ip") in (None, "198.51.100.7"), login
    if login.get("action") == "login_failed":
        assert login["src_ip"] == "198.51.100.7"
    nf = parse(f"Jun  8 14:34:33 h kernel: [5.1] {name.replace('=', '')} IN=eth0 OUT= SRC=198.51.100.7 "
               f"DST=192.0.2.1 PROTO=TCP SPT=1 DPT=22")
    assert nf.get("src_ip") in (None, "198.51.100.7"), nf


def test_routeros_without_topics_and_login_failure_spellings() -> None:
    # The shapes of CrowdSec hub test cases mikrotik-logs / mikrotik-scan-multi_ports (MIT) as RouterOS also logs them.
    chain = parse("Mar 18 20:36:59 MikroTik input: in:ether1-WAN out:(unknown 0), connection-state:new src-mac "
                  "00:17:10:88:bc:02, proto TCP (SYN), 36.97.161.219:59388->80.82.202.145:23, len 40")
    assert (chain["service"], chain["action"], chain["src_ip"], chain["fields"]["dst_port"]) == (
        "mikrotik", "fw_drop", "36.97.161.219", 23)
    for text in ("login failure for user admin from 10.127.0.35 via winbox",
                 "login: failure for user admin from 10.127.0.35 via ssh",
                 "AUTH_FAILED: login: failure for user admin from 10.127.0.35 via api"):
        ev = parse(f"2023-03-19T12:34:09.757188+01:00 10.120.127.1 system,error,critical {text}")
        assert (ev["action"], ev["src_ip"], ev["user"]) == ("login_failed", "10.127.0.35", "admin")
