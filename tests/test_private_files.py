"""Everything Vigil writes is private to its user from the first byte: the real `vigil run --headless` (started
with a permissive umask, as from a login shell) keeps its store, WAL, models directory and model files owner-only
while it runs, and `vigil export` writes CSV/JSONL files 0600."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import ROOT, vigil_cmd

LOOSE_UMASK = 0o022  # what a login shell usually has: files 0644, directories 0755


def auth_lines(n: int) -> str:
    users = ["alice", "bob", "carol", "dave", "erin"]
    out = []
    for i in range(n):
        user = users[i % len(users)]
        # Users log in from their own addresses; the failures come from elsewhere (what the models may not learn).
        ip = f"198.51.100.{i % 50 + 1}" if i % 3 else f"203.0.113.{i % 50 + 1}"
        verb = "Accepted password" if i % 3 else "Failed password"
        out.append(f"Nov 21 10:{i // 60 % 60:02d}:{i % 60:02d} web1 sshd[{1000 + i}]: {verb} for {user} from {ip} "
                   f"port {40000 + i} ssh2")
    return "\n".join(out) + "\n"


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def wait_until(predicate, what: str, proc: subprocess.Popen[bytes], err: Path, timeout: float = 180) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"engine exited early: {err.read_text()}"
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s: {err.read_text()[-2000:]}"
        time.sleep(0.1)


def process_umask(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError("no Umask line in /proc/PID/status")


def test_store_wal_models_and_exports_are_private_while_the_engine_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "cfg" / "vigil"
    cfg.mkdir(parents=True)
    # A small baseline so the engine trains (and writes model files) while the test watches.
    (cfg / "config.toml").write_text("[sources]\npoll_interval = 0.2\n\n[detectors]\nlearning_events = 200\n")
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(1500))
    db = data / "vigil.duckdb"
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(data))
    err = tmp_path / "engine.err"
    with open(err, "wb") as errf:
        proc = subprocess.Popen([*vigil_cmd(), "run", "--headless", "--watch", str(log), "--db", str(db)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errf, umask=LOOSE_UMASK)
    try:
        wal = Path(str(db) + ".wal")
        models = data / "models"
        wait_until(lambda: wal.exists(), "the WAL", proc, err)
        wait_until(lambda: any(models.glob("*.onnx")), "model training", proc, err)
        assert process_umask(proc.pid) == 0o077
        assert mode(data) == 0o700
        assert mode(db) == 0o600
        assert mode(wal) == 0o600
        assert mode(models) == 0o700
        for f in models.iterdir():
            assert mode(f) == 0o600, f
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    for fmt, name in (("csv", "out.csv"), ("jsonl", "out.jsonl")):
        out = tmp_path / "exports" / name
        r = subprocess.run([*vigil_cmd(), "export", "--db", str(db), "--format", fmt, "--out", str(out)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, umask=LOOSE_UMASK)
        assert r.returncode == 0, r.stderr
        assert mode(out) == 0o600 and out.stat().st_size > 0
        assert mode(out.parent) == 0o700
