"""The incident list, the console's default view: one row per attacker (severity, last seen, status, how many
alerts, the story in order), plus ATT&CK techniques and the proposed response when the terminal is wide enough."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text

from app.ui.alert_ring import IncidentRing, IncidentRow
from app.ui.table_view import SEV_LABEL, STATUS_LABEL, LiveTable, cell, fmt_when, when_width
from app.ui.text import clean
from app.ui.themes import severity_style


def _widths(width: int, dated: bool) -> tuple[int, int, int, int]:
    """(when, story, techniques, response) widths; techniques from 110 columns, the response from 140."""
    when = when_width(dated)
    fixed = 1 + 9 + when + 4 + 7
    techniques = 18 if width >= 110 else 0
    response = 30 if width >= 140 else 0
    story = max(10, width - fixed - techniques - response)
    return when, story, techniques, response


class IncidentTable(LiveTable):
    NOUN: ClassVar[str] = "incidents"
    SORT_LABELS: ClassVar[dict[str, str]] = {"last_seen": "last seen", "severity": "severity", "count": "alerts"}

    def __init__(self, ring: IncidentRing, *, id: str | None = None) -> None:
        super().__init__(ring, id=id)

    def header_text(self, width: int) -> Text:
        when, story, techniques, response = _widths(width, self.dated)
        arrow = "▼" if self.descending else "▲"
        sev = ("SEVERITY" + (arrow if self.sort_by == "severity" else "")).ljust(9)
        last = ("LAST SEEN" if self.dated else "TIME") + (arrow if self.sort_by == "last_seen" else "")
        alerts = ("ALERTS" + (arrow if self.sort_by == "count" else "")).rjust(6) + " "
        parts = [" ", sev, last.ljust(when), "ST  ", alerts, cell("INCIDENT (story in order)", story)]
        if techniques:
            parts += [cell("ATT&CK", techniques)]
        if response:
            parts += [cell("RESPONSE", response)]
        return Text("".join(parts), style="bold", no_wrap=True, end="")

    def row_text(self, row: IncidentRow, width: int, theme: str, marked: bool) -> Text:
        when, story, techniques, response = _widths(width, self.dated)
        t = Text(no_wrap=True, end="")
        t.append("●" if marked else " ", style="bold")
        label = SEV_LABEL.get(row.severity, clean(row.severity, 8).upper())
        t.append(label.ljust(8), style=severity_style(theme, row.severity))
        t.append(" ")
        t.append(fmt_when(row.last_seen, self.dated).ljust(when))
        closed = row.status in ("resolved", "false_positive")
        t.append(STATUS_LABEL.get(row.status, row.status[:3]).ljust(4), style="dim" if closed else "")
        t.append(f"{row.alert_count:>6,} "[-7:])
        t.append(cell(row.story or row.entity, story - 1), style="dim" if closed else "")
        t.append(" ")
        if techniques:
            t.append(cell(" ".join(row.techniques) or "-", techniques - 1), style="dim")
            t.append(" ")
        if response:
            t.append(cell(row.response or "-", response - 1), style="bold" if row.response else "dim")
        return t

    def search_text(self, row: IncidentRow) -> str:
        return " ".join(str(v) for v in (row.severity, row.status, row.entity, row.story, " ".join(row.techniques),
                                         row.response, " ".join(row.hosts)) if v)
