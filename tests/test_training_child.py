"""The training child (detectors.models.isolated): one real `python -m detectors.models.isolated` process, kept
for the next job, killed by `stop`, replaced when it dies. Jobs are stdlib functions so the child can unpickle
them without the test module."""

from __future__ import annotations

import os
import threading
import time

import pytest

from detectors.models import isolated
from detectors.models.trainer import TrainingCancelled


@pytest.fixture(autouse=True)
def _fresh_pool():
    isolated.shutdown()
    yield
    isolated.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, deadline_s: float = 30.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_one_child_serves_consecutive_jobs_and_shutdown_ends_it():
    first = isolated.run_isolated(os.getpid)
    second = isolated.run_isolated(os.getpid)
    assert first != os.getpid()
    assert first == second  # the child stayed for the next job: its imports are paid once
    isolated.shutdown()
    assert _wait_gone(first)
    assert isolated.run_isolated(os.getpid) != first  # a new child after shutdown


def test_an_error_in_the_job_is_reported_and_the_child_is_kept():
    with pytest.raises(isolated.TrainingFailed, match="ValueError"):
        isolated.run_isolated(int, "not a number")
    pid = isolated.run_isolated(os.getpid)
    assert isolated.run_isolated(os.getpid) == pid


def test_a_child_that_dies_mid_job_fails_the_job_and_the_next_job_gets_a_new_one():
    pid = isolated.run_isolated(os.getpid)
    with pytest.raises(isolated.TrainingFailed, match="exited with 3"):
        isolated.run_isolated(os._exit, 3)
    assert _wait_gone(pid)
    assert isolated.run_isolated(os.getpid) != pid


def test_stop_kills_the_running_fit():
    stop = threading.Event()
    pid = isolated.run_isolated(os.getpid)
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(TrainingCancelled):  # had stop been ignored, the sleep would have ended and returned
        isolated.run_isolated(time.sleep, 60, stop=stop)
    assert _wait_gone(pid)


def test_jobs_from_two_threads_take_turns_in_one_child():
    pids: list[int] = []
    threads = [threading.Thread(target=lambda: pids.append(isolated.run_isolated(os.getpid))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(pids) == 3 and len(set(pids)) == 1


def test_an_idle_child_that_left_is_replaced(monkeypatch):
    pid = isolated.run_isolated(os.getpid)
    os.kill(pid, 9)  # as if it had reached its idle limit
    assert _wait_gone(pid)
    assert isolated.run_isolated(os.getpid) not in (pid, os.getpid())


def test_the_child_leaves_when_its_parent_is_killed():
    import subprocess
    import sys

    code = ("import os, sys; from detectors.models import isolated; "
            "print(isolated.run_isolated(os.getpid), flush=True); sys.stdin.read()")
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()  # no shutdown, no atexit: its end of the child's stdin closes with it
    parent.wait(30)
    assert _wait_gone(child)


def test_the_child_trains_at_a_lower_cpu_priority_than_the_engine():
    """Fits compete with ingest, scoring and the console for two cores: the kernel should favour those."""
    assert isolated.run_isolated(os.nice, 0) == min(19, os.nice(0) + isolated.NICE)
