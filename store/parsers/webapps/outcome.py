"""Filling the normalised columns of a self-hosted application's authentication event.

Actions (see store/parsers/normalise.py for the shared vocabulary):
- login_failed: one failed attempt (wrong password, unknown account, failed second factor, refused while banned);
  `fields.reason` says which when the application does.
- login: a successful login. (An application line per attempt that names an unknown account is login_failed with
  reason "unknown user": it is the attempt, and user enumeration is counted by the spraying correlation.)
Verbs of this family, each counted by a rule in detectors/sigma_rules/webapp/:
- login_attempt: an attempt whose outcome the line does not tell (Firefly III audits every try).
- lockout: the application itself locked an address out for brute force (cPanel's cPHulk).
- bruteforce_throttled: the application throttled a request from an address it considers a brute forcer
  (Nextcloud/ownCloud), logged beside the failure line of the same attempt.
- access_denied: a request refused for lack of rights (ntfy 403 on a protected topic).
- untrusted_host: a request for a Host the application does not serve (Nextcloud trusted-domain error).
- unknown_action: a web request for an action or list that does not exist (Sympa's web interface probing).
- payment_failed: a failed payment reported by a shop (Magento's CrowdSec extension; card testing).
- login_error: a login flow that failed for a reason other than credentials (Keycloak's expired codes, missing
  cookies); kept, not counted.
"""

from __future__ import annotations

from typing import Any

from store.parsers.webapps.addresses import canonical_ip

MAX_USER = 256
_FAILURE = frozenset({"login_failed", "invalid_user", "lockout", "bruteforce_throttled", "access_denied",
                      "login_error"})
_CATEGORY = {"untrusted_host": "web", "unknown_action": "web", "payment_failed": "application"}


def mark(ev: dict[str, Any], service: str, action: str, ip: str | None, user: str | None = None,
         reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """Set service, action, category, outcome, src_ip (only a valid address) and user on `ev`; return it."""
    ev["service"] = service
    if not ev.get("app"):
        ev["app"] = service
    ev["action"] = action
    ev["category"] = _CATEGORY.get(action, "authentication")
    if action in _FAILURE:
        ev["outcome"] = "failure"
    elif action == "login":
        ev["outcome"] = "success"
    addr = canonical_ip(ip)
    if addr is not None:
        ev["src_ip"] = addr
    if user and len(user) <= MAX_USER:
        ev["user"] = user
    fields = ev.get("fields")
    if not isinstance(fields, dict):
        fields = {}
    if reason:
        fields["reason"] = reason[:200]
    for k, v in extra.items():
        if v is not None:
            fields[k] = v
    if fields:
        ev["fields"] = fields
    return ev
