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


# --- web servers, proxies and WAFs (CrowdSec hub test cases, MIT, crowdsecurity/hub, unless noted) -------------

def _access(ip: str, path: str, status: int, sec: int = 0, method: str = "GET", agent: str = "curl/7.68.0",
            proto: str = "HTTP/1.1", minute: int = 0) -> str:
    return (f'{ip} - - [30/Sep/2021:09:{minute:02d}:{sec:02d} +0200] "{method} {path} {proto}" {status} 162 "-" '
            f'"{agent}"')


def _entities(hits: list, rule: str, level: str = "medium") -> set[str]:
    order = ["low", "medium", "high", "critical"]
    return {h.entity for h in by_rule(hits, rule) if order.index(h.severity) >= order.index(level)}


def test_probing_needs_eleven_different_misses_in_a_burst():
    burst = [_access("1.2.3.4", f"/probe{i}.php", 404, sec=i) for i in range(11)]
    assert _entities(run_rules(burst), "web.probing") == {"src_ip=1.2.3.4"}
    assert not by_rule(run_rules(burst[:10]), "web.probing")
    # Static assets that are missing are a broken page, not a probe.
    icons = [_access("1.2.3.5", f"/img/icon{i}.png", 404, sec=i) for i in range(20)]
    assert not by_rule(run_rules(icons), "web.probing")


def test_non_http_garbage_is_protocol_probing():
    # CrowdSec hub test case nginx-http-malformed (three of its lines)
    lines = ['1.2.3.4 - - [29/Jul/2023:10:26:06 -0700] "HELP" 400 157 "-" "-"',
             '1.2.3.4 - - [29/Jul/2023:10:26:07 -0700] "batman" 400 157 "-" "-"',
             '1.2.3.4 - - [29/Jul/2023:10:26:07 -0700] "\\x16\\x03\\x01\\x00t\\x01\\x00\\x00p\\x03\\x01YF}" 400 157 '
             '"-" "-"']
    assert _entities(run_rules(lines), "web.protocol_probing") == {"src_ip=1.2.3.4"}
    assert not by_rule(run_rules(lines[:2]), "web.protocol_probing")


def test_sensitive_file_and_dotfile_probing():
    names = ["/.bash_history", "/.git/HEAD", "/backup.sql", "/.env", "/site.tar.gz"]
    lines = [_access("127.0.0.1", n, 404, sec=i) for i, n in enumerate(names)]
    assert _entities(run_rules(lines), "web.sensitive_file_probing") == {"src_ip=127.0.0.1"}
    # Served (200) database migrations of an application are not probing.
    served = [_access("10.0.0.9", f"/data/migrations/{i}_payees.sql", 200, sec=i) for i in range(6)]
    assert not by_rule(run_rules(served), "web.sensitive_file_probing")


def test_webshell_names_and_ordinary_scripts():
    lines = [_access("127.0.0.1", "/Worse_Linux_Shell.php", 404), _access("127.0.0.1", "/s72_Shell.php", 404, sec=1)]
    assert _entities(run_rules(lines), "web.webshell_probing") == {"src_ip=127.0.0.1"}
    benign = [_access("10.0.0.2", p, 200) for p in ("/index.php", "/cmdline/help.html", "/shop/cart.php")]
    assert not by_rule(run_rules(benign), "web.webshell_probing")


def test_scanner_agents_over_an_alb():
    # CrowdSec hub test case aws-alb-http-bad-user-agent
    line = ('https 2023-04-26T12:23:15.948827Z app/546213e5-apiexamplecom-api-94aa/490d68edf04676fe '
            '192.168.1.100:44760 10.0.0.66:9000 0.000 0.002 0.000 200 200 5 257 "GET https://10.0.2.105:773/admin.php'
            ' HTTP/1.1" "Mozilla/5.00 (Nikto/2.1.5) (Evasions:None) (Test:getinfo)" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2'
            ' arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/t/7 "Root=1-5" "-" "-" 1 2018-07-02T22:22:48Z '
            '"forward" "-" "-" "10.0.0.66:9000" "200" "-" "-"')
    assert _entities(run_rules([line]), "web.scanner_user_agent") == {"src_ip=192.168.1.100"}
    browser = _access("10.0.0.3", "/", 200, agent="Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Firefox/121.0")
    assert not by_rule(run_rules([browser]), "web.scanner_user_agent")


def test_http_auth_bruteforce_from_401s_and_from_error_logs():
    lines = [_access("127.0.0.1", "/", 401, sec=i) for i in range(6)]
    assert _entities(run_rules(lines), "web.http_auth_bruteforce") == {"src_ip=127.0.0.1"}
    dav = [_access("10.0.0.4", "/remote.php/dav", 401, sec=i, method="PROPFIND") for i in range(10)]
    assert not by_rule(run_rules(dav), "web.http_auth_bruteforce")
    # nginx error log (CrowdSec hub test case nginx-http-generic-bf): failed logins for the generic correlation.
    errors = [f'2021/09/30 09:23:{50 + i} [error] 1925800#1925800: *{17 + i} user "foo" was not found in '
              f'"/tmp/a.htpasswd", client: 127.0.0.1, server: _, request: "GET / HTTP/1.1", host: "localhost"'
              for i in range(5)]
    assert _entities(run_rules(errors), "auth.bruteforce") == {"src_ip=127.0.0.1"}


def test_open_proxy_probes():
    lines = ['127.0.0.1 - - [24/Sep/2021:06:20:32 +0000] "CONNECT foo.com:25 HTTP/1.1" 400 166 "-" "-"',
             '127.0.0.2 - - [08/Aug/2022:21:18:26 +0000] "GET http://www.sbjudge4.com:80/ip4.php HTTP/1.0" 400 255 '
             '"-" "-" "-"']
    assert _entities(run_rules(lines), "web.open_proxy_probe") == {"src_ip=127.0.0.1", "src_ip=127.0.0.2"}
    referer = _access("10.0.0.5", "/", 200).replace('"-" "curl', '"http://example.org/" "curl')
    assert not by_rule(run_rules([referer]), "web.open_proxy_probe")


def test_rate_limit_needs_six_refusals():
    def limited(ip: str, n: int) -> list[str]:
        return [f'2021/12/02 11:53:{10 + i} [error] 4065777#4065777: *1 limiting requests, excess: 5.428 by zone '
                f'"z", client: {ip}, server: , request: "GET / HTTP/1.1", host: "h"' for i in range(n)]
    hits = run_rules(limited("::1", 6) + limited("192.168.1.1", 3))
    assert _entities(hits, "web.rate_limit_exceeded") == {"src_ip=::1"}


def test_waf_critical_match_alerts_and_a_warning_alone_does_not():
    crit = ('[Thu Sep 30 13:27:06.009964 2021] [:error] [pid 2560:tid 1] [client ::1:37752] [client ::1] '
            'ModSecurity: Warning. Pattern match "x" at REQUEST_URI. [id "930110"] [msg "Path Traversal Attack"] '
            '[severity "CRITICAL"] [hostname "localhost"] [uri "/"] [unique_id "Y"]')
    notice = crit.replace("::1", "2001:db8::7").replace('"CRITICAL"', '"NOTICE"').replace("930110", "920350")
    hits = run_rules([crit, notice])
    assert _entities(hits, "web.waf_attack") == {"src_ip=::1"}


def test_wordpress_user_enumeration_scan_and_bruteforce():
    # CrowdSec hub test case http-wordpress_user-enum: 1.2.3.4 walks author ids, 1.2.3.5 repeats one.
    enum = [_access("1.2.3.4", f"/?author={i}", 404, sec=i) for i in (2, 23, 24, 14, 3, 12)]
    same = [_access("1.2.3.5", "/?author=1", 404, sec=i) for i in range(5)]
    assert _entities(run_rules(enum + same), "web.wordpress_user_enum") == {"src_ip=1.2.3.4"}
    scan = [_access("1.2.3.6", f"/wp-content/plugins/p{i}/x.php", 404, sec=i) for i in range(4)]
    assert _entities(run_rules(scan), "web.wordpress_scan") == {"src_ip=1.2.3.6"}
    guess = [_access("1.2.3.7", "/wp-login.php", 200, sec=i, method="POST") for i in range(6)]
    assert _entities(run_rules(guess), "web.wordpress_bruteforce") == {"src_ip=1.2.3.7"}
    one_login = [_access("1.2.3.8", "/wp-login.php", 302, method="POST")]
    assert not by_rule(run_rules(one_login), "web.wordpress_bruteforce")


def test_flood_shapes():
    bypass = [_access("127.0.0.1", f"/?{10_000_000 + i * 7919}", 200, sec=i % 2) for i in range(31)]
    assert _entities(run_rules(bypass), "web.dos_cache_bypass") == {"src_ip=127.0.0.1"}
    assert not by_rule(run_rules(bypass[:29]), "web.dos_cache_bypass")
    rand = [_access("127.0.0.2", "/" + "".join(chr(65 + (i * 7 + k) % 26) for k in range(6)), 404)
            for i in range(31)]
    assert _entities(run_rules(rand), "web.dos_random_uri") == {"src_ip=127.0.0.2"}
    # CrowdSec hub test case http-dos-invalid-http-versions
    versions = {v: _access(f"127.0.0.{i}", "/", 400, proto=f"HTTP/{v}")
                for i, v in enumerate(["1.0", "1.1", "1.2", "0.9", "2.0", "2.1"], start=1)}
    assert _entities(run_rules(list(versions.values())), "web.invalid_http_version") == {
        "src_ip=127.0.0.3", "src_ip=127.0.0.6"}


def test_product_and_admin_probes():
    # CrowdSec hub test cases http-technology-probing and sap-probing
    tech = [_access("10.0.0.1", "/cgi-bin/videoconfiguration.cgi", 404),
            _access("10.0.0.2", "/crx/packmgr/service.jsp", 403),
            _access("10.0.0.3", "/some/random/path", 404),
            _access("127.0.0.1", "/sap/bc/gui/sap/its/webgui/foobar", 404)]
    assert _entities(run_rules(tech), "web.product_probing") == {
        "src_ip=10.0.0.1", "src_ip=10.0.0.2", "src_ip=127.0.0.1"}
    # The same product paths answered 200: the site runs it, its users use it.
    assert not by_rule(run_rules([_access("10.0.0.4", "/crx/packmgr/service.jsp", 200)]), "web.product_probing")
    admin = [_access("10.0.0.5", p, 404, sec=i) for i, p in enumerate(
        ["/phpmyadmin/", "/pma/", "/adminer.php", "/manager/html", "/administrator/"])]
    assert _entities(run_rules(admin), "web.admin_probing") == {"src_ip=10.0.0.5"}
    assert not by_rule(run_rules(admin[:4]), "web.admin_probing")


def test_inclusion_wrappers_and_sql_probes_are_attack_patterns():
    lines = [_access("198.51.100.20", "/index.php?page=php://filter/convert.base64-encode/resource=index", 200),
             _access("198.51.100.21", "/item?id=1%20union%20all%20select%20null%2Cnull%2Cnull--", 500),
             _access("198.51.100.22", "/?q=1%27%20and%20pg_sleep%285%29--", 200)]
    assert _entities(run_rules(lines), "web.attack_pattern") == {
        "src_ip=198.51.100.20", "src_ip=198.51.100.21", "src_ip=198.51.100.22"}
    ordinary = [_access("10.0.0.30", "/search?q=null+pointer+exception", 200),
                _access("10.0.0.31", "/docs/file-formats.html", 200)]
    assert not by_rule(run_rules(ordinary), "web.attack_pattern")
