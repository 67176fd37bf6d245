"""`N`: the engine's notices and the console's messages of this session, newest last (the notice bar shows only
the latest one)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

STYLES = {"warning": "yellow", "error": "bold red"}


class NoticesScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    NoticesScreen { align: center middle; }
    NoticesScreen > VerticalScroll { width: 90%; height: 80%; border: round $primary; background: $surface;
                                     padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,N", "dismiss", "Close", id="notices.close")]

    def __init__(self, history: list[tuple[str, str]]) -> None:
        super().__init__()
        self.history = history

    def compose(self) -> ComposeResult:
        t = Text(end="")
        t.append(f"Notices this session ({len(self.history)}), newest last\n\n", style="bold")
        for severity, text in self.history or [("information", "none yet")]:
            t.append(text + "\n", style=STYLES.get(severity, ""))  # already made safe by NoticeBar.say
        with VerticalScroll():
            yield Static(t, id="notices-body")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).scroll_end(animate=False)
