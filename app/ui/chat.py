"""The chat panel: ask the model about the selected alert, watch the answer stream in, see each proposal
as a card (accepted, or rejected with its reason), review it in the approval modal, run it, roll it back.

Self-contained: it takes a headless `PlaybookSession`. API for the console:
`ChatPanel(session, alert_id=None)`, `.set_alert(alert_id)`, `.ask(question)`, `.escalate(text)`;
messages `ChatPanel.ProposalReady`, `ChatPanel.Executed`. Esc cancels a running answer.
"""

from __future__ import annotations

import threading

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Static

from app.ui.approval import ApprovalResult, ApprovalScreen, multiline
from app.ui.text import clean, plain
from playbooks.chat import ChatEvent, PlaybookSession
from playbooks.executor import ExecutionRefused, ExecutionResult
from playbooks.param_text import format_params
from playbooks.proposals import ProposalOutcome


class ProposalCard(Vertical):
    DEFAULT_CSS = """
    ProposalCard { height: auto; border: round $primary; padding: 0 1; margin-bottom: 1; }
    ProposalCard.-rejected { border: round $error; }
    ProposalCard.-accepted { border: round $success; }
    ProposalCard Button { margin-right: 1; }
    """

    def __init__(self, outcome: ProposalOutcome) -> None:
        super().__init__(id=f"card-{outcome.proposal_id}", classes="-accepted" if outcome.accepted else "-rejected")
        self.outcome = outcome
        self._pending: tuple[str, bool] | None = None

    def compose(self) -> ComposeResult:
        o = self.outcome
        head = f"{o.playbook_id or o.decision} {format_params(o.params)}".strip()
        if o.accepted:
            verdict = "accepted — needs your approval"
        elif o.decision in ("no_action", "need_more_info", "escalate"):
            verdict = "no playbook proposed: " + "; ".join(o.reasons)
        else:
            verdict = "rejected: " + "; ".join(o.reasons)
        source = "LLM-generated; may be wrong" if o.source == "llm" else o.source
        yield Static(plain(f"[{source}] {head}", "bold", limit=300), classes="card-title")
        yield Static(plain(verdict, "green" if o.accepted else "red", limit=600), classes="card-verdict")
        if o.rationale:
            yield Static(multiline(o.rationale, "italic", limit=600), classes="card-rationale")
        yield Static("", classes="card-result")
        if o.accepted:
            yield Button("Review…", id=f"review-{o.proposal_id}", variant="primary", classes="review")

    def on_mount(self) -> None:
        if self._pending is not None:
            self.show_result(*self._pending)

    def show_result(self, text: str, rollback: bool) -> None:
        results = self.query(".card-result")
        if not results:  # not composed yet: apply once mounted
            self._pending = (text, rollback)
            return
        self._pending = None
        results.first(Static).update(multiline(text, "bold", limit=2000))
        for button in self.query(".review"):
            button.remove()
        if rollback and not self.query(".rollback"):
            self.mount(Button("Roll back", id=f"rollback-{self.outcome.proposal_id}", variant="error",
                              classes="rollback"))


class ChatPanel(Vertical):
    DEFAULT_CSS = """
    ChatPanel { height: 1fr; }
    ChatPanel #chat-status { height: 1; color: $text-muted; }
    ChatPanel #chat-status.-offline { color: $warning; }
    ChatPanel #chat-status.-escalation { color: $error; text-style: bold; }
    ChatPanel #chat-scroll { height: 1fr; }
    ChatPanel #chat-question { height: auto; color: $accent; }
    ChatPanel #chat-answer { height: auto; }
    ChatPanel #chat-output { height: auto; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel answer", id="chat.cancel")]

    class ProposalReady(Message):
        def __init__(self, outcome: ProposalOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    class Executed(Message):
        def __init__(self, outcome: ProposalOutcome, result: ExecutionResult | None, error: str = "") -> None:
            super().__init__()
            self.outcome = outcome
            self.result = result
            self.error = error

    class _Event(Message):
        def __init__(self, event: ChatEvent) -> None:
            super().__init__()
            self.event = event

    class _Output(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    def __init__(self, session: PlaybookSession, *, alert_id: int | None = None, subject: str = "",
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.alert_id = alert_id
        self.subject = subject  # "incident #3 (src_ip=…)" when the alert is an incident's lead
        self._cancel = threading.Event()
        self._answer = ""
        self._output: list[str] = []
        self.questions: list[str] = []
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Static(plain(self._about()), id="chat-status")
        with VerticalScroll(id="chat-scroll"):
            yield Static("", id="chat-question")
            yield Static("", id="chat-answer")
            yield Vertical(id="chat-cards")
            yield Static("", id="chat-output")
        yield Input(placeholder="Ask about the selected incident…  (Enter sends, Esc leaves)", id="chat-input")

    # --- public API ---

    def focus_input(self) -> None:
        """Opening the chat puts the cursor in the question: keys typed there never reach the table."""
        self.query_one("#chat-input", Input).focus()

    def _about(self) -> str:
        if self.alert_id is None:
            return "chat: nothing selected"
        return f"chat: {self.subject}, lead alert {self.alert_id}" if self.subject else f"chat: alert {self.alert_id}"

    def set_alert(self, alert_id: int | None, subject: str = "") -> None:
        self.alert_id = alert_id
        self.subject = subject
        self._status(self._about())

    def ask(self, question: str) -> None:
        if self.busy:
            return
        self.busy = True
        self._cancel = threading.Event()
        self._answer = ""
        self.questions.append(question)
        self.refresh_bindings()
        # The analyst's question stays on screen above the answer it gets.
        self.query_one("#chat-question", Static).update(multiline(f"you: {question}", "bold", limit=2000))
        self.query_one("#chat-answer", Static).update("")
        self._ask_worker(question, self.alert_id, self._cancel)

    def escalate(self, text: str) -> None:
        """A Critical alert: banner in the status line and a terminal bell."""
        status = self.query_one("#chat-status", Static)
        status.set_class(True, "-escalation")
        status.update(plain(text, limit=300))
        self.app.bell()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Esc cancels an answer being written; otherwise it belongs to the screen (back to the table).
        return self.busy if action == "cancel" else True

    def action_cancel(self) -> None:
        if self.busy:
            self._cancel.set()

    # --- workers (never touch widgets; they post messages) ---

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat-ask", description="ask the LLM")
    def _ask_worker(self, question: str, alert_id: int | None, cancel: threading.Event) -> None:
        def emit(ev: ChatEvent) -> None:
            self.post_message(self._Event(ev))

        try:
            self.session.ask(question, alert_id, emit=emit, cancel=cancel)
        except Exception as exc:  # the panel must survive anything the session raises
            self.post_message(self._Event(ChatEvent("error", f"chat failed: {exc}")))
            self.post_message(self._Event(ChatEvent("done")))

    @work(thread=True, exclusive=False, exit_on_error=False, group="chat-exec", description="run a playbook")
    def _execute_worker(self, result: ApprovalResult) -> None:
        def out(step: str, line: str) -> None:
            self.post_message(self._Output(f"{step}: {line}"))

        try:
            res = self.session.execute(result.outcome, result.approval, on_output=out)  # type: ignore[arg-type]
            self.post_message(self.Executed(result.outcome, res))
        except ExecutionRefused as exc:
            self.post_message(self.Executed(result.outcome, None, f"refused: {exc}"))
        except Exception as exc:
            self.post_message(self.Executed(result.outcome, None, f"failed: {exc}"))

    @work(thread=True, exclusive=False, exit_on_error=False, group="chat-exec", description="roll back")
    def _rollback_worker(self, outcome: ProposalOutcome) -> None:
        try:
            res = self.session.rollback(outcome)
            self.post_message(self.Executed(outcome, res))
        except Exception as exc:
            self.post_message(self.Executed(outcome, None, f"rollback failed: {exc}"))

    # --- handlers (own the widget state) ---

    def _status(self, text: str, offline: bool = False) -> None:
        status = self.query_one("#chat-status", Static)
        status.set_class(offline, "-offline")
        status.update(plain(text, limit=300))

    @on(Input.Submitted, "#chat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if question:
            event.input.value = ""
            self.ask(question)

    @on(_Event)
    def _on_event(self, message: _Event) -> None:
        ev = message.event
        if ev.kind == "token":
            self._answer += ev.text
            self.query_one("#chat-answer", Static).update(multiline(self._answer))
        elif ev.kind == "status":
            self._status(ev.text, offline="offline" in ev.text or "unreachable" in ev.text)
        elif ev.kind in ("error", "tool"):
            self._answer += f"\n[{ev.kind}] {clean(ev.text, 500)}\n"
            self.query_one("#chat-answer", Static).update(multiline(self._answer))
        elif ev.kind == "proposal" and ev.outcome is not None:
            card = ProposalCard(ev.outcome)
            self.query_one("#chat-cards", Vertical).mount(card)
            self.call_after_refresh(card.scroll_visible, animate=False)  # the new proposal is on screen
            self.post_message(self.ProposalReady(ev.outcome))
        elif ev.kind == "done":
            self.busy = False
            self.refresh_bindings()

    @on(Button.Pressed, ".review")
    def _review(self, event: Button.Pressed) -> None:
        card = next(a for a in event.button.ancestors if isinstance(a, ProposalCard))
        self.app.push_screen(ApprovalScreen(self.session, card.outcome), self._reviewed)

    def _reviewed(self, result: ApprovalResult | None) -> None:
        if result is None:
            return
        card = self._card(result.outcome.proposal_id)
        if result.decision == "approved" and result.approval is not None:
            if card is None:  # parameters were edited: the approved plan is a new proposal
                card = ProposalCard(result.outcome)
                self.query_one("#chat-cards", Vertical).mount(card)
            card.show_result("approved — running…", rollback=False)
            self._execute_worker(result)
        elif card is not None:
            card.show_result(result.decision, rollback=False)

    @on(Button.Pressed, ".rollback")
    def _rollback(self, event: Button.Pressed) -> None:
        card = next(a for a in event.button.ancestors if isinstance(a, ProposalCard))
        event.button.disabled = True
        self._rollback_worker(card.outcome)

    @on(_Output)
    def _on_output(self, message: _Output) -> None:
        self._output = (self._output + [clean(message.line, 300)])[-200:]
        self.query_one("#chat-output", Static).update(multiline(self._output))

    @on(Executed)
    def _on_executed(self, message: Executed) -> None:
        card = self._card(message.outcome.proposal_id)
        if card is None:
            return
        if message.result is None:
            card.show_result(message.error, rollback=False)
            return
        res = message.result
        steps = ", ".join(f"{s.step_id}={s.status}({s.exit_code})" for s in res.steps + res.verify + res.rollback)
        can_undo = res.kind == "run" and res.status == "succeeded" and bool(message.outcome.plan
                                                                              and message.outcome.plan.rollback)
        card.show_result(f"{res.kind}: {res.status} — {steps}" + (f" ({res.reason})" if res.reason else ""),
                         rollback=can_undo)

    def _card(self, proposal_id: str) -> ProposalCard | None:
        for card in self.query(ProposalCard):
            if card.outcome.proposal_id == proposal_id:
                return card
        return None
