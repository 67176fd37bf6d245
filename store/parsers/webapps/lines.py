"""The log files of self-hosted applications, line by line: each application's own header (timestamp, level,
component) and the messages it writes for a login that failed or succeeded.

Every pattern is anchored to the application's fixed wording. A client address is read only from the position
the application writes it: before any field the client chooses, or — when the application writes the user name
first — from the end of the line, with the user name matched greedily so a forged "from 1.2.3.4" inside it can
never be the one taken. Fields the client chooses that precede the address are restricted to characters that
cannot spell the fixed wording (no spaces). Lines of a known header whose message is not about logins are still
returned (timestamp, level, message), so a file keeps one parser; shapes that other parsers already read well
(Apache/nginx error logs) are only claimed for the login messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from store.parsers.common import MONTHS, level_severity, parse_iso, to_utc
from store.parsers.webapps.addresses import canonical_ip, client_from_chain, client_from_list, host_of
from store.parsers.webapps.outcome import mark

Event = dict[str, Any]
Shape = Callable[[str, datetime], Event | None]

_IP = r"[0-9A-Fa-f:.]{2,45}"
_ANSI = re.compile(r"\x1b\[[0-9;]{0,16}m")
_COMPOSE = re.compile(r"([A-Za-z0-9][\w.-]{0,63}) +\| (.*)", re.S)
_PM2 = re.compile(r"\d\d:\d\d:\d\d \d{1,4}\|[\w.-]{1,64} *\| (.*)", re.S)
MAX_LINE = 64 * 1024


def _ts(text: str, received_at: datetime) -> datetime | None:
    return parse_iso(text, received_at)


def _base(fmt: str, ts: datetime | None, level: str | None, message: str, app: str | None = None) -> Event:
    ev: Event = {"format": fmt, "ts": ts, "message": message}
    if app:
        ev["app"] = app
    if level:
        sev = level_severity(level)
        if sev is not None:
            ev["severity"] = sev
        ev["fields"] = {"level": level}
    return ev


# --- .NET (Serilog/NLog): Bitwarden, Ombi, Jellyfin, Emby, Sonarr/Radarr/Prowlarr ----------------------------------
_SERILOG = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?) ([+-]\d\d:\d\d) \[(\w{3,11})\] (.*)", re.S)
_SERILOG_BRACKET = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?) ([+-]\d\d:\d\d)\] \[(\w{3,11})\] "
                              r"(?:\[\d{1,6}\] )?(?:([\w.`]{1,200}): )?(.*)", re.S)
_BITWARDEN = re.compile(r"Failed login attempt(, 2FA invalid)?\. (" + _IP + r")\s*")
_OMBI = re.compile(r"Failed login attempt by IP: (" + _IP + r")\s*")
_JELLYFIN_DENIED = re.compile(r'Authentication request for "?(.*?)"? has been denied \(IP: "?(' + _IP + r')"?\)\.?')
_JELLYFIN_OK = re.compile(r'Authentication request for "?(.*?)"? has succeeded\.?')
_EMBY = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?) (\w+) ([\w.]{1,100}): (.*)", re.S)
_EMBY_FAIL = re.compile(r"AUTH-ERROR: (" + _IP + r") - Invalid username or password entered\.")
_NLOG = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?)\|(\w{3,11})\|(\w{1,64})\|(.*)", re.S)
_ARR_AUTH = re.compile(r"(Auth-Failure|Auth-Success) ip (" + _IP + r") username '(.*)'")


def dotnet_message(message: str, ev: Event) -> bool:
    """Bitwarden, Ombi and Jellyfin messages (their headers differ; the wording is what tells them apart)."""
    m = _BITWARDEN.fullmatch(message)
    if m is not None:
        mark(ev, "bitwarden", "login_failed", m[2], None, "2FA invalid" if m[1] else "wrong password")
        return True
    m = _OMBI.fullmatch(message)
    if m is not None:
        mark(ev, "ombi", "login_failed", m[1], None)
        return True
    return jellyfin_message(message, ev)


def jellyfin_message(message: str, ev: Event) -> bool:
    m = _JELLYFIN_DENIED.fullmatch(message)
    if m is not None:
        mark(ev, "jellyfin", "login_failed", m[2], m[1])
        return True
    m = _JELLYFIN_OK.fullmatch(message)
    if m is not None:
        mark(ev, "jellyfin", "login", None, m[1])
        return True
    return False


def arr_message(message: str, ev: Event, service: str) -> bool:
    """Sonarr/Radarr/Prowlarr/Lidarr/Readarr (the Servarr code base) `Auth` logger lines."""
    m = _ARR_AUTH.fullmatch(message)
    if m is None:
        return False
    ok = m[1] == "Auth-Success"
    mark(ev, service, "login" if ok else "login_failed", m[2], m[3])
    return True


def _serilog(text: str, received_at: datetime) -> Event | None:
    m = _SERILOG.fullmatch(text)
    if m is None:
        return None
    ev = _base("serilog", _ts(m[1] + m[2], received_at), m[3], m[4])
    dotnet_message(m[4], ev)
    return ev


def _serilog_bracket(text: str, received_at: datetime) -> Event | None:
    m = _SERILOG_BRACKET.fullmatch(text)
    if m is None:
        return None
    ev = _base("serilog", _ts(m[1] + m[2], received_at), m[3], m[5], m[4])
    dotnet_message(m[5], ev)
    return ev


def _emby(text: str, received_at: datetime) -> Event | None:
    if "AUTH-ERROR: " not in text:
        return None
    m = _EMBY.fullmatch(text)
    if m is None:
        return None
    f = _EMBY_FAIL.fullmatch(m[4])
    if f is None:
        return None
    ev = _base("emby", _ts(m[1], received_at), m[2], m[4], m[3])
    return mark(ev, "emby", "login_failed", f[1])


def _nlog(text: str, received_at: datetime) -> Event | None:
    m = _NLOG.fullmatch(text)
    if m is None:
        return None
    ev = _base("nlog", _ts(m[1], received_at), m[2], m[4], m[3])
    if m[3] == "Auth":
        arr_message(m[4], ev, "servarr")
    return ev


# --- Java (Keycloak, Apereo CAS, Guacamole, Stirling-PDF, TheHive) --------------------------------------------------
_JAVA_COMMA = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) +(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL) +(.*)",
                         re.S)
_KEYCLOAK = re.compile(r"\[([\w.$]{1,200})\] \(([^()]{0,200})\) (.*)", re.S)
_CAS = re.compile(r"\[([\w.$]{1,200})\] - (.*)", re.S)
_STIRLING = re.compile(r"([\w.$]{1,200}) \[([^\]]{0,200})\] (.*)", re.S)
_KEYCLOAK_PAIR = re.compile(r"(\w+)=(\"(?:[^\"\\]|\\.)*\"|[^,]*)(?:, |$)")
_KEYCLOAK_FAILURES = frozenset({"user_not_found", "invalid_user_credentials", "invalid_authentication",
                                "user_disabled", "user_temporarily_disabled", "invalid_totp", "invalid_otp"})
_CAS_AUDIT = re.compile(r"\|(AUTHENTICATION_FAILED|AUTHENTICATION_SUCCESS)")
_GUAC = re.compile(r"(?:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.,]\d{3}Z?)|(\d\d:\d\d:\d\d\.\d{3})) \[([^\]]{1,100})\] +"
                   r"(TRACE|DEBUG|INFO|WARN|ERROR) +([\w.$]{1,200}) - (.*)", re.S)
_GUAC_FAIL = re.compile(r'Authentication attempt from (\[[0-9A-Fa-f:., ]{2,400}\]|' + _IP
                        + r') for user "(.*)" failed\.', re.S)
_GUAC_OK = re.compile(r'User "(.*)" successfully authenticated from (\[[0-9A-Fa-f:., ]{2,400}\]|' + _IP + r')\.',
                      re.S)
_STIRLING_FAIL = re.compile(r"Failed login attempt from IP: \[?(" + _IP + r")\]?")
_STIRLING_PASSWORD = re.compile(r"Invalid password for user: (.*) from IP: (" + _IP + r")", re.S)
_THEHIVE = re.compile(r"(?:(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,6})?) )?\[(\w+)\] o\.t\.s\.AccessLogFilter "
                      r"\[([^\]]{0,100})\] (" + _IP + r") ([A-Z]{3,7}) (\S+) took (\d+)ms and returned (\d{3}) "
                      r"(\d+) bytes")


def keycloak_event(message: str, ev: Event) -> bool:
    """`type=LOGIN_ERROR, realmId=…, clientId=…, userId=…, ipAddress=…, error=…, …, username=…`. clientId and
    username are the client's; a line naming `ipAddress=` or `username=` twice is not trusted."""
    if not message.startswith("type=") or message.count("ipAddress=") != 1:
        return False
    pairs: dict[str, str] = {}
    for m in _KEYCLOAK_PAIR.finditer(message):
        v = m[2]
        pairs.setdefault(m[1], v[1:-1] if v.startswith('"') and v.endswith('"') and len(v) > 1 else v)
    kind = pairs.get("type", "").strip('"')
    ip = pairs.get("ipAddress")
    user = pairs.get("username") if message.count("username=") == 1 else None
    error = pairs.get("error", "")
    if kind == "LOGIN_ERROR":
        if error in _KEYCLOAK_FAILURES or error.startswith("invalid_user"):
            mark(ev, "keycloak", "login_failed", ip, user, error, realm=pairs.get("realmId"))
        else:
            mark(ev, "keycloak", "login_error", ip, user, error, realm=pairs.get("realmId"))
        return True
    if kind == "LOGIN":
        mark(ev, "keycloak", "login", ip, user, realm=pairs.get("realmId"))
        return True
    return False


def cas_audit(message: str, ev: Event) -> bool:
    """Apereo CAS audit trail: `…|ACTION|principal|client ip|server ip`; read from the right (the principal is
    the client's and may contain `|`; then the record does not parse)."""
    if message.count("|AUTHENTICATION_") != 1:
        return False
    head, _, rest = message.rpartition("|")  # server ip
    head, _, client = head.rpartition("|")
    head, _, principal = head.rpartition("|")
    m = _CAS_AUDIT.search(head)
    if m is None or m.end() != len(head):
        return False
    ok = m[1] == "AUTHENTICATION_SUCCESS"
    mark(ev, "cas", "login" if ok else "login_failed", client, principal, server_ip=canonical_ip(rest))
    return True


def _guac_client(addr: str) -> str | None:
    if addr.startswith("["):
        return client_from_list(addr[1:-1])
    return canonical_ip(addr)


def guacamole_message(message: str, ev: Event) -> bool:
    m = _GUAC_FAIL.fullmatch(message)
    if m is not None:
        mark(ev, "guacamole", "login_failed", _guac_client(m[1]), m[2])
        return True
    m = _GUAC_OK.fullmatch(message)
    if m is not None:
        mark(ev, "guacamole", "login", _guac_client(m[2]), m[1])
        return True
    return False


def _java_comma(text: str, received_at: datetime) -> Event | None:
    m = _JAVA_COMMA.fullmatch(text)
    if m is None:
        return None
    ts, level, rest = _ts(m[1], received_at), m[2], m[3]
    k = _KEYCLOAK.fullmatch(rest)
    if k is not None:
        ev = _base("keycloak", ts, level, k[3], k[1])
        if k[1] in ("org.keycloak.events", "org.key.events"):
            keycloak_event(k[3], ev)
        return ev
    c = _CAS.fullmatch(rest)
    if c is not None:
        ev = _base("java", ts, level, c[2], c[1])
        cas_audit(c[2], ev)
        return ev
    s = _STIRLING.fullmatch(rest)
    if s is not None and s[1].endswith(("AuthenticationFailureHandler", "AuthController")):
        ev = _base("java", ts, level, s[3], s[1])
        f = _STIRLING_FAIL.fullmatch(s[3])
        if f is not None:
            return mark(ev, "stirling-pdf", "login_failed", f[1])
        p = _STIRLING_PASSWORD.fullmatch(s[3])
        if p is not None:
            return mark(ev, "stirling-pdf", "login_failed", p[2], p[1], "wrong password")
        return ev
    return None


def _guacamole(text: str, received_at: datetime) -> Event | None:
    m = _GUAC.fullmatch(text)
    if m is None:
        return None
    ts = _ts(m[1], received_at) if m[1] else None
    ev = _base("logback", ts, m[4], m[6], m[5])
    guacamole_message(m[6], ev)
    return ev


def _thehive(text: str, received_at: datetime) -> Event | None:
    if "o.t.s.AccessLogFilter" not in text:
        return None
    m = _THEHIVE.fullmatch(text)
    if m is None:
        return None
    ev = _base("thehive", _ts(m[1], received_at) if m[1] else None, m[2], text[m.start(4):], "thehive")
    ev["category"] = "web"
    ev["fields"] = {"level": m[2], "method": m[5], "path": m[6], "status": int(m[8]), "duration_ms": int(m[7])}
    ip = canonical_ip(m[4])
    if ip:
        ev["src_ip"] = ip
    if m[8] == "401" and m[5] == "POST" and m[6] in ("/api/v1/login", "/api/login"):
        mark(ev, "thehive", "login_failed", m[4], None, "HTTP 401 on login")
    return ev


# --- PHP (Nextcloud JSON aside): Baikal, BookStack, Firefly III, Magento, ZoneMinder, cPanel, HestiaCP, ISPConfig --
_APACHE_ERR = re.compile(r"\[\w{3} (\w{3}) (\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? (\d{4})\] \[([\w]*):(\w+)\] "
                         r"\[pid (\d+)(?::tid \d+)?\] \[client (" + _IP + r")(?::(\d{1,5}))?\] (.*)", re.S)
# nginx writes the PHP message unescaped before "client:": only the two login messages, whose user names cannot
# hold a space or a quote, are read, so the first `" while reading …, client:` is nginx's own.
_NGINX_ERR = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[(\w+)\] \d+#\d+: \*\d+ FastCGI sent in stderr: "
                        r'"PHP message: (Failed login for [^\s\'"]+|user [^\s"]+ authentication failure for Baikal)" '
                        r"while reading (?:response header from upstream|upstream), client: (" + _IP + r"), server: ")
_BAIKAL = re.compile(r"(?:AH01071: Got error ')?(?:PHP message: )?user (\S+|\(name stripped-out\)) authentication "
                     r"failure for Baikal'?(?:, referer: .*)?", re.S)
_BOOKSTACK = re.compile(r"(?:AH01071: Got error ')?(?:PHP message: )?Failed login for ([^\s'\"]+)'?"
                        r"(?:, referer: .*)?", re.S)
_MONOLOG = re.compile(r"\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d:?\d\d)?)\] ([\w-]{1,64})\."
                      r"([A-Z]{3,9}): (.*)", re.S)
_FIREFLY_FAIL = re.compile(r'AUDIT: Login failed\. Attempt for user "(.*)" failed\. \((' + _IP
                           + r') -> ([A-Z]{3,7}):(\S+)\)', re.S)
_FIREFLY_TRY = re.compile(r'AUDIT: User is trying to login using "(.*)" \((' + _IP + r') -> ([A-Z]{3,7}):(\S+)\)',
                          re.S)
_FIREFLY_MFA = re.compile(r"AUDIT: MFA failure count is set to (\d+)\. \((" + _IP + r") \((.*)\) -> ([A-Z]{3,7}):"
                          r"(\S+)\)", re.S)
_MAGENTO = re.compile(r"(\{.*\}) \[\]", re.S)
_ZONEMINDER = re.compile(r"(\d\d)/(\d\d)/(\d\d),? (\d{1,2}):(\d\d):(\d\d)(?: (AM|PM)(?: [A-Z]{2,5})?)?\.(\d{6}) "
                         r"web_php\[(\d+)\]\.([A-Z]{3}) \[(" + _IP + r")\] \[(.*)\] at (\S+) line (\d+)", re.S)
_ZM_NO_USER = re.compile(r"Could not retrieve user (.*) details", re.S)
_ZM_DENIED = re.compile(r'Login denied for user "(.*)"', re.S)
_ZM_OK = re.compile(r'Login successful for user "(.*)"', re.S)
_CPANEL_LOGIN = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ([+-]\d{4})\] (\w+) \[(\w{1,32})\] (" + _IP
                           + r") - (\S+) \"([^\"]*)\" (FAILED LOGIN|DEFERRED LOGIN|NEW) (\w{1,32}): (.*)", re.S)
_CPANEL_ACCESS = re.compile(r"(" + _IP + r") - (\S+) \[(\d\d)/(\d\d)/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})\] "
                            r'"([A-Z]{3,10}) (\S+) HTTP/[\d.]{1,3}" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)" "([^"]*)" '
                            r'"([^"]*)" (\d{1,5})')
_HESTIA = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+) (" + _IP + r") (failed to login|successfully logged in)")
_ISPCONFIG = re.compile(r"Failed login for user '(.*)' from (" + _IP + r") at (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)",
                        re.S)


def php_message(message: str, ev: Event, ip: str | None) -> bool:
    """Baikal and BookStack write one PHP message per failed login; the web server's log gives the client."""
    m = _BAIKAL.fullmatch(message)
    if m is not None:
        user = None if m[1].startswith("(") else m[1]
        mark(ev, "baikal", "login_failed", ip, user)
        return True
    m = _BOOKSTACK.fullmatch(message)
    if m is not None:
        mark(ev, "bookstack", "login_failed", ip, m[1])
        return True
    return False


def _apache_php(text: str, received_at: datetime) -> Event | None:
    if "authentication failure for Baikal" not in text and "Failed login for " not in text:
        return None
    m = _APACHE_ERR.fullmatch(text)
    if m is None:
        return None
    month = MONTHS.get(m[1])
    ts = None
    if month is not None:
        try:
            ts = to_utc(datetime(int(m[7]), month, int(m[2]), int(m[3]), int(m[4]), int(m[5]),
                                 int((m[6] or "0")[:6].ljust(6, "0"))), received_at)
        except ValueError:
            ts = None
    ev = _base("apache-error", ts, m[9], m[13])
    return ev if php_message(m[13], ev, apache_client(m[11])) else None


def apache_client(text: str) -> str | None:
    """Apache's `[client a.b.c.d:port]` / `[client v6:port]` (the port is always written after a colon)."""
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and len(port) <= 5:
        ip = canonical_ip(host)
        if ip is not None:
            return ip
    return canonical_ip(text)


def _nginx_php(text: str, received_at: datetime) -> Event | None:
    if "FastCGI sent in stderr" not in text:
        return None
    m = _NGINX_ERR.match(text)
    if m is None:
        return None
    try:
        ts: datetime | None = to_utc(datetime(*(int(m[i]) for i in range(1, 7))), received_at)  # type: ignore[misc]
    except ValueError:
        ts = None
    ev = _base("nginx-error", ts, m[7], text[m.start(8) - len("PHP message: "):])
    return ev if php_message("PHP message: " + m[8], ev, m[9]) else None


def firefly_message(message: str, ev: Event) -> bool:
    m = _FIREFLY_FAIL.fullmatch(message)
    if m is not None:
        mark(ev, "fireflyiii", "login_failed", m[2], m[1], "wrong password")
        return True
    m = _FIREFLY_MFA.fullmatch(message)
    if m is not None:
        mark(ev, "fireflyiii", "login_failed", m[2], m[3], "MFA failed", factor="mfa")
        return True
    m = _FIREFLY_TRY.fullmatch(message)
    if m is not None:
        mark(ev, "fireflyiii", "login_attempt", m[2], m[1])
        return True
    return False


def magento_event(payload: str, ev: Event) -> bool:
    """The CrowdSec Magento extension's JSON record: its `ip` is the client the extension resolved."""
    try:
        obj = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return False
    kind = obj["type"]
    ip = obj.get("ip") if isinstance(obj.get("ip"), str) else None
    extra = {k: obj[k] for k in ("payment_method", "bouncer_agent", "x-forwarded-for-ip") if isinstance(obj.get(k), str)}
    if kind == "PAYMENT_FAILED":
        mark(ev, "magento", "payment_failed", ip, None, event_type=kind, **_safe_keys(extra))
    elif "LOGIN_FAILED" in kind or "LOGIN_FAILURE" in kind:
        mark(ev, "magento", "login_failed", ip, None, event_type=kind)
    else:
        ev["service"] = "magento"
        ev.setdefault("fields", {})["event_type"] = kind
    return True


def _safe_keys(d: dict[str, Any]) -> dict[str, Any]:
    return {k.replace("-", "_"): v for k, v in d.items()}


def _monolog(text: str, received_at: datetime) -> Event | None:
    m = _MONOLOG.fullmatch(text)
    if m is None:
        return None
    ev = _base("monolog", _ts(m[1], received_at), m[3], m[4], m[2])
    if m[2] == "crowdsec-events":
        j = _MAGENTO.fullmatch(m[4].strip())
        if j is not None:
            magento_event(j[1], ev)
    elif m[4].startswith("AUDIT: "):
        firefly_message(m[4], ev)
    return ev


def zoneminder_message(ip: str, message: str, ev: Event) -> bool:
    m = _ZM_DENIED.fullmatch(message)
    if m is not None:
        mark(ev, "zoneminder", "login_failed", ip, m[1], "wrong password")
        return True
    m = _ZM_NO_USER.fullmatch(message)
    if m is not None:
        mark(ev, "zoneminder", "login_failed", ip, m[1], "unknown user")
        return True
    m = _ZM_OK.fullmatch(message)
    if m is not None:
        mark(ev, "zoneminder", "login", ip, m[1])
        return True
    return False


def _zoneminder(text: str, received_at: datetime) -> Event | None:
    if " web_php[" not in text:
        return None
    m = _ZONEMINDER.fullmatch(text)
    if m is None:
        return None
    hour = int(m[4])
    if m[7] == "PM" and hour < 12:
        hour += 12
    elif m[7] == "AM" and hour == 12:
        hour = 0
    try:
        ts: datetime | None = to_utc(datetime(2000 + int(m[3]), int(m[1]), int(m[2]), hour, int(m[5]), int(m[6]),
                                              int(m[8])), received_at)
    except ValueError:
        ts = None
    ev = _base("zoneminder", ts, m[10], m[12], "web_php")
    ev["pid"] = int(m[9])
    zoneminder_message(m[11], m[12], ev)
    return ev


def _cpanel_login(text: str, received_at: datetime) -> Event | None:
    m = _CPANEL_LOGIN.fullmatch(text)
    if m is None:
        return None
    ev = _base("cpanel", _ts(m[1] + m[2], received_at), m[3], m[10], m[4])
    ev["fields"]["request"] = m[7]
    if m[8] != "FAILED LOGIN":
        return mark(ev, "cpanel", "login", m[5], m[6]) if m[8] == "NEW" else ev
    reason = m[10]
    if reason.startswith("brute force attempt"):
        return mark(ev, "cpanel", "lockout", m[5], m[6], reason)
    return mark(ev, "cpanel", "login_failed", m[5], m[6], reason)


def _cpanel_access(text: str, received_at: datetime) -> Event | None:
    m = _CPANEL_ACCESS.fullmatch(text)
    if m is None:
        return None
    try:
        ts: datetime | None = parse_iso(f"{m[5]}-{m[3]}-{m[4]}T{m[6]}:{m[7]}:{m[8]}{m[9]}", received_at)
    except ValueError:
        ts = None
    ev: Event = {"format": "cpanel-access", "ts": ts, "app": "cpanel", "service": "cpanel", "category": "web",
                 "message": f"{m[10]} {m[11]}"}
    ip = canonical_ip(m[1])
    if ip:
        ev["src_ip"] = ip
    if m[2] != "-":
        ev["user"] = m[2]
    status = int(m[12])
    ev["outcome"] = "failure" if status >= 400 else "success"
    ev["fields"] = {"method": m[10], "path": m[11], "status": status, "bytes": None if m[13] == "-" else int(m[13]),
                    "referer": None if m[14] == "-" else m[14], "user_agent": None if m[15] == "-" else m[15],
                    "port": int(m[18])}
    return ev


def _hestia(text: str, received_at: datetime) -> Event | None:
    m = _HESTIA.fullmatch(text)
    if m is None:
        return None
    ev = _base("hestiacp", _ts(m[1], received_at), None, text[20:], "hestiacp")
    ok = m[4] == "successfully logged in"
    return mark(ev, "hestiacp", "login" if ok else "login_failed", m[3], m[2])


def _ispconfig(text: str, received_at: datetime) -> Event | None:
    m = _ISPCONFIG.fullmatch(text)
    if m is None:
        return None
    ev = _base("ispconfig", _ts(m[3], received_at), None, text, "ispconfig")
    return mark(ev, "ispconfig", "login_failed", m[2], m[1])


# --- Python: Paperless-ngx, Calibre-Web, Mealie, Odoo, SABnzbd, Home Assistant, uvicorn (Open WebUI, LiteLLM) -----
_PAPERLESS = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] \[(\w+)\] \[([\w.]{1,100})\] (.*)", re.S)
_PAPERLESS_FAIL = re.compile(r"Login failed for user `(.*)` from (?:private )?IP `(" + _IP + r")(?:`\.|\.`)", re.S)
_CALIBRE = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] +(\w+) \{([^}]{0,200})\} (.*)", re.S)
_CALIBRE_FAIL = re.compile(r'Login failed for user "(.*)" IP-address: (' + _IP + r")", re.S)
_MEALIE = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL):? +(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d{1,6})? - (.*)",
                     re.S)
_MEALIE_FAIL = re.compile(r"Incorrect username or password from (" + _IP + r")")
_MEALIE_ACCESS = re.compile(r"\[(" + _IP + r"):(\d{1,5})\] (\d{3}) ([\w ]{1,40}) \"([A-Z]{3,10}) (\S+) HTTP/[\d.]{1,3}\"")
_ODOO = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (\d+) (\w+) (\S+) ([\w.]{1,200}): (.*)", re.S)
_ODOO_AUTH = re.compile(r"Login (failed|successful) for db:(\S*) login:(.*) from (" + _IP + r")", re.S)
_SABNZBD = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})::(\w+)::\[([\w.]{1,64}):(\d+)\] (.*)", re.S)
# The failed-login sentence in SABnzbd's translations (English first).
_SAB_PREFIXES = ("Unsuccessful login attempt from", "Fehlerhafter Login Versuch von",
                 "Echec de la tentative de connexion de", "Mislukte login poging van",
                 "Intento de inicio de sesión fallido desde", "Tentativo di accesso fallito da",
                 "Misslyckad inloggning från", "Mislykket loginforsøg fra", "Mislykket påloggingsforsøk fra",
                 "Nieudana próba logowania z", "Tentativa de login mal sucedida de")
_SAB_FAIL = re.compile(r"(?:" + "|".join(re.escape(p) for p in _SAB_PREFIXES) + r") (" + _IP + r")( .*)?", re.S)
_SAB_XFF = re.compile(r" \(X-Forwarded-For: ([0-9A-Fa-f:., ]{2,400})\) \[")
_HASS = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?) (\w+) \(([^()]{1,100})\) \[([\w.]{1,200})\] (.*)",
                   re.S)
_HASS_FAIL = re.compile(r"Login attempt or request with invalid authentication from (\S+) \((" + _IP + r")\)\.(?: .*)?",
                        re.S)
_UVICORN = re.compile(r"(DEBUG|INFO|WARNING|ERROR):? +(" + _IP + r"):(\d{1,5}) - \"([A-Z]{3,10}) (\S+) HTTP/[\d.]{1,3}\" "
                      r"(\d{3})(?: (.*))?", re.S)
_UVICORN_SIGNIN = ("/api/v1/auths/signin", "/api/auth/token", "/login", "/token", "/api/login", "/auth/login")
_ROMM = re.compile(r"(\w+): +\[RomM\]\[([\w.-]{1,64})\]\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] +(" + _IP + r") \| (" + _IP
                   + r") \| ([A-Z]{3,10}) (\S+) (\d{3}) \|(.*)", re.S)
_BASEROW = re.compile(r" ?\[BACKEND\]\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?)\] (" + _IP + r"):(\d{1,5}) - "
                      r"\"([A-Z]{3,10}) (\S+) HTTP/[\d.]{1,3}\" (\d{3})(.*)", re.S)


def _paperless(text: str, received_at: datetime) -> Event | None:
    m = _PAPERLESS.fullmatch(text)
    if m is None:
        return None
    ev = _base("paperless", _ts(m[1], received_at), m[2], m[4], m[3])
    if m[3] == "paperless.auth":
        f = _PAPERLESS_FAIL.fullmatch(m[4])
        if f is not None:
            mark(ev, "paperless-ngx", "login_failed", f[2], f[1])
    return ev


def _calibre(text: str, received_at: datetime) -> Event | None:
    m = _CALIBRE.fullmatch(text)
    if m is None:
        return None
    ev = _base("calibre-web", _ts(m[1], received_at), m[2], m[4], m[3])
    f = _CALIBRE_FAIL.fullmatch(m[4])
    if f is not None:
        mark(ev, "calibre-web", "login_failed", f[2], f[1])
    return ev


def _mealie(text: str, received_at: datetime) -> Event | None:
    m = _MEALIE.fullmatch(text)
    if m is None:
        return None
    ev = _base("mealie", _ts(m[2], received_at), m[1], m[3])
    f = _MEALIE_FAIL.fullmatch(m[3])
    if f is not None:
        return mark(ev, "mealie", "login_failed", f[1])
    a = _MEALIE_ACCESS.fullmatch(m[3])
    if a is not None:
        ev["category"] = "web"
        ip = canonical_ip(a[1])
        if ip:
            ev["src_ip"] = ip
        ev["fields"].update(method=a[5], path=a[6], status=int(a[3]))
    return ev


def _odoo(text: str, received_at: datetime) -> Event | None:
    m = _ODOO.fullmatch(text)
    if m is None:
        return None
    ev = _base("odoo", _ts(f"{m[1]}.{m[2]}", received_at), m[4], m[7], m[6])
    ev["pid"] = int(m[3]) if len(m[3]) < 10 else None
    a = _ODOO_AUTH.fullmatch(m[7])
    if a is not None:
        mark(ev, "odoo", "login" if a[1] == "successful" else "login_failed", a[4], a[3], None, database=a[2])
    return ev


def sabnzbd_message(message: str, ev: Event) -> bool:
    m = _SAB_FAIL.fullmatch(message)
    if m is None:
        return False
    client = canonical_ip(m[1])
    x = _SAB_XFF.match(m[2] or "")
    if x is not None and client is not None:
        # SABnzbd writes the peer first and the forwarded chain after it; the peer is the nearest hop.
        client = client_from_chain(x[1].split(",") + [client])
    mark(ev, "sabnzbd", "login_failed", client, None, peer=canonical_ip(m[1]))
    return True


def _sabnzbd(text: str, received_at: datetime) -> Event | None:
    m = _SABNZBD.fullmatch(text)
    if m is None:
        return None
    ev = _base("sabnzbd", _ts(m[1], received_at), m[2], m[5], m[3])
    sabnzbd_message(m[5], ev)
    return ev


def _hass(text: str, received_at: datetime) -> Event | None:
    m = _HASS.fullmatch(text)
    if m is None:
        return None
    ev = _base("home-assistant", _ts(m[1], received_at), m[2], m[5], m[4])
    if m[4] == "homeassistant.components.http.ban":
        f = _HASS_FAIL.fullmatch(m[5])
        if f is not None:
            mark(ev, "home-assistant", "login_failed", f[2], None, "invalid authentication", client_host=f[1])
    return ev


def _uvicorn(text: str, received_at: datetime) -> Event | None:
    m = _UVICORN.fullmatch(text)
    if m is None:
        return None
    status = int(m[6])
    ev = _base("uvicorn", None, m[1], text[m.start(4) - 1:])
    ev["category"] = "web"
    ev["fields"].update(method=m[4], path=m[5], status=status)
    ip = canonical_ip(m[2])
    if ip:
        ev["src_ip"] = ip
    path = m[5].split("?", 1)[0]
    # Open WebUI's sign-in path names it; other uvicorn applications (LiteLLM, …) are not told apart.
    service = "open-webui" if path.startswith("/api/v1/auths/") else "uvicorn"
    if status == 401 or (status in (400, 403) and m[4] == "POST" and path in _UVICORN_SIGNIN):
        mark(ev, service, "login_failed", m[2], None, f"HTTP {status} on {path}"[:200])
    return ev


def _romm(text: str, received_at: datetime) -> Event | None:
    m = _ROMM.fullmatch(text)
    if m is None:
        return None
    ev = _base("romm", _ts(m[3], received_at), m[1], m[9].strip(), "romm")
    client = client_from_chain([m[5], m[4]])
    ev["category"] = "web"
    ev["fields"].update(method=m[6], path=m[7], status=int(m[8]))
    if m[7].split("?", 1)[0] == "/api/login" and m[8] in ("401", "403", "429"):
        return mark(ev, "romm", "login_failed", client, None, f"HTTP {m[8]}")
    if client:
        ev["src_ip"] = client
    return ev


def _baserow(text: str, received_at: datetime) -> Event | None:
    m = _BASEROW.fullmatch(text)
    if m is None:
        return None
    ev = _base("baserow", _ts(m[1], received_at), None, text.strip(), "baserow")
    ev["category"] = "web"
    status = int(m[6])
    ev["fields"] = {"method": m[4], "path": m[5], "status": status}
    if m[4] == "POST" and m[5].startswith("/api/user/token-auth"):
        if status in (400, 401):
            return mark(ev, "baserow", "login_failed", m[2], None, f"HTTP {status}")
        if status == 200:
            return mark(ev, "baserow", "login", m[2])
    ip = canonical_ip(m[2])
    if ip:
        ev["src_ip"] = ip
    return ev


# --- Node.js: Uptime Kuma/Dockge, Overseerr/Jellyseerr, Immich, Joplin Server, Audiobookshelf, MeshCentral --------
_KUMA = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) \[([\w-]{1,40})\] (\w+): (.*)",
                   re.S)
_KUMA_FAIL = re.compile(r"(Incorrect username or password|Invalid token provided) for user (.*)\. IP=(" + _IP + r")",
                        re.S)
_KUMA_OK = re.compile(r"Successfully logged in user (.*)\. IP=(" + _IP + r")", re.S)
_SEERR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z) \[(\w+)\]\[([\w ]{1,40})\]: (.*)", re.S)
_SEERR_FAIL = re.compile(r"(Failed sign-in attempt using invalid \w+ password|Failed login attempt from user with "
                         r"incorrect \w+ credentials|Failed login attempt from user without \w+ credentials) (\{.*\})",
                         re.S)
_IMMICH = re.compile(r"\[Nest\] (\d+) +- (\d\d)/(\d\d)/(\d{4}), (\d{1,2}):(\d\d):(\d\d)(?: (AM|PM))? +(\w+) "
                     r"\[([\w.]{1,100})\] (.*)", re.S)
_IMMICH_FAIL = re.compile(r"Failed login attempt for user (.*) from ip address (" + _IP + r")", re.S)
_JOPLIN = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): (?:\[(\w+)\] )?App: (.*)", re.S)
_JOPLIN_ERROR = re.compile(r"(\d{3}): ([A-Z]{3,10}) (\S+): (" + _IP + r"): Invalid username or password: (\{.*\})",
                           re.S)
_JOPLIN_ACCESS = re.compile(r"(" + _IP + r"): (\d+) B: ([A-Z]{3,10}) (\S+) \((\d{3})\) \((\d+)ms\)")
_ABS_TEXT = re.compile(r"\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?)\] (\w+): (.*)", re.S)
_ABS_FAIL = re.compile(r'\[Auth\] Failed login attempt for username "(.*)" from ip (' + _IP + r") \(([^()]{0,80})\)",
                       re.S)
_ABS_OK = re.compile(r'\[Auth\] User "(.*)" logged in from ip (' + _IP + r")", re.S)


def kuma_message(message: str, ev: Event, service: str) -> bool:
    m = _KUMA_FAIL.fullmatch(message)
    if m is not None:
        mfa = m[1].startswith("Invalid token")
        mark(ev, service, "login_failed", m[3], m[2], "invalid 2FA token" if mfa else "wrong password")
        return True
    m = _KUMA_OK.fullmatch(message)
    if m is not None:
        mark(ev, service, "login", m[2], m[1])
        return True
    return False


def _kuma(text: str, received_at: datetime) -> Event | None:
    m = _KUMA.fullmatch(text)
    if m is None:
        return None
    # Dockge (the same author's compose manager) logs whole seconds; Uptime Kuma logs milliseconds.
    service = "uptime-kuma" if m[2] else "dockge"
    ev = _base("uptime-kuma", _ts(m[1], received_at), m[4], m[5], m[3])
    if m[3] == "AUTH":
        kuma_message(m[5], ev, service)
    return ev


def seerr_message(message: str, ev: Event) -> bool:
    """Overseerr/Jellyseerr: the address and account are keys of the JSON object the line ends with."""
    m = _SEERR_FAIL.fullmatch(message)
    if m is None:
        return False
    try:
        obj = json.loads(m[2])
    except ValueError:
        return False
    if not isinstance(obj, dict):
        return False
    acct = obj.get("account") if isinstance(obj.get("account"), dict) else obj
    ip, user = acct.get("ip"), acct.get("email")
    mark(ev, "overseerr", "login_failed", ip if isinstance(ip, str) else None,
         user if isinstance(user, str) else None, m[1])
    return True


def _seerr(text: str, received_at: datetime) -> Event | None:
    m = _SEERR.fullmatch(text)
    if m is None:
        return None
    ev = _base("overseerr", _ts(m[1], received_at), m[2], m[4], m[3])
    seerr_message(m[4], ev)
    return ev


def _immich(text: str, received_at: datetime) -> Event | None:
    m = _IMMICH.fullmatch(text)
    if m is None:
        return None
    hour = int(m[5])
    if m[8] == "PM" and hour < 12:
        hour += 12
    elif m[8] == "AM" and hour == 12:
        hour = 0
    try:
        ts: datetime | None = to_utc(datetime(int(m[4]), int(m[2]), int(m[3]), hour, int(m[6]), int(m[7])),
                                     received_at)
    except ValueError:
        ts = None
    ev = _base("immich", ts, m[9], m[11], m[10])
    f = _IMMICH_FAIL.fullmatch(m[11])
    if f is not None:
        mark(ev, "immich", "login_failed", f[2], f[1])
    return ev


def _joplin(text: str, received_at: datetime) -> Event | None:
    m = _JOPLIN.fullmatch(text)
    if m is None:
        return None
    ev = _base("joplin", _ts(m[1], received_at), m[2], m[3], "joplin")
    e = _JOPLIN_ERROR.fullmatch(m[3])
    if e is not None:
        user = None
        try:
            obj = json.loads(e[5])
            user = obj.get("email") if isinstance(obj, dict) and isinstance(obj.get("email"), str) else None
        except ValueError:
            pass
        return mark(ev, "joplin", "login_failed", e[4], user, f"HTTP {e[1]} on {e[3]}")
    a = _JOPLIN_ACCESS.fullmatch(m[3])
    if a is not None:
        ev["category"] = "web"
        ev.setdefault("fields", {}).update(method=a[3], path=a[4], status=int(a[5]))
        # The API's failures are logged by the error line above; the web form's only here.
        if a[3] == "POST" and a[4] == "/login" and a[5] == "403":
            return mark(ev, "joplin", "login_failed", a[1], None, "HTTP 403 on /login")
        ip = canonical_ip(a[1])
        if ip:
            ev["src_ip"] = ip
    return ev


def abs_message(message: str, ev: Event) -> bool:
    m = _ABS_FAIL.fullmatch(message)
    if m is not None:
        mark(ev, "audiobookshelf", "login_failed", m[2], m[1], m[3])
        return True
    m = _ABS_OK.fullmatch(message)
    if m is not None:
        mark(ev, "audiobookshelf", "login", m[2], m[1])
        return True
    return False


def _abs_text(text: str, received_at: datetime) -> Event | None:
    if "[Auth] " not in text:
        return None
    m = _ABS_TEXT.fullmatch(text)
    if m is None:
        return None
    ev = _base("audiobookshelf", _ts(m[1], received_at), m[2], m[3], "audiobookshelf")
    return ev if abs_message(m[3], ev) else None


# --- Go: Gitea/Forgejo, Gotify (Gin), File Browser, AdGuard Home --------------------------------------------------
_GITEA = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.\d{1,6})? (\S+) \[([A-Z])\] (?:\[[\w-]{1,40}\] )?"
                    r"(.*)", re.S)
_GITEA_FAIL = re.compile(r"Failed authentication attempt for (\S+) from (\[[0-9A-Fa-f:.]{2,45}\]:\d{1,5}|"
                         r"[0-9.]{7,15}:\d{1,5}|" + _IP + r"): (.*)", re.S)
_GIN = re.compile(r"\[GIN\] (\d{4})/(\d\d)/(\d\d) - (\d\d):(\d\d):(\d\d) \| +(\d{3}) \| +(\S+) \| +(" + _IP
                  + r") \| +([A-Z]{3,10}) +\"(.*)\"", re.S)
_GIN_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) \| +(\d{3}) \| +(\S+) \| +("
                      + _IP + r") \| +([A-Z]{3,10}) +\"(.*)\"", re.S)
_FILEBROWSER = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) (/\S*): (\d{3}) (" + _IP + r") (.*)", re.S)
_ADGUARD = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? \[(\w+)\] (.*)", re.S)
_ADGUARD_FAIL = re.compile(r"POST \S+ /control/login: from ip (" + _IP + r"): invalid username or password")
_ADGUARD_OK = re.compile(r'auth: user "(.*)" successfully logged in from ip (' + _IP + r")", re.S)


def _slash_ts(m: re.Match[str], received_at: datetime, frac: str | None = None) -> datetime | None:
    try:
        return to_utc(datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]),
                               int((frac or "0")[:6].ljust(6, "0"))), received_at)
    except ValueError:
        return None


def gitea_message(message: str, ev: Event) -> bool:
    m = _GITEA_FAIL.fullmatch(message)
    if m is None:
        return False
    reason = "unknown user" if m[3].startswith("user does not exist") else m[3].split(" [", 1)[0]
    mark(ev, "gitea", "login_failed", host_of(m[2]), m[1], reason)
    return True


def _gitea(text: str, received_at: datetime) -> Event | None:
    if "Failed authentication attempt for " not in text:
        return None
    m = _GITEA.fullmatch(text)
    if m is None:
        return None
    ev = _base("gitea", _slash_ts(m, received_at), m[8], m[9], "gitea")
    return ev if gitea_message(m[9], ev) else None


def _gin(text: str, received_at: datetime) -> Event | None:
    """Gin's request log (Gotify): `[GIN] date - time | status | duration | client | method "path"`; Gotify 2.4+
    writes an RFC 3339 time instead of the `[GIN]` prefix."""
    m = _GIN.fullmatch(text)
    if m is not None:
        ts, status, duration, client, method, path = _slash_ts(m, received_at), m[7], m[8], m[9], m[10], m[11]
    else:
        m = _GIN_ISO.fullmatch(text)
        if m is None:
            return None
        ts, status, duration, client, method, path = _ts(m[1], received_at), m[2], m[3], m[4], m[5], m[6]
    ev = _base("gin", ts, None, f"{method} {path}")
    ev["category"] = "web"
    ev["fields"] = {"method": method, "path": path, "status": int(status), "duration": duration}
    if status == "401":
        return mark(ev, "gotify", "login_failed", client, None, "HTTP 401")
    ip = canonical_ip(client)
    if ip:
        ev["src_ip"] = ip
    return ev


def _filebrowser(text: str, received_at: datetime) -> Event | None:
    m = _FILEBROWSER.fullmatch(text)
    if m is None:
        return None
    ev = _base("filebrowser", _slash_ts(m, received_at), None, text[20:], "filebrowser")
    ev["category"] = "web"
    ev["fields"] = {"path": m[7], "status": int(m[8])}
    if m[7] == "/api/login" and m[8] in ("401", "403"):
        return mark(ev, "filebrowser", "login_failed", m[9], None, f"HTTP {m[8]}")
    ip = canonical_ip(m[9])
    if ip:
        ev["src_ip"] = ip
    return ev


def _adguard(text: str, received_at: datetime) -> Event | None:
    if "/control/login" not in text and "successfully logged in" not in text:
        return None
    m = _ADGUARD.fullmatch(text)
    if m is None:
        return None
    ev = _base("adguardhome", _slash_ts(m, received_at, m[7]), m[8], m[9], "adguardhome")
    # AdGuard writes the request's Host header after the method, which the client chooses: the address is only
    # taken from "from ip", which AdGuard resolves itself.
    f = _ADGUARD_FAIL.fullmatch(m[9])
    if f is not None:
        return mark(ev, "adguardhome", "login_failed", f[1])
    o = _ADGUARD_OK.fullmatch(m[9])
    if o is not None:
        return mark(ev, "adguardhome", "login", o[2], o[1])
    return None


# --- Others: Vaultwarden (Rust), Redmine (Ruby), qBittorrent, Webmin, Proxmox Backup Server -----------------------
_VAULTWARDEN = re.compile(r"\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[+-]\d\d:?\d\d|Z)?)\]\[([\w:]{1,200})\]"
                          r"\[(\w+)\] (.*)", re.S)
_VW_FAIL = re.compile(r"Username or password is incorrect\. Try again\. IP: (" + _IP + r")\. Username: (.*)\.", re.S)
_VW_ADMIN = re.compile(r"Invalid admin token\. IP: (" + _IP + r")\.?")
_VW_TOTP = re.compile(r"Invalid TOTP code! Server time: (.{8,40}) IP: (" + _IP + r")")
_VW_TOKEN = re.compile(r"Token is invalid! IP: (" + _IP + r")")
_REDMINE = re.compile(r"([DIWEFAU]), \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?) #(\d+)\] +(\w+) -- ([\w:]*): (.*)",
                      re.S)
_REDMINE_AUTH = re.compile(r"(Failed login|Successful authentication) for '(.*)' from (" + _IP
                           + r") at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: UTC| [+-]\d{4})?", re.S)
_QBT = re.compile(r"\(([NIWC])\) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) - (.*)", re.S)
_QBT_FAIL = re.compile(r"WebAPI login failure\. Reason: (.*?), IP: (" + _IP + r"), username: (.*)", re.S)
_QBT_LEVELS = {"N": "info", "I": "info", "W": "warning", "C": "critical"}
_WEBMIN = re.compile(r"(\d+)\.\d+\.\d+ \[(\d{1,2})/(\w{3})/(\d{4}) (\d\d):(\d\d):(\d\d)\] (\S+) (\S+) (" + _IP
                     + r") (\S+) (\S+) \"([^\"]*)\" \"([^\"]*)\" \"([^\"]*)\"")
_PBS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)): (.*)", re.S)
_PBS_FAIL = re.compile(r"authentication failure; rhost=(\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?|" + _IP
                       + r") user=(\S+) msg=(.*)", re.S)
_PBS_OK = re.compile(r"successful auth for user '(.*)'", re.S)


def vaultwarden_message(module: str, message: str, ev: Event) -> bool:
    m = _VW_FAIL.fullmatch(message)
    if m is not None:
        mark(ev, "vaultwarden", "login_failed", m[1], m[2], "wrong password")
        return True
    m = _VW_ADMIN.fullmatch(message)
    if m is not None:
        mark(ev, "vaultwarden", "login_failed", m[1], "admin", "invalid admin token")
        return True
    m = _VW_TOTP.fullmatch(message)
    if m is not None:
        mark(ev, "vaultwarden", "login_failed", m[2], None, "invalid TOTP code", factor="totp")
        return True
    m = _VW_TOKEN.fullmatch(message)
    if m is not None:
        factor = module.rsplit("::", 1)[-1]
        mark(ev, "vaultwarden", "login_failed", m[1], None, "invalid second-factor token", factor=factor)
        return True
    return False


def _vaultwarden(text: str, received_at: datetime) -> Event | None:
    m = _VAULTWARDEN.fullmatch(text)
    if m is None:
        return None
    ev = _base("vaultwarden", _ts(m[1], received_at), m[3], m[4], m[2])
    if m[2].startswith("vaultwarden::"):
        vaultwarden_message(m[2], m[4], ev)
    return ev


def _redmine(text: str, received_at: datetime) -> Event | None:
    m = _REDMINE.fullmatch(text)
    if m is None:
        return None
    ev = _base("ruby-logger", _ts(m[2], received_at), m[4], m[6], m[5] or None)
    a = _REDMINE_AUTH.fullmatch(m[6])
    if a is not None:
        mark(ev, "redmine", "login" if a[1].startswith("Successful") else "login_failed", a[3], a[2])
    return ev


def _qbittorrent(text: str, received_at: datetime) -> Event | None:
    m = _QBT.fullmatch(text)
    if m is None:
        return None
    ev = _base("qbittorrent", _ts(m[2], received_at), _QBT_LEVELS[m[1]], m[3], "qbittorrent")
    f = _QBT_FAIL.fullmatch(m[3])
    if f is not None:
        mark(ev, "qbittorrent", "login_failed", f[2], f[3], f[1])
    return ev


def _webmin(text: str, received_at: datetime) -> Event | None:
    m = _WEBMIN.fullmatch(text)
    if m is None:
        return None
    month = MONTHS.get(m[3])
    ts = None
    if month is not None:
        try:
            ts = to_utc(datetime(int(m[4]), month, int(m[2]), int(m[5]), int(m[6]), int(m[7])), received_at)
        except ValueError:
            ts = None
    ev = _base("webmin", ts, None, f"{m[11]} {m[12]} {m[13]} {m[14]} {m[15]}", "webmin")
    ev["fields"] = {"module": m[11], "script": m[12], "action": m[13]}
    if m[12] == "miniserv.pl" and m[13] == "failed":
        return mark(ev, "webmin", "login_failed", m[10], m[8] if m[8] != "-" else None, m[15])
    if m[12] == "miniserv.pl" and m[13] == "login":
        return mark(ev, "webmin", "login", m[10], m[8] if m[8] != "-" else None)
    ip = canonical_ip(m[10])
    if ip:
        ev["src_ip"] = ip
    return ev


def pbs_message(message: str, ev: Event) -> bool:
    """Proxmox VE and Backup Server: `authentication failure; rhost=… user=… msg=…` (the address first)."""
    m = _PBS_FAIL.fullmatch(message)
    if m is not None:
        reason = m[3]
        mark(ev, ev.get("service") or "proxmox", "login_failed", host_of(m[1]), m[2],
             "unknown user" if reason.startswith("no such user") else reason)
        return True
    m = _PBS_OK.fullmatch(message)
    if m is not None:
        mark(ev, ev.get("service") or "proxmox", "login", None, m[1])
        return True
    return False


def _pbs(text: str, received_at: datetime) -> Event | None:
    m = _PBS.fullmatch(text)
    if m is None:
        return None
    ev = _base("proxmox-backup", _ts(m[1], received_at), None, m[2], "proxmox-backup")
    ev["service"] = "proxmox-backup"
    return ev if pbs_message(m[2], ev) else None


# --- dispatch --------------------------------------------------------------------------------------------------
_DIGIT: tuple[Shape, ...] = (_serilog, _nlog, _java_comma, _sabnzbd, _odoo, _hass, _emby, _hestia, _joplin, _kuma,
                             _seerr, _guacamole, _pbs, _gin, _gitea, _adguard, _filebrowser, _nginx_php, _zoneminder,
                             _webmin, _cpanel_access, _thehive)
_BRACKET: tuple[Shape, ...] = (_vaultwarden, _paperless, _calibre, _monolog, _cpanel_login, _serilog_bracket, _immich,
                               _gin, _thehive, _abs_text, _apache_php)
_LETTER: tuple[Shape, ...] = (_mealie, _redmine, _uvicorn, _romm, _ispconfig, _cpanel_access)


def _shapes(c: str) -> tuple[Shape, ...]:
    if c.isdigit():
        return _DIGIT
    if c == "[":
        return _BRACKET
    if c == "(":
        return (_qbittorrent,)
    if c == " ":
        return (_baserow,)
    if c.isalpha() or c == ":":
        return _LETTER
    return ()


def strip_runner_prefix(text: str) -> tuple[str, str | None] | None:
    """(line, container) without a `docker compose logs` ("name  | ") or pm2 ("12:00:00 0|app  | ") prefix."""
    m = _COMPOSE.fullmatch(text)
    if m is not None:
        return m[2], m[1]
    m = _PM2.fullmatch(text)
    if m is not None:
        return m[1], None
    return None


def parse_app_line(text: str, received_at: datetime, unwrap: bool = True) -> Event | None:
    """The event of one line of a known application log, or None. `unwrap` also tries the line without a
    runner's prefix (see strip_runner_prefix)."""
    if not text or len(text) > MAX_LINE:
        return None
    if "\x1b" in text:
        text = _ANSI.sub("", text)
        if not text:
            return None
    for shape in _shapes(text[0]):
        ev = shape(text, received_at)
        if ev is not None:
            return ev
    if unwrap and "| " in text:
        inner = strip_runner_prefix(text)
        if inner is not None:
            ev = parse_app_line(inner[0], received_at, unwrap=False)
            if ev is not None:
                if inner[1]:
                    ev.setdefault("fields", {})["container"] = inner[1]
                return ev
    return None
