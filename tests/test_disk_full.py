"""The store's filesystem fills up under `vigil run --headless`: Vigil says so clearly (the store, "full"), keeps
running with ingestion paused instead of dying, and after the disk is grown and Vigil restarted every line of the
file is stored exactly once. A real tmpfs (mounted here, so root only), real DuckDB, the real CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from .conftest import ROOT, vigil_cmd
from .deadlines import generous

LINES = 150_000


def _mount(path: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` at `path`; None when done, else why not."""
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs for the store"
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                       capture_output=True, text=True, check=False)
    return None if r.returncode == 0 else f"cannot mount a tmpfs here: {r.stderr.strip()}"


@pytest.fixture
def small_disk(tmp_path: Path):
    disk = tmp_path / "disk"
    why = _mount(disk, "8m")
    if why:
        pytest.skip(why)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


def write_log(path: Path) -> list[str]:
    lines = [f"Nov 21 10:{i // 6000 % 60:02d}:{i // 100 % 60:02d} host{i % 9} app[{i % 700}]: request {i} served in "
             f"{i % 997} ms user=u{i % 313} path=/api/v1/items/{i * 7919 % 100000}" for i in range(LINES)]
    path.write_text("\n".join(lines) + "\n")
    return lines


def start(log: Path, db: Path, home: Path) -> tuple[subprocess.Popen[str], Path]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(home / "cfg"), XDG_DATA_HOME=str(home / "data"))
    err = home / f"run-{time.monotonic_ns()}.err"
    with open(err, "w") as fh:
        proc = subprocess.Popen([*vigil_cmd(), "run", "--headless", "--watch", str(log), "--db", str(db),
                                 "--status-every", "0.5"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=fh,
                                text=True)
    return proc, err


def wait(cond, what: str, timeout: float = 180) -> None:  # noqa: ANN001
    deadline = time.monotonic() + generous(timeout)
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(generous(180))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_full_disk_is_said_pauses_ingestion_and_after_regrowing_every_line_is_there_once(
        small_disk: Path, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    lines = write_log(log)
    db = small_disk / "v.duckdb"
    proc, err = start(log, db, tmp_path)
    try:
        wait(lambda: "filesystem is full" in err.read_text() or proc.poll() is not None, "the disk to fill up")
        assert proc.poll() is None, f"Vigil died on a full disk instead of pausing:\n{err.read_text()[-3000:]}"
        said = err.read_text()
        assert re.search(rf"the store's filesystem is full \({re.escape(str(db))}", said), said[-3000:]
        # Paused, not dead: the status line keeps coming and says why.
        n = said.count("\n")
        wait(lambda: err.read_text().count("\n") > n + 2 and "STORE DISK FULL" in err.read_text().splitlines()[-1],
             "status lines saying the store disk is full")
    finally:
        code = stop(proc)
    assert code >= 0, f"killed by signal {-code} on the way out:\n{err.read_text()[-3000:]}"

    r = subprocess.run(["mount", "-o", "remount,size=512m", str(small_disk)], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
    proc, err = start(log, db, tmp_path)
    try:
        def all_stored() -> bool:  # read to the end of the file, all of it committed and scored
            assert proc.poll() is None, err.read_text()[-3000:]
            status = [ln for ln in err.read_text().splitlines() if ln.startswith("events=")]
            last = status[-1] if status else ""
            return (not last.startswith("events=0 ") and "files_behind_bytes=0" in last
                    and "detect_lag_events=0 " in last)

        wait(all_stored, "the restarted engine to catch up", timeout=300)
    finally:
        code = stop(proc)
    assert code == 0, err.read_text()[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = [r[0] for r in con.execute("SELECT raw FROM events ORDER BY event_id").fetchall()]
    finally:
        con.close()
    assert len(stored) == len(set(stored)), f"{len(stored) - len(set(stored))} lines stored twice"
    assert stored == lines, f"stored {len(stored)} of {len(lines)} lines, or out of order"
