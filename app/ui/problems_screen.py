"""`!`: the list behind the status bar's "N problems" — each thing the engine did not do, how often, and the last
error text (app.problems). Severe ones (data not stored, work stopped) first."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from app.ui.text import clean


def problems_text(problems: list[Any]) -> Text:
    t = Text(end="")
    if not problems:
        t.append("No problems: everything received was stored, scored and handed on.\n", style="bold")
        return t
    t.append(f"{len(problems)} problem{'' if len(problems) == 1 else 's'}", style="bold")
    t.append("   (also in `vigil doctor`)\n\n", style="dim")
    for p in problems:
        t.append("FAIL " if p.severe else "warn ", style="bold red" if p.severe else "bold yellow")
        t.append(clean(p.title, 200), style="bold")
        t.append(f"  ×{p.count:,}\n")
        if p.detail:
            t.append(f"     last: {clean(p.detail, 400)}\n", style="dim")
    return t


class ProblemsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ProblemsScreen { align: center middle; }
    ProblemsScreen > VerticalScroll { width: 90%; max-width: 120; height: 80%; border: round $error;
                                      background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,exclamation_mark", "dismiss", "Close", id="problems.close")]

    def __init__(self, problems: list[Any]) -> None:
        super().__init__()
        self.problems = problems

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(problems_text(self.problems), id="problems-body")

    def show(self, problems: list[Any]) -> None:
        """Refresh while open (the status updates once a second)."""
        self.problems = problems
        if self.is_mounted:
            self.query_one("#problems-body", Static).update(problems_text(problems))
