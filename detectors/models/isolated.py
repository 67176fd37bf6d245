"""Run model training in a child process: scikit-learn fitting and skl2onnx conversion hold the GIL for
seconds, which would starve the engine's receive, parse and UI threads (UDP drops, frozen keys).

The child only computes and writes `.onnx` files (atomically); the parent keeps scoring with the old models,
then loads the new files and swaps. Setting `stop` kills the child, so shutdown never waits for a fit.
"""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from collections.abc import Callable
from typing import Any

from detectors.models.trainer import TrainingCancelled


def _child(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # everything goes back to the parent, which decides what it means
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
    finally:
        conn.close()


class TrainingFailed(RuntimeError):
    pass


def run_isolated(fn: Callable[..., Any], *args: Any, stop: threading.Event | None = None, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a spawned process; its result, or TrainingFailed / TrainingCancelled."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args, kwargs), name="vigil-train", daemon=True)
    proc.start()
    child.close()
    try:
        while True:
            if stop is not None and stop.is_set():
                proc.kill()
                raise TrainingCancelled()
            if parent.poll(0.25):
                try:
                    status, value = parent.recv()
                except EOFError as exc:
                    raise TrainingFailed(f"training process died (exit code {proc.exitcode})") from exc
                if status == "ok":
                    return value
                raise TrainingFailed(value)
            if not proc.is_alive() and not parent.poll(0):
                raise TrainingFailed(f"training process died (exit code {proc.exitcode})")
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
        parent.close()
