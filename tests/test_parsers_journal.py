"""systemd journal JSON export (`journalctl -o json`, store/parsers/journal.py): a record gives the event the same
program's syslog line gives. Real syslog lines from the CrowdSec hub test cases sshd-logs and postfix-sasl-bf (MIT,
crowdsecurity/hub) are turned into the journal records journald writes for them; a property test plants addresses
in MESSAGE and in every other key a client can write."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse

_SYSLOG = re.compile(r"(\w{3} +\d{1,2} [\d:]{8}) (\S+) ([^\[:]+)\[(\d+)\]: (.*)")
COLUMNS = ("service", "action", "src_ip", "src_port", "user", "outcome", "category", "app", "host", "pid")


def journal_record(line: str, **extra: Any) -> str:
    """The journal record journald stores for a syslog line (the fields `journalctl -o json` prints)."""
    m = _SYSLOG.fullmatch(line)
    assert m is not None, line
    rec = {"__CURSOR": "s=9f1;i=4a2;b=77;m=1;t=5f;x=2", "__REALTIME_TIMESTAMP": "1707747021000000",
           "__MONOTONIC_TIMESTAMP": "8812", "_BOOT_ID": "77", "PRIORITY": "6", "SYSLOG_FACILITY": "4",
           "_TRANSPORT": "syslog", "_UID": "0", "_GID": "0", "_COMM": m[3].split("/")[0],
           "_EXE": "/usr/sbin/" + m[3].split("/")[0], "_SYSTEMD_UNIT": m[3].split("/")[0] + ".service",
           "_HOSTNAME": m[2], "SYSLOG_IDENTIFIER": m[3], "SYSLOG_PID": m[4], "_PID": m[4], "MESSAGE": m[5]}
    rec.update(extra)
    return json.dumps(rec)


def _cols(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: ev.get(k) for k in COLUMNS}


def test_sshd_and_postfix_lines_give_equal_columns_as_syslog_and_as_journal_json() -> None:
    lines = case_text("sshd-logs")[:40] + case_text("postfix-sasl-bf")[:5] + [
        "Dec  3 10:00:01 web1 sshd[2101]: Failed password for root from 203.0.113.9 port 52144 ssh2",
        "Dec  3 10:00:02 web1 sshd[2101]: Accepted publickey for deploy from 198.51.100.3 port 40022 ssh2: ED25519 "
        "SHA256:abc",
        "Dec  3 10:00:03 web1 dovecot[77]: imap-login: Disconnected (auth failed, 1 attempts): user=<bob>, "
        "method=PLAIN, rip=198.51.100.8, lip=10.0.0.1, TLS, session=<abc001>",
    ]
    seen_actions = set()
    for line in lines:
        if _SYSLOG.fullmatch(line) is None:
            continue
        as_syslog, as_journal = parse(line), parse(journal_record(line))
        assert as_journal["format"] == "journal", line
        assert _cols(as_journal) == _cols(as_syslog), line
        assert as_journal["message"] == as_syslog["message"]
        seen_actions.add(as_journal.get("action"))
    # The comparison covered the attempts that matter, not only lines neither reader understands.
    assert {"login_failed", "invalid_user", "login"} <= seen_actions, seen_actions


def test_journal_metadata_time_priority_and_fallbacks() -> None:
    line = "Dec  3 10:00:01 web1 sshd[2101]: Failed password for root from 203.0.113.9 port 52144 ssh2"
    ev = parse(journal_record(line))
    assert ev["ts"].timestamp() == 1707747021.0 and ev["severity"] == 6 and ev["facility"] == 4
    assert ev["fields"]["unit"] == "sshd.service" and ev["fields"]["transport"] == "syslog"
    # No SYSLOG_IDENTIFIER (a native journal client): _COMM names the program.
    rec = json.loads(journal_record(line))
    del rec["SYSLOG_IDENTIFIER"], rec["SYSLOG_PID"]
    ev2 = parse(json.dumps(rec))
    assert (ev2["app"], ev2["action"], ev2["src_ip"], ev2["pid"]) == ("sshd", "login_failed", "203.0.113.9", 2101)
    # journalctl prints a MESSAGE that is not UTF-8 as an array of bytes.
    rec["MESSAGE"] = list(b"Failed password for root from 203.0.113.9 port 52144 ssh2\xff")
    ev3 = parse(json.dumps(rec))
    assert ev3["format"] == "journal" and ev3["message"].endswith("ssh2\ufffd")
    # A MESSAGE that is neither (journalctl's array of several values) is kept, not read.
    rec["MESSAGE"] = ["Failed password for root from 203.0.113.9 port 1 ssh2", "x"]
    ev4 = parse(json.dumps(rec))
    assert ev4.get("src_ip") is None and ev4.get("parse_error")


VICTIM = "192.0.2.10"
hostile = st.lists(st.sampled_from([
    VICTIM, f" from {VICTIM} port 22", f"rhost={VICTIM}", f"[{VICTIM}]", f"client=[{VICTIM}]", f"rip={VICTIM}",
    f"unknown[{VICTIM}]:", '"', "'", " ", "\n", "ssh2", " port 22 ssh2",
]) | st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6),
    max_size=6).map("".join)
MESSAGES = [
    "Failed password for {v} from 203.0.113.42 port 52144 ssh2",
    "Invalid user {v} from 203.0.113.42 port 52144",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.42  user={v}",
]
_ADDRESS_KEYS = ("src_ip", "ip", "client_ip", "remote_addr", "source_ip", "ADDR", "REMOTE_IP", "_SOURCE_IP", "host",
                 "hostname", "rhost", "CODE_FILE", "UNIT", "USER", "user", "action", "ACTION", "outcome")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MESSAGES), hostile, st.sampled_from(("sshd", "postfix/smtpd", "myapp", "dovecot")),
       st.lists(st.sampled_from(_ADDRESS_KEYS), max_size=4, unique=True), st.booleans())
def test_no_key_but_the_programs_own_message_supplies_the_address(
        message: str, text: str, app: str, keys: list[str], hostname_is_victim: bool) -> None:
    msg = message.format(v=text)
    rec: dict[str, Any] = {"__REALTIME_TIMESTAMP": "1707747021000000", "_HOSTNAME": VICTIM if hostname_is_victim
                           else "web1", "SYSLOG_IDENTIFIER": app, "_PID": "1", "PRIORITY": "5", "MESSAGE": msg}
    for k in keys:
        rec[k] = VICTIM if k not in ("action", "ACTION") else "login_failed"
    ev = parse(json.dumps(rec))
    assert ev["format"] == "journal"
    assert ev.get("src_ip") in (None, "203.0.113.42"), (rec, ev)
    # Whatever the keys say, the event equals the syslog line of the same program and message.
    as_syslog = parse(f"Feb 12 14:10:21 web1 {app}[1]: {msg}") if "\n" not in msg else None
    if as_syslog is not None and as_syslog.get("format") == "rfc3164" and as_syslog.get("app") == app:
        assert (ev.get("src_ip"), ev.get("action"), ev.get("user")) == (
            as_syslog.get("src_ip"), as_syslog.get("action"), as_syslog.get("user")), (rec, ev, as_syslog)


def test_the_hostile_messages_name_the_client_when_the_text_is_plain() -> None:
    for message in MESSAGES:
        rec = {"__REALTIME_TIMESTAMP": "1707747021000000", "SYSLOG_IDENTIFIER": "sshd", "MESSAGE":
               message.format(v="alice"), "src_ip": VICTIM}
        assert parse(json.dumps(rec)).get("src_ip") == "203.0.113.42", message


def test_journal_export_file_end_to_end_raises_the_brute_force_alert(tmp_path: Path) -> None:
    fails = [f"Feb 12 14:10:{21 + i} sd-126005 sshd[16378]: Failed password for root from 203.0.113.77 port "
             f"{53502 + i} ssh2" for i in range(6)]
    recs = [json.loads(journal_record(x, __REALTIME_TIMESTAMP=str(1707747021000000 + i * 1_000_000)))
            for i, x in enumerate(fails)]
    recs.append({**recs[0], "MESSAGE": "Server listening on 0.0.0.0 port 22.", "src_ip": "198.51.100.200"})
    log = tmp_path / "journal.json"
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    db = tmp_path / "x.duckdb"
    run = subprocess.run([sys.executable, "-m", "app", "ingest", "--detect", "--db", str(db), str(log)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    q = subprocess.run([sys.executable, "-m", "app", "query", "--db", str(db), "--format", "json",
                        "SELECT rule_id, entity FROM alerts WHERE severity IN ('medium','high','critical')"],
                       capture_output=True, text=True, timeout=600)
    assert q.returncode == 0, q.stderr
    assert "src_ip=203.0.113.77" in q.stdout and "auth.bruteforce" in q.stdout
    assert "198.51.100.200" not in q.stdout


def test_audit_records_journald_collected_read_like_their_audit_log_line() -> None:
    body = ("pid=2101 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"root\" "
            "exe=\"/usr/sbin/sshd\" hostname=203.0.113.9 addr=203.0.113.9 terminal=ssh res=failed'")
    rec = {"__REALTIME_TIMESTAMP": "1700000000200000", "_SOURCE_REALTIME_TIMESTAMP": "1700000000123000",
           "_TRANSPORT": "audit", "_AUDIT_TYPE": "1100", "_AUDIT_TYPE_NAME": "USER_AUTH", "_AUDIT_ID": "456",
           "SYSLOG_IDENTIFIER": "audit", "_HOSTNAME": "web1", "_PID": "2101", "MESSAGE": "USER_AUTH " + body}
    ev = parse(json.dumps(rec))
    bare = parse("type=USER_AUTH msg=audit(1700000000.123:456): " + body)
    keys = ("service", "action", "src_ip", "user", "outcome", "category", "pid", "ts")
    assert {k: ev.get(k) for k in keys} == {k: bare.get(k) for k in keys}
    assert ev["fields"]["msg_id"] == "1700000000.123:456" and ev["host"] == "web1"
    # The same MESSAGE from a client (not journald's audit transport) is only that client's text.
    forged = parse(json.dumps({**rec, "_TRANSPORT": "journal", "SYSLOG_IDENTIFIER": "myapp"}))
    assert forged.get("src_ip") is None and forged.get("action") is None


def test_a_read_key_given_twice_is_not_read() -> None:
    line = "Dec  3 10:00:01 web1 sshd[2101]: Failed password for root from 203.0.113.9 port 52144 ssh2"
    rec = journal_record(line)
    # Text that pasted a second MESSAGE into the object: the decoder would keep the last copy silently.
    twice = rec[:-1] + ', "MESSAGE": "Failed password for root from 192.0.2.10 port 1 ssh2"}'
    ev = parse(twice)
    assert ev["format"] == "journal" and ev.get("src_ip") is None and ev.get("action") is None
    assert "MESSAGE" in ev["parse_error"]
    escaped = rec.replace('"SYSLOG_IDENTIFIER"', '"SYSLOG_IDENT\\u0049FIER"')
    assert parse(escaped)["src_ip"] == "203.0.113.9"  # one key, spelled with an escape, is still one key
