"""The audit chain is anchored outside the store: proposals recorded by the real `vigil ask` (offline) land in
the DuckDB file and in a 0600 JSONL mirror beside it, and `vigil audit verify` fails, naming the first bad seq,
when the newest rows are deleted or the middle is deleted and re-chained; a store held by a running process
gives a distinct exit code that does not say "tampering". Syslog lines reach real sockets."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from app.config import ConfigError, parse_config
from playbooks import audit_anchor
from playbooks.audit import AuditLog, chain_hash, verify, verify_anchored
from playbooks.config import PlaybookConfig
from playbooks.storage import PLAYBOOK_MIGRATIONS
from store.db import Store

from .conftest import vigil_cmd
from .playbook_support import bruteforce_alert, open_db


def vigil(tmp: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OLLAMA_HOST": "http://127.0.0.1:9"}  # no model: offline proposals
    return subprocess.run([*vigil_cmd(), *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=tmp, check=False)


@pytest.fixture(scope="module")
def recorded_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose audit log was written by two real `vigil ask` runs (offline rules, no model). Made once per
    module (the two CLI runs are the slow part); each test gets its own copy to tamper with."""
    tmp = tmp_path_factory.mktemp("recorded")
    db = tmp / "vigil.duckdb"
    store = Store.open(db, migrations={"playbooks": PLAYBOOK_MIGRATIONS})
    bruteforce_alert(store.con, 1, "high")
    store.close()
    for question in ("what should I do?", "and now?"):
        r = vigil(tmp, "ask", "--db", str(db), "--alert", "1", question)
        assert r.returncode == 0, r.stderr
    return db


@pytest.fixture()
def recorded(recorded_once: Path, tmp_path: Path) -> Path:
    """This test's copy of the recorded store and its audit mirror (file modes kept)."""
    db = tmp_path / recorded_once.name
    for src in (recorded_once, Path(f"{recorded_once}.wal"), audit_anchor.mirror_path(recorded_once)):
        if src.exists():
            shutil.copy2(src, tmp_path / src.name)
    return db


def audit_rows(db: Path) -> list[tuple[int, str, str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT seq, record, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()
    finally:
        con.close()


def test_untouched_store_verifies_and_mirror_is_private_and_complete(recorded: Path) -> None:
    rows = audit_rows(recorded)
    assert len(rows) >= 4
    mirror = audit_anchor.mirror_path(recorded)
    assert (mirror.stat().st_mode & 0o777) == 0o600
    lines = [json.loads(x) for x in mirror.read_text().splitlines()]
    assert [(x["seq"], x["prev_hash"], x["hash"]) for x in lines] == [(s, p, h) for s, _r, p, h in rows]
    r = vigil(recorded.parent, "audit", "verify", "--db", str(recorded))
    assert r.returncode == 0, r.stderr
    assert f"{len(rows)} records, chain intact" in r.stdout and "matches the mirror" in r.stdout


def test_deleting_the_newest_rows_fails_verify_at_the_first_missing_seq(recorded: Path) -> None:
    n = len(audit_rows(recorded))
    con = duckdb.connect(str(recorded))
    con.execute("DELETE FROM audit_log WHERE seq > ?", [n - 2])
    assert verify(con)[0]  # the chain alone cannot see it: this is what the anchor is for
    con.close()
    r = vigil(recorded.parent, "audit", "verify", "--db", str(recorded))
    assert r.returncode == 1
    assert f"BROKEN at seq {n - 1}:" in r.stderr and "newest 2 record(s) were deleted" in r.stderr


def test_deleting_a_middle_row_and_rechaining_fails_verify_at_that_seq(recorded: Path) -> None:
    con = duckdb.connect(str(recorded))
    rows = con.execute("SELECT seq, record FROM audit_log ORDER BY seq").fetchall()
    con.execute("DELETE FROM audit_log")
    prev = "0" * 64
    cols = ("seq", "kind", "actor_type", "actor_id", "alert_id", "proposal_id", "playbook_id", "plan_hash")
    for new_seq, (_seq, text) in enumerate([r for r in rows if r[0] != 2], 1):
        rec = json.loads(text)
        rec["seq"] = new_seq
        digest = chain_hash(prev, rec)
        con.execute("INSERT INTO audit_log VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [new_seq, *(rec[c] for c in cols[1:]), json.dumps(rec), prev, digest])
        prev = digest
    assert verify(con)[0]  # a consistent, shorter chain
    ok, bad, reason = verify_anchored(con, audit_anchor.AuditMirror(audit_anchor.mirror_path(recorded)))
    assert (ok, bad) == (False, 2) and "rewritten" in reason
    con.close()
    r = vigil(recorded.parent, "audit", "verify", "--db", str(recorded))
    assert r.returncode == 1 and "BROKEN at seq 2:" in r.stderr


def test_a_deleted_or_edited_mirror_fails_verify(recorded: Path) -> None:
    mirror = audit_anchor.mirror_path(recorded)
    lines = mirror.read_text().splitlines(keepends=True)
    edited = json.loads(lines[1])
    edited["record"]["actor_id"] = "someone-else"
    mirror.write_text(lines[0] + json.dumps(edited) + "\n" + "".join(lines[2:]))
    r = vigil(recorded.parent, "audit", "verify", "--db", str(recorded))
    assert r.returncode == 1 and "mirror record 2 was edited" in r.stderr
    mirror.unlink()
    r = vigil(recorded.parent, "audit", "verify", "--db", str(recorded))
    assert r.returncode == 1 and "no audit mirror" in r.stderr


def test_store_held_by_another_process_is_busy_not_tampering(recorded: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(120)", str(recorded)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        r = vigil(recorded.parent, "audit", "verify", "--db", str(recorded))
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "held by a running Vigil engine" in r.stderr and "not a sign of tampering" in r.stderr
    assert "BROKEN" not in r.stderr and r.stderr.count("\n") == 1


def test_records_written_before_the_mirror_existed_are_adopted_once(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "old.duckdb")
    log = AuditLog(db)
    log.record("proposal", actor_type="system", actor_id="a")
    log.record("proposal", actor_type="system", actor_id="b")
    mirror = audit_anchor.mirror_path(tmp_path / "old.duckdb")
    mirror.unlink()  # as a store from before mirrors existed
    AuditLog(db).record("approved", actor_type="human", actor_id="c")
    assert [json.loads(x)["seq"] for x in mirror.read_text().splitlines()] == [1, 2, 3]
    assert verify_anchored(con, audit_anchor.AuditMirror(mirror))[0]
    con.close()


def test_syslog_anchor_sends_one_line_per_record_to_unix_and_udp_sockets(tmp_path: Path) -> None:
    sock_path = tmp_path / "log.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.bind(str(sock_path))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        for address, server in ((str(sock_path), unix), (f"udp://127.0.0.1:{udp.getsockname()[1]}", udp)):
            con, db = open_db(tmp_path / f"s{server.family}.duckdb")
            log = AuditLog(db, syslog=address)
            entries = [log.record("proposal", actor_type="system", actor_id=f"x{i}") for i in range(3)]
            server.settimeout(30)
            got = [server.recv(4096).decode() for _ in entries]
            for entry, line in zip(entries, got, strict=True):
                assert line.startswith("<85>") and "vigil-audit[" in line
                assert f"seq={entry.seq} kind=proposal prev={entry.prev_hash} hash={entry.hash}" in line
            assert log.syslog is not None and log.syslog.errors == 0
            con.close()
    finally:
        unix.close()
        udp.close()


def test_unreachable_syslog_is_counted_not_raised(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "v.duckdb")
    log = AuditLog(db, syslog=str(tmp_path / "nobody-listens.sock"))
    entry = log.record("proposal", actor_type="system", actor_id="x")
    assert entry.seq == 1 and log.syslog is not None and log.syslog.errors == 1
    assert verify_anchored(con, audit_anchor.AuditMirror(audit_anchor.mirror_path(tmp_path / "v.duckdb")))[0]
    con.close()


@pytest.mark.parametrize("value", ["syslog.example:514", "udp://host", "udp://host:99999", "tcp://h:514"])
def test_bad_audit_syslog_setting_names_file_key_and_value(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as err:
        parse_config(f'[playbooks]\naudit_syslog = "{value}"\n', path)
    assert str(path) in str(err.value) and "playbooks.audit_syslog" in str(err.value) and value in str(err.value)
    with pytest.raises(ValueError):
        PlaybookConfig(audit_syslog=value)
    assert parse_config('[playbooks]\naudit_syslog = "udp://[::1]:514"\n').playbooks.audit_syslog


def test_mirror_appends_never_rewrite(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "v.duckdb")
    log = AuditLog(db)
    log.record("proposal", actor_type="system", actor_id="a")
    mirror = audit_anchor.mirror_path(tmp_path / "v.duckdb")
    first = mirror.read_bytes()
    inode = mirror.stat().st_ino
    log.record("proposal", actor_type="system", actor_id="b")
    assert mirror.read_bytes().startswith(first) and mirror.stat().st_ino == inode
    con.close()
