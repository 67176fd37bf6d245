"""Self-hosted application rules (detectors/sigma_rules/webapp/ and the generic auth correlations) on real line
shapes from the CrowdSec hub test cases (MIT, crowdsecurity/hub, ../shared/datasets/crowdsec-hub-tests), repeated
with the clock advanced because a threshold needs several of them; and `vigil ingest --detect` end to end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from detectors.sigma_rules.conftest import by_rule, run_rules
from tests.conftest import vigil_cmd

# hub vaultwarden-bf, sabnzbd-bf, magento-ccs, cpanel_bf_attempt, sympa_ww-http-scan, fireflyiii-bf
VAULTWARDEN = ("[2022-02-03 16:{m:02d}:{s:02d}.219][vaultwarden::api::identity][ERROR] Username or password is "
               "incorrect. Try again. IP: {ip}. Username: {user}.")
SABNZBD = ("2024-07-20 12:{m:02d}:{s:02d},797::WARNING::[interface:657] Unsuccessful login attempt from {ip} "
           "[Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0]")
MAGENTO = ('[2022-02-11 14:{m:02d}:{s:02d}] crowdsec-events.INFO:  {{"type":"PAYMENT_FAILED","ip":"{ip}",'
           '"x-forwarded-for-ip":"","bouncer_agent":"Magento 2 CrowdSec Bouncer/v1.0.0",'
           '"payment_method":"braintree"}} []')
CPANEL_LOCKOUT = ('[2021-06-10 12:07:01 +0000] info [cpaneld] 213.44.59.93 - cscpanel "POST /login/?login_only=1 '
                  'HTTP/1.1" FAILED LOGIN cpaneld: brute force attempt (user cscpanel) has locked out IP 213.44.59.93')
SYMPA = ("Nov 09 10:{m:02d}:{s:02d} tools.comptoir.net wwsympa[1278]: info main:: [robot listes.comptoir.net] "
         "[session 08203929330290] [client 192.168.0.1] [user root@comptoir.net] Unknown action {what}")
FIREFLY_TRY = ('[2026-01-04 01:{m:02d}:{s:02d}] local.INFO: AUDIT: User is trying to login using "{user}" '
               "(192.168.1.123 -> POST:https://FireflyiiiDomain.com/login)")
AUTHELIA = ('time="2022-02-14T13:{m:02d}:{s:02d}+02:00" level={level} msg="{what} 1FA authentication attempt {by} '
            "'{user}'\" method=POST path=/api/firstfactor remote_ip={ip}")


def at(template: str, i: int, every_s: int = 3, **kw: str) -> str:
    t = i * every_s
    return template.format(m=t // 60, s=t % 60, **kw)


def entities(hits: list, rule: str) -> set[tuple[str, str]]:
    return {(h.entity, h.severity) for h in by_rule(hits, rule)}


def test_application_failures_feed_the_generic_bruteforce() -> None:
    five = [at(VAULTWARDEN, i, ip="203.0.113.9", user="a@example.com") for i in range(5)]
    assert entities(run_rules(five), "auth.bruteforce") == {("src_ip=203.0.113.9", "medium")}
    assert not [h for h in run_rules(five[:4]) if h.severity in ("medium", "high", "critical")]


def test_spraying_accounts_of_an_application_is_flagged() -> None:
    users = [at(VAULTWARDEN, i, ip="203.0.113.9", user=f"u{i}@example.com") for i in range(5)]
    assert ("src_ip=203.0.113.9", "medium") in entities(run_rules(users), "auth.password_spray")


def test_success_after_application_failures_is_high() -> None:
    lines = [at(AUTHELIA, i, level="error", what="Unsuccessful", by="by user", user="bob", ip="203.0.113.9")
             for i in range(5)]
    lines.append(at(AUTHELIA, 6, level="debug", what="Successful", by="made by user", user="bob", ip="203.0.113.9"))
    assert entities(run_rules(lines), "auth.success_after_failures") == {("src_ip=203.0.113.9", "high")}


def test_sabnzbd_alerts_at_four_failures_within_a_minute_as_its_scenario_does() -> None:
    four = [at(SABNZBD, i, every_s=1, ip="192.168.1.2") for i in range(4)]
    assert entities(run_rules(four), "webapp.sabnzbd_bruteforce") == {("src_ip=192.168.1.2", "medium")}
    assert not by_rule(run_rules(four[:3]), "webapp.sabnzbd_bruteforce")
    # Four failures 30 s apart never have four inside one minute.
    assert not by_rule(run_rules([at(SABNZBD, i, every_s=30, ip="192.168.1.2") for i in range(4)]),
                       "webapp.sabnzbd_bruteforce")


def test_card_testing_from_one_address() -> None:
    four = [at(MAGENTO, i, every_s=6, ip="1.2.3.4") for i in range(4)]
    assert entities(run_rules(four), "webapp.card_testing") == {("src_ip=1.2.3.4", "medium")}
    assert not by_rule(run_rules(four[:3]), "webapp.card_testing")


def test_application_lockout_alerts_on_its_own() -> None:
    assert entities(run_rules([CPANEL_LOCKOUT]), "webapp.lockout") == {("src_ip=213.44.59.93", "medium")}


def test_sympa_probing_counts_unknown_actions_but_not_robots_or_favicon() -> None:
    probes = [at(SYMPA, 0, what="admin.php"), at(SYMPA, 8, what=".env")]
    assert entities(run_rules(probes), "webapp.unknown_action_probing") == {("src_ip=192.168.0.1", "medium")}
    benign = [at(SYMPA, i, what=w) for i, w in enumerate(("robots.txt", "sitemap.xml", "favicon.ico"))]
    assert not run_rules(benign)


def test_nextcloud_throttling_and_untrusted_hosts() -> None:
    def nc(message: str, ip: str) -> str:
        return json.dumps({"reqId": "r", "level": 1, "time": "2022-01-16T15:42:37+00:00", "remoteAddr": ip,
                           "user": "--", "app": "core", "method": "POST", "url": "/login", "message": message})

    throttled = [nc('Bruteforce attempt from "2001:db8::d72" detected for action "login".', "2001:db8::d72")] * 5
    assert entities(run_rules(throttled), "webapp.throttled_bruteforce") == {("src_ip=2001:db8::d72", "medium")}
    domain = [nc('Trusted domain error. "172.18.0.200" tried to access using "cloud.test.com" as host.',
                 "172.18.0.200")] * 5
    assert entities(run_rules(domain), "webapp.untrusted_host_probing") == {("src_ip=172.18.0.200", "medium")}
    assert not by_rule(run_rules(domain[:4]), "webapp.untrusted_host_probing")


def test_ntfy_counts_unauthorized_and_forbidden_together() -> None:
    def ntfy(code: int) -> str:
        return json.dumps({"time": "2025-08-03T14:32:00.02-04:00", "level": "DEBUG",
                           "message": f"Connection closed with HTTP {code // 100} (ntfy error {code})",
                           "error_code": code, "http_status": code // 100, "visitor_ip": "127.0.0.1"})

    lines = [ntfy(40301), ntfy(40301), ntfy(40101), ntfy(40101), ntfy(40101)]
    assert entities(run_rules(lines), "webapp.ntfy_bruteforce") == {("src_ip=127.0.0.1", "medium")}


def test_many_accounts_tried_from_one_address_without_outcome() -> None:
    tries = [at(FIREFLY_TRY, i, user=f"u{i}@example.com") for i in range(5)]
    assert entities(run_rules(tries), "webapp.account_enumeration") == {("src_ip=192.168.1.123", "medium")}
    # One person retrying their own account is not enumeration.
    assert not by_rule(run_rules([at(FIREFLY_TRY, i, user="me@example.com") for i in range(5)]),
                       "webapp.account_enumeration")


def test_vigil_ingest_detect_flags_an_application_brute_forcer(tmp_path: Path) -> None:
    log = tmp_path / "vaultwarden.log"
    lines = [at(VAULTWARDEN, i, ip="203.0.113.9", user="a@example.com") for i in range(6)]
    lines.append(at(VAULTWARDEN, 7, ip="198.51.100.20", user="me@example.com"))  # one mistake: no alert
    log.write_text("\n".join(lines) + "\n")
    db = tmp_path / "v.duckdb"
    out = subprocess.run([*vigil_cmd(), "ingest", "--detect", "--db", str(db), str(log)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    q = subprocess.run([*vigil_cmd(), "query", "--db", str(db), "--format", "json",
                        "SELECT entity, severity FROM alerts WHERE severity IN ('medium', 'high', 'critical')"],
                       capture_output=True, text=True, timeout=120)
    assert q.returncode == 0, q.stderr
    named = {r["entity"] for r in json.loads(q.stdout)}
    assert "src_ip=203.0.113.9" in named and "src_ip=198.51.100.20" not in named
    ev = subprocess.run([*vigil_cmd(), "query", "--db", str(db), "--format", "json",
                         "SELECT DISTINCT service, action, src_ip FROM events ORDER BY src_ip"],
                        capture_output=True, text=True, timeout=120)
    assert json.loads(ev.stdout) == [
        {"service": "vaultwarden", "action": "login_failed", "src_ip": "198.51.100.20"},
        {"service": "vaultwarden", "action": "login_failed", "src_ip": "203.0.113.9"},
    ]


def test_distributed_card_testing_names_the_shop() -> None:
    # hub magento-ccs-by-as: eleven addresses, one or two failed payments each, within seconds.
    lines = [at(MAGENTO, i, every_s=1, ip=f"1.2.3.{4 + i % 11}") for i in range(22)]
    hits = by_rule(run_rules(lines), "webapp.distributed_card_testing")
    assert {(h.entity, h.severity) for h in hits} == {("service=magento", "high")}
    assert not by_rule(run_rules(lines[:9]), "webapp.distributed_card_testing")
