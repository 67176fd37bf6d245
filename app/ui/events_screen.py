"""Events: the raw event stream from the store, filtered by a visible list of filters you can toggle, invert
or turn into regexes (`/` to add: `text`, `!text` to exclude, `~regex`, `!~regex`), optionally narrowed to a time
range (Enter on a timeline bucket). It follows new events as they are stored (no F5) while the cursor is on the
last line; Enter on an event opens its detail view."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, SelectionList, Static
from textual.widgets.selection_list import Selection
from textual.worker import get_current_worker

from app.ui.event_detail import EventDetailScreen
from app.ui.lines_view import LinesView
from app.ui.queries import EventFilter, EventPage, QueryError, fmt_time, reading, search_events
from app.ui.text import clean

if TYPE_CHECKING:
    from app.ui.app import VigilApp


class EventsLoaded(Message):
    def __init__(self, page: EventPage | None, error: str | None = None) -> None:
        super().__init__()
        self.page, self.error = page, error


class FiltersChanged(Message):
    def __init__(self, filters: list[EventFilter]) -> None:
        super().__init__()
        self.filters = filters


class FilterList(SelectionList[int]):
    BINDINGS = [
        Binding("n,exclamation_mark", "invert", "Invert", id="events.invert", tooltip="keep ↔ drop matches"),
        Binding("x", "regex", "Regex", id="events.regex", tooltip="plain ↔ regex"),
        Binding("delete,d", "remove", "Remove", id="events.remove"),
    ]

    def action_invert(self) -> None:
        self.screen.edit_highlighted("invert")  # type: ignore[attr-defined]

    def action_regex(self) -> None:
        self.screen.edit_highlighted("regex")  # type: ignore[attr-defined]

    def action_remove(self) -> None:
        self.screen.edit_highlighted("remove")  # type: ignore[attr-defined]


def event_line(e: dict[str, Any], dated: bool = False) -> Text:
    t = Text(no_wrap=True, end="")
    t.append(f"{e['event_id']:>8} ", style="dim")
    t.append(fmt_time(e.get("ts") or e.get("received_at"), dated) + " ")
    t.append(clean(e.get("host") or "-", 20) + " ", style="bold")
    t.append(clean(e.get("raw"), 4000))
    return t


class EventsScreen(Screen[None]):
    app: VigilApp

    DEFAULT_CSS = """
    EventsScreen #events-title { height: 1; background: $primary 40%; text-style: bold; }
    EventsScreen #filter-input { height: 3; }
    EventsScreen FilterList { width: 28; height: 1fr; border: round $primary 50%; }
    EventsScreen LinesView { width: 1fr; height: 1fr; }
    EventsScreen #events-status { height: 1; background: $panel; }
    """
    BINDINGS = [
        Binding("escape", "back", "Alerts", id="events.back"),
        Binding("slash", "focus_filter", "Filter", id="events.filter"),
        Binding("X", "clear_filters", "Clear filters", id="events.clear", tooltip="filters and time range"),
        Binding("f5,R", "reload", "Reload", id="events.reload"),
    ]

    def __init__(self, limit: int = 500) -> None:
        super().__init__()
        self.limit = limit
        self.filters: list[EventFilter] = []
        self.between: tuple[datetime, datetime] | None = None  # event time range, start inclusive
        self.page: EventPage | None = None
        self.error: str | None = None
        self._seen_total: int | None = None
        self.reloads = 0

    def compose(self) -> ComposeResult:
        yield Static(" VIGIL  events — text  !exclude  ~regex  !~regex", id="events-title")
        yield Input(placeholder="/ add a filter: text, !text, ~regex, !~regex — Enter adds", id="filter-input")
        with Horizontal():
            yield FilterList(id="filters")
            yield LinesView(selectable=True, id="event-lines")
        yield Static(id="events-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._sync_filter_list()
        self._update_title()
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def engine_progress(self, status: Any) -> None:
        """Each status tick: when events were stored since the last look and the cursor follows the end, reload."""
        total = int(getattr(status, "events_total", 0) or 0)
        if total != self._seen_total:
            self._seen_total = total
            if self.query_one(LinesView).following and self.between is None:
                self.reload()

    def show_between(self, start: datetime, end: datetime) -> None:
        self.between = (start, end)
        if self.is_mounted:
            self._update_title()
            self.reload()

    def _update_title(self) -> None:
        text = " VIGIL  events — text  !exclude  ~regex  !~regex"
        if self.between is not None:
            text += f"   time {fmt_time(self.between[0], True)} → {fmt_time(self.between[1], True)} (X clears)"
        self.query_one("#events-title", Static).update(Text(text, no_wrap=True, end=""))

    @on(LinesView.Selected, "#event-lines")
    def _open_event(self, event: LinesView.Selected) -> None:
        if self.page is not None and 0 <= event.index < len(self.page.rows):
            self.app.push_screen(EventDetailScreen(int(self.page.rows[event.index]["event_id"])))

    def set_filters(self, filters: list[EventFilter]) -> None:
        self.filters = list(filters)
        if self.is_mounted:
            self._sync_filter_list()
            self.reload()

    def action_focus_filter(self) -> None:
        self.query_one("#filter-input", Input).focus()

    def action_back(self) -> None:
        if self.focused is self.query_one("#filter-input", Input):
            self.query_one(LinesView).focus()
            return
        self.app.action_view("alerts")

    @on(Input.Submitted, "#filter-input")
    def _add_filter(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            return
        try:
            f = EventFilter.parse(event.value)
        except QueryError as exc:
            self.error = str(exc)
            self._update_status()
            return
        event.input.value = ""
        self.filters.append(f)
        self._filters_changed()

    def edit_highlighted(self, what: str) -> None:
        fl = self.query_one(FilterList)
        idx = fl.highlighted
        if idx is None or not (0 <= idx < len(self.filters)):
            return
        f = self.filters[idx]
        if what == "invert":
            f.invert = not f.invert
        elif what == "regex":
            f.regex = not f.regex
        elif what == "remove":
            del self.filters[idx]
        self._filters_changed()

    def action_clear_filters(self) -> None:
        self.filters.clear()
        self.between = None
        self._update_title()
        self._filters_changed()

    @on(SelectionList.SelectedChanged, "#filters")
    def _toggled(self, event: SelectionList.SelectedChanged[int]) -> None:
        selected = set(event.selection_list.selected)
        changed = False
        for i, f in enumerate(self.filters):
            if f.enabled != (i in selected):
                f.enabled = i in selected
                changed = True
        if changed:
            self._filters_changed(rebuild=False)

    def _filters_changed(self, rebuild: bool = True) -> None:
        if rebuild:
            self._sync_filter_list()
        self.post_message(FiltersChanged(list(self.filters)))
        self.app.remember(filters=[f.to_dict() for f in self.filters])
        self.reload()

    def _sync_filter_list(self) -> None:
        fl = self.query_one(FilterList)
        highlighted = fl.highlighted
        with self.app.batch_update():
            fl.clear_options()
            fl.add_options([Selection(Text(clean(f.label(), 60)), i, f.enabled) for i, f in
                            enumerate(self.filters)])
        if self.filters:
            fl.highlighted = min(highlighted or 0, len(self.filters) - 1)

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        engine = self.app.engine
        if engine is None:
            return
        self.reloads += 1
        self._search(engine.store, list(self.filters), self.between)

    @work(thread=True, exclusive=True, exit_on_error=False, group="events")
    def _search(self, store: Any, filters: list[EventFilter], between: tuple[datetime, datetime] | None) -> None:
        worker = get_current_worker()
        try:
            with reading(store) as cur:
                page, error = search_events(cur, filters, self.limit, between), None
        except QueryError as exc:
            page, error = None, str(exc)
        if not worker.is_cancelled:
            self.post_message(EventsLoaded(page, error))

    def on_events_loaded(self, message: EventsLoaded) -> None:
        self.error = message.error
        if message.page is not None:
            view = self.query_one(LinesView)
            follow = view.following
            keep = view.cursor
            self.page = message.page
            stamps = [e.get("ts") or e.get("received_at") for e in message.page.rows]
            days = {t.date() for t in stamps if t is not None}
            view.set_lines([event_line(e, len(days) > 1) for e in message.page.rows], follow_end=follow, keep=keep)
        self._update_status()

    def _update_status(self) -> None:
        t = Text(no_wrap=True, end="")
        if self.page is not None:
            n = len(self.page.rows)
            t.append(f" {n:,} of >{n:,} matching events (newest)" if self.page.more else f" {n:,} matching events")
        on_count = sum(f.enabled for f in self.filters)
        t.append(f" · {len(self.filters)} filter(s), {on_count} on", style="dim")
        if self.error:
            t.append(f" · {clean(self.error, 200)}", style="bold red")
        self.query_one("#events-status", Static).update(t)
