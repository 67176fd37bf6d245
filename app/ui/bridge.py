"""The only place engine data becomes Textual messages: drains the engine outbox on a timer (4 Hz) — typed alert
rows straight from the scorer — and posts one batched message per tick; engine status goes out at 1 Hz. Alerts
the console itself changed (status) are re-read from the store in a thread worker.

Tests call `drain()` directly (and await the returned worker) instead of waiting for the timer.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.timer import Timer
from textual.worker import Worker

from app.ui.messages import AlertsFetched, EngineNotices, IncidentsFetched, StatusUpdated
from app.ui.queries import fetch_alert_rows, fetch_incident_rows, reading, recent_alert_rows, recent_incident_rows

if TYPE_CHECKING:
    from textual.app import App

log = logging.getLogger(__name__)

MAX_IDS_PER_TICK = 2000  # more than this waits for the next tick: a storm cannot stall one frame


class EngineBridge:
    def __init__(self, app: App[Any], engine: Any, *, interval: float = 0.25, status_every: int = 4,
                 status_override: Any = None) -> None:
        self.app = app
        self.engine = engine
        self.interval = interval
        self.status_every = max(1, status_every)
        self.status_override = status_override  # frozen status for snapshots
        self.rates: collections.deque[float] = collections.deque(maxlen=40)
        self._pending: dict[int, None] = {}  # ordered set
        self._lock = threading.Lock()  # a failed fetch re-queues its ids from the worker thread
        self._inflight: Worker[None] | None = None
        self._timer: Timer | None = None
        self._ticks = 0
        self.ticks_drained = 0

    def start(self) -> None:
        self._timer = self.app.set_interval(self.interval, self.drain, name="vigil-bridge")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def drain(self, *, status: bool | None = None) -> Worker[None] | None:
        """One tick: take everything from the outbox; returns the worker re-reading changed alerts, if any."""
        self._ticks += 1
        self.ticks_drained += 1
        rows, notices = self.engine.outbox.drain()
        incidents = self.engine.outbox.drain_incidents() if hasattr(self.engine.outbox, "drain_incidents") else []
        if rows:
            self.app.post_message(AlertsFetched(list(rows)))
        if incidents:
            self.app.post_message(IncidentsFetched(list(incidents)))
        if notices:
            self.app.post_message(EngineNotices(list(notices)))
        if status if status is not None else (self._ticks % self.status_every == 1 or self.status_every == 1):
            self.post_status()
        if self._pending and (self._inflight is None or self._inflight.is_finished):
            with self._lock:
                ids = list(self._pending)[:MAX_IDS_PER_TICK]
                for aid in ids:
                    del self._pending[aid]
            self._inflight = self.app.run_worker(
                lambda: self._fetch(ids), thread=True, group="bridge", exit_on_error=False,
                description=f"read {len(ids)} alerts",
            )
            return self._inflight
        return None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def post_status(self) -> None:
        st = self.status_override
        if st is None:
            try:
                st = self.engine.status()
            except Exception as exc:  # a broken status must not stop the console
                log.warning("engine status failed: %s", exc)
                return
            self.rates.append(float(getattr(st, "events_per_s", 0.0) or 0.0))
        self.app.post_message(StatusUpdated(st, list(self.rates)))

    def _fetch(self, ids: list[int]) -> None:
        try:
            with reading(self.engine.store) as cur:
                rows = fetch_alert_rows(cur, ids)
                incidents = fetch_incident_rows(cur, self._incidents_of(cur, ids))
        except Exception as exc:
            log.warning("reading %d changed alerts failed: %s", len(ids), exc)
            with self._lock:
                for aid in ids:  # try again next tick
                    self._pending.setdefault(aid, None)
            return
        self.app.post_message(AlertsFetched(rows))
        if incidents:
            self.app.post_message(IncidentsFetched(incidents))

    @staticmethod
    def _incidents_of(cur: Any, alert_ids: list[int]) -> list[int]:
        return [int(r[0]) for r in cur.execute(
            "SELECT DISTINCT incident_id FROM incident_alerts WHERE alert_id IN (SELECT unnest(?::BIGINT[]))",
            [alert_ids]).fetchall()]

    def load_recent(self, limit: int) -> Worker[None]:
        """Fill the table from the store at start (alerts raised before this console opened)."""

        def work() -> None:
            with reading(self.engine.store) as cur:
                rows = recent_alert_rows(cur, limit)
                incidents = recent_incident_rows(cur, limit)
            self.app.post_message(IncidentsFetched(incidents, initial=True))
            self.app.post_message(AlertsFetched(rows, initial=True))

        return self.app.run_worker(work, thread=True, group="bridge", exit_on_error=False,
                                   description="load recent alerts")

    def refresh_alerts(self, ids: Iterable[int]) -> None:
        """Re-read these alerts on the next tick (after the console changed their status)."""
        with self._lock:
            for aid in ids:
                self._pending[aid] = None
