"""Timeline: events and alerts per bucket as a histogram (empty buckets shown, none before the data), zoom from
minutes to days, narrowed to one host or one detector; it follows new data without F5, and Enter on a bucket opens
the events of that bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from app.ui.lines_view import LinesView
from app.ui.queries import DIMENSIONS, ZOOM_LEVELS, Timeline, reading, timeline
from app.ui.text import clean

if TYPE_CHECKING:
    from app.ui.app import VigilApp

BAR = "█"


class TimelineLoaded(Message):
    def __init__(self, data: Timeline | None, error: str | None = None) -> None:
        super().__init__()
        self.data, self.error = data, error


def timeline_lines(data: Timeline, width: int) -> list[Text]:
    if not data.buckets:
        return [Text("no events in the store yet", style="dim")]
    wide = data.step.endswith(("hour", "hours", "day")) or data.buckets[0][0].date() != data.buckets[-1][0].date()
    label_w = 16 if wide else 5
    ev_w = max(8, (width - label_w - 24) * 2 // 3)
    al_w = max(4, width - label_w - ev_w - 22)
    top_ev = max(b[1] for b in data.buckets) or 1
    top_al = max(b[2] for b in data.buckets) or 1
    lines = []
    for start, ev, al in data.buckets:
        t = Text(no_wrap=True, end="")
        t.append(start.strftime("%Y-%m-%d %H:%M" if wide else "%H:%M").ljust(label_w), style="dim")
        t.append(" ")
        n = round(ev / top_ev * ev_w) if ev else 0
        t.append((BAR * n).ljust(ev_w), style="bold")
        t.append(f" {ev:>8,} ")
        n = round(al / top_al * al_w) if al else 0
        t.append("│ ", style="dim")
        t.append((BAR * n).ljust(al_w), style="bold red" if al else "")
        t.append(f" {al:>5,}")
        lines.append(t)
    return lines


class TimelineScreen(Screen[None]):
    app: VigilApp

    DEFAULT_CSS = """
    TimelineScreen #timeline-title { height: 1; background: $primary 40%; text-style: bold; }
    TimelineScreen #timeline-legend { height: 1; background: $panel; }
    TimelineScreen LinesView { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "app.view('alerts')", "Alerts", id="timeline.back"),
        Binding("z,plus", "zoom(-1)", "Zoom in", id="timeline.zoom_in"),
        Binding("Z,minus", "zoom(1)", "Zoom out", id="timeline.zoom_out"),
        Binding("b", "dimension", "By host/detector", id="timeline.dimension"),
        Binding("n", "next_value", "Next value", id="timeline.next"),
        Binding("f5,R", "reload", "Reload", id="timeline.reload"),
    ]
    # Enter on a bucket: LinesView's own binding (lines.open) posts Selected, handled below.

    def __init__(self, buckets: int = 60) -> None:
        super().__init__()
        self.buckets = buckets
        self.zoom = 0
        self.dimension = "all"
        self.value: str | None = None
        self.data: Timeline | None = None
        self._seen: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-title")
        yield Static(id="timeline-legend")
        yield LinesView(selectable=True, id="timeline-lines")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._title()
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def engine_progress(self, status: Any) -> None:
        key = (int(getattr(status, "events_total", 0) or 0), int(getattr(status, "alerts_total", 0) or 0))
        if key != self._seen:
            self._seen = key
            if self.query_one(LinesView).following:
                self.reload()

    @on(LinesView.Selected, "#timeline-lines")
    def _open_bucket(self, event: LinesView.Selected) -> None:
        data = self.data
        if data is None or not (0 <= event.index < len(data.buckets)):
            return
        start = data.buckets[event.index][0]
        self.app.show_events_between(start, start + data.width)

    def action_zoom(self, step: int) -> None:
        self.zoom = max(0, min(len(ZOOM_LEVELS) - 1, self.zoom + step))
        self.app.remember(timeline_zoom=self.zoom)
        self.reload()

    def action_dimension(self) -> None:
        self.dimension = DIMENSIONS[(DIMENSIONS.index(self.dimension) + 1) % len(DIMENSIONS)]
        self.value = None
        self.app.remember(timeline_dimension=self.dimension)
        self.reload()

    def action_next_value(self) -> None:
        if self.data and self.data.values and self.value in self.data.values:
            i = self.data.values.index(self.value)
            self.value = self.data.values[(i + 1) % len(self.data.values)]
            self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        if self.app.engine is None:
            return
        self._title()
        self._load(self.app.engine.store, self.zoom, self.dimension, self.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="timeline")
    def _load(self, store: Any, zoom: int, dimension: str, value: str | None) -> None:
        worker = get_current_worker()
        try:
            with reading(store) as cur:
                data, error = timeline(cur, zoom, self.buckets, dimension, value), None
        except Exception as exc:
            data, error = None, f"{type(exc).__name__}: {exc}"
        if not worker.is_cancelled:
            self.post_message(TimelineLoaded(data, error))

    def on_timeline_loaded(self, message: TimelineLoaded) -> None:
        if message.data is None:
            self.query_one("#timeline-legend", Static).update(Text(clean(message.error), style="bold red"))
            return
        self.data = message.data
        self.value = message.data.value
        self._title()
        view = self.query_one(LinesView)
        follow, keep = view.following, view.cursor
        view.set_lines(timeline_lines(message.data, max(40, view.size.width or 80)), follow_end=follow, keep=keep)

    def on_resize(self) -> None:
        if self.data is not None:
            view = self.query_one(LinesView)
            view.set_lines(timeline_lines(self.data, max(40, view.size.width or 80)), follow_end=True)

    def _title(self) -> None:
        step = ZOOM_LEVELS[self.zoom][0]
        what = "all" if self.dimension == "all" else f"{self.dimension} = {self.value or '…'}"
        self.query_one("#timeline-title", Static).update(
            Text.assemble((" VIGIL ", "bold reverse"), f"  timeline — per {step} · {clean(what, 60)}"))
        self.query_one("#timeline-legend", Static).update(Text(
            " bucket   events (bar, count)         │ alerts   Enter: its events · z/Z zoom · b host/detector · n next",
            style="dim", no_wrap=True))
