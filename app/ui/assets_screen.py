"""Assets (`A`): the passive OT asset inventory — every address seen serving or speaking an industrial protocol,
with its inferred role, criticality, protocols, peers, functions and identity — and the learning state. Read from
the store on a worker thread when the screen opens and on `R`; the selected asset's details below the table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from app.ui.queries import reading
from app.ui.text import clean, plain

COLUMNS = ("address", "role", "criticality", "protocols", "peers", "functions", "identity", "last seen", "events",
           "commands")
IDENTITY_KEYS = ("vendor_name", "vendor", "vendor_id", "product_name", "module_name", "automation_system_name",
                 "device_type_name", "revision", "serial_number", "module_serial", "serial")


@dataclass
class AssetsLoaded(Message):
    assets: list[dict[str, Any]] | None
    state: dict[str, str]
    error: str | None = None


def identity_text(identity: dict[str, Any]) -> str:
    return " ".join(str(identity[k]) for k in IDENTITY_KEYS if identity.get(k) not in (None, ""))


def asset_rows(assets: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for a in assets:
        fns = a.get("functions") or []
        last = a.get("last_seen")
        rows.append((str(a["address"]), str(a.get("role") or ""), str(a.get("criticality") or ""),
                     ",".join(a.get("protocols") or []), str(len(a.get("peers") or [])),
                     ",".join(fns[:4]) + (" …" if len(fns) > 4 else ""), identity_text(a.get("identity") or {}),
                     last.strftime("%Y-%m-%d %H:%M:%S") if isinstance(last, datetime) else "",
                     str(a.get("events") or 0), str(a.get("commands") or 0)))
    return rows


def learning_text(state: dict[str, str], hours: float) -> str:
    if state.get("learning_ended"):
        return f"watching (learning ended {state['learning_ended'][:19]})"
    if state.get("learning_started"):
        return f"learning since {state['learning_started'][:19]} ({hours:g} h)"
    return "learning starts with the first industrial event"


class AssetsScreen(Screen[None]):
    DEFAULT_CSS = """
    AssetsScreen #assets-title { height: 1; background: $primary 40%; text-style: bold; }
    AssetsScreen DataTable { height: 2fr; }
    AssetsScreen #assets-detail { height: 1fr; border-top: solid $primary; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "app.view('alerts')", "Alerts", id="assets.back"),
        Binding("f5,R", "reload", "Reload", id="assets.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[dict[str, Any]] = []
        self.state: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(" VIGIL  assets — OT inventory", id="assets-title")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="assets-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        engine = getattr(self.app, "engine", None)
        if engine is None:
            return
        self._load(engine.store)

    @work(thread=True, exclusive=True, exit_on_error=False, group="assets")
    def _load(self, store: Any) -> None:
        from store.inventory.storage import list_assets, load_state

        worker = get_current_worker()
        try:
            with reading(store) as cur:
                assets, state, error = list_assets(cur), load_state(cur), None
        except Exception as exc:
            assets, state, error = None, {}, f"{type(exc).__name__}: {exc}"
        if not worker.is_cancelled:
            self.post_message(AssetsLoaded(assets, state, error))

    def on_assets_loaded(self, message: AssetsLoaded) -> None:
        detail = self.query_one("#assets-detail", Static)
        if message.assets is None:
            detail.update(Text(clean(message.error or "could not read the inventory"), style="bold red"))
            return
        self.assets, self.state = message.assets, message.state
        hours = float(getattr(getattr(getattr(self.app, "config", None), "assets", None), "learning_hours", 24.0))
        self.query_one("#assets-title", Static).update(Text.assemble(
            (" VIGIL ", "bold reverse"), f"  assets — {len(self.assets)} in the OT inventory · ",
            learning_text(self.state, hours)))
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in asset_rows(self.assets):
            table.add_row(*(plain(c, limit=120) for c in row))
        if self.assets:
            table.move_cursor(row=min(cursor, len(self.assets) - 1))
            self._detail(table.cursor_row)
        else:
            detail.update(Text("No industrial traffic seen yet: Zeek ICS logs, Suricata EVE or MMS exports fill "
                               "the inventory as they are ingested.", style="dim"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    def _detail(self, row: int) -> None:
        if not 0 <= row < len(self.assets):
            return
        a = self.assets[row]
        lines = [
            Text.assemble((f"{a['address']}", "bold"), f"  {a.get('role') or ''}",
                          f"  criticality {a['criticality']}" if a.get("criticality") else ""),
            Text(f"serves: {', '.join(a.get('served') or []) or '-'}   speaks: {', '.join(a.get('protocols') or [])}"),
            Text(f"identity: {identity_text(a.get('identity') or {}) or '-'}"),
            Text(f"peers: {', '.join((a.get('peers') or [])[:20])}"),
            Text(f"functions: {', '.join((a.get('functions') or [])[:30])}"),
        ]
        self.query_one("#assets-detail", Static).update(Text("\n").join(Text(clean(t.plain, 400)) if i else t
                                                                         for i, t in enumerate(lines)))
