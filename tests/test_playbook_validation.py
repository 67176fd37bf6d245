"""Proposal validation and approval binding: evidence binding, deny-lists, tiers, exact dry-run argv, plan
hashes, approval expiry and typed confirmation — with alerts and evidence read from a real DuckDB file."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.approval import ApprovalError, ApprovalExpired, ApprovalRequest
from playbooks.chat import PlaybookSession
from playbooks.evidence import load_alert
from playbooks.offline import suggest
from playbooks.routing import route_alert

from .playbook_support import (
    ATTACKER,
    add_alert,
    add_event,
    bruteforce_alert,
    make_config,
    open_db,
    unprivileged_catalog,
)


@pytest.fixture()
def env(tmp_path: Path):
    con, db = open_db(tmp_path / "vigil.duckdb")
    cfg = make_config(tmp_path)
    session = PlaybookSession(cfg, db)
    bruteforce_alert(con, 1, "medium")
    yield con, session
    con.close()


def propose(pid: str, params: dict, evidence_ids: list[int] | None = None) -> dict:
    return {"decision": "propose_playbook", "playbook": {"playbook_id": pid, "params": params},
            "rationale": "test", "evidence_ids": evidence_ids or []}


def test_bound_parameter_must_appear_in_the_cited_evidence(env) -> None:
    con, s = env
    ctx = s.load_alert(1)
    ok = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ATTACKER}), ctx, "llm")
    assert ok.accepted, ok.reasons
    bad = s.validator.validate(propose("block_ip_hosts_deny", {"ip": "203.0.113.99"}), ctx, "llm")
    assert not bad.accepted
    assert "does not appear in the cited evidence (src_ip)" in bad.reasons[0]


def test_citing_events_outside_the_alert_is_rejected(env) -> None:
    con, s = env
    add_event(con, 999, src_ip="203.0.113.99", message="Failed password for x from 203.0.113.99 port 1 ssh2")
    out = s.validator.validate(propose("block_ip_hosts_deny", {"ip": "203.0.113.99"}, [999]), s.load_alert(1), "llm")
    assert not out.accepted and "not evidence of alert 1" in out.reasons[0]


@pytest.mark.parametrize(("ip", "why"), [
    ("127.0.0.1", "this host's own address"),
    ("198.51.100.1", "a default gateway"),
    ("10.20.3.4", "a management network"),
    ("192.168.50.10", "a protected OT asset"),
])
def test_deny_lists_stop_targets_even_when_they_are_in_the_evidence(tmp_path: Path, ip: str, why: str) -> None:
    con, db = open_db(tmp_path / "v.duckdb")
    s = PlaybookSession(make_config(tmp_path), db)
    bruteforce_alert(con, 5, "high", ip=ip)
    out = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ip}), s.load_alert(5), "llm")
    assert not out.accepted
    assert out.reasons[0].startswith("deny-list:") and why in out.reasons[0]


def test_protected_and_own_accounts_cannot_be_locked(env) -> None:
    con, s = env
    bruteforce_alert(con, 2, "high", first_event=200, user="root")
    out = s.validator.validate(propose("lock_user", {"user": "root"}), s.load_alert(2), "llm")
    assert not out.accepted and "deny-list" in out.reasons[0]


def test_playbook_above_the_alert_tier_is_rejected(env) -> None:
    con, s = env
    bruteforce_alert(con, 3, "low", first_event=300)
    out = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ATTACKER}), s.load_alert(3), "llm")
    assert not out.accepted and "for medium alerts and above; this alert is low" in out.reasons[0]


@pytest.mark.parametrize(("raw", "needle"), [
    ('{"decision": "propose_playbook", "playbook": {"playbook_id": "rm_everything", "params": {}}, '
     '"rationale": "", "evidence_ids": []}', "unknown playbook 'rm_everything'"),
    ('{"decision": "launch", "rationale": ""}', "not a valid proposal object"),
    ("{not json", "not a valid proposal object"),
    ('{"decision": "propose_playbook", "playbook": {"playbook_id": "block_ip_hosts_deny", '
     '"params": {"ip": "203.0.113.7", "cmd": "sh"}}, "rationale": "", "evidence_ids": []}', "unknown parameter"),
    ('{"decision": "propose_playbook", "playbook": {"playbook_id": "block_ip_hosts_deny", '
     '"params": {"ip": "203.0.113.7", "duration": "99d"}}, "rationale": "", "evidence_ids": []}',
     "above the maximum"),
])
def test_malformed_or_out_of_catalogue_proposals_are_rejected_with_a_reason(env, raw: str, needle: str) -> None:
    con, s = env
    out = s.validator.validate(raw, s.load_alert(1), "llm")
    assert not out.accepted and needle in " ".join(out.reasons)


def test_dry_run_renders_the_exact_argv_and_the_plan_hash_changes_with_parameters(env, tmp_path: Path) -> None:
    con, s = env
    ctx = s.load_alert(1)
    a = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ATTACKER, "duration": 600}), ctx, "llm")
    b = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ATTACKER, "duration": 900}), ctx, "llm")
    assert a.plan and b.plan
    step = a.plan.steps[0]
    assert step.argv == (sys.executable, "-m", "playbooks.tools.hosts_deny", "add", "--file",
                         str(tmp_path / "etc" / "hosts.deny"), "--ip", ATTACKER)
    assert any("hosts_deny add --file" in line for line in a.plan.dry_run_lines())
    assert a.plan.expiry_s == 600 and b.plan.expiry_s == 900
    assert a.plan.hash != b.plan.hash


def test_approval_is_bound_to_the_plan_hash_and_an_edit_needs_a_new_approval(env) -> None:
    con, s = env
    first = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ATTACKER}), s.load_alert(1), "llm")
    s._record(first)
    approval = s.approve(s.request_approval(first))
    approval.check(first.plan)
    edited = s.revalidate(first, {"ip": ATTACKER, "duration": "2h"})
    assert edited.accepted and edited.plan.hash != first.plan.hash
    with pytest.raises(ApprovalError, match="different plan"):
        approval.check(edited.plan)


def test_approval_expires_and_expiry_is_recorded_as_system_not_denial(env) -> None:
    con, s = env
    out = s.validator.validate(propose("block_ip_hosts_deny", {"ip": ATTACKER}), s.load_alert(1), "llm")
    s._record(out)
    req = s.request_approval(out)
    req.created_at = datetime.now(UTC) - timedelta(seconds=req.ttl_s + 1)
    with pytest.raises(ApprovalExpired):
        s.approve(req)
    kinds = con.execute("SELECT kind, actor_type FROM audit_log ORDER BY seq").fetchall()
    assert ("expired", "system") in kinds
    assert not any(k == "denied" for k, _ in kinds)
    assert con.execute("SELECT status FROM playbook_proposals WHERE proposal_id = ?",
                       [out.proposal_id]).fetchone()[0] == "expired"


def test_high_impact_playbook_needs_the_target_typed_to_approve(env) -> None:
    con, s = env
    bruteforce_alert(con, 4, "high", first_event=400, user="mallory")
    out = s.validator.validate(propose("lock_user", {"user": "mallory"}), s.load_alert(4), "llm",
                               run_preconditions=False)
    assert out.plan and out.plan.confirmation_text == "mallory"
    req = ApprovalRequest(out.proposal_id, out.plan, 60)
    with pytest.raises(ApprovalError, match="typed confirmation"):
        req.approve({"user": "analyst"}, confirmation="yes")
    assert req.approve({"user": "analyst"}, confirmation="mallory").plan_hash == out.plan.hash


def test_offline_proposer_fills_parameters_from_evidence_and_passes_validation(env) -> None:
    con, s = env
    ctx = load_alert(con.cursor(), 1)
    props = suggest(s.catalog, ctx)
    assert props and props[0].playbook and props[0].playbook.params == {"ip": ATTACKER}
    outcomes = [s.validator.validate(p, ctx, "offline_rules") for p in props]
    assert any(o.accepted and o.playbook_id == "block_ip_hosts_deny" for o in outcomes)


def test_severity_routing_by_tier(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "r.duckdb")
    s = PlaybookSession(make_config(tmp_path), db)
    for aid, sev in ((1, "low"), (2, "medium"), (3, "high"), (4, "critical")):
        bruteforce_alert(con, aid, sev, first_event=aid * 100)
    actions = {aid: route_alert(s.load_alert(aid), s.catalog, s.validator, s.config) for aid in (1, 2, 3, 4)}
    assert actions[1].action == "log" and not actions[1].proposals
    assert actions[2].action == "prepare" and "auto-run disabled" in actions[2].note
    assert actions[3].action == "review"
    assert actions[4].action == "escalate" and actions[4].escalation and "CRITICAL alert 4" in actions[4].escalation


def test_medium_auto_run_only_when_enabled_and_never_on_protected_assets(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "a.duckdb")
    cfg = make_config(tmp_path, auto_run_medium=True, protected_assets=["203.0.113.66"])
    s = PlaybookSession(cfg, db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "medium", first_event=100)
    bruteforce_alert(con, 2, "medium", first_event=200, ip="203.0.113.66")
    first = s.route(1)
    assert first is not None and first.action == "auto_run"
    assert ATTACKER in (tmp_path / "etc" / "hosts.deny").read_text()
    second = s.route(2)
    assert second is not None and second.action == "prepare"
    assert "203.0.113.66" not in (tmp_path / "etc" / "hosts.deny").read_text()
    actors = con.execute("SELECT actor_type FROM audit_log WHERE kind = 'approved'").fetchall()
    assert actors == [("system",)]


def test_alert_with_no_entity_still_binds_to_evidence_rows(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "n.duckdb")
    s = PlaybookSession(make_config(tmp_path), db)
    add_event(con, 1, src_ip="203.0.113.8", message="Failed password for bob from 203.0.113.8 port 2 ssh2")
    add_alert(con, 9, [1], entity=None)
    out = s.validator.validate(propose("block_ip_hosts_deny", {"ip": "203.0.113.8"}), s.load_alert(9), "llm")
    assert out.accepted, out.reasons


def test_alert_router_routes_on_its_own_thread_and_reports_escalations(tmp_path: Path) -> None:
    import threading

    from playbooks.routing import AlertRouter

    from .ollama_server import wait_for

    con, db = open_db(tmp_path / "t.duckdb")
    s = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "critical")
    bruteforce_alert(con, 2, "low", first_event=200)
    got = []
    threads = set()

    def on_decision(d) -> None:
        threads.add(threading.current_thread().name)
        got.append(d)

    router = AlertRouter(s, on_decision, poll_s=0.05).start()
    try:
        router.submit([1, 2, 999])
        assert wait_for(lambda: len(got) == 2)
    finally:
        router.stop()
    assert {d.action for d in got} == {"escalate", "log"} and threads == {"playbook-router"}
    assert next(d for d in got if d.action == "escalate").escalation.startswith("CRITICAL alert 1")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                        max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.text(max_size=200), st.dictionaries(st.sampled_from(
    ["decision", "playbook", "rationale", "evidence_ids", "x"]), json_values, max_size=5),
    st.fixed_dictionaries({"decision": st.just("propose_playbook"), "playbook": st.fixed_dictionaries(
        {"playbook_id": st.sampled_from(["block_ip_hosts_deny", "lock_user", "open_ticket", "zz"]),
         "params": st.dictionaries(st.sampled_from(["ip", "user", "duration", "title", "cmd"]), json_values,
                                   max_size=3)}), "evidence_ids": st.lists(st.integers(), max_size=3)})))
def test_validation_never_raises_on_hostile_model_output(env, raw) -> None:
    con, s = env
    out = s.validator.validate(raw, s.load_alert(1), "llm", run_preconditions=False)
    assert out.accepted or out.reasons
    if out.accepted:
        assert out.params.get("ip") in (None, ATTACKER)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_sanitiser_never_raises_and_strips_controls(text: str) -> None:
    from playbooks.sanitize import clean_text

    out = clean_text(text, 100)
    assert len(out) <= 100
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or c in "\u202e\u200b\u2066" for c in out)
