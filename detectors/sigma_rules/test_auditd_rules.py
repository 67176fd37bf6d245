"""Linux audit rules (system/auditd.yml), the generic login correlations over audit records, and real SigmaHQ
`product: linux, service: auditd` rules (tests/fixtures/sigmahq_auditd, DRL 1.1, authors kept in the files) over
audit records in the shape the kernel and libaudit write them."""

from __future__ import annotations

from pathlib import Path

from detectors.rules.evaluate import RuleEngine
from detectors.rules.ruleset import load_rules
from detectors.sigma_rules.conftest import by_rule, run_rules

SIGMAHQ = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "sigmahq_auditd"


def _rec(n: int, rtype: str, body: str, node: str = "web1") -> str:
    return f"node={node} type={rtype} msg=audit(17000{n:05d}.001:{n}): {body}"


def _auth_fail(n: int, ip: str, user: str = "admin") -> str:
    return _rec(n, "USER_AUTH", f"pid=2101 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication "
                f"grantors=? acct=\"{user}\" exe=\"/usr/sbin/sshd\" hostname={ip} addr={ip} terminal=ssh res=failed'")


AUDIT_OFF = _rec(10, "CONFIG_CHANGE", "op=set audit_enabled=0 old=1 auid=1000 ses=3 subj=unconfined res=1")
RULE_REMOVED = _rec(11, "CONFIG_CHANGE", 'auid=1000 ses=3 op=remove_rule key="identity" list=4 res=1')
DAEMON_END = _rec(12, "DAEMON_END", "op=terminate auid=0 pid=1 subj=unconfined res=success")
AUDITCTL_D = _rec(13, "EXECVE", 'argc=2 a0="auditctl" a1="-D"')
RM_LOG = _rec(20, "EXECVE", 'argc=3 a0="rm" a1="-f" a2="/var/log/audit/audit.log"')
# The path holds a space, so the kernel wrote it hex-encoded: "/var/log/audit/audit.log.1 " → decoded by the reader.
SHRED_HEX = _rec(21, "EXECVE", 'argc=2 a0="shred" a1=2F7661722F6C6F672F61756469742F61756469742E6C6F672E3120')
UNLINK_PATH = _rec(22, "PATH", 'item=1 name="/var/log/audit/audit.log" inode=9 dev=08:01 mode=0100600 ouid=0 '
                               'ogid=0 rdev=00:00 nametype=DELETE')
NMAP = _rec(30, "EXECVE", 'argc=3 a0="nmap" a1="-sS" a2="10.0.0.0/8"')
LINPEAS = _rec(31, "EXECVE", 'argc=1 a0="/tmp/linpeas.sh"')
ADD_USER = _rec(40, "ADD_USER", "pid=3000 uid=0 auid=1000 ses=3 msg='op=add-user acct=\"bob\" "
                                "exe=\"/usr/sbin/useradd\" hostname=web1 addr=? terminal=pts/0 res=success'")
BENIGN = [
    _rec(50, "EXECVE", 'argc=2 a0="ls" a1="/var/log/audit/"'),
    _rec(51, "EXECVE", 'argc=2 a0="rm" a1="/tmp/x"'),
    _rec(52, "CONFIG_CHANGE", 'auid=1000 ses=3 op=add_rule key="identity" list=4 res=1'),
    _rec(53, "PATH", 'item=0 name="/var/log/audit/audit.log" inode=9 dev=08:01 mode=0100600 nametype=NORMAL'),
    _rec(54, "EXECVE", 'argc=2 a0="cat" a1="nmap.txt"'),
]


def _fired(lines: list[str]) -> set[tuple[str, str, str]]:
    return {(h.rule_id, h.severity, h.entity) for h in run_rules(lines) if h.rule_id.startswith(("auditd.", "priv."))}


def test_audit_disabled_each_way() -> None:
    for line in (AUDIT_OFF, RULE_REMOVED, DAEMON_END, AUDITCTL_D):
        assert _fired([line]) == {("auditd.audit_disabled", "high", "host=web1")}, line


def test_audit_log_cleared_by_command_or_unlink_even_hex_encoded() -> None:
    for line in (RM_LOG, SHRED_HEX, UNLINK_PATH):
        assert _fired([line]) == {("auditd.audit_log_cleared", "high", "host=web1")}, line


def test_recon_tool_by_name_or_path() -> None:
    for line in (NMAP, LINPEAS):
        assert _fired([line]) == {("auditd.recon_tool_exec", "medium", "host=web1")}, line


def test_add_user_record_is_the_account_created_rule() -> None:
    assert _fired([ADD_USER]) == {("priv.account_created", "medium", "user=bob")}


def test_benign_records_fire_nothing() -> None:
    assert _fired(BENIGN) == set()
    assert not [h for h in run_rules(BENIGN) if h.severity in ("medium", "high", "critical")]


def test_auth_failures_in_audit_log_are_a_brute_force_on_their_address() -> None:
    lines = [_auth_fail(100 + i, "198.51.100.23") for i in range(6)]
    lines += [_auth_fail(200, "198.51.100.99")]  # another address, one attempt: not blamed
    hits = run_rules(lines)
    brute = by_rule(hits, "auth.bruteforce")
    assert {h.entity for h in brute} == {"src_ip=198.51.100.23"}
    assert max(len(h.event_ids) for h in brute) == 6
    # Forwarded by audispd to syslog, the same records give the same alert.
    fwd = [f"Nov 14 22:13:{i:02d} web1 audispd: " + x for i, x in enumerate(lines)]
    assert {h.entity for h in by_rule(run_rules(fwd), "auth.bruteforce")} == {"src_ip=198.51.100.23"}


def test_sshd_login_echo_does_not_double_the_attempts() -> None:
    # Per password attempt sshd's audit trail has USER_AUTH (PAM) and USER_LOGIN res=failed: three attempts stay
    # below the brute-force threshold of five.
    lines = []
    for i in range(3):
        lines.append(_auth_fail(300 + 2 * i, "198.51.100.40"))
        lines.append(_rec(301 + 2 * i, "USER_LOGIN", "pid=2101 uid=0 auid=4294967295 ses=4294967295 msg='op=login "
                          "acct=\"admin\" exe=\"/usr/sbin/sshd\" hostname=? addr=198.51.100.40 terminal=sshd "
                          "res=failed'"))
    assert not by_rule(run_rules(lines), "auth.bruteforce")


def test_real_sigmahq_auditd_rules_fire_on_matching_records() -> None:
    rs = load_rules([SIGMAHQ])
    assert rs.problems == [] and len(rs.detections) == 5
    engine = RuleEngine(rs)
    records = {
        # Creation Of An User Account (759d0d51…): SYSCALL exe|endswith /useradd, or an ADD_USER record.
        "Creation Of An User Account": [
            _rec(60, "SYSCALL", 'arch=c000003e syscall=59 success=yes exit=0 a0=55d1 a1=55d2 a2=55d3 a3=0 items=2 '
                                'ppid=100 pid=3000 auid=1000 uid=0 comm="useradd" exe="/usr/sbin/useradd" '
                                'key="user_mod"'), ADD_USER],
        # Auditing Configuration Changes on Linux Host (977ef627…): PATH name /etc/audit/*.
        "Auditing Configuration Changes on Linux Host": [
            _rec(61, "PATH", 'item=0 name="/etc/audit/rules.d/audit.rules" inode=5 dev=08:01 mode=0100640 '
                             'nametype=NORMAL')],
        # System Owner or User Discovery - Linux (9a0d8ca0…): EXECVE a0 whoami/id/….
        "System Owner or User Discovery - Linux": [_rec(62, "EXECVE", 'argc=1 a0="whoami"')],
        # Network Sniffing - Linux (f4d3748a…): `type: 'execve'` in lower case, a0 tcpdump, a1 -c, a3 contains -i.
        "Network Sniffing - Linux": [_rec(63, "EXECVE", 'argc=5 a0="tcpdump" a1="-c" a2="100" a3="-i" a4="eth0"')],
        # Loading of Kernel Module via Insmod (106d7cbd…): SYSCALL comm insmod, exe /usr/bin/kmod.
        "Loading of Kernel Module via Insmod": [
            _rec(64, "SYSCALL", 'arch=c000003e syscall=175 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=0 '
                                'ppid=1 pid=4000 auid=1000 uid=0 comm="insmod" exe="/usr/bin/kmod" key=(null)')],
    }
    for title, lines in records.items():
        hits = run_rules(lines, engine)
        assert {h.title for h in hits} == {title}, (title, [h.title for h in hits])
        assert len({e for h in hits for e in h.event_ids}) == len(lines), title
    assert run_rules(BENIGN + [AUDIT_OFF, NMAP], engine) == []


def test_setuid_program_crash_from_a_real_record() -> None:
    from tests.hub_cases import case_text

    # CrowdSec hub test case auditd-suid-crash (MIT, crowdsecurity/hub): `su --help` killed by SIGSEGV.
    lines = case_text("auditd-suid-crash")
    assert _fired(lines) == {("auditd.suid_program_crash", "high", "host=unknown")}
    bash_crash = _rec(70, "ANOM_ABEND", 'auid=1000 uid=1000 gid=1000 ses=3 pid=9 comm="bash" exe="/usr/bin/bash" '
                                        'sig=11 res=1')
    assert _fired([bash_crash]) == set()
