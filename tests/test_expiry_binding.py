"""A pending expiry runs its rollback as root without asking, so the scheduler runs only expiries an approved,
audited execution scheduled: planted rows, edited rollback argv and replayed expiries are refused and audited,
and nothing they name is run. Real DuckDB file, real executor and scheduler, real processes."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from playbooks.chat import PlaybookSession
from playbooks.executor import ExpiryScheduler
from playbooks.plan import RenderedStep

from .playbook_support import ATTACKER, bruteforce_alert, make_config, open_db, unprivileged_catalog
from .test_executor import approved


@pytest.fixture()
def env(tmp_path: Path):
    con, db = open_db(tmp_path / "vigil.duckdb")
    s = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "medium")
    yield con, s, tmp_path
    con.close()


def touch_step(target: Path) -> str:
    """A rollback that would leave evidence if it ever ran."""
    step = RenderedStep("pwn", "test", (sys.executable, "-c", f"open({str(target)!r}, 'w').write('ran')"), None,
                        10, "continue", True)
    return json.dumps([step.to_json()])


def plant(con, expiry_id: str, rollback: str, plan_hash: str | None, execution_id: str = "forged") -> None:
    con.execute("INSERT INTO playbook_expiries (expiry_id, execution_id, proposal_id, playbook_id, target_key, "
                "due_at, rollback, status, done_at, plan_hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [expiry_id, execution_id, None, "block_ip_hosts_deny", f"block_ip_hosts_deny:{ATTACKER}",
                 datetime.now(UTC) - timedelta(seconds=5), rollback, "pending", None, plan_hash])


def refusals(con) -> list[str]:
    rows = con.execute("SELECT record FROM audit_log WHERE kind = 'expiry_refused' ORDER BY seq").fetchall()
    return [json.loads(r)["data"]["reason"] for (r,) in rows]


def status(con, expiry_id: str) -> str:
    return con.execute("SELECT status FROM playbook_expiries WHERE expiry_id = ?", [expiry_id]).fetchone()[0]


def test_planted_expiry_without_a_plan_hash_is_refused_and_never_runs(env) -> None:
    con, s, tmp = env
    plant(con, "x1", touch_step(tmp / "pwned"), None)
    assert ExpiryScheduler(s.executor).run_due() == []
    assert not (tmp / "pwned").exists()
    assert status(con, "x1") == "refused"
    assert refusals(con) == ["the expiry carries no plan hash"]


def test_planted_expiry_borrowing_a_real_approved_plan_hash_is_refused(env) -> None:
    con, s, tmp = env
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 60})
    result = s.execute(out, approval)
    assert result.status == "succeeded"
    # The hash is readable from the audit log; the forged row reuses it, and even the real execution id.
    plant(con, "x2", touch_step(tmp / "pwned"), out.plan.hash, execution_id=result.execution_id)
    plant(con, "x3", touch_step(tmp / "pwned"), "ab" * 32)
    sched = ExpiryScheduler(s.executor)
    due_later = datetime.now(UTC) + timedelta(seconds=30)  # the genuine one is due in 60 s: not yet
    assert sched.run_due(now=due_later) == []
    assert not (tmp / "pwned").exists()
    assert (status(con, "x2"), status(con, "x3")) == ("refused", "refused")
    assert refusals(con) == ["no audited execution of the approved plan scheduled this expiry",
                             "no approval of this plan hash in the audit log"]
    genuine = con.execute("SELECT status FROM playbook_expiries WHERE expiry_id NOT IN ('x2', 'x3')").fetchall()
    assert genuine == [("pending",)]


def test_genuine_expiry_with_edited_rollback_argv_is_refused(env) -> None:
    con, s, tmp = env
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 60})
    assert s.execute(out, approval).status == "succeeded"
    con.execute("UPDATE playbook_expiries SET rollback = ?", [touch_step(tmp / "pwned")])
    done = ExpiryScheduler(s.executor).run_due(now=datetime.now(UTC) + timedelta(seconds=120))
    assert done == [] and not (tmp / "pwned").exists()
    assert refusals(con) == ["the stored rollback steps differ from the approved plan's"]
    assert ATTACKER in (tmp / "etc" / "hosts.deny").read_text()  # the block stays until someone lifts it


def test_genuine_expiry_runs_once_and_a_replay_is_refused(env) -> None:
    con, s, tmp = env
    hosts_deny = tmp / "etc" / "hosts.deny"
    out, approval = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 60})
    assert s.execute(out, approval).status == "succeeded"
    sched = ExpiryScheduler(s.executor)
    later = datetime.now(UTC) + timedelta(seconds=120)
    assert [r.status for r in sched.run_due(now=later)] == ["succeeded"]
    assert ATTACKER not in hosts_deny.read_text()
    stored = con.execute("SELECT plan_hash, status FROM playbook_expiries").fetchone()
    assert stored == (out.plan.hash, "done")
    # Someone blocks by hand again and flips the finished expiry back to pending to lift it a second time.
    hosts_deny.write_text(f"ALL: {ATTACKER} # vigil\n")
    con.execute("UPDATE playbook_expiries SET status = 'pending'")
    assert sched.run_due(now=later) == []
    assert ATTACKER in hosts_deny.read_text()
    assert refusals(con) == ["this expiry already ran"]
