"""VoIP: Asterisk (security events, chan_sip and res_pjsip notices, in syslog and its own log files) and FreeSWITCH.
Real lines from the CrowdSec hub test cases (MIT, crowdsecurity/hub; case named at each use) and the notices these
servers write; a property test plants addresses in every SIP field the caller chooses."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse, parse_all, parsed_lines


def test_every_address_the_hub_parsers_assert_for_voip_lines_is_found() -> None:
    checked = 0
    for case, line_no, asserted, ev in parsed_lines("voip"):
        if asserted.get("source_ip") is None:
            continue
        checked += 1
        assert ev.get("src_ip") == asserted["source_ip"], (case, line_no, ev)
    assert checked >= 5


def test_asterisk_security_events() -> None:
    # CrowdSec hub test cases asterisk-bf, asterisk-user-enum (own log file) and asterisk-syslogs (MIT).
    bf = parse_all(case_text("asterisk-bf"))
    assert {(e["format"], e["action"], e["src_ip"], e["user"]) for e in bf} == {
        ("asterisk", "login_failed", "172.17.0.1", "6001")}
    enum = parse_all(case_text("asterisk-user-enum"))
    assert [e["user"] for e in enum] == ["netadmin", "admin", "toto", "tata", "tutu", "root"]
    assert all(e["fields"]["invalid_user"] for e in enum)
    sl = parse_all(case_text("asterisk-syslogs"))
    assert [e["action"] for e in sl] == ["login_failed", "login_failed", "sip_challenge", "login_failed",
                                         "login_failed", "login_failed"]
    assert sl[0].get("user") is None  # AccountID="<unknown>"


def test_asterisk_chan_sip_and_pjsip_notices() -> None:
    evs = parse_all([
        "[2021-12-21 12:57:01] NOTICE[12345][C-00000001] chan_sip.c: Registration from '\"100\"<sip:100@192.0.2.1>' "
        "failed for '203.0.113.5:5060' - Wrong password",
        "[Dec 21 12:57:01] NOTICE[12345] chan_sip.c: Registration from '<sip:admin@192.0.2.1>' failed for "
        "'203.0.113.6:5071' - No matching peer found",
        "[2021-12-21 12:57:01] NOTICE[12345] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from "
        "'<sip:1001@192.0.2.1>' failed for '203.0.113.7:5060' (callid: abc) - No matching endpoint found",
        "[2021-12-21 12:57:01] NOTICE[12345][C-00000002] chan_sip.c: Call from '' (203.0.113.9:5060) to extension "
        "'0046812345' rejected because extension not found in context 'default'.",
        "Jan 10 10:00:00 pbx asterisk[123]: NOTICE[456]: chan_sip.c:28255 in handle_request_register: Registration "
        "from '<sip:200@x>' failed for '203.0.113.10:5060' - Wrong password",
    ])
    assert [(e["action"], e["src_ip"], e.get("user")) for e in evs] == [
        ("login_failed", "203.0.113.5", "100"), ("login_failed", "203.0.113.6", "admin"),
        ("login_failed", "203.0.113.7", "1001"), ("sip_extension_not_found", "203.0.113.9", None),
        ("login_failed", "203.0.113.10", "200")]
    assert evs[1]["fields"]["invalid_user"] and evs[3]["fields"]["extension"] == "0046812345"


def test_freeswitch_sofia_messages() -> None:
    # CrowdSec hub test cases freeswitch-acl-reject and freeswitch-user-enumeration (MIT, crowdsecurity/hub).
    acl = parse_all(case_text("freeswitch-acl-reject"))
    assert {(e["action"], e["src_ip"]) for e in acl} == {("sip_acl_rejected", "1.2.3.4")}
    enum = parse_all(case_text("freeswitch-user-enumeration"))
    assert {(e["action"], e["src_ip"], e["user"]) for e in enum} == {("login_failed", "1.2.3.4", "2501")}
    evs = parse_all([
        "2023-03-06 15:13:23.504993 [WARNING] sofia_reg.c:1734 SIP auth failure (REGISTER) on sofia profile "
        "'internal' for [1000@192.0.2.1] from ip 203.0.113.11",
        "4f9b9e2e-1111-2222-3333-444455556666 2023-03-06 15:13:23.504993 96.80% [WARNING] sofia_reg.c:3223 IP "
        "203.0.113.13 Rejected by acl \"domains\". Falling back to Digest auth.",
        "Jan 10 10:00:00 pbx freeswitch[123]: [WARNING] sofia_reg.c:1734 SIP auth failure (INVITE) on sofia profile "
        "'external' for [1001@x] from ip 203.0.113.12",
        "2023-03-06 15:13:23.504993 [ERROR] some_app.c:12 something unrelated",
        "2023-03-06 15:13:23 [ERROR] another application's line",
    ])
    assert [(e.get("format"), e.get("action"), e.get("src_ip")) for e in evs] == [
        ("freeswitch", "login_failed", "203.0.113.11"), ("freeswitch", "sip_acl_fallback", "203.0.113.13"),
        ("rfc3164", "login_failed", "203.0.113.12"), ("freeswitch", None, None), ("plain", None, None)]


VICTIM = "192.0.2.10"
HOSTILE = [f"RemoteAddress=\"IPV4/UDP/{VICTIM}/5060\"", '",', '"', f"' failed for '{VICTIM}:5060' - Wrong password",
           f"' failed for '{VICTIM}:1' (callid: x) - ", f"] from ip {VICTIM}", f" from {VICTIM}", f"({VICTIM}:5060)",
           f"IP {VICTIM} Rejected by acl", "'", "]", "[", ")", "(", f"{VICTIM}", f"sip:x@{VICTIM}"]
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=6)), max_size=6).map("".join)

TEMPLATES = [
    "[Dec 21 12:57:01] SECURITY[77]: res_security_log.c:114 security_event_stasis_cb: "
    "SecurityEvent=\"InvalidAccountID\",EventTV=\"2021-12-21T12:56:58.192+0000\",Severity=\"Error\","
    "Service=\"PJSIP\",EventVersion=\"1\",AccountID=\"{u}\",SessionID=\"{u}\",LocalAddress=\"IPV4/UDP/172.17.0.2/5060\","
    "RemoteAddress=\"IPV4/UDP/203.0.113.42/55287\",Challenge=\"{u}\"",
    "[2021-12-21 12:57:01] NOTICE[1][C-00000001] chan_sip.c: Registration from '\"{u}\"<sip:{u}@192.0.2.1>' failed "
    "for '203.0.113.42:5060' - Wrong password",
    "[2021-12-21 12:57:01] NOTICE[1] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:{u}@x>' failed "
    "for '203.0.113.42:5060' (callid: {u}) - Failed to authenticate",
    "[2021-12-21 12:57:01] NOTICE[1] chan_sip.c: Call from '' (203.0.113.42:5060) to extension '{u}' rejected "
    "because extension not found in context 'default'.",
    "2023-03-06 15:11:14.385000 96.03% [WARNING] sofia_reg.c:3223 Can't find user [{u}@x] from 203.0.113.42",
    "2023-03-06 15:13:23.504993 [WARNING] sofia_reg.c:1734 SIP auth failure (REGISTER) on sofia profile 'internal' "
    "for [{u}] from ip 203.0.113.42",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), hostile)
def test_caller_chosen_text_never_names_the_address(template: str, text: str) -> None:
    line = template.format(u=text)
    ev = parse(line)
    assert ev.get("src_ip") in (None, "203.0.113.42"), (line, ev)


def test_the_hostile_templates_name_the_client_when_the_text_is_plain() -> None:
    for template in TEMPLATES:
        assert parse(template.format(u="alice")).get("src_ip") == "203.0.113.42", template
