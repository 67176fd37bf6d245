"""Enter on an event: every parsed field (service and action included, and the JSON `fields` unfolded), the raw
line, its template, the alerts that cite it, and its neighbours in the same source. Esc goes back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from app.ui.lines_view import LinesView
from app.ui.queries import EVENT_DETAIL_COLUMNS, EventView, event_detail, fmt_time, parsed_fields, reading
from app.ui.text import clean

if TYPE_CHECKING:
    from app.ui.app import VigilApp

_SHOWN_ELSEWHERE = {"raw", "fields", "message"}


class EventLoaded(Message):
    def __init__(self, view: EventView | None, error: str | None) -> None:
        super().__init__()
        self.view, self.error = view, error


def event_lines(view: EventView) -> list[Text]:
    """Plain strings only (log text is attacker-controlled): nothing here is parsed as markup."""
    e = view.event
    out: list[Text] = []

    def line(label: str, value: Any, style: str = "") -> None:
        t = Text(no_wrap=True, end="")
        t.append(f" {label:<13}", style="dim")
        t.append(clean(value, 4000), style=style)
        out.append(t)

    line("event", f"{e.get('event_id')}  at {fmt_time(e.get('ts'), True)} UTC  (received "
                  f"{fmt_time(e.get('received_at'), True)})", "bold")
    line("source", e.get("source"))
    line("raw", e.get("raw"), "bold")
    line("message", e.get("message"))
    line("template", view.template if view.template is not None else "-", "italic")
    out.append(Text(" parsed fields", style="bold underline", end=""))
    seen = set()
    for name, value in parsed_fields(e):
        seen.add(name)
        line(name, value)
    for name in EVENT_DETAIL_COLUMNS:  # the columns nobody filled, so "absent" is visible too
        if name not in seen and name not in _SHOWN_ELSEWHERE and name not in ("event_id", "ts", "received_at",
                                                                                 "source", "template_id"):
            line(name, "-", "dim")
    line("alerts", ", ".join(f"#{a}" for a in view.alert_ids) or "none cite this event")
    out.append(Text(" neighbours (same source)", style="bold underline", end=""))
    for marker, rows in (("  ", view.before), ("▶ ", [e]), ("  ", view.after)):
        for r in rows:
            t = Text(no_wrap=True, end="")
            t.append(marker, style="bold")
            t.append(f"{r['event_id']:>8} ", style="dim")
            t.append(fmt_time(r.get("ts") or r.get("received_at")) + " ")
            t.append(clean(r.get("raw"), 4000), style="bold" if marker.strip() else "")
            out.append(t)
    return out


class EventDetailScreen(Screen[None]):
    app: VigilApp

    DEFAULT_CSS = """
    EventDetailScreen #event-title { height: 1; background: $primary 40%; text-style: bold; }
    EventDetailScreen LinesView { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="event.back")]

    def __init__(self, event_id: int) -> None:
        super().__init__()
        self.event_id = event_id
        self.view: EventView | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble((" VIGIL ", "bold reverse"), f"  event {self.event_id}"), id="event-title")
        yield LinesView(id="event-lines")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(LinesView).focus()
        if self.app.engine is not None:
            self._load(self.app.engine.store, self.event_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="event-detail")
    def _load(self, store: Any, event_id: int) -> None:
        worker = get_current_worker()
        try:
            with reading(store) as cur:
                view = event_detail(cur, event_id)
            error = None if view is not None else f"event {event_id} is not in the store"
        except Exception as exc:
            view, error = None, f"{type(exc).__name__}: {exc}"
        if not worker.is_cancelled:
            self.post_message(EventLoaded(view, error))

    def on_event_loaded(self, message: EventLoaded) -> None:
        self.view, self.error = message.view, message.error
        lines = event_lines(message.view) if message.view is not None else [
            Text(clean(message.error or "not found"), style="bold red")]
        self.query_one(LinesView).set_lines(lines)
