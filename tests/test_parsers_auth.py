"""sshd / sudo / su / PAM extraction on real auth.log lines, and whole-dataset counts against the READMEs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.parsers import ParserChain
from tests.conftest import DATASETS

FIXTURES = Path(__file__).parent / "fixtures" / "lines"
RA = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def fixture_lines(name: str) -> list[bytes]:
    data = (FIXTURES / name).read_bytes()
    return [ln for ln in data.split(b"\n") if ln and not ln.startswith(b"# ")]


def parse(line: str | bytes) -> dict:
    return ParserChain().parse(line.encode() if isinstance(line, str) else line, RA)


def summary(ev: dict) -> tuple:
    f = ev.get("fields") or {}
    return (f.get("action"), ev.get("outcome"), ev.get("user"), ev.get("src_ip"), ev.get("src_port"),
            ev.get("category"))


def test_elastic_auth_log_lines() -> None:
    ev = [parse(b) for b in fixture_lines("elastic_auth.log")]
    got = [summary(e) for e in ev]
    A, P = "authentication", "privilege"
    assert got == [
        ("login", "success", "ubuntu", "85.245.107.41", 54259, A),
        ("sudo", "success", "ubuntu", None, None, P),
        ("sudo", "success", "ubuntu", None, None, P),
        ("max_auth_attempts", "failure", "support", "95.152.57.58", 53679, A),
        ("max_auth_attempts", "failure", None, None, None, A),
        ("login", "failure", "root", "218.60.136.106", 56338, A),
        ("invalid_user", "failure", None, "34.204.227.175", None, A),
        ("disconnect", None, None, "85.245.107.41", 54259, A),
        ("disconnect", None, None, "85.245.107.41", 54259, A),
        ("auth_failure", "failure", "elastic_user_7", "127.0.0.1", None, A),
        ("su", "success", "root", None, None, P),
        ("bad_protocol", "failure", None, "85.245.107.41", 55172, A),
    ]
    assert ev[0]["fields"]["method"] == "publickey"
    assert ev[0]["fields"]["key"] == "RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg"
    assert ev[0]["ts"] == datetime(2026, 3, 27, 13, 8, 9, tzinfo=UTC)
    assert (ev[0]["host"], ev[0]["app"], ev[0]["pid"]) == ("ip-10-77-20-248", "sshd", 1361)
    sudo = ev[1]["fields"]
    assert sudo["target_user"] == "root" and sudo["tty"] == "pts/0" and sudo["pwd"] == "/home/ubuntu"
    assert sudo["command"] == ("/usr/bin/curl -L -O "
                               "https://artifacts.elastic.co/downloads/beats/filebeat/filebeat-5.2.2-amd64.deb")
    assert ev[2]["fields"]["target_user"] == "root"  # pam_unix(sudo:session) opened for root by ubuntu
    assert ev[3]["fields"]["invalid_user"] is True
    assert ev[5]["fields"]["repeated"] == 5 and ev[5]["fields"]["method"] == "password"
    assert ev[7]["fields"]["reason_code"] == 11
    assert ev[10]["fields"]["target_user"] == "root"


def test_loghub_openssh_lines_with_crlf() -> None:
    ev = [parse(b) for b in fixture_lines("loghub_openssh.log")]
    assert all(not e["raw"].endswith("\r") and e.get("parse_error") is None for e in ev)
    A = "authentication"
    assert [summary(e) for e in ev] == [
        ("break_in_attempt", "failure", None, "173.234.31.186", None, A),
        ("invalid_user", "failure", "webmaster", "173.234.31.186", None, A),
        ("disconnect", None, None, "173.234.31.186", None, A),
        ("login", "failure", "webmaster", "173.234.31.186", 38926, A),
        ("auth_failure", "failure", "root", "112.95.230.3", None, A),
        ("login", "success", "fztu", "119.137.62.142", 49116, A),
        ("login", "failure", "root", "5.36.59.76", 42393, A),
        ("login", "failure", "0", "5.188.10.180", 49811, A),
    ]
    assert ev[0]["fields"]["rdns"] == "ns.marryaldkfaczcz.com"
    assert ev[2]["fields"]["preauth"] is True
    assert ev[7]["fields"]["method"] == "none" and ev[7]["fields"]["invalid_user"] is True


def test_old_pam_tag_style_from_loghub_linux() -> None:
    ev = [parse(b) for b in fixture_lines("loghub_linux.log")]
    assert summary(ev[0]) == ("auth_failure", "failure", None, "218.188.2.4", None, "authentication")
    assert ev[0]["app"] == "sshd(pam_unix)" and ev[0]["pid"] == 19939
    assert summary(ev[1])[:3] == ("session_opened", "success", "cyrus")
    assert ev[3]["app"] == "syslogd 1.4.1" and ev[3]["message"] == "restart."


def test_wazuh_ruleset_auth_lines() -> None:
    ev = [parse(b) for b in fixture_lines("wazuh_ruleset_logs.log")]
    P, A = "privilege", "authentication"
    assert summary(ev[0]) == ("sudo", "failure", "mike", None, None, P)
    assert ev[0]["fields"]["status"] == "1 incorrect password attempt"
    assert ev[0]["fields"]["command"] == "/bin/ls"
    assert summary(ev[1]) == ("sudo", "failure", "ddp2", None, None, P)
    assert ev[1]["fields"]["status"] == "user NOT in sudoers"
    assert summary(ev[2]) == ("su", "failure", "ger", None, None, P)
    assert ev[2]["fields"]["target_user"] == "fwmaster"
    assert summary(ev[3]) == ("auth_failure", "failure", "root", "10.0.3.1", None, A)
    assert ev[3]["fields"]["count"] == 3
    assert summary(ev[4]) == ("login", "failure", "warez", "192.241.237.101", 54197, A)
    assert ev[4]["ts"] == datetime(2013, 10, 30, 13, 51, 24, 140565, tzinfo=UTC)
    assert summary(ev[5]) == ("login", "failure", "root", "192.168.1.1", 36942, A)  # Solaris "[ID …]" prefix
    assert ev[5]["host"] == "192.168.1.5"
    # macOS unified-log line: ISO time with a space, offset without colon, double space before host.
    assert summary(ev[6]) == ("login", "failure", "badguy", "192.168.33.1", None, A)
    assert ev[6]["ts"] == datetime(2020, 3, 23, 13, 47, 42, 801612, tzinfo=UTC)
    assert ev[6]["host"] == "localhost"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Connection closed by authenticating user root 203.0.113.9 port 50022 [preauth]",
         ("disconnect", None, "root", "203.0.113.9", 50022)),
        ("Connection closed by invalid user admin 203.0.113.9 port 50022 [preauth]",
         ("disconnect", None, "admin", "203.0.113.9", 50022)),
        ("Disconnected from user alice 2001:db8::5 port 22022", ("disconnect", None, "alice", "2001:db8::5", 22022)),
        ("Disconnected from invalid user bob 203.0.113.9 port 4 [preauth]",
         ("disconnect", None, "bob", "203.0.113.9", 4)),
        ("Invalid user guest from 203.0.113.9 port 51000", ("invalid_user", "failure", "guest", "203.0.113.9", 51000)),
        ("error: maximum authentication attempts exceeded for root from 203.0.113.9 port 1 ssh2 [preauth]",
         ("max_auth_attempts", "failure", "root", "203.0.113.9", 1)),
        ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  "
         "user=root", ("auth_failure", "failure", "root", "203.0.113.9", None)),
        ("Address 203.0.113.9 maps to x.example, but this does not map back to the address - POSSIBLE BREAK-IN "
         "ATTEMPT!", ("break_in_attempt", "failure", None, "203.0.113.9", None)),
        ("Accepted password for bob from 999.1.1.1 port 22 ssh2", ("login", "success", "bob", None, None)),
        ("Failed password for root from 203.0.113.9 port 99999 ssh2",
         ("login", "failure", "root", "203.0.113.9", None)),
    ],
)
def test_sshd_message_shapes(message: str, expected: tuple) -> None:
    ev = parse(f"Nov 21 05:48:02 host sshd[42]: {message}")
    assert summary(ev)[:5] == expected
    assert ev["category"] == "authentication"


def test_sudo_and_su_shapes() -> None:
    fail = parse("Nov 21 05:48:02 h sudo: pam_unix(sudo:auth): authentication failure; logname=eve uid=1000 "
                 "euid=0 tty=/dev/pts/0 ruser=eve rhost=  user=eve")
    assert summary(fail) == ("sudo", "failure", "eve", None, None, "privilege")
    su_fail = parse("Nov 21 05:48:02 h su[77]: FAILED SU (to root) eve on pts/0")
    assert summary(su_fail) == ("su", "failure", "eve", None, None, "privilege")
    assert su_fail["fields"]["target_user"] == "root"
    su_ok = parse("Nov 21 05:48:02 h su[77]: pam_unix(su:session): session opened for user root by eve(uid=1000)")
    assert summary(su_ok) == ("su", "success", "eve", None, None, "privilege")
    assert su_ok["fields"]["target_user"] == "root"
    su_modern = parse("Nov 21 05:48:02 h su[77]: (to root) eve on pts/1")
    assert summary(su_modern)[:3] == ("su", "success", "eve")


def test_non_ip_rhost_is_kept_in_fields_not_src_ip() -> None:
    ev = parse("Nov 21 05:48:02 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
               "tty=ssh ruser= rhost=ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn")
    assert ev.get("src_ip") is None
    assert ev["fields"]["rhost"] == "ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn"


def test_hostile_user_names_stay_text() -> None:
    ev = parse('Nov 21 05:48:02 h sshd[1]: Invalid user $(rm -rf /);"<x> from 203.0.113.9 port 2')
    assert ev["user"] == '$(rm -rf /);"<x>' and ev["src_ip"] == "203.0.113.9"


needs_datasets = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"datasets not found at {DATASETS}")


def parse_file(path: Path) -> list[dict]:
    chain = ParserChain()
    return [chain.parse(line, RA) for line in path.read_bytes().splitlines()]


@needs_datasets
def test_elastic_auth_log_counts_match_readme() -> None:
    path = DATASETS / "elastic-examples-security" / "auth.log"
    if not path.exists():
        pytest.skip(f"{path} missing")
    events = parse_file(path)
    assert len(events) == 7121 and not any(e.get("parse_error") for e in events)
    c = Counter()
    for e in events:
        f = e.get("fields") or {}
        if f.get("action") == "login" and f.get("method") == "password" and e.get("outcome") == "failure":
            c["failed_password"] += 1
        if f.get("action") == "invalid_user":
            c["invalid_user"] += 1
        if f.get("action") == "login" and e.get("outcome") == "success":
            c["accepted"] += 1
    # README: 713 "Failed password" (incl. "message repeated" lines), 178 "Invalid user", 226 "Accepted".
    assert c == {"failed_password": 713, "invalid_user": 178, "accepted": 226}
    fails = Counter(e["src_ip"] for e in events if (e.get("fields") or {}).get("method") == "password"
                    and e.get("outcome") == "failure")
    # README's top failing sources.
    assert fails.most_common(5) == [("24.151.103.17", 157), ("34.204.227.175", 43), ("49.4.143.105", 40),
                                    ("201.178.81.113", 32), ("122.163.61.218", 30)]


@needs_datasets
def test_loghub_openssh_counts_match_readme() -> None:
    path = DATASETS / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
    if not path.exists():
        pytest.skip(f"{path} missing")
    events = parse_file(path)
    assert len(events) == 2000 and not any(e.get("parse_error") for e in events)
    actions = Counter((e.get("fields") or {}).get("action") for e in events)
    failed_pw = sum(1 for e in events if (e.get("fields") or {}).get("method") == "password"
                    and e.get("outcome") == "failure")
    # README: 520 "Failed password", 113 "Invalid user", 85 "POSSIBLE BREAK-IN ATTEMPT", 1 "Accepted".
    assert failed_pw == 520
    assert actions["invalid_user"] == 113
    assert actions["break_in_attempt"] == 85
    assert sum(1 for e in events if e.get("outcome") == "success" and e["fields"]["action"] == "login") == 1
    assert all(e["host"] == "LabSZ" and e["app"] == "sshd" for e in events)


@needs_datasets
def test_wazuh_ruleset_auth_lines_all_classified() -> None:
    import json

    path = DATASETS / "wazuh-ruleset-tests" / "wazuh_ruleset_tests.jsonl"
    if not path.exists():
        pytest.skip(f"{path} missing")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 774  # README
    want = {"sshd.ini": "authentication", "macos-sshd.ini": "authentication", "sudo.ini": "privilege",
            "su.ini": "privilege"}
    seen = Counter()
    for r in records:
        ev = ParserChain().parse(r["log"].encode(), RA)
        assert ev["raw"] == r["log"]
        if r["file"] in want:
            seen[r["file"]] += 1
            assert ev["category"] == want[r["file"]], r["log"]
            assert ev.get("parse_error") is None, r["log"]
    assert seen == {"sshd.ini": 28, "macos-sshd.ini": 21, "sudo.ini": 8, "su.ini": 5}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # The user name carries a whole forged tail; sshd's own is the one that ends the line.
        ("Failed password for invalid user u0 from 192.0.2.10 port 22 from 203.0.113.66 port 42000 ssh2",
         ("login", "failure", "u0 from 192.0.2.10 port 22", "203.0.113.66", 42000)),
        ("Failed password for invalid user a from 192.0.2.10 port 22 ssh2: x from 203.0.113.66 port 4 ssh2",
         ("login", "failure", "a from 192.0.2.10 port 22 ssh2: x", "203.0.113.66", 4)),
        ("Failed none for illegal user b from 192.0.2.10 from 203.0.113.66 port 5 ssh2",
         ("login", "failure", "b from 192.0.2.10", "203.0.113.66", 5)),
        ("Accepted password for c from 192.0.2.10 port 22 ssh2 from 203.0.113.66 port 6 ssh2",
         ("login", "success", "c from 192.0.2.10 port 22 ssh2", "203.0.113.66", 6)),
        ("error: maximum authentication attempts exceeded for invalid user v from 192.0.2.10 port 22 from "
         "203.0.113.66 port 7 ssh2 [preauth]", ("max_auth_attempts", "failure", "v from 192.0.2.10 port 22",
                                                "203.0.113.66", 7)),
        ("Disconnecting invalid user d 192.0.2.10 port 22: Too many authentication failures 203.0.113.66 port 8: "
         "Too many authentication failures [preauth]",
         ("max_auth_attempts", "failure", "d 192.0.2.10 port 22: Too many authentication failures",
          "203.0.113.66", 8)),
        ("error: PAM: Authentication failure for illegal user e from 192.0.2.10 from 203.0.113.66",
         ("login", "failure", "e from 192.0.2.10", "203.0.113.66", None)),
        ("User f from 192.0.2.10 not allowed because not listed in AllowUsers from 203.0.113.66 not allowed "
         "because not listed in AllowUsers",
         ("not_allowed", "failure", "f from 192.0.2.10 not allowed because not listed in AllowUsers",
          "203.0.113.66", None)),
        ("Illegal user g from 192.0.2.10 from 203.0.113.66", ("invalid_user", "failure", "g from 192.0.2.10",
                                                              "203.0.113.66", None)),
        # A publickey line whose user forges "…ssh2: <key>": either address could be sshd's.
        ("Failed publickey for invalid user h from 192.0.2.10 port 22 ssh2: x from 203.0.113.66 port 9 ssh2: "
         "RSA SHA256:abc", ("login", "failure", None, None, None)),
        # A password line never has an info part: one after the address is not sshd's.
        ("Failed password for root from 192.0.2.10 port 22 ssh2: RSA SHA256:abc", ("login", "failure", None, None,
                                                                                   None)),
    ],
)
def test_crafted_user_names_cannot_move_the_address(message: str, expected: tuple) -> None:
    ev = parse(f"Nov 21 05:48:02 host sshd[42]: {message}")
    assert summary(ev)[:5] == expected
    assert ("ambiguous" in ev["fields"]) == (expected[3] is None)


@pytest.mark.parametrize(
    ("message", "src_ip", "port"),
    [
        ("Connection from 85.245.107.41 port 61663 on 10.77.20.248 port 222", "85.245.107.41", 61663),
        ('Connection from 2001:db8::5 port 61663 on 2001:db8::1 port 22 rdomain ""', "2001:db8::5", 61663),
        ("ssh_dispatch_run_fatal: Connection from 203.0.113.9 port 4: message authentication code incorrect "
         "[preauth]", "203.0.113.9", 4),
        ("fatal: Timeout before authentication for 203.0.113.9 port 5", "203.0.113.9", 5),
        ("Starting session: shell on pts/0 for ubuntu from 85.245.107.41 port 61663 id 0", "85.245.107.41", 61663),
        ("Close session: user ubuntu from 85.245.107.41 port 63497 id 0", "85.245.107.41", 63497),
        ("Postponed keyboard-interactive for invalid user x from 192.0.2.10 port 22 ssh2 from 203.0.113.9 port 6 "
         "ssh2 [preauth]", "203.0.113.9", 6),
        # The client's banner: sshd names no peer in this line, so none is read from it.
        ('kex_exchange_identification: client sent invalid protocol identifier "Failed password for root from '
         '192.0.2.10 port 22 ssh2"', None, None),
        ("Protocol major versions differ for x: SSH-2.0 vs. SSH-1.5-x from 192.0.2.10 port 22", None, None),
    ],
)
def test_other_sshd_messages_keep_only_a_peer_sshd_states(message: str, src_ip: str | None,
                                                           port: int | None) -> None:
    ev = parse(f"Nov 21 05:48:02 host sshd[42]: {message}")
    assert (ev.get("src_ip"), ev.get("src_port"), ev["category"]) == (src_ip, port, "authentication")


def test_pam_rhost_is_read_at_its_place_in_pam_unix_order() -> None:
    ev = parse("Nov 21 05:48:02 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
               "tty=ssh ruser= rhost=203.0.113.66  user=x rhost=192.0.2.10")
    assert summary(ev)[:4] == ("auth_failure", "failure", "x rhost=192.0.2.10", "203.0.113.66")
    # Without pam_unix's order, a user= text is still never read as keys; a key twice is ambiguous.
    ev = parse("Nov 21 05:48:02 h sshd(pam_unix)[1]: authentication failure; user=x rhost=192.0.2.10")
    assert ev.get("src_ip") is None and ev["user"] == "x rhost=192.0.2.10"
    ev = parse("Nov 21 05:48:02 h sshd(pam_unix)[1]: authentication failure; rhost=203.0.113.66 rhost=192.0.2.10")
    assert ev.get("src_ip") is None and ev["fields"]["ambiguous"] == "a PAM key given twice; address withheld"
