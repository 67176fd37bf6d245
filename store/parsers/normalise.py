"""The normalised `service` and `action` columns: one vocabulary for every parser, so one detection covers
every service that logs authentication (Sigma rules match `action: login_failed`, not sshd's wording).

Actions (outcome in brackets): login_failed (failure: one per failed attempt), login (success), invalid_user
(failure: the account does not exist), max_attempts, pam_failure (PAM's echo of an attempt the service logs
itself; not counted twice), plus each parser's own verbs (sudo, su, disconnect, session_opened, …).
`service` is the program that wrote the line without its path or sub-process (postfix/smtpd → postfix).
Both run after a parser, per line (`normalise_event`) and over the bulk parser's columns (`normalise_columns`).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# Services whose PAM failure line always accompanies the service's own failure line for the same attempt.
PAM_ECHO_SERVICES = frozenset({"sshd"})
_SERVICE_ALIASES = {"sshd-session": "sshd", "sshd-auth": "sshd", "in.ftpd": "ftpd", "named": "bind",
                    "mysqld": "mysql", "mariadbd": "mariadb", "postgres": "postgresql"}
_SERVICE_RX = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def canonical_action(action: str | None, outcome: str | None, pam_service: str | None = None) -> str | None:
    if action is None:
        return None
    if action == "login":
        return "login_failed" if outcome == "failure" else "login" if outcome == "success" else action
    if action == "max_auth_attempts":
        return "max_attempts"
    if action == "unknown_user":
        return "invalid_user"
    if action == "auth_failure":
        return "pam_failure" if (pam_service or "") in PAM_ECHO_SERVICES else "login_failed"
    return action


def service_of(app: str | None) -> str | None:
    """`postfix/smtpd` → postfix, `/usr/sbin/sshd` → sshd, `CRON` → cron."""
    if not app:
        return None
    name = app.strip()
    if name.startswith("/"):
        name = name.rsplit("/", 1)[-1]
    name = name.split("/", 1)[0].split("[", 1)[0].split("(", 1)[0].lower()
    if not _SERVICE_RX.fullmatch(name):
        return None
    return _SERVICE_ALIASES.get(name, name)


def normalise_event(ev: dict[str, Any]) -> None:
    """Fill `service` and `action` of one parsed event (a parser that set them itself wins)."""
    if ev.get("service") is None:
        svc = service_of(ev.get("app"))
        if svc is not None:
            ev["service"] = svc
    if ev.get("action") is None:
        f = ev.get("fields")
        if isinstance(f, dict):
            act = f.get("action")
            if isinstance(act, str):
                # Old-style "sshd(pam_unix)" tags: syslog got only PAM's line; the service's own went elsewhere.
                old_pam = "(pam_unix)" in str(ev.get("app") or "")
                pam = None if old_pam else (f.get("pam_service") or f.get("service"))
                ev["action"] = canonical_action(act, ev.get("outcome"), pam)


_ACTION_RX = r'(?:^\{|,)"action":"(?P<a>[a-z_]{1,40})"'
_PAM_RX = r'(?:^\{|,)"pam_service":"(?P<s>[a-z_-]{1,40})"'


def normalise_columns(columns: dict[str, pa.Array], rows: int) -> dict[str, pa.Array]:
    """The same for the bulk parser's columns (its `fields` JSON is written by us: keys unescaped, values escaped,
    so a value can never imitate a key)."""
    out = dict(columns)
    app = columns.get("app")
    if app is not None and "service" not in columns:
        enc = pc.dictionary_encode(app)
        svc = [service_of(v) for v in enc.dictionary.to_pylist()]
        out["service"] = pa.array(svc, pa.string()).take(enc.indices)
    fields = columns.get("fields")
    if fields is not None and "action" not in columns:
        raw = pc.struct_field(pc.extract_regex(fields, _ACTION_RX), [0])
        outcome = columns.get("outcome")
        pam = pc.struct_field(pc.extract_regex(fields, _PAM_RX), [0])
        act = raw
        if outcome is not None:
            login = pc.fill_null(pc.equal(raw, "login"), False)
            act = pc.if_else(pc.and_(login, pc.fill_null(pc.equal(outcome, "failure"), False)), "login_failed", act)
        act = pc.if_else(pc.fill_null(pc.equal(raw, "max_auth_attempts"), False), "max_attempts", act)
        act = pc.if_else(pc.fill_null(pc.equal(raw, "unknown_user"), False), "invalid_user", act)
        is_pam = pc.fill_null(pc.equal(raw, "auth_failure"), False)
        echo = pc.fill_null(pc.is_in(pam, value_set=pa.array(sorted(PAM_ECHO_SERVICES))), False)
        if app is not None:
            echo = pc.and_(echo, pc.invert(pc.fill_null(pc.ends_with(app, "(pam_unix)"), False)))
        act = pc.if_else(is_pam, pc.if_else(echo, "pam_failure", "login_failed"), act)
        out["action"] = act
    return out
