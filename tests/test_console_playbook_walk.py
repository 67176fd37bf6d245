"""The whole console, end to end: select an alert in the live table → open the chat → ask → proposal card →
approval modal (evidence from the store, exact argv) → approve → executed → audit row in the engine's store.

Real engine and DuckDB store, the real ollama client against the in-test wire-protocol server, a real
hosts.deny file in a temp dir as the harmless target."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input, Static

from app.ui.approval import ApprovalScreen
from app.ui.chat import ChatPanel, ProposalCard
from app.ui.main_screen import MainScreen
from playbooks.chat import PlaybookSession
from playbooks.db import PlaybookDb
from tests.ollama_server import OllamaTestServer, Reply
from tests.playbook_support import ATTACKER, make_config, unprivileged_catalog
from tests.test_ui_support import add_alert, add_events, auth_events, drain, make_app, make_engine, settle
from tests.ui_keys import press_button, type_into, until


@pytest.fixture
def console(tmp_path, monkeypatch):  # noqa: ANN001
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    srv = OllamaTestServer().start()
    engine = make_engine(tmp_path)
    add_events(engine, auth_events(1, 5))  # five sshd failures from ATTACKER, event ids 1..5
    cfg = make_config(tmp_path, ollama_host=srv.url)
    engine.playbook_session = PlaybookSession(cfg, PlaybookDb.via_writer(engine.writer, engine.store),
                                              catalog=unprivileged_catalog())
    yield engine, srv, tmp_path
    engine.playbook_session.close()
    engine.stop()
    srv.stop()


async def test_select_ask_approve_execute_audit_in_the_full_console(console) -> None:  # noqa: ANN001
    engine, srv, tmp = console
    srv.replies.extend([
        Reply("text", text="Password guessing from one address."),
        Reply("json", obj={"decision": "propose_playbook", "rationale": "block the source",
                           "playbook": {"playbook_id": "block_ip_hosts_deny", "params": {"ip": ATTACKER}},
                           "evidence_ids": [1, 2]}),
    ])
    app = make_app(engine, tmp)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(app, pilot)
        add_alert(engine, 1, severity="high", event_ids=[1, 2, 3, 4, 5], entity=f"src_ip={ATTACKER}")
        await drain(app, pilot)
        assert isinstance(app.screen, MainScreen)
        await until(pilot, lambda: app.main_screen.table.cursor_id == 1, what="the alert selected")
        await pilot.press("p")  # chat panel on the selected alert
        await until(pilot, lambda: bool(app.screen.query_one("#chat-slot").query(ChatPanel)), what="chat panel")
        panel = app.screen.query_one("#chat-slot").query_one(ChatPanel)
        assert panel.alert_id == 1
        await type_into(pilot, panel.query_one("#chat-input", Input), "block it?")
        await until(pilot, lambda: bool(panel.query(ProposalCard)) and not panel.busy, what="a proposal card")
        card = panel.query_one(ProposalCard)
        assert card.outcome.accepted and card.outcome.playbook_id == "block_ip_hosts_deny"
        await press_button(pilot, card.query_one(f"#review-{card.outcome.proposal_id}", Button))
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the approval screen")
        modal = app.screen
        assert f"from {ATTACKER}" in str(modal.query_one("#approval-evidence", Static).render())
        assert ATTACKER in str(modal.query_one("#approval-argv", Static).render())
        assert not (tmp / "etc" / "hosts.deny").exists() or ATTACKER not in (tmp / "etc" / "hosts.deny").read_text()
        await press_button(pilot, modal.query_one("#approve", Button))
        await until(pilot, lambda: not isinstance(app.screen, ApprovalScreen), what="the approval screen closed")
        await until(pilot, lambda: "run: succeeded" in str(card.query_one(".card-result", Static).render()),
                    what="the run result on the card")
    assert f"ALL: {ATTACKER}" in (tmp / "etc" / "hosts.deny").read_text()
    engine.writer.flush(10)
    rows = engine.store.cursor().execute("SELECT kind FROM audit_log ORDER BY seq").fetchall()
    kinds = [k for (k,) in rows]
    assert kinds[-4:] == ["approval_requested", "approved", "execution_started", "executed"]
    assert "proposal" in kinds
