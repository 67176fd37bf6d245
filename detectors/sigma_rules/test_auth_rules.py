"""Auth rules on real sshd/pam/sudo/su lines. Sources: loghub OpenSSH_2k and Linux_2k (logpai/loghub, cite
Zhu et al. ISSRE 2023), elastic/examples auth.log, wazuh-ruleset sudo.ini/su.ini (GPL-2.0). Bursts are real
lines repeated with the clock advanced, because a threshold needs several of them."""

from __future__ import annotations

import pytest

from detectors.eval.common import datasets_root
from detectors.sigma_rules.conftest import by_rule, run_rules

FAILED = ("Dec 10 09:{m:02d}:{s:02d} LabSZ sshd[24{i:03d}]: Failed password for root from 183.62.140.253 "
          "port {p} ssh2")
ACCEPTED_ROOT = ("Dec 10 09:{m:02d}:{s:02d} LabSZ sshd[25000]: Accepted password for root from "
                 "183.62.140.253 port 4242 ssh2")
ACCEPTED_ELASTIC = ("Mar 27 13:08:09 ip-10-77-20-248 sshd[1361]: Accepted publickey for ubuntu from "
                    "85.245.107.41 port 54259 ssh2: RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg")


def failures(n: int, every_s: int = 3, start_min: int = 0) -> list[str]:
    out = []
    for i in range(n):
        t = start_min * 60 + i * every_s
        out.append(FAILED.format(m=t // 60, s=t % 60, i=i, p=40000 + i))
    return out


def test_bruteforce_fires_medium_at_five_failures_in_ten_minutes():
    hits = by_rule(run_rules(failures(5)), "auth.bruteforce")
    assert hits and {h.entity for h in hits} == {"src_ip=183.62.140.253"}
    assert hits[0].severity == "medium" and len(hits[0].event_ids) == 5


def test_bruteforce_escalates_to_high_at_twenty():
    hits = by_rule(run_rules(failures(20)), "auth.bruteforce")
    assert max(h.severity for h in hits) == "high" or any(h.severity == "high" for h in hits)
    assert sum(len(h.event_ids) for h in hits) == 20  # every failure cited exactly once


def test_bruteforce_stays_quiet_below_threshold_and_when_spread_out():
    assert not by_rule(run_rules(failures(4)), "auth.bruteforce")
    # Five failures three minutes apart never have five inside any 10-minute window.
    assert not by_rule(run_rules(failures(5, every_s=180)), "auth.bruteforce")


def test_pam_and_sshd_lines_of_one_attempt_count_once():
    # OpenSSH_2k: each attempt writes a pam_unix line and a "Failed password" line.
    lines = []
    for i in range(4):
        lines.append(f"Dec 10 06:55:{10 + i:02d} LabSZ sshd[24{i}]: pam_unix(sshd:auth): "
                     "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=173.234.31.186  "
                     "user=root")
        lines.append(f"Dec 10 06:55:{10 + i:02d} LabSZ sshd[24{i}]: Failed password for root from "
                     f"173.234.31.186 port 3814{i} ssh2")
    assert not by_rule(run_rules(lines), "auth.bruteforce")


def test_linux_pam_failures_from_one_rhost_are_bruteforce():
    lines = [f"Jun 14 15:16:0{i} combo sshd(pam_unix)[1993{i}]: authentication failure; logname= uid=0 "
             "euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 " for i in range(6)]
    hits = by_rule(run_rules(lines), "auth.bruteforce")
    assert hits and hits[0].entity == "src_ip=218.188.2.4"


def test_real_openssh_sample_flags_the_known_attackers():
    path = datasets_root() / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
    if not path.exists():
        pytest.skip(f"dataset absent: {path}")
    hits = by_rule(run_rules(path.read_text(encoding="utf-8").splitlines()), "auth.bruteforce")
    flagged = {h.entity for h in hits}
    # 187.141.143.180 and 103.99.0.122 hammer LabSZ for minutes in this sample.
    assert {"src_ip=187.141.143.180", "src_ip=103.99.0.122"} <= flagged


def test_success_after_failures_is_high_and_critical_for_root():
    lines = failures(6) + [ACCEPTED_ROOT.format(m=1, s=0)]
    hits = run_rules(lines)
    high = by_rule(hits, "auth.success_after_failures")
    critical = by_rule(hits, "auth.success_after_failures_privileged")  # the account is root
    assert [h.severity for h in high] == ["high"] and [h.severity for h in critical] == ["critical"]
    assert len(critical[0].event_ids) == 7  # the six failures and the success


def test_success_after_a_few_mistypes_is_not_an_alert():
    lines = failures(2) + [ACCEPTED_ROOT.format(m=1, s=0)]
    assert not [h for h in run_rules(lines) if h.rule_id.startswith("auth.success_after")]


def test_plain_successful_login_is_not_an_alert():
    hits = run_rules([ACCEPTED_ELASTIC])
    assert not [h for h in hits if h.severity != "low"]


def test_password_spray_counts_distinct_users():
    users = ["admin", "oracle", "test", "guest", "postgres", "ubnt"]
    lines = [f"Dec 10 07:0{i}:00 LabSZ sshd[2{i}]: Failed password for invalid user {u} from 5.188.10.180 "
             f"port 5{i}000 ssh2" for i, u in enumerate(users)]
    hits = by_rule(run_rules(lines), "auth.password_spray")
    assert hits and hits[-1].entity == "src_ip=5.188.10.180"
    assert "distinct user" in hits[-1].why


def test_one_invalid_user_line_is_not_an_alert_but_enumeration_is():
    line = "Mar 27 14:54:{s:02d} ip-10-77-20-248 sshd[2967]: Invalid user support{i} from 95.152.57.58"
    assert not [h for h in run_rules([line.format(s=1, i=0)]) if h.severity != "low"]
    hits = by_rule(run_rules([line.format(s=i, i=i) for i in range(12)]), "auth.invalid_users")
    assert [(h.entity, h.severity) for h in hits] == [("src_ip=95.152.57.58", "medium")]


def test_sudo_failures_and_not_in_sudoers():
    lines = [
        "Jun 25 15:51:13 precise32 sudo:     mike : 1 incorrect password attempt ; TTY=pts/0 ; PWD=/root ; "
        "USER=root ; COMMAND=/bin/ls",
        "Apr 13 08:36:31 ix sudo:     ddp2 : user NOT in sudoers ; TTY=ttypZ ; PWD=/home/ddp2 ; USER=root ; "
        "COMMAND=/bin/ls",
    ]
    hits = run_rules(lines)
    assert [(h.entity, h.severity) for h in by_rule(hits, "priv.sudo_failure")] == [("user=mike", "medium")]
    assert [(h.entity, h.severity) for h in by_rule(hits, "priv.sudo_not_in_sudoers")] == [("user=ddp2", "high")]


def test_su_failure_to_root_is_high():
    line = "Apr 27 15:22:23 niban su[234]: BAD SU ger to root on /dev/ttyp0"
    hits = run_rules([line])
    assert [h.severity for h in by_rule(hits, "priv.su_root_failure")] == ["high"]
    assert not by_rule(hits, "priv.su_failure")


def test_admin_sudo_is_not_escalation_but_service_account_is():
    admin = ("Mar 27 13:59:02 ip-10-77-20-248 sudo:   ubuntu : TTY=pts/0 ; PWD=/home/ubuntu ; USER=root ; "
             "COMMAND=/bin/su")
    web = ("Mar 27 14:00:02 ip-10-77-20-248 sudo: www-data : TTY=unknown ; PWD=/var/www ; USER=root ; "
           "COMMAND=/bin/bash -c id")
    assert not by_rule(run_rules([admin]), "priv.unexpected_root")
    hits = by_rule(run_rules([web]), "priv.unexpected_root")
    assert hits and hits[0].entity == "user=www-data" and hits[0].severity == "high"


def test_correlation_state_is_bounded_per_address_and_forgotten_after_the_window():
    from detectors.rules.evaluate import RuleEngine
    from detectors.sigma_rules.conftest import shipped_rules

    engine = RuleEngine(shipped_rules())
    flood = [f"Dec 10 09:00:{i % 60:02d} LabSZ sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2"
             for i in range(3000)]
    run_rules(flood, engine)
    for state in engine.correlator.states.values():
        for g in state.groups.values():
            assert len(g.times) < state.rule.max_count and len(g.uncited) < state.rule.max_count
    later = ["Dec 10 23:00:00 LabSZ sshd[1]: Failed password for root from 10.0.0.2 port 1 ssh2"]
    run_rules(later, engine)  # 14 hours later: every window of 10.0.0.1 has closed
    assert all(("10.0.0.1",) not in s.groups for s in engine.correlator.states.values())

def test_a_line_the_parser_left_without_an_address_is_not_re_read():
    # Two tails could be sshd's: the parser withholds the address and the text fallback must not supply one.
    line = ("Dec 10 09:00:{s:02d} LabSZ sshd[1]: Failed publickey for invalid user a from 192.0.2.10 port 22 ssh2: "
            "x from 203.0.113.66 port 4000 ssh2: RSA SHA256:abc")
    hits = run_rules([line.format(s=i) for i in range(8)])
    assert hits and not [h for h in hits if "192.0.2.10" in h.entity or "203.0.113.66" in h.entity]
    # Still an alert, on the reporting host: names crafted so that the sender cannot be read are an attack too.
    assert {(h.entity, h.severity) for h in by_rule(hits, "auth.unattributable_failures")} == {("host=LabSZ",
                                                                                                "medium")}


def test_forged_log_lines_inside_client_text_are_not_read_as_sshd():
    banner = ('Dec 10 09:00:{s:02d} LabSZ sshd[1]: kex_exchange_identification: client sent invalid protocol '
              'identifier "Failed password for root from 192.0.2.10 port 22 ssh2"')
    reason = ("Dec 10 09:00:{s:02d} LabSZ sshd[1]: Received disconnect from 203.0.113.66 port 4:11: sshd[2]: "
              "Failed password for root from 192.0.2.10 port 22 ssh2 [preauth]")
    hits = run_rules([t.format(s=i) for i in range(8) for t in (banner, reason)])
    assert not [h for h in hits if "192.0.2.10" in h.entity]
    assert not by_rule(hits, "auth.bruteforce")
