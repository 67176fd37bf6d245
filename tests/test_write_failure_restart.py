"""The real `vigil run --headless` on a store that refuses a write for good (a CHECK constraint: real DuckDB): it says
which events were not stored, per source, exits non-zero, `vigil doctor` shows it afterwards, and once the store is
repaired a restart re-reads exactly the lines that were lost — every line of every file stored once, in order."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import duckdb

from .conftest import ROOT, vigil_cmd
from .test_writer_failure import POISON, lift_poison, poisoned_store


def line(name: str, n: int, poison: bool = False) -> str:
    return f"Nov 21 10:00:00 web-01 app[7]: {name} seq={n:06d}{' ' + POISON if poison else ''}\n"


def engine_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(home / "cfg"), XDG_DATA_HOME=str(home / "data"))
    conf = home / "cfg" / "vigil" / "config.toml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("[sources]\npoll_interval = 0.2\n")
    return env


def start(db: Path, logs: list[Path], home: Path) -> tuple[subprocess.Popen[str], Path]:
    err = home / f"run-{time.monotonic_ns()}.err"
    watch = [a for p in logs for a in ("--watch", str(p))]
    with open(err, "w") as fh:
        proc = subprocess.Popen([*vigil_cmd(), "run", "--headless", *watch, "--db", str(db), "--status-every", "0.2"],
                                cwd=ROOT, env=engine_env(home), stdout=subprocess.DEVNULL, stderr=fh, text=True)
    return proc, err


def wait_events(proc: subprocess.Popen[str], err: Path, want: int, timeout: float = 120) -> None:
    """Wait for the engine's status line to report `want` stored events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [int(m) for m in re.findall(r"(?m)^events=(\d+)", err.read_text())]
        if counts and counts[-1] >= want:
            return
        assert proc.poll() is None, err.read_text()
        time.sleep(0.1)
    raise AssertionError(f"engine never reported {want} events: {err.read_text()[-2000:]}")


def stored(db: Path) -> dict[str, list[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT source, raw FROM events ORDER BY event_id").fetchall()
    finally:
        con.close()
    out: dict[str, list[str]] = {}
    for source, raw in rows:
        out.setdefault(source, []).append(raw + "\n")
    return out


def test_a_write_failure_is_said_counted_and_a_restart_rereads_exactly_the_lost_lines(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    poisoned_store(db).close()
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("".join(line("a", i) for i in range(1000)))
    b.write_text("".join(line("b", i) for i in range(1000)))
    proc, err = start(db, [a, b], tmp_path)
    try:
        wait_events(proc, err, 2000)
        with a.open("a") as fh:  # a line the store refuses, and more behind it in both files
            fh.write(line("a", 1000, poison=True) + "".join(line("a", i) for i in range(1001, 1500)))
        with b.open("a") as fh:
            fh.write("".join(line("b", i) for i in range(1000, 1500)))
        proc.wait(120)  # the engine stops by itself: nothing it receives could be stored any more
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = err.read_text()
    assert proc.returncode == 1, out
    assert "store writer failed for good" in out and "CHECK constraint" in out
    assert re.search(rf"FAIL: events not stored from file:{re.escape(str(a))} \(re-read on restart\): [1-9]", out), out

    files = {f"file:{a}": a.read_text().splitlines(keepends=True), f"file:{b}": b.read_text().splitlines(keepends=True)}
    before = stored(db)
    for source, got in before.items():
        assert got == files[source][: len(got)], f"{source}: the store is not a prefix of the file (a gap or a repeat)"
    assert len(before[f"file:{a}"]) < 1001, "the refused line's batch was stored"

    doctor = subprocess.run([*vigil_cmd(), "doctor", "--db", str(db)], cwd=ROOT, env=engine_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 1, doctor.stdout
    assert re.search(r"FAIL\] problems +last run", doctor.stdout), doctor.stdout
    assert f"events not stored from file:{a}" in doctor.stdout

    lift_poison(db)  # the operator repairs the store
    proc, err = start(db, [a, b], tmp_path)
    try:
        wait_events(proc, err, 3000 - sum(len(v) for v in before.values()))
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err.read_text()
    after = stored(db)
    assert after == files, "after the restart, every line of every file exactly once and in order"
    doctor = subprocess.run([*vigil_cmd(), "doctor", "--db", str(db)], cwd=ROOT, env=engine_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert re.search(r"ok\] problems +last run .*: none", doctor.stdout), doctor.stdout
