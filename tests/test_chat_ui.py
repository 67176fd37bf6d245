"""Pilot tests of the chat panel and approval modal in a small app: select an alert → ask → proposal card →
approval modal (evidence from the store, exact argv) → approve → executed → audit row; plus Esc-cancel,
the offline line, rejected cards, and markup in model text shown literally."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, Input, Static

from app.ui.approval import ApprovalScreen
from app.ui.chat import ChatPanel, ProposalCard
from playbooks.chat import PlaybookSession

from .ollama_server import OllamaTestServer, Reply
from .playbook_support import (
    ATTACKER,
    add_alert,
    add_event,
    bruteforce_alert,
    make_config,
    open_db,
    unprivileged_catalog,
)
from .ui_keys import press_button, type_into, until


class ChatTestApp(App[None]):
    def __init__(self, session: PlaybookSession, alert_id: int | None) -> None:
        super().__init__()
        self.session = session
        self.alert_id = alert_id

    def compose(self) -> ComposeResult:
        yield ChatPanel(self.session, alert_id=self.alert_id, id="chat")


def text_of(widget: Static) -> str:
    return str(widget.render())


@pytest.fixture()
def env(tmp_path: Path):
    srv = OllamaTestServer().start()
    con, db = open_db(tmp_path / "ui.duckdb")
    bruteforce_alert(con, 1, "medium")
    s = PlaybookSession(make_config(tmp_path, ollama_host=srv.url), db, catalog=unprivileged_catalog())
    yield srv, con, s, tmp_path
    s.close()
    con.close()
    srv.stop()


def proposal(ip: str) -> Reply:
    return Reply("json", obj={"decision": "propose_playbook", "rationale": "[bold red]Block[/] the source",
                              "playbook": {"playbook_id": "block_ip_hosts_deny", "params": {"ip": ip}},
                              "evidence_ids": [100, 101]})


async def ask(pilot, question: str) -> None:
    await type_into(pilot, pilot.app.query_one("#chat-input", Input), question)


def button(screen, selector: str) -> Button:
    return screen.query_one(selector, Button)


async def test_select_ask_review_approve_execute_and_audit(env) -> None:
    srv, con, s, tmp = env
    srv.replies.extend([Reply("text", text="Password guessing from [b]one[/b] source."), proposal(ATTACKER)])
    app = ChatTestApp(s, alert_id=1)
    async with app.run_test(size=(120, 50)) as pilot:
        panel = app.query_one(ChatPanel)
        await ask(pilot, "why")
        await until(pilot, lambda: bool(panel.query(ProposalCard)) and not panel.busy)
        answer = text_of(panel.query_one("#chat-answer", Static))
        assert "Password guessing from [b]one[/b] source." in answer  # markup shown literally
        card = panel.query_one(ProposalCard)
        assert card.outcome.accepted and "LLM-generated" in text_of(card.query_one(".card-title", Static))
        await press_button(pilot, button(app.screen, f"#review-{card.outcome.proposal_id}"))
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        modal = app.screen
        evidence = text_of(modal.query_one("#approval-evidence", Static))
        assert "Failed password for invalid user admin from 203.0.113.7" in evidence
        argv = text_of(modal.query_one("#approval-argv", Static))
        assert "playbooks.tools.hosts_deny add --file" in argv and ATTACKER in argv
        assert "deny_lists(203.0.113.7)" in text_of(modal.query_one("#approval-checks", Static))
        await press_button(pilot, button(app.screen, "#approve"))
        await until(pilot, lambda: not isinstance(app.screen, ApprovalScreen))
        await until(pilot, lambda: "run: succeeded" in text_of(card.query_one(".card-result", Static)))
        assert card.query(".rollback")
        assert f"ALL: {ATTACKER} # vigil" in (tmp / "etc" / "hosts.deny").read_text()
        kinds = [k for (k,) in con.execute("SELECT kind FROM audit_log ORDER BY seq").fetchall()]
        assert kinds[-4:] == ["approval_requested", "approved", "execution_started", "executed"]
        # Roll back from the card.
        await press_button(pilot, button(app.screen, f"#rollback-{card.outcome.proposal_id}"))
        await until(pilot, lambda: "rollback: succeeded" in text_of(card.query_one(".card-result", Static)))
        assert ATTACKER not in (tmp / "etc" / "hosts.deny").read_text()


async def test_deny_in_the_modal_is_recorded_as_a_human_decision(env) -> None:
    srv, con, s, tmp = env
    srv.replies.extend([Reply("text", text="ok"), proposal(ATTACKER)])
    app = ChatTestApp(s, alert_id=1)
    async with app.run_test(size=(120, 50)) as pilot:
        panel = app.query_one(ChatPanel)
        await ask(pilot, "block?")
        await until(pilot, lambda: bool(panel.query(ProposalCard)) and not panel.busy)
        card = panel.query_one(ProposalCard)
        await press_button(pilot, button(app.screen, f"#review-{card.outcome.proposal_id}"))
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await press_button(pilot, button(app.screen, "#deny"))
        await until(pilot, lambda: "denied" in text_of(card.query_one(".card-result", Static)))
    assert con.execute("SELECT actor_type FROM audit_log WHERE kind = 'denied'").fetchall() == [("human",)]
    assert not (tmp / "etc" / "hosts.deny").exists()


async def test_rejected_proposal_card_shows_the_reason_and_cannot_be_reviewed(env) -> None:
    srv, con, s, tmp = env
    srv.replies.extend([Reply("text", text="ok"), proposal("203.0.113.99"), proposal("203.0.113.98")])
    app = ChatTestApp(s, alert_id=1)
    async with app.run_test(size=(120, 50)) as pilot:
        panel = app.query_one(ChatPanel)
        await ask(pilot, "x")
        await until(pilot, lambda: not panel.busy and len(panel.query(ProposalCard)) >= 3)
        cards = list(panel.query(ProposalCard))
        first = cards[0]
        assert not first.outcome.accepted and not first.query(Button)
        assert "does not appear in the cited evidence" in text_of(first.query_one(".card-verdict", Static))
        assert any(c.outcome.source == "offline_rules" and c.outcome.accepted for c in cards[2:])


async def test_escape_cancels_a_hung_answer(env) -> None:
    srv, con, s, tmp = env
    srv.replies.append(Reply("text", text="never", delay_s=30))
    app = ChatTestApp(s, alert_id=1)
    async with app.run_test(size=(120, 50)) as pilot:
        panel = app.query_one(ChatPanel)
        await ask(pilot, "slow")
        await until(pilot, lambda: panel.busy)
        await pilot.press("escape")
        await until(pilot, lambda: not panel.busy)
        assert "cancelled" in text_of(panel.query_one("#chat-status", Static))


async def test_unreachable_ollama_shows_one_line_and_offline_cards(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "off.duckdb")
    bruteforce_alert(con, 1, "medium")
    s = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    app = ChatTestApp(s, alert_id=1)
    async with app.run_test(size=(120, 50)) as pilot:
        panel = app.query_one(ChatPanel)
        await ask(pilot, "help")
        await until(pilot, lambda: not panel.busy and bool(panel.query(ProposalCard)))
        status = panel.query_one("#chat-status", Static)
        assert text_of(status).startswith("Ollama unreachable at http://127.0.0.1:9 — offline proposals only")
        assert status.has_class("-offline")
        assert panel.query(ProposalCard).first().outcome.source == "offline_rules"
        panel.escalate("CRITICAL alert 1: SSH brute force")
        assert status.has_class("-escalation")
    con.close()


async def test_editing_parameters_revalidates_and_the_new_plan_is_what_runs(env) -> None:
    srv, con, s, tmp = env
    srv.replies.extend([Reply("text", text="ok"), proposal(ATTACKER)])
    app = ChatTestApp(s, alert_id=1)
    async with app.run_test(size=(120, 45)) as pilot:
        panel = app.query_one(ChatPanel)
        await ask(pilot, "block?")
        await until(pilot, lambda: bool(panel.query(ProposalCard)) and not panel.busy)
        first = panel.query_one(ProposalCard).outcome
        await press_button(pilot, button(app.screen, f"#review-{first.proposal_id}"))
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        modal = app.screen
        old_argv = text_of(modal.query_one("#approval-argv", Static))
        modal.query_one("#param-duration").value = "99d"  # out of bounds: rejected, plan unchanged
        modal.apply_edits()
        await until(pilot, lambda: "edit rejected" in text_of(modal.query_one("#approval-error", Static)))
        modal.query_one("#param-duration").value = "2h"
        modal.apply_edits()
        await until(pilot, lambda: "after 7200 s" in text_of(modal.query_one("#approval-argv", Static)))
        new_argv = text_of(modal.query_one("#approval-argv", Static))
        assert new_argv != old_argv and "after 7200 s" in new_argv
        await press_button(pilot, button(app.screen, "#approve"))
        await until(pilot, lambda: any("run: succeeded" in text_of(c.query_one(".card-result", Static))
                                       for c in panel.query(ProposalCard)))
    kinds = [k for (k,) in con.execute("SELECT kind FROM audit_log ORDER BY seq").fetchall()]
    assert "superseded" in kinds
    # Due two hours after the steps ran: between the execution's start and finish, plus 7200 s (no clock race).
    started, due, finished = con.execute(
        "SELECT x.started_at, e.due_at, x.finished_at FROM playbook_expiries e JOIN playbook_executions x "
        "USING (execution_id) WHERE e.status = 'pending'").fetchone()
    assert started <= due - timedelta(seconds=7200) <= finished


async def test_high_impact_approval_needs_the_typed_target(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "hi.duckdb")
    # A compromised account (failures, then a success from the same address): the only kind lock_user may
    # target. Any account that exists everywhere is a system account, so that guard is off for this test.
    ids = list(range(100, 105))
    for i in ids:
        add_event(con, i, src_ip=ATTACKER, user="daemon",
                  message=f"Failed password for daemon from {ATTACKER} port {40000 + i} ssh2")
    add_event(con, 105, src_ip=ATTACKER, user="daemon", outcome="success",
              message=f"Accepted password for daemon from {ATTACKER} port 40105 ssh2")
    add_alert(con, 1, [*ids, 105], severity="high", rule_id="auth.success_after_failures")
    s = PlaybookSession(make_config(tmp_path, protect_system_accounts=False), db)
    out = s.validator.validate({"decision": "propose_playbook", "rationale": "lock",
                                "playbook": {"playbook_id": "lock_user", "params": {"user": "daemon"}}},
                               s.load_alert(1), "llm")
    assert out.accepted, out.reasons
    s._record(out)
    results = []

    class ModalApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ApprovalScreen(s, out), results.append)

    app = ModalApp()
    async with app.run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        modal = app.screen
        assert "type daemon to approve" in text_of(modal.query_one("#approval-confirm-hint", Static))
        await press_button(pilot, button(modal, "#approve"))
        await until(pilot, lambda: "typed confirmation required" in text_of(modal.query_one("#approval-error",
                                                                                              Static)))
        modal.query_one("#approval-confirm").value = "daemon"
        await press_button(pilot, button(modal, "#approve"))  # waits out the press effect of the first press
        await until(pilot, lambda: bool(results))
    assert results[0].decision == "approved" and results[0].approval.plan_hash == out.plan.hash
    con.close()


async def test_unanswered_approval_expires_as_a_system_event(env) -> None:
    from datetime import UTC, datetime, timedelta

    srv, con, s, tmp = env
    out = s.validator.validate({"decision": "propose_playbook", "rationale": "x",
                                "playbook": {"playbook_id": "block_ip_hosts_deny", "params": {"ip": ATTACKER}}},
                               s.load_alert(1), "llm")
    s._record(out)
    results = []

    class ModalApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ApprovalScreen(s, out), results.append)

    app = ModalApp()
    async with app.run_test(size=(120, 45)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        modal = app.screen
        modal.request.created_at = datetime.now(UTC) - timedelta(seconds=modal.request.ttl_s + 1)
        await until(pilot, lambda: bool(results))
    assert results[0].decision == "expired"
    assert con.execute("SELECT kind, actor_type FROM audit_log WHERE kind IN ('expired', 'denied')").fetchall() == [
        ("expired", "system")]
