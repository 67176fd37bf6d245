"""The executor runs real steps against harmless targets: a hosts.deny file in a temp dir, a tickets file, a
forensic bundle, a webhook on a loopback socket, and an nftables table inside a throwaway network namespace."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from playbooks.approval import ApprovalRequest
from playbooks.chat import PlaybookSession
from playbooks.executor import ExecutionRefused, ExpiryScheduler
from playbooks.storage import ensure_schema

from .ollama_server import wait_for
from .playbook_support import ATTACKER, bruteforce_alert, make_config, open_db, unprivileged_catalog


def propose(pid: str, params: dict) -> dict:
    return {"decision": "propose_playbook", "playbook": {"playbook_id": pid, "params": params}, "rationale": "t",
            "evidence_ids": []}


def approved(s: PlaybookSession, alert_id: int, pid: str, params: dict):
    out = s.validator.validate(propose(pid, params), s.load_alert(alert_id), "llm")
    assert out.accepted, out.reasons
    s._record(out)
    req = s.request_approval(out)
    return out, s.approve(req, confirmation=out.plan.confirmation_text)


@pytest.fixture()
def env(tmp_path: Path):
    con, db = open_db(tmp_path / "vigil.duckdb")
    s = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "medium")
    yield con, s, tmp_path
    con.close()


def test_hosts_deny_block_runs_verifies_and_rolls_back(env) -> None:
    con, s, tmp = env
    hosts_deny = tmp / "etc" / "hosts.deny"
    hosts_deny.write_text("# site rules\nALL: 198.51.100.200\n")
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER})
    lines: list[str] = []
    result = s.execute(out, approval, on_output=lambda step, line: lines.append(f"{step}: {line}"))
    assert result.status == "succeeded", result.reason
    assert f"ALL: {ATTACKER} # vigil" in hosts_deny.read_text().splitlines()
    assert "ALL: 198.51.100.200" in hosts_deny.read_text()  # existing rules untouched
    assert result.steps[0].exit_code == 0 and result.verify[0].status == "ok"
    assert any("added" in ln for ln in lines)  # output streamed while running
    assert result.expiry_due is not None
    undo = s.rollback(out)
    assert undo.status == "succeeded"
    assert ATTACKER not in hosts_deny.read_text()
    assert hosts_deny.read_text().startswith("# site rules")
    assert con.execute("SELECT count(*) FROM playbook_expiries WHERE status = 'pending'").fetchone()[0] == 0
    kinds = [k for (k,) in con.execute("SELECT kind FROM audit_log ORDER BY seq").fetchall()]
    for k in ("proposal", "approval_requested", "approved", "execution_started", "executed", "rolled_back"):
        assert k in kinds


def test_read_only_mode_refuses_every_execution(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "ro.duckdb")
    s = PlaybookSession(make_config(tmp_path, read_only=True), db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "medium")
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER})
    with pytest.raises(ExecutionRefused, match="read-only"):
        s.execute(out, approval)
    assert not (tmp_path / "etc" / "hosts.deny").exists()
    assert con.execute("SELECT count(*) FROM audit_log WHERE kind = 'execution_refused'").fetchone()[0] == 1


def test_preconditions_are_rechecked_right_before_running(env) -> None:
    con, s, tmp = env
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER})
    # Someone blocks the address by hand after the approval was given.
    (tmp / "etc" / "hosts.deny").write_text(f"ALL: {ATTACKER} # vigil\n")
    with pytest.raises(ExecutionRefused, match="already blocked"):
        s.execute(out, approval)


def test_expired_approval_cannot_run(env) -> None:
    con, s, tmp = env
    out = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ATTACKER}), s.load_alert(1), "llm")
    s._record(out)
    req = ApprovalRequest(out.proposal_id, out.plan, 60, created_at=datetime.now(UTC) - timedelta(seconds=30))
    approval = req.approve({"user": "analyst"})
    object.__setattr__(approval, "expires_at", datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ExecutionRefused, match="expired"):
        s.execute(out, approval)
    assert not (tmp / "etc" / "hosts.deny").exists()


def test_step_timeout_kills_a_hung_step_and_reports_it(tmp_path: Path) -> None:
    import socket

    # A webhook that accepts the connection and never answers: the helper would wait 10 s for a reply.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    user = tmp_path / "user_pb"
    user.mkdir()
    (user / "slow.yaml").write_text(
        "id: slow_webhook\nversion: 1\ntitle: Webhook with a short deadline\ntier: low\n"
        "risk: {impact: low}\nsteps:\n  - {id: post, action: notify.webhook, timeout_s: 0.5}\n")
    from playbooks.catalog import load_catalog

    try:
        con, db = open_db(tmp_path / "t.duckdb")
        bruteforce_alert(con, 1, "medium")
        cfg = make_config(tmp_path, webhook_url=f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
        s = PlaybookSession(cfg, db, catalog=load_catalog(user))
        out, approval = approved(s, 1, "slow_webhook", {})
        result = s.execute(out, approval)
    finally:
        silent.close()
    assert result.status == "failed" and result.steps[0].status == "timeout"
    assert result.steps[0].exit_code is None and result.steps[0].duration_ms >= 400  # cut at its deadline, not before
    con.close()


def test_ticket_is_appended_as_a_private_jsonl_line(env) -> None:
    con, s, tmp = env
    out, approval = approved(s, 1, "open_ticket", {"title": "Brute force on web-01"})
    assert s.execute(out, approval).status == "succeeded"
    path = tmp / "tickets.jsonl"
    assert (path.stat().st_mode & 0o777) == 0o600
    ticket = json.loads(path.read_text().splitlines()[0])
    assert ticket["title"] == "Brute force on web-01"
    assert ticket["alert"]["alert_id"] == 1 and len(ticket["evidence"]) == 5


def test_forensic_bundle_holds_evidence_log_slices_and_hashes(env) -> None:
    con, s, tmp = env
    log = tmp / "auth.log"
    log.write_text(f"Nov 21 06:00:01 web-01 sshd[1]: Failed password for admin from {ATTACKER} port 1 ssh2\n"
                   "Nov 21 06:00:02 web-01 sshd[2]: Accepted publickey for ops from 192.0.2.1 port 2 ssh2\n")
    con.execute("UPDATE events SET source = ?", [f"file:{log}"])
    bruteforce_alert(con, 7, "high", first_event=700)
    con.execute("UPDATE events SET source = ? WHERE event_id >= 700", [f"file:{log}"])
    s.config.bundle_sources = [str(log)]  # the bundle reads configured log sources only
    out, approval = approved(s, 7, "forensic_bundle", {})
    result = s.execute(out, approval)
    assert result.status == "succeeded", result.steps[0].stderr
    bundle = next((tmp / "bundles").iterdir())
    assert (bundle.stat().st_mode & 0o777) == 0o700
    slice_file = next(bundle.glob("slice-*.log"))
    assert ATTACKER in slice_file.read_text() and "192.0.2.1" not in slice_file.read_text()
    assert len((bundle / "evidence.jsonl").read_text().splitlines()) == 5
    sums = dict(line.split("  ")[::-1] for line in (bundle / "SHA256SUMS").read_text().splitlines())
    for name, digest in sums.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest


def test_webhook_notification_is_posted_to_a_real_socket(tmp_path: Path) -> None:
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        con, db = open_db(tmp_path / "w.duckdb")
        cfg = make_config(tmp_path, webhook_url=f"http://127.0.0.1:{srv.server_address[1]}/hook")
        s = PlaybookSession(cfg, db, catalog=unprivileged_catalog())
        bruteforce_alert(con, 1, "critical")
        out, approval = approved(s, 1, "notify_webhook", {})
        assert s.execute(out, approval).status == "succeeded"
        assert received and received[0]["alert"]["severity"] == "critical"
        assert "SSH brute force" in received[0]["text"]
    finally:
        srv.shutdown()
        srv.server_close()


def test_step_output_is_capped_and_secrets_redacted(env) -> None:
    import sys

    from playbooks.executor import run_step
    from playbooks.plan import RenderedStep

    step = RenderedStep("noisy", "test", (sys.executable, "-c", "print('password=hunter2 ' + 'x' * 50000)"),
                        None, 10, "abort", False)
    res = run_step(step, cap=1024)
    assert res.status == "ok" and res.truncated
    assert len(res.stdout) <= 1100 and "hunter2" not in res.stdout and "password=***" in res.stdout


def test_block_expires_by_itself_via_the_scheduler(env, tmp_path: Path) -> None:
    con, s, tmp = env
    s.config = s.config.model_copy()
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 60})
    result = s.execute(out, approval)
    assert result.status == "succeeded"
    hosts_deny = tmp / "etc" / "hosts.deny"
    assert ATTACKER in hosts_deny.read_text()
    # Make it due now (as if 60 s had passed) and let the real scheduler thread pick it up.
    con.execute("UPDATE playbook_expiries SET due_at = now() - INTERVAL 1 SECOND")
    sched = ExpiryScheduler(s.executor, poll_s=0.05)
    sched.start()
    try:
        assert wait_for(lambda: ATTACKER not in hosts_deny.read_text(), timeout=20)
        assert wait_for(lambda: con.execute("SELECT status FROM playbook_expiries").fetchone()[0] == "done")
    finally:
        sched.stop()
    row = con.execute("SELECT actor_type, actor_id, plan_hash FROM audit_log WHERE kind = 'expired_rollback'"
                      ).fetchone()
    assert row == ("system", "expiry", out.plan.hash)


def test_pending_expiry_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "restart.duckdb"
    con, db = open_db(path)
    s = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "medium")
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 60})
    assert s.execute(out, approval).status == "succeeded"
    con.execute("UPDATE playbook_expiries SET due_at = now() - INTERVAL 1 SECOND")
    con.close()  # the process "stops" with the block in place
    hosts_deny = tmp_path / "etc" / "hosts.deny"
    assert ATTACKER in hosts_deny.read_text()

    con2, db2 = open_db(path)
    s2 = PlaybookSession(make_config(tmp_path), db2, catalog=unprivileged_catalog())
    sched = ExpiryScheduler(s2.executor)
    assert len(sched.pending()) == 1
    done = sched.run_due()
    assert [r.status for r in done] == ["succeeded"]
    assert ATTACKER not in hosts_deny.read_text()
    con2.close()


def test_a_newer_block_on_the_same_target_replaces_the_pending_expiry(env) -> None:
    con, s, tmp = env
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 60})
    assert s.execute(out, approval).status == "succeeded"
    (tmp / "etc" / "hosts.deny").write_text("")  # lifted by hand; the analyst blocks again for longer
    out2, approval2 = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 7200})
    assert s.execute(out2, approval2).status == "succeeded"
    rows = con.execute("SELECT status FROM playbook_expiries ORDER BY due_at").fetchall()
    assert sorted(r[0] for r in rows) == ["pending", "superseded"]


def _netns_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root for ip netns"
    if not (shutil.which("ip") and shutil.which("nft")):
        return "ip or nft not installed"
    name = f"vigilprobe{uuid.uuid4().hex[:6]}"
    try:
        r = subprocess.run(["ip", "netns", "add", name], capture_output=True, timeout=10, check=False)
        if r.returncode != 0:
            return f"ip netns add failed: {r.stderr.decode().strip()}"
        r = subprocess.run(["ip", "netns", "exec", name, "nft", "list", "tables"], capture_output=True, timeout=10,
                           check=False)
        return None if r.returncode == 0 else f"nft does not work in a netns: {r.stderr.decode().strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)


@pytest.fixture()
def netns():
    why = _netns_available()
    if why:
        pytest.skip(f"nftables-in-netns test skipped: {why}")
    name = f"vigiltest{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


def test_nftables_block_inside_a_network_namespace_with_rollback_and_expiry(tmp_path: Path, netns: str) -> None:
    con, db = open_db(tmp_path / "nft.duckdb")
    cfg = make_config(tmp_path, exec_prefix=["ip", "netns", "exec", netns])
    s = PlaybookSession(cfg, db)
    bruteforce_alert(con, 1, "medium")

    def in_set() -> bool:
        r = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "set", "inet", "vigil", "blocked4"],
                           capture_output=True, text=True, timeout=10, check=False)
        return ATTACKER in r.stdout

    out, approval = approved(s, 1, "block_ip_nft", {"ip": ATTACKER, "duration": 120})
    assert out.plan.steps[1].argv[:4] == ("ip", "netns", "exec", netns)
    result = s.execute(out, approval)
    assert result.status == "succeeded", [(r.step_id, r.stderr) for r in result.steps + result.verify]
    assert in_set()
    # The kernel-side timeout is set too (belt and braces with our persisted expiry).
    listing = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "set", "inet", "vigil", "blocked4"],
                             capture_output=True, text=True, timeout=10, check=False).stdout
    assert "timeout 2m" in listing
    # A second identical proposal is refused at validation: already blocked.
    again = s.validator.validate(propose("block_ip_nft", {"ip": ATTACKER}), s.load_alert(1), "llm")
    assert not again.accepted and "already blocked" in again.reasons[0]
    # Analyst rollback.
    assert s.rollback(out).status == "succeeded"
    assert not in_set()
    # Block again, then let the expiry lift it.
    out2, approval2 = approved(s, 1, "block_ip_nft", {"ip": ATTACKER, "duration": 120})
    assert s.execute(out2, approval2).status == "succeeded" and in_set()
    con.execute("UPDATE playbook_expiries SET due_at = now() - INTERVAL 1 SECOND WHERE status = 'pending'")
    assert [r.status for r in ExpiryScheduler(s.executor).run_due()] == ["succeeded"]
    assert not in_set()
    ensure_schema(con)  # idempotent
    con.close()


def test_engine_wiring_through_the_single_store_writer(tmp_path: Path) -> None:
    """The engine path: writes go through StoreWriter.call on its thread, reads through store cursors."""
    from playbooks import audit
    from playbooks.db import PlaybookDb
    from playbooks.storage import PLAYBOOK_MIGRATIONS
    from store.db import Store
    from store.writer import StoreWriter

    store = Store.open(tmp_path / "engine.duckdb", migrations={"playbooks": PLAYBOOK_MIGRATIONS})
    bruteforce_alert(store.con, 1, "medium")
    writer = StoreWriter(store).start()
    try:
        s = PlaybookSession(make_config(tmp_path), PlaybookDb.via_writer(writer, store),
                            catalog=unprivileged_catalog())
        out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER})
        assert s.execute(out, approval).status == "succeeded"
        assert ATTACKER in (tmp_path / "etc" / "hosts.deny").read_text()
        cur = store.cursor()
        assert audit.verify(cur)[0]
        assert cur.execute("SELECT count(*) FROM playbook_expiries WHERE status = 'pending'").fetchone()[0] == 1
    finally:
        writer.stop()
        store.close()


def test_iptables_block_inside_a_network_namespace_with_rollback(tmp_path: Path, netns: str) -> None:
    if not shutil.which("iptables"):
        pytest.skip("iptables not installed")
    con, db = open_db(tmp_path / "ipt.duckdb")
    s = PlaybookSession(make_config(tmp_path, exec_prefix=["ip", "netns", "exec", netns]), db)
    bruteforce_alert(con, 1, "medium")

    def has_rule() -> bool:
        r = subprocess.run(["ip", "netns", "exec", netns, "iptables", "-w", "5", "-S", "INPUT"],
                           capture_output=True, text=True, timeout=10, check=False)
        return f"-A INPUT -s {ATTACKER}/32 -j DROP" in r.stdout

    out, approval = approved(s, 1, "block_ip_iptables", {"ip": ATTACKER, "duration": 300})
    result = s.execute(out, approval)
    assert result.status == "succeeded", [(r.step_id, r.stderr) for r in result.steps + result.verify]
    assert has_rule()
    assert s.rollback(out).status == "succeeded"
    assert not has_rule()
    con.close()
