"""`vigil`, `vigil run` and `vigil demo` open the console here: the app paints first, the engine starts in
a worker, and when the app exits the engine is stopped in order before the process returns."""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
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


def _say(message: str) -> None:
    """A line to the terminal, which may have hung up (then writing fails, and nobody is there to read it)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        logging.getLogger(__name__).info("%s", message)


def watch_terminal(done: threading.Event, on_hangup: Callable[[int], None]) -> None:
    """The terminal hanging up, seen on the terminal itself: a shell without job control (sh -c, a multiplexer's
    pane) does not pass SIGHUP on to the program in it, which then only sees its reads and writes fail."""
    try:
        fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else -1
    except (OSError, ValueError):
        return
    if fd < 0 or not os.isatty(fd):
        return
    poller = select.poll()
    poller.register(fd, 0)  # no events asked for: only hang-up and error are reported
    while not done.is_set():
        if any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in poller.poll(1000)):
            on_hangup(signal.SIGHUP)
            return


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

    stop_lock = threading.Lock()
    stopped: list[Any] = []
    returned = threading.Event()

    def stop_engine() -> None:
        with stop_lock:
            if building.is_set() and not finished.is_set():
                _say("vigil: waiting for the engine to finish starting…")
                finished.wait()
            engine = app.engine if app.engine is not None else (built[0] if built else None)
            if engine is not None and engine not in stopped:
                stopped.append(engine)
                _say("vigil: stopping the engine…")
                try:
                    engine.stop()
                except Exception as exc:
                    _say(f"vigil: engine stop failed: {exc}")

    def ask_app_to_exit() -> None:
        try:
            app.call_from_thread(app.exit, 0)  # the app saves its state as it unmounts
        except Exception:  # the app is not running (yet, or any more): the main thread's finally stops the engine
            logging.getLogger(__name__).debug("hangup outside the app's run", exc_info=True)

    def force_out() -> None:
        # Textual can block for ever flushing its last frame to a terminal that hung up. Nothing is left to
        # show: keep the analyst's state, stop the engine (store flushed and released) and leave.
        try:
            app.state_file.save(app.state)
            stop_engine()
        except Exception:
            logging.getLogger(__name__).exception("leaving after the terminal hung up")
        finally:
            os._exit(0)

    def watch_the_end() -> None:
        app.unmounted.wait()
        if not returned.wait(timeout=10):
            force_out()

    def leave(signum: int) -> None:
        threading.Thread(target=ask_app_to_exit, name="vigil-exit", daemon=True).start()
        if not app.unmounted.wait(timeout=20) and not returned.is_set():
            force_out()  # the app's loop never began to end

    # SIGHUP (the SSH session dropped) is taken by a thread of its own with sigwait: a Python handler only runs
    # when the main thread runs bytecode, and after a hangup the main thread can be blocked inside Textual writing
    # to a terminal that no longer exists. Blocked here so every thread started from now on inherits the mask and
    # the kernel leaves the signal to sigwait (commands a playbook runs inherit it too: they are not cut short by
    # the analyst's link dropping). Threads that already exist (native ones) still take it, so the same response
    # is also installed as a handler. SIGTERM only has the handler: children's SIGTERM is never masked.
    watched = {signal.SIGHUP}
    left = threading.Lock()

    def on_signal(signum: int, frame: Any = None) -> None:
        if left.acquire(blocking=False):
            threading.Thread(target=leave, args=(signum,), name="vigil-leave", daemon=True).start()

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGHUP, signal.SIGTERM)}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)

    def watch_signals() -> None:
        signum = signal.sigwait(watched)
        if not returned.is_set():
            on_signal(signum)

    watcher = threading.Thread(target=watch_signals, name="vigil-signals", daemon=True)
    watcher.start()
    threading.Thread(target=watch_the_end, name="vigil-end", daemon=True).start()
    threading.Thread(target=watch_terminal, args=(returned, on_signal), name="vigil-tty", daemon=True).start()
    saved_handlers = _log_to_file()
    try:
        code = app.run()
    finally:
        stop_engine()
        returned.set()
        if watcher.ident is not None and watcher.is_alive():
            signal.pthread_kill(watcher.ident, signal.SIGHUP)  # ends its sigwait; it sees returned and leaves
            watcher.join(timeout=5)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for signum, previous in old_handlers.items():
            signal.signal(signum, previous)
        root = logging.getLogger()
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved_handlers:
            root.addHandler(h)
    if app.exit_message:
        _say(app.exit_message)
    rc = app.return_code
    return int(code if isinstance(code, int) else (rc or 0))
