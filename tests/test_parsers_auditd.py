"""Linux audit records (store/parsers/auditd.py): bare audit.log lines and audispd/audisp-syslog forwards. Real
records from the CrowdSec hub test case auditd-suid-crash (MIT, crowdsecurity/hub); user-space records in the
shape libaudit writes them (`msg='op=… acct=… exe=… hostname=… addr=… terminal=… res=…'`); a property test plants
addresses in every value the audited user or the remote side chooses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse

AUTH_FAIL = ("type=USER_AUTH msg=audit(1700000000.123:456): pid=2101 uid=0 auid=4294967295 ses=4294967295 "
             "subj=unconfined msg='op=PAM:authentication grantors=? acct=\"root\" exe=\"/usr/sbin/sshd\" "
             "hostname=203.0.113.9 addr=203.0.113.9 terminal=ssh res=failed'")
LOGIN_OK = ("type=USER_LOGIN msg=audit(1700000100.200:458): pid=2201 uid=0 auid=1000 ses=3 msg='op=login id=1000 "
            "exe=\"/usr/sbin/sshd\" hostname=198.51.100.7 addr=198.51.100.7 terminal=/dev/pts/0 res=success'")
SSHD_LOGIN_FAIL = ("type=USER_LOGIN msg=audit(1700000000.200:457): pid=2101 uid=0 auid=4294967295 ses=4294967295 "
                   "msg='op=login acct=\"(invalid user)\" exe=\"/usr/sbin/sshd\" hostname=? addr=203.0.113.9 "
                   "terminal=sshd res=failed'")
LOGIN_FAIL_TTY = ("type=USER_LOGIN msg=audit(1700000000.300:459): pid=900 uid=0 auid=4294967295 ses=4294967295 "
                  "msg='op=login acct=\"alice\" exe=\"/usr/bin/login\" hostname=? addr=? terminal=tty1 res=failed'")
EXECVE_HEX = 'type=EXECVE msg=audit(1700000200.001:500): argc=3 a0="nmap" a1="-sS" a2=31302E302E302E302F38'
SUDO_ENRICHED = ("type=USER_CMD msg=audit(1700000500.001:503): pid=3100 uid=1000 auid=1000 ses=3 "
                 "msg='cwd=\"/home/alice\" cmd=636174202F6574632F736861646F77 exe=\"/usr/bin/sudo\" terminal=pts/0 "
                 "res=success'\x1dUID=\"alice\" AUID=\"alice\"")


def test_user_auth_failure_is_one_login_failed_with_the_peer_from_addr() -> None:
    ev = parse(AUTH_FAIL)
    assert (ev["format"], ev["service"], ev["action"], ev["outcome"]) == ("auditd", "auditd", "login_failed", "failure")
    assert (ev["user"], ev["src_ip"], ev["pid"], ev["category"]) == ("root", "203.0.113.9", 2101, "authentication")
    f = ev["fields"]
    assert (f["type"], f["msg_id"], f["op"], f["exe"], f["auid"]) == (
        "USER_AUTH", "1700000000.123:456", "PAM:authentication", "/usr/sbin/sshd", "4294967295")
    assert ev["ts"].timestamp() == 1700000000.123


def test_user_login_success_and_failures() -> None:
    ok = parse(LOGIN_OK)
    assert (ok["action"], ok["outcome"], ok["src_ip"], ok.get("user")) == ("login", "success", "198.51.100.7", None)
    # sshd writes USER_LOGIN res=failed beside the USER_AUTH of the same attempt: an echo, not a second attempt.
    echo = parse(SSHD_LOGIN_FAIL)
    assert (echo["action"], echo["src_ip"], echo.get("user")) == ("pam_failure", "203.0.113.9", None)
    tty = parse(LOGIN_FAIL_TTY)
    assert (tty["action"], tty["user"], tty.get("src_ip")) == ("login_failed", "alice", None)


def test_hex_encoded_values_and_the_enriched_names_are_decoded() -> None:
    ex = parse(EXECVE_HEX)
    assert ex["fields"]["a2"] == "10.0.0.0/8" and ex["fields"]["command"] == "nmap -sS 10.0.0.0/8"
    assert ex.get("src_ip") is None
    sudo = parse(SUDO_ENRICHED)
    assert (sudo["action"], sudo["user"], sudo["fields"]["cmd"]) == ("user_cmd", "alice", "cat /etc/shadow")
    # SYSCALL a0…a3 are register values, never decoded as text.
    sc = parse('type=SYSCALL msg=audit(1.0:1): arch=c000003e syscall=59 a0=4142 comm="x" exe=2F746D702F6120620A')
    assert sc["fields"]["a0"] == "4142" and sc["fields"]["exe"] == "/tmp/a b\n"


def test_real_records_with_the_enriched_tail_glued_on() -> None:
    lines = case_text("auditd-suid-crash")
    evs = [parse(x) for x in lines]
    assert all(e["format"] == "auditd" and e["service"] == "auditd" for e in evs)
    syscall = evs[0]
    assert syscall["fields"]["SYSCALL"] == "execve" and syscall["fields"]["key"] == "susp_shell"
    assert syscall["user"] == "bui" and syscall["fields"]["comm"] == "bash"
    abend = next(e for e in evs if e["fields"]["type"] == "ANOM_ABEND")
    assert (abend["action"], abend["fields"]["res"], abend["fields"]["exe"]) == ("anom_abend", "1", "/usr/bin/su")
    assert not any(e.get("src_ip") for e in evs)


def test_forwarded_by_audispd_gives_the_same_columns() -> None:
    bare = parse(AUTH_FAIL)
    for prefix in ("Dec  3 10:00:00 web1 audispd: node=web1 ", "2026-12-03T10:00:00+00:00 web1 audisp-syslog: ",
                   "<86>Dec  3 10:00:00 web1 audit[77]: "):
        ev = parse(prefix + AUTH_FAIL)
        got = {k: ev.get(k) for k in ("service", "action", "user", "src_ip", "outcome", "category", "pid", "ts")}
        want = {k: bare.get(k) for k in got}
        assert got == want, prefix
        assert ev["host"] == "web1" and ev["fields"]["type"] == "USER_AUTH"
    # auditd's own status lines are not records.
    own = parse("Dec  3 10:00:00 web1 auditd[77]: Audit daemon rotating log files")
    assert own.get("service") == "auditd" and own.get("action") is None and own.get("fields") is None


def test_addr_unknown_or_twice_gives_no_address() -> None:
    assert parse(AUTH_FAIL.replace("addr=203.0.113.9", "addr=?")).get("src_ip") is None
    two = AUTH_FAIL.replace("terminal=ssh", "addr=192.0.2.10 terminal=ssh")
    assert parse(two).get("src_ip") is None
    # hostname= is a reverse-DNS answer the peer controls; it never supplies the address.
    assert parse(AUTH_FAIL.replace("addr=203.0.113.9", "addr=?").replace(
        "hostname=203.0.113.9", "hostname=192.0.2.10")).get("src_ip") is None


def test_not_audit_lines_are_left_to_other_parsers() -> None:
    for line in ("type=foo bar", "node=x something else", "typed=USER_AUTH msg=audit(1.0:1): x=1"):
        assert parse(line).get("format") != "auditd", line


VICTIM = "192.0.2.10"
hostile = st.lists(st.sampled_from([
    VICTIM, f"addr={VICTIM}", f" addr={VICTIM} ", f"' addr={VICTIM} '", f'" addr={VICTIM} "', f"\x1daddr={VICTIM}",
    f"::ffff:{VICTIM}", "'", '"', " ", "=", "res=success", "msg='", "\x1d", "AUID=\"x\"", "hostname=",
]) | st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=6),
    max_size=6).map("".join)

TEMPLATES = [
    "type=USER_AUTH msg=audit(1700000000.123:456): pid=1 uid=0 auid=4294967295 ses=1 msg='op=PAM:authentication "
    "grantors=? acct=\"{v}\" exe=\"/usr/sbin/sshd\" hostname={v} addr=203.0.113.42 terminal=ssh res=failed'",
    "type=USER_LOGIN msg=audit(1700000000.123:456): pid=1 uid=0 auid=4294967295 ses=1 msg='op=login acct={v} "
    "exe=\"{v}\" hostname={v} addr=203.0.113.42 terminal={v} res=failed'",
    "Dec  3 10:00:00 h audispd: node={v} type=USER_AUTH msg=audit(1700000000.123:456): pid=1 uid=0 comm=\"{v}\" "
    "msg='op=PAM:authentication acct=\"{v}\" exe=\"{v}\" hostname={v} addr=203.0.113.42 terminal=ssh res=failed'",
    "type=USER_AUTH msg=audit(1700000000.123:456): pid=1 uid=0 msg='op=PAM:authentication acct=\"{v}\" "
    "hostname={v} addr=203.0.113.42 terminal=ssh res=failed'{v}",
    "type=EXECVE msg=audit(1700000000.123:456): argc=2 a0=\"{v}\" a1=\"{v}\"",
    "type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e syscall=59 comm=\"{v}\" exe=\"{v}\" key=\"{v}\"",
]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), hostile)
def test_audited_text_never_names_the_address(template: str, text: str) -> None:
    line = template.format(v=text)
    ev = parse(line)
    assert ev.get("src_ip") in (None, "203.0.113.42"), (line, ev)


def test_the_hostile_templates_name_the_client_when_the_text_is_plain() -> None:
    for template in TEMPLATES[:3]:
        ev = parse(template.format(v="alice"))
        assert ev.get("src_ip") == "203.0.113.42", template


def test_audit_log_file_end_to_end_alerts_on_the_guessing_address(tmp_path: Path) -> None:
    fails = [AUTH_FAIL.replace("1700000000.123:456", f"17000000{10 + i}.123:{500 + i}") for i in range(6)]
    log = tmp_path / "audit.log"
    log.write_text("\n".join([LOGIN_OK, EXECVE_HEX, SUDO_ENRICHED, *fails]) + "\n")
    db = tmp_path / "x.duckdb"
    run = subprocess.run([sys.executable, "-m", "app", "ingest", "--detect", "--db", str(db), str(log)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    q = subprocess.run([sys.executable, "-m", "app", "query", "--db", str(db), "--format", "json",
                        "SELECT format, action, src_ip FROM events ORDER BY event_id"],
                       capture_output=True, text=True, timeout=600)
    assert q.returncode == 0, q.stderr
    rows = json.loads(q.stdout)
    assert {r["format"] for r in rows} == {"auditd"} and len(rows) == 9
    assert [r["src_ip"] for r in rows if r["action"] == "login_failed"] == ["203.0.113.9"] * 6
    a = subprocess.run([sys.executable, "-m", "app", "query", "--db", str(db), "--format", "json",
                        "SELECT rule_id, entity FROM alerts WHERE severity IN ('medium', 'high', 'critical')"],
                       capture_output=True, text=True, timeout=600)
    alerts = {(r["rule_id"], r["entity"]) for r in json.loads(a.stdout)}
    assert ("auth.bruteforce", "src_ip=203.0.113.9") in alerts
    assert ("auditd.recon_tool_exec", "host=unknown") in alerts
    assert not [x for x in alerts if "198.51.100.7" in x[1]]
