"""The live alert list: one row per alert (severity, last seen, status, count, entity, title, detector), on the
shared live table (`table_view.LiveTable`: tail, pause, sort, `/` filter, Line-API rendering)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from app.ui.alert_ring import AlertRing, AlertRow
from app.ui.table_view import (
    SEV_LABEL,
    STATUS_LABEL,
    LiveTable,
    cell,
    fmt_when,
    tail_label,
    when_width,
)
from app.ui.text import clean
from app.ui.themes import severity_style

__all__ = ["AlertHeader", "AlertTable", "Columns", "header_text", "row_text", "tail_label"]


@dataclass(frozen=True)
class Columns:
    """Cell widths for a given terminal width; the title takes what is left."""

    entity: int
    title: int
    detector: int
    when: int

    @classmethod
    def for_width(cls, width: int, dated: bool = False) -> Columns:
        when = when_width(dated)
        fixed = 1 + 9 + when + 4 + 8  # mark, severity, time, status, count (each with a separator)
        detector = 16 if width >= 110 else 0
        rest = max(10, width - fixed - detector)
        entity = min(26, max(20, rest // 3))
        return cls(entity=entity, title=max(4, rest - entity - 1), detector=detector, when=when)


def header_text(width: int, dated: bool = False, sort: str = "last_seen", descending: bool = False) -> Text:
    c = Columns.for_width(width, dated)
    arrow = "▼" if descending else "▲"
    sev = ("SEVERITY" + (arrow if sort == "severity" else "")).ljust(9)
    when = ("LAST SEEN" if dated else "TIME") + (arrow if sort == "last_seen" else "")
    count = ("COUNT" + (arrow if sort == "count" else "")).rjust(7) + " "
    parts = [" ", sev, when.ljust(c.when), "ST  ", count, cell("ENTITY", c.entity), " ", cell("TITLE", c.title)]
    if c.detector:
        parts += [" ", cell("DETECTOR", c.detector - 1)]
    return Text("".join(parts), style="bold", no_wrap=True, end="")


def row_text(row: AlertRow, width: int, theme: str, marked: bool, dated: bool = False) -> Text:
    c = Columns.for_width(width, dated)
    t = Text(no_wrap=True, end="")
    t.append("●" if marked else " ", style="bold")
    label = SEV_LABEL.get(row.severity, clean(row.severity, 8).upper())
    t.append(label.ljust(8), style=severity_style(theme, row.severity))
    t.append(" ")
    t.append(fmt_when(row.last_seen or row.created_at, dated).ljust(c.when))
    closed = row.status in ("resolved", "false_positive")
    t.append(STATUS_LABEL.get(row.status, row.status[:3]).ljust(4), style="dim" if closed else "")
    t.append(f"{row.count:>7,} "[-8:])
    t.append(cell(row.entity or row.host or "-", c.entity))
    t.append(" ")
    t.append(cell(row.title or row.rule_id or row.detector, c.title), style="dim" if closed else "")
    if c.detector:
        t.append(" ")
        t.append(cell(row.detector + (f"/{row.rule_id}" if row.rule_id else ""), c.detector - 1), style="dim")
    return t


class AlertHeader(Static):
    """Column titles above a table, laid out with the same widths as its rows."""

    def __init__(self, table_id: str = "alerts", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table_id = table_id

    def render(self) -> Text:
        table = self.screen.query_one(f"#{self.table_id}", LiveTable)
        return table.header_text(self.size.width or 80)


class AlertTable(LiveTable):
    NOUN: ClassVar[str] = "alerts"

    def __init__(self, ring: AlertRing, *, id: str | None = None) -> None:
        super().__init__(ring, id=id)

    def header_text(self, width: int) -> Text:
        return header_text(width, self.dated, self.sort_by, self.descending)

    def row_text(self, row: AlertRow, width: int, theme: str, marked: bool) -> Text:
        return row_text(row, width, theme, marked, self.dated)

    def search_text(self, row: AlertRow) -> str:
        return " ".join(str(v) for v in (row.severity, row.status, row.entity, row.host, row.title, row.rule_id,
                                         row.detector, row.category) if v)
