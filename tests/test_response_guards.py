"""The response never targets the victim and never runs away: lock_user only for an account shown compromised,
protected and system accounts refused, automatic execution capped and one per target at a time (said in the
engine's notices and the audit log), approvals single-use. Alerts come from the real detectors (`vigil ingest
--detect` or a running engine); steps run through the real executor on harmless targets (a hosts.deny in the
test's temp directory; privileged steps turned into a process that exits 3 by the test config)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest

from playbooks.catalog import Catalog, load_file
from playbooks.chat import PlaybookSession
from playbooks.db import PlaybookDb
from playbooks.executor import ExecutionRefused
from playbooks.storage import ensure_schema

from .conftest import ROOT, vigil_cmd
from .ollama_server import wait_for
from .playbook_support import ATTACKER, bruteforce_alert, make_config, open_db, unprivileged_catalog

INTRUDER = "198.51.100.66"


def sshd(minute: int, second: int, text: str, pid: int = 2000) -> str:
    return f"Nov 21 07:{minute:02d}:{second:02d} web-01 sshd[{pid}]: {text}"


def failures_for(user: str, n: int = 25) -> list[str]:
    return [sshd(0, k, f"Failed password for {user} from {INTRUDER} port {41000 + k} ssh2") for k in range(n)]


def ingest(tmp_path: Path, name: str, lines: list[str]) -> Path:
    """The real CLI stores the lines and runs the real detectors over them."""
    log = tmp_path / f"{name}.log"
    log.write_text("\n".join(lines) + "\n")
    db = tmp_path / f"{name}.duckdb"
    r = subprocess.run([*vigil_cmd(), "ingest", "--detect", "--db", str(db), str(log)], capture_output=True,
                       text=True, timeout=180, cwd=ROOT, env=dict(os.environ), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return db


def session_on(db: Path, tmp_path: Path, **cfg: Any) -> tuple[duckdb.DuckDBPyConnection, PlaybookSession]:
    con = duckdb.connect(str(db))
    ensure_schema(con)
    return con, PlaybookSession(make_config(tmp_path, **cfg), PlaybookDb.direct(con))


def alert_id(con: duckdb.DuckDBPyConnection, rule_id: str) -> int:
    row = con.execute("SELECT alert_id FROM alerts WHERE rule_id = ? ORDER BY alert_id LIMIT 1", [rule_id]).fetchone()
    assert row is not None, f"no {rule_id} alert"
    return int(row[0])


def propose(pid: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "propose_playbook", "playbook": {"playbook_id": pid, "params": params}, "rationale": "t",
            "evidence_ids": []}


# --- lock_user targets the intruder's account, never the victim's -----------------------------------------


def test_lock_user_is_not_proposed_for_the_account_that_only_received_failed_logins(tmp_path: Path) -> None:
    db = ingest(tmp_path, "victim", failures_for("alice"))
    con, s = session_on(db, tmp_path)
    brute = alert_id(con, "auth.bruteforce")
    decision = s.route(brute)
    assert decision is not None and decision.severity == "high"  # 25 failures: a high alert, lock_user's tier
    assert "lock_user" not in [o.playbook_id for o in decision.proposals]
    # A model choosing it anyway is refused, with the reason on the card.
    out = s.validator.validate(propose("lock_user", {"user": "alice"}), s.load_alert(brute), "llm")
    assert not out.accepted
    assert any("account_compromised(alice)" in r and "victim" in r for r in out.reasons), out.reasons
    # The analyst's own explicit choice is theirs to make (the approval dialog still stands between).
    mine = s.validator.validate(propose("lock_user", {"user": "alice"}), s.load_alert(brute), "analyst")
    check = next(c for c in mine.checks if c.name == "account_compromised(alice)")
    assert check.ok and "analyst" in check.detail
    con.close()


def test_lock_user_is_proposed_once_a_login_succeeds_after_the_failures(tmp_path: Path) -> None:
    lines = failures_for("alice") + [sshd(1, 0, f"Accepted password for alice from {INTRUDER} port 41999 ssh2")]
    db = ingest(tmp_path, "compromised", lines)
    con, s = session_on(db, tmp_path)
    decision = s.route(alert_id(con, "auth.success_after_failures"))
    assert decision is not None
    lock = next(o for o in decision.proposals if o.playbook_id == "lock_user")
    assert lock.params == {"user": "alice"}
    checks = {c.name: c for c in lock.checks}
    assert checks["account_compromised(alice)"].ok and checks["deny_lists(alice)"].ok
    # Whether the whole proposal is accepted depends on this machine having an account called alice.
    assert all(c.name.startswith("user_exists") for c in lock.checks if not c.ok)
    con.close()


def test_a_success_for_another_account_proves_nothing_about_the_victim(tmp_path: Path) -> None:
    lines = failures_for("alice") + [sshd(1, 0, f"Accepted password for bob from {INTRUDER} port 41999 ssh2")]
    db = ingest(tmp_path, "other", lines)
    con, s = session_on(db, tmp_path)
    ctx = s.load_alert(alert_id(con, "auth.success_after_failures"))
    out = s.validator.validate(propose("lock_user", {"user": "alice"}), ctx, "llm")
    assert not out.accepted and any("account_compromised(alice)" in r for r in out.reasons)
    con.close()


def test_protected_users_from_config_and_system_accounts_are_never_locked(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.toml"
    cfg.write_text('[playbooks]\nprotected_users = ["alice"]\n')
    # The system-account case runs where such an account exists (every Debian-like system has daemon).
    users = ["alice", "root"] + [u for u in ("daemon", "bin", "www-data") if _system_account(u)][:1]
    for user in users:
        r = subprocess.run([*vigil_cmd(), "playbooks", "dry-run", "--config", str(cfg), "lock_user", "--param",
                            f"user={user}"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                           env=dict(os.environ), check=False)
        out = r.stdout + r.stderr
        assert r.returncode != 0 and "REJECTED" in out and "ACCEPTED" not in out, out
        expected = "system account" if user not in ("alice", "root") else "is protected"
        assert f"deny-list: user {user}" in out and expected in out, out


def _system_account(user: str) -> bool:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid < 1000
    except KeyError:
        return False


# --- automatic execution: one per target, capped, said --------------------------------------------------------

# The user catalogue's version of the hosts.deny block without its not_already_blocked precondition: the
# per-target limit must hold by itself, whatever a playbook's own preconditions say.
_WEAK_BLOCK = """\
id: block_ip_hosts_deny
version: 9
title: Deny a source address in hosts.deny (site copy without a duplicate check)
kind: containment
tier: medium
categories: [authentication, network]
risk: {impact: low, reversible: true}
auto_allowed: true
parameters:
  ip: {type: ip, evidence: [src_ip]}
  duration: {type: duration, default: 3600, min: 60, max: 86400}
steps:
  - {id: deny, action: hosts_deny.add, args: {ip: "{{ip}}"}, timeout_s: 10, on_failure: rollback}
rollback:
  - {id: allow, action: hosts_deny.remove, args: {ip: "{{ip}}"}, timeout_s: 10}
expiry: {after: "{{duration}}"}
suggest: {categories: [authentication], min_severity: medium, params: {ip: src_ip}, priority: 40}
"""


def _catalog(tmp_path: Path) -> Catalog:
    cat = unprivileged_catalog()
    path = tmp_path / "weak_block.yaml"
    path.write_text(_WEAK_BLOCK)
    cat.playbooks["block_ip_hosts_deny"] = load_file(path)
    return cat


def _flood_lines(addresses: int = 20) -> list[str]:
    """100 lines naming 20 addresses: each address tries 5 user names, which is both a brute force and a
    password spray, so every address raises two medium alerts."""
    return [sshd(a % 60, k * 5, f"Failed password for invalid user u{k} from 203.0.113.{a + 10} port "
                               f"{40000 + k} ssh2", pid=1000 + a)
            for a in range(addresses) for k in range(5)]


def test_auto_run_flood_is_capped_and_one_per_address_and_says_so(tmp_path: Path) -> None:
    from app.config import Config
    from app.engine import Engine

    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = Config()
    cfg.sources.watch = [str(log)]
    cfg.sources.poll_interval = 0.2
    # The engine's response desk on a test playbook config (hosts.deny in tmp, privileged steps harmless) with
    # the shipped auto-run limits (5 per 10 min, 10 in force).
    engine = Engine(cfg, db_path=tmp_path / "vigil.duckdb", playbook_config=make_config(tmp_path, auto_run_medium=True),
                    catalog=_catalog(tmp_path))
    desk = engine.responses
    assert desk is not None
    assert (desk.session.config.auto_run_limit, desk.session.config.auto_run_window_s) == (5, 600)
    engine.start()
    try:
        with log.open("a") as fh:
            fh.write("\n".join(_flood_lines()) + "\n")

        def count(sql: str) -> int:
            cur = engine.store.cursor()
            try:
                return int(cur.execute(sql).fetchone()[0])
            finally:
                cur.close()

        def settled() -> bool:  # every alert routed, and each one either ran or was held and said
            runs = count("SELECT count(*) FROM playbook_executions WHERE kind = 'run'")
            return count("SELECT count(*) FROM audit_log WHERE kind = 'routed'") >= 40 and runs + desk.held >= 40

        assert wait_for(settled, timeout=180), f"{desk.held} held; store: {count('SELECT count(*) FROM alerts')} alerts"
        assert count("SELECT count(*) FROM alerts") == 40
        _, notices = engine.outbox.drain()
        cur = engine.store.cursor()
        runs = cur.execute("SELECT plan_hash FROM playbook_executions WHERE kind = 'run'").fetchall()
        held = [json.loads(r)["data"] for (r,) in cur.execute(
            "SELECT record FROM audit_log WHERE kind = 'auto_run_held' ORDER BY seq").fetchall()]
        executed = [json.loads(r)["data"]["params"]["ip"] for (r,) in cur.execute(
            "SELECT record FROM audit_log WHERE kind = 'proposal' AND proposal_id IN (SELECT proposal_id FROM "
            "playbook_executions WHERE kind = 'run')").fetchall()]
        cur.close()
    finally:
        engine.stop()
    deny_lines = [ln for ln in (tmp_path / "etc" / "hosts.deny").read_text().splitlines() if ln.strip()]
    assert len(runs) == 5, f"{len(runs)} automatic executions for 40 alerts (cap 5 per 10 min)"
    assert len(set(executed)) == len(executed) == 5 and len(deny_lines) == 5  # one response per address
    assert {h["limit"] for h in held} == {"rate", "target"}
    assert all(h["targets"][0] in executed for h in held if h["limit"] == "target")
    assert any("auto response held back: cap of 5 per 10 min reached" in n for n in notices), notices
    assert desk.held == len(held) == 40 - 5


def test_auto_run_stops_at_the_number_of_responses_in_force(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "active.duckdb")
    s = PlaybookSession(make_config(tmp_path, auto_run_medium=True, auto_run_limit=100, auto_run_max_active=2),
                        db, catalog=unprivileged_catalog())
    for i in range(4):
        bruteforce_alert(con, i + 1, "medium", first_event=100 * (i + 1), ip=f"203.0.113.{50 + i}")
    decisions = [s.route(i + 1) for i in range(4)]
    assert [d.action for d in decisions if d] == ["auto_run", "auto_run", "prepare", "prepare"]
    assert all(d and d.held and "2 automatic responses already in force (cap 2)" in d.held.text
               for d in decisions[2:])
    # The held proposals wait for the analyst.
    statuses = con.execute("SELECT status FROM playbook_proposals WHERE alert_id IN (3, 4) AND accepted"
                           ).fetchall()
    assert statuses and {s for (s,) in statuses} == {"pending_approval"}
    con.close()


# --- approvals are single-use ----------------------------------------------------------------------------------


def test_an_approval_cannot_execute_twice(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "once.duckdb")
    s = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "medium")
    out = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ATTACKER}), s.load_alert(1), "llm")
    assert out.accepted, out.reasons
    s._record(out)
    approval = s.approve(s.request_approval(out))
    assert s.execute(out, approval).status == "succeeded"
    assert s.rollback(out).status == "succeeded"  # the block is gone: only the spent approval stands in the way
    with pytest.raises(ExecutionRefused, match="already used"):
        s.execute(out, approval)
    # A second session on the same store (a restarted console) cannot replay it either.
    other = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    other.outcomes[out.proposal_id] = out
    with pytest.raises(ExecutionRefused, match="already used"):
        other.execute(out, approval)
    hosts_deny = (tmp_path / "etc" / "hosts.deny").read_text()
    assert ATTACKER not in hosts_deny
    assert con.execute("SELECT count(*) FROM playbook_executions WHERE kind = 'run'").fetchone()[0] == 1
    refused = con.execute("SELECT count(*) FROM audit_log WHERE kind = 'execution_refused'").fetchone()[0]
    assert refused == 2
    con.close()
