"""Headless commands as real subprocesses: `ask` prints the streamed answer and proposals with their
validation and never executes; `playbooks list|show|dry-run` render plans; `audit verify|export` work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playbooks.storage import PLAYBOOK_MIGRATIONS
from store.db import Store

from .ollama_server import OllamaTestServer, Reply
from .playbook_support import ATTACKER, bruteforce_alert

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "playbooks.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env, check=False)


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "vigil.duckdb"
    store = Store.open(path, migrations={"playbooks": PLAYBOOK_MIGRATIONS})
    bruteforce_alert(store.con, 1, "medium")
    store.close()
    return path


def test_ask_prints_answer_and_validated_proposals_and_never_executes(db: Path, tmp_path: Path) -> None:
    srv = OllamaTestServer().start()
    srv.replies.extend([
        Reply("text", text="Repeated SSH failures from one address."),
        Reply("json", obj={"decision": "propose_playbook", "rationale": "block it",
                           "playbook": {"playbook_id": "block_ip_hosts_deny", "params": {"ip": ATTACKER}},
                           "evidence_ids": [100]})])
    try:
        r = run("ask", "--db", str(db), "--alert", "1", "--host", srv.url, "What", "happened?")
    finally:
        srv.stop()
    assert r.returncode == 0, r.stderr
    assert "Repeated SSH failures from one address." in r.stdout
    assert "[llm] ACCEPTED (needs analyst approval in the console)" in r.stdout
    assert "hosts_deny add --file" in r.stdout
    assert "LLM ready" in r.stderr
    store = Store.open(db, read_only=True)
    try:
        assert store.con.execute("SELECT count(*) FROM playbook_executions").fetchone()[0] == 0
        assert store.con.execute("SELECT count(*) FROM audit_log WHERE kind = 'proposal'").fetchone()[0] == 1
    finally:
        store.close()


def test_ask_without_ollama_says_so_in_one_line_and_offers_offline_proposals(db: Path) -> None:
    r = run("ask", "--db", str(db), "--alert", "1", "--host", "http://127.0.0.1:9", "help")
    assert r.returncode == 0, r.stderr
    assert "Ollama unreachable at http://127.0.0.1:9 — offline proposals only" in r.stderr
    assert "[offline_rules] ACCEPTED" in r.stdout


def test_ask_on_a_locked_store_fails_with_a_clear_message(db: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(db)!r}); "
                               "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        r = run("ask", "--db", str(db), "--host", "http://127.0.0.1:9", "hi")
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 1
    assert "open in another Vigil process" in r.stderr and "Traceback" not in r.stderr


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The same entry point in-process (cheap); the subprocess tests above cover the real program."""
    from playbooks.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_playbooks_list_show_and_dry_run(db: Path, capsys) -> None:
    code, out, _ = cli(capsys, "playbooks", "list")
    assert code == 0 and "block_ip_nft" in out and "open_ticket" in out
    code, out, _ = cli(capsys, "playbooks", "show", "lock_user")
    assert code == 0 and "param user: user (required)" in out and "rollback unlock" in out
    code, out, err = cli(capsys, "playbooks", "dry-run", "block_ip_nft", "--db", str(db), "--alert", "1",
                         "--param", f"ip={ATTACKER}", "--param", "duration=30m")
    assert code == 0, out + err
    assert f"nft add element inet vigil blocked4 '{{ {ATTACKER} timeout 1800s }}'" in out
    code, out, _ = cli(capsys, "playbooks", "dry-run", "block_ip_nft", "--db", str(db), "--alert", "1",
                       "--param", "ip=203.0.113.99")
    assert code == 1 and "does not appear in the cited evidence" in out
    code, _, err = cli(capsys, "playbooks", "show", "nope")
    assert code == 2 and "no playbook 'nope'" in err


def test_audit_verify_and_export(db: Path, tmp_path: Path, capsys) -> None:
    code, _, _ = cli(capsys, "ask", "--db", str(db), "--alert", "1", "--host", "http://127.0.0.1:9", "help")
    assert code == 0
    code, out, _ = cli(capsys, "audit", "verify", "--db", str(db))
    assert code == 0 and "audit chain OK" in out
    dest = tmp_path / "audit.jsonl"
    code, _, _ = cli(capsys, "audit", "export", "--db", str(db), "--out", str(dest))
    assert code == 0 and (dest.stat().st_mode & 0o777) == 0o600
    assert all("hash" in json.loads(line) for line in dest.read_text().splitlines())
    store = Store.open(db)
    store.con.execute("UPDATE audit_log SET actor_id = 'mallory' WHERE seq = 1")
    store.close()
    code, _, err = cli(capsys, "audit", "verify", "--db", str(db))
    assert code == 1 and "BROKEN at seq 1" in err
