"""SVG snapshots of the console at 100x30 against a real store, with volatile parts frozen (status bar figures
pinned, alert and event times fixed, no timings). Regenerate after review with `--snapshot-update`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.test_ui_support import (
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

SIZE = (100, 30)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def save_for_docs(app, name: str) -> None:
    """`VIGIL_SAVE_SCREENSHOTS=1 pytest tests/test_ui_snapshots.py` refreshes the README's screenshots."""
    if os.environ.get("VIGIL_SAVE_SCREENSHOTS") == "1":
        app.save_screenshot(name, str(SCREENSHOTS))


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    engine = make_engine(tmp_path)
    add_events(engine, auth_events(1, 12))
    web = auth_events(100, 4, source="file:/var/log/nginx/access.log")
    for i, r in enumerate(web):
        r["raw"] = f'198.51.100.23 - - [20/Nov/2026:09:0{i}:00 +0000] "GET /.env HTTP/1.1" 404 512 "-" "Nikto"'
        r["host"], r["src_ip"], r["template_id"] = "web1", "198.51.100.23", 9
    add_events(engine, web)
    add_template(engine, 7, "Failed password for <*> from <*> port <*>")
    login = auth_events(13, 1)[0]
    login["raw"] = "Nov 20 09:02:10 jump1 sshd[4013]: Accepted password for root from 203.0.113.7 port 22"
    login["message"] = login["raw"].split(": ", 1)[1]
    add_events(engine, [login])
    engine.writer.call(lambda con: con.execute(
        "UPDATE events SET outcome = CASE WHEN event_id = 13 THEN 'success' ELSE 'failure' END")).result(30)
    add_alert(engine, 1, severity="critical", title="Login succeeded after a run of failures",
              event_ids=[10, 11, 12, 13], minutes=2, rule_id="auth.success_after_failures_privileged")
    add_alert(engine, 2, severity="high", title="SSH/auth brute force", event_ids=list(range(1, 10)), count=40,
              rule_id="auth.bruteforce")
    add_alert(engine, 3, severity="medium", title="Web vulnerability scanner", entity="src_ip=198.51.100.23",
              event_ids=[100, 101, 102, 103], detector="sigma", rule_id="web.scanner_user_agent", minutes=3)
    add_alert(engine, 4, severity="low", title="Failed SSH password login as root", minutes=4,
              rule_id="auth.ssh_root_password_failure")
    engine.writer.call(lambda con: con.execute(
        "UPDATE alerts SET category = CASE WHEN alert_id = 3 THEN 'web' ELSE 'authentication' END")).result(30)
    fold_incidents(engine, [1, 2, 3, 4])
    application = make_app(engine, tmp_path, offline_config())
    yield application
    engine.stop()


def offline_config():
    from app.config import Config

    cfg = Config()
    cfg.llm.host = "http://127.0.0.1:9"  # nothing listens: the chat proposes from the offline rules, at once
    return cfg


async def _loaded(app, pilot) -> None:
    await settle(app, pilot)
    await drain(app, pilot)


def test_main_screen_snapshot(app, snap_compare):
    async def run_before(pilot):
        await _loaded(app, pilot)
        await pilot.press("up", "up")
        await settle(app, pilot)
        save_for_docs(app, "main.svg")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_detail_pane_snapshot(app, snap_compare):
    async def run_before(pilot):
        await _loaded(app, pilot)
        await pilot.press("home", "enter")
        await settle(app, pilot)
        save_for_docs(app, "detail.svg")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_sql_screen_snapshot(app, snap_compare):
    async def run_before(pilot):
        await _loaded(app, pilot)
        await pilot.press("semicolon")
        await settle(app, pilot)
        inp = app.screen.query_one(Input)
        inp.cursor_blink = False
        inp.value = "SELECT severity, title, count FROM alerts ORDER BY alert_id"
        await pilot.press("enter")
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_timeline_screen_snapshot(app, snap_compare):
    async def run_before(pilot):
        await _loaded(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        await pilot.press("z")  # already the finest zoom: stays per minute
        await settle(app, pilot)
        save_for_docs(app, "timeline.svg")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_incident_view_with_detail_at_80x24_snapshot(app, snap_compare):
    """The default view on the smallest supported terminal, detail pane open: nothing covers it."""
    app.config.ui.table = "incidents"
    app.main_screen.view = "incidents"

    async def run_before(pilot):
        await _loaded(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_incident_view_snapshot(app, snap_compare):
    app.config.ui.table = "incidents"
    app.main_screen.view = "incidents"

    async def run_before(pilot):
        await _loaded(app, pilot)
        await pilot.press("enter")  # the newest incident: the critical one
        await settle(app, pilot)
        save_for_docs(app, "incidents.svg")

    assert snap_compare(app, terminal_size=(120, 34), run_before=run_before)


def test_chat_with_a_proposal_snapshot(app, snap_compare):
    app.config.ui.table = "incidents"
    app.main_screen.view = "incidents"

    async def run_before(pilot):
        import time

        from app.ui.chat import ChatPanel, ProposalCard

        await _loaded(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        panel = app.screen.query_one(ChatPanel)
        panel.query_one("#chat-input", Input).cursor_blink = False
        await pilot.press(*"what happened, and what should I do?", "enter")
        deadline = time.monotonic() + 60
        while (panel.busy or not panel.query(ProposalCard)) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await settle(app, pilot)
        save_for_docs(app, "chat.svg")

    assert snap_compare(app, terminal_size=(140, 36), run_before=run_before)
