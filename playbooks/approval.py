"""Approvals: an analyst's yes bound to the sha256 of one exact plan, valid until it expires.

A changed parameter renders a new plan with a new hash, so an old approval cannot be reused for it.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from playbooks.plan import Plan


class ApprovalError(Exception):
    """An approval that cannot authorise this plan (expired, wrong plan, missing confirmation)."""


class ApprovalExpired(ApprovalError):
    pass


@dataclass(frozen=True)
class Approval:
    approval_id: str
    proposal_id: str
    plan_hash: str
    actor_type: str  # human | system (Medium-tier auto-run)
    actor: dict[str, Any]
    approved_at: datetime
    expires_at: datetime
    note: str = ""

    def check(self, plan: Plan, now: datetime | None = None) -> None:
        """Raise ApprovalError unless this approval authorises exactly `plan`, now."""
        now = now or datetime.now(UTC)
        if not hmac.compare_digest(self.plan_hash, plan.hash):
            raise ApprovalError("approval is for a different plan (parameters or playbook changed); approve again")
        if now >= self.expires_at:
            raise ApprovalExpired(f"approval expired at {self.expires_at.isoformat(timespec='seconds')}")


@dataclass
class ApprovalRequest:
    """A plan waiting for a decision; it expires after the playbook's ttl (recorded as system 'expired')."""

    proposal_id: str
    plan: Plan
    ttl_s: int
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def expires_at(self) -> datetime:
        return self.created_at + timedelta(seconds=self.ttl_s)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires_at

    def approve(self, actor: dict[str, Any], confirmation: str | None = None, note: str = "",
                actor_type: str = "human", now: datetime | None = None) -> Approval:
        now = now or datetime.now(UTC)
        if self.expired(now):
            raise ApprovalExpired("the approval window has closed; the request expired")
        need = self.plan.confirmation_text
        if need is not None and actor_type == "human" and (confirmation or "").strip() != need:
            raise ApprovalError(f"typed confirmation required: type {need!r} to approve")
        # The approval stays valid for the rest of the request's window, at most.
        return Approval(uuid.uuid4().hex[:16], self.proposal_id, self.plan.hash, actor_type, actor, now,
                        self.expires_at, note)
