"""`vigil`, `vigil run` and `vigil demo` open the console here: the app paints first, the engine starts in
a worker, and when the app exits the engine is stopped in order before the process returns."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from app.config import Config


def _log_to_file() -> list[logging.Handler]:
    """Logging must not write over the full-screen UI: send it to a private file for the run."""
    from app.ui.state import default_state_path

    root = logging.getLogger()
    saved = list(root.handlers)
    for h in saved:
        root.removeHandler(h)
    path: Path = default_state_path().with_name("console.log")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        handler: logging.Handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return saved


def run_console(cfg: Config, db: str | None, *, read_only: bool, demo: Any = None) -> int:
    # Read by Textual at import: cheaper redraws, which matter most over a laggy SSH link.
    os.environ.setdefault("TEXTUAL_SMOOTH_SCROLL", "0")
    if os.environ.get("SSH_TTY") or os.environ.get("SSH_CONNECTION"):
        os.environ.setdefault("TEXTUAL_FPS", "30")
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from app.ui.app import VigilApp

    extra = [demo] if demo is not None else []
    # The engine is built in a worker after the first frame. ctrl+q may come before the app is handed the
    # engine: it must still be stopped here, or its threads are inside DuckDB while the interpreter tears down
    # (SIGABRT). So the factory records what it built, and says when it is done.
    built: list[Any] = []
    building = threading.Event()
    finished = threading.Event()

    def start_engine() -> Any:
        from app.engine import Engine

        building.set()
        try:
            engine = Engine(cfg, db_path=db, read_only=read_only, extra_sources=extra)
            built.append(engine)
            return engine.start()
        finally:
            finished.set()

    app = VigilApp(cfg, engine_factory=start_engine, read_only=read_only)

    def hangup(signum: int, frame: Any) -> None:
        # The SSH session dropped (or we were asked to stop): keep the analyst's state and leave cleanly.
        app.save_state()
        app.exit(return_code=0)

    old = {s: signal.signal(s, hangup) for s in (signal.SIGHUP, signal.SIGTERM)}
    saved_handlers = _log_to_file()
    try:
        code = app.run()
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)
        if building.is_set() and not finished.is_set():
            print("vigil: waiting for the engine to finish starting…", file=sys.stderr, flush=True)
            finished.wait()
        engine = app.engine if app.engine is not None else (built[0] if built else None)
        if engine is not None:
            print("vigil: stopping the engine…", file=sys.stderr, flush=True)
            try:
                engine.stop()
            except Exception as exc:
                print(f"vigil: engine stop failed: {exc}", file=sys.stderr)
        root = logging.getLogger()
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved_handlers:
            root.addHandler(h)
    if app.exit_message:
        print(app.exit_message, file=sys.stderr)
    rc = app.return_code
    return int(code if isinstance(code, int) else (rc or 0))
