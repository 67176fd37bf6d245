"""Live alert events for the API's `/api/v1/stream`: the engine hands written alerts in on its own threads;
each connected client has a bounded queue. A client that reads too slowly loses the overflow, and its next
message says how many it lost (never a silent gap, never an unbounded queue in the engine).
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Sequence
from typing import Any

from app.api.jsonable import jsonable
from detectors.alerts import AlertSummary, AlertUpdate


class StreamClient:
    """One subscriber: a bounded queue filled from engine threads, drained by the client's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        self.loop = loop
        self.capacity = capacity
        self.wake = asyncio.Event()
        self._items: collections.deque[dict[str, Any]] = collections.deque()
        self._lock = threading.Lock()
        self.dropped = 0  # lost so far, told to the client with its next message
        self.dropped_total = 0
        self.closed = False

    def offer(self, events: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            room = max(0, self.capacity - len(self._items))
            self._items.extend(events[:room])
            lost = len(events) - min(room, len(events))
            self.dropped += lost
            self.dropped_total += lost
        try:
            self.loop.call_soon_threadsafe(self.wake.set)
        except RuntimeError:  # the loop is gone: the server stopped
            self.closed = True

    def take(self) -> tuple[list[dict[str, Any]], int]:
        """(queued events, how many were dropped since the last take)."""
        with self._lock:
            items, self._items = list(self._items), collections.deque()
            dropped, self.dropped = self.dropped, 0
        return items, dropped


class AlertStream:
    """Fans alert events out to the connected clients. `on_alert_updates` is the engine's hook (scorer thread):
    it does nothing when nobody listens, and never blocks."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._clients: set[StreamClient] = set()
        self._lock = threading.Lock()
        self.closing = threading.Event()
        self.published = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> StreamClient:
        client = StreamClient(loop, self.capacity)
        with self._lock:
            self._clients.add(client)
        return client

    def unsubscribe(self, client: StreamClient) -> None:
        with self._lock:
            self._clients.discard(client)

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        if not events:
            return
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.offer(events)
        self.published += len(events)

    def on_alert_updates(self, updates: list[AlertUpdate]) -> None:
        if not self._clients:
            return
        self.publish([alert_event("new" if u.previous_severity is None else "update", u.summary_row())
                      for u in updates])

    def on_status_changes(self, rows: Sequence[AlertSummary]) -> None:
        if self._clients:
            self.publish([alert_event("status", r) for r in rows])

    def close(self) -> None:
        """The server is stopping: every open stream ends at its next wake-up."""
        self.closing.set()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            try:
                client.loop.call_soon_threadsafe(client.wake.set)
            except RuntimeError:
                pass

    def stats(self) -> dict[str, Any]:
        with self._lock:
            clients = list(self._clients)
        return {"clients": len(clients), "published": self.published,
                "dropped": sum(c.dropped_total for c in clients)}


def alert_event(kind: str, summary: AlertSummary) -> dict[str, Any]:
    """kind: new (first written), update (more evidence or a new severity), status (an analyst changed it)."""
    return {"kind": kind, "alert": {k: jsonable(v) for k, v in summary.as_dict().items()}}
