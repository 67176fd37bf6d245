"""The live alert table: a Line-API scroll view over `AlertRing` that renders only the visible rows.

Tail mode follows the newest alert; moving the cursor up pauses it, and rows that arrive meanwhile are
counted ("N new") while the cursor stays on the same alert even as old rows are evicted.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.events import Click, MouseScrollUp
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from app.ui.alert_ring import AlertRing, AlertRow
from app.ui.queries import fmt_time
from app.ui.text import clean
from app.ui.themes import severity_style

SEV_LABEL = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
STATUS_LABEL = {"new": "new", "acknowledged": "ack", "resolved": "res", "false_positive": "fp"}


@dataclass(frozen=True)
class Columns:
    """Cell widths for a given terminal width; the title takes what is left."""

    entity: int
    title: int
    detector: int

    @classmethod
    def for_width(cls, width: int) -> Columns:
        fixed = 1 + 9 + 9 + 4 + 8  # mark, severity, time, status, count (each with a separator)
        detector = 16 if width >= 110 else 0
        rest = max(10, width - fixed - detector)
        entity = min(26, max(20, rest // 3))
        return cls(entity=entity, title=max(4, rest - entity - 1), detector=detector)


def _cell(value: str, width: int) -> str:
    value = clean(value, 500)
    if len(value) > width:
        return value[: max(0, width - 1)] + "…"
    return value.ljust(width)


def header_text(width: int) -> Text:
    c = Columns.for_width(width)
    parts = [" ", "SEVERITY ", "TIME     ", "ST  ", "  COUNT ", _cell("ENTITY", c.entity), " ", _cell("TITLE", c.title)]
    if c.detector:
        parts += [" ", _cell("DETECTOR", c.detector - 1)]
    return Text("".join(parts), style="bold", no_wrap=True, end="")


def row_text(row: AlertRow, width: int, theme: str, marked: bool) -> Text:
    c = Columns.for_width(width)
    t = Text(no_wrap=True, end="")
    t.append("●" if marked else " ", style="bold")
    label = SEV_LABEL.get(row.severity, clean(row.severity, 8).upper())
    t.append(label.ljust(8), style=severity_style(theme, row.severity))
    t.append(" ")
    t.append(fmt_time(row.last_seen or row.created_at).ljust(9))
    closed = row.status in ("resolved", "false_positive")
    t.append(STATUS_LABEL.get(row.status, row.status[:3]).ljust(4), style="dim" if closed else "")
    t.append(f"{row.count:>7,} "[-8:])
    t.append(_cell(row.entity or row.host or "-", c.entity))
    t.append(" ")
    t.append(_cell(row.title or row.rule_id or row.detector, c.title), style="dim" if closed else "")
    if c.detector:
        t.append(" ")
        t.append(_cell(row.detector + (f"/{row.rule_id}" if row.rule_id else ""), c.detector - 1), style="dim")
    return t


class AlertHeader(Static):
    """Column titles above the table, laid out with the same widths as the rows."""

    def render(self) -> Text:
        return header_text(self.size.width or 80)


class AlertTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"alert-table--cursor"}
    DEFAULT_CSS = """
    AlertTable { background: $surface; }
    AlertTable > .alert-table--cursor { background: $primary 60%; text-style: bold; }
    AlertTable:blur > .alert-table--cursor { background: $primary 30%; }
    """
    BINDINGS = [
        Binding("down,j", "cursor_down", "Down", show=False, id="alerts.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="alerts.up"),
        Binding("pagedown,ctrl+d", "page_down", "Page down", show=False, id="alerts.page_down"),
        Binding("pageup,ctrl+u", "page_up", "Page up", show=False, id="alerts.page_up"),
        Binding("home,g", "first", "First", show=False, id="alerts.first"),
        Binding("end,G", "last", "Follow", show=False, id="alerts.last"),
        Binding("t", "toggle_tail", "Tail", show=False, id="alerts.tail", tooltip="follow new alerts / pause"),
        Binding("enter", "open", "Detail", id="alerts.detail", tooltip="show the selected alert's detail"),
        Binding("m,space", "mark", "Mark", show=False, id="alerts.mark", tooltip="mark for export or bulk status"),
    ]

    tail: reactive[bool] = reactive(True)
    new_count: reactive[int] = reactive(0)

    class Highlighted(Message):
        def __init__(self, alert_id: int | None) -> None:
            super().__init__()
            self.alert_id = alert_id

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, AlertTable.Highlighted)

    class Opened(Message):
        def __init__(self, alert_id: int) -> None:
            super().__init__()
            self.alert_id = alert_id

    class TailChanged(Message):
        def __init__(self, tail: bool, new_count: int) -> None:
            super().__init__()
            self.tail = tail
            self.new_count = new_count

    def __init__(self, ring: AlertRing, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ring = ring
        self.cursor = -1  # index into the ring; -1 when empty
        self.marked: set[int] = set()
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self.repaints = 0  # lines rendered (the benchmark watches this)
        self.last_painted_cursor: int | None = None

    # -- data ----------------------------------------------------------------------------------------------
    @property
    def cursor_row(self) -> AlertRow | None:
        if 0 <= self.cursor < len(self.ring):
            return self.ring.at(self.cursor)
        return None

    @property
    def cursor_id(self) -> int | None:
        row = self.cursor_row
        return row.alert_id if row else None

    def apply(self, rows: list[AlertRow]) -> None:
        """Merge fetched rows: replace known alerts in place, append new ones, keep the cursor on its alert."""
        before_id = self.cursor_id
        scroll_y = int(self.scroll_y)
        added, _replaced, evicted = self.ring.upsert(rows)
        if evicted:
            self.marked &= set(self._ids_in_ring())
        self._sync_size()
        if self.tail or before_id is None:
            self.cursor = len(self.ring) - 1
            if self.tail:
                self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            idx = self.ring.index_of(before_id)
            self.cursor = idx if idx is not None else 0
            self.new_count += added
            if evicted:  # keep the same alerts on screen while paused
                self.scroll_to(y=max(0, scroll_y - evicted), animate=False, immediate=True)
        self.refresh()
        if self.cursor_id != before_id:
            self.post_message(self.Highlighted(self.cursor_id))

    def _ids_in_ring(self) -> list[int]:
        return [r.alert_id for r in self.ring]

    def _sync_size(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.ring))

    def on_resize(self) -> None:
        self._sync_size()
        self._cache.clear()
        # The detail pane opening (or a smaller terminal) must not leave the cursor row out of sight.
        self.call_after_refresh(self._ensure_cursor_visible)

    def _ensure_cursor_visible(self) -> None:
        if self.cursor < 0:
            return
        top, height = int(self.scroll_y), max(1, self.size.height)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def select(self, alert_id: int) -> bool:
        idx = self.ring.index_of(alert_id)
        if idx is None:
            return False
        self.tail = False
        self._move_to(idx)
        return True

    # -- rendering -----------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        _scroll_x, scroll_y = self.scroll_offset
        idx = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if idx >= len(self.ring) or width <= 0:
            return Strip.blank(width, base)
        row = self.ring.at(idx)
        is_cursor = idx == self.cursor
        marked = row.alert_id in self.marked
        theme = self.app.theme
        key = (row.alert_id, self.ring.version.get(row.alert_id, 0), width, is_cursor, marked, theme,
               self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            text = row_text(row, width, theme, marked)
            style = base + self.get_component_rich_style("alert-table--cursor") if is_cursor else base
            segments = [Segment(s.text, style + s.style if s.style else style)
                        for s in text.render(self.app.console)]
            strip = Strip(segments).crop_extend(0, width, style)
            self._cache[key] = strip
        self.repaints += 1
        if is_cursor:
            self.last_painted_cursor = row.alert_id
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # -- movement ------------------------------------------------------------------------------------------
    def _move_to(self, idx: int) -> None:
        if not len(self.ring):
            return
        idx = max(0, min(idx, len(self.ring) - 1))
        old = self.cursor
        self.cursor = idx
        self._ensure_cursor_visible()
        self.refresh()
        if old != idx:
            self.post_message(self.Highlighted(self.cursor_id))

    def _pause(self) -> None:
        if self.tail:
            self.tail = False

    def action_cursor_down(self) -> None:
        self._move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self._pause()
        self._move_to(self.cursor - 1)

    def action_page_down(self) -> None:
        self._move_to(self.cursor + max(1, self.size.height - 1))

    def action_page_up(self) -> None:
        self._pause()
        self._move_to(self.cursor - max(1, self.size.height - 1))

    def action_first(self) -> None:
        self._pause()
        self._move_to(0)

    def action_last(self) -> None:
        self.tail = True

    def action_toggle_tail(self) -> None:
        self.tail = not self.tail

    def action_open(self) -> None:
        if self.cursor_id is not None:
            self.post_message(self.Opened(self.cursor_id))

    def action_mark(self) -> None:
        aid = self.cursor_id
        if aid is None:
            return
        self.marked.symmetric_difference_update({aid})
        self.refresh()
        self._move_to(self.cursor + 1)

    def watch_tail(self, tail: bool) -> None:
        if tail:
            self.new_count = 0
            self._move_to(len(self.ring) - 1)
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.TailChanged(tail, self.new_count))

    def watch_new_count(self, count: int) -> None:
        self.post_message(self.TailChanged(self.tail, count))

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self._pause()

    def on_click(self, event: Click) -> None:
        idx = int(self.scroll_y) + event.y
        if 0 <= idx < len(self.ring):
            self._pause()
            self._move_to(idx)
            if event.chain >= 2:
                self.action_open()


def tail_label(tail: bool, new_count: int, total: int) -> Text:
    if tail:
        return Text.assemble(("● TAIL", "bold"), f"  {total:,} alerts · t pause ", end="")
    extra = f"  ▼ {new_count:,} new" if new_count else ""
    return Text.assemble(("‖ PAUSED", "bold reverse"), (extra, "bold"), f"  {total:,} alerts · End/t follow",
                         end="")

