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


def test_every_not_done_counter_becomes_a_problem_with_its_last_error(tmp_path, monkeypatch):
    """Each counter that means "something was not done" reaches EngineStatus.problems (the status bar) and the
    health file `vigil doctor` reads, with its last error text. The counters are the real engine's own."""
    from app.problems import read_health

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    eng = Engine(Config(), db_path=tmp_path / "vigil.duckdb").start()
    try:
        ps = eng.pipeline.stats
        ps.fast_path_errors, ps.last_fast_path_error = 2, "file:/x: ValueError: bad slice"
        ps.enricher_errors, ps.last_enricher_error = 1, "KeyError: 'template'"
        eng.scorer.rules.errors.count, eng.scorer.rules.errors.last = 3, "rule r1 (T): ZeroDivisionError"
        eng.scorer.model_errors, eng.scorer.last_model_error = 4, "onnxruntime: shape mismatch"
        eng.detection.errors, eng.detection.last_error = 5, "scoring events 1–9 failed: boom"
        eng.responses.router.errors, eng.responses.router.last_error = 6, "alert #7: LookupError: gone"
        eng.responses.expiry.failures, eng.responses.expiry.last_error = 7, "expiry e1 (attempt 1): IndexError"
        eng.outbox.dropped = 8
        problems = {p.key: p for p in eng.status().problems}
        expected = {"fast_parse": (2, "bad slice"), "enrich": (1, "template"), "rules": (3, "ZeroDivisionError"),
                    "models": (4, "shape mismatch"), "detection": (5, "boom"), "routing": (6, "gone"),
                    "expiry": (7, "IndexError"), "outbox": (8, None)}
        for key, (count, text) in expected.items():
            assert key in problems, f"{key} is not shown"
            assert problems[key].count == count
            assert text is None or text in (problems[key].detail or ""), problems[key]
    finally:
        eng.stop()
    health = read_health(tmp_path / "vigil.duckdb")
    assert health is not None and not health.running
    assert {p.key for p in health.problems} >= set(expected)
