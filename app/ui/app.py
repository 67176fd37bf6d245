"""VigilApp: the Textual console around a running engine. It starts the engine after the first frame, routes
bridge messages to the screens, applies theme and keymap from config, and remembers the analyst's state.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, TextArea

from app.config import Config
from app.ui.alert_ring import AlertRing, IncidentRing
from app.ui.assets_screen import AssetsScreen
from app.ui.bridge import EngineBridge
from app.ui.events_screen import EventsScreen
from app.ui.help_screen import HelpScreen, describe_bindings
from app.ui.main_screen import MainScreen
from app.ui.messages import (
    AlertsFetched,
    EngineFailed,
    EngineNotices,
    EngineReady,
    IncidentsFetched,
    StatusUpdated,
)
from app.ui.problems_screen import ProblemsScreen
from app.ui.queries import EventFilter
from app.ui.sources_screen import SourcesScreen
from app.ui.sql_screen import SqlScreen
from app.ui.state import StateFile, UiState
from app.ui.text import clean
from app.ui.themes import THEMES, resolve_theme
from app.ui.timeline_screen import TimelineScreen

log = logging.getLogger(__name__)

VIEW_TITLES = {"alerts": "Alerts", "events": "Events (filter)", "sql": "SQL prompt", "timeline": "Timeline",
               "sources": "Sources", "assets": "Assets"}


class VigilApp(App[int]):
    TITLE = "Vigil"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("l", "view('events', True)", "Events", id="app.events", tooltip="the event stream (log lines)"),
        Binding("colon,semicolon", "view('sql')", "SQL", id="app.sql"),
        Binding("i", "view('timeline')", "Timeline", show=False, id="app.timeline"),
        Binding("s", "view('sources')", "Sources", show=False, id="app.sources"),
        Binding("A", "view('assets')", "Assets", show=False, id="app.assets", tooltip="OT asset inventory"),
        Binding("exclamation_mark", "problems", "Problems", show=False, id="app.problems",
                tooltip="what the engine did not do: counts and last errors"),
    ]

    def __init__(
        self,
        config: Config | None = None,
        *,
        engine: Any = None,
        engine_factory: Callable[[], Any] | None = None,
        read_only: bool = False,
        state_file: StateFile | None = None,
        frozen_status: Any = None,
        live: bool = True,
    ) -> None:
        """`engine`: an already started engine (tests); `engine_factory`: builds and starts one after the
        first frame. `live=False` runs no timers (tests drive `bridge.drain()`); `frozen_status` pins the
        status bar for snapshots."""
        super().__init__()
        self.config = config or Config()
        self.engine: Any = engine
        self._engine_factory = engine_factory
        self.read_only = read_only or self.config.ui.read_only
        self.live = live
        self.frozen_status = frozen_status
        self.ring = AlertRing(self.config.ui.ring_size)
        self.incident_ring = IncidentRing(self.config.ui.ring_size)
        self.bridge: EngineBridge | None = None
        self.state_file = state_file or StateFile()
        self.unmounted = threading.Event()  # set as the app ends: the console's runner watches the rest
        self.state = UiState()
        self._save_timer: Timer | None = None
        self.main_screen = MainScreen(self.ring, self.incident_ring, self.config.ui.table)
        self.views: dict[str, Screen[Any]] = {}
        self._restored = False
        self._saved = UiState()
        self.exit_message: str | None = None

    @property
    def frozen(self) -> bool:
        """Snapshot mode: volatile figures (rates, timings) are pinned or hidden."""
        return self.frozen_status is not None

    # -- start-up ------------------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        return self.main_screen

    def on_mount(self) -> None:
        for theme in THEMES.values():
            self.register_theme(theme)
        wanted = resolve_theme(self.config.ui.theme)
        try:
            self.theme = wanted
        except Exception:
            self.theme = "vigil-dark"
            self.notify(f"unknown theme {self.config.ui.theme!r}; using vigil-dark", severity="warning", markup=False)
        self.apply_keymap(self.config.ui.keymap)
        self.state = self.state_file.load()
        # What to restore, kept apart: widgets report their start-up state before the first alerts arrive.
        self._saved = UiState.from_dict(dataclasses.asdict(self.state))

    def main_ready(self) -> None:
        """Called once the main screen is up: only now does the engine start (first frame is not delayed)."""
        if self.engine is not None:
            self.post_message(EngineReady(self.engine))
        elif self._engine_factory is not None:
            self.call_after_refresh(self._start_engine)

    def apply_keymap(self, keymap: dict[str, str]) -> None:
        known = self.binding_ids()
        unknown = sorted(set(keymap) - known)
        if unknown:
            self.notify(f"[ui] keymap: unknown binding id(s) {', '.join(unknown)}", severity="warning", markup=False)
        self.set_keymap({k: v for k, v in keymap.items() if k in known})

    @staticmethod
    def binding_ids() -> set[str]:
        from app.ui.keymap_check import binding_table

        return set(binding_table())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While the analyst types (chat question, a filter, SQL), view keys are neither offered nor run: a `?`
        # or an `s` is part of the text.
        return not (action in ("view", "help", "problems") and isinstance(self.focused, Input | TextArea))

    def _start_engine(self) -> None:
        self._build_engine()

    @work(thread=True, exit_on_error=False, group="engine")
    def _build_engine(self) -> None:
        assert self._engine_factory is not None
        try:
            engine = self._engine_factory()
        except Exception as exc:  # the same exit codes as `vigil run --headless` (app/cli.py)
            from store.db import StoreLockedError

            if isinstance(exc, StoreLockedError):
                code = 3
            elif isinstance(exc, ValueError):  # a bad --listen URL and other usage errors
                code = 2
            else:
                code = 1
            log.exception("engine failed to start")
            self.post_message(EngineFailed(str(exc) or type(exc).__name__, code))
            return
        self.post_message(EngineReady(engine))

    def on_engine_ready(self, message: EngineReady) -> None:
        self.engine = message.engine
        self.main_screen.engine_ready(self.engine)
        self.bridge = EngineBridge(self, self.engine, status_override=self.frozen_status)
        self.bridge.load_recent(self.config.ui.ring_size)
        self.bridge.post_status()
        if self.live:
            self.bridge.start()
        for screen in self.views.values():
            if hasattr(screen, "reload") and screen.is_mounted:
                screen.reload()

    def on_engine_failed(self, message: EngineFailed) -> None:
        self.exit_message = f"vigil: {message.error}"
        self.exit(return_code=message.exit_code)

    # -- engine data -------------------------------------------------------------------------------------
    def on_alerts_fetched(self, message: AlertsFetched) -> None:
        if not self._main_alive():
            return
        self.main_screen.apply_rows(message.rows)
        if message.initial and not self._restored:
            self._restored = True
            self._restore_view()

    def on_incidents_fetched(self, message: IncidentsFetched) -> None:
        if not self._main_alive():
            return
        self.main_screen.apply_incidents(message.rows)

    def on_status_updated(self, message: StatusUpdated) -> None:
        if not self._main_alive():
            return
        self.main_screen.status_bar.show(message.status, message.rates)
        if isinstance(self.screen, ProblemsScreen):
            self.screen.show(list(getattr(message.status, "problems", None) or []))
        sources = self.views.get("sources")
        if isinstance(sources, SourcesScreen):
            sources.show_status(message.status)
        for name in ("events", "timeline"):  # live views follow the data without F5
            view = self.views.get(name)
            if view is not None and view is self.screen and hasattr(view, "engine_progress"):
                view.engine_progress(message.status)

    def on_engine_notices(self, message: EngineNotices) -> None:
        """Engine notices go to the notice bar (N lists them): pop-ups would cover the table and detail pane."""
        if not self._main_alive():
            return
        for text in message.notices:
            urgent = text.startswith("ESCALATION")
            self.main_screen.say(clean(text, 300), "error" if urgent else "information")
            if urgent:
                self.bell()

    # -- views ---------------------------------------------------------------------------------------------
    def view_screen(self, name: str) -> Screen[Any]:
        if name not in self.views:
            factory: dict[str, Callable[[], Screen[Any]]] = {
                "events": EventsScreen, "sql": SqlScreen, "timeline": TimelineScreen, "sources": SourcesScreen,
                "assets": AssetsScreen,
            }
            screen = factory[name]()
            if isinstance(screen, EventsScreen):
                screen.filters = [EventFilter.from_dict(d) for d in self.state.filters if "pattern" in d]
            if isinstance(screen, SqlScreen):
                screen.history = list(self.state.sql_history)
            if isinstance(screen, TimelineScreen):
                screen.zoom = self.state.timeline_zoom
                screen.dimension = self.state.timeline_dimension
            self.views[name] = screen
            self.install_screen(screen, name)
        return self.views[name]

    @property
    def current_view(self) -> str:
        for name, screen in self.views.items():
            if screen is self.screen:
                return name
        return "alerts"

    def action_view(self, name: str, focus_filter: bool = False) -> None:
        while len(self.screen_stack) > 1 and self.screen is not self.main_screen:
            self.pop_screen()
        if name != "alerts":
            screen = self.view_screen(name)
            self.push_screen(screen)
            if isinstance(screen, EventsScreen) and focus_filter:
                self.call_after_refresh(screen.action_focus_filter)
            elif isinstance(screen, SqlScreen):
                self.call_after_refresh(lambda: screen.query_one("#sql-input").focus())
        self.remember(view=name)
        self.refresh_bindings()

    def show_events_between(self, start: Any, end: Any) -> None:
        """The events of one time range (Enter on a timeline bucket)."""
        screen = self.view_screen("events")
        assert isinstance(screen, EventsScreen)
        screen.show_between(start, end)
        self.action_view("events")

    def action_problems(self) -> None:
        if isinstance(self.screen, ProblemsScreen):
            return
        status = self.main_screen.status_bar.status
        self.push_screen(ProblemsScreen(list(getattr(status, "problems", None) or [])))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        focused = self.screen.focused
        where = type(focused).__name__ if focused else type(self.screen).__name__
        self.push_screen(HelpScreen(describe_bindings(self.screen), where))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for name, title in VIEW_TITLES.items():
            yield SystemCommand(f"View: {title}", f"switch to the {name} view", lambda n=name: self.action_view(n))
        if isinstance(screen, MainScreen):
            yield SystemCommand("Alert: acknowledge", "mark the selected/marked alerts acknowledged",
                                lambda: screen.action_set_status("acknowledged"))
            yield SystemCommand("Alert: resolve", "mark the selected/marked alerts resolved",
                                lambda: screen.action_set_status("resolved"))
            yield SystemCommand("Alert: false positive", "mark the selected/marked alerts false positive",
                                lambda: screen.action_set_status("false_positive"))
            yield SystemCommand("Alert: copy to clipboard", "alert and evidence as text (OSC 52)",
                                screen.action_copy)
            yield SystemCommand("Alert: export JSONL", "marked alerts (or the selected one) with evidence",
                                screen.action_export)
            yield SystemCommand("Alerts: follow (tail)", "follow new rows", screen.active.action_last)
            yield SystemCommand("View: incidents", "one row per attacker", lambda: screen.action_show("incidents"))
            yield SystemCommand("View: alerts", "every alert", lambda: screen.action_show("alerts"))
            yield SystemCommand("Chat: toggle panel", "the chat / playbooks panel", screen.action_toggle_chat)
        for name in THEMES:
            yield SystemCommand(f"Theme: {name}", "switch the colour theme", lambda n=name: setattr(self, "theme", n))
        yield SystemCommand("Problems", "what the engine did not do, with the last errors", self.action_problems)
        yield SystemCommand("Help: keys", "bindings of the focused widget", self.action_help)
        yield SystemCommand("Quit", "stop the engine and leave", self.action_quit)

    def chat_session(self) -> Any:
        """The playbook session behind the chat panel: the engine's own if it has one, else one built from
        the config over the engine's writer (every write still goes through the single writer)."""
        if self.engine is None:
            self.notify("the engine is still starting", severity="warning", markup=False)
            return None
        existing = getattr(self.engine, "playbook_session", None)
        if existing is not None:
            return existing
        try:
            from playbooks.chat import PlaybookSession
            from playbooks.config import config_from_sections
            from playbooks.db import PlaybookDb

            cfg = config_from_sections(self.config.llm, self.config.playbooks, sources=self.config.sources,
                                       read_only=self.read_only)
            session = PlaybookSession(cfg, PlaybookDb.via_writer(self.engine.writer, self.engine.store))
        except Exception as exc:
            self.notify(f"chat unavailable: {clean(str(exc), 200)}", severity="error", markup=False)
            return None
        self.engine.playbook_session = session
        return session

    # -- state ---------------------------------------------------------------------------------------------
    def remember(self, **changes: Any) -> None:
        """Record a state change; saved within a second (and on exit) so a dropped SSH session loses little."""
        for key, value in changes.items():
            setattr(self.state, key, value)
        if self._save_timer is None and self.is_running:
            self._save_timer = self.set_timer(1.0, self.save_state)

    def on_unmount(self) -> None:
        # However the app ends (ctrl+q, SIGTERM, a terminal that hung up and ended Textual's input), the state
        # is saved while the screens still hold it.
        self.save_state()
        self.unmounted.set()

    def save_state(self) -> None:
        self._save_timer = None
        if self._main_alive():
            self.state.marked = sorted(self.main_screen.table.marked)
            self.state.table = self.main_screen.view
        self.state_file.save(self.state)

    def _main_alive(self) -> bool:
        """False while the app is starting or shutting down (late messages and timers must not fail)."""
        from app.ui.table_view import LiveTable

        screen = self.main_screen  # `is_attached` turns False as soon as the app is exiting
        return screen.is_mounted and screen.is_attached and bool(screen.query(LiveTable))

    def _restore_view(self) -> None:
        """After the first rows are in: put the list, cursor, detail pane and view back where they were."""
        st = self._saved
        main = self.main_screen
        if st.table in ("incidents", "alerts") and st.table != main.view:
            main.action_show(st.table)
        table = main.table
        table.marked = {m for m in st.marked if m in self.ring}
        if main.view == "incidents":
            cursor, kind = st.cursor_incident_id, "incident"
        else:
            cursor, kind = st.cursor_alert_id, "alert"
        selected = cursor is not None and not st.tail and main.active.select(cursor)
        if selected and st.detail_open:
            main.open_detail(cursor, kind)
        if st.view != "alerts":
            self.action_view(st.view)

    async def action_quit(self) -> None:
        self.save_state()
        if self.bridge is not None:
            self.bridge.stop()
        self.exit(return_code=0)
