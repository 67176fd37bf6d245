"""A read-only Line-API list of pre-built Text lines (events, timeline): only visible lines are rendered,
so a page of 500 results scrolls as cheaply as 5. With `selectable`, a cursor line moves with the keys and
Enter posts `LinesView.Selected` (open the event, or the bucket's events)."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LinesView(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"lines-view--cursor"}
    BINDINGS = [
        Binding("down,j", "down", "Down", show=False, id="lines.down"),
        Binding("up,k", "up", "Up", show=False, id="lines.up"),
        Binding("home,g", "home", "Top", show=False, id="lines.top"),
        Binding("end,G", "end", "Bottom", show=False, id="lines.bottom"),
        Binding("enter", "select", "Open", id="lines.open", tooltip="open the line under the cursor"),
    ]
    DEFAULT_CSS = """
    LinesView { background: $surface; }
    LinesView > .lines-view--cursor { background: $primary 50%; }
    """

    class Selected(Message):
        def __init__(self, view: LinesView, index: int) -> None:
            super().__init__()
            self.view = view
            self.index = index

        @property
        def control(self) -> LinesView:
            return self.view

    def __init__(self, *, selectable: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Text] = []
        self.selectable = selectable
        self.cursor = -1

    @property
    def following(self) -> bool:
        """The cursor (or the view) is on the last line: new lines should keep it there."""
        if self.selectable:
            return self.cursor < 0 or self.cursor >= len(self.lines) - 1
        return self.scroll_y >= self.max_scroll_y

    def set_lines(self, lines: list[Text], *, follow_end: bool = False, keep: int | None = None) -> None:
        """Replace the lines; `follow_end` puts the cursor/view on the last one, `keep` on that index."""
        self.lines = lines
        width = max((t.cell_len for t in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        if self.selectable:
            if keep is not None and 0 <= keep < len(lines) and not follow_end:
                self.cursor = keep
            else:
                self.cursor = len(lines) - 1
        if follow_end:
            # After layout: a view that has not been sized yet would scroll to nowhere.
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)
        elif self.selectable:
            self.call_after_refresh(self._show_cursor)
        self.refresh()

    def _show_cursor(self) -> None:
        if self.cursor < 0:
            return
        top, height = int(self.scroll_y), max(1, self.size.height)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _move(self, idx: int) -> None:
        if not self.lines:
            return
        self.cursor = max(0, min(idx, len(self.lines) - 1))
        self._show_cursor()
        self.refresh()

    def action_down(self) -> None:
        if self.selectable:
            self._move(self.cursor + 1)
        else:
            self.scroll_down()

    def action_up(self) -> None:
        if self.selectable:
            self._move(self.cursor - 1)
        else:
            self.scroll_up()

    def action_home(self) -> None:
        if self.selectable:
            self._move(0)
        self.scroll_home(animate=False)

    def action_end(self) -> None:
        if self.selectable:
            self._move(len(self.lines) - 1)
        self.scroll_end(animate=False)

    def action_select(self) -> None:
        if self.selectable and 0 <= self.cursor < len(self.lines):
            self.post_message(self.Selected(self, self.cursor))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        idx = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if idx >= len(self.lines):
            return Strip.blank(width, base)
        if self.selectable and idx == self.cursor:
            base = base + self.get_component_rich_style("lines-view--cursor")
        segments = [Segment(s.text, base + s.style if s.style else base)
                    for s in self.lines[idx].render(self.app.console)]
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, base)
