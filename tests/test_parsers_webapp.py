"""Self-hosted application logs: each application's real lines normalised to (service, action, src_ip, user), the
client address only ever taken from the position the application writes it, forwarded chains, whole files kept
by one parser, and the same lines under syslog, Docker and `docker compose`.

Lines marked "hub" are from the CrowdSec hub test cases (MIT, crowdsecurity/hub, ../shared/datasets/
crowdsec-hub-tests/cases/<case>); lines marked "format" follow the shape a hub parser documents for an
application with no test log here (crowdsecurity/hub parsers/s01-parse/…), with documentation addresses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.parsers import ParserChain
from store.parsers.webapps.addresses import client_from_chain, host_of

RA = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


def parse(line: str) -> dict:
    return ParserChain().parse(line.encode("utf-8", "surrogatepass"), RA)


def norm(ev: dict) -> tuple:
    return ev.get("service"), ev.get("action"), ev.get("src_ip"), ev.get("user")


REAL = [
    # hub vaultwarden-bf
    ("[2022-02-03 16:10:11.219][vaultwarden::api::identity][ERROR] Username or password is incorrect. Try again. "
     "IP: 2001:db8::b6d3:95d7:1425:766d. Username: test@example.com.",
     ("vaultwarden", "login_failed", "2001:db8::b6d3:95d7:1425:766d", "test@example.com")),
    ("[2024-02-05 12:01:51.892][vaultwarden::api::core::two_factor::email][ERROR] Token is invalid! IP: 192.168.45.12",
     ("vaultwarden", "login_failed", "192.168.45.12", None)),
    # hub paperless-ngx-bf
    ("[2023-06-30 15:17:36,332] [INFO] [paperless.auth] Login failed for user `test6priv` from private IP "
     "`2001:db8::b6d3:95d7:1425:766d`.",
     ("paperless-ngx", "login_failed", "2001:db8::b6d3:95d7:1425:766d", "test6priv")),
    # hub authelia-bf
    ('time="2022-02-14T13:47:54+02:00" level=error msg="Unsuccessful 1FA authentication attempt by user \'fakeuser1\': '
     'user not found" method=POST path=/api/firstfactor remote_ip=1.1.1.1 stack="longstacktrace"',
     ("authelia", "login_failed", "1.1.1.1", "fakeuser1")),
    ('time="2022-03-30T14:28:52+02:00" level=debug msg="Successful 1FA authentication attempt made by '
     'user \'realuser\'" '
     "method=POST path=/api/firstfactor remote_ip=127.0.0.1", ("authelia", "login", "127.0.0.1", "realuser")),
    # hub grafana-bf (logfmt and JSON in one file)
    ('logger=context userId=0 orgId=0 uname= t=2023-03-14T06:10:23.366875297+02:00 level=error msg="Invalid username '
     'or password" error="user not found" remote_addr=192.168.1.1 traceID=',
     ("grafana", "login_failed", "192.168.1.1", None)),
    ('{"error":"user not found","level":"error","logger":"context","msg":"Invalid username or password","orgId":0,'
     '"remote_addr":"192.168.1.4","t":"2024-02-07T09:34:51.1833376+02:00","traceID":"","uname":"","userId":0}',
     ("grafana", "login_failed", "192.168.1.4", None)),
    # hub bitwarden-bf, ombi-bf (.NET Serilog: syslog would read "-05" as a tag)
    ("2023-04-23 22:07:05.311 -05:00 [WRN] Failed login attempt, 2FA invalid. 207.96.38.253",
     ("bitwarden", "login_failed", "207.96.38.253", None)),
    ("2022-02-11 14:07:54.110 +02:00 [Warning] Failed login attempt by IP: 1.1.1.1",
    ("ombi", "login_failed", "1.1.1.1", None)),
    # hub overseerr-bf, jellyseerr-logs (IPv4-mapped IPv6 is the IPv4 client)
    ('2022-06-20T09:52:17.637Z [warn][API]: Failed sign-in attempt using invalid Overseerr password '
     '{"ip":"::ffff:127.0.0.1","email":"fakeuser"}', ("overseerr", "login_failed", "127.0.0.1", "fakeuser")),
    ('2022-06-20T09:52:34.281Z [info][Auth]: Failed login attempt from user with incorrect Jellyfin credentials '
     '{"account":{"ip":"::ffff:127.0.0.1","email":"fakeuser","password":"__REDACTED__"}}',
     ("overseerr", "login_failed", "127.0.0.1", "fakeuser")),
    # hub keycloak-bf
    ("2023-05-25 22:24:19,357 WARN  [org.key.events] (executor-thread-3121) type=LOGIN_ERROR, realmId=keycloak, "
     "clientId=myweb-site, userId=null, ipAddress=192.168.1.2, error=user_not_found, auth_method=openid-connect, "
     "auth_type=code, redirect_uri=https://exemple.com/, "
     "code_id=8924e83e-4b25-45e0-8bea-c509bebbeea4, username=user-a, "
     "authSessionParentId=8924e83e-4b25-45e0-8bea-c509bebbeea3, authSessionTabId=xxxxxxxx",
     ("keycloak", "login_failed", "192.168.1.2", "user-a")),
    # hub keycloak-logs (Keycloak 24 quotes every value)
    ('2024-05-08 06:16:19,457 WARN  [org.keycloak.events] (executor-thread-1) type="LOGIN_ERROR", '
     'realmId="8735605f-6ae9-4f41-8436-db5d4cf50025", clientId="am-qa", userId="null", ipAddress="192.168.1.4", '
     'error="user_not_found", auth_method="openid-connect", auth_type="code", username="admindeddeedede"',
     ("keycloak", "login_failed", "192.168.1.4", "admindeddeedede")),
    # hub apereo-cas-bf (audit trail read from the right)
    ("2021-10-11 09:01:35,116 INFO [org.apereo.inspektr.audit.support.Slf4jLoggingAuditTrailManager] - Mon Oct 11 "
     "09:01:35 CEST 2021|CAS|Supplied credentials: [UsernamePasswordCredential(username=john.doe, source=null, "
     "customFields={})]|AUTHENTICATION_FAILED|john.doe|1.1.1.1|8.8.8.8",
     ("cas", "login_failed", "1.1.1.1", "john.doe")),
    # hub harbor-bf (syslog; the forwarded list's outside client)
    ('May 16 12:11:39 172.25.0.1 core[1160]: 2023-05-16T12:11:39Z [ERROR] '
     '[/server/middleware/security/basic_auth.go:72]'
     '[client IP="1.1.1.1, 192.168.32.1" requestID="dfdfecc8-f49b-48b1-b32f-85b640ffe85f" user agent="docker/23.0.6 '
     'go/go1.19.9 os/linux arch/amd64 UpstreamClient(Docker-Client/23.0.6 \\(linux\\))"]: failed to authenticate '
     "user:test, error:Failed to authenticate user, due to error 'Invalid credentials'",
     ("harbor", "login_failed", "1.1.1.1", "test")),
    # hub apache-guacamole_bf (behind `docker compose logs`; an all-internal chain gives its leftmost hop)
    ("guacamole_compose           | 2023-04-06T09:13:34,820Z [http-nio-8080-exec-5] WARN  "
     'o.a.g.r.auth.AuthenticationService - Authentication attempt from [127.0.0.1, 172.18.0.2] for user "test" failed.',
     ("guacamole", "login_failed", "127.0.0.1", "test")),
    # hub baikal-bf (Apache error log), bookstack-bf (nginx error log)
    ("[Wed Jul 05 09:19:24.428126 2023] [proxy_fcgi:error] [pid 1178526:tid 139729482307328] [client "
     "33.202.142.97:55309]"
     " AH01071: Got error 'PHP message: user admin authentication failure for Baikal', referer: "
     "https://baikal.example.com/html/admin/", ("baikal", "login_failed", "33.202.142.97", "admin")),
    ('2023/09/23 09:58:51 [error] 298#298: *1093 FastCGI sent in stderr: "PHP message: Failed login '
     'for user@example.com"'
     ' while reading response header from upstream, client: 1.2.3.4, server: _, request: "POST /login HTTP/1.1", '
     'upstream: "fastcgi://127.0.0.1:9000", host: "bookstack.example.com"', ("bookstack", "login_failed", "1.2.3.4",
                                                                              "user@example.com")),
    # hub fireflyiii-bf, magento-ccs
    ('[2026-02-05 12:34:56] local.WARNING: AUDIT: Login failed. Attempt for user "User@EmailDomain.com" failed. '
     "(192.168.1.124 -> POST:https://FireflyiiiDomain.com/login)",
     ("fireflyiii", "login_failed", "192.168.1.124", "User@EmailDomain.com")),
    ('[2022-02-11 14:44:34] crowdsec-events.INFO:  {"type":"PAYMENT_FAILED","ip":"1.2.3.4","x-forwarded-for-ip":"",'
     '"bouncer_agent":"Magento 2 CrowdSec Bouncer/v1.0.0","payment_method":"braintree"} []',
     ("magento", "payment_failed", "1.2.3.4", None)),
    # hub zoneminder-bf, webmin-logs, cpanel_bf_attempt, hestiacp-bf
    ("01/25/22 16:22:17.359785 web_php[118919].ERR [2222:3333:444a:a300:3c65:1111:1111:1111] [Login denied for user "
     '"test_user"] at /usr/share/zoneminder/www/includes/auth.php line 313',
     ("zoneminder", "login_failed", "2222:3333:444a:a300:3c65:1111:1111:1111", "test_user")),
    ('1690466804.2161960.0 [27/Jul/2023 16:06:44] admin - 192.168.0.100 global miniserv.pl "failed" "-" "wrongpass"',
     ("webmin", "login_failed", "192.168.0.100", "admin")),
    ('[2021-06-10 12:07:01 +0000] info [cpaneld] 213.44.59.93 - cscpanel "POST /login/?login_only=1 HTTP/1.1" FAILED '
     "LOGIN cpaneld: brute force attempt (user cscpanel) has locked out IP 213.44.59.93",
     ("cpanel", "lockout", "213.44.59.93", "cscpanel")),
    ("2025-01-22 01:26:30 test_username 192.168.1.1 failed to login", ("hestiacp", "login_failed", "192.168.1.1",
                                                                      "test_username")),
    # hub sabnzbd-bf (the forwarded chain behind the peer), calibre-web-logs, odoo-bf_user-enum
    ("2024-07-20 12:27:52,797::WARNING::[interface:657] Unsuccessful login attempt from 192.168.10.1 (X-Forwarded-For: "
     "192.168.1.2, 192.168.1.3) [Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0]",
     ("sabnzbd", "login_failed", "192.168.1.2", None)),
    ('[2025-07-17 13:17:13,861]  WARN {cps.web:1475} Login failed for user "test5" IP-address: 127.0.0.1',
     ("calibre-web", "login_failed", "127.0.0.1", "test5")),
    ("2022-04-05 14:40:34,644 1 INFO odoo odoo.addons.base.models.res_users: Login failed for db:odoo "
     "login:toto@mail.fr from 172.19.0.1", ("odoo", "login_failed", "172.19.0.1", "toto@mail.fr")),
    # hub immich-bf, uptime-kuma-bf, dockge-logs, joplin-server-logs (pm2), qbittorrent-logs
    ("[Nest] 7  - 08/02/2023, 7:32:47 PM    WARN [AuthService] Failed login attempt for user azaz@qsqs.com from ip "
     "address 192.168.0.254", ("immich", "login_failed", "192.168.0.254", "azaz@qsqs.com")),
    ("2022-04-25T15:08:37.450Z [AUTH] WARN: Invalid token provided for user Admin. IP=1.1.1.1",
     ("uptime-kuma", "login_failed", "1.1.1.1", "Admin")),
    ("2024-03-12T04:31:44Z [AUTH] WARN: Incorrect username or password for user example_username. IP=192.168.1.1",
     ("dockge", "login_failed", "192.168.1.1", "example_username")),
    ("12:04:26 1|app  | 2025-12-09 12:04:26: App: fe80::1: 35 B: POST /login (403) (3ms)",
     ("joplin", "login_failed", "fe80::1", None)),
    ("(W) 2024-11-26T13:37:02 - WebAPI login failure. Reason: invalid credentials, attempt count: 1, IP: "
     "a839:f70d:3ed9:bf86:119b:e579:acdd:dce8, username: user0",
     ("qbittorrent", "login_failed", "a839:f70d:3ed9:bf86:119b:e579:acdd:dce8", "user0")),
    # hub gotify-logs, filebrowser-logs, miniflux-logs (compose), navidrome-logs, redmine-bf, thehive-bf
    ('[GIN] 2022/02/07 - 10:49:33 | 401 |     505.317µs |       10.1.2.3 | POST     "/client"',
     ("gotify", "login_failed", "10.1.2.3", None)),
    ("2025/03/15 12:31:17 /api/login: 403 192.168.1.2 <nil>", ("filebrowser", "login_failed", "192.168.1.2", None)),
    ('miniflux  | time=2024-01-12T22:54:56.307Z level=WARN msg="Incorrect username or password" '
     'authentication_failed=true client_ip=192.168.0.254 user_agent="Mozilla/5.0 (X11; CrOS x86_64 14541.0.0)" '
     'username=hacker1 error="store: unable to find this user: hacker1"',
     ("miniflux", "login_failed", "192.168.0.254", "hacker1")),
    ('time="2025-08-03T15:20:27Z" level=warning msg="HTTP: POST http://navidrome.example.com/nav/auth/login" '
     'elapsedTime=8.5ms httpStatus=401 remoteAddr="::1" requestId=cb472a3fcf9a/49PgJ3c7sx-000076 responseSize=40',
     ("navidrome", "login_failed", "::1", None)),
    ("W, [2023-03-13T09:25:23.245316 #1]  WARN -- : Failed login for 'user' from 127.0.0.1 at 2023-03-13 09:25:23 UTC",
     ("redmine", "login_failed", "127.0.0.1", "user")),
    ("[info] o.t.s.AccessLogFilter [1e60d1e5e2a1741f|2989d0704d3c364c] 172.17.0.2 POST /api/v1/login took 8ms and "
     "returned 401 65 bytes", ("thehive", "login_failed", "172.17.0.2", None)),
    # hub teleport-bf, proxmox-backup-auth-bf
    ('{"ei":0,"event":"user.login","uid":"a487975c-a132-4b76-81c1-225284b2a129","code":"T1000W","time":'
     '"2023-09-05T07:16:25.133Z","cluster_name":"teleport.home.example.com","user":"Bekekrb","success":false,"error":'
     '"invalid username, password or second factor","method":"local","addr.remote":"172.19.0.2:34204"}',
     ("teleport", "login_failed", "172.19.0.2", "Bekekrb")),
    ("2026-02-25T11:07:18+01:00: authentication failure; rhost=[::ffff:31.54.38.23]:47414 user=root@pbs msg=user "
     "account disabled or expired.", ("proxmox-backup", "login_failed", "31.54.38.23", "root@pbs")),
    # hub syslog cases: proxmox-bf, prowlarr-bf, lemonldap-ng-bf, meshcentral-bf, pfsense/opnsense-gui-auth,
    # jellyfin-syslog-logs, sympa_ww-http-scan
    ("Jan  4 17:34:01 hypervisor pvedaemon[3663339]: authentication failure; rhost=::ffff:172.21.10.2 user=toor@pam "
     "msg=no such user ('toor@pam')", ("proxmox", "login_failed", "172.21.10.2", "toor@pam")),
    ("Oct 10 11:17:51 prowlarr Prowlarr[8213]: [Warn] Auth: Auth-Failure ip 1.2.3.4 username 'test'",
     ("prowlarr", "login_failed", "1.2.3.4", "test")),
    ("Mar  2 22:57:07 sas lemonldap-ng[30304]: Lemonldap::NG : BadUser was not found in LDAP directory (1.2.3.4)",
     ("lemonldap-ng", "login_failed", "1.2.3.4", "BadUser")),
    ("Feb 10 17:33:10 meshcentral https[26880]: Failed password for undefined from 85.209.1.1 port 57951",
     ("meshcentral", "login_failed", "85.209.1.1", None)),
    ("Oct 26 14:50:21 pfSense php-fpm[374]: /index.php: webConfigurator authentication error for user 'toto' from: "
     "10.0.0.1", ("pfsense", "login_failed", "10.0.0.1", "toto")),
    ('<35>1 2022-01-19T15:14:32+00:00 OPNsense.localdomain audit 24409 - [meta sequenceId="4"] /index.php: Web GUI '
     "authentication error for 'toto' from 1.2.3.4", ("opnsense", "login_failed", "1.2.3.4", "toto")),
    ("2023-07-18T10:22:17+02:00 subuina jellyfin[742]: [10:22:17] [INF] Authentication request for testuser has been "
     "denied (IP: 127.0.0.1).", ("jellyfin", "login_failed", "127.0.0.1", "testuser")),
    ("Nov 09 10:04:05 tools.comptoir.net wwsympa[1278]: info main:: [robot listes.comptoir.net] [session "
     "08203929330290] [client 192.168.0.1] [user root@comptoir.net] Unknown action admin.php",
     ("sympa", "unknown_action", "192.168.0.1", None)),
    # format: crowdsecurity/hub parsers LePresidente/gitea-logs, emby-logs, crowdsecurity/home-assistant-logs,
    # LearningSpot/open-webui-logs, LearningSpot/ispconfig-logs
    ("2023/04/01 12:00:00 ...s/auth/auth.go:227:SignInPost() [I] Failed authentication attempt for admin from "
     "203.0.113.9:51234: user does not exist", ("gitea", "login_failed", "203.0.113.9", "admin")),
    ("2023-05-01 10:11:12.345 Error Server: AUTH-ERROR: 203.0.113.9 - Invalid username or password entered.",
     ("emby", "login_failed", "203.0.113.9", None)),
    ("2023-05-01 10:11:12.345 WARNING (MainThread) [homeassistant.components.http.ban] Login attempt or request with "
     "invalid authentication from host.example (203.0.113.9). Requested URL: '/auth/login_flow/abc'. (Mozilla/5.0)",
     ("home-assistant", "login_failed", "203.0.113.9", None)),
    ('INFO:     203.0.113.9:0 - "POST /api/v1/auths/signin HTTP/1.1" 400 Bad Request',
     ("open-webui", "login_failed", "203.0.113.9", None)),
    ("Failed login for user 'admin' from 203.0.113.9 at 2024-01-01 12:00:00",
     ("ispconfig", "login_failed", "203.0.113.9", "admin")),
    # format: crowdsecurity/hub parsers bouddha/opensearch-dashboard-logs (Wazuh's web interface)
    ('{"type":"response","@timestamp":"2024-01-01T00:00:00Z","method":"post","statusCode":401,"req":{"url":'
     '"/auth/login?dataSourceId=","method":"post","remoteAddress":"203.0.113.9","userAgent":"x"},"message":"POST '
     '/auth/login?dataSourceId= 401 12ms"}', ("opensearch-dashboards", "login_failed", "203.0.113.9", None)),
]


@pytest.mark.parametrize(("line", "expected"), REAL, ids=[e[0] or "x" for _, e in REAL])
def test_application_lines_are_normalised(line: str, expected: tuple) -> None:
    ev = parse(line)
    assert norm(ev) == expected
    assert ev["category"] in ("authentication", "application", "web")
    assert ev.get("parse_error") is None


def test_json_applications_from_the_hub(tmp_path: object) -> None:
    # hub authentik-bf, gitlab-bf, nextcloud-bf, ntfy-bf, kasm (long JSON lines, kept whole)
    from detectors.eval.common import datasets_root

    cases = datasets_root() / "crowdsec-hub-tests" / "cases"
    if not cases.exists():
        pytest.skip(f"dataset absent: {cases}")

    def first(case: str, needle: str) -> dict:
        for line in (cases / case).glob("*.log").__next__().read_text().splitlines():
            if needle in line:
                return parse(line)
        raise AssertionError(f"{needle!r} not in {case}")

    assert norm(first("authentik-bf", '"invalid_identifier"')) == ("authentik", "login_failed", "1.1.1.1", "user1")
    assert norm(first("gitlab-bf", '"login":"test1"')) == ("gitlab", "login_failed", "8.8.8.8", "test1")
    otp = first("gitlab-bf", "otp_attempt")
    assert norm(otp) == ("gitlab", "login_failed", "1.1.1.1", None) and otp["fields"]["factor"] == "otp"
    assert norm(first("nextcloud-bf", "Login failed")) == ("nextcloud", "login_failed", "2001:db8::d71", "foo")
    assert norm(first("nextcloud-bf", "Bruteforce attempt"))[:3] == ("nextcloud", "bruteforce_throttled",
                                                                      "2001:db8::d72")
    assert norm(first("nextcloud-bf", "Trusted domain error"))[:3] == ("nextcloud", "untrusted_host", "172.18.0.200")
    assert norm(first("ntfy-bf", '"error_code":40101'))[:3] == ("ntfy", "login_failed", "127.0.0.1")
    assert norm(first("kasm", "failed_invalid_user")) == ("kasm", "login_failed", "185.234.70.33", "user1")


def test_rails_and_authentik_action_keys_are_not_taken_as_the_normalised_action() -> None:
    ev = parse('{"method":"POST","path":"/projects","controller":"ProjectsController","action":"create","status":302,'
               '"remote_ip":"203.0.113.9"}')
    assert ev.get("action") is None and ev["fields"]["app_action"] == "create"
    assert ev["src_ip"] == "203.0.113.9"  # remote_ip is a structural address key


def test_a_dotnet_file_stays_with_one_parser_and_never_reads_as_syslog() -> None:
    # hub bitwarden-logs: the error line between two failures must not move syslog to the front of the chain.
    chain = ParserChain()
    lines = ["2023-04-23 21:53:37.311 -05:00 [WRN] Failed login attempt, 2FA invalid. 207.96.38.253",
             '2023-04-23 21:53:54.706 -05:00 [ERR] Request to https://push.bitwarden.com/push/register is '
             'unsuccessful with status of "BadRequest"-Bad Request',
             "2023-04-24 13:06:35.295 -05:00 [WRN] Failed login attempt. 207.96.38.253"]
    evs = [chain.parse(x.encode(), RA) for x in lines]
    assert [e["format"] for e in evs] == ["serilog"] * 3
    assert [e.get("action") for e in evs] == ["login_failed", None, "login_failed"]
    assert evs[1]["severity"] == 3 and evs[0]["ts"] == datetime(2023, 4, 24, 2, 53, 37, 311000, tzinfo=UTC)


def test_docker_json_file_and_journald_payloads() -> None:
    inner = "[2022-02-03 16:10:11.219][vaultwarden::api::identity][ERROR] Username or password is incorrect. Try " \
            "again. IP: 203.0.113.9. Username: a@example.com."
    docker = json.dumps({"log": inner + "\n", "stream": "stdout", "time": "2022-02-03T16:10:11.219Z"})
    assert norm(parse(docker)) == ("vaultwarden", "login_failed", "203.0.113.9", "a@example.com")
    journald = "Feb  3 16:10:11 nas vaultwarden[88]: [vaultwarden::api::identity][ERROR] Username or password is " \
               "incorrect. Try again. IP: 203.0.113.9. Username: a@example.com."
    assert norm(parse(journald)) == ("vaultwarden", "login_failed", "203.0.113.9", "a@example.com")
    authelia = ('Feb  3 16:10:11 nas authelia[7]: time="2022-02-14T13:47:54+02:00" level=error msg="Unsuccessful TOTP '
                "authentication attempt by user 'bob'\" method=POST path=/api/secondfactor/totp remote_ip=203.0.113.9")
    assert norm(parse(authelia)) == ("authelia", "login_failed", "203.0.113.9", "bob")
    nextcloud = ('Feb  3 16:10:11 cloud Nextcloud[9]: {"reqId":"x","level":2,"remoteAddr":"203.0.113.9","user":"--",'
                 '"app":"core","message":"Login failed: eve (Remote IP: 203.0.113.9)"}')
    assert norm(parse(nextcloud)) == ("nextcloud", "login_failed", "203.0.113.9", "eve")


# --- where the address comes from --------------------------------------------------------------------------------

def test_adguard_host_header_is_never_the_client() -> None:
    # AdGuard writes r.Host after the method (the client's Host header); only "from ip" is AdGuard's own view.
    assert parse("2023/02/21 08:05:56.233208 [error] POST 192.168.1.2 /control/login: invalid username or password"
                 ).get("src_ip") is None
    ev = parse("2024/01/26 06:43:57.223387 [error] POST 192.168.1.1 /control/login: from ip 192.168.1.3: invalid "
               "username or password")
    assert norm(ev) == ("adguardhome", "login_failed", "192.168.1.3", None)


def test_keycloak_event_naming_the_address_twice_is_not_trusted() -> None:
    # clientId comes from the request: a forged ", ipAddress=" inside it makes the record ambiguous.
    ev = parse("2023-05-25 22:24:19,357 WARN  [org.keycloak.events] (executor-thread-1) type=LOGIN_ERROR, "
               "realmId=r, clientId=x, ipAddress=192.0.2.10, userId=null, ipAddress=198.51.100.7, "
               "error=invalid_user_credentials, username=bob")
    assert ev.get("src_ip") is None


def test_nginx_php_message_cannot_forge_the_client() -> None:
    forged = ('2023/09/23 09:58:51 [error] 298#298: *1093 FastCGI sent in stderr: "PHP message: Failed login for x" '
              'while reading response header from upstream, client: 192.0.2.10, server: _" while reading response '
              'header from upstream, client: 198.51.100.7, server: _, request: "POST /login HTTP/1.1"')
    assert parse(forged).get("src_ip") in (None, "198.51.100.7")
    assert parse(forged).get("src_ip") != "192.0.2.10"


@pytest.mark.parametrize(("chain", "client"), [
    (["1.1.1.1", "192.168.32.1"], "1.1.1.1"),  # outside client, then the site's proxy
    (["192.0.2.66", "198.51.100.7", "10.0.0.2"], "198.51.100.7"),  # a forged left entry is passed over
    (["127.0.0.1", "172.18.0.2"], "127.0.0.1"),  # all internal: the leftmost, as nginx realip does
    (["1.1.1.1", "unknown"], None),  # anything but addresses: not trusted
    ([], None),
])
def test_forwarded_chain_client(chain: list[str], client: str | None) -> None:
    assert client_from_chain(chain) == client


def test_host_of_reads_ports_and_brackets_only() -> None:
    assert host_of("[::ffff:31.54.38.23]:47414") == "31.54.38.23"
    assert host_of("172.19.0.2:34204") == "172.19.0.2" and host_of("2001:db8::1") == "2001:db8::1"
    assert host_of("example.com:80") is None and host_of("1.2.3.4:99999x") is None


TRUE_IP = "198.51.100.7"
FORGED = "192.0.2.10"
# What a client may put in a user name, a path or an agent to pass for an address the application wrote.
_HOSTILE = st.sampled_from([
    f" from {FORGED} port 22", f" (IP: {FORGED}).", f"`{FORGED}`.", f" IP={FORGED}", f". IP: {FORGED}. Username: ",
    f"' from {FORGED} at 2023-03-13 09:25:23 UTC", f" from ip {FORGED} (Invalid password)", f"rhost={FORGED} ",
    f"client: {FORGED}, server: ", f'" IP-address: {FORGED}', f" from ip address {FORGED}", f"({FORGED})",
    f'"ip":"{FORGED}"', f" remote_ip={FORGED}", f'" (Remote IP: {FORGED})', f"|{FORGED}|{FORGED}",
    f" -> POST:https://x/login) ({FORGED} -> POST:https://x/login)",
    f'" while reading response header from upstream, client: {FORGED}, server: _', f" from {FORGED}:1: x",
    f" /control/login: from ip {FORGED}: invalid username or password", f"[client {FORGED}:1] ",
])
_TEMPLATES = [
    "[2023-06-30 15:17:36,332] [INFO] [paperless.auth] Login failed for user `{u}` from IP `{ip}`.",
    "W, [2023-03-13T09:25:23.245316 #1]  WARN -- : Failed login for '{u}' from {ip} at 2023-03-13 09:25:23 UTC",
    "2022-04-05 14:40:34,644 1 INFO odoo odoo.addons.base.models.res_users: Login failed for db:odoo "
    "login:{u} from {ip}",
    "[Nest] 7  - 08/02/2023, 7:32:47 PM    WARN [AuthService] Failed login attempt for user {u} from ip address {ip}",
    '[2025-07-17 13:17:13,861]  WARN {{cps.web:1475}} Login failed for user "{u}" IP-address: {ip}',
    "2022-04-25T15:08:37.450Z [AUTH] WARN: Incorrect username or password for user {u}. IP={ip}",
    '[2026-02-05 12:34:56] local.WARNING: AUDIT: Login failed. Attempt for user "{u}" failed. ({ip} '
    '-> POST:https://f/login)',
    "[2022-02-03 16:10:11.219][vaultwarden::api::identity][ERROR] Username or password is incorrect. Try again. IP: "
    "{ip}. Username: {u}.",
    "2023-07-18T10:22:17+02:00 h jellyfin[742]: [10:22:17] [INF] Authentication request for {u} has "
    "been denied (IP: {ip}).",
    "Mar  2 22:57:05 proxyin LLNG[106537]: [warn] Bad password for {u} ({ip})",
    "Feb 10 17:33:10 meshcentral https[26880]: Failed password for {u} from {ip} port 57951",
    "Oct 26 14:50:21 pfSense php-fpm[374]: /index.php: webConfigurator authentication error for user '{u}' from: {ip}",
    "Jun  1 10:00:00 web wordpress(example.com)[1234]: Authentication failure for {u} from {ip}",
    "2023-04-06T09:05:54,991Z [http-nio-8080-exec-9] WARN  o.a.g.r.auth.AuthenticationService - Authentication attempt "
    'from {ip} for user "{u}" failed.',
    '2022-06-20T09:52:17.637Z [warn][API]: Failed sign-in attempt using invalid Overseerr password {{"ip":"{ip}",'
    '"email":{uj}}}',
    'time="2022-02-14T13:47:54+02:00" level=error msg="Unsuccessful 1FA authentication attempt by user \'{ul}\'" '
    "method=POST path=/api/firstfactor remote_ip={ip}",
    '{{"reqId":"r","remoteAddr":"{ip}","user":"--","app":"core","message":"Login failed: {uq} (Remote IP: {ip})"}}',
    "2021-10-11 09:01:35,116 INFO [org.apereo.inspektr.audit.support.Slf4jLoggingAuditTrailManager] - Mon Oct 11 "
    "09:01:35 CEST 2021|CAS|Supplied credentials: [x]|AUTHENTICATION_FAILED|{u}|{ip}|8.8.8.8",
    "(W) 2024-11-26T13:37:02 - WebAPI login failure. Reason: invalid credentials, attempt count: 1, IP: {ip}, "
    "username: {u}",
    "[info] o.t.s.AccessLogFilter [a|b] {ip} POST /api/v1/login{u} took 8ms and returned 401 65 bytes",
    "2024-07-20 12:27:52,797::WARNING::[interface:657] Unsuccessful login attempt from {ip} [{u}]",
    "2023/04/01 12:00:00 ...s/auth/auth.go:227:SignInPost() [I] Failed authentication attempt for {u} from {ip}:5123: "
    "user does not exist",
    '2023/09/23 09:58:51 [error] 298#298: *1093 FastCGI sent in stderr: "PHP message: Failed login for {u}" while '
    'reading response header from upstream, client: {ip}, server: _, request: "POST /{u} HTTP/1.1", host: "{u}"',
    "2024/01/26 06:43:57.223387 [error] POST {u} /control/login: from ip {ip}: invalid username or password",
    "[Fri Mar 15 10:12:48.1234 2024] [php:notice] [pid 83429] [client {ip}:23006] Failed login for {u}, referer: {u}",
    "Jan  4 17:34:01 hypervisor pvedaemon[3663339]: authentication failure; rhost={ip} user={u} msg=no such user",
]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(template=st.sampled_from(_TEMPLATES), prefix=st.text(max_size=12), hostile=_HOSTILE,
       suffix=st.text(max_size=12))
def test_client_chosen_text_never_supplies_the_address(template: str, prefix: str, hostile: str, suffix: str) -> None:
    user = prefix + hostile + suffix
    if "\n" in user or "\r" in user:
        user = user.replace("\n", " ").replace("\r", " ")
    line = template.format(u=user, ip=TRUE_IP, uj=json.dumps(user), ul=user.replace("\\", "\\\\").replace('"', '\\"'),
                           uq=json.dumps(user)[1:-1])
    ev = parse(line)
    assert ev.get("src_ip") in (TRUE_IP, None), (line, ev.get("src_ip"))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=300))
def test_parsers_never_raise_on_arbitrary_application_like_text(text: str) -> None:
    for line in (text, "[2022-02-03 16:10:11.219][vaultwarden::x][ERROR] " + text, "2023-04-23 22:07:05.311 -05:00 "
                 "[WRN] " + text, 'time="2022-02-14T13:47:54+02:00" level=error msg=' + text, "{" + text):
        ev = parse(line)
        assert ev.get("src_ip") is None or "." in ev["src_ip"] or ":" in ev["src_ip"]


def test_gitea_name_tried_cannot_forge_the_client() -> None:
    forged = ("2023/04/01 12:00:00 ...s/auth/auth.go:227:SignInPost() [I] Failed authentication attempt for x from "
              "192.0.2.10:1: y from 198.51.100.7:51234: user does not exist")
    ev = parse(forged)
    assert ev.get("action") == "login_failed" and ev.get("src_ip") is None


def test_two_families_may_claim_one_program_name() -> None:
    # `audit` is OPNsense's web GUI here and auditd's elsewhere: each registered extractor gets its turn.
    from store.parsers.services import EXTRACTORS, extractor

    seen: list[str] = []

    @extractor("vigil-test-shared")
    def first(app: str, msg: str, ev: dict) -> bool:
        seen.append("first")
        return msg == "one"

    @extractor("vigil-test-shared")
    def second(app: str, msg: str, ev: dict) -> bool:
        seen.append("second")
        return msg == "two"

    try:
        fn = EXTRACTORS["vigil-test-shared"]
        assert fn("x", "two", {}) and seen == ["first", "second"]
        seen.clear()
        assert fn("x", "one", {}) and seen == ["first"]
    finally:
        del EXTRACTORS["vigil-test-shared"]


_PUBLIC = st.sampled_from(["198.51.100.7", "203.0.113.9", "2001:db8:1::7", "8.8.8.8"])
_INTERNAL = st.sampled_from(["10.0.0.2", "172.18.0.2", "192.168.32.1", "127.0.0.1", "fd00::2", "::1"])


@given(forged=st.lists(st.one_of(_PUBLIC, _INTERNAL), max_size=4), client=st.just("203.0.113.200"),
       proxies=st.lists(_INTERNAL, max_size=3))
def test_what_a_client_prepends_to_a_forwarded_chain_never_becomes_the_client(forged: list[str], client: str,
                                                                            proxies: list[str]) -> None:
    # The client's own X-Forwarded-For (any addresses) sits left of the address the site's proxies saw.
    assert client_from_chain([*forged, client, *proxies]) == client
