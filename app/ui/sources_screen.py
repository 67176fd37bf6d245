"""Sources: every file and listener with its state and last error first (so a failing one is visible on an 80-column
terminal), then offset/port, lines, rate and drops, from `engine.status().sources` (refreshed each status tick).
The selected row's full error is shown under the table."""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from app.ui.text import plain

COLUMNS = ("source", "kind", "state", "offset/port", "lines", "rate/s", "drops", "error")
SHOWN = (0, 2, 7, 1, 3, 4, 5, 6)  # display order: the error right after the state


def source_rows(sources: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per listener and per tailed file (a file source expands into its files)."""
    rows: list[tuple[str, ...]] = []
    for s in sources:
        kind = str(s.get("kind") or "")
        name = str(s.get("name") or s.get("url") or kind)
        err = s.get("error") or s.get("last_error") or s.get("watch_error") or ""
        if kind == "files":
            rows.append((name, kind, "error" if err else "watching", ", ".join(map(str, s.get("patterns") or [])),
                         str(s.get("lines", 0)), "", str(s.get("lost_bytes") or 0), str(err)))
            for f in s.get("files") or []:
                rows.append(("  " + str(f.get("path")), "file", str(f.get("state", "")),
                             f"{f.get('offset', 0)}/{f.get('size', 0)}", str(f.get("lines", 0)), "",
                             str(f.get("lost_bytes") or 0), str(f.get("last_error") or "")))
            continue
        running = s.get("running")
        state = str(s.get("state") or ("running" if running else "stopped" if running is False else ""))
        where = f"{s.get('bind')}:{s.get('port')}" if s.get("port") is not None else ""
        lines = s.get("messages", s.get("lines", 0))
        rows.append((name, kind, "error" if err else state, where, str(lines), "", str(s.get("drops") or 0),
                     str(err)))
    return rows


def detection_rows(status: Any) -> list[tuple[str, ...]]:
    """Detection reads the store like a source reads a file: its checkpoint, what it scored, how far behind."""
    scorer = getattr(status, "scorer", None) or {}
    if not scorer:
        return []
    behind = int(getattr(status, "detect_lag_events", 0) or 0)
    state = f"{behind:,} behind, {float(getattr(status, 'detect_lag_s', 0.0) or 0.0):.1f} s" if behind else "caught up"
    err = scorer.get("error") or scorer.get("rule_error") or ""
    return [("detection (Sigma, templates, models)", "scorer", "error" if err else state,
             f"event {scorer.get('checkpoint', 0)}", str(scorer.get("scored", 0)), "",
             str(int(scorer.get("errors") or 0) + int(scorer.get("rule_errors") or 0)), str(err))]


class SourcesScreen(Screen[None]):
    DEFAULT_CSS = """
    SourcesScreen #sources-title { height: 1; background: $primary 40%; text-style: bold; }
    SourcesScreen DataTable { height: 1fr; }
    SourcesScreen #source-error { height: auto; max-height: 3; }
    """
    BINDINGS = [Binding("escape", "app.view('alerts')", "Alerts", id="sources.back")]

    def __init__(self) -> None:
        super().__init__()
        self._prev: dict[str, tuple[float, int]] = {}
        self.rows: list[tuple[str, ...]] = []

    def compose(self) -> ComposeResult:
        yield Static(" VIGIL  sources — files and listeners", id="sources-title")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*(COLUMNS[i] for i in SHOWN))
        yield table
        yield Static(id="source-error")
        yield Footer(compact=True)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_error(event.cursor_row)

    def _show_error(self, index: int) -> None:
        err = self.rows[index][7] if 0 <= index < len(self.rows) else ""
        self.query_one("#source-error", Static).update(plain(f" error: {err}" if err else "", "bold red", limit=600))

    def show_status(self, status: Any) -> None:
        rows = source_rows(list(getattr(status, "sources", []) or [])) + detection_rows(status)
        now = time.monotonic()
        out = []
        for r in rows:
            rate = ""
            try:
                lines = int(r[4])
                prev = self._prev.get(r[0])
                if prev and now > prev[0]:
                    rate = f"{(lines - prev[1]) / (now - prev[0]):.0f}"
                self._prev[r[0]] = (now, lines)
            except ValueError:
                pass
            out.append((*r[:5], rate, *r[6:]))
        self.rows = out
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in out:
            table.add_row(*(plain(r[i], "bold red" if i == 7 or (i == 2 and r[2] == "error") else "", limit=200)
                            for i in SHOWN))
        if out:
            table.move_cursor(row=min(cursor, len(out) - 1))
            self._show_error(min(cursor, len(out) - 1))
