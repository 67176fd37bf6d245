"""The console driven with Pilot against a real engine and a real DuckDB store: alerts arrive through the
real outbox and bridge (drained by the test, not a timer), and every action is checked in widgets and store."""

from __future__ import annotations

import getpass
import json
import time

import pytest
from rich.style import Style
from textual.widgets import DataTable, Input

from app.config import Config
from app.ui.alert_table import AlertTable
from app.ui.events_screen import EventsScreen, FiltersChanged
from app.ui.help_screen import HelpScreen
from app.ui.lines_view import LinesView
from app.ui.main_screen import MainScreen, StatusWritten
from app.ui.messages import AlertsFetched
from app.ui.sources_screen import SourcesScreen
from app.ui.sql_screen import SqlScreen
from app.ui.state import StateFile
from app.ui.timeline_screen import TimelineScreen
from tests.test_ui_support import (
    add_alert,
    add_events,
    add_template,
    auth_events,
    drain,
    make_app,
    make_engine,
    settle,
)


@pytest.fixture
def engine(request, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    eng = make_engine(tmp_path, detectors=getattr(request, "param", False))
    add_events(eng, auth_events(1, 10))
    yield eng
    eng.stop()


def status_of(engine, alert_id):
    return engine.store.cursor().execute(
        "SELECT status, status_by, status_at IS NOT NULL FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()


def table_lines(app) -> list[str]:
    table = app.main_screen.table
    return [table.render_line(y).text for y in range(min(len(app.ring), table.size.height))]


async def test_alerts_from_the_outbox_become_rows_with_severity(engine, tmp_path):
    app = make_app(engine, tmp_path)
    messages: list = []
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, severity="critical", title="Login after brute force")
        add_alert(engine, 2, severity="low", title="Failed root login", minutes=1)
        await drain(app, pilot)
        fetched = [m for m in messages if isinstance(m, AlertsFetched) and not m.initial]
        assert [r.alert_id for r in fetched[-1].rows] == [1, 2]  # one batched message for the tick
        lines = table_lines(app)
        assert "CRIT" in lines[0] and "Login after brute force" in lines[0]
        assert "LOW" in lines[1] and "src_ip=203.0.113.7" in lines[1]
        assert app.main_screen.table.cursor_id == 2  # tail mode follows the newest


async def test_an_update_replaces_the_row_instead_of_adding_one(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, count=3)
        add_alert(engine, 2)
        await drain(app, pilot)
        add_alert(engine, 1, count=250, event_ids=list(range(1, 11)))
        await drain(app, pilot)
        assert len(app.ring) == 2
        assert app.ring.get(1).count == 250
        assert "250" in table_lines(app)[0]


async def test_paused_table_counts_new_alerts_and_keeps_the_cursor(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for i in range(1, 4):
            add_alert(engine, i, minutes=i)
        await drain(app, pilot)
        await pilot.press("up")  # leaves tail mode
        table = app.main_screen.table
        assert not table.tail and table.cursor_id == 2
        # Rows are ordered by last seen: newer activity arrives at the bottom, where the tail watches.
        add_alert(engine, 4, minutes=4)
        add_alert(engine, 5, minutes=5)
        await drain(app, pilot)
        assert table.cursor_id == 2 and table.new_count == 2
        assert "2 new" in str(app.main_screen.query_one("#tail-bar").render())
        await pilot.press("end")
        assert table.tail and table.new_count == 0 and table.cursor_id == 5


async def test_alert_rows_arriving_while_the_console_closes_are_ignored(engine, tmp_path):
    """Widgets leave one by one at shutdown; rows the bridge fetched just before must not raise (the console bench
    caught `NoMatches: #tail-bar` this way)."""
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1)
        await drain(app, pilot)
        rows = [app.ring.get(1)]
        await app.main_screen.query_one("#tail-bar").remove()
        app.main_screen.apply_rows(rows)  # the handler's path for AlertsFetched
        app.post_message(AlertsFetched(rows))
        await pilot.pause()
        assert app.main_screen.table.cursor_id == 1


async def test_cursor_stays_on_its_alert_when_old_rows_are_evicted(engine, tmp_path):
    cfg = Config()
    cfg.ui.ring_size = 5
    app = make_app(engine, tmp_path, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for i in range(1, 6):
            add_alert(engine, i)
        await drain(app, pilot)
        await pilot.press("up", "up")
        table = app.main_screen.table
        assert table.cursor_id == 3
        for i in range(6, 9):
            add_alert(engine, i)
        await drain(app, pilot)
        assert len(app.ring) == 5 and 1 not in app.ring
        assert table.cursor_id == 4 and table.cursor == 0


async def test_enter_opens_detail_with_evidence_fields_template_and_context(engine, tmp_path):
    add_template(engine, 7, "Failed password for <*> from <*> port <*>")
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, event_ids=[4, 5])
        await drain(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        detail = app.main_screen.detail
        assert detail.display and detail.alert_id == 1 and detail.detail is not None
        body = str(detail.query_one("#detail-body").render())
        assert "SSH brute force" in body and "10 failed logins" in body
        assert "sshd[4004]" in body and "user=root" in body and "port=22" in body
        assert "template Failed password for <*> from <*> port <*>" in body
        assert "context around 5" in body
        assert "sshd[4002]" in body and "sshd[4007]" in body  # lines before and after, same source
        await pilot.press("escape")
        assert not detail.display


async def test_markup_and_ansi_in_log_text_are_shown_literally(engine, tmp_path):
    hostile = "x [bold red]PWNED[/] [@click=app.quit]quit[/] \x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07 end"
    rows = auth_events(100, 1)
    rows[0]["raw"] = hostile
    add_events(engine, rows)
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, title="[bold red]FAKE[/] \x1b[2J", entity="u=[@click=app.quit]x[/]",
                  event_ids=[100])
        await drain(app, pilot)
        row = table_lines(app)[0]
        assert "[bold red]FAKE[/] \\x1b[2J" in row
        assert "u=[@click=app.quit]x[/]" in row
        await pilot.press("enter")
        await settle(app, pilot)
        body = app.main_screen.detail.query_one("#detail-body").render()
        text = str(body)
        assert "[bold red]PWNED[/] [@click=app.quit]quit[/] \\x1b[31mred\\x1b[0m" in text
        assert "\x1b" not in text and "\x07" not in text
        # No span took a style from the log line: the literal markup is plain text.
        start = text.index("PWNED")
        assert all(not (s.start <= start < s.end and "red" in str(s.style)) for s in body.spans)
        # Nor any action: markup like [@click=…] becomes a style with meta only when parsed, and it never is.
        assert all(not isinstance(s.style, Style) or not s.style.meta for s in body.spans)
        assert app.is_running


@pytest.mark.parametrize("engine", [True], indirect=True, ids=["detectors"])  # the real scorer's lifecycle
async def test_acknowledge_and_resolve_persist_who_and_when(engine, tmp_path):
    assert engine.scorer is not None
    app = make_app(engine, tmp_path)
    messages: list = []
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1)
        await drain(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        assert status_of(engine, 1) == ("acknowledged", getpass.getuser(), True)
        assert any(isinstance(m, StatusWritten) and m.ids == [1] for m in messages)
        await drain(app, pilot)
        assert app.ring.get(1).status == "acknowledged"
        assert "ack" in table_lines(app)[0]
        await pilot.press("r")
        await settle(app, pilot)
        await drain(app, pilot)
        assert status_of(engine, 1)[0] == "resolved"
        await pilot.press("a")  # a resolved alert cannot go back: the lifecycle refuses and says so
        await settle(app, pilot)
        assert status_of(engine, 1)[0] == "resolved"
        assert app.main_screen.last_status_change.errors


async def test_marked_alerts_are_marked_false_positive_together(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for i in (1, 2, 3):
            add_alert(engine, i)
        await drain(app, pilot)
        await pilot.press("home", "m", "m")  # marks 1 and 2, cursor moves down
        assert app.main_screen.table.marked == {1, 2}
        await pilot.press("f")
        await settle(app, pilot)
        assert [status_of(engine, i)[0] for i in (1, 2, 3)] == ["false_positive", "false_positive", "new"]


async def test_read_only_refuses_every_status_change_and_says_so(engine, tmp_path):
    app = make_app(engine, tmp_path, read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1)
        await drain(app, pilot)
        for key in ("a", "r", "f"):
            await pilot.press(key)
        await settle(app, pilot)
        assert status_of(engine, 1) == ("new", None, False)
        assert "READ-ONLY" in app.main_screen.notices.latest  # said on the notice bar, not in a pop-up
        assert "READ-ONLY" in str(app.main_screen.query_one("#topbar").render())
        assert "READ-ONLY" in str(app.main_screen.status_bar.render())


async def test_copy_puts_alert_and_evidence_on_the_clipboard(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, event_ids=[2])
        await drain(app, pilot)
        await pilot.press("c")
        await settle(app, pilot)
        assert "SSH brute force" in app.clipboard
        assert "sshd[4001]: Failed password for root" in app.clipboard


async def test_export_writes_marked_alerts_with_evidence_as_jsonl(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for i in (1, 2, 3):
            add_alert(engine, i, event_ids=[i])
        await drain(app, pilot)
        await pilot.press("home", "m", "down", "m", "e")
        await settle(app, pilot)
        path = app.main_screen.last_export
        assert path is not None and path.parent == tmp_path / "data" / "vigil" / "exports"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["alert_id"] for r in records] == [1, 3]
        assert records[1]["evidence"][0]["event_id"] == 3
        assert oct(path.stat().st_mode & 0o777) == "0o600"


async def test_events_filters_keep_drop_regex_and_toggle(engine, tmp_path):
    other = auth_events(50, 3, source="file:/var/log/syslog")
    for i, r in enumerate(other):
        r["raw"] = f"Nov 20 09:01:0{i} jump1 CRON[77{i}]: (root) CMD (run-parts /etc/cron.hourly)"
    add_events(engine, other)
    app = make_app(engine, tmp_path)
    messages: list = []
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await settle(app, pilot)
        await pilot.press("l")  # `/` filters the list on the main screen; `l` opens the event stream
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        assert len(screen.page.rows) == 13
        assert isinstance(screen.focused, Input)
        await pilot.press(*"cron", "enter")
        await settle(app, pilot)
        assert [r["event_id"] for r in screen.page.rows] == [50, 51, 52]
        assert any(isinstance(m, FiltersChanged) for m in messages)
        screen.query_one("#filter-input", Input).value = "!~sshd\\[400[0-4]\\]"
        await pilot.press("enter")
        await settle(app, pilot)
        assert [f.label() for f in screen.filters] == ["cron", "!~sshd\\[400[0-4]\\]"]
        screen.query_one("#filters").focus()
        await pilot.press("home", "space")  # disable "cron": only the inverted regex is left
        await settle(app, pilot)
        assert [r["event_id"] for r in screen.page.rows] == [6, 7, 8, 9, 10, 50, 51, 52]
        assert "2 filter(s), 1 on" in str(screen.query_one("#events-status").render())
        await pilot.press("down", "n")  # invert the regex filter: keep what it matched
        await settle(app, pilot)
        assert [r["event_id"] for r in screen.page.rows] == [1, 2, 3, 4, 5]
        lines = screen.query_one(LinesView).lines
        assert len(lines) == 5 and "sshd[4000]" in lines[0].plain


async def test_sql_prompt_caps_rows_refuses_writes_and_exports(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("semicolon")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SqlScreen)
        screen.query_one(Input).value = "SELECT range AS n, 'x' AS s FROM range(1200)"
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.query_one(DataTable).row_count == 500
        assert "500 of >500 rows" in str(screen.query_one("#sql-status").render())
        await pilot.press("f2")
        await settle(app, pilot)
        assert screen.last_export is not None
        assert len(screen.last_export.read_text().splitlines()) == 1201  # header + every row, not just 500
        await pilot.press("f3")
        await settle(app, pilot)
        assert screen.last_export.suffix == ".jsonl"
        assert json.loads(screen.last_export.read_text().splitlines()[-1]) == {"n": 1199, "s": "x"}
        screen.query_one(Input).value = "DELETE FROM events"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "read-only" in screen.error
        assert engine.store.cursor().execute("SELECT count(*) FROM events").fetchone()[0] == 10
        screen.query_one(Input).value = "SELECT ts, raw FROM events ORDER BY event_id LIMIT 3"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "3 rows" in str(screen.query_one("#sql-status").render())
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_timeline_counts_per_bucket_and_zooms(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1)
        await drain(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        data = screen.data
        # The window starts at the first data: no empty minutes before it (events 09:00:00..09:01:30, 10 s apart).
        assert data.step == "1 minute" and len(data.buckets) == 2
        assert [b[1] for b in data.buckets] == [6, 4]
        assert sum(b[2] for b in data.buckets) == 1
        await pilot.press("Z", "Z", "Z")
        await settle(app, pilot)
        assert screen.data.step == "1 hour" and screen.data.buckets[-1][1] == 10
        await pilot.press("b")
        await settle(app, pilot)
        assert screen.data.dimension == "host" and screen.data.value == "jump1"


async def test_sources_screen_lists_the_engines_files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    log = tmp_path / "auth.log"
    log.write_text("Nov 20 09:00:00 jump1 sshd[1]: Accepted publickey for alice from 10.0.0.1 port 5\n")
    cfg = Config()
    cfg.sources.watch = [str(log)]
    eng = make_engine(tmp_path, cfg)
    try:
        app = make_app(eng, tmp_path, cfg, frozen_status=None)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            await pilot.press("s")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, SourcesScreen)
            app.bridge.post_status()
            await settle(app, pilot)
            names = [r[0].strip() for r in screen.rows]
            assert str(log) in names
            assert screen.query_one(DataTable).row_count == len(screen.rows) >= 2
    finally:
        eng.stop()


async def test_help_lists_the_focused_widgets_bindings_with_ids(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {row[3] for row in app.screen.rows}
        assert {"alerts.tail", "alerts.detail", "alerts.ack", "app.quit"} <= ids
        assert app.screen.rows[0][0] == "AlertTable"  # the focused widget comes first
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_keymap_from_config_remaps_a_binding(engine, tmp_path):
    cfg = Config()
    cfg.ui.keymap = {"alerts.ack": "A", "no.such.binding": "x"}
    app = make_app(engine, tmp_path, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1)
        await drain(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        assert status_of(engine, 1)[0] == "new"
        await pilot.press("A")
        await settle(app, pilot)
        assert status_of(engine, 1)[0] == "acknowledged"
        assert any("no.such.binding" in n.message for n in app._notifications)


async def test_command_palette_reaches_the_views(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"View: Timeline")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TimelineScreen)


async def test_state_survives_a_restart(engine, tmp_path):
    state = StateFile(tmp_path / "state" / "console.json")
    app = make_app(engine, tmp_path, state_file=state)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for i in (1, 2, 3):
            add_alert(engine, i)
        await drain(app, pilot)
        await pilot.press("up", "enter", "l", *"sshd", "enter")
        await settle(app, pilot)
        await pilot.press("ctrl+q")
    assert app.return_code == 0
    saved = json.loads(state.path.read_text())
    assert saved["view"] == "events" and saved["cursor_alert_id"] == 2 and saved["tail"] is False
    assert oct(state.path.stat().st_mode & 0o777) == "0o600"

    again = make_app(engine, tmp_path, state_file=StateFile(state.path))
    async with again.run_test(size=(100, 30)) as pilot:
        await settle(again, pilot)
        assert isinstance(again.screen, EventsScreen)
        assert [f.label() for f in again.screen.filters] == ["sshd"]
        await pilot.press("escape", "escape")
        assert again.screen is again.main_screen
        table = again.main_screen.table
        assert table.cursor_id == 2 and not table.tail and again.main_screen.detail.display


async def test_engine_starts_after_the_first_frame_and_ctrl_q_exits_0(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    from app.ui.app import VigilApp

    seen: dict[str, bool] = {}
    holder: dict[str, object] = {}

    def factory():
        seen["screen_up_before_engine"] = app.main_screen.is_mounted
        holder["engine"] = make_engine(tmp_path)
        return holder["engine"]

    app = VigilApp(Config(), engine_factory=factory, live=False, state_file=StateFile(tmp_path / "s.json"))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            assert seen["screen_up_before_engine"] and app.engine is holder["engine"]
            assert app.bridge is not None
            await pilot.press("ctrl+q")
        assert app.return_code == 0
    finally:
        if "engine" in holder:
            holder["engine"].stop()


async def test_layout_fits_80x24_with_detail_open(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for i in range(1, 30):
            add_alert(engine, i)
        await drain(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.main_screen
        for selector in ("#topbar", "#alert-header", "#alerts", "#tail-bar", "#detail", "#status"):
            region = screen.query_one(selector).region
            assert region.height >= 1 and region.right <= 80 and region.bottom <= 24, selector
        table = screen.query_one(AlertTable)
        assert table.size.height >= 5
        assert table.cursor_id == 29
        assert table.scroll_y <= table.cursor < table.scroll_y + table.size.height  # still visible


@pytest.mark.parametrize("theme", ["monochrome", "16"])
async def test_theme_from_config(engine, tmp_path, theme):
    cfg = Config()
    cfg.ui.theme = theme
    app = make_app(engine, tmp_path, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, severity="critical")
        await drain(app, pilot)
        assert app.theme == {"monochrome": "vigil-mono", "16": "vigil-16"}[theme]
        assert "CRIT" in table_lines(app)[0]


async def test_chat_slot_mounts_the_chat_panel_on_the_selected_alert(engine, tmp_path):
    from app.ui.chat import ChatPanel

    app = make_app(engine, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1)
        add_alert(engine, 2)
        await drain(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        panel = screen.query_one("#chat-slot").query_one(ChatPanel)
        assert panel.alert_id == 2
        assert screen.focused is panel.query_one("#chat-input")  # typing goes to the question
        await pilot.press("escape", "up")  # Esc: back to the table
        await settle(app, pilot)
        assert panel.alert_id == 1  # the chat follows the table's cursor
        add_alert(engine, 3, severity="critical", title="Root login from a scanner")
        await drain(app, pilot)
        status = str(panel.query_one("#chat-status").render())
        assert "CRITICAL alert #3" in status
        await pilot.press("escape", "p")
        assert not screen.query_one("#chat-slot").has_class("open")


async def test_a_locked_store_ends_the_console_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    from app.ui.app import VigilApp
    from store.db import StoreLockedError

    def factory():
        raise StoreLockedError("/x/vigil.duckdb is open in another Vigil process (pid 42)")

    app = VigilApp(Config(), engine_factory=factory, live=False, state_file=StateFile(tmp_path / "s.json"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
    assert app.return_code == 3
    assert app.exit_message == "vigil: /x/vigil.duckdb is open in another Vigil process (pid 42)"


async def test_escape_interrupts_a_long_query_and_keeps_the_prompt(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("colon")
        await settle(app, pilot)
        screen = app.screen
        screen.query_one(Input).value = "SELECT count(*) FROM range(1000000000000) a"
        await pilot.press("enter")
        deadline = time.monotonic() + 20
        while screen._running is None and time.monotonic() < deadline:  # wait until it is in flight
            await pilot.pause(0.02)
        assert screen._running is not None
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, SqlScreen) and screen._running is None
        assert screen.error is not None and "interrupt" in screen.error.lower()


async def test_status_bar_shows_rate_sources_drops_errors_learning_and_size(engine, tmp_path):
    from app.engine import EngineStatus

    status = EngineStatus(
        events_per_s=20500.0, parse_errors=12, store_bytes=3 * 2**30,
        sources=[{"name": "udp://127.0.0.1:5514", "running": True, "drops": 40},
                 {"name": "files", "kind": "files", "last_error": "permission denied"}],
        scorer={"models": {"mode": "learning", "progress": 0.42}},
    )
    app = make_app(engine, tmp_path, frozen_status=status)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.bridge.rates.extend([1000.0, 20500.0])
        app.bridge.post_status()
        await settle(app, pilot)
        text = str(app.main_screen.status_bar.render())
        for part in ("20.5k ev/s", "src 1/2", "drops 40", "perr 12", "learning 42%", "3.0 GB"):
            assert part in text, part
