"""Messages that carry engine data into the console: batched per bridge tick, never one per event."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from app.ui.alert_ring import AlertRow, IncidentRow


class EngineReady(Message):
    def __init__(self, engine: Any) -> None:
        super().__init__()
        self.engine = engine


class EngineFailed(Message):
    def __init__(self, error: str, exit_code: int = 1) -> None:
        super().__init__()
        self.error = error
        self.exit_code = exit_code


class AlertsFetched(Message):
    """Current rows for alerts that are new or changed (one message per bridge tick)."""

    def __init__(self, rows: list[AlertRow], initial: bool = False) -> None:
        super().__init__()
        self.rows = rows
        self.initial = initial


class IncidentsFetched(Message):
    """Current rows for incidents that are new or changed (one message per bridge tick)."""

    def __init__(self, rows: list[IncidentRow], initial: bool = False) -> None:
        super().__init__()
        self.rows = rows
        self.initial = initial


class StatusUpdated(Message):
    """Latest engine status; a newer one replaces an unhandled older one."""

    def __init__(self, status: Any, rates: list[float]) -> None:
        super().__init__()
        self.status = status
        self.rates = rates

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusUpdated)


class EngineNotices(Message):
    def __init__(self, notices: list[str]) -> None:
        super().__init__()
        self.notices = notices
