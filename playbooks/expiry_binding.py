"""Binds a persisted expiry (a rollback the scheduler runs later, as root, without asking) to the approved plan
that scheduled it: a row in `playbook_expiries` runs only if the audit log shows that plan approved, executed
with this very expiry scheduled, and the same rollback steps (by digest); otherwise it is refused.

A row planted in the table (say through SQL) therefore cannot choose what runs: it would need a matching
approval and execution in the hash-chained audit log, whose tail is anchored outside the database.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from playbooks.plan import RenderedStep, canonical_json


def rollback_digest(steps: list[RenderedStep] | str) -> str:
    """sha256 of the rollback steps as persisted (full form, stdin included)."""
    data = json.loads(steps) if isinstance(steps, str) else [s.to_json() for s in steps]
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def expiry_audit(expiry_id: str, due_at: Any, steps: list[RenderedStep]) -> dict[str, Any]:
    """What the `executed` audit record says about the expiry it scheduled (checked by `refusal`)."""
    return {"expiry_id": expiry_id, "due_at": str(due_at), "rollback_sha256": rollback_digest(steps)}


def refusal(cur: Any, item: dict[str, Any]) -> str | None:
    """Why this pending expiry must not run, or None when an approved, executed plan scheduled it exactly."""
    plan_hash = item.get("plan_hash")
    if not plan_hash:
        return "the expiry carries no plan hash"
    approved = cur.execute("SELECT count(*) FROM audit_log WHERE kind = 'approved' AND plan_hash = ?",
                           [plan_hash]).fetchone()
    if not approved or not approved[0]:
        return "no approval of this plan hash in the audit log"
    records = cur.execute("SELECT record FROM audit_log WHERE kind = 'executed' AND plan_hash = ?",
                          [plan_hash]).fetchall()
    scheduled = None
    for (text,) in records:
        data = (json.loads(text).get("data") or {})
        expiry = data.get("expiry") or {}
        if data.get("execution_id") == item.get("execution_id") and expiry.get("expiry_id") == item.get("expiry_id"):
            scheduled = expiry
            break
    if scheduled is None:
        return "no audited execution of the approved plan scheduled this expiry"
    try:
        digest = rollback_digest(str(item.get("rollback")))
    except ValueError:
        return "the stored rollback steps are not valid JSON"
    if digest != scheduled.get("rollback_sha256"):
        return "the stored rollback steps differ from the approved plan's"
    ran = cur.execute("SELECT count(*) FROM audit_log WHERE kind = 'expired_rollback' AND plan_hash = ? "
                      "AND json_extract_string(record, '$.data.reason') = ?",
                      [plan_hash, expiry_reason(item)]).fetchone()
    if ran and ran[0]:
        return "this expiry already ran"
    return None


def expiry_reason(item: dict[str, Any]) -> str:
    """The reason an expiry's rollback is audited with (also how a second run of it is recognised)."""
    return f"expiry {item['expiry_id']} of {item['execution_id']}"
