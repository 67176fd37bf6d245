"""FortiGate key=value records and PAN-OS CSV records. Real lines from the CrowdSec hub test cases (MIT,
crowdsecurity/hub; case named at each use); property tests plant addresses in the user name (FortiGate) and in
the quoted URL column (PAN-OS), the fields a client chooses."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse, parse_all

PLANTED = st.lists(st.sampled_from(list("ab ,=/:") + [' remip=192.0.2.10 ', ' srcip=192.0.2.10', '"', '\\"',
                                                     ",192.0.2.10,", "192.0.2.10"]), max_size=10).map("".join)
PAN = ('2023-07-05T14:14:33+02:00 pa.example 1,2023/07/05 14:14:33,016401002737,THREAT,vulnerability,2561,'
       '2023/07/05 14:14:33,198.51.100.7,1.2.3.7,198.51.100.7,1.2.3.7,Rule,,,web-browsing,vsys1,Untrust,Untrust,'
       'e1,e1,fwd,2023/07/05 14:14:33,1475349,3,32362,80,32362,28869,0x402000,tcp,alert,"{url}",'
       'Nmap Scripting Engine Detection(58433),medium-risk,medium,client-to-server,7204134051339790802,0x80,'
       'Germany,France,0,,,0')


def test_fortigate_sslvpn_failures() -> None:
    # CrowdSec hub test case fortinet-vpn-bf (MIT).
    evs = parse_all(case_text("fortinet-vpn-bf"))
    assert {(e["format"], e["service"], e["action"], e["src_ip"]) for e in evs} == {
        ("fortigate", "fortinet", "login_failed", "192.168.0.1")}
    assert evs[0].get("user") is None and evs[0]["fields"]["invalid_user"] is True  # user="N/A", unknown user
    assert evs[1]["user"] == "sapservicecq1"
    assert evs[0]["ts"].isoformat() == "2024-10-14T20:46:40+00:00"  # tz="-0700"


def test_fortigate_traffic_and_admin_login() -> None:
    deny = parse('date=2024-10-14 time=13:46:40 devname="fw1" logid="0000000013" type="traffic" subtype="forward" '
                 'level="notice" srcip=203.0.113.4 srcport=40000 dstip=192.0.2.1 dstport=3389 action="deny" '
                 'service="RDP"')
    assert (deny["action"], deny["src_ip"], deny["dst_ip"], deny["fields"]["dst_port"]) == (
        "fw_drop", "203.0.113.4", "192.0.2.1", 3389)
    admin = parse('<189>date=2024-10-14 time=13:46:40 devname="fw1" logid="0100032002" type="event" '
                  'subtype="system" level="alert" logdesc="Admin login failed" srcip=203.0.113.5 user="admin" '
                  'action="login" status="failed" reason="name_invalid" ui="https(203.0.113.5)"')
    assert (admin["action"], admin["src_ip"], admin["user"]) == ("login_failed", "203.0.113.5", "admin")


def test_fortigate_behind_a_relay_header() -> None:
    # CrowdSec hub test case fortinet-vpn-bf (MIT) as an rsyslog relay writes it.
    line = "Oct 14 13:46:40 fw01 " + case_text("fortinet-vpn-bf")[1]
    ev = parse(line)
    assert (ev["format"], ev["action"], ev["src_ip"], ev["user"]) == (
        "fortigate", "login_failed", "192.168.0.1", "sapservicecq1")


def test_panos_threat_records() -> None:
    # CrowdSec hub test case palo-alto-threat (MIT).
    evs = parse_all(case_text("palo-alto-threat"))
    assert [(e["action"], e["src_ip"], e["fields"]["severity"]) for e in evs] == [
        ("ids_alert", "1.2.3.2", "high"), ("ids_alert", "1.2.3.6", "medium")]
    assert evs[0]["fields"]["threat"] == "SSH User Authentication Brute Force Attempt(40015)"
    low = parse(PAN.format(url="x").replace(",medium,client", ",low,client"))
    assert low["action"] == "ids_event"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=PLANTED)
def test_client_text_never_supplies_the_address(text: str) -> None:
    quoted = text.replace("\\", "").replace('"', '\\"')
    ev = parse(f'date=2024-10-14 time=13:46:40 logid="1" type="event" subtype="vpn" action="ssl-login-fail" '
               f'remip=198.51.100.7 user="{quoted}" reason="sslvpn_login_permission_denied"')
    assert ev.get("src_ip") == "198.51.100.7", ev
    pan = parse(PAN.format(url=text.replace('"', '""')))
    assert pan.get("src_ip") == "198.51.100.7", pan
