"""Detections become alerts here: one record per (detector, rule, entity) incident, grouped over a window,
with capped evidence, max severity, a readable why, and the analyst-owned status lifecycle.

`ModelHit` and `AnomalyModel` are the contract the models package implements; rules and Sigma produce `Hit`s.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa

from store.schema import ALERT_STATUSES, SEVERITIES, severity_rank

# Rules and Sigma have no probability; a fixed score per severity keeps the `score` column comparable.
SEVERITY_SCORE: dict[str, float] = {"low": 0.25, "medium": 0.5, "high": 0.75, "critical": 1.0}
CLOSED_STATUSES: frozenset[str] = frozenset({"resolved", "false_positive"})
# Analyst transitions: new → acknowledged → resolved | false_positive (closing straight from new is fine).
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledged", "resolved", "false_positive"}),
    "acknowledged": frozenset({"resolved", "false_positive"}),
    "resolved": frozenset(),
    "false_positive": frozenset(),
}


class AlertStatusError(ValueError):
    """A status change that the lifecycle does not allow; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One detection from any detector: what fired, on which entity, citing which events."""

    detector: str  # "rule" | "sigma" | "model:<family>"
    rule_id: str
    entity: str  # "src_ip=203.0.113.7", "host=web1", "user=root"
    severity: str  # low | medium | high | critical
    title: str
    why: str
    event_ids: tuple[int, ...]
    ts: datetime  # event time of the latest cited event
    first_ts: datetime | None = None  # event time of the earliest cited event (defaults to ts)
    score: float | None = None
    host: str | None = None
    category: str | None = None
    model_version: str | None = None
    join_ts: datetime | None = None  # when a merged run of matches began: decides joining an open alert
    seq: int = 0  # event id that first triggered it: alerts are created in this order, however events are batched


@dataclass(frozen=True, slots=True)
class ModelHit:
    """What an anomaly model reports for one scored row (or a group of rows of one entity)."""

    event_ids: tuple[int, ...]
    entity: str
    score: float
    severity: str  # from the model's score percentiles
    detector: str  # "model:<family>"
    why: str  # which features drove the score and how rare the template is
    model_version: str
    title: str | None = None
    ts: datetime | None = None  # if None the scorer takes the cited events' time from the batch
    host: str | None = None
    category: str | None = None


class AnomalyModel(Protocol):
    """Implemented by the models package; the scorer calls it once per batch."""

    def score(self, batch: pa.RecordBatch) -> list[ModelHit]: ...


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """An alert as a list shows it (no evidence ids): what the engine hands to the console and to scripts."""

    alert_id: int
    created_at: datetime | None
    first_seen: datetime | None
    last_seen: datetime | None
    detector: str
    rule_id: str | None
    entity: str | None
    score: float | None
    severity: str
    title: str | None
    summary: str | None
    count: int
    status: str
    status_by: str | None
    status_at: datetime | None
    host: str | None
    category: str | None

    COLUMNS = (
        "alert_id", "created_at", "first_seen", "last_seen", "detector", "rule_id", "entity", "score", "severity",
        "title", "summary", "count", "status", "status_by", "status_at", "host", "category",
    )

    @classmethod
    def from_record(cls, rec: tuple[Any, ...]) -> AlertSummary:
        d = dict(zip(cls.COLUMNS, rec, strict=True))
        d["alert_id"] = int(d["alert_id"])
        d["count"] = int(d["count"] or 0)
        d["detector"] = d["detector"] or ""
        d["severity"] = (d["severity"] or "low").lower()
        d["status"] = d["status"] or "new"
        return cls(**d)

    def as_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in self.COLUMNS}


@dataclass(slots=True)
class AlertUpdate:
    """The current state of one alert after a batch, ready to upsert; `new_*` is what this batch added."""

    alert_id: int
    created_at: datetime
    first_seen: datetime
    last_seen: datetime
    detector: str
    rule_id: str
    entity: str
    score: float
    severity: str
    title: str
    summary: str
    event_ids: list[int]
    count: int
    model_version: str | None
    why: str
    host: str | None
    category: str | None
    new_event_ids: list[int] = field(default_factory=list)
    new_count: int = 0
    new_first_seen: datetime | None = None
    previous_severity: str | None = None  # the severity before this batch (None: the alert is new)
    status: str = "new"  # analyst-owned; read back from the store when the update is written
    status_by: str | None = None
    status_at: datetime | None = None

    UPSERT_COLUMNS = (
        "alert_id", "created_at", "first_seen", "last_seen", "detector", "rule_id", "entity", "score",
        "severity", "title", "summary", "event_ids", "count", "model_version", "why", "host", "category",
    )

    def row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in self.UPSERT_COLUMNS)

    def summary_row(self) -> AlertSummary:
        return AlertSummary(
            alert_id=self.alert_id, created_at=self.created_at, first_seen=self.first_seen, last_seen=self.last_seen,
            detector=self.detector, rule_id=self.rule_id, entity=self.entity, score=self.score,
            severity=self.severity, title=self.title, summary=self.summary, count=self.count, status=self.status,
            status_by=self.status_by, status_at=self.status_at, host=self.host, category=self.category,
        )


@dataclass(slots=True)
class AlertGroup:
    """Open incident state for one (detector, rule_id, entity)."""

    alert_id: int
    created_at: datetime
    first_seen: datetime
    last_seen: datetime
    detector: str
    rule_id: str
    entity: str
    severity: str
    score: float
    title: str
    why: str
    host: str | None
    category: str | None
    model_version: str | None
    count: int = 0
    first_ids: list[int] = field(default_factory=list)
    latest_ids: deque[int] = field(default_factory=deque)
    new_ids: list[int] = field(default_factory=list)
    new_count: int = 0
    new_first: datetime | None = None
    reported_severity: str | None = None  # the severity last handed out in an update (None: never)

    def evidence(self) -> list[int]:
        return self.first_ids + list(self.latest_ids)

    def summary(self) -> str:
        span = self.last_seen - self.first_seen
        mins = span.total_seconds() / 60
        when = f"over {mins:.0f} min" if mins >= 1 else f"over {span.total_seconds():.0f} s"
        return f"{self.title}: {self.count} event(s) for {self.entity} {when} (severity {self.severity})"


class AlertGrouper:
    """Folds hits into grouped alerts. Bounded: idle groups are dropped after the window, and at most
    `max_open` groups are kept (oldest dropped first). A closed alert is never extended again."""

    def __init__(self, window: timedelta = timedelta(minutes=10), evidence_cap: int = 200,
                 max_open: int = 50_000, next_id: int = 1) -> None:
        self.window = window
        self.half_cap = max(1, evidence_cap // 2)
        self.max_open = max_open
        self.next_id = next_id
        self._open: dict[tuple[str, str, str], AlertGroup] = {}
        self._by_id: dict[int, tuple[str, str, str]] = {}
        self._dirty: dict[int, AlertGroup] = {}

    def __len__(self) -> int:
        return len(self._open)

    def add(self, hit: Hit, now: datetime | None = None) -> AlertGroup:
        key = (hit.detector, hit.rule_id, hit.entity)
        first = hit.first_ts or hit.ts
        group = self._open.get(key)
        too_late = group is not None and (hit.join_ts or hit.ts) - group.last_seen > self.window
        too_early = group is not None and group.first_seen - first > self.window
        if group is not None and (too_late or too_early):
            self._drop(key)
            group = None
        if group is None:
            group = self._start(key, hit, first, now)
        if first < group.first_seen:
            group.first_seen = first
        if hit.ts > group.last_seen:
            group.last_seen = hit.ts
        if severity_rank(hit.severity) > severity_rank(group.severity):
            group.severity = hit.severity
        score = hit.score if hit.score is not None else SEVERITY_SCORE.get(hit.severity, 0.0)
        if score > group.score:
            group.score = score
            group.model_version = hit.model_version or group.model_version
        group.why = hit.why
        group.title = hit.title
        group.host = group.host or hit.host
        group.category = group.category or hit.category
        for eid in hit.event_ids:
            if len(group.first_ids) < self.half_cap:
                group.first_ids.append(eid)
            else:
                group.latest_ids.append(eid)
        group.count += len(hit.event_ids) or 1
        group.new_count += len(hit.event_ids) or 1
        group.new_ids.extend(hit.event_ids)
        if group.new_first is None or first < group.new_first:
            group.new_first = first
        self._dirty[group.alert_id] = group
        return group

    def _start(self, key: tuple[str, str, str], hit: Hit, first: datetime,
               now: datetime | None) -> AlertGroup:
        if len(self._open) >= self.max_open:
            oldest = min(self._open, key=lambda k: self._open[k].last_seen)
            self._drop(oldest)
        group = AlertGroup(
            alert_id=self.next_id, created_at=now or datetime.now(UTC), first_seen=first, last_seen=hit.ts,
            detector=hit.detector, rule_id=hit.rule_id, entity=hit.entity, severity=hit.severity,
            score=0.0, title=hit.title, why=hit.why, host=hit.host, category=hit.category,
            model_version=hit.model_version, latest_ids=deque(maxlen=self.half_cap),
        )
        self.next_id += 1
        self._open[key] = group
        self._by_id[group.alert_id] = key
        return group

    def _drop(self, key: tuple[str, str, str]) -> None:
        group = self._open.pop(key, None)
        if group is not None:
            self._by_id.pop(group.alert_id, None)

    def close(self, alert_id: int) -> bool:
        """Stop extending this alert (resolved / false positive): the next hit starts a new one."""
        key = self._by_id.get(alert_id)
        if key is None:
            return False
        self._drop(key)
        return True

    def is_open(self, alert_id: int) -> bool:
        return alert_id in self._by_id

    def open_groups(self) -> list[AlertGroup]:
        return list(self._open.values())

    def open_since(self, detector: str, rule_id: str, entity: str) -> datetime | None:
        """When the open alert for this key began (event time), or None if there is none."""
        group = self._open.get((detector, rule_id, entity))
        return None if group is None else group.first_seen

    def evict_idle(self, now: datetime) -> int:
        """Forget groups whose last event is more than a window before `now` (event time)."""
        stale = [k for k, g in self._open.items() if now - g.last_seen > self.window]
        for k in stale:
            self._drop(k)
        return len(stale)

    def restore(self, group: AlertGroup) -> None:
        key = (group.detector, group.rule_id, group.entity)
        self._open[key] = group
        self._by_id[group.alert_id] = key
        self.next_id = max(self.next_id, group.alert_id + 1)

    def take_updates(self) -> list[AlertUpdate]:
        """Alerts changed since the last call, in alert-id order."""
        out = []
        for aid in sorted(self._dirty):
            g = self._dirty[aid]
            out.append(AlertUpdate(
                alert_id=g.alert_id, created_at=g.created_at, first_seen=g.first_seen, last_seen=g.last_seen,
                detector=g.detector, rule_id=g.rule_id, entity=g.entity, score=g.score, severity=g.severity,
                title=g.title, summary=g.summary(), event_ids=g.evidence(), count=g.count,
                model_version=g.model_version, why=g.why, host=g.host, category=g.category,
                new_event_ids=list(g.new_ids), new_count=g.new_count, new_first_seen=g.new_first,
                previous_severity=g.reported_severity,
            ))
            g.reported_severity = g.severity
            g.new_ids.clear()
            g.new_count = 0
            g.new_first = None
        self._dirty.clear()
        return out


def check_transition(current: str, target: str) -> None:
    if target not in ALERT_STATUSES:
        raise AlertStatusError(f"unknown alert status {target!r}; use one of {', '.join(ALERT_STATUSES)}")
    if target == current:
        return
    if target not in STATUS_TRANSITIONS.get(current, frozenset()):
        raise AlertStatusError(
            f"cannot change an alert from {current!r} to {target!r}: the lifecycle is "
            "new → acknowledged → resolved | false_positive, and closed alerts stay closed"
        )


def validate_severity(name: str) -> str:
    if name not in SEVERITIES:
        raise ValueError(f"unknown severity {name!r}; use one of {', '.join(SEVERITIES)}")
    return name
