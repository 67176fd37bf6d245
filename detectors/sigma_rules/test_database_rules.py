"""Database rules on real database log lines: CrowdSec hub test cases (MIT, crowdsecurity/hub; named at each use)."""

from __future__ import annotations

from detectors.sigma_rules.conftest import by_rule, run_rules
from tests.hub_cases import case_text

# Every rule counts: the device login rule reads the device reader's conclusion, never a database's own wording.
NOT_OURS: set[str] = set()


def medium_plus(hits: list) -> set[str]:
    return {h.entity for h in hits if h.severity in ("medium", "high", "critical") and h.rule_id not in NOT_OURS}


def test_brute_force_on_every_database_reaches_the_generic_rules() -> None:
    # mariadb-bf, pgsql-logs, mssql-text-logs and couchdb-logs: one guesser each.
    for case, ip in (("mariadb-bf", "172.17.0.1"), ("pgsql-logs", "1.2.3.4"), ("mssql-text-logs", "172.17.0.3"),
                     ("couchdb-logs", "1.2.3.4")):
        assert medium_plus(by_rule(run_rules(case_text(case)), "auth.bruteforce")) == {f"src_ip={ip}"}, case


def test_role_sweep_and_couchdb_crawl() -> None:
    # pgsql-user-enum: six role names in one second; couchdb-logs: dozens of made-up database names, each a 404.
    sweep = run_rules(case_text("pgsql-user-enum"))
    assert medium_plus(by_rule(sweep, "database.user_enumeration")) == {"src_ip=65.2.129.7"}
    crawl = by_rule(run_rules(case_text("couchdb-logs")), "database.http_api_probing")
    assert medium_plus(crawl) == {"src_ip=1.2.3.4"}
    # Three roles, or a few missing documents, are not a sweep.
    assert not medium_plus(run_rules(case_text("pgsql-user-enum")[:3]))
    not_found = [ln for ln in case_text("couchdb-logs") if " 404 " in ln][:5]
    assert not medium_plus(run_rules(not_found))


def test_single_failures_from_several_hosts_raise_nothing() -> None:
    # mysql-logs and supabase-docker-pgsql-logs: one or two failures per address.
    assert not medium_plus(run_rules(case_text("mysql-logs")))
    assert not medium_plus(run_rules(case_text("supabase-docker-pgsql-logs")))
