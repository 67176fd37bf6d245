"""Event ids: one monotonic sequence for every producer (the line pipeline, the NATS consumer), and the horizon
below which every id is settled (committed, or abandoned for good).

Consumers of the store — the scorer — read events in id order and must never step past an id that may still
commit: a batch can commit after a later-numbered one (the NATS consumer reserves ids inside its own writer
transaction). The horizon is the highest id such that no lower id is still in flight.
"""

from __future__ import annotations

import threading


class EventIdAllocator:
    def __init__(self, next_id: int = 1) -> None:
        self._next = next_id
        self._inflight: dict[int, int] = {}  # first id → count
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)

    def reserve(self, n: int) -> int:
        """Hand out `n` consecutive ids (in flight until `settle`d). Returns the first."""
        with self._lock:
            first = self._next
            self._next += n
            if n > 0:
                self._inflight[first] = n
            return first

    def settle(self, first: int, n: int = 0) -> None:
        """The ids from `first` are committed, or will never be (a failed or abandoned batch)."""
        with self._lock:
            self._inflight.pop(first, None)
            self._settled.notify_all()

    def horizon(self) -> int:
        """Every id at or below this is committed or abandoned; nothing lower can appear later."""
        with self._lock:
            if self._inflight:
                return min(self._inflight) - 1
            return self._next - 1

    @property
    def next_id(self) -> int:
        with self._lock:
            return self._next

    def wait_settled(self, above: int, timeout: float) -> bool:
        """Block until the horizon passes `above` (or `timeout`); True if it did."""
        with self._lock:
            def ready() -> bool:
                return (min(self._inflight) - 1 if self._inflight else self._next - 1) > above
            return self._settled.wait_for(ready, timeout)
