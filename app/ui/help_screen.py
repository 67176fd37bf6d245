"""`?`/F1: the bindings active where the analyst was (the focused widget first, then its screen and the app),
with the binding ids to use in `[ui] keymap`."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: round $primary;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str, str]], where: str) -> None:
        super().__init__()
        self.rows = rows  # (owner, keys, description, binding id)
        self.where = where

    def compose(self) -> ComposeResult:
        t = Text(end="")
        t.append(f"Keys for {self.where}\n", style="bold")
        t.append("Remap any of them in config: [ui] keymap = { \"<id>\" = \"keys\" }\n\n", style="dim")
        owner = None
        for who, keys, desc, bid in self.rows:
            if who != owner:
                owner = who
                t.append(f"{who}\n", style="bold underline")
            t.append(f"  {keys:<18}", style="bold")
            t.append(f"{desc:<28}")
            t.append(f"{bid}\n", style="dim")
        t.append("\nLog text is shown escaped: control characters appear as \\xNN.\n", style="dim")
        t.append("Clipboard copy uses OSC 52 (in tmux: set -g set-clipboard on).\n", style="dim")
        with VerticalScroll():
            yield Static(t, id="help-body")


def describe_bindings(screen: object) -> list[tuple[str, str, str, str]]:
    """(owner, keys, description, id) for every binding active on `screen`, focused widget first."""
    from textual.screen import Screen

    assert isinstance(screen, Screen)
    merged: dict[tuple[str, str, str], list[str]] = {}
    for _key, active in screen.active_bindings.items():
        b = active.binding
        k = (type(active.node).__name__, b.description or b.action, b.id or "-")
        merged.setdefault(k, []).append(screen.app.get_key_display(b))
    return [(o, ", ".join(dict.fromkeys(keys)), d, i) for (o, d, i), keys in merged.items()]
