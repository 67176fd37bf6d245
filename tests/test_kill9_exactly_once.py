"""`kill -9` the real headless engine again and again while a file grows: after the last restart the store
holds every line exactly once and in order, because events and their file checkpoint commit together."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

import duckdb
import pytest

from tests.deadlines import generous

ROOT = Path(__file__).resolve().parents[1]
KILLS = int(os.environ.get("VIGIL_KILLS", "50"))  # kill -9s of the growing-file test (the acceptance runs 50)


class GrowingLog(threading.Thread):
    """Appends numbered lines in bursts (~1,500 lines/s), sometimes leaving a line half-written across a
    flush, like a real application's buffered writes."""

    def __init__(self, path: Path, rng: random.Random, *, rotate: bool = False) -> None:
        super().__init__(daemon=True)
        self.path, self.rng, self.rotate = path, rng, rotate
        self.stop_event = threading.Event()
        self.written = 0
        self.rotations: list[str] = []

    def run(self) -> None:
        f = open(self.path, "ab", buffering=0)  # noqa: SIM115 - reopened on rotation
        next_rotation = time.monotonic() + self.rng.uniform(0.5, 1.5)
        try:
            while not self.stop_event.is_set():
                burst = b"".join(self.line(self.written + i) for i in range(self.rng.randint(1, 30)))
                self.written += burst.count(b"\n")
                cut = self.rng.randint(0, len(burst)) if self.rng.random() < 0.3 else len(burst)
                f.write(burst[:cut])
                if cut < len(burst):
                    time.sleep(0.002)  # the tail of the burst (and a half line) arrives a little later
                    f.write(burst[cut:])
                if self.rotate and time.monotonic() >= next_rotation:
                    f = self.rotate_now(f)
                    next_rotation = time.monotonic() + self.rng.uniform(0.5, 1.5)
                self.stop_event.wait(0.01)
        finally:
            f.close()

    def rotate_now(self, f: BinaryIO) -> BinaryIO:
        """logrotate with dateext: either rename + create, or copytruncate; old files stay in the glob."""
        dest = self.path.with_name(f"{self.path.name}.{len(self.rotations) + 1}")
        if self.rng.random() < 0.5:
            f.close()
            os.rename(self.path, dest)
            self.rotations.append("rename")
            return open(self.path, "ab", buffering=0)
        shutil.copyfile(self.path, dest)
        os.truncate(self.path, 0)  # O_APPEND: the next write lands at the new end
        self.rotations.append("copytruncate")
        return f

    def line(self, n: int) -> bytes:
        return f"seq={n:08d} host=web{n % 7} msg={'x' * (n % 50)}\n".encode()


def start_engine(log: Path | str, db: Path, home: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `vigil run --headless`; return once it says it is storing (engine started), with its stderr."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(home / "cfg"), XDG_DATA_HOME=str(home / "data"))
    conf = home / "cfg" / "vigil" / "config.toml"
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        # Scoring is off by default here: it adds ~4 s to every start and is not what this test is about;
        # VIGIL_KILL9_DETECTORS=1 runs the full engine (slower).
        enabled = "true" if os.environ.get("VIGIL_KILL9_DETECTORS") == "1" else "false"
        conf.write_text(f"[sources]\npoll_interval = 0.5\n\n[detectors]\nenabled = {enabled}\n")
    err = home / f"engine-{time.monotonic_ns()}.err"
    with open(err, "wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "run", "--headless", "--watch", str(log), "--db", str(db)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True,
        )
    deadline = time.monotonic() + generous(30)
    while b"storing into" not in err.read_bytes():
        assert proc.poll() is None, f"engine exited early: {err.read_text()}"
        assert time.monotonic() < deadline, "engine did not start"
        time.sleep(0.02)
    return proc, err


def stored_lines(db: Path, source: str) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT raw FROM events WHERE source = ? ORDER BY event_id", [source]).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def stored_by_source(db: Path) -> dict[str, list[int]]:
    """Sequence numbers per source, in event_id order."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT source, raw FROM events ORDER BY event_id").fetchall()
    finally:
        con.close()
    out: dict[str, list[int]] = {}
    for source, raw in rows:
        out.setdefault(source, []).append(int(raw[4:12]))
    return out


def assert_once_and_in_order(by_source: dict[str, list[int]], written: int | None = None) -> int:
    seqs = [n for ns in by_source.values() for n in ns]
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} lines stored twice"
    for source, ns in by_source.items():
        assert ns == sorted(ns), f"out of order within {source}"
    if written is not None:
        missing = set(range(written)) - set(seqs)
        assert not missing, f"{len(missing)} of {written} lines never stored, e.g. {sorted(missing)[:5]}"
    return len(seqs)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kill9_at_random_moments_stores_every_line_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("VIGIL_KILL9_SEED", "0")) or random.randrange(1 << 30))
    log, db = tmp_path / "app.log", tmp_path / "vigil.duckdb"
    log.touch()
    source = f"file:{log}"
    writer = GrowingLog(log, rng)
    writer.start()
    progress: list[int] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(KILLS):
            proc, err = start_engine(log, db, tmp_path)
            procs.append(proc)
            time.sleep(rng.uniform(0.0, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert proc.returncode == -signal.SIGKILL, err.read_text()
            if db.exists():
                # At every crash the store is a prefix of the file: nothing twice, nothing skipped.
                got = stored_lines(db, source)
                assert got == [writer.line(n).decode().rstrip("\n") for n in range(len(got))]
                progress.append(len(got))
    finally:
        writer.stop_event.set()
        writer.join(5)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    assert len(set(progress)) >= KILLS // 4, f"kills should land while ingesting: {progress}"

    expected = [writer.line(n).decode().rstrip("\n") for n in range(writer.written)]
    got: list[str] = []
    deadline = time.monotonic() + generous(40)
    while time.monotonic() < deadline:
        proc, err = start_engine(log, db, tmp_path)
        try:
            time.sleep(2.0)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert proc.returncode == 0, err.read_text()
        got = stored_lines(db, source)
        if len(got) >= len(expected):
            break
    assert len(got) == len(set(got)), f"{len(got) - len(set(got))} lines stored twice"
    assert got == expected, f"stored {len(got)} of {len(expected)} lines, or out of order"
    print(f"kill -9 x{KILLS}: stored after each crash {progress}; finally {len(got)} lines exactly once")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill9_during_rename_and_copytruncate_rotation_stores_every_line_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("VIGIL_KILL9_SEED", "0")) or random.randrange(1 << 30))
    logs = tmp_path / "logs"
    logs.mkdir()
    log, db = logs / "app.log", tmp_path / "vigil.duckdb"
    log.touch()
    writer = GrowingLog(log, rng, rotate=True)
    writer.start()
    progress: list[int] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(10):
            proc, err = start_engine(str(logs / "app.log*"), db, tmp_path)
            procs.append(proc)
            time.sleep(rng.uniform(0.0, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert proc.returncode == -signal.SIGKILL, err.read_text()
            if db.exists():
                progress.append(assert_once_and_in_order(stored_by_source(db)))
    finally:
        writer.stop_event.set()
        writer.join(5)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    assert writer.rotations and len(set(progress)) >= 5, (writer.rotations, progress)

    stored = 0
    deadline = time.monotonic() + generous(40)
    while stored < writer.written and time.monotonic() < deadline:
        proc, err = start_engine(str(logs / "app.log*"), db, tmp_path)
        try:
            time.sleep(2.0)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert proc.returncode == 0, err.read_text()
        stored = len([n for ns in stored_by_source(db).values() for n in ns])
    by_source = stored_by_source(db)
    assert_once_and_in_order(by_source, writer.written)
    print(f"kill -9 x10 across {len(writer.rotations)} rotations ({writer.rotations.count('copytruncate')} "
          f"copytruncate): {writer.written} lines exactly once over {len(by_source)} sources")
