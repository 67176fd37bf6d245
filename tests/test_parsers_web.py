"""Web servers, proxies and WAFs: access-log variants, error logs, JSON access logs, proxy formats and the same
lines over syslog, parsed through the real chain with no format hint.

Real lines come from the CrowdSec hub test cases (CrowdSec hub test case <name>, MIT, crowdsecurity/hub); the
property tests prove that text a client chooses (user names, paths, agents, Host headers, request lines) can never
supply the address an event is attributed to.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.parsers import ParserChain

RA = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


def parse(line: str, chain: ParserChain | None = None) -> dict:
    return (chain or ParserChain()).parse(line.encode("utf-8", "surrogateescape"), RA)


# CrowdSec hub test case apache2-logs, MIT, crowdsecurity/hub
APACHE_VHOST = ('www.crowdsec.net 1.2.3.4 - - [08/Jun/2020:08:04:43 +0000] "GET /solr/admin/info/system?wt=json '
                'HTTP/1.1" 500 803 "-" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"')
APACHE_VHOST_PORT = ('website.com:443 1.2.3.4 - - [25/Oct/2021:11:05:52 +0200] "GET /web/.well-known HTTP/1.1" 403 '
                     '6963 "abc.com" "User-agent-string"')
APACHE_AUTH = ("[Thu Oct 13 12:24:49.880562 2022] [auth_basic:error] [pid 10:tid 140120579262208] "
               "[client 31.33.58.75:50229] AH01618: user sss not found: /")
APACHE_ERRNO = ("[Wed Apr 16 16:09:40.056610 2025] [ssl:info] [pid 120974:tid 120974] (70014)End of file found: "
                "[client 192.168.1.1:17036] AH02006: SSL handshake stopped: connection was closed")
# CrowdSec hub test case bunkerweb-http-path-traversal, MIT, crowdsecurity/hub
BUNKERWEB = ('example.com 127.0.0.1 - req101 - [29/Sep/2021:17:29:58 +0200] "GET /%2fetc%2fpasswd HTTP/1.1" 404 162 '
             '"-" "curl/7.68.0"')
# CrowdSec hub test case apache-cve-2021-41773, MIT, crowdsecurity/hub
APACHE_INVALID_URI = ("[Fri Oct 08 17:08:41.203277 2021] [core:error] [pid 7005:tid 140667133085440] "
                      "[client 88.168.206.87:14532] AH00126: Invalid URI in request GET /cgi-bin/.%2E/%2E%2E/%2E%2E/"
                      "etc/passwd HTTP/1.1 ")
# CrowdSec hub test cases nginx-http-generic-bf and nginx-proxy-manager-logs, MIT, crowdsecurity/hub
NGINX_USER_NOT_FOUND = ('2021/09/30 09:23:53 [error] 1925800#1925800: *17 user "foo" was not found in '
                        '"/tmp/a.htpasswd", client: 127.0.0.1, server: _, request: "GET / HTTP/1.1", host: "localhost"')
NGINX_MISMATCH = ('2022/01/24 16:33:06 [error] 334#334: *338 user "toto": password mismatch, client: 1.2.3.4, '
                  'server: openresty.local, request: "GET / HTTP/1.1", host: "openresty.local"')
# CrowdSec hub test case nginx_req_limit_exceeded, MIT, crowdsecurity/hub
NGINX_LIMIT = ('2021/12/02 11:53:15 [error] 4065777#4065777: *42952950 limiting requests, excess: 5.428 by zone '
               '"default_root_zone", client: ::1, server: , request: "GET / HTTP/1.1", host: "la03.d.sb"')
# CrowdSec hub test case modsecurity-nginx, MIT, crowdsecurity/hub (the long pattern shortened)
NGINX_MODSEC = ('2021/12/09 14:43:51 [info] 2410567#2410567: *525652 ModSecurity: Warning. Matched "Operator `Ge\' '
                'with parameter `5\' against variable `TX:ANOMALY_SCORE\' (Value: `8\' ) [file "/usr/share/'
                'modsecurity-crs/rules/REQUEST-949-BLOCKING-EVALUATION.conf"] [line "79"] [id "949110"] [rev ""] '
                '[msg "Inbound Anomaly Score Exceeded (Total Score: 8)"] [data ""] [severity "2"] [ver ""] '
                '[maturity "0"] [accuracy "0"] [tag "attack-generic"] [hostname "10.0.4.41"] [uri "/.env"] '
                '[unique_id "163906103184.010102"] [ref ""], client: 143.198.55.184, server: _, request: '
                '"GET /.env HTTP/1.1", host: "34.238.111.71"')
# CrowdSec hub test case modsecurity, MIT, crowdsecurity/hub (shortened)
APACHE_MODSEC = ('[Thu Sep 30 13:27:06.009964 2021] [:error] [pid 2560:tid 140496349419264] [client ::1:37752] '
                 '[client ::1] ModSecurity: Warning. Pattern match "(?:^|[\\\\/])\\\\.\\\\.(?:[\\\\/]|$)" at '
                 'REQUEST_URI. [file "/usr/share/modsecurity-crs/rules/REQUEST-930-APPLICATION-ATTACK-LFI.conf"] '
                 '[line "71"] [id "930110"] [msg "Path Traversal Attack (/../)"] [severity "CRITICAL"] '
                 '[hostname "localhost"] [uri "/"] [unique_id "YVW7KjiKxXlACWj0fjsbkgAAAEk"]')
# CrowdSec hub test case litespeed-logs, MIT, crowdsecurity/hub
LSWS_ADMIN = ("2022-06-08 22:49:20.774649 [NOTICE] [1226033] [1.2.3.4:45164:HTTP2-41#_AdminVHost] [STDERR] "
              "[WebAdmin Console] Failed Login Attempt - username:asdasd ip:127.0.0.1 url:")
# CrowdSec hub test case http-wordpress_wpconfig, MIT, crowdsecurity/hub
NGINX_SYSLOG = ('Jul  8 11:07:08 ip-172-31-43-28.us-east-2.compute.internal nginx[2869]: 167.71.13.196 - - '
                '[08/Jul/2021:11:07:08 +0000] "GET /.wp-config.php.swp HTTP/1.1" 404 21274 "-" "Go-http-client/1.1"')
# CrowdSec hub test case pfsense-rfc5424-nginx, MIT, crowdsecurity/hub
NGINX_5424 = ('<171>1 2025-11-05T20:47:03.000000+00:00 firewall.lan nginx - - - 2025/11/05 20:47:03 [error] '
              '24537#230441: *914 open() "/usr/local/www/x.php" failed (2: No such file or directory), client: '
              'fdfd:ace:ace:7::17a, server: , request: "GET /x.php HTTP/2.0", host: "firewall.lan"')
# CrowdSec hub test case haproxy-nextcloud-whitelist, MIT, crowdsecurity/hub
HAPROXY = ('Apr  4 14:30:19 hap-1 haproxy[3946303]: 192.168.1.1:55032 [04/Apr/2024:14:30:18.885] front_https~ '
           'back_nextcloud/web.domain.sh 0/0/0/169/169 404 1541 - - ---- 5715/616/96/15/0 0/0 '
           '"PROPFIND /remote.php/webdav/User/hu.json HTTP/1.1"')
# CrowdSec hub test case caddy-basic-auth-bf, MIT, crowdsecurity/hub
CADDY = ('{"level":"error","ts":1711741827.9626286,"logger":"http.log.access.log0","msg":"handled request",'
         '"request":{"remote_ip":"127.0.0.1","remote_port":"54462","client_ip":"127.0.0.1","proto":"HTTP/1.1",'
         '"method":"GET","host":"localhost:9080","uri":"/","headers":{"User-Agent":["curl/7.88.1"],"Accept":["*/*"]}},'
         '"bytes_read":0,"user_id":"","duration":0.000033987,"size":0,"status":401,"resp_headers":{"Server":["Caddy"]}}')
# CrowdSec hub test case traefik_json, MIT, crowdsecurity/hub (trimmed to the keys Vigil reads)
TRAEFIK = ('{"ClientAddr":"172.17.0.1:39496","ClientHost":"172.17.0.1","ClientPort":"39496","ClientUsername":"-",'
           '"DownstreamContentSize":357,"DownstreamStatus":200,"RequestHost":"test.docker.localhost",'
           '"RequestMethod":"GET","RequestPath":"/594VAEoi.save","RequestProtocol":"HTTP/1.1",'
           '"RouterName":"test@docker","request_User-Agent":"Nikto","time":"2021-12-08T14:02:43Z"}')
# CrowdSec hub test case aws-alb-http-bad-user-agent, MIT, crowdsecurity/hub
ALB = ('https 2023-04-26T12:23:15.948827Z app/546213e5-apiexamplecom-api-94aa/490d68edf04676fe 192.168.1.100:44760 '
       '10.0.0.66:9000 0.000 0.002 0.000 200 200 5 257 "GET https://10.0.2.105:773/admin.php HTTP/1.1" '
       '"Mozilla/5.00 (Nikto/2.1.5) (Evasions:None) (Test:getinfo)" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
       'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
       '"Root=1-58337327-72bd00b0343d75b906739c43" "-" "-" 1 2018-07-02T22:22:48.364000Z "forward" "-" "-" '
       '"10.0.0.66:9000" "200" "-" "-"')
# CrowdSec hub test case aws-cloudfront-logs, MIT, crowdsecurity/hub
CLOUDFRONT = ("2024-03-12\t15:22:28\tCDG50-P2\t703\t1.2.3.4\tGET\td6rcaj0q1hys9.cloudfront.net\t/testseb\t400\t-\t"
              "curl/7.81.0\tquery_param=42\t-\tError\t375WZmnR4hhhnlZKNn0D\thub-cdn.crowdsec.net\thttps\t62\t0.113\t-\t"
              "TLSv1.3\tTLS_AES_128_GCM_SHA256\tError\tHTTP/2.0\t-\t-\t51754\t0.113\tError\ttext/plain\t20\t-\t-")
# CrowdSec hub test case nginx-proxy-manager-logs, MIT, crowdsecurity/hub
NPM = ('[24/Jan/2022:13:40:19 +0000] 444 - GET https 4.3.2.1 "/.env" [Client 207.32.219.89] [Length 0] [Gzip -] '
       '"Mozilla/5.0 (Linux; U; Android 4.4.2; en-US)" "-"')
NPM_PROXY = ('[24/Jan/2022:16:51:02 +0000] - 404 404 - GET http openresty.local "/sdfdsf" [Client 1.2.3.4] '
             '[Length 192] [Gzip 3.10] [Sent-to openresty] "Mozilla/5.0 (X11; Linux x86_64)" "-"')
# CrowdSec hub test case npmplus-logs, MIT, crowdsecurity/hub
NPMPLUS = ('[10/Feb/2024:21:23:40 +0100] wings.example.com 192.168.1.101 0.002 "GET / HTTP/1.1" 401 77 935 - '
           'Uptime-Kuma/1.23.11')
# CrowdSec hub test case zoraxy-http-logs, MIT, crowdsecurity/hub
ZORAXY = ("2025/05/01 12:01:50 [2025-05-01 12:01:50.912318] [router:host-http] [origin:private.co.uk] "
          "[client: 192.168.1.1] [useragent: python-requests/2.32.3] GET /.git/config 404")
# CrowdSec hub test case http-magento-bf, MIT, crowdsecurity/hub
MAGENTO = ('[2022-02-11 13:41:28] crowdsec-events.INFO:  {"type":"ADMIN_LOGIN_FAILED","ip":"1.2.3.4",'
           '"x-forwarded-for-ip":"","bouncer_agent":"Magento 2 CrowdSec Bouncer/v1.0.0"} []')
# CrowdSec hub test case base-upsun-generic-test, MIT, crowdsecurity/hub (envelope trimmed)
UPSUN = ('{"timestamp":1756494783,"type":"log.journald","level":"INFO","message":"frontend.0 nginx: 203.0.113.1 - - '
         '[29/Aug/2025:19:13:03 +0000] \\"GET /x HTTP/1.1\\" 502 1535 \\"-\\" \\"Mozilla/5.0\\""}')


def test_access_log_virtual_host_variants_keep_the_client() -> None:
    ev = parse(APACHE_VHOST)
    assert (ev["format"], ev["src_ip"], ev["fields"]["vhost"]) == ("access", "1.2.3.4", "www.crowdsec.net")
    assert ev["fields"]["path"] == "/solr/admin/info/system?wt=json" and ev["fields"]["status"] == 500
    assert parse(APACHE_VHOST_PORT)["fields"]["vhost"] == "website.com:443"
    bw = parse(BUNKERWEB)
    assert (bw["src_ip"], bw["fields"]["vhost"], bw["fields"]["request_id"]) == ("127.0.0.1", "example.com", "req101")
    assert bw["ts"] == datetime(2021, 9, 29, 15, 29, 58, tzinfo=UTC)


def test_virtual_host_form_needs_an_address_second_and_the_dash_ident() -> None:
    # A first field that is not an address and no address after it: the old behaviour (client kept as text).
    ev = parse('example.org - - [21/Nov/2026:05:48:02 +0000] "GET / HTTP/1.1" 301 0 "-" "curl/8"')
    assert ev.get("src_ip") is None and ev["fields"]["client"] == "example.org"
    # Four fields whose second is not an address is not a vhost line.
    assert parse('a.example b.example - - [21/Nov/2026:05:48:02 +0000] "GET / HTTP/1.1" 200 1')["format"] != "access"


def test_nginx_error_log_auth_failures_limits_and_missing_files() -> None:
    nf = parse(NGINX_USER_NOT_FOUND)
    assert (nf["format"], nf["category"], nf["action"], nf["user"], nf["src_ip"]) == (
        "nginx-error", "authentication", "login_failed", "foo", "127.0.0.1")
    assert nf["fields"]["reason"] == "unknown user" and nf["fields"]["path"] == "/"
    mm = parse(NGINX_MISMATCH)
    assert (mm["action"], mm["user"], mm["src_ip"], mm["fields"]["vhost"]) == (
        "login_failed", "toto", "1.2.3.4", "openresty.local")
    lim = parse(NGINX_LIMIT)
    assert (lim["category"], lim["action"], lim["src_ip"], lim["fields"]["zone"]) == (
        "web", "rate_limited", "::1", "default_root_zone")
    ms = parse(NGINX_MODSEC)
    assert (ms["action"], ms["service"], ms["src_ip"]) == ("waf_alert", "modsecurity", "143.198.55.184")
    assert (ms["fields"]["rule_id"], ms["fields"]["rule_severity"], ms["fields"]["path"]) == ("949110", "2", "/.env")


def test_apache_error_log_auth_invalid_uri_modsecurity_and_errno_prefix() -> None:
    au = parse(APACHE_AUTH)
    assert (au["format"], au["action"], au["user"], au["src_ip"], au["src_port"]) == (
        "apache-error", "login_failed", "sss", "31.33.58.75", 50229)
    inv = parse(APACHE_INVALID_URI)
    assert (inv["action"], inv["src_ip"], inv["fields"]["method"]) == ("invalid_request", "88.168.206.87", "GET")
    assert inv["fields"]["path"].startswith("/cgi-bin/.%2E/")
    ms = parse(APACHE_MODSEC)
    assert (ms["action"], ms["src_ip"], ms["fields"]["rule_id"], ms["fields"]["rule_severity"]) == (
        "waf_alert", "::1", "930110", "CRITICAL")
    assert parse(APACHE_ERRNO)["src_ip"] == "192.168.1.1"


def test_litespeed_admin_login_failure_uses_the_connection_address() -> None:
    ev = parse(LSWS_ADMIN)
    # The message's "ip:127.0.0.1" is what the admin console was told; the header has the connection.
    assert (ev["action"], ev["user"], ev["src_ip"], ev["src_port"]) == ("login_failed", "asdasd", "1.2.3.4", 45164)


def test_web_servers_over_syslog_parse_like_their_files() -> None:
    ev = parse(NGINX_SYSLOG)
    assert (ev["format"], ev["service"], ev["category"], ev["src_ip"]) == ("rfc3164", "nginx", "web", "167.71.13.196")
    assert ev["fields"]["path"] == "/.wp-config.php.swp" and ev["fields"]["status"] == 404
    assert ev["host"] == "ip-172-31-43-28.us-east-2.compute.internal"
    e5 = parse(NGINX_5424)
    assert (e5["action"], e5["src_ip"], e5["fields"]["path"]) == ("not_found", "fdfd:ace:ace:7::17a", "/x.php")
    hp = parse(HAPROXY)
    assert (hp["service"], hp["src_ip"], hp["src_port"], hp["fields"]["status"], hp["fields"]["method"]) == (
        "haproxy", "192.168.1.1", 55032, 404, "PROPFIND")


def test_json_access_logs() -> None:
    cd = parse(CADDY)
    assert (cd["format"], cd["src_ip"], cd["fields"]["status"], cd["fields"]["user_agent"]) == (
        "caddy", "127.0.0.1", 401, "curl/7.88.1")
    assert cd["outcome"] == "failure" and cd["message"] == "GET / HTTP/1.1"
    tr = parse(TRAEFIK)
    assert (tr["format"], tr["src_ip"], tr["fields"]["path"], tr["fields"]["user_agent"]) == (
        "traefik", "172.17.0.1", "/594VAEoi.save", "Nikto")
    up = parse(UPSUN)
    assert (up["format"], up["service"], up["src_ip"], up["host"]) == ("access", "nginx", "203.0.113.1", "frontend.0")


def test_proxy_and_load_balancer_formats() -> None:
    alb = parse(ALB)
    assert (alb["format"], alb["src_ip"], alb["src_port"]) == ("aws-alb", "192.168.1.100", 44760)
    assert (alb["fields"]["path"], alb["fields"]["vhost"], alb["fields"]["vhost_port"]) == ("/admin.php",
                                                                                            "10.0.2.105", 773)
    assert alb["message"] == "GET /admin.php HTTP/1.1"
    cf = parse(CLOUDFRONT)
    assert (cf["src_ip"], cf["fields"]["path"], cf["fields"]["status"]) == ("1.2.3.4", "/testseb?query_param=42", 400)
    npm = parse(NPM)
    assert (npm["src_ip"], npm["fields"]["status"], npm["fields"]["vhost"], npm["fields"]["path"]) == (
        "207.32.219.89", 444, "4.3.2.1", "/.env")
    proxied = parse(NPM_PROXY)
    assert (proxied["src_ip"], proxied["fields"]["upstream_status"], proxied["fields"]["upstream"]) == (
        "1.2.3.4", 404, "openresty")
    plus = parse(NPMPLUS)
    assert (plus["src_ip"], plus["fields"]["status"], plus["fields"]["user_agent"]) == (
        "192.168.1.101", 401, "Uptime-Kuma/1.23.11")
    zx = parse(ZORAXY)
    assert (zx["src_ip"], zx["fields"]["path"], zx["fields"]["status"], zx["fields"]["vhost"]) == (
        "192.168.1.1", "/.git/config", 404, "private.co.uk")


def test_iis_w3c_follows_the_fields_directive() -> None:
    chain = ParserChain()
    parse("#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status cs(User-Agent)", chain)
    ev = parse("2026-12-10 08:00:01 203.0.113.7 GET /.env - 404 Mozilla/5.0+(X11)", chain)
    assert (ev["format"], ev["src_ip"], ev["fields"]["status"], ev["fields"]["user_agent"]) == (
        "iis", "203.0.113.7", 404, "Mozilla/5.0 (X11)")
    # IIS's default column set when the file is read from its middle.
    default = parse("2026-12-10 08:00:02 10.0.0.5 GET /a q=1 443 - 198.51.100.9 curl/8 - 403 0 5 12")
    assert (default["src_ip"], default["fields"]["path"], default["fields"]["status"]) == (
        "198.51.100.9", "/a?q=1", 403)


def test_magento_extension_events() -> None:
    ev = parse(MAGENTO)
    assert (ev["format"], ev["service"], ev["category"], ev["action"], ev["src_ip"]) == (
        "monolog", "magento", "authentication", "login_failed", "1.2.3.4")


# --- attacker-controlled text never names the address ---------------------------------------------------------

DECOY = "192.0.2.10"
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), max_size=40)
_spoofs = st.sampled_from([
    f" from {DECOY} port 22", f", client: {DECOY}, server: x", f"[client {DECOY}:1]", f"[Client {DECOY}]",
    f"[client: {DECOY}]", f'[client "{DECOY}"] Coraza: Warning.', f" rhost={DECOY}", f"{DECOY}:4444 [", f'"{DECOY}"',
    f" ip:{DECOY} ", f'","ip":"{DECOY}"', f"{DECOY} ",
])


def _payload(data: st.DataObject) -> str:
    return data.draw(_text) + data.draw(_spoofs) + data.draw(_text)


def _line_shapes(p: str) -> list[tuple[str, str | None]]:
    """(line with client text p in it, the address the server wrote or None)."""
    q = p.replace('"', "\\x22")  # nginx and Apache escape quotes in access logs
    return [
        (f'www.example.org 203.0.113.5 - - [10/Dec/2026:10:00:00 +0000] "GET /{q} HTTP/1.1" 404 1 "-" "{q}"',
         "203.0.113.5"),
        (f'203.0.113.5 - - [10/Dec/2026:10:00:00 +0000] "GET /{q} HTTP/1.1" 404 1 "{q}" "{q}"', "203.0.113.5"),
        (f'2026/12/10 10:00:00 [error] 1#1: *1 user "{p}" was not found in "/etc/htpasswd", client: 203.0.113.5, '
         f'server: s, request: "GET /{p} HTTP/1.1", host: "h"', None),
        (f'2026/12/10 10:00:00 [error] 1#1: *1 open() "/srv/{p}" failed (2: No such file or directory), client: '
         f'203.0.113.5, server: s, request: "GET /{p} HTTP/1.1", host: "h"', None),
        (f"[Thu Dec 10 10:00:00.000001 2026] [auth_basic:error] [pid 1:tid 2] [client 203.0.113.5:4000] AH01618: "
         f"user {p} not found: /{p}", "203.0.113.5"),
        (f"2026-12-10 10:00:00.000001 [INFO] [1] [203.0.113.5:4000-1#v] User '{p}' failed to authenticate.",
         "203.0.113.5"),
        (f'Dec 10 10:00:00 lb haproxy[1]: 203.0.113.5:4000 [10/Dec/2026:10:00:00.000] fe be/s 0/0/0/1/1 404 10 - - '
         f'---- 1/1/0/0/0 0/0 {{{p}}} "GET /{q} HTTP/1.1"', "203.0.113.5"),
        (f'[10/Dec/2026:10:00:00 +0000] 404 - GET https h.example "/{q}" [Client 203.0.113.5] [Length 1] [Gzip -] '
         f'"{q}" "-"', "203.0.113.5"),
        (f"2026/12/10 10:00:00 [2026-12-10 10:00:00.1] [router:r] [origin:h.example] [client: 203.0.113.5] "
         f"[useragent: {p}] GET /x 404", "203.0.113.5"),
        (f'https 2026-12-10T10:00:00.000000Z app/x 203.0.113.5:4000 10.0.0.1:80 0.0 0.0 0.0 404 404 1 1 '
         f'"GET https://h.example:443/{q} HTTP/1.1" "{q}" - -', "203.0.113.5"),
    ]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_client_text_never_supplies_the_address(data: st.DataObject) -> None:
    p = _payload(data)
    for line, written in _line_shapes(p):
        ev = parse(line)
        assert ev.get("src_ip") != DECOY, line
        if written is not None and ev.get("src_ip") is not None:
            assert ev["src_ip"] == written, line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_nginx_error_with_a_second_client_marker_names_nobody(data: st.DataObject) -> None:
    # A user name or path that imitates nginx's trailer makes the line ambiguous: no address rather than a guess.
    p = data.draw(_text) + f", client: {DECOY}, server: x" + data.draw(_text)
    ev = parse(f'2026/12/10 10:00:00 [error] 1#1: *1 open() "/srv/{p}" failed (2: No such file or directory), '
               f'client: 203.0.113.5, server: s, request: "GET / HTTP/1.1", host: "h"')
    assert ev.get("src_ip") is None and ev["fields"].get("ambiguous_client") is True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_json_logs_take_the_connection_field_only(data: st.DataObject) -> None:
    import json

    p = _payload(data)
    caddy = {"level": "info", "ts": 1.7e9, "logger": "http.log.access", "msg": p,
             "request": {"remote_ip": "203.0.113.5", "client_ip": "203.0.113.5", "method": "GET", "uri": "/" + p,
                         "headers": {"User-Agent": [p], "X-Forwarded-For": [DECOY]}}, "status": 404}
    traefik = {"ClientHost": "203.0.113.5", "RequestPath": "/" + p, "RequestMethod": "GET", "DownstreamStatus": 404,
               "request_User-Agent": p, "request_X-Forwarded-For": DECOY}
    for obj in (caddy, traefik):
        assert parse(json.dumps(obj))["src_ip"] == "203.0.113.5"
    magento = {"type": "ADMIN_LOGIN_FAILED", "ip": "203.0.113.5", "x-forwarded-for-ip": DECOY, "note": p}
    assert parse("[2026-12-10 10:00:00] crowdsec-events.INFO: " + json.dumps(magento) + " []")["src_ip"] == \
        "203.0.113.5"
