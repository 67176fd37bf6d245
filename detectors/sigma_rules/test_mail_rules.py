"""Mail rules on real mail-server lines: CrowdSec hub test cases (MIT, crowdsecurity/hub; named at each use) and
the shapes postfix, dovecot and exim write. Bursts are real lines repeated with the clock advanced, because a
threshold needs several of them."""

from __future__ import annotations

import subprocess

from detectors.sigma_rules.conftest import by_rule, run_rules
from tests.conftest import vigil_cmd
from tests.hub_cases import case_text

SASL = ("May 11 04:{m:02d}:{s:02d} host1 postfix/smtpd[26897]: warning: unknown[{ip}]: SASL LOGIN authentication "
        "failed: authentication failure")
DOVECOT = ("Jan 15 {h:02d}:{m:02d}:00 server dovecot: imap-login: Disconnected (auth failed, 1 attempts): "
           "user=<{u}>, method=PLAIN, rip={ip}, lip=10.0.0.1, TLS, session=<abc{h}{m}>")
DOVECOT_OK = ("Jan 15 {h:02d}:{m:02d}:30 server dovecot: imap-login: Login: user=<{u}>, method=PLAIN, rip={ip}, "
              "lip=10.0.0.1, mpid=18, TLS, session=<ok{h}{m}>")


def medium_plus(hits: list) -> set[str]:
    return {h.entity for h in hits if h.severity in ("medium", "high", "critical")}


def test_smtp_auth_guessing_fires_at_three_failures_in_two_hours() -> None:
    # CrowdSec hub test case postfix-sasl-bf (MIT, crowdsecurity/hub): three failures in three seconds.
    hits = by_rule(run_rules(case_text("postfix-sasl-bf")), "mail.smtp_auth_bruteforce")
    assert [(h.entity, h.severity, len(h.event_ids)) for h in hits] == [("src_ip=203.0.113.42", "medium", 3)]
    # Spread out: one every 20 minutes is still three within two hours.
    spread = [SASL.format(m=20 * i, s=0, ip="198.51.100.7") for i in range(3)]
    assert medium_plus(by_rule(run_rules(spread), "mail.smtp_auth_bruteforce")) == {"src_ip=198.51.100.7"}
    assert not by_rule(run_rules(spread[:2]), "mail.smtp_auth_bruteforce")


def test_slow_imap_guessing_four_in_two_hours_but_not_one_an_hour() -> None:
    # CrowdSec hub test cases dovecot-slow-bf and dovecot-time-based-bf-user-enum (MIT, crowdsecurity/hub).
    for case, ip in (("dovecot-slow-bf", "192.0.2.1"), ("dovecot-time-based-bf-user-enum", "198.51.100.1")):
        assert medium_plus(by_rule(run_rules(case_text(case)), "mail.login_guessing")) == {f"src_ip={ip}"}
    hourly = [DOVECOT.format(h=8 + i, m=0, u="admin@example.com", ip="192.0.2.9") for i in range(4)]
    assert not by_rule(run_rules(hourly), "mail.login_guessing")


def test_very_slow_guessing_seven_in_a_day() -> None:
    hourly = [DOVECOT.format(h=6 + i, m=0, u="admin@example.com", ip="192.0.2.19") for i in range(7)]
    assert medium_plus(by_rule(run_rules(hourly), "mail.login_guessing_day")) == {"src_ip=192.0.2.19"}
    assert not by_rule(run_rules(hourly[:6]), "mail.login_guessing_day")


def test_mailbox_enumeration_four_names_in_ten_minutes() -> None:
    # CrowdSec hub test case nginx-mail-bf (MIT, crowdsecurity/hub): four names from 5.34.207.182 in 13 s.
    hits = by_rule(run_rules(case_text("nginx-mail-bf")), "mail.user_enumeration")
    assert medium_plus(hits) == {"src_ip=5.34.207.182"}
    three = [DOVECOT.format(h=9, m=i, u=f"u{i}@example.com", ip="192.0.2.8") for i in range(3)]
    assert not by_rule(run_rules(three), "mail.user_enumeration")


def test_role_account_smtp_auth_attempt_alerts_once_for_each_address() -> None:
    # CrowdSec hub test case postfix-honeypot-users (MIT, crowdsecurity/hub): one try per address.
    hits = by_rule(run_rules(case_text("postfix-honeypot-users")), "mail.role_account_login")
    assert medium_plus(hits) == {f"src_ip=203.0.113.{n}" for n in (10, 20, 30, 40, 50, 60, 70)}
    personal = ["May  6 09:25:41 mail postfix/smtps/smtpd[1]: warning: unknown[203.0.113.11]: SASL LOGIN "
                "authentication failed: (reason unavailable), sasl_username=alice.martin@example.org"]
    assert not medium_plus(run_rules(personal))


def test_smtp_probing_non_smtp_command_pregreet_relay_and_helo() -> None:
    # CrowdSec hub test cases postfix-logs and postscreen-logs (MIT, crowdsecurity/hub).
    lines = case_text("postfix-logs")
    hits = run_rules(lines)
    assert medium_plus(by_rule(hits, "mail.smtp_non_smtp_command")) == {"src_ip=192.168.1.1"}
    ps = run_rules(case_text("postscreen-logs"))
    assert medium_plus(by_rule(ps, "mail.smtp_pregreet")) == {"src_ip=177.154.236.182", "src_ip=172.16.1.1"}
    # The case's relay and HELO refusals are months apart; two of each within ten minutes are probing.
    relay, helo = lines[3], lines[2]
    twice = [relay, relay.replace("12:31:56", "12:35:56"), helo, helo.replace("01:33:38", "01:40:00")]
    hits = run_rules(twice)
    assert medium_plus(by_rule(hits, "mail.smtp_relay_probing")) == {"src_ip=192.168.1.1"}
    assert medium_plus(by_rule(hits, "mail.smtp_helo_probing")) == {"src_ip=192.168.1.1"}
    assert not medium_plus(run_rules([relay])) and not medium_plus(run_rules([helo]))


def test_sessions_dropped_during_auth_flood() -> None:
    line = "Jan 10 10:00:{s:02d} mx postfix/smtpd[1{s}]: lost connection after AUTH from unknown[198.51.100.20]"
    hits = by_rule(run_rules([line.format(s=10 * i) for i in range(5)]), "mail.smtp_auth_abandon_flood")
    assert [(h.entity, h.severity) for h in hits] == [("src_ip=198.51.100.20", "medium")]
    assert not by_rule(run_rules([line.format(s=10 * i) for i in range(4)]), "mail.smtp_auth_abandon_flood")


def test_refusal_burst_and_recipient_harvest() -> None:
    # CrowdSec hub test case exim-logs (MIT, crowdsecurity/hub): RBL, rate limit, sender verify and AUTH-required
    # refusals of one address, hours apart in the file, so spread here within ten minutes.
    exim = [ln for ln in case_text("exim-logs") if "[1.2.3.4]" in ln and "authenticator" not in ln
            and "No Such User" not in ln]
    retimed = [f"2022-06-29 15:0{i}:00" + ln[19:] for i, ln in enumerate(exim)]
    assert medium_plus(by_rule(run_rules(retimed), "mail.smtp_abuse_burst")) == {"src_ip=1.2.3.4"}
    assert not by_rule(run_rules(retimed[:3]), "mail.smtp_abuse_burst")
    rcpt = ("Jan 10 10:00:{s:02d} mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[198.51.100.30]: 550 5.1.1 "
            "<u{s}@example.org>: Recipient address rejected: User unknown in virtual mailbox table; from=<a@b> "
            "to=<u{s}@example.org> proto=ESMTP helo=<x>")
    harvest = run_rules([rcpt.format(s=i) for i in range(10)])
    assert medium_plus(by_rule(harvest, "mail.smtp_recipient_harvest")) == {"src_ip=198.51.100.30"}
    # Three stale addresses of a mailing list are neither a harvest nor an abuse burst.
    assert not medium_plus(run_rules([rcpt.format(s=i) for i in range(3)]))


def test_content_filter_verdicts() -> None:
    # CrowdSec hub test cases amavis-blocked, mailscanner-blacklisted, mailscanner-highscore-spam, mailscanner-logs
    # and mailu-admin-logs (MIT, crowdsecurity/hub).
    assert medium_plus(by_rule(run_rules(case_text("amavis-blocked")), "mail.malware_sender")) == {
        "src_ip=192.168.0.1"}
    assert medium_plus(by_rule(run_rules(case_text("mailscanner-blacklisted")), "mail.blacklisted_sender")) == {
        "src_ip=192.168.1.100"}
    assert medium_plus(by_rule(run_rules(case_text("mailscanner-highscore-spam")),
                               "mail.high_score_spam_sender")) == {"src_ip=192.168.1.50"}
    # One message scored 7.2: ordinary spam, not an alert.
    ordinary = [ln for ln in case_text("mailscanner-logs") if "score=7.181" in ln]
    assert ordinary and not medium_plus(run_rules(ordinary))
    limited = by_rule(run_rules(case_text("mailu-admin-logs")), "mail.auth_rate_limited")
    assert len(medium_plus(limited)) == 6


def test_a_day_of_ordinary_mail_users_raises_nothing() -> None:
    # 200 users log in over IMAP during the day; 60 of them mistype once first and then get in.
    lines = []
    for i in range(200):
        h, m = 7 + i % 10, i % 60
        ip = f"10.{i // 250}.{i % 250}.{i % 7 + 1}"
        if i % 10 < 3:
            lines.append(DOVECOT.format(h=h, m=m, u=f"user{i}@example.com", ip=ip))
        lines.append(DOVECOT_OK.format(h=h, m=m, u=f"user{i}@example.com", ip=ip))
    lines.sort(key=lambda ln: ln[:15])
    assert not medium_plus(run_rules(lines))


def test_vigil_ingest_detect_alerts_on_a_slow_imap_guesser(tmp_path) -> None:
    # The whole path a user runs: `vigil ingest --detect FILE`, then the alerts table.
    log = tmp_path / "mail.log"
    guesser = [DOVECOT.format(h=8, m=25 * i, u=f"{n}@example.com", ip="198.51.100.66")
               for i, n in enumerate(("admin", "info", "webmaster"))]
    guesser.append(DOVECOT.format(h=9, m=20, u="test@example.com", ip="198.51.100.66"))
    benign = [DOVECOT.format(h=9, m=5, u="bob@example.com", ip="10.0.0.5"),
              DOVECOT_OK.format(h=9, m=6, u="bob@example.com", ip="10.0.0.5")]
    log.write_text("\n".join(sorted(guesser + benign, key=lambda ln: ln[:15])) + "\n")
    db = tmp_path / "v.duckdb"
    out = subprocess.run([*vigil_cmd(), "ingest", "--detect", "--db", str(db), str(log)], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    q = subprocess.run([*vigil_cmd(), "query", "--db", str(db), "--format", "csv",
                        "SELECT rule_id, entity, severity FROM alerts WHERE severity <> 'low' ORDER BY rule_id"],
                       capture_output=True, text=True, timeout=600)
    assert q.returncode == 0, q.stderr
    rows = {tuple(r.split(",")) for r in q.stdout.strip().splitlines()[1:]}
    assert ("mail.login_guessing", "src_ip=198.51.100.66", "medium") in rows
    assert all("10.0.0.5" not in r[1] for r in rows)
