"""`vigil run --headless --listen URL --db PATH` as a real subprocess: messages sent with `logger` are in the
store after a clean SIGTERM; bad URLs and busy ports are one clear line, not a traceback."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.deadlines import generous

ROOT = Path(__file__).resolve().parents[1]


def vigil(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update(XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    return e


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + generous(timeout)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"vigil exited early: {proc.communicate()[1]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port} after {timeout}s")


@pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger not installed")
def test_headless_run_stores_what_logger_sent(tmp_path):
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    db = tmp_path / "vigil.duckdb"
    proc = subprocess.Popen(
        vigil("run", "--headless", "--listen", f"tcp://127.0.0.1:{tcp}", "--listen", f"udp://127.0.0.1:{udp}",
              "--db", str(db)),
        cwd=ROOT, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(tcp, proc)
        lines = "".join(f"cli tcp {i}\n" for i in range(300))
        subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(tcp), "-T", "--octet-count", "-t", "clitest"],
                       input=lines, text=True, check=True, timeout=20)
        subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(udp), "-d", "-t", "clitest", "cli udp 0"],
                       check=True, timeout=20)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT source, message FROM events WHERE app = 'clitest' ORDER BY event_id").fetchall()
    finally:
        con.close()
    assert [m for s, m in rows if s == f"tcp://127.0.0.1:{tcp}"] == [f"cli tcp {i}" for i in range(300)]
    assert [m for s, m in rows if s == f"udp://127.0.0.1:{udp}"] == ["cli udp 0"]


def test_bad_listen_url_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        vigil("run", "--headless", "--listen", "tcp://127.0.0.1:5514?max_frame=lots", "--db",
              str(tmp_path / "v.duckdb")),
        cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "not a number" in proc.stderr and "Traceback" not in proc.stderr


def test_busy_port_is_one_clear_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            vigil("run", "--headless", "--listen", f"tcp://127.0.0.1:{port}", "--db", str(tmp_path / "v.duckdb")),
            cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 1
    assert f"cannot listen on tcp://127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr
