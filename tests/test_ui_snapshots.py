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
    add_alert(engine, 1, severity="critical", title="Login succeeded after a run of failures",
              event_ids=[10, 11, 12], minutes=2)
    add_alert(engine, 2, severity="high", title="SSH/auth brute force", event_ids=list(range(1, 10)), count=40)
    add_alert(engine, 3, severity="medium", title="Web vulnerability scanner", entity="src_ip=198.51.100.23",
              event_ids=[100, 101, 102, 103], detector="sigma", rule_id="web_scanner", minutes=3)
    add_alert(engine, 4, severity="low", title="Failed SSH password login as root", minutes=4)
    application = make_app(engine, tmp_path)
    yield application
    engine.stop()


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
