"""Network-device rules on real lines from wazuh-ruleset's cisco_ios.ini and cisco_asa.ini tests (GPL-2.0,
wazuh/wazuh-ruleset @908c90b): IDS signatures and device login failures, and a benign device line."""

from __future__ import annotations

from detectors.sigma_rules.conftest import by_rule, run_rules

IPS = ("Sep  1 10:25:29 10.10.10.1 %IPS-4-SIGNATURE: Sig:3051 Subsig:1 Sev:4 TCP Connection Window Size DoS "
       "[192.168.100.11:51654 -> 10.10.10.10:4444]")
LAND = "%ASA-2-106017: Deny IP due to Land Attack from 193.17.108.1 to 193.17.108.1"
LOGIN = '%ASA-6-605004: Login denied from 192.168.2.10/32597 to outside:192.168.2.14/ssh for user "root"'
BENIGN = "%ASA-5-111008: User 'enable_15' executed the 'write memory' command."


def test_ids_signature_is_high_and_names_the_attacker():
    hits = by_rule(run_rules([IPS, LAND]), "net.ids_signature")
    assert {(h.entity, h.severity) for h in hits} == {("src_ip=192.168.100.11", "high"),
                                                      ("src_ip=193.17.108.1", "high")}


def test_device_login_failure_is_medium():
    hits = by_rule(run_rules([LOGIN]), "auth.device_login_failure")
    assert [(h.entity, h.severity) for h in hits] == [("src_ip=192.168.2.10", "medium")]


def test_routine_device_message_raises_nothing():
    assert not run_rules([BENIGN])


def test_device_login_failure_never_blames_the_account_name():
    # The account tried is the client's text: an address in it is not the one the device reports.
    lines = ['%ASA-6-605004: Login denied from 203.0.113.66/4000 to outside:192.168.2.14/ssh for user '
             '"192.0.2.10"',
             "Sep  1 10:25:29 10.10.10.1 %ASA-4-113006: User '192.0.2.10' locked out on exceeding '3' successive "
             "failed authentication attempts",
             "Sep  1 10:25:29 10.10.10.1 webui: Invalid login attempt for user x from 192.0.2.10 from 203.0.113.66"]
    hits = by_rule(run_rules(lines), "auth.device_login_failure")
    assert sorted((h.entity, len(h.event_ids)) for h in hits) == [("host=10.10.10.1", 1), ("src_ip=203.0.113.66", 2)]


def test_a_database_login_failure_is_not_a_device_login_failure():
    # The same words in PostgreSQL's own line: the database's parser reads it, the device rule stays quiet.
    line = ('Nov 21 10:00:00 db1 postgres[811]: [3-1] 2026-11-21 10:00:00 UTC [811] FATAL:  password authentication '
            'failed for user "postgres"')
    assert not by_rule(run_rules([line] * 5), "auth.device_login_failure")
