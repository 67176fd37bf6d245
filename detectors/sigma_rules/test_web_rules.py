"""Web rules on real access-log lines. Sources: ocatak/apache-http-logs (w3af, netsparker, acunetix scans
of DVWA; Seyyar, Çatak, Gül 2018 — cite the paper), elastic/examples apache_logs (benign, Apache-2.0). The
scanner files wrap each line in an extra pair of quotes upstream; we strip them as the dataset README says."""

from __future__ import annotations

import pytest

from detectors.eval.common import datasets_root
from detectors.sigma_rules.conftest import by_rule, run_rules

W3AF = '192.168.4.163 - - [22/Dec/2016:22:32:31 +0300] "GET / HTTP/1.1" 200 3279 "-" "w3af.org"'
NETSPARKER_XSS = ("192.168.4.164 - - [22/Dec/2016:15:19:14 +0300] \"GET /DVWA/?nsextt='%22--%3E%3C/style%3E"
                  "%3C/scRipt%3E%3CscRipt%3Enetsparker(0x000002)%3C/scRipt%3E HTTP/1.1\" 200 1964 \"-\" "
                  "\"Mozilla/5.0 (Windows NT 6.3; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/41.0.2272.16 Safari/537.36\"")
ACUNETIX_TRAVERSAL = ('192.168.4.25 - - [22/Dec/2016:16:37:41 +0300] "POST /index.php/component/users/'
                      '?task=/etc/passwd HTTP/1.1" 200 2767 "http://192.168.4.161/DVWA" '
                      '"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.21 (KHTML, like Gecko) '
                      'Chrome/41.0.2228.0 Safari/537.21"')
BENIGN = ('83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/'
          'kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/"'
          ' "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) '
          'Chrome/32.0.1700.77 Safari/537.36"')


def test_scanner_user_agent_is_flagged_per_client():
    hits = by_rule(run_rules([W3AF]), "web.scanner_user_agent")
    assert [(h.entity, h.severity) for h in hits] == [("src_ip=192.168.4.163", "medium")]


def test_xss_and_traversal_payloads_in_paths_are_flagged():
    hits = by_rule(run_rules([NETSPARKER_XSS, ACUNETIX_TRAVERSAL]), "web.attack_pattern")
    assert {h.entity for h in hits} == {"src_ip=192.168.4.164", "src_ip=192.168.4.25"}


def test_burst_of_404s_from_one_client_is_scanning():
    lines = [f'192.168.4.164 - - [22/Dec/2016:15:19:{i % 60:02d} +0300] "HEAD /DVWA/probe{i}.bak HTTP/1.1" '
             '404 139 "-" "Mozilla/5.0"' for i in range(25)]
    hits = by_rule(run_rules(lines), "web.error_burst")
    assert hits and hits[0].entity == "src_ip=192.168.4.164" and sum(len(h.event_ids) for h in hits) >= 20


def test_a_few_404s_are_not_a_burst():
    lines = [f'83.149.9.216 - - [17/May/2015:10:05:{i:02d} +0000] "GET /favicon{i}.ico HTTP/1.1" 404 10 "-" '
             '"Mozilla/5.0"' for i in range(5)]
    assert not by_rule(run_rules(lines), "web.error_burst")


def test_ordinary_browsing_raises_nothing():
    assert not [h for h in run_rules([BENIGN] * 50) if h.severity != "low"]


def test_benign_elastic_apache_log_has_few_medium_alerts():
    path = datasets_root() / "elastic-examples-security" / "apache_logs"
    if not path.exists():
        pytest.skip(f"dataset absent: {path}")
    hits = [h for h in run_rules(path.read_text(encoding="utf-8", errors="replace").splitlines())
            if h.severity != "low"]
    clients = {h.entity for h in hits}
    # 10,000 real requests from ~1,750 clients; a handful of bots probe wp-login/phpmyadmin.
    assert len(clients) < 30, sorted(clients)


def test_http_library_user_agent_is_only_low():
    # elastic apache_logs: a real libwww-perl fetch of an article.
    line = ('24.111.34.227 - - [19/May/2015:10:05:32 +0000] "GET /articles/dynamic-dns-with-dhcp/ HTTP/1.1" '
            '200 18848 "-" "LWP::Simple/5.827 libwww-perl/5.833"')
    hits = run_rules([line])
    assert [(h.rule_id, h.severity) for h in hits] == [("web.scripted_client", "low")]
