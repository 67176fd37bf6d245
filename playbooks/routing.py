"""Severity routing of new alerts: Low is logged; Medium gets a prepared proposal (auto-run only for
reversible, auto-allowed playbooks when configured, never on protected OT assets); High goes to the manual
review queue; Critical escalates (notify proposal + a banner/bell event)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from playbooks.autorun import Hold
from playbooks.catalog import Catalog
from playbooks.config import PlaybookConfig
from playbooks.evidence import AlertContext
from playbooks.offline import suggest
from playbooks.proposals import ProposalOutcome, ProposalValidator

log = logging.getLogger(__name__)


@dataclass
class RoutingDecision:
    alert_id: int
    severity: str
    action: str  # log | prepare | auto_run | review | escalate
    proposals: list[ProposalOutcome] = field(default_factory=list)
    escalation: str | None = None  # banner text for the UI (and ring the bell)
    note: str = ""
    held: Hold | None = None  # why an auto-run was held back for the analyst (said on screen and audited)


def route_alert(alert: AlertContext, catalog: Catalog, validator: ProposalValidator,
                config: PlaybookConfig) -> RoutingDecision:
    sev = alert.severity
    if sev == "low":
        return RoutingDecision(alert.alert_id, sev, "log", note="low severity: logged only")
    outcomes = [validator.validate(p, alert, "rules") for p in suggest(catalog, alert)]
    if sev == "medium":
        auto = next((o for o in outcomes if o.accepted and o.plan and _auto_ok(o, catalog, config)), None)
        if auto is not None:
            return RoutingDecision(alert.alert_id, sev, "auto_run", outcomes,
                                   note=f"auto-run {auto.playbook_id} (reversible, time-boxed, enabled in config)")
        why = ("auto-run disabled in config" if not config.auto_run_medium else
               "read-only mode" if config.read_only else "no reversible auto-allowed playbook fits")
        return RoutingDecision(alert.alert_id, sev, "prepare", outcomes, note=f"proposal prepared; {why}")
    if sev == "high":
        return RoutingDecision(alert.alert_id, sev, "review", outcomes, note="queued for manual review")
    notify = [o for o in outcomes if (catalog.get(o.playbook_id or "") or _NoKind).kind == "notify"]
    banner = (f"CRITICAL alert {alert.alert_id}: {alert.alert.get('title') or alert.alert.get('rule_id')} "
              f"({alert.alert.get('entity') or 'no entity'})")
    return RoutingDecision(alert.alert_id, sev, "escalate", notify + [o for o in outcomes if o not in notify],
                           escalation=banner, note="escalated")


class _NoKind:
    kind = ""


def _auto_ok(o: ProposalOutcome, catalog: Catalog, config: PlaybookConfig) -> bool:
    pb = catalog.get(o.playbook_id or "")
    return bool(pb and config.auto_run_medium and not config.read_only and pb.auto_allowed
                and pb.risk.reversible and o.plan is not None and o.plan.expiry_s and not o.plan.ot_target
                and o.source in ("rules", "offline_rules"))


class AlertRouter:
    """Routes new alerts on its own thread (never the writer or scorer thread): the engine `submit`s alert
    ids, decisions go to `on_decision` (e.g. the engine outbox → UI banner/bell for escalations)."""

    def __init__(self, session: Any, on_decision: Callable[[RoutingDecision], None], poll_s: float = 0.2) -> None:
        self.session = session  # a playbooks.chat.PlaybookSession
        self.on_decision = on_decision
        self.poll_s = poll_s
        self._queue: queue.Queue[int] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0  # alerts that could not be routed: shown in the status bar and `vigil doctor`
        self.last_error: str | None = None
        self.submitted = 0
        self.routed = 0  # handled (decided or failed): routed == submitted when the router is idle

    def submit(self, alert_ids: Iterable[int]) -> None:
        for alert_id in alert_ids:
            self.submitted += 1
            self._queue.put(int(alert_id))

    def start(self) -> AlertRouter:
        self._thread = threading.Thread(target=self._loop, name="playbook-router", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                alert_id = self._queue.get(timeout=self.poll_s)
            except queue.Empty:
                continue
            try:
                decision = self.session.route(alert_id)
                if decision is not None:
                    self.on_decision(decision)
            except Exception as exc:  # one bad alert must not stop routing; counted and shown with its error
                self.errors += 1
                self.last_error = f"alert #{alert_id}: {type(exc).__name__}: {exc}"[:500]
                log.warning("routing failed: %s", self.last_error)
            finally:
                self.routed += 1

    def status(self) -> dict[str, Any]:
        return {"submitted": self.submitted, "routed": self.routed, "errors": self.errors,
                "last_error": self.last_error}
