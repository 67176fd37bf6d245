"""Console entry point (placeholder until the console lands): runs the engine headless."""

from __future__ import annotations

from typing import Any

from app.config import Config


def run_console(cfg: Config, db: str | None, *, read_only: bool, demo: Any = None) -> int:
    from app.cli import _stop_on_signals, run_headless
    from app.engine import Engine

    extra = [demo] if demo is not None else []
    engine = Engine(cfg, db_path=db, read_only=read_only, extra_sources=extra).start()
    return run_headless(engine, _stop_on_signals())
