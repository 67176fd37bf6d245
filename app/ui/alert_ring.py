"""The live row lists behind the console's tables: one row per id, updates replace the row in place, and the
oldest rows fall out once the ring is full (memory stays flat however long the console runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from detectors.alerts import AlertSummary
from detectors.incidents import IncidentSummary

# A table row is the engine's typed summary (evidence ids stay in the store).
AlertRow = AlertSummary
IncidentRow = IncidentSummary
ROW_COLUMNS: tuple[str, ...] = AlertSummary.COLUMNS

R = TypeVar("R")


class Ring(Generic[R]):
    """Ordered by first arrival. Index lookups are O(1); eviction trims the front in one slice per batch."""

    def __init__(self, capacity: int, key: Callable[[R], int]) -> None:
        self.capacity = max(1, capacity)
        self.key = key
        self._order: list[int] = []  # row ids, oldest first
        self._rows: dict[int, R] = {}
        self._seq: dict[int, int] = {}  # row id -> absolute arrival number
        self._base = 0  # absolute arrival number of _order[0]
        self.version: dict[int, int] = {}  # bumps on every replace (render caches key on it)
        self.evicted_total = 0

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._rows

    def __iter__(self) -> Iterator[R]:
        return (self._rows[i] for i in self._order)

    def get(self, row_id: int) -> R | None:
        return self._rows.get(row_id)

    def at(self, index: int) -> R:
        return self._rows[self._order[index]]

    def index_of(self, row_id: int) -> int | None:
        seq = self._seq.get(row_id)
        return None if seq is None else seq - self._base

    def arrival(self, row_id: int) -> int:
        return self._seq.get(row_id, 0)

    def upsert(self, rows: Iterable[R]) -> tuple[int, int, int]:
        """Add or replace rows; returns (added, replaced, evicted)."""
        added = replaced = 0
        for row in rows:
            rid = self.key(row)
            if rid in self._rows:
                replaced += 1
            else:
                self._seq[rid] = self._base + len(self._order)
                self._order.append(rid)
                added += 1
            self._rows[rid] = row
            self.version[rid] = self.version.get(rid, 0) + 1
        evicted = len(self._order) - self.capacity
        if evicted > 0:
            for rid in self._order[:evicted]:
                del self._rows[rid], self._seq[rid], self.version[rid]
            del self._order[:evicted]
            self._base += evicted
            self.evicted_total += evicted
        return added, replaced, max(0, evicted)


class AlertRing(Ring[AlertSummary]):
    def __init__(self, capacity: int = 10000) -> None:
        super().__init__(capacity, _alert_id)


class IncidentRing(Ring[IncidentSummary]):
    def __init__(self, capacity: int = 10000) -> None:
        super().__init__(capacity, _incident_id)


def _alert_id(row: Any) -> int:
    return int(row.alert_id)


def _incident_id(row: Any) -> int:
    return int(row.incident_id)
