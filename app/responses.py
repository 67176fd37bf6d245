"""Severity routing in the engine: new alerts go to the playbook router on its own thread; escalations and
review items come back to whoever watches the outbox (console banner + bell, headless log lines).

Low → logged; Medium → a proposal is prepared (auto-run only for reversible playbooks when config allows);
High → manual review queue; Critical → escalation. Nothing here executes a proposal without approval except
the explicitly enabled Medium auto-run path, which the playbooks package guards and limits (one response per
target at a time, a rate cap, a cap on responses in force); when a limit holds one back it is said here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from store.schema import severity_rank

if TYPE_CHECKING:
    from app.engine import Outbox

log = logging.getLogger(__name__)


HELD_NOTICE_EVERY_S = 30.0  # a flood of alerts must not become a flood of identical notices


def _first_sight(update: Any) -> bool:
    new = getattr(update, "new_count", 0)
    return bool(new) and new == getattr(update, "count", -1)


def _rose(update: Any) -> bool:
    """The severity is higher than before this batch (None before: the alert is new, handled as first sight)."""
    before = getattr(update, "previous_severity", None)
    return before is not None and severity_rank(getattr(update, "severity", None)) > severity_rank(before)


class ResponseDesk:
    """Built by the engine's composition root; `session` is the playbook session it routes through."""

    def __init__(self, session: Any, outbox: Outbox) -> None:
        from playbooks.executor import ExpiryScheduler
        from playbooks.routing import AlertRouter

        self.session = session
        self._outbox = outbox
        self.router = AlertRouter(self.session, self._decided)
        executor = self.session.executor
        if executor is None:
            raise RuntimeError("playbook session has no executor (no store)")
        self.expiry = ExpiryScheduler(executor)
        # Called with each routing decision (the engine's incident book keeps the proposal as the incident's
        # response); `label_of(alert_id)` names what a notice is about (the incident, when there is one).
        self.decided: list[Any] = []
        self.label_of: Any = lambda alert_id: f"alert #{alert_id}"
        self.escalations = 0
        self.reviews = 0
        self.held = 0
        self._held_said: dict[str, tuple[float, int]] = {}  # kind of hold -> (last said, held since)

    def start(self) -> None:
        self.router.start()
        self.expiry.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Both threads may be running a playbook step (which has its own timeout): wait for them, up to
        `timeout` each, so none is left reading the store after it closes."""
        self.router.stop(timeout)
        self.expiry.stop(timeout)
        try:
            self.session.close()
        except Exception:
            log.exception("closing the playbook session failed")

    def on_alerts(self, updates: Sequence[Any]) -> None:
        """Route alerts that are new (first sight of the group) or whose severity rose in this batch: a medium
        brute force that grows to high must reach the review queue, not stay a prepared proposal."""
        due = [u.alert_id for u in updates if _first_sight(u) or _rose(u)]
        if due:
            self.router.submit(due)

    def _decided(self, decision: Any) -> None:
        for cb in self.decided:
            try:
                cb(decision)
            except Exception:
                log.exception("a routing decision consumer failed")
        if decision.escalation:
            self.escalations += 1
            self._outbox.notice(f"ESCALATION: {decision.escalation}")
            log.warning("escalation: %s", decision.escalation)
        elif decision.action == "review":
            self.reviews += 1
            # Only what passed validation is a proposal; rejected candidates are not news for the analyst.
            names = ", ".join(p.playbook_id for p in decision.proposals
                              if getattr(p, "playbook_id", None) and getattr(p, "accepted", False))
            self._outbox.notice(f"review: {self.label_of(decision.alert_id)} ({decision.severity})"
                                + (f" — proposed {names}" if names else " — no playbook applies"))
        if decision.held:
            self._say_held(decision.alert_id, decision.held)

    def _say_held(self, alert_id: int, hold: Any) -> None:
        """Caps are said on screen and in the log (each hold is in the audit log); repeats of the same kind
        of hold are folded into one line every HELD_NOTICE_EVERY_S."""
        self.held += 1
        reason, kind = hold.text, hold.kind
        if kind == "target":
            log.info("alert #%s: %s", alert_id, reason)  # the target is already handled: not news
            return
        now = time.monotonic()
        last, folded = self._held_said.get(kind, (float("-inf"), 0))
        if now - last < HELD_NOTICE_EVERY_S:
            self._held_said[kind] = (last, folded + 1)
            return
        more = f" (+{folded} more held since)" if folded else ""
        self._held_said[kind] = (now, 0)
        self._outbox.notice(f"alert #{alert_id}: {reason}{more}")
        log.warning("alert #%s: %s%s", alert_id, reason, more)
