"""Vigil's built-in detections, one declaration each: what it matches, on which entity, with what severity,
and which events it cites. Thresholds follow fail2ban's defaults in spirit (a handful of failures in minutes).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote_plus

from detectors.rules.engine import Rule
from detectors.rules.events import Ev

PRIVILEGED_USERS = frozenset({"root", "admin", "administrator", "toor", "ubuntu", "ec2-user", "pi"})
SERVICE_ACCOUNTS = frozenset({
    "www-data", "apache", "nginx", "httpd", "nobody", "daemon", "mysql", "postgres", "redis", "tomcat",
    "jenkins", "git", "ftp", "mail", "backup", "bin", "sys", "games", "lp", "news", "uucp", "proxy",
})

# Lower-case substrings of scanner user agents; plain `in` tests beat one big case-insensitive regex ~20x.
SCANNER_UA_TOKENS: tuple[str, ...] = (
    "nikto", "sqlmap", "acunetix", "netsparker", "w3af", "nmap", "masscan", "dirbuster", "gobuster", "wpscan",
    "zgrab", "nuclei", "openvas", "nessus", "qualys", "zmeu", "morfeus", "havij", "fimap", "arachni",
    "skipfish", "wfuzz", "ffuf", "feroxbuster", "whatweb", "jaeles", "commix", "the beast", "hydra",
    "burpsuite", "burp collaborator", "appscan", "webinspect", "paros", "vega/", "grabber", "jorgee",
)
# HTTP libraries: plenty of honest scripts and bots use them, so alone they are only worth a low alert.
SCRIPTED_UA_TOKENS: tuple[str, ...] = (
    "libwww-perl", "python-requests/", "python-urllib", "go-http-client", "curl/", "wget/", "lwp::",
)
# Patterns in the decoded path/query: traversal, SQL injection, XSS, command injection, sensitive files.
ATTACK_PATH = re.compile(
    r"\.\./|\.\.\\|%2e%2e|/etc/passwd|/etc/shadow|/proc/self/|boot\.ini|win\.ini|"
    r"\bunion\b.{0,40}\bselect\b|\bselect\b.{1,80}\bfrom\b|\binformation_schema\b|\bsleep\(\s*\d|"
    r"benchmark\(|waitfor\s+delay|\bor\s+['\"]?\d+['\"]?\s*=\s*['\"]?\d|'\s*or\s*'|\bxp_cmdshell\b|"
    r";\s*declare\s+@|<script|javascript:|onerror\s*=|onload\s*=|alert\(|document\.cookie|<svg|<iframe|"
    r";\s*(?:cat|ls|id|uname|wget|curl|nc|bash|sh)\b|\|\s*(?:cat|id|uname|nc|sh)\b|`[^`]{1,40}`|"
    r"\$\([^)]{1,40}\)|\$\{jndi:|cmd=|exec=|/bin/(?:ba)?sh|phpunit/.*eval-stdin|"
    r"\.(?:git|svn|env|htaccess|htpasswd|ds_store)\b|wp-config\.php|phpmyadmin|/cgi-bin/.*\.(?:pl|sh|cgi)",
    re.I,
)
_ROOTISH = frozenset({"root", "admin", "administrator", "toor"})


def _failure(ev: Ev) -> bool:
    return ev.kind in ("auth_fail", "auth_fail_pam", "invalid_user", "max_attempts") or (
        ev.kind is None and ev.category == "authentication" and ev.outcome == "failure")


def _failure_key(ev: Ev) -> str:
    # One attempt writes several lines (pam + "Failed password", "Invalid user" + "Failed … invalid user"):
    # count each line family separately and take the largest, so an attempt counts once.
    return {"auth_fail_pam": "pam", "invalid_user": "invalid"}.get(ev.kind or "", "sshd")


def _success(ev: Ev) -> bool:
    return ev.kind == "auth_success" or (ev.category == "authentication" and ev.outcome == "success"
                                         and ev.src_ip is not None and ev.kind is None)


def _decoded_path(ev: Ev) -> str:
    path = ev.path or ""
    try:
        return unquote_plus(unquote_plus(path[:4096]))
    except Exception:
        return path


def _attack_path(ev: Ev) -> bool:
    return ev.path is not None and ATTACK_PATH.search(_decoded_path(ev)) is not None


def ua_token(user_agent: str | None, tokens: tuple[str, ...]) -> str | None:
    """The first of `tokens` found in a user agent (case-insensitive), if any."""
    if not user_agent:
        return None
    ua = user_agent[:1024].lower()
    for token in tokens:
        if token in ua:
            return token
    return None


def _scanner_ua(ev: Ev) -> bool:
    return ua_token(ev.user_agent, SCANNER_UA_TOKENS) is not None


def _scripted_ua(ev: Ev) -> bool:
    return ua_token(ev.user_agent, SCRIPTED_UA_TOKENS) is not None and not _scanner_ua(ev)


def _root_success(ev: Ev) -> str | None:
    return "critical" if (ev.user or "").lower() in _ROOTISH else None


def _sudo_to_root(ev: Ev) -> bool:
    return ev.kind == "sudo_cmd" and (ev.target_user or "root") == "root" and (ev.user or "") != "root"


BUILTIN_RULES: list[Rule] = [
    Rule(
        id="auth.ssh_bruteforce", title="SSH/auth brute force", severity="medium", entity="src_ip",
        kind="threshold", match=_failure, count_key=_failure_key, window=timedelta(minutes=2),
        thresholds=((5, "medium"), (20, "high")),
        cites="every failed login from the address in the window",
        why=lambda ev, n: f"{n} failed logins from {ev.src_ip} within 2 min (≥5 medium, ≥20 high)",
    ),
    Rule(
        id="auth.password_spray", title="Password spraying (many users, one address)", severity="medium",
        entity="src_ip", kind="distinct", match=_failure, distinct="user", window=timedelta(minutes=10),
        thresholds=((5, "medium"), (15, "high")),
        cites="failed logins naming a user, from the address in the window",
        why=lambda ev, n: f"{n} distinct user names tried from {ev.src_ip} within 10 min "
                          "(≥5 medium, ≥15 high)",
    ),
    Rule(
        id="auth.success_after_failures", title="Login succeeded after a run of failures", severity="high",
        entity="src_ip", kind="sequence", match=_failure, after=_success, count_key=_failure_key,
        window=timedelta(minutes=30), thresholds=((5, "high"),), severity_of=_root_success,
        cites="the failures (latest 50) and the successful login",
        why=lambda ev, n: (f"login as {ev.user} from {ev.src_ip} succeeded after {n} failures within 30 min"
                           + (" — privileged account" if (ev.user or "").lower() in _ROOTISH else "")),
    ),
    Rule(
        id="auth.invalid_user", title="Logins for unknown users", severity="low", entity="src_ip",
        kind="threshold", match=lambda ev: ev.kind == "invalid_user", window=timedelta(minutes=10),
        thresholds=((1, "low"), (10, "medium")),
        cites="each 'invalid user' line from the address",
        why=lambda ev, n: f"{n} login attempt(s) for non-existent users from {ev.src_ip} (last: {ev.user!r})",
    ),
    Rule(
        id="auth.max_attempts_exceeded", title="sshd cut a connection after too many password tries",
        severity="medium", entity="src_ip", kind="each", match=lambda ev: ev.kind == "max_attempts",
        cites="sshd's 'maximum authentication attempts exceeded' line",
        why=lambda ev, n: f"{ev.src_ip} exhausted sshd's MaxAuthTries for {ev.user!r} in one connection",
    ),
    Rule(
        id="net.ids_signature", title="IDS/IPS or firewall attack signature", severity="high",
        entity="src_ip", kind="each", match=lambda ev: ev.kind == "ids_alert",
        cites="the device's alert line",
        why=lambda ev, n: f"network device reported an attack from {ev.src_ip or '?'}: {ev.message[:160]}",
    ),
    Rule(
        id="auth.device_login_failure", title="Network device login failure", severity="medium",
        entity="src_ip", kind="each", match=lambda ev: ev.kind == "device_login_fail",
        cites="the device's login-failure line",
        why=lambda ev, n: f"login to {ev.host or 'a network device'} failed: {ev.message[:160]}",
    ),
    Rule(
        id="web.waf_block", title="Web application firewall blocked a request", severity="medium",
        entity="src_ip", kind="each", match=lambda ev: ev.kind == "waf_block",
        cites="the WAF (ModSecurity) denial line",
        why=lambda ev, n: f"WAF denied a request from {ev.src_ip or ev.host}: {ev.message[:160]}",
    ),
    Rule(
        id="auth.break_in_attempt", title="Reverse DNS mismatch (POSSIBLE BREAK-IN ATTEMPT)", severity="low",
        entity="src_ip", kind="threshold", match=lambda ev: ev.kind == "break_in",
        window=timedelta(minutes=10), thresholds=((3, "low"),),
        cites="sshd's POSSIBLE BREAK-IN ATTEMPT lines for the address",
        why=lambda ev, n: f"{n} connections from {ev.src_ip} whose reverse DNS does not match",
    ),
    Rule(
        id="priv.sudo_failure", title="sudo authentication failure", severity="medium", entity="user",
        kind="each", match=lambda ev: ev.kind == "sudo_fail",
        severity_of=lambda ev: "high" if "NOT in sudoers" in ev.message or re.search(
            r"\b[3-9]\d* incorrect password attempts", ev.message) else None,
        cites="the failing sudo line",
        why=lambda ev, n: f"sudo by {ev.user} failed: {ev.message[:160]}",
    ),
    Rule(
        id="priv.su_failure", title="su failure", severity="medium", entity="user", kind="each",
        match=lambda ev: ev.kind == "su_fail",
        severity_of=lambda ev: "high" if (ev.target_user or "") in _ROOTISH else None,
        cites="the failing su line",
        why=lambda ev, n: f"su by {ev.user or '?'} to {ev.target_user or '?'} failed",
    ),
    Rule(
        id="priv.unexpected_root", title="Service account escalated to root", severity="high",
        entity="user", kind="each",
        match=lambda ev: _sudo_to_root(ev) and (ev.user or "") in SERVICE_ACCOUNTS,
        cites="the sudo command line",
        why=lambda ev, n: f"service account {ev.user} ran as root: {(ev.command or '')[:160]}",
    ),
    Rule(
        id="web.scanner_user_agent", title="Web vulnerability scanner", severity="medium", entity="src_ip",
        kind="threshold", match=_scanner_ua, window=timedelta(minutes=10),
        thresholds=((1, "medium"), (50, "high")),
        cites="requests whose user agent names a scanner",
        why=lambda ev, n: f"{n} request(s) from {ev.src_ip} with scanner user agent "
                          f"{(ev.user_agent or '')[:80]!r}",
    ),
    Rule(
        id="web.scripted_client", title="Scripted HTTP client", severity="low", entity="src_ip",
        kind="threshold", match=_scripted_ua, window=timedelta(minutes=10),
        thresholds=((1, "low"), (300, "medium")),
        cites="requests whose user agent is an HTTP library (curl, wget, python-requests, libwww-perl…)",
        why=lambda ev, n: f"{n} request(s) from {ev.src_ip} by {(ev.user_agent or '')[:80]!r}",
    ),
    Rule(
        id="web.attack_pattern", title="Attack pattern in request path", severity="medium", entity="src_ip",
        kind="threshold", match=_attack_path, window=timedelta(minutes=10),
        thresholds=((1, "medium"), (10, "high")),
        cites="requests whose decoded path carries traversal, SQLi, XSS or command-injection patterns",
        why=lambda ev, n: f"{n} request(s) from {ev.src_ip} with attack patterns, "
                          f"e.g. {(ev.path or '')[:120]!r}",
    ),
    Rule(
        id="web.error_burst", title="Burst of 4xx responses (scanning)", severity="medium", entity="src_ip",
        kind="threshold", match=lambda ev: ev.status is not None and 400 <= ev.status < 500,
        window=timedelta(minutes=1), thresholds=((20, "medium"), (100, "high")),
        cites="the 4xx responses to the address within a minute",
        why=lambda ev, n: f"{n} client-error responses to {ev.src_ip} within 1 min (≥20 medium, ≥100 high)",
    ),
    Rule(
        id="sys.kernel_panic", title="Kernel panic / oops", severity="critical", entity="host", kind="each",
        match=lambda ev: ev.kind == "panic", cites="the panic line",
        why=lambda ev, n: f"kernel failure on {ev.host}: {ev.message[:160]}",
    ),
    Rule(
        id="sys.oom_killer", title="OOM killer", severity="high", entity="host", kind="each",
        match=lambda ev: ev.kind == "oom", cites="the OOM-killer lines",
        why=lambda ev, n: f"out of memory on {ev.host}: {ev.message[:160]}",
    ),
    Rule(
        id="sys.segfault", title="Process crashed (segfault / protection fault)", severity="medium",
        entity="host", kind="each", match=lambda ev: ev.kind == "segfault", cites="the crash line",
        why=lambda ev, n: f"crash on {ev.host}: {ev.message[:160]}",
    ),
    Rule(
        id="sys.service_crash", title="Service crashed", severity="medium", entity="host", kind="each",
        match=lambda ev: ev.kind == "svc_crash", cites="the service-manager line",
        why=lambda ev, n: f"service failure on {ev.host}: {ev.message[:160]}",
    ),
    Rule(
        id="sys.new_template", title="Never-seen log message shape", severity="low", entity="host",
        kind="novelty", match=lambda ev: True, cites="the first event with the new template",
        why=lambda ev, n: f"first ever message of this shape (template {ev.template_id}) from {ev.host}: "
                          f"{ev.message[:120]!r}",
    ),
]
