"""Run model training in a child process: scikit-learn fitting and skl2onnx conversion hold the GIL for
seconds, which would starve the engine's receive, parse and UI threads (UDP drops, frozen keys).

The child only computes and writes `.onnx` files (atomically); the parent keeps scoring with the old models,
then loads the new files and swaps. Setting `stop` kills the child, so shutdown never waits for a fit.
A plain `python -m detectors.models.isolated --serve` subprocess is used rather than multiprocessing, whose
resource tracker needs a real stderr file descriptor (the console replaces it).

A child is kept for the next job (the window track trains soon after the event track) and leaves on its own
after `IDLE_S` without one, or when its parent goes (its stdin closes): importing scikit-learn and skl2onnx
costs a child ~2 s of CPU, more than most fits, and on a 2-core machine that is taken from ingest.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from detectors.models.trainer import TrainingCancelled

IDLE_S = 120.0  # an idle child exits after this long
POLL_S = 0.2  # how often a waiting parent looks at `stop`


class TrainingFailed(RuntimeError):
    pass


class _Child:
    """One serving child: a job path per line on its stdin; "started", then "done", per job on its stdout."""

    def __init__(self) -> None:
        self.log: IO[bytes] = tempfile.TemporaryFile(prefix="vigil-train-")  # noqa: SIM115 (lives with the child)
        # Unbuffered: a buffered reader could take "done" along with "started", and select would not see it.
        self.proc = subprocess.Popen([sys.executable, "-m", "detectors.models.isolated", "--serve"], bufsize=0,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)

    def run(self, job: Path, stop: threading.Event | None) -> str:
        """Send one job and wait for it: "done", "died" (mid-job: its log says why) or "unstarted" (it had left on
        its idle limit before reading the job, so nothing ran)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(f"{job}\n".encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return "unstarted"
        out = self.proc.stdout
        started = False
        while True:
            if stop is not None and stop.is_set():
                self.kill()
                raise TrainingCancelled()
            ready, _, _ = select.select([out], [], [], POLL_S)
            if not ready:
                continue
            line = out.readline().strip()
            if line == b"started":
                started = True
            elif line == b"done":
                return "done"
            else:  # end of file: the child is gone
                return "died" if started else "unstarted"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-800:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.log):
            with contextlib.suppress(OSError):
                if f is not None:
                    f.close()


_idle: list[_Child] = []
_idle_lock = threading.Lock()
# One fit at a time per process: the tracks take turns and share one child's imports, and a fit never takes
# more than one core from ingest.
_one_job = threading.Lock()


def _take_child() -> _Child:
    with _idle_lock:
        while _idle:
            child = _idle.pop()
            if child.alive():
                return child
            child.kill()
    return _Child()


def shutdown() -> None:
    """End the idle children now (an engine that stops; they would otherwise leave after IDLE_S)."""
    with _idle_lock:
        children, _idle[:] = list(_idle), []
    for child in children:
        child.kill()


def run_isolated(fn: Callable[..., Any], *args: Any, stop: threading.Event | None = None, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a child Python process; its result, or TrainingFailed / TrainingCancelled."""
    with tempfile.TemporaryDirectory(prefix="vigil-train-") as tmp:
        job, out = Path(tmp) / "job.pickle", Path(tmp) / "result.pickle"
        with open(job, "wb") as f:
            pickle.dump((fn, args, kwargs, str(out)), f, protocol=pickle.HIGHEST_PROTOCOL)
        while not _one_job.acquire(timeout=POLL_S):
            if stop is not None and stop.is_set():
                raise TrainingCancelled()
        try:
            return _run_job_in_child(job, out, stop)
        finally:
            _one_job.release()


def _run_job_in_child(job: Path, out: Path, stop: threading.Event | None) -> Any:
    child = _take_child()
    try:
        outcome = child.run(job, stop)
        if outcome == "unstarted":  # it left on its idle limit as the job came: a fresh child, nothing ran twice
            child.kill()
            child = _Child()
            outcome = child.run(job, stop)
    except BaseException:
        child.kill()
        raise
    if outcome != "done" or not out.exists():
        tail = child.log_tail()
        child.kill()
        raise TrainingFailed(f"training process exited with {child.proc.returncode}: {tail}")
    with _idle_lock:
        _idle.append(child)
    with open(out, "rb") as f:
        status, value = pickle.load(f)
    if status == "ok":
        return value
    raise TrainingFailed(value)


def _run_job(job_path: str) -> None:
    with open(job_path, "rb") as f:
        fn, args, kwargs, out = pickle.load(f)
    try:
        result: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # reported to the parent, which decides what it means
        result = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
    with open(out, "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)


NICE = 10  # training is background work: on a 2-core host, ingest, scoring and the console come first


def _serve() -> int:
    with contextlib.suppress(OSError):
        os.nice(NICE)
    # The protocol keeps its own copy of stdout; whatever a library prints goes to the log instead.
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    stdin = sys.stdin.buffer
    while True:
        ready, _, _ = select.select([stdin], [], [], IDLE_S)
        if not ready:
            return 0  # idle too long
        line = stdin.readline()
        if not line:
            return 0  # the parent went away
        proto.write(b"started\n")
        proto.flush()
        _run_job(line.decode().strip())
        proto.write(b"done\n")
        proto.flush()


if __name__ == "__main__":
    raise SystemExit(_serve())
