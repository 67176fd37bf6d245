"""What the engine did not do is shown in one place: the status bar says "N problems" (red when data was not
stored), `!` lists each with its count and last error, escape closes the list. A real engine on a store that
refuses a line for good (a CHECK constraint: a real DuckDB write failure)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from app.config import Config
from app.engine import Engine
from app.ui.main_screen import MainScreen
from app.ui.problems_screen import ProblemsScreen
from store.sources.base import LineBatch
from tests.test_ui_support import make_app, settle
from tests.test_writer_failure import POISON, poisoned_store


@pytest.fixture
def failed_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    poisoned_store(tmp_path / "vigil.duckdb").close()
    cfg = Config()
    cfg.detectors.enabled = False
    eng = Engine(cfg, db_path=tmp_path / "vigil.duckdb").start()
    eng.submit(LineBatch("udp://127.0.0.1:5514", [b"ok", POISON.encode(), b"ok too"], datetime.now(UTC)))
    deadline = time.monotonic() + 60
    while not eng.pipeline.abandoned_by_source() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield eng
    eng.stop()


async def test_status_bar_counts_problems_and_bang_lists_them(failed_engine, tmp_path):
    app = make_app(failed_engine, tmp_path, frozen_status=None)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        app.bridge.post_status()
        await settle(app, pilot)
        bar = app.main_screen.status_bar
        text = bar.render()
        assert "2 problems (!)" in text.plain, text.plain
        assert any("red" in str(span.style) for span in text.spans if "problems" in text.plain[span.start:span.end])

        await pilot.press("exclamation_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, ProblemsScreen)
        listed = str(app.screen.query_one("#problems-body").render())
        assert "store writes stopped" in listed and "CHECK constraint" in listed
        assert "events not stored from udp://127.0.0.1:5514 (lost)" in listed and "×3" in listed

        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
