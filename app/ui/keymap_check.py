"""Checks `[ui] theme` and `[ui] keymap` against what the console really has, so a typo is refused when the config
loads (file, key, value) instead of being ignored on screen: unknown themes, unknown binding ids, and a remap that
takes a key another binding of the same view already uses (a keymap that shadows `j` would break moving down).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KeymapProblem:
    binding_id: str
    value: str
    problem: str


def _normalise(keys: str) -> list[str]:
    from textual.keys import _character_to_key

    out = []
    for k in keys.split(","):
        k = k.strip()
        if len(k) == 1:
            k = _character_to_key(k)
        out.append(k)
    return [k for k in out if k]


def theme_names() -> list[str]:
    from textual.theme import BUILTIN_THEMES

    from app.ui.themes import ALIASES, THEMES

    return sorted({*THEMES, *ALIASES, *BUILTIN_THEMES})


def _views() -> dict[str, list[Any]]:
    """Which binding owners are active together: a key may mean one thing per view."""
    from app.ui.app import VigilApp
    from app.ui.event_detail import EventDetailScreen
    from app.ui.events_screen import EventsScreen, FilterList
    from app.ui.help_screen import HelpScreen
    from app.ui.incident_table import IncidentTable
    from app.ui.lines_view import LinesView
    from app.ui.main_screen import MainScreen
    from app.ui.problems_screen import ProblemsScreen
    from app.ui.sources_screen import SourcesScreen
    from app.ui.sql_screen import SqlScreen
    from app.ui.table_view import LiveTable
    from app.ui.timeline_screen import TimelineScreen

    return {
        "alerts": [VigilApp, MainScreen, LiveTable],
        "incidents": [VigilApp, MainScreen, LiveTable, IncidentTable],
        "events": [VigilApp, EventsScreen, FilterList, LinesView],
        "event detail": [VigilApp, EventDetailScreen, LinesView],
        "sql": [VigilApp, SqlScreen],
        "timeline": [VigilApp, TimelineScreen, LinesView],
        "sources": [VigilApp, SourcesScreen],
        "help": [HelpScreen],
        "problems": [VigilApp, ProblemsScreen],
    }


def binding_table() -> dict[str, tuple[list[str], set[str]]]:
    """binding id → (default keys, views it is active in)."""
    from textual.binding import Binding

    table: dict[str, tuple[list[str], set[str]]] = {}
    for view, owners in _views().items():
        for cls in owners:
            for b in cls.BINDINGS:
                if isinstance(b, Binding) and b.id:
                    keys, views = table.setdefault(b.id, (_normalise(b.key), set()))
                    views.add(view)
    return table


def check_keymap(keymap: dict[str, str]) -> list[KeymapProblem]:
    table = binding_table()
    problems: list[KeymapProblem] = []
    for bid, value in keymap.items():
        if bid not in table:
            near = sorted(i for i in table if i.split(".")[0] == bid.split(".")[0])[:8]
            hint = f"; ids here: {', '.join(near)}" if near else "; `?` in the console lists every id"
            problems.append(KeymapProblem(bid, value, f"unknown binding id{hint}"))
            continue
        if not _normalise(value):
            problems.append(KeymapProblem(bid, value, "no key given"))
    if problems:
        return problems
    # The keys each binding ends up with, then any key two bindings of one view would share because of the keymap.
    final = {bid: (_normalise(keymap[bid]) if bid in keymap else keys, views) for bid, (keys, views) in table.items()}
    for bid, value in keymap.items():
        keys, views = final[bid]
        for other, (other_keys, other_views) in final.items():
            if other == bid or not (views & other_views):
                continue
            shared = sorted(set(keys) & set(other_keys))
            if shared:
                view = sorted(views & other_views)[0]
                problems.append(KeymapProblem(
                    bid, value, f"key {shared[0]!r} is already {other!r} in the {view} view; remap that one too, "
                    "or choose another key"))
                break
    return problems
