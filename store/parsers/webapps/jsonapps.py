"""Self-hosted applications that log one JSON object per line: Authentik, GitLab, Teleport, ntfy, Nextcloud and
ownCloud, Kasm, Audiobookshelf, Grafana and Authelia in JSON mode, Keycloak's JSON console, and any of the text
formats of store/parsers/webapps/lines.py wrapped by Docker's json-file driver (`{"log": …, "stream": …}`).

JSON keys are structural (a value cannot forge one), so the client address is read from the key the application
names it by; a free-text message is only parsed with the application's anchored wording.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.webapps import lines
from store.parsers.webapps.addresses import client_from_list, host_of
from store.parsers.webapps.logfmt import recognise as recognise_kv
from store.parsers.webapps.outcome import mark

_NEXTCLOUD_FAIL = re.compile(r"Login failed: '?(.*?)'? \(Remote IP: '?([0-9A-Fa-f:.]{2,45})'?\)", re.S)
_NEXTCLOUD_THROTTLE = re.compile(r'Bruteforce attempt from \\?"([0-9A-Fa-f:.]{2,45})\\?" detected for action '
                                 r'\\?"([\w-]{1,64})\\?"\.?')
_NEXTCLOUD_DOMAIN = re.compile(r'Trusted domain error\. \\?"([0-9A-Fa-f:.]{2,45})\\?" tried to access using '
                               r'\\?"(.*)\\?"'
                               r" as host\.", re.S)
_KASM_USER = re.compile(r"Authentication attempt invalid (?:user|password for user): \((.*)\)", re.S)
_DOCKER_KEYS = frozenset({"log", "stream", "time", "attrs"})
_GITLAB_LOGIN_PATHS = ("/users/sign_in", "/users/auth/ldapmain/callback")


def _demote_action(ev: dict[str, Any]) -> None:
    """An application's own `action` key (a Rails controller action, an Authentik event name) is not the
    normalised action: keep it as `app_action` so it is not read as one."""
    fields = ev.get("fields")
    if isinstance(fields, dict) and "action" in fields:
        fields["app_action"] = fields.pop("action")


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def recognise_json(obj: dict[str, Any], ev: dict[str, Any], received_at: datetime) -> bool:
    """Fill authentication semantics for a JSON line of a known application; False when none applies."""
    try:
        return _recognise(obj, ev, received_at)
    except (TypeError, ValueError, AttributeError, KeyError):
        return False


def _recognise(obj: dict[str, Any], ev: dict[str, Any], received_at: datetime) -> bool:
    if "log" in obj and set(obj) <= _DOCKER_KEYS and isinstance(obj["log"], str):
        return _docker(obj["log"], ev, received_at)
    if "reqId" in obj and "remoteAddr" in obj:
        return _nextcloud(obj, ev)
    logger = obj.get("logger")
    if isinstance(logger, str) and logger.startswith("authentik"):
        return _authentik(obj, ev)
    if "event" in obj and "addr.remote" in obj and "code" in obj:
        return _teleport(obj, ev)
    if "visitor_ip" in obj and "error_code" in obj:
        return _ntfy(obj, ev)
    if "controller" in obj and "remote_ip" in obj and obj.get("method") == "POST":
        return _gitlab(obj, ev)
    if "request_ip" in obj and "metric_name" in obj:
        return _kasm(obj, ev)
    if obj.get("type") == "response" and isinstance(obj.get("req"), dict):
        return _dashboards(obj, ev)
    msg = obj.get("message") if isinstance(obj.get("message"), str) else obj.get("msg")
    if isinstance(msg, str):
        if msg.startswith("[Auth] "):
            return lines.abs_message(msg, ev)
        if obj.get("loggerName") in ("org.keycloak.events", "org.key.events"):
            return lines.keycloak_event(msg, ev)
        return recognise_kv(obj, msg, ev)
    return False


def _docker(log: str, ev: dict[str, Any], received_at: datetime) -> bool:
    inner = lines.parse_app_line(log.rstrip("\r\n"), received_at)
    if inner is None or "action" not in inner:
        return False
    for key in ("service", "action", "category", "outcome", "src_ip", "user", "app"):
        if key in inner:
            ev[key] = inner[key]
    if inner.get("ts") is not None:
        ev["ts"] = inner["ts"]
    prior = ev.get("fields")
    fields: dict[str, Any] = prior if isinstance(prior, dict) else {}
    fields.update(inner.get("fields") or {})
    ev["fields"] = fields
    return True


def _nextcloud(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    msg, remote = _s(obj.get("message")), _s(obj.get("remoteAddr"))
    if msg is None or remote is None:
        return False
    ev.pop("user", None)  # Nextcloud's "user" is the session's ("--" before login), not the one tried
    if ev.get("app") != "nextcloud":
        fields = ev.setdefault("fields", {}) if isinstance(ev.get("fields"), dict) else {}
        fields["nextcloud_app"] = ev.get("app")
        ev["fields"], ev["app"] = fields, "nextcloud"
    m = _NEXTCLOUD_FAIL.fullmatch(msg)
    if m is not None:
        mark(ev, "nextcloud", "login_failed", remote, m[1])
        return True
    m = _NEXTCLOUD_THROTTLE.fullmatch(msg)
    if m is not None:
        mark(ev, "nextcloud", "bruteforce_throttled", remote, None, throttled_action=m[2])
        return True
    m = _NEXTCLOUD_DOMAIN.fullmatch(msg)
    if m is not None:
        mark(ev, "nextcloud", "untrusted_host", remote, None, requested_host=m[2][:255])
        return True
    return False


def _authentik(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    _demote_action(ev)
    action, ip = obj.get("action"), _s(obj.get("client_ip"))
    context = obj.get("context")
    ctx: dict[str, Any] = context if isinstance(context, dict) else {}
    if action == "login_failed":
        mark(ev, "authentik", "login_failed", ip, _s(ctx.get("username")), "wrong credentials")
        return True
    if action == "invalid_identifier":
        mark(ev, "authentik", "login_failed", ip, _s(obj.get("identifier")), "unknown user")
        return True
    if action == "login":
        user = obj.get("user")
        name = _s(user.get("username")) if isinstance(user, dict) else None
        mark(ev, "authentik", "login", ip, name)
        return True
    if isinstance(action, str):
        _demote_action(ev)  # authentik's own event names are not this vocabulary
    return False


def _teleport(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    if obj.get("event") != "user.login":
        return False
    ip = host_of(_s(obj.get("addr.remote")))
    user = _s(obj.get("user"))
    if obj.get("success") is True:
        mark(ev, "teleport", "login", ip, user, method=_s(obj.get("method")))
    else:
        mark(ev, "teleport", "login_failed", ip, user, _s(obj.get("error")), method=_s(obj.get("method")))
    return True


def _ntfy(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    code = str(obj.get("error_code"))
    ip = _s(obj.get("visitor_ip"))
    if code == "40101":
        mark(ev, "ntfy", "login_failed", ip, None, "unauthorized (40101)")
        return True
    if code == "40301":
        mark(ev, "ntfy", "access_denied", ip, None, "forbidden (40301)", path=_s(obj.get("http_path")))
        return True
    return False


def _gitlab_user(params: Any) -> tuple[str | None, bool]:
    """(login name tried, whether the request carried a one-time password) from GitLab's `params` list."""
    user, otp = None, False
    if not isinstance(params, list):
        return None, False
    for p in params:
        if not isinstance(p, dict):
            continue
        value = p.get("value")
        if p.get("key") == "user" and isinstance(value, dict):
            user = user or _s(value.get("login"))
            otp = otp or "otp_attempt" in value
        elif p.get("key") == "username":
            user = user or _s(value)
    return user, otp


def _gitlab(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    _demote_action(ev)
    path = obj.get("path")
    if path not in _GITLAB_LOGIN_PATHS and not (isinstance(path, str) and path.startswith("/users/auth/")
                                                and path.endswith("/callback")):
        _demote_action(ev)
        return False
    user, otp = _gitlab_user(obj.get("params"))
    status, ip = obj.get("status"), _s(obj.get("remote_ip"))
    failed = status == 0 or status == 401 or obj.get("action") == "failure"
    if user is not None:
        if failed:
            mark(ev, "gitlab", "login_failed", ip, user, "wrong credentials")
        elif status == 302:
            mark(ev, "gitlab", "login", ip, user)
        else:
            _demote_action(ev)
        return True
    if otp and path == "/users/sign_in":
        if status != 302:
            mark(ev, "gitlab", "login_failed", ip, None, "invalid one-time password", factor="otp")
        else:
            mark(ev, "gitlab", "login", ip, None, factor="otp")
        return True
    _demote_action(ev)
    return False


_DASHBOARD_LOGINS = ("/auth/login", "/internal/security/login", "/api/security/v1/login")


def _dashboards(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    """OpenSearch Dashboards (Wazuh's web interface) and Kibana response records: `req.remoteAddress` is the
    client; a POST to the login endpoint answered 401 is a failed login."""
    req: dict[str, Any] = obj["req"]
    ip = _s(req.get("remoteAddress"))
    url = _s(req.get("url")) or ""
    status = obj.get("statusCode")
    method = str(obj.get("method") or req.get("method") or "").upper()
    prior = ev.get("fields")
    fields: dict[str, Any] = prior if isinstance(prior, dict) else {}
    fields.update(method=method or None, path=url or None, status=status if isinstance(status, int) else None)
    ev["fields"] = fields
    ev["category"] = "web"
    if method == "POST" and str(status) == "401" and url.split("?", 1)[0] in _DASHBOARD_LOGINS:
        mark(ev, "opensearch-dashboards", "login_failed", ip, None, "HTTP 401 on login")
        return True
    if ip is not None and host_of(ip):
        ev["src_ip"] = host_of(ip)
    return False


def _kasm(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    metric = obj.get("metric_name")
    if not isinstance(metric, str) or not metric.startswith("account.login."):
        return False
    ip = client_from_list(obj["request_ip"]) if isinstance(obj.get("request_ip"), str) else None
    m = _KASM_USER.fullmatch(obj.get("message") or "") if isinstance(obj.get("message"), str) else None
    user = m[1] if m else None
    if metric.startswith("account.login.failed"):
        reason = "unknown user" if metric.endswith("invalid_user") else metric.rsplit(".", 1)[-1]
        mark(ev, "kasm", "login_failed", ip, user, reason)
    elif metric in ("account.login.successful", "account.login.success"):
        mark(ev, "kasm", "login", ip, user)
    else:
        return False
    return True
