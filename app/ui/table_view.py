"""A live, sortable, filterable Line-API table over a `Ring`: only the visible rows are rendered.

The rows on screen are a *view* of the ring: filtered by `/` text and sorted by a column (last seen by default,
newest at the bottom, so an old alert that fires again moves to where the tail is watching). Tail mode follows
the last row of the view; moving the cursor up pauses it, rows that arrive meanwhile are counted ("N new") and
the cursor stays on the same row even as old rows are evicted or the order changes.

Subclasses say how a row looks (`header_text`, `row_text`) and what it is searched and sorted by.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

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

from app.ui.alert_ring import Ring
from app.ui.text import clean
from store.schema import severity_rank

SEV_LABEL = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
STATUS_LABEL = {"new": "new", "acknowledged": "ack", "resolved": "res", "false_positive": "fp"}
EPOCH = datetime.fromtimestamp(0, UTC)


def utc(value: datetime | None) -> datetime:
    if value is None:
        return EPOCH
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fmt_when(value: datetime | None, dated: bool) -> str:
    """The time column: the date too when the rows span more than one day (a two-month log has many 18:27s)."""
    if value is None:
        return "-"
    return utc(value).strftime("%Y-%m-%d %H:%M" if dated else "%H:%M:%S")


def when_width(dated: bool) -> int:
    return 17 if dated else 9


def cell(value: str, width: int) -> str:
    value = clean(value, 500)
    if len(value) > width:
        return value[: max(0, width - 1)] + "…"
    return value.ljust(width)


def row_matches(text: str, needle: str) -> bool:
    """`/` filter: words must all appear (case-insensitive); a word starting with `!` must not."""
    hay = text.lower()
    for word in needle.lower().split():
        if word.startswith("!") and len(word) > 1:
            if word[1:] in hay:
                return False
        elif word not in hay:
            return False
    return True


class LiveTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"alert-table--cursor"}
    DEFAULT_CSS = """
    LiveTable { background: $surface; }
    LiveTable > .alert-table--cursor { background: $primary 60%; text-style: bold; }
    LiveTable:blur > .alert-table--cursor { background: $primary 30%; }
    """
    # Ids keep the `alerts.` prefix they had when the alert list was the only table (user keymaps name them).
    BINDINGS = [
        Binding("down,j", "cursor_down", "Down", show=False, id="alerts.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="alerts.up"),
        Binding("pagedown,ctrl+d", "page_down", "Page down", show=False, id="alerts.page_down"),
        Binding("pageup,ctrl+u", "page_up", "Page up", show=False, id="alerts.page_up"),
        Binding("home,g", "first", "First", show=False, id="alerts.first"),
        Binding("end,G", "last", "Follow", show=False, id="alerts.last"),
        Binding("t", "toggle_tail", "Tail", show=False, id="alerts.tail", tooltip="follow new rows / pause"),
        Binding("enter", "open", "Detail", id="alerts.detail", tooltip="show the selected row's detail"),
        Binding("m,space", "mark", "Mark", show=False, id="alerts.mark", tooltip="mark for export or bulk status"),
        Binding("o", "cycle_sort", "Sort", id="alerts.sort", tooltip="sort by last seen → severity → count"),
        Binding("O", "reverse_sort", "Reverse", show=False, id="alerts.sort_reverse", tooltip="reverse the order"),
    ]
    SORTS: ClassVar[tuple[str, ...]] = ("last_seen", "severity", "count")
    SORT_LABELS: ClassVar[dict[str, str]] = {"last_seen": "last seen", "severity": "severity", "count": "count"}
    NOUN: ClassVar[str] = "rows"

    tail: reactive[bool] = reactive(True)
    new_count: reactive[int] = reactive(0)

    class Highlighted(Message):
        def __init__(self, table: LiveTable, row_id: int | None) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

        @property
        def alert_id(self) -> int | None:  # the alert list's name for it
            return self.row_id

        @property
        def control(self) -> LiveTable:
            return self.table

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LiveTable.Highlighted) and message.table is self.table

    class Opened(Message):
        def __init__(self, table: LiveTable, row_id: int) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

        @property
        def alert_id(self) -> int:
            return self.row_id

        @property
        def control(self) -> LiveTable:
            return self.table

    class TailChanged(Message):
        def __init__(self, table: LiveTable, tail: bool, new_count: int) -> None:
            super().__init__()
            self.table = table
            self.tail = tail
            self.new_count = new_count

        @property
        def control(self) -> LiveTable:
            return self.table

    def __init__(self, ring: Ring[Any], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ring = ring
        self.cursor = -1  # index into the view; -1 when empty
        self.marked: set[int] = set()
        self.view: list[int] = []  # row ids in display order
        self._pos: dict[int, int] = {}
        self.sort_by = "last_seen"
        self.descending = False
        self.filter_text = ""
        self.dated = False
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self.repaints = 0  # lines rendered (the benchmark watches this)
        self.last_painted_cursor: int | None = None

    # -- what subclasses define ----------------------------------------------------------------------------------
    def header_text(self, width: int) -> Text:
        raise NotImplementedError

    def row_text(self, row: Any, width: int, theme: str, marked: bool) -> Text:
        raise NotImplementedError

    def search_text(self, row: Any) -> str:
        raise NotImplementedError

    def when(self, row: Any) -> datetime | None:
        return getattr(row, "last_seen", None) or getattr(row, "created_at", None)

    # -- data ----------------------------------------------------------------------------------------------------
    @property
    def row_id(self) -> Callable[[Any], int]:
        return self.ring.key

    @property
    def cursor_row(self) -> Any:
        if 0 <= self.cursor < len(self.view):
            return self.ring.get(self.view[self.cursor])
        return None

    @property
    def cursor_id(self) -> int | None:
        if 0 <= self.cursor < len(self.view):
            return self.view[self.cursor]
        return None

    def __len__(self) -> int:
        return len(self.view)

    def apply(self, rows: list[Any]) -> None:
        """Merge fetched rows: replace known ones in place, append new ones, keep the cursor on its row."""
        before_id = self.cursor_id
        scroll_y = int(self.scroll_y)
        before_pos = self.cursor
        before_view = self.view
        added, _replaced, evicted = self.ring.upsert(rows)
        if evicted:
            self.marked &= set(self._ids_in_ring())
        self._rebuild()
        if self.tail or before_id is None:
            self.cursor = len(self.view) - 1
            if self.tail:
                self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            idx = self._pos.get(before_id)
            if idx is None:  # its row was evicted (or filtered out): the nearest one that is still there
                later = (self._pos.get(r) for r in before_view[before_pos + 1:])
                earlier = (self._pos.get(r) for r in reversed(before_view[:before_pos]))
                idx = next((i for i in later if i is not None), None)
                if idx is None:
                    idx = next((i for i in earlier if i is not None), 0)
            self.cursor = idx
            self.new_count += added
            shift = self.cursor - before_pos
            if shift:  # keep the same rows on screen while paused
                self.scroll_to(y=max(0, scroll_y + shift), animate=False, immediate=True)
        self.refresh()
        if self.cursor_id != before_id:
            self.post_message(self.Highlighted(self, self.cursor_id))

    def _ids_in_ring(self) -> list[int]:
        return [self.row_id(r) for r in self.ring]

    def _sort_key(self) -> Callable[[Any], Any]:
        arrival = self.ring.arrival
        key = self.row_id
        if self.sort_by == "severity":
            return lambda r: (severity_rank(r.severity), utc(self.when(r)), arrival(key(r)))
        if self.sort_by == "count":
            return lambda r: (int(r.count or 0), utc(self.when(r)), arrival(key(r)))
        return lambda r: (utc(self.when(r)), arrival(key(r)))

    def _rebuild(self) -> None:
        rows = list(self.ring)
        if self.filter_text:
            rows = [r for r in rows if row_matches(self.search_text(r), self.filter_text)]
        rows.sort(key=self._sort_key(), reverse=self.descending)
        self.view = [self.row_id(r) for r in rows]
        self._pos = {rid: i for i, rid in enumerate(self.view)}
        times = [utc(self.when(r)) for r in self.ring if self.when(r) is not None]
        dated = bool(times) and min(times).date() != max(times).date()
        if dated != self.dated:
            self.dated = dated
            self._cache.clear()
        self._sync_size()

    def set_filter(self, text: str) -> None:
        before = self.cursor_id
        self.filter_text = text.strip()
        self._rebuild()
        idx = self._pos.get(before) if before is not None else None
        self.cursor = idx if idx is not None else len(self.view) - 1
        if self.tail:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._ensure_cursor_visible()
        self.refresh()
        if self.cursor_id != before:
            self.post_message(self.Highlighted(self, self.cursor_id))

    def _sync_size(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.view))

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

    def select(self, row_id: int) -> bool:
        idx = self._pos.get(row_id)
        if idx is None:
            return False
        self.tail = False
        self._move_to(idx)
        return True

    def sort_label(self) -> str:
        return f"sorted by {self.SORT_LABELS[self.sort_by]} {'▼' if self.descending else '▲'}"

    # -- rendering -----------------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        _scroll_x, scroll_y = self.scroll_offset
        idx = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if idx >= len(self.view) or width <= 0:
            return Strip.blank(width, base)
        rid = self.view[idx]
        row = self.ring.get(rid)
        if row is None:
            return Strip.blank(width, base)
        is_cursor = idx == self.cursor
        marked = rid in self.marked
        theme = self.app.theme
        key = (rid, self.ring.version.get(rid, 0), width, is_cursor, marked, theme, self.has_focus, self.dated)
        strip = self._cache.get(key)
        if strip is None:
            text = self.row_text(row, width, theme, marked)
            style = base + self.get_component_rich_style("alert-table--cursor") if is_cursor else base
            segments = [Segment(s.text, style + s.style if s.style else style)
                        for s in text.render(self.app.console)]
            strip = Strip(segments).crop_extend(0, width, style)
            self._cache[key] = strip
        self.repaints += 1
        if is_cursor:
            self.last_painted_cursor = rid
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # -- movement ------------------------------------------------------------------------------------------------
    def _move_to(self, idx: int) -> None:
        if not self.view:
            return
        idx = max(0, min(idx, len(self.view) - 1))
        old = self.cursor
        self.cursor = idx
        self._ensure_cursor_visible()
        self.refresh()
        if old != idx:
            self.post_message(self.Highlighted(self, self.cursor_id))

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
            self.post_message(self.Opened(self, self.cursor_id))

    def action_mark(self) -> None:
        rid = self.cursor_id
        if rid is None:
            return
        self.marked.symmetric_difference_update({rid})
        self.refresh()
        self._move_to(self.cursor + 1)

    def action_cycle_sort(self) -> None:
        self.sort_by = self.SORTS[(self.SORTS.index(self.sort_by) + 1) % len(self.SORTS)]
        self._resort()

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending
        self._resort()

    def _resort(self) -> None:
        before = self.cursor_id
        self._rebuild()
        self._cache.clear()
        if before is not None and before in self._pos:
            self.cursor = self._pos[before]
        self._ensure_cursor_visible()
        self.refresh()
        self.post_message(self.TailChanged(self, self.tail, self.new_count))

    def watch_tail(self, tail: bool) -> None:
        if tail:
            self.new_count = 0
            self._move_to(len(self.view) - 1)
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.TailChanged(self, tail, self.new_count))

    def watch_new_count(self, count: int) -> None:
        self.post_message(self.TailChanged(self, self.tail, count))

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self._pause()

    def on_click(self, event: Click) -> None:
        idx = int(self.scroll_y) + event.y
        if 0 <= idx < len(self.view):
            self._pause()
            self._move_to(idx)
            if event.chain >= 2:
                self.action_open()


def tail_label(table: LiveTable, total: int) -> Text:
    noun = table.NOUN
    shown = f"{len(table.view):,} of {total:,} {noun} match /{clean(table.filter_text, 40)}" if table.filter_text \
        else f"{total:,} {noun}"
    sort = f" · {table.sort_label()}"
    if table.tail:
        return Text.assemble(("● TAIL", "bold"), f"  {shown}{sort} · t pause ", end="")
    extra = f"  ▼ {table.new_count:,} new" if table.new_count else ""
    return Text.assemble(("‖ PAUSED", "bold reverse"), (extra, "bold"), f"  {shown}{sort} · End/t follow", end="")
