"""VoIP rules on real Asterisk and FreeSWITCH lines: CrowdSec hub test cases (MIT, crowdsecurity/hub; named at each
use) and chan_sip's notices. Bursts are real lines repeated with the clock advanced."""

from __future__ import annotations

from detectors.sigma_rules.conftest import by_rule, run_rules
from tests.hub_cases import case_text

CALL = ("[2021-12-21 12:{m:02d}:{s:02d}] NOTICE[12345][C-000000{s:02d}] chan_sip.c: Call from '' (198.51.100.50:5060) "
        "to extension '00972{m}{s}' rejected because extension not found in context 'default'.")


def medium_plus(hits: list) -> set[str]:
    return {h.entity for h in hits if h.severity in ("medium", "high", "critical")}


def test_sip_password_guessing_and_account_sweeps_reach_the_generic_rules() -> None:
    assert medium_plus(by_rule(run_rules(case_text("asterisk-bf")), "auth.bruteforce")) == {"src_ip=172.17.0.1"}
    assert medium_plus(by_rule(run_rules(case_text("asterisk-user-enum")), "auth.password_spray")) == {
        "src_ip=172.17.0.1"}
    # FreeSWITCH "Can't find user" six times for one extension: failed registrations, one per attempt.
    assert medium_plus(by_rule(run_rules(case_text("freeswitch-user-enumeration")), "auth.bruteforce")) == {
        "src_ip=1.2.3.4"}


def test_acl_flood_needs_fifteen_refusals() -> None:
    lines = case_text("freeswitch-acl-reject")  # sixteen refusals in one instant
    assert medium_plus(by_rule(run_rules(lines), "voip.sip_acl_flood")) == {"src_ip=1.2.3.4"}
    assert not medium_plus(run_rules(lines[:14]))
    # "Falling back to Digest auth": routine for phones outside the ACL, never counted.
    fallback = [ln.replace("Rejected by register acl", 'Rejected by acl "domains". Falling back to Digest auth.')
                for ln in lines]
    assert not medium_plus(run_rules(fallback))


def test_extension_scan() -> None:
    hits = by_rule(run_rules([CALL.format(m=1, s=5 * i) for i in range(5)]), "voip.extension_scan")
    assert [(h.entity, h.severity) for h in hits] == [("src_ip=198.51.100.50", "medium")]
    assert not by_rule(run_rules([CALL.format(m=1, s=5 * i) for i in range(4)]), "voip.extension_scan")
