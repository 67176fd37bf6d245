"""A forwarding site killed with SIGKILL mid-stream loses nothing and duplicates nothing at the central store:
its outbox commits with the events, and whatever was published but not yet deleted is landed once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_nats_forward import NatsServer, central_engine, counts, wait_until

pytestmark = [
    pytest.mark.skipif(shutil.which("nats-server") is None,
                       reason="nats-server is not installed (Debian package nats-server)"),
    pytest.mark.timeout(120),
]


def start_site(tmp: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "cfg"), "XDG_DATA_HOME": str(tmp / "data")}
    return subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--headless", "--db", str(tmp / "site.duckdb"), "--watch", str(log),
         "--forward", url, "--site", "plant-9"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "site.err", "ab"))


def test_sigkilled_site_resumes_forwarding_exactly_once(tmp_path: Path) -> None:
    (tmp_path / "cfg" / "vigil").mkdir(parents=True)
    (tmp_path / "cfg" / "vigil" / "config.toml").write_text(
        "[detectors]\nenabled = false\n[sources]\npoll_interval = 0.2\n")
    server = NatsServer(tmp_path)
    server.start()
    central, _ = central_engine(tmp_path, server.url)
    log = tmp_path / "site.log"
    log.write_text("")
    written = 0

    def write(n: int) -> None:
        nonlocal written
        with open(log, "a") as f:
            for i in range(written + 1, written + n + 1):
                f.write(f"Nov 21 10:00:00 plant-9 app[7]: crash line {i}\n")
        written += n

    site = start_site(tmp_path, server.url, log)
    try:
        for _round in range(3):
            # keep writing while the site tails and forwards, then kill it without warning
            for _ in range(6):
                write(200)
                time.sleep(0.15)
            wait_until(lambda: counts(central)[0] > 0, 30, "the first forwarded events")
            site.send_signal(signal.SIGKILL)
            site.wait(10)
            write(100)  # written while the site is down
            site = start_site(tmp_path, server.url, log)
        write(50)
        wait_until(lambda: counts(central)[0] >= written, 60, f"{written} events at the central store")
        time.sleep(1.0)
        assert counts(central) == (written, written)
    finally:
        site.send_signal(signal.SIGTERM)
        try:
            site.wait(15)
        except subprocess.TimeoutExpired:
            site.kill()
        central.stop()
        server.stop()
