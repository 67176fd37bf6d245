"""A read-only Line-API list of pre-built Text lines (events, timeline): only visible lines are rendered,
so a page of 500 results scrolls as cheaply as 5."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LinesView(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("down,j", "scroll_down", "Down", show=False, id="lines.down"),
        Binding("up,k", "scroll_up", "Up", show=False, id="lines.up"),
        Binding("home,g", "scroll_home", "Top", show=False, id="lines.top"),
        Binding("end,G", "scroll_end", "Bottom", show=False, id="lines.bottom"),
    ]
    DEFAULT_CSS = "LinesView { background: $surface; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Text] = []

    def set_lines(self, lines: list[Text], *, follow_end: bool = False) -> None:
        self.lines = lines
        width = max((t.cell_len for t in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        if follow_end:
            # After layout: a view that has not been sized yet would scroll to nowhere.
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        idx = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if idx >= len(self.lines):
            return Strip.blank(width, base)
        segments = [Segment(s.text, base + s.style if s.style else base)
                    for s in self.lines[idx].render(self.app.console)]
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, base)
