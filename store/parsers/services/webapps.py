"""Self-hosted web applications under syslog/journald: the Servarr family (Sonarr, Radarr, Prowlarr, …), Proxmox
VE and Backup Server, LemonLDAP::NG, MeshCentral, Sympa's web interface, pfSense and OPNsense web GUIs, Harbor,
ZoneMinder, Jellyfin, and every application of store/parsers/webapps when its own log line (or JSON/logfmt
record) arrives as a syslog payload.

Actions are those of store/parsers/webapps/outcome.py. Each message pattern is anchored to the application's
wording; addresses come from the position the application writes them (see store/parsers/webapps/lines.py).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from store.parsers.services import extractor
from store.parsers.webapps import lines
from store.parsers.webapps.addresses import canonical_ip, client_from_list
from store.parsers.webapps.jsonapps import recognise_json
from store.parsers.webapps.logfmt import recognise as recognise_kv
from store.parsers.webapps.logfmt import tokenize
from store.parsers.webapps.outcome import mark

_IP = r"[0-9A-Fa-f:.]{2,45}"
_ARR = re.compile(r"\[(\w{3,11})\] (\w{1,64}): (.*)", re.S)
_LLNG = re.compile(r"(?:\[(\w+)\] |Lemonldap::NG : )(.*)", re.S)
_LLNG_NO_USER = re.compile(r"(.*) was not found in LDAP directory \((" + _IP + r")\)", re.S)
_LLNG_BAD_PASSWORD = re.compile(r"Bad password for (.*) \((" + _IP + r")\)", re.S)
_SSH_LIKE = re.compile(r"(Failed|Accepted) password for (.*) from (" + _IP + r") port (\d{1,5})", re.S)
_SYMPA = re.compile(r"(\w+) (\S+) \[robot ([^\]]{0,200})\] \[session ([^\]]{0,64})\] \[client ([^\]\s]{1,64})\]"
                    r"(?: \[user ([^\]]{0,256})\])?(?: (.*))?", re.S)
_SYMPA_UNKNOWN = re.compile(r"Unknown (action|list) (.*)", re.S)
_SYMPA_BENIGN = frozenset({"robots.txt", "sitemap.xml", "favicon.ico"})
_PFSENSE_FAIL = re.compile(r"/index\.php: webConfigurator authentication error for user '(.*)' from: (" + _IP + r")",
                           re.S)
_GUI_OK = re.compile(r"/index\.php: Successful login for user '(.*)' from:? (" + _IP + r")(?: \(.*\))?", re.S)
_OPNSENSE_FAIL = re.compile(r"/index\.php: Web GUI authentication error for '(.*)' from (" + _IP + r")", re.S)
_HARBOR = re.compile(r"(\S+) \[(\w+)\] \[([^\]]{0,300})\]\[client IP=\"([0-9A-Fa-f:., ]{0,400})\" requestID=\"[^\"]*\" "
                     r"user agent=\"(?:[^\"\\]|\\.)*\"\]: (.*)", re.S)
_HARBOR_FAIL = re.compile(r"failed to authenticate user:(.*), error:(.*)", re.S)
_ZM_SYSLOG = re.compile(r"([A-Z]{3}) \[(" + _IP + r")\] \[(.*)\] at (\S+) line (\d+)", re.S)
_JELLYFIN_SYSLOG = re.compile(r"\[\d\d:\d\d:\d\d\] \[\w{3}\] (?:\[\d{1,6}\] )?(?:[\w.`]{1,200}: )?(.*)", re.S)
_GITEA_SYSLOG = re.compile(r"\S+ \[[A-Z]\] (?:\[[\w-]{1,40}\] )?(.*)", re.S)
_VW_SYSLOG = re.compile(r"\[([\w:]{1,200})\]\[(\w+)\] (.*)", re.S)
# Only its zone is used: an application time without an offset inside a syslog payload is taken as UTC (the syslog
# header's own time is kept whenever it has one).
_ZONE = datetime(2000, 1, 1, tzinfo=UTC)
# WP fail2ban (the WordPress plugin that writes logins to syslog as `wordpress(site)[pid]`).
_WP = re.compile(r"(Authentication failure for|Authentication attempt for unknown user|Blocked authentication "
                 r"attempt for|XML-RPC authentication attempt for unknown user|XML-RPC authentication failure for|"
                 r"Accepted password for) (.*) from (" + _IP + r")", re.S)
_WP_NO_USER = re.compile(r"(Blocked user enumeration attempt|XML-RPC multicall authentication failure|Pingback error "
                         r"\d{1,4} generated|Spam comment \d{1,20}) from (" + _IP + r")")
_ARR_SERVICES = {"sonarr": "sonarr", "radarr": "radarr", "prowlarr": "prowlarr", "lidarr": "lidarr",
                 "readarr": "readarr", "whisparr": "whisparr", "mono": "sonarr"}


def _svc(app: str) -> str:
    return app.strip().rsplit("/", 1)[-1].split("[", 1)[0].lower()


@extractor(*_ARR_SERVICES)
def servarr(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """Sonarr/Radarr/Prowlarr/…: `[Warn] Auth: Auth-Failure ip 1.2.3.4 username 'x'` (old Sonarr ran as mono)."""
    m = _ARR.fullmatch(msg)
    if m is None or m[2] != "Auth":
        return False
    return lines.arr_message(m[3], ev, _ARR_SERVICES.get(_svc(app), "servarr"))


@extractor("pvedaemon", "pveproxy")
def proxmox_ve(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """Proxmox VE: `authentication failure; rhost=… user=root@pam msg=…` (the address before the user)."""
    ev["service"] = "proxmox"
    if msg.startswith("<") and "> successful auth for user " in msg:
        msg = msg.split("> ", 1)[1]
    if lines.pbs_message(msg, ev):
        return True
    del ev["service"]
    return False


@extractor("proxmox-backup-proxy", "proxmox-backup-api")
def proxmox_backup(app: str, msg: str, ev: dict[str, Any]) -> bool:
    ev["service"] = "proxmox-backup"
    if lines.pbs_message(msg, ev):
        return True
    del ev["service"]
    return False


@extractor("llng", "lemonldap-ng", "lemonldap")
def lemonldap(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """LemonLDAP::NG portal: `[warn] X was not found in LDAP directory (1.2.3.4)`, `Bad password for X (…)`."""
    m = _LLNG.fullmatch(msg)
    if m is None:
        return False
    body = m[2]
    f = _LLNG_BAD_PASSWORD.fullmatch(body)
    if f is not None:
        mark(ev, "lemonldap-ng", "login_failed", f[2], f[1], "wrong password")
        return True
    f = _LLNG_NO_USER.fullmatch(body)
    if f is not None:
        mark(ev, "lemonldap-ng", "login_failed", f[2], f[1], "unknown user")
        return True
    return False


@extractor("https", "mps", "meshcentral")
def meshcentral(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """MeshCentral's auth log imitates sshd: `Failed password for X from 1.2.3.4 port 57951`."""
    m = _SSH_LIKE.fullmatch(msg)
    if m is None:
        return False
    user = None if m[2] == "undefined" else m[2]
    mark(ev, "meshcentral", "login" if m[1] == "Accepted" else "login_failed", m[3], user, None, port=int(m[4]))
    return True


@extractor("wwsympa", "sympa")
def sympa(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """Sympa's web interface answers HTTP 200 for unknown actions and lists, so only its own log shows probing:
    `info main:: [robot r] [session s] [client 1.2.3.4] [user u] Unknown action admin.php`."""
    m = _SYMPA.fullmatch(msg)
    if m is None:
        return False
    ev["service"] = "sympa"
    ev["category"] = "web"
    fields = ev.setdefault("fields", {}) if isinstance(ev.get("fields"), dict) else {}
    fields.update(level=m[1], robot=m[3])
    ev["fields"] = fields
    u = _SYMPA_UNKNOWN.fullmatch(m[7] or "")
    if u is not None and u[2].strip() not in _SYMPA_BENIGN:
        mark(ev, "sympa", "unknown_action", m[5], None, None, requested=u[2][:256], kind=u[1])
    else:
        ip = canonical_ip(m[5])
        if ip:
            ev["src_ip"] = ip
    return True


@extractor("php-fpm", "php", "php-cgi")
def pfsense_gui(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """pfSense web GUI: `/index.php: webConfigurator authentication error for user 'x' from: 1.2.3.4`."""
    if not msg.startswith("/index.php: "):
        return False
    m = _PFSENSE_FAIL.fullmatch(msg)
    if m is not None:
        mark(ev, "pfsense", "login_failed", m[2], m[1])
        return True
    m = _GUI_OK.fullmatch(msg)
    if m is not None:
        mark(ev, "pfsense", "login", m[2], m[1])
        return True
    return False


@extractor("audit", "opnsense")
def opnsense_gui(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """OPNsense web GUI (its `audit` log): `/index.php: Web GUI authentication error for 'x' from 1.2.3.4`."""
    if not msg.startswith("/index.php: "):
        return False
    m = _OPNSENSE_FAIL.fullmatch(msg)
    if m is not None:
        mark(ev, "opnsense", "login_failed", m[2], m[1])
        return True
    m = _GUI_OK.fullmatch(msg)
    if m is not None:
        mark(ev, "opnsense", "login", m[2], m[1])
        return True
    return False


@extractor("core", "harbor-core")
def harbor(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """Harbor core: `… [ERROR] [/server/…][client IP="1.1.1.1, 192.168.32.1" requestID="…" user agent="…"]:
    failed to authenticate user:x, error:…` (the client list before anything the client chose)."""
    m = _HARBOR.fullmatch(msg)
    if m is None:
        return False
    f = _HARBOR_FAIL.fullmatch(m[5])
    if f is None:
        return False
    mark(ev, "harbor", "login_failed", client_from_list(m[4]), f[1], f[2])
    return True


@extractor("web_php")
def zoneminder(app: str, msg: str, ev: dict[str, Any]) -> bool:
    m = _ZM_SYSLOG.fullmatch(msg)
    return m is not None and lines.zoneminder_message(m[2], m[3], ev)


@extractor("wordpress", "wp")
def wordpress(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """WP fail2ban: `Authentication failure for admin from 1.2.3.4` (the user first; the address ends the line)."""
    m = _WP.fullmatch(msg)
    if m is not None:
        if m[1] == "Accepted password for":
            mark(ev, "wordpress", "login", m[3], m[2])
        else:
            reason = "unknown user" if "unknown user" in m[1] else m[1]
            mark(ev, "wordpress", "login_failed", m[3], m[2], reason)
        return True
    m = _WP_NO_USER.fullmatch(msg)
    if m is None:
        return False
    if m[1].startswith("Spam comment"):
        ev["service"] = "wordpress"
        return True
    mark(ev, "wordpress", "login_failed" if "authentication" in m[1] else "unknown_action", m[2], None, m[1])
    return True


def _merge(inner: dict[str, Any], ev: dict[str, Any]) -> bool:
    if "action" not in inner:
        return False
    for key in ("service", "action", "category", "outcome", "src_ip", "user"):
        if key in inner:
            ev[key] = inner[key]
    if ev.get("ts") is None and inner.get("ts") is not None:
        ev["ts"] = inner["ts"]
    prior = ev.get("fields")
    fields: dict[str, Any] = prior if isinstance(prior, dict) else {}
    fields.update(inner.get("fields") or {})
    ev["fields"] = fields
    return True


@extractor("authelia", "authentik", "authentik-server", "grafana", "grafana-server", "vaultwarden", "bitwarden",
           "gitea", "forgejo", "jellyfin", "emby", "emby-server", "navidrome", "miniflux", "uptime-kuma", "dockge",
           "overseerr", "jellyseerr", "ombi", "paperless", "paperless-ngx", "immich", "immich-server", "gotify",
           "home-assistant", "homeassistant", "hass", "mealie", "calibre-web", "redmine", "keycloak", "guacamole",
           "odoo", "sabnzbd", "nextcloud", "owncloud", "teleport", "ntfy", "kasm", "audiobookshelf", "joplin",
           "joplin-server", "qbittorrent", "qbittorrent-nox", "webmin", "miniserv", "stirling-pdf", "filebrowser",
           "adguardhome", "thehive", "cas", "fireflyiii", "firefly-iii", "romm", "baserow", "open-webui", "litellm",
           "hestiacp", "ispconfig", "gitlab", "magento", "zoneminder")
def application_payload(app: str, msg: str, ev: dict[str, Any]) -> bool:
    """An application's own line, JSON or logfmt record carried as the syslog message (journald, docker's syslog
    driver); also the headerless forms some of them write there (Jellyfin, Gitea, Vaultwarden)."""
    if not msg:
        return False
    if msg[0] == "{":
        try:
            obj = json.loads(msg)
        except (ValueError, RecursionError):
            return False
        return isinstance(obj, dict) and recognise_json(obj, ev, _ZONE)
    inner = lines.parse_app_line(msg, _ZONE)
    if inner is not None:
        return _merge(inner, ev)
    if "=" in msg[:40]:
        kv = tokenize(msg)
        text = (kv or {}).get("msg") or (kv or {}).get("message")
        if kv is not None and text is not None:
            return recognise_kv(kv, text, ev)
    m = _JELLYFIN_SYSLOG.fullmatch(msg)
    if m is not None and lines.jellyfin_message(m[1], ev):
        return True
    if lines.jellyfin_message(msg, ev):
        return True
    m = _VW_SYSLOG.fullmatch(msg)
    if m is not None and m[1].startswith("vaultwarden::"):
        return lines.vaultwarden_message(m[1], m[3], ev)
    m = _GITEA_SYSLOG.fullmatch(msg)
    if m is not None and lines.gitea_message(m[1], ev):
        return True
    return lines.gitea_message(msg, ev)
