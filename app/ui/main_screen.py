"""The console's main screen: live alert table, detail pane, a slot for the chat panel, and the status bar.
Alert actions (acknowledge, resolve, false positive, copy, export) live here, with the state they need.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from app.ui.alert_ring import AlertRing, AlertRow
from app.ui.alert_table import AlertHeader, AlertTable, tail_label
from app.ui.detail import DetailPane
from app.ui.queries import alert_detail, detail_as_text, export_alerts_jsonl, reading
from app.ui.status_bar import StatusBar
from app.ui.text import clean

if TYPE_CHECKING:
    from app.ui.app import VigilApp

STATUS_VERBS = {"acknowledged": "acknowledged", "resolved": "resolved", "false_positive": "marked false positive"}


def exports_dir() -> Path:
    from store.db import default_data_dir

    return default_data_dir() / "exports"


def write_status(engine: Any, con: Any, alert_id: int, status: str, user: str) -> None:
    """One status change with who/when, through the scorer's lifecycle check when a scorer is running."""
    scorer = getattr(engine, "scorer", None)
    if scorer is not None and hasattr(scorer, "set_status"):
        scorer.set_status(con, alert_id, status, user)
        return
    from detectors.alerts import AlertStatusError, check_transition

    row = con.execute("SELECT status FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
    if row is None:
        raise AlertStatusError(f"no alert with id {alert_id}")
    check_transition(row[0], status)
    con.execute("UPDATE alerts SET status = ?, status_by = ?, status_at = ? WHERE alert_id = ?",
                [status, user, datetime.now(UTC), alert_id])


class StatusWritten(Message):
    def __init__(self, ids: list[int], status: str, errors: list[str]) -> None:
        super().__init__()
        self.ids, self.status, self.errors = ids, status, errors


class ClipboardReady(Message):
    def __init__(self, text: str, what: str) -> None:
        super().__init__()
        self.text, self.what = text, what


class TopBar(Static):
    DEFAULT_CSS = "TopBar { height: 1; background: $primary 40%; text-style: bold; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store_name = ""
        self.engine_state = "starting"
        self.read_only = False

    def render(self) -> Text:
        t = Text(" VIGIL ", style="bold reverse", end="")
        t.append("  alerts", style="bold")
        if self.store_name:
            t.append(f"  store {clean(self.store_name)}", style="dim")
        t.append(f"  engine {self.engine_state}", style="" if self.engine_state == "running" else "italic")
        if self.read_only:
            t.append("  ")
            t.append(" READ-ONLY ", style="bold reverse")
        t.append("   ? help · ctrl+p commands", style="dim")
        return t


class MainScreen(Screen[None]):
    app: VigilApp

    DEFAULT_CSS = """
    MainScreen #body { height: 1fr; }
    MainScreen #alerts-pane { width: 1fr; }
    MainScreen AlertHeader { height: 1; background: $panel; }
    MainScreen AlertTable { height: 1fr; }
    MainScreen #tail-bar { height: 1; background: $panel; }
    MainScreen #chat-slot { width: 45%; min-width: 30; border-left: solid $primary; display: none; }
    MainScreen #chat-slot.open { display: block; }
    MainScreen #chat-placeholder { padding: 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("a", "set_status('acknowledged')", "Ack", id="alerts.ack", tooltip="acknowledge"),
        Binding("r", "set_status('resolved')", "Resolve", id="alerts.resolve"),
        Binding("f", "set_status('false_positive')", "False+", id="alerts.false_positive"),
        Binding("c", "copy", "Copy", id="alerts.copy", tooltip="copy alert + evidence (OSC 52)"),
        Binding("e", "export", "Export", show=False, id="alerts.export", tooltip="export marked alerts as JSONL"),
        Binding("p", "toggle_chat", "Chat", id="alerts.chat", tooltip="chat / playbooks panel"),
        Binding("escape", "close_detail", "Close", show=False, id="alerts.close_detail"),
    ]

    def __init__(self, ring: AlertRing) -> None:
        super().__init__()
        self.ring = ring
        self.user = getpass.getuser()
        self.last_status_change: StatusWritten | None = None
        self.last_export: Path | None = None

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        with Horizontal(id="body"):
            with Vertical(id="alerts-pane"):
                yield AlertHeader(id="alert-header")
                yield AlertTable(self.ring, id="alerts")
                yield Static(id="tail-bar")
                detail = DetailPane(id="detail")
                detail.display = False
                yield detail
            with Container(id="chat-slot"):
                # The ChatPanel (app/ui/chat.py) is mounted here the first time the slot is opened (p).
                yield Static("starting chat…", id="chat-placeholder")
        yield StatusBar(id="status")
        yield Footer(compact=True)

    # -- accessors -----------------------------------------------------------------------------------------
    @property
    def table(self) -> AlertTable:
        return self.query_one(AlertTable)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    def on_mount(self) -> None:
        bar = self.query_one(TopBar)
        bar.read_only = self.app.read_only
        self.status_bar.read_only = self.app.read_only
        self.table.focus()
        self._update_tail_bar()
        self.app.main_ready()

    def engine_ready(self, engine: Any) -> None:
        self.detail.store = engine.store
        bar = self.query_one(TopBar)
        bar.store_name = Path(str(engine.store.path)).name
        bar.engine_state = "running"
        bar.refresh()

    # -- data from the bridge ------------------------------------------------------------------------------
    def apply_rows(self, rows: list[AlertRow]) -> None:
        table = self.table
        fresh_critical = [r for r in rows if r.severity == "critical" and r.alert_id not in self.ring]
        table.apply(rows)
        chat = self._chat_panel()
        if fresh_critical and chat is not None and hasattr(chat, "escalate"):
            r = fresh_critical[-1]
            chat.escalate(f"CRITICAL alert #{r.alert_id}: {r.title or r.rule_id} ({r.entity or r.host or '-'})")
        if self.detail.display and self.detail.alert_id in {r.alert_id for r in rows}:
            self.detail.show(self.detail.alert_id)  # the open alert changed: show the new state
        self._update_tail_bar()

    def _update_tail_bar(self) -> None:
        if not self.query(AlertTable):
            return  # shutting down
        table = self.table
        self.query_one("#tail-bar", Static).update(tail_label(table.tail, table.new_count, len(self.ring)))

    @on(AlertTable.TailChanged)
    def _tail_changed(self, event: AlertTable.TailChanged) -> None:
        self._update_tail_bar()
        self.app.remember(tail=event.tail)

    @on(AlertTable.Highlighted)
    def _highlighted(self, event: AlertTable.Highlighted) -> None:
        self.app.remember(cursor_alert_id=event.alert_id)
        if not self.query(DetailPane):
            return
        if self.detail.display:
            self.detail.show(event.alert_id)
        chat = self._chat_panel()
        if chat is not None and event.alert_id is not None and hasattr(chat, "set_alert"):
            chat.set_alert(event.alert_id)

    @on(AlertTable.Opened)
    def _opened(self, event: AlertTable.Opened) -> None:
        self.open_detail(event.alert_id)

    def open_detail(self, alert_id: int | None) -> None:
        detail = self.detail
        detail.display = True
        detail.show(alert_id)
        self.app.remember(detail_open=True)

    def action_close_detail(self) -> None:
        focused = self.focused
        if focused is not None and focused is not self.table and (
            focused is self.detail or self.query_one("#chat-slot") in focused.ancestors
        ):
            self.table.focus()
            return
        if self.detail.display:
            self.detail.display = False
            self.app.remember(detail_open=False)

    # -- actions -------------------------------------------------------------------------------------------
    def _targets(self) -> list[int]:
        table = self.table
        if table.marked:
            return sorted(table.marked)
        return [table.cursor_id] if table.cursor_id is not None else []

    def action_set_status(self, status: str) -> None:
        if self.app.read_only:
            self.notify(f"READ-ONLY: alerts cannot be {STATUS_VERBS[status]} in this console",
                        title="read-only", severity="warning", markup=False)
            return
        ids = self._targets()
        if not ids or self.app.engine is None:
            self.notify("no alert selected", severity="warning", markup=False)
            return
        self._write_status(ids, status, self.user)

    @work(thread=True, exit_on_error=False, group="status")
    def _write_status(self, ids: list[int], status: str, user: str) -> None:
        engine = self.app.engine
        errors: list[str] = []

        def apply(con: Any) -> None:
            for aid in ids:
                try:
                    write_status(engine, con, aid, status, user)
                except ValueError as exc:  # AlertStatusError: a transition the lifecycle refuses
                    errors.append(str(exc))

        try:
            engine.writer.call(apply).result(timeout=30)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        self.post_message(StatusWritten(ids, status, errors))

    def on_status_written(self, message: StatusWritten) -> None:
        self.last_status_change = message
        if not self.query(AlertTable):
            return
        done = len(message.ids) - len(message.errors)
        if done:
            self.notify(f"{done} alert(s) {STATUS_VERBS[message.status]} by {self.user}", markup=False)
        for err in message.errors[:3]:
            self.notify(clean(err), severity="error", markup=False)
        table = self.table
        table.marked.clear()
        table.refresh()
        bridge = self.app.bridge
        if bridge is not None:
            bridge.refresh_alerts(message.ids)
            bridge.drain(status=False)

    def action_copy(self) -> None:
        aid = self.table.cursor_id
        if aid is None or self.app.engine is None:
            self.notify("no alert selected", severity="warning", markup=False)
            return
        self._copy(aid)

    @work(thread=True, exit_on_error=False, group="copy")
    def _copy(self, alert_id: int) -> None:
        with reading(self.app.engine.store) as cur:
            detail = alert_detail(cur, alert_id, context=0)
        if detail is not None:
            self.post_message(ClipboardReady(detail_as_text(detail), f"alert {alert_id}"))

    def on_clipboard_ready(self, message: ClipboardReady) -> None:
        self.app.copy_to_clipboard(message.text)
        self.notify(f"copied {message.what} ({len(message.text):,} chars) to the clipboard", markup=False)

    def action_export(self) -> None:
        ids = self._targets()
        if not ids or self.app.engine is None:
            self.notify("no alert selected (m marks alerts for export)", severity="warning", markup=False)
            return
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self._export(ids, exports_dir() / f"alerts-{stamp}.jsonl")

    @work(thread=True, exit_on_error=False, group="export")
    def _export(self, ids: list[int], path: Path) -> None:
        try:
            with reading(self.app.engine.store) as cur:
                n = export_alerts_jsonl(cur, ids, path)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"export failed: {exc}", severity="error", markup=False)
            return
        self.last_export = path
        self.app.call_from_thread(self.notify, f"exported {n} alert(s) to {path}", markup=False)

    # -- chat slot -----------------------------------------------------------------------------------------
    def _chat_panel(self) -> Any:
        slot = self.query_one("#chat-slot")
        for child in slot.children:
            if type(child).__name__ == "ChatPanel":
                return child
        return None

    def action_toggle_chat(self) -> None:
        slot = self.query_one("#chat-slot")
        slot.toggle_class("open")
        if not slot.has_class("open"):
            if self.focused is not None and slot in self.focused.ancestors:
                self.table.focus()
            return
        if self._chat_panel() is not None:
            return
        try:
            from app.ui.chat import ChatPanel
        except ImportError as exc:  # playbooks extras missing: say so in the slot
            self.query_one("#chat-placeholder", Static).update(Text(f"chat unavailable: {clean(str(exc), 200)}"))
            return
        session = self.app.chat_session()
        if session is None:
            return
        self.query_one("#chat-placeholder").remove()
        slot.mount(ChatPanel(session, alert_id=self.table.cursor_id, id="chat"))
