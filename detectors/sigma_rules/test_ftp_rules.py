"""FTP rules on real FTP server lines: CrowdSec hub test cases (MIT, crowdsecurity/hub; named at each use)."""

from __future__ import annotations

from detectors.sigma_rules.conftest import by_rule, run_rules
from tests.hub_cases import case_text


def medium_plus(hits: list) -> set[str]:
    return {h.entity for h in hits if h.severity in ("medium", "high", "critical")}


def test_account_sweep_four_names_in_ten_minutes() -> None:
    # CrowdSec hub test case sftpgo-bf: admin, root, test, bob from one address in 15 s.
    lines = case_text("sftpgo-bf")
    assert medium_plus(by_rule(run_rules(lines), "ftp.user_enumeration")) == {"src_ip=192.168.1.101"}
    assert not medium_plus(run_rules(lines[:3]))


def test_proftpd_and_pureftpd_brute_force_reach_the_generic_rules() -> None:
    # CrowdSec hub test cases proftpd-bf, proftpd-user-enum (unknown accounts count as failed logins) and
    # pureftpd-bf, whose last line is the guesser getting in.
    assert medium_plus(by_rule(run_rules(case_text("proftpd-bf")), "auth.bruteforce")) == {"src_ip=192.168.1.142"}
    enum = run_rules(case_text("proftpd-user-enum"))
    assert medium_plus(by_rule(enum, "auth.password_spray")) == {"src_ip=192.168.1.142"}
    assert medium_plus(by_rule(enum, "ftp.user_enumeration")) == {"src_ip=192.168.1.142"}
    pure = run_rules(case_text("pureftpd-bf"))
    assert medium_plus(by_rule(pure, "auth.bruteforce")) == {"src_ip=172.21.10.2"}
    assert [h.severity for h in by_rule(pure, "auth.success_after_failures")] == ["high"]


def test_one_mistyped_ftp_password_raises_nothing() -> None:
    # CrowdSec hub test case vsftpd-logs: a connect, a login and single failures from two addresses.
    assert not medium_plus(run_rules(case_text("vsftpd-logs")))
