"""The console's main screen: the live incident list (default) and alert list one key (`v`) apart, a `/` filter,
the detail pane, a slot for the chat panel, a one-line notice bar and the status bar. Status actions (acknowledge,
resolve, false positive), copy and export live here; on an incident they act on all of its alerts.

Engine notices go to the notice bar, never to pop-ups that would cover the detail pane.
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
from textual.widgets import Footer, Input, Static

from app.ui.alert_ring import AlertRing, AlertRow, IncidentRing, IncidentRow
from app.ui.alert_table import AlertHeader, AlertTable
from app.ui.detail import DetailPane
from app.ui.incident_table import IncidentTable
from app.ui.queries import alert_detail, detail_as_text, export_alerts_jsonl, reading
from app.ui.status_bar import StatusBar
from app.ui.table_view import LiveTable, tail_label
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
        self.view = "incidents"

    def render(self) -> Text:
        t = Text(" VIGIL ", style="bold reverse", end="")
        t.append(f"  {self.view}", style="bold")
        t.append(" (v: " + ("alerts" if self.view == "incidents" else "incidents") + ")", style="dim")
        if self.store_name:
            t.append(f"  store {clean(self.store_name)}", style="dim")
        t.append(f"  engine {self.engine_state}", style="" if self.engine_state == "running" else "italic")
        if self.read_only:
            t.append("  ")
            t.append(" READ-ONLY ", style="bold reverse")
        t.append("   ? help · ctrl+p commands", style="dim")
        return t


class NoticeBar(Static):
    """The latest engine notice or console message on one line (a history of them is one key away), instead of
    pop-ups that cover the table and the detail pane."""

    DEFAULT_CSS = """
    NoticeBar { height: 1; background: $panel; color: $text-muted; display: none; }
    NoticeBar.-shown { display: block; }
    NoticeBar.-warning { color: $warning; }
    NoticeBar.-error { color: $error; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[tuple[str, str]] = []  # (severity, text), newest last
        self.unseen = 0

    def say(self, text: str, severity: str = "information") -> None:
        self.history = (self.history + [(severity, clean(text, 500))])[-200:]
        self.unseen += 1
        self.set_class(True, "-shown")
        self.set_class(severity == "warning", "-warning")
        self.set_class(severity == "error", "-error")
        more = f"  (+{self.unseen - 1} more · N lists them)" if self.unseen > 1 else ""
        self.update(Text(f" {self.history[-1][1]}{more}", no_wrap=True, overflow="ellipsis", end=""))

    @property
    def latest(self) -> str:
        return self.history[-1][1] if self.history else ""


class MainScreen(Screen[None]):
    app: VigilApp

    DEFAULT_CSS = """
    MainScreen #body { height: 1fr; }
    MainScreen #alerts-pane { width: 1fr; }
    MainScreen AlertHeader { height: 1; background: $panel; }
    MainScreen LiveTable { height: 1fr; }
    MainScreen #table-filter { height: 1; border: none; padding: 0 1; display: none; }
    MainScreen #table-filter.-open { display: block; }
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
        Binding("slash", "filter", "Filter", id="alerts.filter", tooltip="filter the list: words, !word excludes"),
        Binding("v", "show('alerts')", "Alerts", id="alerts.show_alerts", tooltip="the alert list"),
        Binding("v", "show('incidents')", "Incidents", id="alerts.show_incidents", tooltip="one row per attacker"),
        Binding("N", "notices", "Notices", show=False, id="alerts.notices", tooltip="engine notices, newest last"),
        Binding("escape", "close_detail", "Close", show=False, id="alerts.close_detail"),
    ]
    # Actions on the selected rows: they must not fire (nor be offered in the footer) while the analyst types.
    TABLE_ACTIONS = frozenset({"set_status", "copy", "export", "toggle_chat", "filter", "show", "notices"})

    def __init__(self, ring: AlertRing, incidents: IncidentRing | None = None, view: str = "incidents") -> None:
        super().__init__()
        self.ring = ring
        self.incident_ring = incidents or IncidentRing(ring.capacity)
        self.view = view if view in ("incidents", "alerts") else "incidents"
        self.user = getpass.getuser()
        self.last_status_change: StatusWritten | None = None
        self.last_export: Path | None = None

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        with Horizontal(id="body"):
            with Vertical(id="alerts-pane"):
                yield Input(placeholder="/ filter: words must all appear, !word excludes; Enter keeps, Esc clears",
                            id="table-filter")
                yield AlertHeader(self.view, id="alert-header")
                incidents = IncidentTable(self.incident_ring, id="incidents")
                alerts = AlertTable(self.ring, id="alerts")
                incidents.display = self.view == "incidents"
                alerts.display = self.view == "alerts"
                yield incidents
                yield alerts
                yield Static(id="tail-bar")
                detail = DetailPane(id="detail")
                detail.display = False
                yield detail
            with Container(id="chat-slot"):
                # The ChatPanel (app/ui/chat.py) is mounted here the first time the slot is opened (p).
                yield Static("starting chat…", id="chat-placeholder")
        yield NoticeBar(id="notice-bar")
        yield StatusBar(id="status")
        yield Footer(compact=True)

    # -- accessors -----------------------------------------------------------------------------------------
    @property
    def table(self) -> AlertTable:
        """The alert list (whether shown or not)."""
        return self.query_one(AlertTable)

    @property
    def incidents(self) -> IncidentTable:
        return self.query_one(IncidentTable)

    @property
    def active(self) -> LiveTable:
        """The list on screen: incidents or alerts."""
        return self.incidents if self.view == "incidents" else self.table

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def notices(self) -> NoticeBar:
        return self.query_one(NoticeBar)

    def on_mount(self) -> None:
        bar = self.query_one(TopBar)
        bar.read_only = self.app.read_only
        bar.view = self.view
        self.status_bar.read_only = self.app.read_only
        self.active.focus()
        self._update_tail_bar()
        self.app.main_ready()

    def engine_ready(self, engine: Any) -> None:
        self.detail.store = engine.store
        bar = self.query_one(TopBar)
        bar.store_name = Path(str(engine.store.path)).name
        bar.engine_state = "running"
        bar.refresh()

    def say(self, text: str, severity: str = "information") -> None:
        """A message for the analyst on the notice bar (never a pop-up over the table or the detail pane)."""
        if self.query(NoticeBar):
            self.notices.say(text, severity)

    # -- focus and keys ------------------------------------------------------------------------------------
    def _typing(self) -> bool:
        """True while the analyst types (chat question, filter): single-key actions are off and not offered."""
        focused = self.focused
        return isinstance(focused, Input) or (focused is not None and any(
            a.id == "chat-slot" for a in focused.ancestors if isinstance(a, Container)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.TABLE_ACTIONS and self._typing():
            return False
        if action == "show":
            return parameters[0] != self.view if parameters else True
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    # -- data from the bridge ------------------------------------------------------------------------------
    def apply_rows(self, rows: list[AlertRow]) -> None:
        table = self.table
        fresh_critical = [r for r in rows if r.severity == "critical" and r.alert_id not in self.ring]
        table.apply(rows)
        chat = self._chat_panel()
        if fresh_critical and chat is not None and hasattr(chat, "escalate"):
            r = fresh_critical[-1]
            chat.escalate(f"CRITICAL alert #{r.alert_id}: {r.title or r.rule_id} ({r.entity or r.host or '-'})")
        detail = self.detail
        if detail.display and detail.kind == "alert" and detail.alert_id in {r.alert_id for r in rows}:
            detail.show(detail.alert_id)  # the open alert changed: show the new state
        self._update_tail_bar()

    def apply_incidents(self, rows: list[IncidentRow]) -> None:
        self.incidents.apply(rows)
        detail = self.detail
        if detail.display and detail.kind == "incident" and detail.alert_id in {r.incident_id for r in rows}:
            detail.show(detail.alert_id, "incident")
        self._update_tail_bar()

    def _update_tail_bar(self) -> None:
        bars, headers = list(self.query("#tail-bar").results(Static)), self.query(AlertHeader)
        if not self.query(LiveTable) or not bars or not headers:
            return  # shutting down: widgets leave one by one while late alert rows may still arrive
        table = self.active
        for bar in bars:
            bar.update(tail_label(table, len(table.ring)))
        headers.refresh()

    @on(LiveTable.TailChanged)
    def _tail_changed(self, event: LiveTable.TailChanged) -> None:
        self._update_tail_bar()
        if event.table is self.active:
            self.app.remember(tail=event.tail)

    @on(LiveTable.Highlighted)
    def _highlighted(self, event: LiveTable.Highlighted) -> None:
        if event.table is not self.active or not self.query(DetailPane):
            return
        kind = "incident" if isinstance(event.table, IncidentTable) else "alert"
        if kind == "incident":
            self.app.remember(cursor_incident_id=event.row_id)
        else:
            self.app.remember(cursor_alert_id=event.row_id)
        if self.detail.display:
            self.detail.show(event.row_id, kind)
        chat = self._chat_panel()
        alert_id = self._act_through()
        if chat is not None and alert_id is not None and hasattr(chat, "set_alert"):
            chat.set_alert(alert_id, self._subject())

    @on(LiveTable.Opened)
    def _opened(self, event: LiveTable.Opened) -> None:
        self.open_detail(event.row_id, "incident" if isinstance(event.table, IncidentTable) else "alert")

    def open_detail(self, row_id: int | None, kind: str = "alert") -> None:
        detail = self.detail
        detail.display = True
        detail.show(row_id, kind)
        self.app.remember(detail_open=True)

    def action_close_detail(self) -> None:
        focused = self.focused
        filt = self.query_one("#table-filter", Input)
        if focused is filt:
            self._close_filter(clear=True)
            return
        if focused is not None and focused is not self.active and (
            focused is self.detail or self.query_one("#chat-slot") in focused.ancestors
        ):
            self.active.focus()
            return
        if self.detail.display:
            self.detail.display = False
            self.app.remember(detail_open=False)

    # -- incidents ↔ alerts, filter ------------------------------------------------------------------------
    def action_show(self, view: str) -> None:
        if view == self.view or view not in ("incidents", "alerts"):
            return
        before = self.active
        self.view = view
        self.incidents.display = view == "incidents"
        self.table.display = view == "alerts"
        header = self.query_one(AlertHeader)
        header.table_id = view
        bar = self.query_one(TopBar)
        bar.view = view
        bar.refresh()
        table = self.active
        filt = self.query_one("#table-filter", Input)
        filt.value = table.filter_text
        filt.set_class(bool(table.filter_text), "-open")
        table.focus()
        if self.detail.display:
            kind = "incident" if view == "incidents" else "alert"
            self.detail.show(table.cursor_id, kind)
        del before
        self._update_tail_bar()
        self.app.remember(table=view)
        self.refresh_bindings()

    def action_filter(self) -> None:
        filt = self.query_one("#table-filter", Input)
        filt.value = self.active.filter_text
        filt.add_class("-open")
        filt.focus()

    @on(Input.Changed, "#table-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.active.set_filter(event.value)
        self._update_tail_bar()

    @on(Input.Submitted, "#table-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._close_filter(clear=False)

    def _close_filter(self, clear: bool) -> None:
        filt = self.query_one("#table-filter", Input)
        if clear:
            filt.value = ""
            self.active.set_filter("")
        filt.set_class(bool(self.active.filter_text), "-open")
        self.active.focus()
        self._update_tail_bar()

    def action_notices(self) -> None:
        from app.ui.notices_screen import NoticesScreen

        self.notices.unseen = 0
        self.app.push_screen(NoticesScreen(list(self.notices.history)))

    # -- actions -------------------------------------------------------------------------------------------
    def _targets(self) -> list[int]:
        """Alert ids the analyst means: the marked rows, else the selected one; an incident means its alerts."""
        table = self.active
        rows = sorted(table.marked) if table.marked else ([table.cursor_id] if table.cursor_id is not None else [])
        if table is self.table:
            return rows
        ids: list[int] = []
        for iid in rows:
            inc = self.incident_ring.get(iid)
            if inc is not None:
                ids.extend(inc.alert_ids)
        return sorted(set(ids))

    def _act_through(self) -> int | None:
        """The alert the chat and playbooks work on: the selected alert, or the selected incident's lead alert."""
        if self.view == "alerts":
            return self.table.cursor_id
        row = self.incidents.cursor_row
        return int(row.lead_alert_id) if row is not None else None

    def _subject(self) -> str:
        row = self.incidents.cursor_row if self.view == "incidents" else None
        return f"incident #{row.incident_id} ({clean(row.entity, 60)})" if row is not None else ""

    def action_set_status(self, status: str) -> None:
        if self.app.read_only:
            self.say(f"READ-ONLY: alerts cannot be {STATUS_VERBS[status]} in this console", "warning")
            return
        ids = self._targets()
        if not ids or self.app.engine is None:
            self.say("nothing selected", "warning")
            return
        self._write_status(ids, status, self.user)

    @work(thread=True, exit_on_error=False, group="status")
    def _write_status(self, ids: list[int], status: str, user: str) -> None:
        engine = self.app.engine
        errors: list[str] = []

        def apply(con: Any) -> None:
            done = []
            for aid in ids:
                try:
                    write_status(engine, con, aid, status, user)
                    done.append(aid)
                except ValueError as exc:  # AlertStatusError: a transition the lifecycle refuses
                    errors.append(str(exc))
            book = getattr(engine, "incidents", None)
            if book is not None and done:
                book.set_status(con, done, status)

        try:
            engine.writer.call(apply).result(timeout=30)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        self.post_message(StatusWritten(ids, status, errors))

    def on_status_written(self, message: StatusWritten) -> None:
        self.last_status_change = message
        if not self.query(LiveTable):
            return
        done = len(message.ids) - len(message.errors)
        if done:
            self.say(f"{done} alert(s) {STATUS_VERBS[message.status]} by {self.user}")
        for err in message.errors[:3]:
            self.say(clean(err), "error")
        for table in (self.table, self.incidents):
            table.marked.clear()
            table.refresh()
        bridge = self.app.bridge
        if bridge is not None:
            bridge.refresh_alerts(message.ids)
            bridge.drain(status=False)

    def action_copy(self) -> None:
        aid = self._act_through()
        if aid is None or self.app.engine is None:
            self.say("nothing selected", "warning")
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
        self.say(f"copied {message.what} ({len(message.text):,} chars) to the clipboard")

    def action_export(self) -> None:
        ids = self._targets()
        if not ids or self.app.engine is None:
            self.say("nothing selected (m marks rows for export)", "warning")
            return
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self._export(ids, exports_dir() / f"alerts-{stamp}.jsonl")

    @work(thread=True, exit_on_error=False, group="export")
    def _export(self, ids: list[int], path: Path) -> None:
        try:
            with reading(self.app.engine.store) as cur:
                n = export_alerts_jsonl(cur, ids, path)
        except Exception as exc:
            self.app.call_from_thread(self.say, f"export failed: {exc}", "error")
            return
        self.last_export = path
        self.app.call_from_thread(self.say, f"exported {n} alert(s) to {path}")

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
                self.active.focus()
            self.refresh_bindings()
            return
        panel = self._chat_panel()
        if panel is not None:
            panel.focus_input()  # typing goes to the question, never to the table's keys
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
        panel = ChatPanel(session, alert_id=self._act_through(), subject=self._subject(), id="chat")
        slot.mount(panel)
        self.call_after_refresh(panel.focus_input)
