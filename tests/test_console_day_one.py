"""What a new analyst tripped over on day one (issue #14), each driven with Pilot against a real engine and DuckDB
store: typing in the chat never drives the table, the footer offers only keys that work where the focus is,
incidents are the default list with the alerts one key away, `/` filters and `o` sorts the list, dates appear when
rows span days, an alert that fires again moves to the bottom, notices go to a bar instead of pop-ups, the events
view and the timeline follow new data without F5, Enter opens an event's detail or a bucket's events, a failing
file source is counted as failing, and the console fits 80x24 with the detail pane open."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import Input

from app.config import Config
from app.engine import EngineStatus
from app.ui.event_detail import EventDetailScreen
from app.ui.events_screen import EventsScreen
from app.ui.main_screen import MainScreen
from app.ui.notices_screen import NoticesScreen
from app.ui.status_bar import source_health, status_text
from app.ui.timeline_screen import TimelineScreen
from store.sources.base import LineBatch
from tests.test_ui_support import (
    T0,
    add_alert,
    add_events,
    add_template,
    auth_events,
    drain,
    fold_incidents,
    make_app,
    make_engine,
    settle,
)

QUESTION = "are reefs safe? afraid i resolve fast"


@pytest.fixture
def engine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    eng = make_engine(tmp_path)
    add_events(eng, auth_events(1, 10))
    yield eng
    eng.stop()


def offline_config() -> Config:
    cfg = Config()
    cfg.llm.host = "http://127.0.0.1:9"  # nothing listens there: the chat answers offline, at once
    return cfg


def statuses(engine) -> list[str]:
    return [r[0] for r in engine.store.cursor().execute("SELECT status FROM alerts ORDER BY alert_id").fetchall()]


def footer_actions(app) -> set[str]:
    """Actions the footer offers now (what check_action leaves visible)."""
    return {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show and b.enabled}


def lines_of(table) -> list[str]:
    return [table.render_line(y).text for y in range(min(len(table.view), table.size.height))]


async def test_typing_in_the_chat_never_drives_the_table(engine, tmp_path):
    app = make_app(engine, tmp_path, offline_config())
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1)
        add_alert(engine, 2, minutes=1)
        await drain(app, pilot)
        assert "set_status('acknowledged')" in footer_actions(app)
        await pilot.press("g", "p")
        await settle(app, pilot)
        chat_input = app.screen.query_one("#chat-input", Input)
        assert app.screen.focused is chat_input  # opening the chat puts the cursor in the question
        await pilot.press(*QUESTION)  # a, r, f, i, s, ? and / all in there
        await settle(app, pilot)
        assert chat_input.value == QUESTION
        assert statuses(engine) == ["new", "new"]
        assert isinstance(app.screen, MainScreen)  # neither `i` (timeline), `s` (sources) nor `?` (help) fired
        offered = footer_actions(app)
        assert not offered & {"set_status('acknowledged')", "set_status('resolved')", "toggle_chat", "filter",
                              "view('timeline')", "help"}
        await pilot.press("enter")
        await settle(app, pilot)
        panel = app.screen.query_one("#chat")
        assert QUESTION in str(panel.query_one("#chat-question").render())  # the question stays on screen
        await pilot.press("escape")  # back to the table: its keys work again
        await settle(app, pilot)
        assert app.screen.focused is app.main_screen.table
        assert "set_status('acknowledged')" in footer_actions(app)
        await pilot.press("a")
        await settle(app, pilot)
        assert statuses(engine) == ["acknowledged", "new"]


async def test_incidents_are_the_default_list_and_the_unit_the_analyst_acts_on(engine, tmp_path):
    app = make_app(engine, tmp_path, table="incidents")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, severity="high", title="Brute force", rule_id="auth.bruteforce", count=30,
                  event_ids=[1, 2, 3, 4])
        add_alert(engine, 2, severity="medium", title="Password spraying", rule_id="auth.password_spray",
                  event_ids=[5, 6], minutes=1)
        add_alert(engine, 3, severity="low", title="Scanner", entity="src_ip=198.51.100.23", rule_id="web.scanner",
                  event_ids=[], minutes=2)
        fold_incidents(engine, [1, 2, 3])
        await drain(app, pilot)
        screen = app.main_screen
        assert screen.view == "incidents" and app.screen.focused is screen.incidents
        rows = lines_of(screen.incidents)
        assert len(rows) == 2  # three alerts, two attackers
        assert "203.0.113.7: 30 failed passwords → spraying" in rows[0] and "HIGH" in rows[0]
        await pilot.press("home", "enter")
        await settle(app, pilot)
        body = str(screen.detail.query_one("#detail-body").render())
        assert "incident #1" in body and "alerts (2)" in body and "response " in body and "ATT&CK " in body
        await pilot.press("a")  # acknowledges every alert of the incident
        await settle(app, pilot)
        await drain(app, pilot)
        assert statuses(engine) == ["acknowledged", "acknowledged", "new"]
        assert screen.incident_ring.get(1).status == "acknowledged"
        await pilot.press("v")  # the alert list is one key away
        await settle(app, pilot)
        assert screen.view == "alerts" and screen.table.display and not screen.incidents.display
        assert len(lines_of(screen.table)) == 3
        await pilot.press("v")
        assert screen.view == "incidents"


async def test_slash_filters_and_o_sorts_the_list(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, severity="low", title="Failed root login", count=90)
        add_alert(engine, 2, severity="critical", title="Root login after brute force", count=3, minutes=1)
        add_alert(engine, 3, severity="medium", title="Web scanner", entity="src_ip=198.51.100.23", count=12,
                  minutes=2)
        await drain(app, pilot)
        table = app.main_screen.table
        assert table.view == [1, 2, 3]  # by last seen, newest at the bottom
        await pilot.press("o")
        assert table.sort_by == "severity" and table.view == [1, 3, 2]
        await pilot.press("o")
        assert table.sort_by == "count" and table.view == [2, 3, 1]
        await pilot.press("O")
        assert table.view == [1, 3, 2] and "COUNT▼" in str(app.main_screen.query_one("#alert-header").render())
        await pilot.press("slash", *"root !after")
        await settle(app, pilot)
        assert table.view == [1]
        assert "1 of 3 alerts match /root !after" in str(app.main_screen.query_one("#tail-bar").render())
        await pilot.press("enter")  # keeps the filter, back on the list
        assert app.screen.focused is table and table.view == [1]
        await pilot.press("slash", "escape")  # Esc in the filter clears it
        assert table.view == [1, 3, 2] and app.screen.focused is table


async def test_dates_when_rows_span_days_and_a_refired_alert_moves_to_the_bottom(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, title="Old brute force")
        add_alert(engine, 2, title="Newer scan", minutes=60)
        await drain(app, pilot)
        table = app.main_screen.table
        assert "09:00:30" in lines_of(table)[0] and "2026-11-20" not in lines_of(table)[0]
        add_alert(engine, 1, title="Old brute force", minutes=2 * 24 * 60)  # fires again two days later
        await drain(app, pilot)
        assert table.view == [2, 1] and table.cursor_id == 1  # at the bottom, where the tail is watching
        rows = lines_of(table)
        assert "2026-11-20 10:00" in rows[0] and "2026-11-22 09:00" in rows[1]
        assert "LAST SEEN" in str(app.main_screen.query_one("#alert-header").render())


async def test_engine_notices_go_to_the_notice_bar_not_pop_ups(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for i in range(7):
            engine.outbox.notice(f"review: incident #{i} (high) — proposed block_ip_nft")
        await drain(app, pilot)
        assert not app._notifications  # nothing covers the table or the detail pane
        bar = app.main_screen.notices
        assert bar.latest == "review: incident #6 (high) — proposed block_ip_nft" and len(bar.history) == 7
        assert bar.region.height == 1
        await pilot.press("N")
        assert isinstance(app.screen, NoticesScreen) and len(app.screen.history) == 7
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_events_view_follows_new_lines_without_f5(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    engine = make_engine(tmp_path)
    try:
        first = [f"Nov 20 09:0{i}:00 jump1 sshd[{i}]: Failed password for root from 203.0.113.7 port 22".encode()
                 for i in range(3)]
        engine.submit(LineBatch("file:/var/log/auth.log", first, datetime.now(UTC)))
        assert engine.wait_idle(30)
        app = make_app(engine, tmp_path, frozen_status=None)  # real engine status: events_total moves
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            await pilot.press("l")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, EventsScreen) and len(screen.page.rows) == 3
            app.bridge.post_status()
            await settle(app, pilot)
            line = b"Nov 20 09:05:00 jump1 sshd[999]: Accepted publickey for alice from 10.0.0.5 port 5 ssh2"
            engine.submit(LineBatch("file:/var/log/auth.log", [line], datetime.now(UTC)))
            assert engine.wait_idle(30)
            for _ in range(50):  # status ticks (the 1 Hz timer, driven here) until the new line is in the view
                app.bridge.post_status()
                await settle(app, pilot)
                if len(screen.page.rows) == 4:
                    break
            assert len(screen.page.rows) == 4
            assert "Accepted publickey for alice" in screen.query_one("#event-lines").lines[-1].plain
    finally:
        engine.stop()


async def test_enter_on_an_event_opens_every_field_raw_template_and_neighbours(engine, tmp_path):
    add_template(engine, 7, "Failed password for <*> from <*> port <*>")
    engine.writer.call(lambda con: con.execute(
        "UPDATE events SET service = 'ssh', action = 'login', outcome = 'failure' WHERE event_id = 5")).result(30)
    add_alert(engine, 1, event_ids=[5])
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("l")
        await settle(app, pilot)
        await pilot.press("escape")  # from the filter input to the lines
        await pilot.press("home", "down", "down", "down", "down", "enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, EventDetailScreen) and screen.event_id == 5
        text = "\n".join(t.plain for t in screen.query_one("#event-lines").lines)
        for part in ("sshd[4004]: Failed password for root", "service      ssh", "action       login",
                     "outcome      failure", "port         22", "Failed password for <*> from <*> port <*>",
                     "alerts       #1", "sshd[4003]", "sshd[4005]"):
            assert part in text, part
        await pilot.press("escape")
        assert isinstance(app.screen, EventsScreen)


async def test_timeline_starts_at_the_data_and_enter_opens_the_buckets_events(engine, tmp_path):
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        assert [b[0] for b in screen.data.buckets] == [T0, T0 + timedelta(minutes=1)]
        await pilot.press("end", "enter")  # the 09:01 bucket
        await settle(app, pilot)
        events = app.screen
        assert isinstance(events, EventsScreen) and events.between == (T0 + timedelta(minutes=1),
                                                                       T0 + timedelta(minutes=2))
        assert [r["event_id"] for r in events.page.rows] == [7, 8, 9, 10]


def test_a_file_source_with_a_failing_path_is_not_counted_healthy() -> None:
    sources = [{"name": "files", "kind": "files", "patterns": ["/var/log/secure"],
                "files": [{"path": "/var/log/secure", "state": "error",
                           "last_error": "cannot open: Permission denied"}],
                "watch_error": None, "last_error": None}]
    assert source_health(sources)[:2] == (0, 1)
    text = str(status_text(EngineStatus(sources=sources), [], False))
    assert "src 0/1" in text


async def test_the_console_fits_80x24_with_the_incident_detail_open(engine, tmp_path):
    app = make_app(engine, tmp_path, table="incidents")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for i in range(1, 12):
            add_alert(engine, i, entity=f"src_ip=203.0.113.{i}", event_ids=[], minutes=i)
        fold_incidents(engine, list(range(1, 12)))
        for i in range(3):
            engine.outbox.notice(f"review: incident #{i} (high)")
        await drain(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.main_screen
        for selector in ("#topbar", "#alert-header", "#incidents", "#tail-bar", "#detail", "#notice-bar", "#status"):
            region = screen.query_one(selector).region
            assert region.height >= 1 and region.right <= 80 and region.bottom <= 24, selector
        detail = screen.query_one("#detail").region
        assert detail.height >= 8
        table = screen.incidents
        assert table.size.height >= 5 and table.cursor_id == 11
        assert table.scroll_y <= table.cursor < table.scroll_y + table.size.height
        assert not app._notifications  # no pop-up over the pane
        body = str(screen.detail.query_one("#detail-body").render())
        assert body.splitlines()[0].startswith(" HIGH  203.0.113.11: ")
        assert getpass.getuser()  # the console ran as a real user (status changes name them)


async def test_sql_errors_read_as_lines_not_escapes(engine, tmp_path):
    from app.ui.sql_screen import SqlDone

    app = make_app(engine, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("semicolon")
        await settle(app, pilot)
        app.screen.query_one(Input).value = "SELECT no_such_column FROM events"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "no_such_column" in str(app.screen.query_one("#sql-status").render())
        # DuckDB messages can span lines (the query, a caret under the fault): lines, never a literal `\x0a`.
        app.screen.post_message(SqlDone(None, 'Binder Error: column "x" not found\n\nLINE 1: SELECT x\n       ^'))
        await settle(app, pilot)
        shown = str(app.screen.query_one("#sql-status").render())
        assert shown.splitlines()[:2] == [' Binder Error: column "x" not found', " LINE 1: SELECT x"]
        assert "\\x0a" not in shown


async def test_the_approval_modal_shows_the_dry_run_argv_before_the_approve_button(engine, tmp_path):
    from textual.widgets import Button

    from app.ui.approval import ApprovalScreen
    from app.ui.chat import ChatPanel, ProposalCard

    engine.writer.call(lambda con: con.execute("UPDATE events SET outcome = 'failure'")).result(30)
    add_alert(engine, 1, severity="high", event_ids=[1, 2, 3, 4, 5])
    engine.writer.call(lambda con: con.execute("UPDATE alerts SET category = 'authentication'")).result(30)
    app = make_app(engine, tmp_path, offline_config())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await drain(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        panel = app.screen.query_one(ChatPanel)
        await pilot.press(*"block it?", "enter")
        for _ in range(400):
            await pilot.pause(0.05)
            if not panel.busy and panel.query(ProposalCard):
                break
        card = next(c for c in panel.query(ProposalCard) if c.outcome.accepted)
        assert "ip=203.0.113.7 duration=1h" in str(card.query(".card-title").first().render())  # not a dict
        card.query_one(".review", Button).press()
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, ApprovalScreen):
                break
        modal = app.screen
        assert isinstance(modal, ApprovalScreen)
        await settle(app, pilot)
        argv, approve = modal.query_one("#approval-argv"), modal.query_one("#approve")
        assert "203.0.113.7" in str(argv.render())
        assert argv.region.height >= 1 and argv.region.bottom <= approve.region.y  # on screen, above the button
        assert approve.region.bottom <= 24


def test_review_notices_name_only_proposals_that_passed_validation(tmp_path):
    from app.engine import Outbox
    from app.responses import ResponseDesk
    from playbooks.chat import PlaybookSession
    from playbooks.routing import route_alert
    from tests.playbook_support import ATTACKER, bruteforce_alert, make_config, open_db

    con, db = open_db(tmp_path / "n.duckdb")
    # The attacker's address is on the management list: every block is refused; the rest may pass.
    session = PlaybookSession(make_config(tmp_path, management_nets=[f"{ATTACKER}/32"]), db)
    outbox = Outbox()
    desk = ResponseDesk(session, outbox)
    try:
        bruteforce_alert(con, 1, "high")
        decision = route_alert(session.load_alert(1), session.catalog, session.validator, session.config)
        rejected = {o.playbook_id for o in decision.proposals if not o.accepted}
        accepted = {o.playbook_id for o in decision.proposals if o.accepted}
        assert "block_ip_nft" in rejected
        desk._decided(decision)
        _rows, notices = outbox.drain()
        assert len(notices) == 1 and notices[0].startswith("review: alert #1 (high)")
        named = set(notices[0].split("proposed ", 1)[1].split(", ")) if "proposed " in notices[0] else set()
        assert named == accepted and not named & rejected
    finally:
        desk.stop()
        con.close()
