"""Severity routing in the engine: new alerts go to the playbook router on its own thread; escalations and
review items come back to whoever watches the outbox (console banner + bell, headless log lines).

Low → logged; Medium → a proposal is prepared (auto-run only for reversible playbooks when config allows);
High → manual review queue; Critical → escalation. Nothing here executes a proposal without approval except
the explicitly enabled Medium auto-run path, which the playbooks package guards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.engine import Engine

log = logging.getLogger(__name__)


class ResponseDesk:
    def __init__(self, engine: Engine) -> None:
        from playbooks.chat import PlaybookSession
        from playbooks.config import config_from_sections
        from playbooks.db import PlaybookDb
        from playbooks.executor import ExpiryScheduler
        from playbooks.routing import AlertRouter

        cfg = config_from_sections(engine.config.llm, engine.config.playbooks, sources=engine.config.sources,
                                   read_only=engine.read_only)
        self.session = PlaybookSession(cfg, PlaybookDb.via_writer(engine.writer, engine.store))
        self._outbox = engine.outbox
        self.router = AlertRouter(self.session, self._decided)
        executor = self.session.executor
        if executor is None:
            raise RuntimeError("playbook session has no executor (no store)")
        self.expiry = ExpiryScheduler(executor)
        self.escalations = 0
        self.reviews = 0

    def start(self) -> None:
        self.router.start()
        self.expiry.start()

    def stop(self) -> None:
        self.router.stop()
        self.expiry.stop()
        try:
            self.session.close()
        except Exception:
            log.exception("closing the playbook session failed")

    def on_alerts(self, updates: Sequence[Any]) -> None:
        """Route alerts that are new (first sight of the group) or whose severity rose."""
        fresh = [u.alert_id for u in updates
                 if getattr(u, "new_count", 0) and getattr(u, "new_count", 0) == getattr(u, "count", -1)]
        if fresh:
            self.router.submit(fresh)

    def _decided(self, decision: Any) -> None:
        if decision.escalation:
            self.escalations += 1
            self._outbox.notice(f"ESCALATION: {decision.escalation}")
            log.warning("escalation: %s", decision.escalation)
        elif decision.action == "review":
            self.reviews += 1
            names = ", ".join(p.playbook_id for p in decision.proposals if getattr(p, "playbook_id", None))
            self._outbox.notice(f"review: alert #{decision.alert_id} ({decision.severity})"
                                + (f" — proposed {names}" if names else ""))
