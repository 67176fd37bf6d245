"""Detection is exactly-once across crashes: `kill -9` the real headless engine ten times at random moments while
a file with 30 attackers grows; after a last run has caught up, every attacker has a medium+ alert, no
(rule, attacker) pair was alerted twice and no event is cited twice by one rule — events committed but not yet
scored when the process died were scored after the restart, once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.config import Config
from app.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


def interleave(n: int, inserts: dict[int, list[tuple[str, int]]]) -> list[str]:
    """n benign lines of a jump host (web, key logins, cron, kernel; about 500 a second of log time), with each
    inserted (address, attempt) written as a failed password right after its line number."""
    out = []
    for i in range(n):
        s = i // 500
        t = f"Nov 21 {10 + s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
        kind = i % 4
        if kind == 0:
            out.append(f'{t} web1 nginx: 192.0.2.{i % 250 + 1} - - [21/Nov/2026:10:00:00 +0000] "GET /p/{i} '
                       'HTTP/1.1" 200 512 "-" "Mozilla/5.0"')
        elif kind == 1:
            out.append(f"{t} jump1 sshd[{1000 + i % 500}]: Accepted publickey for alice from 192.0.2.{i % 250 + 1} "
                       f"port {20000 + i % 40000} ssh2")
        elif kind == 2:
            out.append(f"{t} jump1 CRON[{2000 + i % 500}]: pam_unix(cron:session): session opened for user "
                       "root(uid=0) by (uid=0)")
        else:
            out.append(f"{t} jump1 kernel: [12345.{i % 1000000:06d}] eth0: link up, 1000Mbps, full-duplex")
        for ip, j in inserts.get(i, ()):
            out.append(f"{t} jump1 sshd[{3000 + j}]: Failed password for invalid user admin{j} from {ip} "
                       f"port {40000 + j} ssh2")
    return out


def attack_lines(n: int, attackers: int, failures: int, seed: int = 11) -> tuple[list[str], list[str]]:
    """n benign lines (web, key logins, cron, kernel) and, spread through them, `attackers` addresses with
    `failures` failed passwords each within a minute of log time (about 500 lines a second)."""
    rnd = random.Random(seed)
    ips = [f"198.18.{i // 200}.{i % 200 + 1}" for i in range(attackers)]
    inserts: dict[int, list[tuple[str, int]]] = {}
    for _k, ip in enumerate(ips):
        start = rnd.randint(0, n - failures * 40)
        for j in range(failures):
            inserts.setdefault(start + j * 37, []).append((ip, j))
    return interleave(n, inserts), ips


def _config(home: Path) -> Path:
    conf = home / "cfg" / "vigil" / "config.toml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    # No model training here: a training child outliving a killed parent is another test's business.
    conf.write_text("[sources]\npoll_interval = 0.2\n\n[detectors]\nlearning_events = 100000000\n")
    return conf


def _start(log: Path, db: Path, home: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(home / "cfg"), XDG_DATA_HOME=str(home / "data"))
    return subprocess.Popen([sys.executable, "-m", "app", "run", "--headless", "--watch", str(log), "--db", str(db),
                             "--status-every", "0.5"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait_started(proc: subprocess.Popen[bytes], timeout: float = 120.0) -> bool:
    """True once the engine says it is storing (its store is open and its threads run)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            return False
        if b"storing into" in line:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
            return True
    return False


@pytest.mark.slow
def test_kill9_ten_times_every_attacker_alerted_once_and_no_event_cited_twice(tmp_path: Path) -> None:
    lines, attackers = attack_lines(60_000, 30, 12)
    log, db = tmp_path / "app.log", tmp_path / "v.duckdb"
    log.write_text("")
    _config(tmp_path)
    rnd = random.Random(5)
    done = threading.Event()

    def grow() -> None:
        with log.open("a") as fh:
            for i in range(0, len(lines), 500):
                fh.write("\n".join(lines[i:i + 500]) + "\n")
                fh.flush()
                time.sleep(0.12)
        done.set()

    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    kills = 0
    while kills < 10:
        proc = _start(log, db, tmp_path)
        try:
            assert _wait_started(proc), "the engine did not start"
            time.sleep(rnd.uniform(0.2, 1.5))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        kills += 1
    done.wait(timeout=300)
    assert done.is_set(), "the writer did not finish"

    cfg = Config()
    cfg.sources.watch = [str(log)]
    cfg.sources.poll_interval = 0.2
    cfg.detectors.learning_events = 100_000_000
    engine = Engine(cfg, db_path=db).start()
    try:
        deadline = time.monotonic() + 300
        stored = 0
        while time.monotonic() < deadline:
            cur = engine.store.cursor()
            stored = cur.execute("SELECT count(*) FROM events").fetchone()[0]
            cur.close()
            if stored == len(lines) and engine.detection.caught_up():
                break
            time.sleep(0.2)
        assert stored == len(lines), f"{stored} of {len(lines)} lines stored"
        assert engine.detection.wait_caught_up(300)
    finally:
        engine.stop()

    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        alerted = {r[0] for r in con.execute(
            "SELECT DISTINCT entity FROM alerts WHERE severity IN ('medium', 'high', 'critical')").fetchall()}
        dup_alerts = con.execute(
            "SELECT rule_id, entity, count(*) FROM alerts WHERE entity LIKE 'src_ip=198.18.%' GROUP BY ALL "
            "HAVING count(*) > 1").fetchall()
        dup_cites = con.execute(
            "SELECT rule_id, e, count(*) FROM alerts, unnest(event_ids) AS u(e) GROUP BY ALL HAVING count(*) > 1"
        ).fetchall()
        scored = con.execute("SELECT last_event_id FROM scorer_checkpoint").fetchone()[0]
        top = con.execute("SELECT max(event_id) FROM events").fetchone()[0]
    finally:
        con.close()
    missed = [ip for ip in attackers if f"src_ip={ip}" not in alerted]
    assert not missed, f"{len(missed)} attackers without a medium+ alert: {missed[:5]}"
    assert not dup_alerts, dup_alerts[:5]
    assert not dup_cites, dup_cites[:5]
    assert scored == top
