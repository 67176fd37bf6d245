"""Smoke test of the real binary in a real terminal: `vigil demo` in tmux at 100x30 shows an alert row,
the cursor moves, Enter opens the detail pane, and ctrl+q exits with code 0 (as the acceptance check does)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.deadlines import generous

pytestmark = [pytest.mark.smoke, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

ROOT = Path(__file__).resolve().parent.parent
ALERT_ROW = re.compile(r"^ ?(CRITICAL|HIGH|MEDIUM|LOW) +\d\d:\d\d:\d\d ", re.M)


def _capture(session: str) -> str:
    # Each test has a tmux server of its own (-L): a session started while another test's server exits fails.
    return subprocess.run(["tmux", "-L", session, "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True, check=False).stdout


def _wait_for(session: str, predicate, timeout: float) -> str:
    timeout = generous(timeout)
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _capture(session)
        if predicate(screen):
            return screen
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s; screen was:\n{screen}")


def _start_demo(tmp_path: Path, width: int = 100, height: int = 30) -> tuple[str, Path]:
    vigil = ROOT / ".venv" / "bin" / "vigil"
    cmd = [str(vigil)] if vigil.exists() else [sys.executable, "-m", "app"]
    session = f"vigil-smoke-{uuid.uuid4().hex[:8]}"
    exit_file = tmp_path / "exit"
    env = {
        "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm-256color",
        "OLLAMA_HOST": "http://127.0.0.1:9",  # nothing listens: the chat answers offline, whatever runs here
    }
    exports = " ".join(f"{k}='{v}'" for k, v in env.items())
    shell = f"cd '{ROOT}' && {exports} {' '.join(cmd)} demo; echo $? > '{exit_file}'; sleep 30"
    subprocess.run(["tmux", "-L", session, "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
                    shell],
                   check=True, env={**os.environ, **env})
    return session, exit_file


def test_demo_in_tmux_shows_alert_opens_detail_and_quits_cleanly(tmp_path):
    session, exit_file = _start_demo(tmp_path)
    try:
        screen = _wait_for(session, lambda s: ALERT_ROW.search(s) is not None, 60)
        assert "VIGIL" in screen and "engine running" in screen
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Up"], check=True)
        _wait_for(session, lambda s: "PAUSED" in s, 10)
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Enter"], check=True)
        # The default list is incidents: Enter shows the incident (its response, techniques, its alerts) ...
        incident = _wait_for(session, lambda s: "incident #" in s and "alerts (" in s, 15)
        assert "response " in incident and "ATT&CK " in incident
        # ... and the alert list is one key away, with the alert detail (why, evidence) on Enter.
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "v"], check=True)
        _wait_for(session, lambda s: "VIGIL   alerts" in s, 10)
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Up", "Enter"], check=True)
        detail = _wait_for(session, lambda s: "evidence (" in s and "why " in s, 15)
        assert "entity " in detail
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "C-q"], check=True)
        deadline = time.monotonic() + generous(20)
        while time.monotonic() < deadline and not exit_file.exists():
            time.sleep(0.2)
        assert exit_file.exists(), "vigil did not exit after ctrl+q:\n" + _capture(session)
        assert exit_file.read_text().strip() == "0"
        state = tmp_path / "state" / "vigil" / "console.json"
        assert state.exists() and oct(state.stat().st_mode & 0o777) == "0o600"
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], capture_output=True, check=False)


def _statuses(tmp_path: Path) -> list[str]:
    db = tmp_path / "data" / "vigil" / "demo.duckdb"
    vigil = ROOT / ".venv" / "bin" / "vigil"
    cmd = [str(vigil)] if vigil.exists() else [sys.executable, "-m", "app"]
    out = subprocess.run([*cmd, "query", "--db", str(db), "--format", "csv",
                          "SELECT status FROM alerts ORDER BY alert_id"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1:]


def test_a_question_typed_into_the_chat_appears_there_and_changes_no_alert(tmp_path):
    """Issue #14 defect 1 in the real binary: `p` puts the cursor in the chat; a question full of the table's keys
    (a, r, f, i, s, ?) is shown where it was typed, sent with Enter, kept on screen above its answer."""
    session, exit_file = _start_demo(tmp_path)
    question = "are reefs safe? afraid i resolve fast"
    try:
        _wait_for(session, lambda s: ALERT_ROW.search(s) is not None, 60)
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "g", "p"], check=True)
        _wait_for(session, lambda s: "Ask about the" in s, 15)
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "-l", question], check=True)
        _wait_for(session, lambda s: "afraid i resolve fast" in s, 10)  # the input may scroll its start away
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Enter"], check=True)
        _wait_for(session, lambda s: "you: are reefs safe?" in s, 15)  # the sent question stays on screen
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "C-q"], check=True)
        deadline = time.monotonic() + generous(20)
        while time.monotonic() < deadline and not exit_file.exists():
            time.sleep(0.2)
        assert exit_file.exists() and exit_file.read_text().strip() == "0", _capture(session)
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], capture_output=True, check=False)
    statuses = _statuses(tmp_path)
    assert statuses and set(statuses) == {"new"}, statuses


def test_dropped_terminal_saves_the_view_and_releases_the_store(tmp_path):
    import duckdb

    session, _ = _start_demo(tmp_path, 80, 24)
    try:
        _wait_for(session, lambda s: ALERT_ROW.search(s) is not None, 60)
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "s"], check=True)
        _wait_for(session, lambda s: "sources — files and listeners" in s, 10)
    finally:
        # Like an SSH link dropping: the terminal goes away and the process gets SIGHUP, well inside the
        # one-second window in which the view change would otherwise still be unsaved.
        subprocess.run(["tmux", "-L", session, "kill-server"], capture_output=True, check=False)
    db = tmp_path / "data" / "vigil" / "demo.duckdb"
    deadline = time.monotonic() + generous(30)
    while True:
        try:
            duckdb.connect(str(db), read_only=True).close()
            break
        except duckdb.Error:
            if time.monotonic() > deadline:
                raise AssertionError("the store is still locked 30 s after the terminal went away") from None
            time.sleep(0.3)
    state = json.loads((tmp_path / "state" / "vigil" / "console.json").read_text())
    assert state["view"] == "sources"
