"""Dropbear and Samba authentication lines. Real lines from the CrowdSec hub test cases (MIT, crowdsecurity/hub;
case named at each use) under a syslog header where the case has none, and Dropbear's messages as its source
writes them; property tests plant addresses in the user and workstation names the client chooses."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse, parse_all

PLANTED = st.lists(st.sampled_from(list("ab' :<>[]\\") + [" from 192.0.2.10:22", "<192.0.2.10:22>",
                                                         "] remote host [ipv4:192.0.2.10:445] mapped to [",
                                                         "192.0.2.10"]), max_size=8).map("".join)
HDR = "Mar 10 10:00:00 router dropbear[123]: "


def test_dropbear_attempts() -> None:
    # CrowdSec hub test case dropbear-logs (MIT): its lines carry no syslog header there; here under one.
    lines = [HDR + ln for ln in case_text("dropbear-logs")]
    evs = parse_all(lines)
    assert [(e.get("action"), e.get("src_ip")) for e in evs] == [
        (None, None), ("login_failed", "192.168.9.163"), ("login_failed", "192.168.9.163"),
        ("disconnect", "192.168.1.1")]
    assert evs[1]["user"] == "foobar" and evs[2]["fields"]["invalid_user"] is True
    ok = parse(HDR + "Password auth succeeded for 'root' from 203.0.113.5:40000")
    assert (ok["action"], ok["src_ip"], ok["user"]) == ("login", "203.0.113.5", "root")
    mx = parse(HDR + "Exit before auth from <203.0.113.5:40000>: (user 'root', 10 fails): Max auth tries reached")
    assert (mx["action"], mx["src_ip"], mx["user"]) == ("max_attempts", "203.0.113.5", "root")


def test_dropbear_lines_without_a_header() -> None:
    # CrowdSec hub test case dropbear-logs (MIT), as its file holds them.
    evs = parse_all(case_text("dropbear-logs"))
    assert [(e.get("action"), e.get("src_ip")) for e in evs][1:] == [
        ("login_failed", "192.168.9.163"), ("login_failed", "192.168.9.163"), ("disconnect", "192.168.1.1")]
    assert {e.get("format") for e in evs[1:]} == {"dropbear"}


def test_samba_auth_audit_lines() -> None:
    # CrowdSec hub test case smb-logs (MIT): log.smbd's bare lines, then the same under smbd's syslog tag.
    evs = parse_all(case_text("smb-logs"))
    assert [(e["service"], e["action"], e["src_ip"], e["user"]) for e in evs] == [
        ("samba", "login_failed", "172.17.0.1", "root"), ("samba", "login_failed", "172.17.0.1", "administrator")]
    assert evs[0]["fields"]["invalid_user"] is True
    sl = parse("Oct 14 15:24:12 nas smbd[77]: " + case_text("smb-logs")[1].strip())
    assert (sl["action"], sl["src_ip"]) == ("login_failed", "172.17.0.1")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=PLANTED)
def test_client_text_never_supplies_the_address(name: str) -> None:
    db = parse(HDR + f"Bad password attempt for '{name}' from 198.51.100.7:40000")
    assert (db["action"], db["src_ip"]) == ("login_failed", "198.51.100.7")
    smb = parse(f"  Auth: [SMB2,(null)] user [WORKGROUP]\\[{name}] at [Thu, 14 Oct 2021 15:24:12.023984 UTC] with "
                f"[NTLMv2] status [NT_STATUS_WRONG_PASSWORD] workstation [{name}] remote host "
                f"[ipv4:198.51.100.7:44890] mapped to [WORKGROUP]\\[{name}]. local host [ipv4:172.17.0.2:445]")
    assert smb.get("src_ip") in (None, "198.51.100.7"), smb
