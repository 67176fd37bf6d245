"""The live alert list behind the console's table: one row per alert id, updates replace the row in place,
and the oldest rows fall out once the ring is full (memory stays flat however long the console runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from detectors.alerts import AlertSummary

# A table row is the engine's typed alert summary (evidence ids stay in the store).
AlertRow = AlertSummary
ROW_COLUMNS: tuple[str, ...] = AlertSummary.COLUMNS


class AlertRing:
    """Ordered by first arrival. Index lookups are O(1); eviction trims the front in one slice per batch."""

    def __init__(self, capacity: int = 10000) -> None:
        self.capacity = max(1, capacity)
        self._order: list[int] = []  # alert ids, oldest first
        self._rows: dict[int, AlertRow] = {}
        self._seq: dict[int, int] = {}  # alert id -> absolute arrival number
        self._base = 0  # absolute arrival number of _order[0]
        self.version: dict[int, int] = {}  # bumps on every replace (render caches key on it)
        self.evicted_total = 0

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._rows

    def __iter__(self) -> Iterator[AlertRow]:
        return (self._rows[i] for i in self._order)

    def get(self, alert_id: int) -> AlertRow | None:
        return self._rows.get(alert_id)

    def at(self, index: int) -> AlertRow:
        return self._rows[self._order[index]]

    def index_of(self, alert_id: int) -> int | None:
        seq = self._seq.get(alert_id)
        return None if seq is None else seq - self._base

    def upsert(self, rows: Iterable[AlertRow]) -> tuple[int, int, int]:
        """Add or replace rows; returns (added, replaced, evicted)."""
        added = replaced = 0
        for row in rows:
            aid = row.alert_id
            if aid in self._rows:
                replaced += 1
            else:
                self._seq[aid] = self._base + len(self._order)
                self._order.append(aid)
                added += 1
            self._rows[aid] = row
            self.version[aid] = self.version.get(aid, 0) + 1
        evicted = len(self._order) - self.capacity
        if evicted > 0:
            for aid in self._order[:evicted]:
                del self._rows[aid], self._seq[aid], self.version[aid]
            del self._order[:evicted]
            self._base += evicted
            self.evicted_total += evicted
        return added, replaced, max(0, evicted)
