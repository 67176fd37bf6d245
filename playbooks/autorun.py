"""Limits on automatic (Medium-tier auto-run) responses: one response per target at a time, at most
`auto_run_limit` automatic executions per `auto_run_window_s`, at most `auto_run_max_active` automatic
responses in force. Beyond them a proposal waits for the analyst, and the reason is returned to be said."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from playbooks.config import PlaybookConfig
from playbooks.db import PlaybookDb
from playbooks.plan import Plan

AUTO_RUN_ACTOR = "system:auto-run"  # the actor recorded on every automatic execution


@dataclass(frozen=True)
class Hold:
    """Why an automatic execution did not happen: `kind` is target (already handled), rate, active or ot_asset."""

    kind: str
    text: str

    def __str__(self) -> str:
        return self.text


def window_text(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def expiry_targets(target_key: str) -> list[str]:
    """The targets in a stored `playbook:t1,t2` key (playbook ids have no colon; IPv6 targets do)."""
    return [t for t in target_key.split(":", 1)[-1].split(",") if t]


class AutoRunGovernor:
    """Admits an automatic execution or says why not. Counts come from the store (executions and pending
    expiries), so a restart does not reset them; targets being worked on right now are held in memory."""

    def __init__(self, config: PlaybookConfig, db: PlaybookDb) -> None:
        self.config = config
        self.db = db
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def admit(self, plan: Plan, now: datetime | None = None) -> Hold | None:
        """None and the plan's targets reserved (call `release` after running), or why it is held back."""
        now = now or datetime.now(UTC)
        with self._lock:
            why = self._why_not(plan, now)
            if why is None:
                self._busy.update(plan.targets)
            return why

    def release(self, plan: Plan) -> None:
        with self._lock:
            self._busy.difference_update(plan.targets)

    def _why_not(self, plan: Plan, now: datetime) -> Hold | None:
        c = self.config
        for target in plan.targets:
            if (why := self._ot_asset(target)) is not None:
                return why
        active = self._active()
        for target in plan.targets:
            if target in self._busy:
                return Hold("target", f"auto response held back: a response for {target} is already running")
            if target in active:
                return Hold("target", f"auto response held back: {target} already has a response in force "
                                      f"({active[target]}); one response per target at a time")
        recent = self._count("SELECT count(*) FROM playbook_executions WHERE kind = 'run' AND actor_id = ? "
                             "AND started_at >= ?", [AUTO_RUN_ACTOR, now - timedelta(seconds=c.auto_run_window_s)])
        if recent >= c.auto_run_limit:
            return Hold("rate", f"auto response held back: cap of {c.auto_run_limit} per "
                                f"{window_text(c.auto_run_window_s)} reached; the proposal waits for the analyst")
        in_force = self._count("SELECT count(*) FROM playbook_expiries x JOIN playbook_executions e "
                               "USING (execution_id) WHERE x.status = 'pending' AND e.actor_id = ?", [AUTO_RUN_ACTOR])
        if in_force >= c.auto_run_max_active:
            return Hold("active", f"auto response held back: {in_force} automatic responses already in force "
                                  f"(cap {c.auto_run_max_active}); the proposal waits for the analyst")
        return None

    def _ot_asset(self, target: str) -> Hold | None:
        """An address the OT asset inventory has seen serving or speaking an industrial protocol is never the target
        of an automatic response (the inventory knows devices [playbooks] protected_assets does not list yet)."""
        from store.inventory.storage import inventoried_within

        cur = self.db.cursor()
        try:
            asset = inventoried_within(cur, target)
        except Exception as exc:  # cannot tell: an OT site must not guess "not a device"
            return Hold("ot_asset", f"auto response held back: could not check {target} against the OT asset "
                                    f"inventory ({type(exc).__name__}); the proposal waits for the analyst")
        finally:
            cur.close()
        if asset is None:
            return None
        what = target if asset == target else f"{target} (holds OT asset {asset})"
        return Hold("ot_asset", f"auto response held back: {what} is in the OT asset inventory; OT assets are never "
                                "targeted automatically — the proposal waits for the analyst")

    def _active(self) -> dict[str, str]:
        """Target → the playbook whose response is in force for it (a pending expiry), whoever started it."""
        cur = self.db.cursor()
        try:
            rows = cur.execute("SELECT playbook_id, target_key, due_at FROM playbook_expiries "
                               "WHERE status = 'pending'").fetchall()
        finally:
            cur.close()
        out: dict[str, str] = {}
        for playbook_id, key, due in rows:
            for target in expiry_targets(str(key)):
                out[target] = f"{playbook_id} until {_iso(due)}"
        return out

    def _count(self, sql: str, params: list[Any]) -> int:
        cur = self.db.cursor()
        try:
            row = cur.execute(sql, params).fetchone()
        finally:
            cur.close()
        return int(row[0]) if row else 0


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
