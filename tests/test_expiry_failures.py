"""A time-boxed block must lift even when another expiry is broken: each due expiry is handled on its own, a failure
is audited and shown, and the broken one is retried with back-off (it stays pending, never lost). Real DuckDB
file, real executor and scheduler, real rollback processes; the expiry binding still applies to every row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from playbooks.chat import PlaybookSession
from playbooks.executor import ExpiryScheduler

from .playbook_support import ATTACKER, bruteforce_alert, make_config, open_db, unprivileged_catalog
from .test_executor import approved

OTHER = "203.0.113.8"


@pytest.fixture()
def env(tmp_path: Path):
    con, db = open_db(tmp_path / "vigil.duckdb")
    s = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "medium")
    bruteforce_alert(con, 2, "medium", first_event=200, ip=OTHER)
    yield con, s, tmp_path
    con.close()


def audit_kinds(con, kind: str) -> list[dict]:
    rows = con.execute("SELECT record FROM audit_log WHERE kind = ? ORDER BY seq", [kind]).fetchall()
    return [json.loads(r)["data"] for (r,) in rows]


def expiry_rows(con) -> dict[str, str]:
    return dict(con.execute("SELECT target_key, status FROM playbook_expiries").fetchall())


def test_a_broken_expiry_ahead_of_a_good_one_does_not_keep_the_good_block_in_place(env) -> None:
    con, s, tmp = env
    hosts_deny = tmp / "etc" / "hosts.deny"
    first, a1 = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 60})
    assert s.execute(first, a1).status == "succeeded"
    second, a2 = approved(s, 2, "block_ip_hosts_deny", {"ip": OTHER, "duration": 120})
    assert s.execute(second, a2).status == "succeeded"
    assert ATTACKER in hosts_deny.read_text() and OTHER in hosts_deny.read_text()
    # The first one due is damaged (its target key lost its form): handling it raises.
    good_key, broken_id = con.execute("SELECT target_key, expiry_id FROM playbook_expiries WHERE plan_hash = ?",
                                      [first.plan.hash]).fetchone()
    con.execute("UPDATE playbook_expiries SET target_key = 'damaged' WHERE plan_hash = ?", [first.plan.hash])

    sched = ExpiryScheduler(s.executor)
    later = datetime.now(UTC) + timedelta(seconds=300)
    done = sched.run_due(now=later)
    assert [r.status for r in done] == ["succeeded"], "the good expiry behind the broken one did not run"
    assert OTHER not in hosts_deny.read_text()
    assert ATTACKER in hosts_deny.read_text()  # the broken one has not run (yet)
    failed = audit_kinds(con, "expiry_failed")
    assert len(failed) == 1 and failed[0]["attempt"] == 1 and failed[0]["error"]
    assert expiry_rows(con)["damaged"] == "pending"  # kept, to be retried: never silently dropped
    st = sched.status()
    assert st["failures"] == 1 and st["retrying"] == 1 and broken_id in (st["last_error"] or "")

    # Back-off: the next tick does not hammer the broken row...
    assert sched.run_due(now=later) == []
    assert len(audit_kinds(con, "expiry_failed")) == 1
    # ...a later one tries again, and says so.
    assert sched.run_due(now=later + timedelta(hours=1)) == []
    assert [f["attempt"] for f in audit_kinds(con, "expiry_failed")] == [1, 2]
    assert sched.status()["failures"] == 2

    # Repaired, it runs at its next try, and the block lifts.
    con.execute("UPDATE playbook_expiries SET target_key = ? WHERE plan_hash = ?", [good_key, first.plan.hash])
    done = sched.run_due(now=later + timedelta(hours=3))
    assert [r.status for r in done] == ["succeeded"]
    assert ATTACKER not in hosts_deny.read_text()
    assert sched.status()["retrying"] == 0


def test_the_scheduler_thread_keeps_lifting_blocks_past_a_broken_row(env) -> None:
    """The live loop (not only run_due): a broken row due first, a good one after, both already due."""
    con, s, tmp = env
    hosts_deny = tmp / "etc" / "hosts.deny"
    first, a1 = approved(s, 1, "block_ip_hosts_deny", {"ip": ATTACKER, "duration": 60})
    assert s.execute(first, a1).status == "succeeded"
    second, a2 = approved(s, 2, "block_ip_hosts_deny", {"ip": OTHER, "duration": 60})
    assert s.execute(second, a2).status == "succeeded"
    con.execute("UPDATE playbook_expiries SET target_key = 'damaged', due_at = due_at - INTERVAL 2 HOUR "
                "WHERE plan_hash = ?", [first.plan.hash])
    con.execute("UPDATE playbook_expiries SET due_at = due_at - INTERVAL 1 HOUR WHERE plan_hash = ?",
                [second.plan.hash])
    sched = ExpiryScheduler(s.executor, poll_s=0.05)
    sched.start()
    try:
        import time

        deadline = time.monotonic() + 60
        while OTHER in hosts_deny.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert OTHER not in hosts_deny.read_text(), "the good block was never lifted"
        while sched.status()["failures"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sched.status()["failures"] >= 1
    finally:
        sched.stop()
