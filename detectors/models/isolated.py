"""Run model training in a child process: scikit-learn fitting and skl2onnx conversion hold the GIL for
seconds, which would starve the engine's receive, parse and UI threads (UDP drops, frozen keys).

The child only computes and writes `.onnx` files (atomically); the parent keeps scoring with the old models,
then loads the new files and swaps. Setting `stop` kills the child, so shutdown never waits for a fit.
A plain `python -m detectors.models.isolated JOB` subprocess is used rather than multiprocessing, whose
resource tracker needs a real stderr file descriptor (the console replaces it).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detectors.models.trainer import TrainingCancelled


class TrainingFailed(RuntimeError):
    pass


def run_isolated(fn: Callable[..., Any], *args: Any, stop: threading.Event | None = None, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a child Python process; its result, or TrainingFailed / TrainingCancelled."""
    with tempfile.TemporaryDirectory(prefix="vigil-train-") as tmp:
        job, out = Path(tmp) / "job.pickle", Path(tmp) / "result.pickle"
        with open(job, "wb") as f:
            pickle.dump((fn, args, kwargs, str(out)), f, protocol=pickle.HIGHEST_PROTOCOL)
        with open(Path(tmp) / "child.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "detectors.models.isolated", str(job)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            try:
                while proc.poll() is None:
                    if stop is not None and stop.is_set():
                        proc.kill()
                        raise TrainingCancelled()
                    time.sleep(0.2)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
        if not out.exists():
            tail = (Path(tmp) / "child.log").read_text(errors="replace")[-800:]
            raise TrainingFailed(f"training process exited with {proc.returncode}: {tail}")
        with open(out, "rb") as f:
            status, value = pickle.load(f)
    if status == "ok":
        return value
    raise TrainingFailed(value)


def _main(job_path: str) -> int:
    with open(job_path, "rb") as f:
        fn, args, kwargs, out = pickle.load(f)
    try:
        result: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # reported to the parent, which decides what it means
        result = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
    with open(out, "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1]))
