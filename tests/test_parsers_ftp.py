"""FTP servers: vsftpd, proftpd, pure-ftpd, SFTPGo. Real lines from the CrowdSec hub test cases (MIT,
crowdsecurity/hub; case named at each use); a property test plants addresses in every field the client chooses."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse, parse_all, parsed_lines


def test_every_address_the_hub_parsers_assert_for_ftp_lines_is_found() -> None:
    checked = 0
    for case, line_no, asserted, ev in parsed_lines("ftp"):
        if asserted.get("source_ip") is None:
            continue
        checked += 1
        assert ev.get("src_ip") == asserted["source_ip"], (case, line_no, ev)
    assert checked >= 30


def test_proftpd_own_log_and_syslog_and_ipv6() -> None:
    # CrowdSec hub test case proftpd-logs (MIT, crowdsecurity/hub).
    evs = parse_all(case_text("proftpd-logs"))
    assert [(e["format"], e["action"], e["user"], bool(e["fields"].get("invalid_user"))) for e in evs] == [
        ("proftpd", "login_failed", "asd", True), ("proftpd", "login_failed", "seb", False),
        ("rfc3164", "login_failed", "sdf", True), ("rfc3164", "login_failed", "unruffled-feynman", False),
        ("proftpd", "login_failed", "ccvv_ftp1", True)]
    assert evs[-1]["src_ip"] == "2a02:8070:e186:16e1:1111:222:3333:b173"
    ev = parse("Jan 10 10:00:03 ftp proftpd[123]: ProFTPD Default Installation (203.0.113.8[203.0.113.8]) - "
               "Maximum login attempts (3) exceeded, connection refused")
    assert (ev["action"], ev["src_ip"], ev["fields"]["server_name"]) == (
        "max_attempts", "203.0.113.8", "ProFTPD Default Installation")


def test_vsftpd_log_and_mapped_addresses() -> None:
    # CrowdSec hub test case vsftpd-logs (MIT, crowdsecurity/hub).
    evs = parse_all(case_text("vsftpd-logs"))
    assert [(e["action"], e["src_ip"]) for e in evs] == [
        ("connect", "93.24.101.89"), ("login", "93.24.101.89"), ("login_failed", "93.24.101.89"),
        ("login_failed", "93.24.101.90"), ("login_failed", "1.2.3.4")]
    assert evs[4]["fields"]["reason"] == "permission denied"
    ev = parse('Jan 10 10:00:01 ftp vsftpd[123]: [pid 456] [admin] FAIL LOGIN: Client "::ffff:203.0.113.6"')
    assert (ev["format"], ev["action"], ev["src_ip"], ev["user"]) == ("rfc3164", "login_failed", "203.0.113.6",
                                                                        "admin")


def test_pureftpd_and_sftpgo() -> None:
    # CrowdSec hub test cases pureftpd-bf and sftpgo-bf (MIT, crowdsecurity/hub).
    p = parse_all(case_text("pureftpd-bf"))
    assert {(e["action"], e["src_ip"], e.get("user")) for e in p[:-1]} == {("login_failed", "172.21.10.2", "root")}
    assert (p[-1]["action"], p[-1]["user"]) == ("login", "user@test.com")
    s = parse_all(case_text("sftpgo-bf"))
    assert [(e["format"], e["action"], e["user"], e["fields"]["protocol"]) for e in s] == [
        ("sftpgo", "login_failed", "admin", "ssh"), ("sftpgo", "login_failed", "root", "ssh"),
        ("sftpgo", "login_failed", "test", "ssh"), ("sftpgo", "login_failed", "bob", "ftp")]
    # Another application's JSON that happens to have a "sender" key is not claimed as SFTPGo's.
    other = parse('{"level":"info","time":"2025-01-01T00:00:00Z","sender":"newsletter","client_ip":"192.0.2.7"}')
    assert other["format"] == "json" and other.get("action") is None


VICTIM = "192.0.2.10"
HOSTILE = [f'Client "{VICTIM}"', f'] FAIL LOGIN: Client "{VICTIM}"', f" ({VICTIM}[{VICTIM}]) - ", f"[{VICTIM}]",
           f" from {VICTIM} [{VICTIM}] to 10.0.0.1:21", f"(?@{VICTIM}) ", f"@{VICTIM}", '"', "]", "[", ")", "(",
           ": ", " - ", f"{VICTIM}", '", "530 Permission denied."']
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=6)), max_size=6).map("".join)

TEMPLATES = [
    'Mon Jun 8 12:08:53 2020 [pid 27244] [{u}] FAIL LOGIN: Client "::ffff:203.0.113.42"',
    'Mon Jun 8 12:08:53 2020 [pid 27244] [ftp] OK LOGIN: Client "203.0.113.42", anon password "{u}"',
    'Jan 10 10:00:00 ftp vsftpd[123]: [{u}] FAIL LOGIN: Client "203.0.113.42"',
    "2021-05-28 18:08:34,399 mantis proftpd[498819] mantis (203.0.113.42[203.0.113.42]): USER {u} (Login failed): "
    "Incorrect password",
    "2021-05-28 18:08:01,124 mantis proftpd[498625] mantis (203.0.113.42[203.0.113.42]): USER {u}: no such user "
    "found from 203.0.113.42 [203.0.113.42] to ::ffff:192.168.1.23:21",
    "Jan  7 14:19:31 ftpcdr pure-ftpd: (?@203.0.113.42) [WARNING] Authentication failed for user [{u}]",
    '{{"level":"debug","time":"2025-09-14T17:00:00.100","sender":"connection_failed","client_ip":"203.0.113.42",'
    '"username":"{j}","login_type":"password","protocol":"SSH","error":"invalid credentials {j}"}}',
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), hostile)
def test_client_chosen_text_never_names_the_address(template: str, text: str) -> None:
    import json

    line = template.format(u=text, j=json.dumps(text)[1:-1])
    ev = parse(line)
    assert ev.get("src_ip") in (None, "203.0.113.42"), (line, ev)


def test_the_hostile_templates_name_the_client_when_the_text_is_plain() -> None:
    for template in TEMPLATES:
        assert parse(template.format(u="alice", j="alice")).get("src_ip") == "203.0.113.42", template
